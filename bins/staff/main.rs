//! `staff`: teachers and teaching assistants. Enroll at CUHK with a staff login (a teacher) or
//! a student ID (a TA), into the same profile the `student` command uses; then, for the courses
//! Blackboard lists you on: manage assignments, see who has submitted, collect every current
//! submission, extend, grade, release grades, and read the course's log; and, as a monitor,
//! replay Blackboard's or CUHK's transparency log.

mod run;
mod show;

use clap::{Args, CommandFactory, Parser, Subcommand};
use handin::cli::{die, init_logging, Failure, EXIT_CODES};
use handin::net::Transport;
use handin::servers;
use handin_client::config::{self, Server};
use handin_client::staff::{self, Profile, Remote};
use handin_core::pki::PersonId;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "staff",
    version,
    about = "Teachers and TAs: enroll at CUHK, then run your courses on Blackboard",
    after_help = EXIT_CODES
)]
struct Cli {
    /// More detail on stderr (-v: connection and handshake details).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// The profile directory (default: $HANDIN_HOME, else ~/.handin), shared with `student`.
    #[arg(long, global = true)]
    profile: Option<PathBuf>,
    /// The transport the connection runs on.
    #[arg(long, value_enum, default_value = "mio", global = true)]
    transport: Transport,
    /// Seconds to wait for the TCP connection.
    #[arg(long, default_value_t = 10, global = true)]
    connect_timeout: u64,
    /// Blackboard, HOST[:PORT] (default: $HANDIN_BLACKBOARD, else the profile's, else
    /// 127.0.0.1:3141). With `enroll` or `config`, remembered in the profile.
    #[arg(long, value_name = "HOST[:PORT]", global = true)]
    blackboard: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a key pair and enroll at CUHK with your one-time code.
    Enroll {
        /// Your staff login, or your 10-digit student ID if you are a TA (asked for if not
        /// given).
        #[arg(long, value_name = "LOGIN_OR_STUDENT_ID")]
        id: Option<String>,
        /// The one-time enrollment code from CUHK.
        #[arg(long)]
        code: String,
        /// The CUHK root certificate, obtained out of band (or --fingerprint).
        #[arg(long, required_unless_present = "fingerprint")]
        ca: Option<PathBuf>,
        /// The CUHK root's SHA-256 fingerprint, obtained out of band (`cuhk fingerprint`
        /// prints it): CUHK sends the root, which is kept only if it has this fingerprint.
        #[arg(long, value_name = "SHA256", conflicts_with = "ca")]
        fingerprint: Option<String>,
        /// CUHK's enrollment server, HOST[:PORT] (default: $HANDIN_CUHK, else the profile's,
        /// else 127.0.0.1:9335); remembered in the profile.
        #[arg(long, value_name = "HOST[:PORT]")]
        cuhk: Option<String>,
        /// Enroll with a CSR made elsewhere (e.g. by `openssl req`, CN = your ID) instead of
        /// a new key...
        #[arg(long, requires = "key")]
        csr: Option<PathBuf>,
        /// ...and its private key (PEM: PKCS#8, PKCS#1 or SEC1).
        #[arg(long, requires = "csr")]
        key: Option<PathBuf>,
        /// Enroll even if the profile already holds a certificate: its key and certificate are
        /// replaced, and the old certificate stays valid until CUHK revokes it.
        #[arg(long)]
        force: bool,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Get a fresh certificate with a new key, authenticated by the current one.
    Renew {
        /// CUHK's enrollment server, HOST[:PORT] (default: $HANDIN_CUHK, else the profile's,
        /// else 127.0.0.1:9335).
        #[arg(long, value_name = "HOST[:PORT]")]
        cuhk: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the servers this profile talks to and where each address comes from; with
    /// --cuhk or --blackboard, remember them in the profile (--unset forgets one).
    Config {
        /// CUHK's enrollment server to remember, HOST[:PORT] (port 9335 if none).
        #[arg(long, value_name = "HOST[:PORT]")]
        cuhk: Option<String>,
        /// Forget a remembered address (back to the default).
        #[arg(long, value_name = "NAME", value_parser = ["cuhk", "blackboard"])]
        unset: Vec<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The courses you are staff of.
    Courses {
        #[arg(long)]
        json: bool,
    },
    /// Manage a course's assignments.
    Assignment {
        #[command(subcommand)]
        command: AssignmentCommand,
    },
    /// Who has submitted: one row per student on the class list and anyone else who did.
    Status {
        course: String,
        assignment: String,
        #[arg(long)]
        json: bool,
    },
    /// Fetch every student's current submission (the latest version of each file name) into
    /// OUT/<student id>/<file name>, with OUT/manifest.csv and OUT/receipts/. A re-run fetches
    /// only what changed.
    Collect {
        course: String,
        assignment: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Give one student their own due time (lateness is judged against it everywhere).
    Extend {
        course: String,
        assignment: String,
        #[arg(long)]
        student: String,
        /// The student's due time, RFC 3339 (e.g. 2026-12-08T23:59:00+08:00).
        #[arg(long)]
        due: String,
    },
    /// Grade one student (--student, --score), or every row of a grade sheet (--csv).
    Grade(GradeArgs),
    /// Release an assignment's grades: students see them (and their feedback files) from now on.
    Release { course: String, assignment: String },
    /// The course's record of staff actions: who did what, when, to which student.
    Log {
        course: String,
        #[arg(long)]
        json: bool,
    },
    /// Replay a whole transparency log as a monitor: check its checkpoint's signature, every
    /// entry against the log's hashes and the root, that it continues the checkpoint this
    /// profile saw last; count its entries by kind and report any that does not decode.
    AuditLog {
        /// Which log: Blackboard's (receipts, commitments) or CUHK's (certificates,
        /// revocations).
        #[arg(long, value_parser = ["blackboard", "cuhk"])]
        log: String,
        /// The log's verifier key (as `student audit` pins it, or from the log's operator);
        /// default: the one this profile pinned, else the one the log serves, pinned now.
        #[arg(long, value_name = "VKEY")]
        vkey: Option<String>,
        /// CUHK's enrollment server, HOST[:PORT] (default: $HANDIN_CUHK, else the profile's,
        /// else 127.0.0.1:9335).
        #[arg(long, value_name = "HOST[:PORT]")]
        cuhk: Option<String>,
        /// Print one JSON object instead of text (also when entries do not decode).
        #[arg(long)]
        json: bool,
    },
    #[command(name = "export-p12")]
    ExportP12(handin::export::ExportP12),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell): for example
    /// `staff completions bash > ~/.local/share/bash-completion/completions/staff`.
    Completions {
        #[arg(value_enum)]
        shell: handin::cli::Shell,
    },
    /// Print the man page (roff): for example `staff man > ~/.local/share/man/man1/staff.1`.
    Man,
}

#[derive(Subcommand)]
enum AssignmentCommand {
    /// Add an assignment (or change its terms).
    Add {
        course: String,
        assignment: String,
        /// Due time, RFC 3339; later submissions are marked late.
        #[arg(long)]
        due: String,
        /// Largest file accepted (e.g. 20MB = 20,000,000 bytes, 20MiB = 20 x 2^20).
        #[arg(long, default_value = "100MiB")]
        max_size: String,
        /// Cut-off time, RFC 3339: submissions offered after it are refused (default: none).
        #[arg(long)]
        cutoff: Option<String>,
        /// Grace after the due time for work committed to before it (e.g. 10m).
        #[arg(long, default_value = "0s")]
        grace: String,
        /// Accept a due time or cut-off in the past (otherwise refused as a likely mistake).
        #[arg(long)]
        allow_past: bool,
    },
    /// Close an assignment: no more submissions until it is reopened.
    Close { course: String, assignment: String },
    /// Reopen a closed assignment.
    Reopen { course: String, assignment: String },
}

#[derive(Args)]
struct GradeArgs {
    course: String,
    assignment: String,
    /// The student graded.
    #[arg(
        long,
        required_unless_present = "csv",
        conflicts_with = "csv",
        requires = "score"
    )]
    student: Option<String>,
    /// A decimal number (87, 87.5).
    #[arg(long)]
    score: Option<String>,
    /// A comment for the student.
    #[arg(long, default_value = "")]
    comment: String,
    /// A feedback file for the student (a marked-up copy, say).
    #[arg(long)]
    feedback: Option<PathBuf>,
    /// A grade sheet: CSV with columns student_id, score, and optionally comment and feedback
    /// (a file path relative to the sheet).
    #[arg(long, conflicts_with_all = ["score", "feedback"])]
    csv: Option<PathBuf>,
}

/// Asks for the ID on the terminal until it is a staff login or a student ID.
fn ask_id() -> PersonId {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        eprint!("Staff login, or student ID if you are a TA: ");
        let _ = std::io::stderr().flush();
        match lines.next() {
            Some(Ok(line)) => match staff::enroll_id(&line) {
                Ok(id) => return id,
                Err(e) => eprintln!("{e}"),
            },
            _ => die(
                "staff",
                Failure::usage("no ID given: pass --id or type your staff login at the prompt"),
            ),
        }
    }
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let profile = Profile::locate(cli.profile.clone());
    // The flag, else the environment, else the profile, else the default; Blackboard's only
    // for the commands that go there.
    let remote = |server: Server, flag: Option<&str>| -> Remote {
        config::remote(
            server,
            flag,
            &profile,
            cli.transport,
            Duration::from_secs(cli.connect_timeout),
        )
        .unwrap_or_else(|e| die("staff", e))
    };
    let blackboard = cli.blackboard.as_deref();
    let bb = || remote(Server::Blackboard, blackboard);
    let result = match cli.command {
        Command::Completions { shell } => {
            handin::cli::print_meta(Cli::command(), handin::cli::Meta::Completions(shell))
                .map_err(Failure::from)
        }
        Command::Man => {
            handin::cli::print_meta(Cli::command(), handin::cli::Meta::Man).map_err(Failure::from)
        }
        Command::Enroll {
            id,
            code,
            ca,
            fingerprint,
            cuhk,
            csr,
            key,
            force,
            json,
        } => {
            if !force {
                staff::refuse_enrolled(&profile).unwrap_or_else(|e| die("staff", e));
            }
            let trust =
                servers::trust(ca, fingerprint.as_deref()).unwrap_or_else(|e| die("staff", e));
            let remember = servers::given(&[
                (Server::Cuhk, cuhk.as_deref()),
                (Server::Blackboard, blackboard),
            ])
            .unwrap_or_else(|e| die("staff", e));
            let cuhk = remote(Server::Cuhk, cuhk.as_deref());
            let id = match id {
                Some(s) => staff::enroll_id(&s).unwrap_or_else(|e| die("staff", e)),
                None => ask_id(),
            };
            run::enroll(&cuhk, &profile, &id, &code, &trust, csr.zip(key), &remember)
                .map(|en| handin::json::print_enrolled(&en, &profile, false, json))
        }
        Command::Renew { cuhk, json } => {
            run::renew(&remote(Server::Cuhk, cuhk.as_deref()), &profile, json)
        }
        Command::Config { cuhk, unset, json } => servers::config_command(
            "staff",
            &profile,
            &[
                (Server::Cuhk, cuhk.as_deref()),
                (Server::Blackboard, blackboard),
            ],
            &unset,
            json,
        )
        .map_err(Failure::from),
        Command::Courses { json } => run::courses(&bb(), &profile, json),
        Command::Assignment { command } => run::assignment(&bb(), &profile, command),
        Command::Status {
            course,
            assignment,
            json,
        } => run::status(&bb(), &profile, &course, &assignment, json),
        Command::Collect {
            course,
            assignment,
            out,
            json,
        } => run::collect(&bb(), &profile, &course, &assignment, &out, json),
        Command::Extend {
            course,
            assignment,
            student,
            due,
        } => run::extend(&bb(), &profile, &course, &assignment, &student, &due),
        Command::Grade(g) => run::grade(&bb(), &profile, g),
        Command::Release { course, assignment } => {
            run::release(&bb(), &profile, &course, &assignment)
        }
        Command::Log { course, json } => run::log(&bb(), &profile, &course, json),
        Command::AuditLog {
            log,
            vkey,
            cuhk,
            json,
        } => run::audit_log(
            &bb(),
            &remote(Server::Cuhk, cuhk.as_deref()),
            &profile,
            &log,
            vkey.as_deref(),
            json,
        ),
        Command::ExportP12(export) => export.run(&profile).map_err(Failure::from),
    };
    if let Err(e) = result {
        die("staff", e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn enroll_takes_the_documented_flags() {
        let cli = Cli::try_parse_from([
            "staff",
            "--profile",
            "p",
            "enroll",
            "--id",
            "prof.lee",
            "--code",
            "ABCD",
            "--ca",
            "ca.crt",
            "--cuhk",
            "127.0.0.1:1",
            "--transport",
            "smol",
            "--csr",
            "c.csr",
            "--key",
            "c.key",
        ]);
        assert!(cli.is_ok());
        // A CSR needs its key, and the other way round.
        let half = Cli::try_parse_from([
            "staff", "enroll", "--code", "A", "--ca", "ca.crt", "--csr", "c.csr",
        ]);
        assert!(half.is_err());
    }
}

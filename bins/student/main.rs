//! `student`: enroll at CUHK, then commit, submit, list and fetch homework at Blackboard, and
//! audit both servers' transparency logs.

mod audit;
mod show;

use clap::{Args, CommandFactory, Parser, Subcommand};
use handin::cli::{die, init_logging, ErrorKind, Failure, EXIT_CODES};
use handin::net::Transport;
use handin::servers;
use handin_client::config::{self, Server};
use handin_client::student::{self, AuditOptions, Destination, ExternalKey, Profile, Remote};
use handin_core::pki::StudentId;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "student",
    version,
    about = "Enroll at CUHK, then submit, list and fetch homework at Blackboard",
    after_help = EXIT_CODES
)]
struct Cli {
    /// More detail on stderr (-v: connection and handshake details).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// The profile directory (default: $HANDIN_HOME, else ~/.handin).
    #[arg(long, global = true)]
    profile: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Net {
    #[arg(long, value_enum, default_value = "mio")]
    transport: Transport,
    /// Seconds to wait for the TCP connection.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Make a key pair and enroll at CUHK with your one-time code.
    Enroll {
        /// Your 10-digit student ID (asked for if not given).
        #[arg(long)]
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
        /// Blackboard, HOST[:PORT], to remember in the profile for later commands.
        #[arg(long, value_name = "HOST[:PORT]")]
        blackboard: Option<String>,
        /// Enroll with a CSR made elsewhere (e.g. by `openssl req`) instead of a new key...
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
        #[command(flatten)]
        net: Net,
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
        #[command(flatten)]
        net: Net,
    },
    /// Before the due time, commit to a file's bytes: Blackboard signs and logs its name, size
    /// and SHA-256 (not the bytes). Submitting exactly those bytes within the assignment's
    /// grace after the due time then counts as on time. Saves the commitment in
    /// commitments/ in your profile.
    Commit {
        file: PathBuf,
        #[arg(long)]
        course: String,
        #[arg(long)]
        assignment: String,
        /// Blackboard, HOST[:PORT] (default: $HANDIN_BLACKBOARD, else the profile's, else
        /// 127.0.0.1:3141).
        #[arg(long, value_name = "HOST[:PORT]")]
        blackboard: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: Net,
    },
    /// Submit a file; prints and saves Blackboard's signed receipt.
    Submit {
        file: PathBuf,
        #[arg(long)]
        course: String,
        #[arg(long)]
        assignment: String,
        /// Blackboard, HOST[:PORT] (default: $HANDIN_BLACKBOARD, else the profile's, else
        /// 127.0.0.1:3141).
        #[arg(long, value_name = "HOST[:PORT]")]
        blackboard: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: Net,
    },
    /// List your submissions.
    List {
        #[arg(long)]
        course: Option<String>,
        /// Blackboard, HOST[:PORT] (default: $HANDIN_BLACKBOARD, else the profile's, else
        /// 127.0.0.1:3141).
        #[arg(long, value_name = "HOST[:PORT]")]
        blackboard: Option<String>,
        /// Print one JSON array instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: Net,
    },
    /// Fetch one of your submissions (by default into its own file name in the current
    /// directory); an existing file is not replaced without --force.
    Fetch {
        submission_id: String,
        /// Where to write it (default: the file's own name, in the current directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
        /// Blackboard, HOST[:PORT] (default: $HANDIN_BLACKBOARD, else the profile's, else
        /// 127.0.0.1:3141).
        #[arg(long, value_name = "HOST[:PORT]")]
        blackboard: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: Net,
    },
    /// Your grades, once your course's staff released them.
    Grades {
        #[arg(long)]
        course: Option<String>,
        /// Blackboard, HOST[:PORT] (default: $HANDIN_BLACKBOARD, else the profile's, else
        /// 127.0.0.1:3141).
        #[arg(long, value_name = "HOST[:PORT]")]
        blackboard: Option<String>,
        /// Print one JSON array instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: Net,
    },
    /// Fetch the feedback file returned with a released grade.
    Feedback {
        course: String,
        assignment: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
        /// Blackboard, HOST[:PORT] (default: $HANDIN_BLACKBOARD, else the profile's, else
        /// 127.0.0.1:3141).
        #[arg(long, value_name = "HOST[:PORT]")]
        blackboard: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: Net,
    },
    /// Check a receipt's signature with Blackboard's certificate (which must be a server
    /// certificate of the CUHK root and, if your profile pinned one, Blackboard's).
    VerifyReceipt {
        receipt: PathBuf,
        /// Blackboard's certificate (default: the one your profile pinned, or one it recorded
        /// since).
        #[arg(long)]
        blackboard_cert: Option<PathBuf>,
        /// The CUHK root certificate (default: ca.crt in your profile).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Print one JSON object instead of text (only for a valid receipt: an invalid one
        /// prints nothing on stdout and exits 5).
        #[arg(long)]
        json: bool,
    },
    /// Check Blackboard's and CUHK's transparency logs: each only ever grew since your last
    /// audit, your receipts and commitments are still in Blackboard's, and CUHK's holds no
    /// certificate for your ID that this profile never held. Exits 5 on any alarm.
    Audit {
        /// A checkpoint someone else saw (a file `student audit --export` wrote on their
        /// computer): the log must show you the same history. Repeatable.
        #[arg(long, value_name = "FILE")]
        checkpoint: Vec<PathBuf>,
        /// Copy the checkpoints your profile saved into DIR (blackboard.checkpoint,
        /// cuhk.checkpoint), for others to check with --checkpoint.
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
        /// Blackboard, HOST[:PORT] (default: $HANDIN_BLACKBOARD, else the profile's, else
        /// 127.0.0.1:3141).
        #[arg(long, value_name = "HOST[:PORT]")]
        blackboard: Option<String>,
        /// CUHK's enrollment server, HOST[:PORT] (default: $HANDIN_CUHK, else the profile's,
        /// else 127.0.0.1:9335).
        #[arg(long, value_name = "HOST[:PORT]")]
        cuhk: Option<String>,
        /// Print one JSON object instead of text (also when the audit finds a problem).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: Net,
    },
    /// Show the servers this profile talks to and where each address comes from; with
    /// --cuhk or --blackboard, remember them in the profile (--unset forgets one).
    Config {
        /// CUHK's enrollment server to remember, HOST[:PORT] (port 9335 if none).
        #[arg(long, value_name = "HOST[:PORT]")]
        cuhk: Option<String>,
        /// Blackboard to remember, HOST[:PORT] (port 3141 if none).
        #[arg(long, value_name = "HOST[:PORT]")]
        blackboard: Option<String>,
        /// Forget a remembered address (back to the default).
        #[arg(long, value_name = "NAME", value_parser = ["cuhk", "blackboard"])]
        unset: Vec<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a Blackboard certificate the pinned one (after CUHK renewed it, say); the one
    /// pinned before is kept for verifying older receipts.
    PinBlackboard {
        /// The certificate, e.g. the one a warning says was recorded in blackboard-seen/.
        cert: PathBuf,
    },
    #[command(name = "export-p12")]
    ExportP12(handin::export::ExportP12),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell): for example
    /// `student completions bash > ~/.local/share/bash-completion/completions/student`.
    Completions {
        #[arg(value_enum)]
        shell: handin::cli::Shell,
    },
    /// Print the man page (roff): for example `student man > ~/.local/share/man/man1/student.1`.
    Man,
}

/// How to reach `server`: the flag, else the environment, else the profile, else the default.
fn remote(server: Server, flag: Option<String>, net: Net, profile: &Profile) -> Remote {
    config::remote(
        server,
        flag.as_deref(),
        profile,
        net.transport,
        Duration::from_secs(net.connect_timeout),
    )
    .unwrap_or_else(|e| die("student", e))
}

/// How to reach Blackboard.
fn bb(flag: Option<String>, net: Net, profile: &Profile) -> Remote {
    remote(Server::Blackboard, flag, net, profile)
}

fn ask_id() -> StudentId {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        eprint!("Student ID (10 digits): ");
        let _ = std::io::stderr().flush();
        match lines.next() {
            Some(Ok(line)) => match student::student_enroll_id(&line) {
                Ok(id) => return id,
                Err(e) => eprintln!("{e}"),
            },
            _ => die(
                "student",
                Failure::usage("no student ID given: pass --id or type it at the prompt"),
            ),
        }
    }
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let profile = Profile::locate(cli.profile);
    match cli.command {
        Command::Completions { shell } => {
            handin::cli::print_meta(Cli::command(), handin::cli::Meta::Completions(shell))
                .unwrap_or_else(|e| die("student", e));
        }
        Command::Man => {
            handin::cli::print_meta(Cli::command(), handin::cli::Meta::Man)
                .unwrap_or_else(|e| die("student", e));
        }
        Command::Enroll {
            id,
            code,
            ca,
            fingerprint,
            cuhk,
            blackboard,
            csr,
            key,
            force,
            json,
            net,
        } => {
            if !force {
                student::refuse_enrolled(&profile).unwrap_or_else(|e| die("student", e));
            }
            let trust =
                servers::trust(ca, fingerprint.as_deref()).unwrap_or_else(|e| die("student", e));
            let remember = servers::given(&[
                (Server::Cuhk, cuhk.as_deref()),
                (Server::Blackboard, blackboard.as_deref()),
            ])
            .unwrap_or_else(|e| die("student", e));
            let cuhk = remote(Server::Cuhk, cuhk, net, &profile);
            let id = match id {
                Some(s) => student::student_enroll_id(&s).unwrap_or_else(|e| die("student", e)),
                None => ask_id(),
            };
            let external = csr.zip(key).map(|(csr, key)| ExternalKey { csr, key });
            let e = student::enroll(&cuhk, &profile, &id, &code, &trust, external.as_ref())
                .unwrap_or_else(|e| die("student", e));
            config::remember(&profile, &remember).unwrap_or_else(|e| die("student", e));
            handin::json::print_enrolled(&e, &profile, false, json);
        }
        Command::Config {
            cuhk,
            blackboard,
            unset,
            json,
        } => servers::config_command(
            "student",
            &profile,
            &[
                (Server::Cuhk, cuhk.as_deref()),
                (Server::Blackboard, blackboard.as_deref()),
            ],
            &unset,
            json,
        )
        .unwrap_or_else(|e| die("student", e)),
        Command::Renew { cuhk, json, net } => {
            let e = student::renew(&remote(Server::Cuhk, cuhk, net, &profile), &profile)
                .unwrap_or_else(|e| die("student", e));
            handin::json::print_enrolled(&e, &profile, true, json);
        }
        Command::Submit {
            file,
            course,
            assignment,
            blackboard,
            json,
            net,
        } => {
            let s = student::submit(
                &bb(blackboard, net, &profile),
                &profile,
                &file,
                &course,
                &assignment,
            )
            .unwrap_or_else(|e| die("student", e));
            show::submitted(&s, json);
        }
        Command::Commit {
            file,
            course,
            assignment,
            blackboard,
            json,
            net,
        } => {
            let c = student::commit(
                &bb(blackboard, net, &profile),
                &profile,
                &file,
                &course,
                &assignment,
            )
            .unwrap_or_else(|e| die("student", e));
            show::committed(&c, json);
        }
        Command::Audit {
            checkpoint,
            export,
            blackboard,
            cuhk,
            json,
            net,
        } => {
            let options = AuditOptions {
                checkpoints: checkpoint,
                export,
            };
            let bb = bb(blackboard, net.clone(), &profile);
            let cuhk = remote(Server::Cuhk, cuhk, net, &profile);
            let a = student::audit(&bb, &cuhk, &profile, &options)
                .unwrap_or_else(|e| die("student", e));
            audit::print(&a, &profile, json);
            if !a.passed() {
                die(
                    "student",
                    Failure::new(
                        ErrorKind::Auth,
                        format!(
                            "the audit raised {} alarm(s), listed above; nothing was saved",
                            a.alarms.len()
                        ),
                    ),
                );
            }
        }
        Command::List {
            course,
            blackboard,
            json,
            net,
        } => {
            let entries =
                student::list(&bb(blackboard, net, &profile), &profile, course.as_deref())
                    .unwrap_or_else(|e| die("student", e));
            show::list(&entries, json);
        }
        Command::Fetch {
            submission_id,
            out,
            force,
            blackboard,
            json,
            net,
        } => {
            let dest = match &out {
                Some(path) => Destination::File(path),
                None => Destination::NameIn(std::path::Path::new(".")),
            };
            let f = student::fetch_to(
                &bb(blackboard, net, &profile),
                &profile,
                &submission_id,
                dest,
                force,
            )
            .unwrap_or_else(|e| die("student", e));
            show::fetched(&f, json);
        }
        Command::VerifyReceipt {
            receipt,
            blackboard_cert,
            ca,
            json,
        } => {
            let v = student::verify_receipt(
                &profile,
                &receipt,
                blackboard_cert.as_deref(),
                ca.as_deref(),
            )
            .unwrap_or_else(|e| die("student", e));
            show::verified(&v, json);
        }
        Command::Grades {
            course,
            blackboard,
            json,
            net,
        } => {
            let grades =
                student::grades(&bb(blackboard, net, &profile), &profile, course.as_deref())
                    .unwrap_or_else(|e| die("student", e));
            show::grades(&grades, json);
        }
        Command::Feedback {
            course,
            assignment,
            out,
            force,
            blackboard,
            json,
            net,
        } => {
            let f = student::feedback_to(
                &bb(blackboard, net, &profile),
                &profile,
                &course,
                &assignment,
                &out,
                force,
            )
            .unwrap_or_else(|e| die("student", e));
            show::feedback(&f, &out, json);
        }
        Command::ExportP12(export) => export.run(&profile).unwrap_or_else(|e| die("student", e)),
        Command::PinBlackboard { cert } => {
            let p = student::pin_blackboard(&profile, &cert).unwrap_or_else(|e| die("student", e));
            let what = student::describe_server(&p.certificate);
            if p.unchanged {
                println!("already pinned: {what}");
            } else {
                println!("pinned Blackboard's certificate: {what}");
                if let Some(old) = p.replaced {
                    println!(
                        "the one pinned before (SHA-256 {old}) is kept in {} for older receipts",
                        profile.blackboard_seen().display()
                    );
                }
            }
        }
    }
}

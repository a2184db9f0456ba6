//! `cuhk`: the university's certificate authority and enrollment server.

use arc_swap::ArcSwap;
mod roster;

use clap::{CommandFactory, Parser, Subcommand};
use handin::cli::{die, init_logging, ErrorKind, Failure, EXIT_CODES};
use handin::net::{self, Transport};
use handin_core::driver::{ServeOptions, Shutdown};
use handin_core::pki::{PersonId, StaffLogin, StudentId};
use handin_services::cuhk::{follow_crl, Cuhk, CuhkShared, PkiDir, SharedThrottle};
use handin_services::registrar::RegistrarError;
use handin_services::runtime::Pool;
use handin_services::store::PgThrottle;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

#[derive(Parser)]
#[command(
    name = "cuhk",
    version,
    about = "CUHK: the university's certificate authority and enrollment server",
    after_help = EXIT_CODES
)]
struct Cli {
    /// More detail on stderr (-v: connections and handshakes, -vv: debugging).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the root CA, CUHK's server certificate, an empty CRL and the records database.
    Init {
        /// The PKI directory to create.
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        db: DbArg,
        /// Names the enrollment server's certificate is valid for (DNS names or IPs).
        #[arg(long = "san", default_values = ["localhost", "127.0.0.1"])]
        sans: Vec<String>,
    },
    /// Print the root certificate's SHA-256 fingerprint, alone on one line (as `openssl x509
    /// -fingerprint -sha256` writes it): students and staff enroll with `--fingerprint` and it.
    Fingerprint {
        /// The PKI directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue a server certificate (for Blackboard) signed by the CA.
    IssueServer {
        #[arg(long)]
        dir: PathBuf,
        /// The records, where the certificate is logged before it is written.
        #[command(flatten)]
        db: DbArg,
        /// The server's name (its certificate's CN).
        #[arg(long)]
        name: String,
        /// Names the certificate is valid for (DNS names or IPs); at least one.
        #[arg(long = "san", required = true)]
        sans: Vec<String>,
        /// Where to write the certificate chain (PEM).
        #[arg(long)]
        out_cert: PathBuf,
        /// Where to write the private key (PEM, mode 0600).
        #[arg(long)]
        out_key: PathBuf,
    },
    /// Manage the roster of students and staff allowed to enroll.
    Roster {
        #[command(subcommand)]
        command: RosterCommand,
    },
    /// Run the enrollment server.
    Serve {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        db: DbArg,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9335")]
        listen: String,
        #[arg(long, value_enum, default_value = "mio")]
        transport: Transport,
        /// Lifetime of issued certificates, students' and staff's (e.g. 120d, 12h, 90s).
        #[arg(long, default_value = "120d", value_parser = handin::cli::parse_duration)]
        cert_lifetime: Duration,
    },
    /// Revoke every certificate of a student or member of staff and publish a new CRL.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        db: DbArg,
        /// The 10-digit student ID.
        #[arg(long, value_name = "STUDENT_ID", required_unless_present = "staff")]
        student: Option<String>,
        /// A staff login, instead of a student ID.
        #[arg(long, value_name = "LOGIN", conflicts_with = "student")]
        staff: Option<String>,
    },
    /// Write a freshly signed CRL to a file.
    Crl {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell): for example
    /// `cuhk completions bash > ~/.local/share/bash-completion/completions/cuhk`.
    Completions {
        #[arg(value_enum)]
        shell: handin::cli::Shell,
    },
    /// Print the man page (roff): for example `cuhk man > ~/.local/share/man/man1/cuhk.1`.
    Man,
}

#[derive(Subcommand)]
enum RosterCommand {
    /// Add a student, or a teacher with --staff (or give them a new code); prints the one-time
    /// enrollment code alone on a line.
    Add {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        db: DbArg,
        /// The 10-digit student ID (a TA is added as a student).
        #[arg(required_unless_present = "staff")]
        student_id: Option<String>,
        /// A teacher's staff login instead: a lower-case letter, then 1 to 31 of a-z, 0-9, '.'
        /// and '-' (such as prof.lee).
        #[arg(long, value_name = "LOGIN", conflicts_with = "student_id")]
        staff: Option<String>,
    },
    /// Put everyone in a CSV file on the roster (the column headed id, student_id or login, or
    /// the first; an optional name column); prints id,name,code CSV for a mail merge. People
    /// already on the roster keep their codes.
    Import {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        db: DbArg,
        /// The CSV file.
        file: PathBuf,
    },
    /// Everyone on the roster: enrolled or not, certificates issued and revoked (codes are
    /// never shown again).
    List {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        db: DbArg,
        /// One JSON array: id, kind, added_at, enrolled, enrolled_at, certificates, revoked.
        #[arg(long)]
        json: bool,
    },
}

/// Where the records are, if not in the PKI directory's `cuhk.db`.
#[derive(clap::Args)]
struct DbArg {
    /// Keep the records in PostgreSQL (postgres://USER@HOST/DB) instead of PKI/cuhk.db:
    /// several CUHK nodes, each with a copy of the PKI directory, share them. A URL with a
    /// password belongs in the environment variable, not on the command line.
    #[arg(
        long,
        value_name = "URL",
        env = "HANDIN_CUHK_DB",
        hide_env_values = true
    )]
    db: Option<String>,
}

impl DbArg {
    /// The PKI directory `dir` with these records (a usage error if --db is no PostgreSQL URL).
    fn pki(self, dir: &std::path::Path) -> PkiDir {
        if let Some(url) = &self.db {
            if !handin_services::store::postgres::is_postgres_url(url) {
                usage(format!(
                    "--db {url:?} is not a PostgreSQL URL: give postgres://USER@HOST/DB (leave \
                     --db out for PKI/cuhk.db)"
                ));
            }
        }
        PkiDir::new(dir).with_db(self.db)
    }
}

/// The ID an operator command names: a student ID, or with `--staff` a staff login. Either
/// given as the other kind is refused with the flag to use.
fn person_id(student: Option<&str>, staff: Option<&str>) -> Result<PersonId, String> {
    const LOGIN_RULE: &str =
        "a staff login is a lower-case letter, then 1 to 31 of a-z, 0-9, '.' and '-'";
    match (student, staff) {
        (_, Some(s)) => match StaffLogin::parse(s) {
            Ok(login) => Ok(PersonId::Staff(login)),
            Err(_) if StudentId::parse(s).is_ok() => Err(format!(
                "{s:?} is a student ID, not a staff login: give it without --staff (a TA is \
                 a student)"
            )),
            Err(_) => Err(format!("{s:?} is not a staff login: {LOGIN_RULE}")),
        },
        (Some(s), None) => match StudentId::parse(s) {
            Ok(id) => Ok(PersonId::Student(id)),
            Err(_) if StaffLogin::parse(s).is_ok() => Err(format!(
                "{s:?} is not a student ID; for a teacher's staff login use --staff {s}"
            )),
            Err(e) => Err(format!("{s:?} is not a student ID: {e}")),
        },
        (None, None) => Err("name a student ID, or a staff login with --staff".into()),
    }
}

/// The PKI directory a command (other than `init`) names, refused (exit code 6) if `cuhk init`
/// did not make it: a typo must not make a new empty roster.
fn existing(dir: &std::path::Path, db: DbArg) -> PkiDir {
    let pki = db.pki(dir);
    pki.check()
        .unwrap_or_else(|e| die("cuhk", Failure::file(e)));
    pki
}

/// The exit code of a registrar failure: a damaged or unwritable database is a local file
/// problem.
fn registrar_failure(e: RegistrarError) -> Failure {
    let kind = match e {
        RegistrarError::Database { .. }
        | RegistrarError::BadDatabase(_)
        | RegistrarError::Missing(_) => ErrorKind::File,
        _ => ErrorKind::Other,
    };
    Failure::new(kind, e)
}

/// A bad student ID or staff login on the command line (exit code 2).
fn usage(e: String) -> ! {
    die("cuhk", Failure::usage(e))
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let now = SystemTime::now();
    match cli.command {
        Command::Completions { shell } => {
            handin::cli::print_meta(Cli::command(), handin::cli::Meta::Completions(shell))
                .unwrap_or_else(|e| die("cuhk", e));
        }
        Command::Man => {
            handin::cli::print_meta(Cli::command(), handin::cli::Meta::Man)
                .unwrap_or_else(|e| die("cuhk", e));
        }
        Command::Init { dir, db, sans } => {
            let pki = db.pki(&dir);
            pki.init(&sans, now)
                .unwrap_or_else(|e| die("cuhk", e.to_string()));
            let fingerprint = pki
                .fingerprint()
                .unwrap_or_else(|e| die("cuhk", e.to_string()));
            println!("created the CUHK root CA in {}", dir.display());
            println!("root certificate SHA-256 fingerprint: {fingerprint}");
            println!(
                "students and staff enroll with: --cuhk HOST --fingerprint {fingerprint} \
                 (`cuhk fingerprint --dir {}` prints it again)",
                dir.display()
            );
        }
        Command::Fingerprint { dir } => {
            let fingerprint = PkiDir::new(&dir)
                .fingerprint()
                .unwrap_or_else(|e| die("cuhk", e.to_string()));
            println!("{fingerprint}");
        }
        Command::IssueServer {
            dir,
            db,
            name,
            sans,
            out_cert,
            out_key,
        } => {
            existing(&dir, db)
                .issue_server(&name, &sans, &out_cert, &out_key, now)
                .unwrap_or_else(|e| die("cuhk", e.to_string()));
            println!(
                "issued {} for {} -> {}",
                name,
                sans.join(", "),
                out_cert.display()
            );
        }
        Command::Roster {
            command:
                RosterCommand::Add {
                    dir,
                    db,
                    student_id,
                    staff,
                },
        } => {
            let id =
                person_id(student_id.as_deref(), staff.as_deref()).unwrap_or_else(|e| usage(e));
            let mut registrar = existing(&dir, db)
                .registrar()
                .unwrap_or_else(|e| die("cuhk", e.to_string()));
            let code = registrar
                .add_person(&id, now)
                .unwrap_or_else(|e| die("cuhk", registrar_failure(e)));
            println!("{code}");
        }
        Command::Roster {
            command: RosterCommand::Import { dir, db, file },
        } => roster::import(&existing(&dir, db), &file, now).unwrap_or_else(|e| die("cuhk", e)),
        Command::Roster {
            command: RosterCommand::List { dir, db, json },
        } => roster::list(&existing(&dir, db), json).unwrap_or_else(|e| die("cuhk", e)),
        Command::Revoke {
            dir,
            db,
            student,
            staff,
        } => {
            let id = person_id(student.as_deref(), staff.as_deref()).unwrap_or_else(|e| usage(e));
            let n = existing(&dir, db)
                .revoke(&id, now)
                .unwrap_or_else(|e| die("cuhk", e.to_string()));
            println!(
                "revoked {n} certificate(s) of {id}; published {}",
                PkiDir::new(&dir).crl().display()
            );
        }
        Command::Crl { dir, db, out } => {
            let pki = existing(&dir, db);
            let ca = pki.ca().unwrap_or_else(|e| die("cuhk", e.to_string()));
            let mut registrar = pki
                .registrar()
                .unwrap_or_else(|e| die("cuhk", e.to_string()));
            let pem = pki
                .current_crl(&ca, &mut registrar, now)
                .unwrap_or_else(|e| die("cuhk", e.to_string()));
            handin_files::write_atomic(&out, pem.as_bytes(), handin_files::PUBLIC).unwrap_or_else(
                |e| {
                    die(
                        "cuhk",
                        Failure::file(format!("writing {}: {e}", out.display())),
                    )
                },
            );
        }
        Command::Serve {
            dir,
            db,
            listen,
            transport,
            cert_lifetime,
        } => {
            serve(&existing(&dir, db), &listen, transport, cert_lifetime)
                .unwrap_or_else(|e| die("cuhk", e.to_string()));
        }
    }
}

fn serve(
    pki: &PkiDir,
    listen: &str,
    transport: Transport,
    lifetime: Duration,
) -> Result<(), String> {
    // Seed the random number generator now: its first use gathers entropy for tens of
    // milliseconds, which the first student's handshake would otherwise wait for.
    aws_lc_rs::rand::fill(&mut [0u8; 16])
        .map_err(|_| "the system random number generator failed; check the operating system")?;
    let mut config = pki.server_config().map_err(|e| e.to_string())?;
    // One server per PKI directory, for as long as this one runs.
    let lock = pki
        .lock_for_serving(SystemTime::now())
        .map_err(|e| e.to_string())?;
    if std::env::var_os("SSLKEYLOGFILE").is_some() {
        config = config
            .with_key_log(Arc::new(handin_core::rustls::KeyLogFile::new()))
            .map_err(|e| e.to_string())?;
    }
    let crl =
        std::fs::read(pki.crl()).map_err(|e| format!("reading {}: {e}", pki.crl().display()))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let shared = CuhkShared {
        ca: pki.ca().map_err(|e| e.to_string())?,
        registrar: Mutex::new(pki.registrar().map_err(|e| e.to_string())?),
        pool: Pool::new(threads, "cuhk-worker").map_err(|e| e.to_string())?,
        lifetime,
        crl: ArcSwap::from_pointee(crl),
    };
    let mut cuhk = Cuhk::new(config, shared);
    if let Some(url) = pki.db_url() {
        // Nodes sharing the records share the wrong-code counts.
        let records = PgThrottle::open(url).map_err(|e| e.to_string())?;
        cuhk = cuhk.with_throttle(Arc::new(SharedThrottle::new(Box::new(records))));
    }
    let cuhk = Arc::new(cuhk);
    if pki.db_url().is_some() {
        follow_crl(
            cuhk.clone(),
            pki.records().map_err(|e| e.to_string())?,
            pki.crl(),
        )
        .map_err(|e| e.to_string())?;
    }
    handin::net::raise_open_files();
    let listener = handin::net::listen(listen).map_err(|e| {
        format!("cannot listen on {listen}: {e} (is another server using that port?)")
    })?;
    let shutdown = Shutdown::new();
    let (reload_tx, reload_rx) = std::sync::mpsc::channel();
    handin::signals::install(shutdown.clone(), Some(reload_tx)).map_err(|e| e.to_string())?;
    let watcher = cuhk.clone();
    handin_services::crl_watch::spawn(pki.crl(), reload_rx, move |bytes| {
        if let Some(cfg) = handin_services::crl_watch::apply(bytes, &watcher.config()) {
            watcher.set_config(cfg);
            watcher.shared().crl.store(Arc::new(bytes.to_vec()));
        }
    })
    .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    lock.set_address(addr).map_err(|e| e.to_string())?;
    eprintln!("cuhk: enrollment server listening on {addr} ({transport:?})");
    net::serve(
        transport,
        listener,
        cuhk.clone(),
        ServeOptions::default(),
        shutdown,
    )
    .map_err(|e| e.to_string())?;
    let stats = cuhk.commit_stats();
    eprintln!(
        "cuhk: stopped; {} application(s) decided in {} transaction(s) (largest batch {}), {} \
         batch(es) refused because the database failed",
        stats.applications, stats.batches, stats.largest_batch, stats.failed_batches
    );
    drop(lock);
    Ok(())
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
    fn roster_and_revoke_take_a_student_id_or_a_staff_login_each_in_its_place() {
        let p = |student: Option<&str>, staff: Option<&str>| person_id(student, staff);
        assert!(matches!(
            p(Some("1155000001"), None),
            Ok(PersonId::Student(_))
        ));
        assert!(matches!(p(None, Some("prof.lee")), Ok(PersonId::Staff(_))));
        assert_eq!(
            p(Some("prof.lee"), None).unwrap_err(),
            "\"prof.lee\" is not a student ID; for a teacher's staff login use --staff prof.lee"
        );
        assert_eq!(
            p(None, Some("1155000001")).unwrap_err(),
            "\"1155000001\" is a student ID, not a staff login: give it without --staff (a TA \
             is a student)"
        );
        for hostile in [
            "",
            "p",
            "Prof.Lee",
            "prof_lee",
            "prof lee",
            "prof/../lee",
            "prof.lee\n",
            " prof.lee",
            "prof.lee\0x",
            "pr\u{200b}of",
            "\u{ff50}rof",
            "lee\u{1b}[2J",
            "a23456789012345678901234567890123",
            "-lee",
            ".lee",
        ] {
            let e = p(None, Some(hostile)).unwrap_err();
            assert!(e.ends_with("is not a staff login: a staff login is a lower-case letter, then 1 to 31 of a-z, 0-9, '.' and '-'"), "{hostile:?}: {e}");
            assert!(!e.contains(['\n', '\0', '\u{1b}']), "{e:?}");
            let e = p(Some(hostile), None).unwrap_err();
            assert!(e.contains("is not a student ID"), "{hostile:?}: {e}");
            assert!(!e.contains(['\n', '\0', '\u{1b}']), "{e:?}");
        }
    }

    #[test]
    fn roster_add_takes_the_id_or_staff_but_not_both() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["cuhk", "roster", "add", "--dir", "d"].iter().chain(args))
        };
        assert!(parse(&["1155000001"]).is_ok());
        assert!(parse(&["--staff", "prof.lee"]).is_ok());
        assert!(parse(&[]).is_err());
        assert!(parse(&["1155000001", "--staff", "prof.lee"]).is_err());
        let revoke = |args: &[&str]| {
            Cli::try_parse_from(["cuhk", "revoke", "--dir", "d"].iter().chain(args))
        };
        assert!(revoke(&["--student", "1155000001"]).is_ok());
        assert!(revoke(&["--staff", "prof.lee"]).is_ok());
        assert!(revoke(&[]).is_err());
        assert!(revoke(&["--student", "1155000001", "--staff", "prof.lee"]).is_err());
    }
}

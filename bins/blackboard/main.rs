//! `blackboard`: the course submission server.

mod admin;
mod store_args;

use admin::{AssignmentCommand, CourseCommand};
use clap::{CommandFactory, Parser, Subcommand};
use handin::cli::{die, init_logging, parse_duration, parse_size, Failure, EXIT_CODES};
use handin::net::{self, Transport};
use handin_core::driver::{ServeOptions, Shutdown};
use handin_core::pki::{from_pem_or_der, Revocations};
use handin_core::rules::quota::{Quota, DEFAULT_MAX_SUBMISSIONS};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::{Identity, ReceiptSigner, Role, ServerConfig};
use handin_services::blackboard::sessions::{Limits, DEFAULT_PER_STUDENT};
use handin_services::blackboard::web::FormKey;
use handin_services::blackboard::{Blackboard, Shared, MIN_UPLOAD_BUFFER};
use handin_services::board::{default_node_name, Board, BoardError, StoreLocation};
use handin_services::runtime::Pool;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store_args::StoreArgs;

/// The fewest worker threads, whatever the number of cores.
const WORKERS: usize = 16;

#[derive(Parser)]
#[command(
    name = "blackboard",
    version,
    about = "Blackboard: accepts homework over mutual TLS from CUHK-certified students",
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
    /// Make a new data directory (mode 0700) with an empty store; every other command needs
    /// one. With --db, make the PostgreSQL schema (if missing) and the shared --blobs directory.
    Init {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Manage assignments.
    Assignment {
        #[command(subcommand)]
        command: AssignmentCommand,
    },
    /// Manage courses: their staff lists and class lists.
    Course {
        #[command(subcommand)]
        command: CourseCommand,
    },
    /// Run the submission server.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// With --db: this node's name among the nodes sharing --blobs (default: the host's
        /// name); its uploads in progress are kept in BLOBS/tmp/NODE/, which only it cleans.
        #[arg(long, requires = "db")]
        node: Option<String>,
        /// The CUHK root certificate students must chain to.
        #[arg(long)]
        ca: PathBuf,
        /// Blackboard's certificate chain (from `cuhk issue-server`).
        #[arg(long)]
        cert: PathBuf,
        /// Blackboard's private key; it also signs receipts.
        #[arg(long)]
        key: PathBuf,
        /// The CRL to enforce (CUHK's crl.pem); re-read when it changes and on SIGHUP. Required,
        /// unless --no-crl.
        #[arg(long)]
        crl: Option<PathBuf>,
        /// Serve without a CRL: revoked certificates are accepted (for a test, not for a
        /// campus).
        #[arg(long, conflicts_with = "crl")]
        no_crl: bool,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3141")]
        listen: String,
        #[arg(long, value_enum, default_value = "mio")]
        transport: Transport,
        /// Most connections open at once.
        #[arg(long, default_value_t = 20_000)]
        max_connections: usize,
        /// Most TLS handshakes in progress at once. Connections beyond it wait their turn (in
        /// arrival order, their handshake deadline not yet running), so that at a deadline
        /// rush every admitted handshake finishes in time instead of all of them being late.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
        max_handshakes: u32,
        /// Most uploaded bytes held in memory across all connections, waiting for the disk
        /// (e.g. 256MiB, 1GiB; at least 256KiB). When it is full, uploading students are not
        /// read from (TCP makes them wait) until the disk has taken some.
        #[arg(long, default_value = "256MiB")]
        upload_buffer: String,
        /// Most connections one student may have open at once (a student's client needs one).
        /// Once three quarters of --max-connections are taken, a student who already has a
        /// connection open gets no second one: the rest is kept for students with none.
        #[arg(long, default_value_t = DEFAULT_PER_STUDENT as u32, value_parser = clap::value_parser!(u32).range(1..))]
        max_connections_per_student: u32,
        /// A connection open this long (e.g. 1h, 30m) is closed once its request in flight
        /// is answered; the client reconnects for its next command.
        #[arg(long, default_value = "1h")]
        max_connection_age: String,
        /// Most submissions (every version of every file) one student may store per
        /// assignment.
        #[arg(long, default_value_t = DEFAULT_MAX_SUBMISSIONS)]
        max_versions_per_student: u64,
        /// Most bytes one student's submissions may take per assignment (e.g. 1GiB).
        #[arg(long, default_value = "1GiB")]
        max_bytes_per_student: String,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell): for example
    /// `blackboard completions bash > ~/.local/share/bash-completion/completions/blackboard`.
    Completions {
        #[arg(value_enum)]
        shell: handin::cli::Shell,
    },
    /// Print the man page (roff): for example `blackboard man > ~/.local/share/man/man1/blackboard.1`.
    Man,
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match cli.command {
        Command::Completions { shell } => {
            handin::cli::print_meta(Cli::command(), handin::cli::Meta::Completions(shell))
                .unwrap_or_else(|e| die("blackboard", e));
        }
        Command::Man => {
            handin::cli::print_meta(Cli::command(), handin::cli::Meta::Man)
                .unwrap_or_else(|e| die("blackboard", e));
        }
        Command::Init { store } => {
            let location = store.location();
            Board::init_at(&location).unwrap_or_else(|e| die("blackboard", board_failure(e)));
            match location {
                StoreLocation::Data(data) => {
                    println!("created the Blackboard data directory {}", data.display())
                }
                StoreLocation::Postgres { blobs, .. } => println!(
                    "made the Blackboard schema in PostgreSQL and the shared files directory {}",
                    blobs.display()
                ),
            }
        }
        Command::Assignment { command } => admin::assignment(command),
        Command::Course { command } => admin::course(command),
        Command::Serve {
            store,
            node,
            ca,
            cert,
            key,
            crl,
            no_crl,
            listen,
            transport,
            max_connections,
            max_handshakes,
            upload_buffer,
            max_connections_per_student,
            max_connection_age,
            max_versions_per_student,
            max_bytes_per_student,
        } => {
            let upload_buffer = parse_upload_buffer(&upload_buffer)
                .unwrap_or_else(|e| die("blackboard", Failure::usage(e)));
            let max_age = parse_duration(&max_connection_age)
                .map_err(|e| Failure::usage(format!("--max-connection-age: {e}")))
                .unwrap_or_else(|e| die("blackboard", e));
            let max_bytes = parse_size(&max_bytes_per_student)
                .map_err(|e| Failure::usage(format!("--max-bytes-per-student: {e}")))
                .unwrap_or_else(|e| die("blackboard", e));
            if crl.is_none() && !no_crl {
                die("blackboard", Failure::usage(NO_CRL));
            }
            let limits = Limits {
                per_student: max_connections_per_student as usize,
                max_age,
                ..Limits::for_capacity(max_connections)
            };
            let quota = Quota {
                max_submissions: max_versions_per_student,
                max_bytes,
            };
            let node = node.unwrap_or_else(default_node_name);
            serve(
                (&store.location(), &node),
                &ca,
                &cert,
                &key,
                crl.as_deref(),
                &listen,
                transport,
                Tuning {
                    opts: ServeOptions {
                        max_connections,
                        max_handshakes: max_handshakes as usize,
                        ..ServeOptions::default()
                    },
                    upload_buffer,
                    limits,
                    quota,
                },
            )
            .unwrap_or_else(|e| die("blackboard", e));
        }
    }
}

/// Why `serve` wants `--crl`, and what to pass.
const NO_CRL: &str = "no --crl given: without CUHK's certificate revocation list, Blackboard \
                      would accept revoked certificates; pass --crl PKI/crl.pem (CUHK's \
                      crl.pem, re-read when it changes), or --no-crl to serve without \
                      revocation checks";

/// The exit code of a store failure: what is wrong with the data directory is a local file
/// problem, a bad name a usage error.
pub(crate) fn board_failure(e: BoardError) -> Failure {
    use handin::cli::ErrorKind;
    let kind = match &e {
        BoardError::NoStore { .. }
        | BoardError::AlreadyInitialized(_)
        | BoardError::Io { .. }
        | BoardError::Database { .. }
        | BoardError::BadDatabase(_) => ErrorKind::File,
        BoardError::InvalidName(_) | BoardError::Invalid(_) => ErrorKind::Usage,
        BoardError::Refused(_) => ErrorKind::Refused,
        _ => ErrorKind::Other,
    };
    Failure::new(kind, e)
}

fn parse_upload_buffer(s: &str) -> Result<usize, String> {
    let bytes = parse_size(s).map_err(|e| format!("--upload-buffer: {e}"))?;
    match usize::try_from(bytes) {
        Ok(b) if b >= MIN_UPLOAD_BUFFER => Ok(b),
        _ => Err(format!(
            "--upload-buffer {s} is out of range: give at least 256KiB (the default is 256MiB)"
        )),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::file(format!("cannot read {}: {e}", path.display())))
}

/// The server's limits, from the command line.
struct Tuning {
    opts: ServeOptions,
    upload_buffer: usize,
    limits: Limits,
    quota: Quota,
}

#[allow(clippy::too_many_arguments)]
fn serve(
    (location, node): (&StoreLocation, &str),
    ca: &Path,
    cert: &Path,
    key: &Path,
    crl: Option<&Path>,
    listen: &str,
    transport: Transport,
    tuning: Tuning,
) -> Result<(), Failure> {
    let Tuning {
        opts,
        upload_buffer,
        limits,
        quota,
    } = tuning;
    let ca_der = from_pem_or_der(&read(ca)?, "CERTIFICATE")
        .map(|mut v| CertificateDer::from(v.remove(0)))
        .map_err(|e| Failure::file(format!("{} is not a certificate: {e}", ca.display())))?;
    let identity = Identity::from_pem(&read(cert)?, &read(key)?)
        .map_err(|e| Failure::file(format!("Blackboard's certificate and key: {e}")))?;
    let signer =
        ReceiptSigner::new(&identity.key, identity.chain[0].clone()).map_err(|e| e.to_string())?;
    let revocations = match crl {
        Some(p) => Revocations::from_crl(&read(p)?, &ca_der)
            .map_err(|e| Failure::file(format!("{}: {e}", p.display())))?,
        None => Revocations::empty(),
    };
    let mut config = ServerConfig::new(Role::Submit, ca_der.clone(), identity, revocations)
        .map_err(|e| e.to_string())?;
    if std::env::var_os("SSLKEYLOGFILE").is_some() {
        config = config
            .with_key_log(Arc::new(handin_core::rustls::KeyLogFile::new()))
            .map_err(|e| e.to_string())?;
    }
    let board = Board::open_at(location, node)
        .map_err(board_failure)?
        .with_quota(quota);
    if board.leftovers_removed() > 0 {
        tracing::warn!(
            count = board.leftovers_removed(),
            "removed unfinished uploads left by the last run"
        );
    }
    // Workers mostly wait for the disk (each finished upload's fdatasync runs on one, in
    // parallel with the others'), so more of them than cores.
    let threads = (std::thread::available_parallelism().map_or(2, |n| n.get()) * 2).max(WORKERS);
    let shared = Shared {
        board,
        signer,
        pool: Pool::new(threads, "bb-worker").map_err(|e| e.to_string())?,
    };
    // The connections the open-file limit can hold beside the files written for them: the
    // session limits (the share kept for students without a connection) follow what is served.
    let open_files = handin::net::raise_open_files();
    let mut opts = opts;
    let capacity = handin::net::connection_capacity(open_files, opts.max_connections);
    let limits = if capacity < opts.max_connections {
        // A limit the operator asked for is worth a warning; the default lowered to fit the
        // machine is not (it would greet every start on a host with a modest file limit).
        if opts.max_connections == ServeOptions::default().max_connections {
            tracing::debug!(
                max_connections = opts.max_connections,
                open_files = open_files.unwrap_or(0),
                capacity,
                "the default connection limit lowered to what the open-file limit holds"
            );
        } else {
            tracing::warn!(
                max_connections = opts.max_connections,
                open_files = open_files.unwrap_or(0),
                capacity,
                "the open-file limit cannot hold --max-connections beside the files written \
                 for them: serving at most {capacity} connections at once (raise `ulimit -n` \
                 for more)"
            );
        }
        opts.max_connections = capacity;
        Limits {
            shared: Limits::for_capacity(capacity).shared,
            ..limits
        }
    } else {
        limits
    };
    let mut bb = Blackboard::new(config, shared)
        .map_err(|e| format!("the staff protocol's TLS configuration: {e}"))?
        .with_upload_buffer(upload_buffer)
        .with_limits(limits);
    if let StoreLocation::Postgres { blobs, .. } = location {
        // Nodes sharing the files share the key of the web pages' forms.
        bb = bb.with_form_key(FormKey::shared(&blobs.join("web-form.key"))?);
    }
    let bb = Arc::new(bb);
    let listener = handin::net::listen(listen).map_err(|e| {
        format!("cannot listen on {listen}: {e} (is another server using that port?)")
    })?;
    let shutdown = Shutdown::new();
    let (reload_tx, reload_rx) = std::sync::mpsc::channel();
    handin::signals::install(shutdown.clone(), Some(reload_tx)).map_err(|e| e.to_string())?;
    if let Some(path) = crl {
        let watcher = bb.clone();
        handin_services::crl_watch::spawn(path.to_path_buf(), reload_rx, move |bytes| {
            if let Some(cfg) = handin_services::crl_watch::apply(bytes, &watcher.config()) {
                watcher.set_config(cfg);
            }
        })
        .map_err(|e| e.to_string())?;
    }
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(lock) = bb.board().dir_lock() {
        lock.set_address(addr).map_err(|e| e.to_string())?;
    }
    eprintln!("blackboard: listening on {addr} ({transport:?})");
    // Seed the random number generator now: its first use gathers entropy for tens of
    // milliseconds, which the first student's handshake would otherwise wait for.
    aws_lc_rs::rand::fill(&mut [0u8; 16])
        .map_err(|_| "the system random number generator failed; check the operating system")?;
    net::serve(transport, listener, bb.clone(), opts, shutdown).map_err(|e| e.to_string())?;
    let buffer = bb.upload_buffer();
    tracing::info!(
        cap = %handin_core::units::size_exact(buffer.cap() as u64),
        peak = %handin_core::units::size_exact(buffer.peak() as u64),
        waits = buffer.waits(),
        "upload buffer"
    );
    eprintln!("blackboard: stopped");
    Ok(())
}

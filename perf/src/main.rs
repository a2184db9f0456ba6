//! `loadgen`: measures the real servers over loopback from its own process. Each subcommand
//! starts the servers it measures (the release binaries next to this one, or `openssl`) and
//! ends with one line of JSON holding its figures; `summarize` turns several such lines into
//! medians. See docs/PERFORMANCE.md.

use clap::{Parser, Subcommand};
use handin::cli::{die, parse_size};
use handin_perf::loadgen::{
    collect, enroll, goals, handshakes, idle, openssl, storm, summarize, upload,
};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Measure handin's servers over loopback"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Full and resumed mutual-TLS handshakes per second against Blackboard.
    Handshakes {
        #[arg(long, default_value = "mio")]
        transport: String,
        /// Seconds per phase.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Client threads.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Key exchange the clients (and the in-memory measurement's client) offer first:
        /// x25519mlkem768 (post-quantum hybrid, handin's default) or x25519.
        #[arg(long, default_value = "x25519mlkem768")]
        kx: String,
    },
    /// One submission end to end, next to the disk, the protocol's network limit, bare rustls
    /// and a Python upload server, measured in the same run.
    Upload {
        #[arg(long, default_value = "mio")]
        transport: String,
        /// Bytes to upload (e.g. 1GiB).
        #[arg(long, default_value = "100MiB")]
        size: String,
        /// Runs of each reference (the median is reported).
        #[arg(long, default_value_t = 3)]
        reference_runs: usize,
    },
    /// A TA collects every student's submission (`staff collect`) against each student fetching
    /// their own (`student fetch`), the same bytes, in the same run.
    Collect {
        #[arg(long, default_value = "mio")]
        transport: String,
        /// Students, one submission each.
        #[arg(long, default_value_t = 500)]
        students: usize,
        /// Bytes per submission (e.g. 1MiB).
        #[arg(long, default_value = "1MiB")]
        size: String,
    },
    /// Enrollments per second: students on the roster, each enrolling over its own connection.
    Enroll {
        #[arg(long, default_value = "mio")]
        transport: String,
        /// Students to enroll.
        #[arg(long, default_value_t = 500)]
        students: usize,
        /// Client threads (default: twice the cores).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Every student submits at once: pre-enrolled students connect together and each uploads
    /// a distinct file; receipts and stored files are checked afterwards.
    Storm {
        #[arg(long, default_value = "mio")]
        transport: String,
        /// Students submitting at once.
        #[arg(long, default_value_t = 200)]
        students: usize,
        /// Bytes each student submits (e.g. 100KiB).
        #[arg(long, default_value = "100KiB")]
        size: String,
        /// Spread the sizes between --size and this (e.g. 16KiB to 100KiB).
        #[arg(long)]
        size_max: Option<String>,
        /// Where Blackboard keeps its records: sqlite (one node), or postgres (a PostgreSQL
        /// server started for the run, from the distribution's binaries, shared by --nodes).
        #[arg(long, default_value = "sqlite")]
        db: storm::Backend,
        /// Blackboard nodes sharing the database and the blob directory (postgres only); the
        /// clients spread over them in turn.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// How long each student's client waits for its handshake and Welcome (e.g. 60s, the
        /// student client's own deadline, or 3m).
        #[arg(long, default_value = "60s")]
        handshake_timeout: String,
    },
    /// Memory per idle connection: authenticated submission connections held open and silent,
    /// Blackboard's resident memory before and after.
    Idle {
        #[arg(long, default_value = "mio")]
        transport: String,
        /// Connections to hold open.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Connections opened and closed before the baseline (they fill the TLS session cache).
        #[arg(long, default_value_t = 2_500)]
        warmup: usize,
        /// Handshakes in progress at once.
        #[arg(long, default_value_t = 32)]
        in_flight: usize,
        /// Seconds to wait before each memory reading.
        #[arg(long, default_value_t = 2.0)]
        settle: f64,
    },
    /// The reference point: full and resumed handshakes per second with `openssl s_server` and
    /// `openssl s_time` on the lab's certificates, and s_server's CPU time per connection.
    Openssl {
        /// Seconds per phase (whole seconds, as s_time counts).
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// s_time processes at once.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Also pipe a file of this size through s_client into s_server and a file (e.g. 1GB).
        #[arg(long)]
        upload: Option<String>,
    },
    /// Medians, minima and maxima over runs: reads the JSON lines of the other subcommands on
    /// standard input and groups them by measurement and transport.
    Summarize {
        /// table, json or both.
        #[arg(long, default_value = "both")]
        format: summarize::Format,
    },
    /// Reads JSON lines on standard input and checks each performance goal against the median
    /// of the ratio each run computed from its own figures; exits 1 if a goal is missed.
    Goals,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Handshakes {
            transport,
            seconds,
            concurrency,
            kx,
        } => {
            let kx = handin_core::KeyExchange::parse(&kx).unwrap_or_else(|| {
                die(
                    "loadgen",
                    format!("--kx {kx:?}: name x25519mlkem768 or x25519"),
                )
            });
            handshakes::run(&handshakes::Opts {
                transport,
                seconds,
                concurrency,
                kx,
            })
        }
        Command::Upload {
            transport,
            size,
            reference_runs,
        } => {
            let size = parse_size(&size).unwrap_or_else(|e| die("loadgen", e));
            upload::run(&upload::Opts {
                transport,
                size,
                reference_runs,
            })
        }
        Command::Collect {
            transport,
            students,
            size,
        } => {
            let size = parse_size(&size).unwrap_or_else(|e| die("loadgen", e));
            collect::run(&collect::Opts {
                transport,
                students,
                size,
            })
        }
        Command::Enroll {
            transport,
            students,
            concurrency,
        } => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            enroll::run(&enroll::Opts {
                transport,
                students,
                concurrency: concurrency.unwrap_or(2 * cores),
            })
        }
        Command::Storm {
            transport,
            students,
            size,
            size_max,
            db,
            nodes,
            handshake_timeout,
        } => {
            let size = parse_size(&size).unwrap_or_else(|e| die("loadgen", e));
            let handshake_timeout = handin::cli::parse_duration(&handshake_timeout)
                .unwrap_or_else(|e| die("loadgen", format!("--handshake-timeout: {e}")));
            let mut opts = storm::Opts::new(&transport, students, size);
            opts.backend = db;
            opts.nodes = nodes;
            opts.handshake_timeout = handshake_timeout;
            if let Some(max) = size_max {
                opts.size_max = parse_size(&max).unwrap_or_else(|e| die("loadgen", e));
            }
            storm::run(&opts)
        }
        Command::Idle {
            transport,
            connections,
            warmup,
            in_flight,
            settle,
        } => {
            let settle = Duration::try_from_secs_f64(settle)
                .unwrap_or_else(|_| die("loadgen", "--settle must be a number of seconds"));
            idle::run(&idle::Opts {
                transport,
                connections,
                warmup,
                in_flight,
                settle,
            })
        }
        Command::Openssl {
            seconds,
            concurrency,
            upload,
        } => {
            let upload = upload.map(|s| parse_size(&s).unwrap_or_else(|e| die("loadgen", e)));
            openssl::run(&openssl::Opts {
                seconds,
                concurrency,
                upload,
            })
        }
        Command::Goals => match goals::run(std::io::stdin().lock()) {
            Ok((report, all_met)) => {
                print!("{report}");
                std::process::exit(if all_met { 0 } else { 1 });
            }
            Err(e) => die("loadgen", e),
        },
        Command::Summarize { format } => match summarize::run(std::io::stdin().lock(), format) {
            Ok(text) => {
                print!("{text}");
                return;
            }
            Err(e) => die("loadgen", e),
        },
    };
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => die("loadgen", e),
    }
}

//! `staff`: teachers and teaching assistants. Enroll at CUHK with a staff login (a teacher) or
//! a student ID (a TA), into the same profile the `student` command uses.

use clap::{Args, Parser, Subcommand};
use handin::cli::{die, init_logging, rfc3339};
use handin::net::Transport;
use handin_client::staff::{self, ExternalKey, Profile, Remote};
use handin_core::pki::PersonId;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "staff",
    version,
    about = "Teachers and TAs: enroll at CUHK with a staff login or a student ID"
)]
struct Cli {
    /// More detail on stderr (-v: connection and handshake details).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// The profile directory (default: $HANDIN_HOME, else ~/.handin), shared with `student`.
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
        /// Your staff login, or your 10-digit student ID if you are a TA (asked for if not
        /// given).
        #[arg(long, value_name = "LOGIN_OR_STUDENT_ID")]
        id: Option<String>,
        /// The one-time enrollment code from CUHK.
        #[arg(long)]
        code: String,
        /// The CUHK root certificate, obtained out of band.
        #[arg(long)]
        ca: PathBuf,
        /// CUHK's enrollment server.
        #[arg(long, default_value = "127.0.0.1:9335")]
        cuhk: String,
        /// Enroll with a CSR made elsewhere (e.g. by `openssl req`, CN = your ID) instead of
        /// a new key...
        #[arg(long, requires = "key")]
        csr: Option<PathBuf>,
        /// ...and its private key (PEM: PKCS#8, PKCS#1 or SEC1).
        #[arg(long, requires = "csr")]
        key: Option<PathBuf>,
        #[command(flatten)]
        net: Net,
    },
    /// Get a fresh certificate with a new key, authenticated by the current one.
    Renew {
        #[arg(long, default_value = "127.0.0.1:9335")]
        cuhk: String,
        #[command(flatten)]
        net: Net,
    },
}

fn remote(addr: String, net: Net) -> Remote {
    Remote {
        addr,
        transport: net.transport,
        connect_timeout: Duration::from_secs(net.connect_timeout),
    }
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
                "no ID given: pass --id or type your staff login at the prompt",
            ),
        }
    }
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let profile = Profile::locate(cli.profile);
    match cli.command {
        Command::Enroll {
            id,
            code,
            ca,
            cuhk,
            csr,
            key,
            net,
        } => {
            let id = match id {
                Some(s) => staff::enroll_id(&s).unwrap_or_else(|e| die("staff", e)),
                None => ask_id(),
            };
            let external = csr.zip(key).map(|(csr, key)| ExternalKey { csr, key });
            let e = staff::enroll(
                &remote(cuhk, net),
                &profile,
                &id,
                &code,
                &ca,
                external.as_ref(),
            )
            .unwrap_or_else(|e| die("staff", e));
            println!(
                "enrolled: {} (serial {}), valid until {}; saved in {}",
                e.subject,
                e.serial,
                rfc3339(e.not_after),
                profile.dir().display()
            );
        }
        Command::Renew { cuhk, net } => {
            let e = staff::renew(&remote(cuhk, net), &profile).unwrap_or_else(|e| die("staff", e));
            println!(
                "renewed: {} (serial {}), valid until {}",
                e.subject,
                e.serial,
                rfc3339(e.not_after)
            );
        }
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

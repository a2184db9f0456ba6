//! What the binaries share: logging, failures and their exit codes, time and size parsing.

pub use handin_client::{rfc3339, ErrorKind, StudentError};
use std::fmt::Display;
use std::time::SystemTime;

/// Sets up logging to stderr: warnings only by default, `-v` for connection and handshake
/// details, `-vv` for debugging. `RUST_LOG` overrides.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The exit codes, as every binary's `--help` ends with them (`after_help`).
pub const EXIT_CODES: &str = "\
Exit codes (the same for every handin command):
  0  success
  1  any other failure
  2  usage: a bad or missing argument
  3  cannot reach the server (name, connection, timeout)
  4  the server refused the request
  5  a certificate or signature did not verify
  6  a local file or directory is missing, unreadable or in the way";

/// A failure to report: its kind (which picks the exit code) and one line saying what went
/// wrong and what to do.
#[derive(Debug)]
pub struct Failure {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The line.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }

    /// A bad or missing argument (exit code 2).
    pub fn usage(message: impl Display) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// A local file or directory problem (exit code 6).
    pub fn file(message: impl Display) -> Self {
        Self::new(ErrorKind::File, message)
    }

    /// The same failure, with `context` and ": " before its message.
    pub fn context(self, context: impl Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<StudentError> for Failure {
    fn from(e: StudentError) -> Self {
        Self::new(e.kind(), e.message())
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::new(ErrorKind::Other, message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self::new(ErrorKind::Other, message)
    }
}

/// Prints one line on stderr (`PROGRAM: error: ...`) and exits with the code of the failure's
/// kind (see [`EXIT_CODES`]); a plain message is kind [`ErrorKind::Other`], exit code 1.
pub fn die(program: &str, e: impl Into<Failure>) -> ! {
    let e = e.into();
    eprintln!("{program}: error: {e}");
    std::process::exit(e.kind.exit_code())
}

/// Parses an RFC 3339 time (`2026-12-01T23:59:00+08:00`).
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            format!("{s:?} is not an RFC 3339 time such as 2026-12-01T23:59:00+08:00 ({e})")
        })?;
    Ok(t.into())
}

/// What [`parse_size`] accepts, for its errors.
const SIZES: &str = "give bytes (1000) or a number and a unit: KB, MB, GB, TB (powers of 1000) \
                     or KiB, MiB, GiB, TiB (powers of 1024), such as 10MB or 512KiB";

/// Parses a size: bytes (`1000`), or a number and a unit, in any case: `KB`, `MB`, `GB`, `TB`
/// (or `K`, `M`, `G`, `T`) are powers of 1000, `KiB`, `MiB`, `GiB`, `TiB` powers of 1024. The
/// number may have a fraction (`1.5GiB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    match s.trim().parse::<bytesize::ByteSize>() {
        // bytesize saturates instead of overflowing.
        Ok(size) if size.as_u64() == u64::MAX => Err(format!("{s:?} is too large")),
        Ok(size) => Ok(size.as_u64()),
        Err(_) => Err(format!("{s:?} is not a size: {SIZES}")),
    }
}

/// Parses a duration: a number and a unit, such as `120d`, `12h`, `30m` or `90s`, or several
/// (`1h 30m`). Units: `s`, `m` (minutes), `h`, `d`, `w`, `M` (months of 30.44 days), `y`
/// (years of 365.25 days), also spelt out (`2days`), and `ms`, `us`, `ns`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration such as 120d, 12h, 30m or 90s: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_lists_every_kind_with_its_code_and_meaning() {
        for kind in ErrorKind::ALL {
            let line = format!("  {}  {}", kind.exit_code(), kind.meaning());
            assert!(EXIT_CODES.lines().any(|l| l == line), "{line:?} missing");
        }
        assert_eq!(EXIT_CODES.lines().count(), 2 + ErrorKind::ALL.len());
    }

    #[test]
    fn rfc3339_times_parse_with_an_offset_and_print_in_utc() {
        let t = parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        assert_eq!(handin_core::pki::unix_secs(t), 1_796_083_200);
        assert_eq!(rfc3339(t), "2026-12-01T00:00:00Z");
        let t = parse_rfc3339("2026-12-01T23:59:00+08:00").unwrap();
        assert_eq!(rfc3339(t), "2026-12-01T15:59:00Z");
        assert!(parse_rfc3339("tomorrow").is_err());
    }

    #[test]
    fn sizes_are_bytes_or_a_number_and_a_decimal_or_binary_unit() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("10mb"), Ok(10_000_000));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("100KB"), Ok(100_000));
        assert_eq!(parse_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("5TB"), Ok(5_000_000_000_000));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size(" 20 MB "), Ok(20_000_000));
        assert_eq!(parse_size("100B"), Ok(100));
    }

    #[test]
    fn a_bad_size_is_one_line_saying_what_is_accepted() {
        for bad in ["ten", "", "MB", "-1", "5XB", "1e3", "10 MB extra"] {
            let e = parse_size(bad).unwrap_err();
            assert_eq!(e, format!("{bad:?} is not a size: {SIZES}"), "{bad:?}");
            assert!(!e.contains('\n'), "{e}");
        }
        assert_eq!(
            parse_size("20000000000GB").unwrap_err(),
            "\"20000000000GB\" is too large"
        );
    }

    #[test]
    fn durations_are_numbers_with_units() {
        let secs = |s| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(secs("120d"), Ok(120 * 86_400));
        assert_eq!(secs("12h"), Ok(12 * 3600));
        assert_eq!(secs("30m"), Ok(30 * 60));
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("1h 30m"), Ok(5400));
        assert_eq!(secs("2weeks"), Ok(14 * 86_400));
        assert_eq!(secs("1y"), Ok(31_557_600));
        assert_eq!(secs(" 1h "), Ok(3600));
    }

    #[test]
    fn a_bad_duration_is_one_line_saying_what_is_accepted() {
        for bad in ["90", "1x", "", "h", "-5s", "99999999999999999999d"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "{bad:?} is not a duration such as 120d, 12h, 30m or 90s: "
                )),
                "{e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
    }
}

/// The shells `completions` writes for.
pub use clap_complete::Shell;

/// What `<binary> completions SHELL` and `<binary> man` do: the completion script or the man
/// page (roff) of the command line `cmd` describes, on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// A shell completion script.
    Completions(Shell),
    /// The man page.
    Man,
}

/// Writes what `meta` asks for about `cmd` to standard output.
pub fn print_meta(mut cmd: clap::Command, meta: Meta) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match meta {
        Meta::Completions(shell) => {
            let name = cmd.get_name().to_owned();
            clap_complete::generate(shell, &mut cmd, name, &mut out);
            Ok(())
        }
        Meta::Man => clap_mangen::Man::new(cmd)
            .render(&mut out)
            .map_err(|e| format!("cannot write the man page: {e}")),
    }
}

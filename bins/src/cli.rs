//! What the three binaries share: logging, exit codes, time parsing.

pub use handin_client::rfc3339;
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

/// Prints one line on stderr and exits non-zero.
pub fn die(program: &str, e: impl Display) -> ! {
    eprintln!("{program}: error: {e}");
    std::process::exit(1)
}

/// Parses an RFC 3339 time (`2026-12-01T23:59:00+08:00`).
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            format!("{s:?} is not an RFC 3339 time such as 2026-12-01T23:59:00+08:00 ({e})")
        })?;
    Ok(t.into())
}

/// Parses a size such as `10MB`, `512KiB`, `1G` or `1000`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 10MB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?}: use KB, MB or GB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Parses a duration such as `120d`, `12h`, `30m` or `90s`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 120d, 12h or 90s"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: give a unit, s, m, h or d (e.g. 120d)")),
    };
    n.checked_mul(secs)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_parse() {
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5TB").is_err());
        let t = parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        assert_eq!(handin_core::pki::unix_secs(t), 1_796_083_200);
        assert_eq!(rfc3339(t), "2026-12-01T00:00:00Z");
        assert!(parse_rfc3339("tomorrow").is_err());
        assert_eq!(parse_duration("120d").unwrap().as_secs(), 120 * 86_400);
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert!(parse_duration("90").is_err());
        assert!(parse_duration("1y").is_err());
    }
}

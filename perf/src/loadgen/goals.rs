//! `loadgen goals`: each performance goal against the median, over the runs, of a ratio (or
//! figure) that one run computed from its own measurements, so that no goal compares figures
//! taken at different times on a noisy machine. Reads the JSON lines of the other subcommands
//! (other lines are skipped) and prints one line per goal and group: the median, the range,
//! the threshold, and whether it is met.

use super::Result;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;

/// Which way a goal's figure must go.
#[derive(Debug, Clone, Copy)]
enum Bound {
    AtLeast(f64),
    AtMost(f64),
    Below(f64),
}

impl Bound {
    fn met(self, x: f64) -> bool {
        match self {
            Self::AtLeast(t) => x >= t,
            Self::AtMost(t) => x <= t,
            Self::Below(t) => x < t,
        }
    }

    fn text(self) -> String {
        match self {
            Self::AtLeast(t) => format!(">= {t}"),
            Self::AtMost(t) => format!("<= {t}"),
            Self::Below(t) => format!("< {t}"),
        }
    }
}

/// The goals: measurement, field of one run's JSON, bound, what it says.
const GOALS: &[(&str, &str, Bound, &str)] = &[
    (
        "upload",
        "fraction_of_limit",
        Bound::AtLeast(0.8),
        "end to end / min(network limit, disk)",
    ),
    (
        "upload",
        "over_python",
        Bound::AtLeast(1.3),
        "end to end / Python ssl upload server",
    ),
    (
        "upload",
        "student_peak_rss_kib",
        Bound::Below(65536.0),
        "student peak RSS (KiB)",
    ),
    (
        "upload",
        "blackboard_peak_rss_kib",
        Bound::Below(65536.0),
        "Blackboard peak RSS (KiB)",
    ),
    (
        "handshakes",
        "server_cpu_over_in_memory_plus_floor_full",
        Bound::AtMost(1.15),
        "server CPU per full handshake / (in memory + TCP floor)",
    ),
    (
        "handshakes",
        "resumed_over_full",
        Bound::AtLeast(2.0),
        "resumed / full handshakes per second",
    ),
    (
        "enroll",
        "cpu_over_in_memory",
        Bound::AtMost(1.3),
        "CUHK CPU per enrollment / in memory",
    ),
    ("storm", "failures", Bound::AtMost(0.0), "failed students"),
    (
        "storm",
        "blackboard_peak_rss_kib",
        Bound::Below(1.5 * 1024.0 * 1024.0),
        "Blackboard peak RSS (KiB)",
    ),
    (
        "idle",
        "bytes_per_connection",
        Bound::AtMost(16384.0),
        "bytes per idle connection",
    ),
    (
        "idle",
        "failures",
        Bound::AtMost(0.0),
        "connections not established",
    ),
    (
        "idle",
        "dropped_by_server",
        Bound::AtMost(0.0),
        "held connections dropped",
    ),
];

/// A group's key: measurement, transport and the size or number of students it ran with.
type Key = (String, String, String);

fn key(obj: &Map<String, Value>) -> Option<Key> {
    let measurement = obj.get("measurement")?.as_str()?.to_owned();
    let transport = obj
        .get("transport")
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_owned();
    let scale = ["size", "students", "connections"]
        .iter()
        .filter_map(|f| obj.get(*f).map(|v| format!("{f} {v}")))
        .collect::<Vec<_>>()
        .join(", ");
    Some((measurement, transport, scale))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Checks the goals against the JSON lines of `input`; returns the report and whether every
/// goal that could be checked was met.
pub fn run(input: impl BufRead) -> Result<(String, bool)> {
    let mut runs: BTreeMap<Key, Vec<Map<String, Value>>> = BTreeMap::new();
    for line in input.lines() {
        let line = line.map_err(|e| format!("reading standard input: {e}"))?;
        if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line.trim()) {
            if let Some(k) = key(&obj) {
                runs.entry(k).or_default().push(obj);
            }
        }
    }
    if runs.is_empty() {
        return Err("no measurement lines on standard input".into());
    }
    let mut out = String::new();
    let mut all_met = true;
    for ((measurement, transport, scale), objs) in &runs {
        for (m, field, bound, what) in GOALS.iter().filter(|g| g.0 == measurement) {
            let values: Vec<f64> = objs
                .iter()
                .filter_map(|o| o.get(*field).and_then(Value::as_f64))
                .filter(|x| x.is_finite())
                .collect();
            if values.is_empty() {
                // A goal its runs did not measure (a failed run, a missing field) is not met.
                all_met = false;
                let _ = writeln!(
                    out,
                    "NOT MEASURED {m} ({transport}; {scale}): {what}: no run reported {field}; goal {}",
                    bound.text()
                );
                continue;
            }
            let (lo, hi) = values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                    (a.min(*x), b.max(*x))
                });
            let n = values.len();
            let med = median(values);
            let met = bound.met(med);
            all_met &= met;
            let _ = writeln!(
                out,
                "{:<7} {m} ({transport}; {scale}): {what}: median {med:.3} of {n} run{} \
                 (range {lo:.3}-{hi:.3}); goal {}",
                if met { "met" } else { "MISSED" },
                if n == 1 { "" } else { "s" },
                bound.text()
            );
        }
    }
    Ok((out, all_met))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_goal_is_judged_on_the_median_of_its_runs_per_transport_and_size() {
        let lines = [
            r#"{"measurement":"upload","transport":"mio","size":100,"fraction_of_limit":0.7}"#,
            r#"{"measurement":"upload","transport":"mio","size":100,"fraction_of_limit":0.9}"#,
            r#"{"measurement":"upload","transport":"mio","size":100,"fraction_of_limit":0.85}"#,
            r#"{"measurement":"upload","transport":"mio","size":200,"fraction_of_limit":0.5}"#,
            r#"{"measurement":"handshakes","transport":"smol","resumed_over_full":2.5}"#,
            "not json",
        ]
        .join("\n");
        let (report, all) = run(lines.as_bytes()).expect("report");
        assert!(!all, "size 200 misses: {report}");
        let line = |needle: &str| {
            report
                .lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no line with {needle}: {report}"))
                .to_owned()
        };
        assert!(line("size 100").starts_with("met"), "{report}");
        assert!(
            line("size 100").contains("median 0.850 of 3 runs"),
            "{report}"
        );
        assert!(line("size 200").starts_with("MISSED"), "{report}");
        assert!(line("resumed").starts_with("met"), "{report}");
    }

    #[test]
    fn a_goal_no_run_measured_is_not_met() {
        let (report, all) =
            run(r#"{"measurement":"upload","transport":"mio","size":1}"#.as_bytes())
                .expect("report");
        assert!(!all, "{report}");
        assert!(report.contains("NOT MEASURED upload"), "{report}");
    }

    #[test]
    fn nothing_to_check_is_an_error() {
        assert!(run("no json here\n".as_bytes()).is_err());
    }
}

//! `loadgen summarize`: the median, minimum and maximum of every numeric field over several
//! runs. Reads JSON lines (the output of the other subcommands; other lines are skipped) and
//! groups them by `measurement` and `transport`. Fields holding an object of numbers are
//! flattened (`kernel_listen_counters_delta.ListenOverflows`); true and false count as 1 and 0,
//! so a minimum of 0 for `verified` says some run was not.

use super::Result;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A readable table per group.
    Table,
    /// One JSON line per group.
    Json,
    /// The table, then the JSON lines.
    Both,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "table" => Ok(Self::Table),
            "json" => Ok(Self::Json),
            "both" => Ok(Self::Both),
            other => Err(format!("unknown format {other:?}: table, json or both")),
        }
    }
}

/// The runs of one measurement.
#[derive(Debug, Default)]
struct Group {
    measurement: String,
    transport: Option<String>,
    runs: usize,
    /// Each field's values, one per run that had it.
    fields: BTreeMap<String, Vec<f64>>,
}

/// The numbers in a value, flattened under `name`.
fn numbers(name: &str, v: &Value, out: &mut Vec<(String, f64)>) {
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64().filter(|x| x.is_finite()) {
                out.push((name.to_owned(), x));
            }
        }
        Value::Bool(b) => out.push((name.to_owned(), f64::from(u8::from(*b)))),
        Value::Object(m) => {
            for (k, v) in m {
                if !matches!(v, Value::Object(_)) {
                    numbers(&format!("{name}.{k}"), v, out);
                }
            }
        }
        _ => {}
    }
}

/// The median of values (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// A number for the table: whole numbers as such, others with fewer decimals as they grow.
fn show(x: f64) -> String {
    if (x.fract() == 0.0 && x.abs() < 1e15) || x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// Groups the JSON lines of `input`; returns the groups in the order first seen and the number
/// of lines skipped.
fn read(input: impl BufRead) -> Result<(Vec<Group>, usize)> {
    let mut groups: Vec<Group> = Vec::new();
    let mut skipped = 0;
    for line in input.lines() {
        let line = line.map_err(|e| format!("reading standard input: {e}"))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let obj: Map<String, Value> = match serde_json::from_str(line) {
            Ok(Value::Object(m)) => m,
            _ => {
                skipped += 1;
                continue;
            }
        };
        let Some(measurement) = obj.get("measurement").and_then(Value::as_str) else {
            skipped += 1;
            continue;
        };
        let transport = obj
            .get("transport")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let i = match groups
            .iter()
            .position(|g| g.measurement == measurement && g.transport == transport)
        {
            Some(i) => i,
            None => {
                groups.push(Group {
                    measurement: measurement.to_owned(),
                    transport,
                    ..Group::default()
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[i];
        g.runs += 1;
        let mut found = Vec::new();
        for (k, v) in &obj {
            numbers(k, v, &mut found);
        }
        for (k, x) in found {
            g.fields.entry(k).or_default().push(x);
        }
    }
    Ok((groups, skipped))
}

/// Summarizes the JSON lines of `input`.
pub fn run(input: impl BufRead, format: Format) -> Result<String> {
    let (mut groups, skipped) = read(input)?;
    if groups.is_empty() {
        return Err("no measurement lines on standard input".into());
    }
    let mut table = String::new();
    let mut json = String::new();
    for g in &mut groups {
        let title = match &g.transport {
            Some(t) => format!("{} ({t})", g.measurement),
            None => g.measurement.clone(),
        };
        let _ = writeln!(
            table,
            "{title}: {} run{}",
            g.runs,
            if g.runs == 1 { "" } else { "s" }
        );
        let width = g.fields.keys().map(String::len).max().unwrap_or(5).max(5);
        let _ = writeln!(
            table,
            "  {:<width$}  {:>12}  {:>12}  {:>12}",
            "field", "median", "min", "max"
        );
        let (mut med, mut min, mut max) = (Map::new(), Map::new(), Map::new());
        for (name, values) in &mut g.fields {
            values.sort_by(f64::total_cmp);
            let (m, lo, hi) = (
                median(values),
                values.first().copied().unwrap_or(0.0),
                values.last().copied().unwrap_or(0.0),
            );
            let partial = if values.len() < g.runs {
                format!("  ({} of {} runs)", values.len(), g.runs)
            } else {
                String::new()
            };
            let _ = writeln!(
                table,
                "  {name:<width$}  {:>12}  {:>12}  {:>12}{partial}",
                show(m),
                show(lo),
                show(hi)
            );
            med.insert(name.clone(), Value::from(m));
            min.insert(name.clone(), Value::from(lo));
            max.insert(name.clone(), Value::from(hi));
        }
        table.push('\n');
        let line = serde_json::json!({
            "measurement": g.measurement,
            "transport": g.transport,
            "runs": g.runs,
            "median": med,
            "min": min,
            "max": max,
        });
        let _ = writeln!(json, "{line}");
    }
    if skipped > 0 {
        let _ = writeln!(table, "lines skipped (not measurements): {skipped}\n");
    }
    Ok(match format {
        Format::Table => table,
        Format::Json => json,
        Format::Both => table + &json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_per_measurement_and_transport() {
        let input = "\
{\"measurement\":\"storm\",\"transport\":\"mio\",\"seconds\":3.0,\"failures\":0,\"verified\":true,\"k\":{\"a\":1}}
not json
{\"measurement\":\"storm\",\"transport\":\"smol\",\"seconds\":9.0,\"failures\":2,\"verified\":false}
{\"measurement\":\"storm\",\"transport\":\"mio\",\"seconds\":1.0,\"failures\":0,\"verified\":true,\"k\":{\"a\":3}}
{\"measurement\":\"storm\",\"transport\":\"mio\",\"seconds\":2.0,\"failures\":1,\"verified\":false}
{\"measurement\":\"openssl\",\"full_per_sec\":100.5,\"first_failure\":null}
";
        let out = run(input.as_bytes(), Format::Json).expect("summarized");
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        assert_eq!(lines.len(), 3);
        let mio = &lines[0];
        assert_eq!(mio["transport"], "mio");
        assert_eq!(mio["runs"], 3);
        assert_eq!(mio["median"]["seconds"], 2.0);
        assert_eq!(mio["min"]["seconds"], 1.0);
        assert_eq!(mio["max"]["seconds"], 3.0);
        assert_eq!(mio["median"]["failures"], 0.0);
        assert_eq!(mio["min"]["verified"], 0.0);
        // Present in two runs of three: the median of those two.
        assert_eq!(mio["median"]["k.a"], 2.0);
        assert_eq!(lines[1]["transport"], "smol");
        assert_eq!(lines[2]["measurement"], "openssl");
        assert_eq!(lines[2]["transport"], Value::Null);
        assert_eq!(lines[2]["median"]["full_per_sec"], 100.5);

        let table = run(input.as_bytes(), Format::Table).expect("summarized");
        assert!(table.contains("storm (mio): 3 runs"), "{table}");
        assert!(table.contains("(2 of 3 runs)"), "{table}");
        assert!(
            table.contains("lines skipped (not measurements): 1"),
            "{table}"
        );
    }

    #[test]
    fn nothing_to_summarize_is_an_error() {
        assert!(run("hello\n".as_bytes(), Format::Both).is_err());
    }
}

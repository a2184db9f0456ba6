//! Reading a class list exported from a spreadsheet or a registration system: CSV, one student
//! per row. The student ID is the column headed `student_id`, `student id`, `sid` or `id` (any
//! case), or else the first column; a first row without an ID in that column is a header.
//! Blank rows are skipped. Any other row without a valid ID makes the whole import fail, with
//! the line numbers, so that a half-read list is never taken.

use handin_core::pki::StudentId;

/// The most bad lines an error names.
const NAMED: usize = 5;

/// The student IDs of a class list, in file order, duplicates removed.
pub fn parse_class_list(text: &[u8]) -> Result<Vec<StudentId>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let mut column = 0;
    let mut ids = Vec::new();
    let mut bad = Vec::new();
    let mut bad_count = 0usize;
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        if i == 0 {
            let header = record.iter().position(|f| {
                let f = f.trim_start_matches('\u{feff}').to_ascii_lowercase();
                matches!(
                    f.as_str(),
                    "student_id" | "student id" | "sid" | "id" | "studentid"
                )
            });
            if let Some(c) = header {
                column = c;
                continue;
            }
        }
        let field = record
            .get(column)
            .unwrap_or("")
            .trim_start_matches('\u{feff}');
        match StudentId::parse(field) {
            Ok(id) => ids.push(id),
            // A first row without an ID is a header we did not recognise by name.
            Err(_) if i == 0 => {}
            Err(_) => {
                bad_count += 1;
                if bad.len() < NAMED {
                    bad.push(format!("line {line} ({field:?})"));
                }
            }
        }
    }
    if bad_count > 0 {
        let more = bad_count - bad.len();
        return Err(format!(
            "{bad_count} row(s) have no valid 10-digit student ID: {}{}; nothing was imported",
            bad.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<String> {
        parse_class_list(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|s| s.as_str().to_owned())
            .collect()
    }

    #[test]
    fn spreadsheet_exports_are_read() {
        assert_eq!(
            ids("1155000001\n1155000002\n"),
            ["1155000001", "1155000002"]
        );
        assert_eq!(
            ids("\u{feff}Name,Student ID\r\n\"Chan, Tai Man\",1155000001\r\n\r\nLee,\"1155000002\"\r\nLee,1155000002\r\n"),
            ["1155000001", "1155000002"]
        );
        assert_eq!(ids("id\n 1155000003 \n"), ["1155000003"]);
        assert_eq!(ids("Student number;x\n1155000004\n"), ["1155000004"]);
        assert!(ids("").is_empty());
    }

    #[test]
    fn a_bad_row_fails_the_whole_import_with_its_line() {
        let e = parse_class_list(b"1155000001\n115500000\n1155000003\nabc\n").unwrap_err();
        assert!(e.contains("2 row(s)"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("nothing was imported"), "{e}");
        let many: String = (0..20).map(|_| "x\n").collect::<String>();
        let e = parse_class_list(format!("1155000001\n{many}").as_bytes()).unwrap_err();
        assert!(e.contains("and 15 more"), "{e}");
        assert!(parse_class_list(b"1155000001\n\xff\xfe\n").is_err());
    }
}

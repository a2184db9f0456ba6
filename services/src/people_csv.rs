//! Reading a list of people exported from a spreadsheet or a registration system: CSV, one
//! person per row, for Blackboard's class lists and CUHK's roster imports. The ID is the column
//! headed `student_id`, `student id`, `sid`, `id`, `login` or `staff_login` (any case), or else
//! the first column; a `name` column, if there is one, is carried along. A first row without an
//! ID in that column is a header. Blank rows are skipped. Any other row without a valid ID makes
//! the whole list fail, with the line numbers, so that a half-read list is never taken.

use handin_core::pki::{PersonId, StudentId};

/// The most bad lines an error names.
const NAMED: usize = 5;

/// A person of a list: their ID, and their name if the list has a name column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// The ID.
    pub id: T,
    /// The name, if given.
    pub name: Option<String>,
}

fn header_is(field: &str, names: &[&str]) -> bool {
    let f = field.trim_start_matches('\u{feff}').to_ascii_lowercase();
    names.contains(&f.as_str())
}

/// The people of a list, in file order, duplicates removed; `parse` reads one ID and `what`
/// names the kind of ID in errors.
pub fn parse_people<T: Clone + Ord>(
    text: &[u8],
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<Listed<T>>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let mut column = 0;
    let mut name_column = None;
    let mut people = Vec::new();
    let mut bad = Vec::new();
    let mut bad_count = 0usize;
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        if i == 0 {
            const IDS: &[&str] = &[
                "student_id",
                "student id",
                "studentid",
                "sid",
                "id",
                "login",
                "staff_login",
            ];
            let id_column = record.iter().position(|f| header_is(f, IDS));
            name_column = record
                .iter()
                .position(|f| header_is(f, &["name", "full name"]));
            if let Some(c) = id_column {
                column = c;
                continue;
            }
        }
        let field = record
            .get(column)
            .unwrap_or("")
            .trim_start_matches('\u{feff}');
        match parse(field) {
            Some(id) => people.push(Listed {
                id,
                name: name_column
                    .and_then(|c| record.get(c))
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            }),
            // A first row without an ID is a header we did not recognise by name.
            None if i == 0 => {}
            None => {
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
            "{bad_count} row(s) have no valid {what}: {}{}; nothing was imported",
            bad.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    people.retain(|p| seen.insert(p.id.clone()));
    Ok(people)
}

/// The student IDs of a class list, in file order, duplicates removed.
pub fn parse_class_list(text: &[u8]) -> Result<Vec<StudentId>, String> {
    let people = parse_people(text, "10-digit student ID", |s| StudentId::parse(s).ok())?;
    Ok(people.into_iter().map(|p| p.id).collect())
}

/// The people of a roster import: student IDs and staff logins, with names if given.
pub fn parse_roster(text: &[u8]) -> Result<Vec<Listed<PersonId>>, String> {
    parse_people(text, "student ID or staff login", |s| {
        PersonId::parse(s).ok()
    })
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
        assert!(
            e.contains("2 row(s) have no valid 10-digit student ID"),
            "{e}"
        );
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("nothing was imported"), "{e}");
        let many: String = (0..20).map(|_| "x\n").collect::<String>();
        let e = parse_class_list(format!("1155000001\n{many}").as_bytes()).unwrap_err();
        assert!(e.contains("and 15 more"), "{e}");
        assert!(parse_class_list(b"1155000001\n\xff\xfe\n").is_err());
    }

    #[test]
    fn a_roster_import_takes_logins_and_names() {
        let r = parse_roster(b"Name,ID\n\"Chan, Tai Man\",1155000001\nLee,prof.lee\n,1155000002\n")
            .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].name.as_deref(), Some("Chan, Tai Man"));
        assert!(matches!(r[1].id, PersonId::Staff(_)));
        assert_eq!(r[2].name, None);
        assert!(parse_roster(b"id\nProf.Lee\n").is_err());
    }
}

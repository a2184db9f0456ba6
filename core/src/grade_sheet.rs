//! Reading a grade sheet, for `staff grade --csv` and the staff's web page: a CSV file with a
//! header row naming its columns: `student_id` (or `id`, `sid`, `student id`), `score`, and
//! optionally `comment` and `feedback` (a file path, relative to the sheet's folder). Every row is checked with the
//! same rules the server applies before anything is sent, and a sheet with any bad row is
//! refused whole, with the line numbers.

use crate::pki::StudentId;
use crate::rules::grading::{check_comment, check_score};
use std::path::{Path, PathBuf};

/// The most bad rows an error names.
const NAMED: usize = 5;

/// One row of a grade sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRow {
    /// The line it came from.
    pub line: usize,
    /// The student.
    pub student: StudentId,
    /// The score.
    pub score: String,
    /// The comment (may be empty).
    pub comment: String,
    /// A feedback file, if the row names one.
    pub feedback: Option<PathBuf>,
}

fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| {
        let h = h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        names.contains(&h.as_str())
    })
}

/// Reads the grade sheet `text`, read from `path` (feedback paths are relative to its folder).
/// `feedback` judges each feedback file named (the staff command checks it is there; the web
/// pages, which cannot take files by path, refuse it): this crate opens no file.
pub fn parse_grade_sheet(
    text: &[u8],
    path: &Path,
    feedback: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<Vec<SheetRow>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::Fields)
        .from_reader(text);
    let headers = reader
        .headers()
        .map_err(|e| format!("the header row: {e}"))?
        .clone();
    let student_col = column(
        &headers,
        &["student_id", "student id", "studentid", "sid", "id"],
    )
    .ok_or("the header row names no student_id column (student_id,score,comment,feedback)")?;
    let score_col = column(&headers, &["score", "grade", "mark"])
        .ok_or("the header row names no score column (student_id,score,comment,feedback)")?;
    let comment_col = column(&headers, &["comment", "comments"]);
    let feedback_col = column(&headers, &["feedback", "feedback_file", "file"]);
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let mut bad_count = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| format!("{e}"))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").to_owned();
        let row = (|| -> Result<SheetRow, String> {
            let id = get(Some(student_col));
            let student =
                StudentId::parse(&id).map_err(|_| format!("{id:?} is not a student ID"))?;
            let score = get(Some(score_col));
            check_score(&score).map_err(|r| r.reason)?;
            let comment = get(comment_col).replace("\r\n", "\n");
            check_comment(&comment).map_err(|r| r.reason)?;
            let feedback_path = Some(get(feedback_col))
                .filter(|f| !f.is_empty())
                .map(|f| base.join(f));
            if let Some(f) = &feedback_path {
                feedback(f)?;
            }
            Ok(SheetRow {
                line,
                student,
                score,
                comment,
                feedback: feedback_path,
            })
        })();
        match row {
            Ok(r) => rows.push(r),
            Err(e) => {
                bad_count += 1;
                if bad.len() < NAMED {
                    bad.push(format!("line {line}: {e}"));
                }
            }
        }
    }
    if bad_count > 0 {
        let more = bad_count - bad.len();
        return Err(format!(
            "{bad_count} bad row(s), nothing was sent: {}{}",
            bad.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_file(_: &Path) -> Result<(), String> {
        Ok(())
    }

    fn no_file(f: &Path) -> Result<(), String> {
        Err(format!("feedback file {} is not there", f.display()))
    }

    #[test]
    fn a_sheet_with_feedback_files_is_read() {
        let sheet = Path::new("marking/grades.csv");
        let text = "Student ID,Score,Comment,Feedback\n1155000001,87.5,\"Good, clear.\nSee the file.\",a.pdf\n\n1155000002,60,,\n";
        let rows = parse_grade_sheet(text.as_bytes(), sheet, &any_file).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].comment, "Good, clear.\nSee the file.");
        assert_eq!(
            rows[0].feedback.as_deref(),
            Some(Path::new("marking/a.pdf"))
        );
        assert_eq!(rows[1].feedback, None);
    }

    #[test]
    fn any_bad_row_refuses_the_sheet() {
        let p = Path::new("/nonexistent/grades.csv");
        let e = parse_grade_sheet(
            b"student_id,score\n1155000001,A-\n115500000,5\n1155000003,7\n",
            p,
            &no_file,
        )
        .unwrap_err();
        assert!(e.starts_with("2 bad row(s)"), "{e}");
        assert!(e.contains("line 2") && e.contains("line 3"), "{e}");
        assert!(parse_grade_sheet(b"name,score\nx,1\n", p, &no_file).is_err());
        assert!(parse_grade_sheet(b"student_id,comment\n1155000001,x\n", p, &no_file).is_err());
        let e = parse_grade_sheet(
            b"id,score,feedback\n1155000001,1,missing.pdf\n",
            p,
            &no_file,
        )
        .unwrap_err();
        assert!(e.contains("missing.pdf"), "{e}");
        let e = parse_grade_sheet(b"id,score,comment\n1155000001,1,bell\x07\n", p, &no_file)
            .unwrap_err();
        assert!(e.contains("control"), "{e}");
    }
}

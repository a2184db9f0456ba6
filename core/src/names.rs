//! What a course code, an assignment name and a file name may be.
//!
//! File names end up as directory entries on the server and in the student's downloads, so they
//! are plain names: no path separators, no `.` or `..`, no NUL or control characters.
//!
//! Submission ids are assigned by the server, and a client names files after them (its saved
//! receipts), so a client checks them too before using one.

/// Longest file name accepted, in bytes.
pub const MAX_FILE_NAME: usize = 255;
/// Longest course code or assignment name accepted, in bytes.
pub const MAX_LABEL: usize = 64;
/// Longest submission id accepted, in bytes.
pub const MAX_SUBMISSION_ID: usize = 64;

/// A name that is not acceptable, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadName(pub String);

/// Checks a submitted file name.
pub fn check_file_name(name: &str) -> Result<(), BadName> {
    let bad = |why: &str| Err(BadName(format!("file name {name:?} {why}")));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > MAX_FILE_NAME {
        return bad("is longer than 255 bytes");
    }
    if name == "." || name == ".." {
        return bad("is not a file name");
    }
    if name.contains('/') || name.contains('\\') {
        return bad("contains a path separator");
    }
    if name.contains('\0') {
        return bad("contains a NUL byte");
    }
    if name.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    if name.trim() != name {
        return bad("starts or ends with white space");
    }
    Ok(())
}

/// Checks a course code or assignment name: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with
/// `.` or `-`.
pub fn check_label(what: &str, label: &str) -> Result<(), BadName> {
    let ok = !label.is_empty()
        && label.len() <= MAX_LABEL
        && !label.starts_with('.')
        && !label.starts_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BadName(format!(
            "{what} {label:?} must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        )))
    }
}

/// Checks a submission id: 1 to 64 of `A-Z a-z 0-9 _ -`, starting with a letter or a digit.
///
/// Blackboard's ids (`S` and 20 base32 characters) are of this form. Such an id is a plain file
/// name on any system: no separator, no dot, nothing a terminal interprets.
pub fn check_submission_id(id: &str) -> Result<(), BadName> {
    let ok = !id.is_empty()
        && id.len() <= MAX_SUBMISSION_ID
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BadName(format!(
            "submission id {id:?} is not 1 to 64 letters, digits, '_' or '-' starting with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_paths_do_not() {
        assert!(check_file_name("hw1.pdf").is_ok());
        assert!(check_file_name("報告 final.docx").is_ok());
        for bad in [
            "", ".", "..", "a/b", "../x", "a\\b", "a\0b", "a\nb", "a\u{7f}", " x", "x ",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_file_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn labels_are_restricted() {
        assert!(check_label("course", "CSCI3180").is_ok());
        assert!(check_label("assignment", "hw-1_a.b").is_ok());
        for bad in ["", ".x", "-x", "a b", "a/b", "é"] {
            assert!(check_label("course", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn submission_ids_are_plain_file_names() {
        for good in ["SABCDEFGHIJKLMNOPQRST", "S234567", "s1", "1", "a_b-c"] {
            assert!(check_submission_id(good).is_ok(), "{good:?} refused");
        }
        for bad in [
            "",
            ".",
            "..",
            "../../../X",
            "a/b",
            "a\\b",
            ".hidden",
            "-rf",
            "_x",
            "S1.receipt",
            "S\u{1b}[2J",
            "S 1",
            "é",
        ] {
            assert!(check_submission_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_submission_id(&"S".repeat(64)).is_ok());
        assert!(check_submission_id(&"S".repeat(65)).is_err());
    }
}

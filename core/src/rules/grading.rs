//! Grades: what a score and a comment may be, and when a student sees them (only once the
//! assignment's grades are released, never before).

use crate::{Refusal, RefusalCode};

fn bad(reason: String) -> Refusal {
    Refusal::new(RefusalCode::BadField, reason)
}

/// The longest score, in characters.
pub const MAX_SCORE: usize = 16;
/// The longest comment, in characters.
pub const MAX_COMMENT: usize = 4000;

/// Checks a score: a decimal number (`87`, `87.5`, `-1`), at most [`MAX_SCORE`] characters. A
/// refusal is `BadField`.
pub fn check_score(score: &str) -> Result<(), Refusal> {
    let digits = score.strip_prefix('-').unwrap_or(score);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    let ok = score.len() <= MAX_SCORE
        && !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "the score {:?} is not a number like 87 or 87.5 (at most {MAX_SCORE} characters)",
            crate::msg::truncate_utf8(score, 40)
        )))
    }
}

/// Checks a comment: at most [`MAX_COMMENT`] characters, no control characters but newlines
/// and tabs. A refusal is `BadField`.
pub fn check_comment(comment: &str) -> Result<(), Refusal> {
    if comment.chars().count() > MAX_COMMENT {
        return Err(bad(format!(
            "the comment is longer than {MAX_COMMENT} characters; put the rest in a feedback file"
        )));
    }
    if comment
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(bad(
            "the comment holds a control character (only newlines and tabs are allowed)".into(),
        ));
    }
    Ok(())
}

/// Whether a student may see a grade (score, comment, feedback file), given when its
/// assignment's grades were released (seconds since the Unix epoch), if they were, and the time
/// now: only once they are released, never before.
pub fn visible_to_student(released_at: Option<u64>, now: u64) -> bool {
    released_at.is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_decimal_numbers() {
        for ok in ["0", "87", "87.5", "-1", "100.25"] {
            assert!(check_score(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-",
            ".5",
            "5.",
            "A-",
            "1e3",
            "1.2.3",
            " 5",
            "12345678901234567",
            "٣",
        ] {
            assert!(check_score(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn comments_are_bounded_text() {
        assert!(check_comment("Good work.\n\tSee the feedback file.").is_ok());
        assert!(check_comment("bell\u{7}").is_err());
        assert!(check_comment(&"x".repeat(MAX_COMMENT + 1)).is_err());
        assert!(check_comment(&"\u{e9}".repeat(MAX_COMMENT)).is_ok());
        assert!(!visible_to_student(None, 100));
        assert!(visible_to_student(Some(100), 100));
        assert!(!visible_to_student(Some(101), 100));
    }
}

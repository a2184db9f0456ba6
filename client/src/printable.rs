//! Showing text that came from elsewhere (a server, a receipt file) on a terminal.
//!
//! A file name, a course code or a refusal reason chosen by a hostile server could hold escape
//! sequences that a terminal obeys (clear the screen, set the title, move the cursor, rewrite
//! what was printed before) or bidirectional overrides that make a name read as another. Such
//! characters are shown as Rust escapes instead (`\u{1b}`, `\u{202e}`, `\n`), the rest as is.

use std::borrow::Cow;

/// Whether `c` is shown escaped: every control character (C0, DEL, C1), the bidirectional
/// formatting characters, the invisible ones that hide or join text, the line and paragraph
/// separators, and the tag characters.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061c}'                      // Arabic letter mark
            | '\u{200b}'..='\u{200f}'       // zero width space, joiners, LRM, RLM
            | '\u{2028}'..='\u{202e}'       // line and paragraph separators, embeddings, overrides
            | '\u{2060}'..='\u{206f}'       // word joiner, invisible operators, isolates
            | '\u{feff}'                    // zero width no-break space
            | '\u{fff9}'..='\u{fffb}'       // interlinear annotation
            | '\u{e0000}'..='\u{e007f}'     // tags
        )
}

/// `s` with every hidden character written as its Rust escape; borrowed when nothing is hidden.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if hidden(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `value` as JSON text in which every hidden character is a `\uXXXX` escape.
///
/// A JSON encoder escapes only what JSON requires (C0 controls, `"` and `\`): DEL, the C1
/// controls and the bidirectional overrides would reach the terminal as they are. Outside
/// strings JSON text is plain ASCII, so escaping these characters wherever they occur keeps
/// it valid and decodes to the same value.
pub fn json(value: &serde_json::Value) -> String {
    let encoded = value.to_string();
    if !encoded.chars().any(hidden) {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + 16);
    for c in encoded.chars() {
        if hidden(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_shown_as_they_are() {
        for s in [
            "hw1.pdf",
            "報告 final.docx",
            "naïve résumé.txt",
            "e\u{301}.txt",
            "",
        ] {
            assert!(matches!(text(s), Cow::Borrowed(_)), "{s:?}");
        }
    }

    #[test]
    fn what_a_terminal_would_obey_is_escaped() {
        assert_eq!(text("a\u{1b}[2Jb"), r"a\u{1b}[2Jb");
        assert_eq!(text("x\u{7}\u{7f}\u{9b}"), r"x\u{7}\u{7f}\u{9b}");
        assert_eq!(text("line\nbreak\ttab\r"), r"line\nbreak\ttab\r");
        assert_eq!(text("\u{202e}fdp.exe"), r"\u{202e}fdp.exe");
        assert_eq!(
            text("a\u{2066}b\u{200b}c\u{feff}"),
            r"a\u{2066}b\u{200b}c\u{feff}"
        );
        assert_eq!(text("tag\u{e0041}"), r"tag\u{e0041}");
    }

    #[test]
    fn json_keeps_its_value_and_loses_its_raw_controls() {
        let name = "a\u{1b}[31m\u{7f}\u{9b}\u{202e}\u{e0041}\"\\é";
        let v = serde_json::json!({ "file_name": name, "n": 1 });
        let out = json(&v);
        assert!(!out.chars().any(hidden), "{out:?}");
        let back: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(back, v);
        let plain = serde_json::json!({ "file_name": "hw1.pdf" });
        assert_eq!(json(&plain), plain.to_string());
    }
}

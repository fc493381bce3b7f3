//! Text from rules, data or requests made safe for a terminal or a log line.

use std::borrow::Cow;

/// Control characters (ESC, newlines, carriage returns) shown escaped (`\n`, `\u{1b}`), so a
/// rule, an event or a label value cannot forge output lines or colour a terminal.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

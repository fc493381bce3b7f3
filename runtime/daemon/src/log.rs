//! The daemon's log lines on stderr. Text that came from outside (label values, rule
//! diagnostics, request details) is escaped: a newline or an ANSI escape in a label cannot
//! forge a log line or colour a terminal.

use std::fmt::Write;

/// `s` with control characters written as escapes (`\n`, `\u{1b}`).
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

pub fn info(msg: &str) {
    eprintln!("vigil: {}", clean(msg));
}

pub fn error(msg: &str) {
    eprintln!("vigil: error: {}", clean(msg));
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            super::clean("a\nvigil: fake\u{1b}[31mred\u{7}"),
            "a\\nvigil: fake\\u{1b}[31mred\\u{7}"
        );
    }
}

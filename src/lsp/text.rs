//! Positions: LSP counts lines from 0 and columns in UTF-16 code units; the compiler counts
//! bytes.

use lsp_types::{Position, Range};

/// The byte offset of an LSP position (clamped to the text).
pub fn offset(text: &str, pos: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..pos.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let mut units = 0u32;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= pos.character {
            return line_start + i;
        }
        units += c.len_utf16() as u32;
    }
    line_end
}

/// The LSP position of a byte offset.
pub fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = before[line_start..]
        .chars()
        .map(|c| c.len_utf16() as u32)
        .sum();
    Position { line, character }
}

pub fn range(text: &str, start: usize, end: usize) -> Range {
    Range {
        start: position(text, start),
        end: position(text, end),
    }
}

/// The name under `offset`: `(start, end)` of a run of name characters (`a`, `pkg.name`,
/// `job:ratio`), or `None` off a name.
pub fn word_at(text: &str, offset: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let is = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b':';
    let mut s = offset.min(b.len());
    while s > 0 && is(b[s - 1]) {
        s -= 1;
    }
    let mut e = offset.min(b.len());
    while e < b.len() && is(b[e]) {
        e += 1;
    }
    let word = text.get(s..e)?.trim_end_matches(['.', ':']);
    let e = s + word.len();
    (e > s && (b[s].is_ascii_alphabetic() || b[s] == b'_')).then_some((s, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let t = "ab\nçd é\nx";
        for off in [0, 1, 3, 5, 6, 8, 11] {
            if t.is_char_boundary(off) {
                assert_eq!(offset(t, position(t, off)), off);
            }
        }
        assert_eq!(word_at("when cpu_limit > 1", 7), Some((5, 14)));
        assert_eq!(word_at("x = sys.high_cpu.", 9), Some((4, 16)));
        assert_eq!(word_at("a + 1", 2), None);
    }
}

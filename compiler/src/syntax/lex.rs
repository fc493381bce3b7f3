//! A lossless lexer: every token is kept as written (strings, regexes, comments verbatim),
//! with where it starts. The formatter decides only the white space between tokens; the
//! language server and suppression comments (`# vigil: allow(..)`) read it too.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Identifiers, keywords, field paths (`event.proc.name`), metric names (`a:b`).
    Word,
    /// Numbers with their units (`5m`, `1m30s`, `80%`, `1.5e3`, `10MiB`).
    Number,
    Str,
    Regex,
    Punct,
    Comment,
    Newline,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    /// White space came right before it (on the same line).
    pub spaced: bool,
    /// Byte offset in the text.
    pub at: usize,
}

/// Words after which `/` starts a regex rather than dividing.
const REGEX_AFTER: &[&str] = &[
    "matches", "nocase", "any", "all", "and", "or", "not", "in", "when", "where", "return",
];

const PUNCT3: &[&str] = &["..."];
const PUNCT2: &[&str] = &["==", "!=", "<=", ">=", "=~", "!~", "->", "+=", ".."];

/// Splits `text` into tokens; `None` when something cannot be read (an unterminated string
/// or regex: the parser reports those).
pub fn lex(text: &str) -> Option<Vec<Token<'_>>> {
    let b = text.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let mut spaced = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            out.push(Token {
                kind: Kind::Newline,
                text: "\n",
                spaced: false,
                at: i,
            });
            i += 1;
            spaced = false;
            continue;
        }
        if c == b' ' || c == b'\t' || c == b'\r' {
            i += 1;
            spaced = true;
            continue;
        }
        let start = i;
        let (kind, end) = token_at(text, i, &out)?;
        i = end;
        out.push(Token {
            kind,
            text: text.get(start..i)?,
            spaced,
            at: start,
        });
        spaced = false;
    }
    Some(out)
}

/// The kind and end of the token starting at `i` (not white space); `None` for an
/// unterminated string or regex.
fn token_at(text: &str, mut i: usize, out: &[Token]) -> Option<(Kind, usize)> {
    let b = text.as_bytes();
    let (start, c) = (i, b[i]);
    let kind = if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
        i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n);
        // A CRLF line's comment ends before its CR (which is white space, as elsewhere).
        if i > start + 1 && b[i - 1] == b'\r' {
            i -= 1;
        }
        Kind::Comment
    } else if c == b'"' {
        i = quoted(b, i, b'"', false)?;
        Kind::Str
    } else if c == b'/' && regex_allowed(out) {
        i = quoted(b, i, b'/', true)?;
        Kind::Regex
    } else if c.is_ascii_digit() {
        while i < b.len() && number_continues(b, start, i) {
            i += 1;
        }
        Kind::Number
    } else if c == b'`'
        && let Some(n) = memchr::memchr(b'`', &b[i + 1..])
        && n > 0
        && !b[i + 1..i + 1 + n].contains(&b'\n')
    {
        // `` `:node_memory:sum` ``: a metric name in backquotes is one word.
        i += n + 2;
        Kind::Word
    } else if c.is_ascii_alphabetic() || c == b'_' {
        while i < b.len() {
            let d = b[i];
            // `event.\`cs-uri\``: a backquoted field segment belongs to the word.
            if d == b'.' && b.get(i + 1) == Some(&b'`') {
                match memchr::memchr(b'`', &b[i + 2..]) {
                    Some(n) if !b[i + 2..i + 2 + n].contains(&b'\n') && n > 0 => {
                        i += n + 3;
                        continue;
                    }
                    _ => break,
                }
            }
            // `event.*`: every string of the event, one word.
            if d == b'.' && b.get(i + 1) == Some(&b'*') {
                i += 2;
                break;
            }
            let joins = (d == b'.' || d == b':')
                && b.get(i + 1)
                    .is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_');
            if d.is_ascii_alphanumeric() || d == b'_' || d == b'*' || joins {
                i += 1;
            } else {
                break;
            }
        }
        Kind::Word
    } else {
        let rest = &text[i..];
        let len = PUNCT3
            .iter()
            .chain(PUNCT2)
            .find(|p| rest.starts_with(*p))
            .map_or_else(
                || rest.chars().next().map_or(1, char::len_utf8),
                |p| p.len(),
            );
        i += len;
        Kind::Punct
    };
    Some((kind, i))
}

/// The end of a string or regex opened at `i` by `quote` (backslash escapes; a regex may not
/// span lines); `None` when it never closes.
fn quoted(b: &[u8], mut i: usize, quote: u8, single_line: bool) -> Option<usize> {
    i += 1;
    loop {
        match *b.get(i)? {
            b'\\' => i += 2,
            q if q == quote => return Some(i + 1),
            b'\n' if single_line => return None,
            _ => i += 1,
        }
    }
}

/// Whether byte `i` still belongs to the number that starts at `start` (digits, units, `%`,
/// `_`, a decimal point or a `:` before a digit, an exponent's sign).
fn number_continues(b: &[u8], start: usize, i: usize) -> bool {
    b[i].is_ascii_alphanumeric()
        || b[i] == b'%'
        || b[i] == b'_'
        || ((b[i] == b'.' || b[i] == b':') && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        || ((b[i] == b'+' || b[i] == b'-')
            && matches!(b[i - 1], b'e' | b'E')
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
            && b[start..i]
                .iter()
                .all(|d| d.is_ascii_digit() || *d == b'.' || *d == b'e' || *d == b'E'))
}

/// A `/` starts a regex unless it follows an operand (then it divides).
fn regex_allowed(out: &[Token]) -> bool {
    let Some(prev) = out
        .iter()
        .rev()
        .find(|t| !matches!(t.kind, Kind::Newline | Kind::Comment))
    else {
        return true;
    };
    match prev.kind {
        Kind::Number | Kind::Str | Kind::Regex => false,
        Kind::Word => REGEX_AFTER.contains(&prev.text),
        Kind::Punct => !matches!(prev.text, ")" | "]" | "}"),
        _ => true,
    }
}

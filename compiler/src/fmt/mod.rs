//! `vigil fmt`: one canonical layout for `.rules` files.
//!
//! The formatter works on the token stream, so every comment stays where it was and every
//! string, regex and number is kept as written; it decides white space (indentation, two
//! spaces per `{` level and two more for a line that continues an item; spacing between
//! tokens; alignment of runs of bindings and steps; blank lines), the order of a rule's
//! clauses, and breaks lines longer than 100 characters at `and`/`or`; other line breaks are
//! the author's. Before returning, the result is parsed and must give the same syntax tree
//! as the input (clause order aside), so formatting can never change what a file means.

use crate::syntax::lex::{self, Kind, Token};

/// Why a file was not formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FmtError {
    #[error("the file has syntax errors; fix them first (`vigil check`)")]
    Syntax,
    #[error("the formatter would change what this file means (a formatter bug): left as it is")]
    Changed,
}

/// Words that are operators or keywords: a `(` or `[` after them is not a call or an index.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "matches",
    "contains",
    "startswith",
    "endswith",
    "glob",
    "under",
    "nocase",
    "any",
    "all",
    "of",
    "by",
    "without",
    "over",
    "when",
    "where",
    "within",
    "is",
    "with",
    "exists",
    "cidr",
    "recover",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "for",
    "group_by",
    "labels",
    "let",
    "severity",
    "summary",
    "description",
    "annotations",
    "except",
    "notify",
    "playbook",
    "throttle",
    "per",
    "delay",
    "cooldown",
    "keep_firing",
    "interval",
    "sequence",
    "until",
    "missing",
    "repeat",
    "key",
    "match",
    "default",
    "values",
    "record",
    "const",
    "list",
    "macro",
    "metric",
    "schema",
    "rule",
    "test",
    "expect",
    "series",
    "events",
    "event",
    "every",
    "x",
    "at",
    "from",
    "advance",
    "to",
    "return",
    "step",
    "wait",
    "unless",
    "rate_limit",
    "body",
    "timeout",
    "retries",
    "route",
    "inhibit",
    "equal",
    "during",
    "muted",
    "ago",
    "ahead",
    "method",
    "season",
    "bands",
    "le",
    "alpha",
    "forecast",
    "info",
    "warning",
    "high",
    "critical",
];

/// Lines longer than this are broken at their top-level `and`/`or`.
const MAX_WIDTH: usize = 100;

/// Binary operators spaced on both sides (outside selector braces).
const BINARY: &[&str] = &[
    "==", "!=", "<=", ">=", "<", ">", "=~", "!~", "=", "+", "-", "*", "/", "->", "+=",
];

/// Formats one file's text.
pub fn format(text: &str) -> Result<String, FmtError> {
    let before = shape(text).ok_or(FmtError::Syntax)?;
    let tokens = lex::lex(text).ok_or(FmtError::Syntax)?;
    let out = layout(&tokens);
    if shape(&out) != Some(before) {
        return Err(FmtError::Changed);
    }
    Ok(out)
}

/// The syntax tree without positions, each rule's clauses in canonical order (the one
/// reordering the formatter does, which means the same): equal shapes mean equal programs.
/// `None` when the text has syntax errors.
fn shape(text: &str) -> Option<String> {
    let mut diags = Vec::new();
    let mut module = crate::syntax::parse(crate::source::FileId(0), text, &mut diags);
    if !diags.is_empty() {
        return None;
    }
    for d in &mut module.decls {
        if let crate::syntax::ast::DeclKind::Rule(r) = &mut d.kind {
            r.clauses.sort_by_key(|c| clause_rank(&c.kind));
        }
    }
    let dbg = format!("{module:?}");
    // Spans are the only thing formatting may change.
    let mut out = String::with_capacity(dbg.len());
    let mut rest = dbg.as_str();
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// One physical line's tokens (no newlines).
type Line<'a> = Vec<Token<'a>>;

fn layout(tokens: &[Token]) -> String {
    let mut lines: Vec<Line> = vec![Vec::new()];
    for t in tokens {
        if t.kind == Kind::Newline {
            lines.push(Vec::new());
        } else if let Some(l) = lines.last_mut() {
            l.push(t.clone());
        }
    }
    let lines = order_clauses(lines);
    let mut w = Writer::default();
    for line in &lines {
        w.line(line);
    }
    let trimmed = w.out.trim_end_matches('\n');
    let mut s = align(trimmed.trim_start_matches('\n'));
    s.push('\n');
    s
}

/// The layout as it is written, line by line, with what the lines so far left open.
#[derive(Default)]
struct Writer {
    out: String,
    /// Open `{` blocks: the indentation level.
    depth: usize,
    /// Open `(`/`[` across lines.
    open: usize,
    /// The previous code line left an item unfinished.
    continues: bool,
    /// Blank lines were skipped since the last line written.
    blank: bool,
    /// Selector braces (`cpu{host="a"}`) opened and not closed, by nesting.
    braces: Vec<bool>,
}

impl Writer {
    fn line(&mut self, line: &Line) {
        if line.is_empty() {
            self.blank = true;
            return;
        }
        let first = &line[0];
        let closes = first.kind == Kind::Punct && first.text == "}";
        let level = if closes {
            self.depth.saturating_sub(1)
        } else {
            self.depth
        };
        let is_comment = first.kind == Kind::Comment;
        // At the top level every declaration starts with its keyword; any other line continues
        // the one above.
        let top_continues = level == 0
            && !(first.kind == Kind::Word && crate::syntax::TOP_LEVEL.contains(&first.text));
        let continuation = !is_comment
            && !closes
            && (self.open > 0 || self.continues || top_continues || starts_continuation(first));
        self.blank_line(line, level, closes);
        let indent = 2 * level + if continuation { 2 } else { 0 };
        let (text, breaks) = self.render(line);
        self.out.push_str(&" ".repeat(indent));
        if indent + text.len() > MAX_WIDTH && !breaks.is_empty() {
            // A long condition: each `and`/`or` starts a continuation line.
            let cont = " ".repeat(2 * level + 2);
            let mut from = 0;
            for &b in &breaks {
                self.out.push_str(text[from..b].trim_end());
                self.out.push('\n');
                self.out.push_str(&cont);
                from = b;
            }
            self.out.push_str(&text[from..]);
        } else {
            self.out.push_str(&text);
        }
        if !is_comment {
            let last = line.iter().rev().find(|t| t.kind != Kind::Comment);
            self.continues = last.is_some_and(ends_unfinished);
        }
        self.out.push('\n');
    }

    /// Blank lines: at most one, none right after `{` or before `}`; one around a top-level
    /// declaration written as a block (unless a comment heads it).
    fn blank_line(&mut self, line: &Line, level: usize, closes: bool) {
        let first = &line[0];
        let prev_line = self.out.trim_end().rsplit('\n').next().unwrap_or("");
        let after_open = prev_line.ends_with('{');
        let starts_decl = level == 0
            && first.kind == Kind::Word
            && crate::syntax::TOP_LEVEL.contains(&first.text);
        let opens_block = line.last().is_some_and(|t| t.text == "{")
            || line.iter().rev().nth(1).is_some_and(|t| t.text == "{")
                && line.last().is_some_and(|t| t.kind == Kind::Comment);
        let prev_comment =
            prev_line.trim_start().starts_with('#') || prev_line.trim_start().starts_with("//");
        let block_edge = starts_decl && (prev_line == "}" || (opens_block && !prev_comment));
        if (self.blank || block_edge) && !self.out.is_empty() && !after_open && !closes {
            self.out.push('\n');
        }
        self.blank = false;
    }

    /// A line's tokens spaced, and where each top-level `and`/`or` starts (outside any bracket
    /// opened on this line): the places a long line breaks. Tracks the brackets it opens.
    fn render(&mut self, line: &Line) -> (String, Vec<usize>) {
        let mut text = String::new();
        let mut breaks: Vec<usize> = Vec::new();
        let mut local = 0i64;
        let mut prev: Option<&Token> = None;
        for (i, t) in line.iter().enumerate() {
            if let Some(p) = prev
                && space_between(p, t, &self.braces, line, i)
            {
                text.push(' ');
                if t.kind == Kind::Comment {
                    text.push(' ');
                }
            }
            if i > 0 && local == 0 && t.kind == Kind::Word && matches!(t.text, "and" | "or") {
                breaks.push(text.len());
            }
            match typed_name(t) {
                // `user:string` in a schema or parameter list reads `user: string`.
                Some((name, ty)) => {
                    text.push_str(name);
                    text.push_str(": ");
                    text.push_str(ty);
                }
                None => text.push_str(t.text),
            }
            if t.kind == Kind::Punct {
                local += self.bracket(t.text, line, i);
            }
            prev = Some(t);
        }
        (text, breaks)
    }

    /// Tracks one bracket token; returns how it changes this line's own nesting.
    fn bracket(&mut self, text: &str, line: &Line, i: usize) -> i64 {
        match text {
            "{" => {
                self.depth += 1;
                self.braces.push(selector_brace(line, i));
                1
            }
            "}" => {
                self.depth = self.depth.saturating_sub(1);
                self.braces.pop();
                -1
            }
            "(" | "[" => {
                self.open += 1;
                1
            }
            ")" | "]" => {
                self.open = self.open.saturating_sub(1);
                -1
            }
            _ => 0,
        }
    }
}

/// A line's part in alignment: `(indent, head to pad, rest)`, when it takes part.
fn aligned(l: &str) -> Option<(usize, String, String)> {
    let indent = l.len() - l.trim_start().len();
    let body = &l[indent..];
    if body.starts_with('#') || body.starts_with("//") {
        return None;
    }
    let words: Vec<&str> = body.splitn(4, ' ').collect();
    // `let x = ...`, `notifier x = ...`, `const x = ...`
    if words.len() >= 4
        && matches!(words[0], "let" | "notifier" | "const" | "macro" | "list")
        && words[2] == "="
        && !words[1].contains(['(', '{', '"'])
    {
        return Some((
            indent,
            format!("{} {}", words[0], words[1]),
            body[words[0].len() + words[1].len() + 2..].to_string(),
        ));
    }
    // `name = ...` (labels, objects, notifier settings)
    if words.len() >= 3 && words[1] == "=" && is_name(words[0]) {
        return Some((
            indent,
            words[0].to_string(),
            body[words[0].len() + 1..].to_string(),
        ));
    }
    // `step: ...`, `missing step: ...`
    let (lead, name) = match words.first() {
        Some(&"missing") if words.len() >= 3 => ("missing ", words[1]),
        Some(w) => ("", *w),
        None => return None,
    };
    if let Some(n) = name.strip_suffix(':')
        && is_name(n)
    {
        let head = format!("{lead}{name}");
        let rest = body[head.len()..].trim_start().to_string();
        if !rest.is_empty() {
            return Some((indent, head, format!(" {rest}")));
        }
    }
    None
}

/// Aligns runs of consecutive lines that bind names the same way, at the same indentation:
/// `let a = ..` / `notifier b = ..` (the `=`), `name = ..` (labels, objects) and `step: ..`
/// (sequence steps, schema fields: the text after the colon).
fn align(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let parts: Vec<Option<(usize, String, String)>> = lines.iter().map(|l| aligned(l)).collect();
    // Lines align with neighbours of the same indentation and form (`let` with `let`,
    // `notifier` with `notifier`, labels with labels, steps with steps).
    let kind = |p: &(usize, String, String)| {
        let form = if p.1.ends_with(':') {
            ":"
        } else {
            p.1.split_once(' ').map_or("=", |(k, _)| k)
        };
        (p.0, form.to_string())
    };
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let Some(first) = &parts[i] else {
            out.push(lines[i].to_string());
            i += 1;
            continue;
        };
        let mut j = i + 1;
        while j < lines.len() && parts[j].as_ref().is_some_and(|p| kind(p) == kind(first)) {
            j += 1;
        }
        let width = parts[i..j]
            .iter()
            .flatten()
            .map(|p| p.1.chars().count())
            .max()
            .unwrap_or(0);
        for p in parts[i..j].iter().flatten() {
            let pad = width - p.1.chars().count();
            out.push(format!(
                "{}{}{}{}",
                " ".repeat(p.0),
                p.1,
                " ".repeat(pad + usize::from(p.2.starts_with('='))),
                p.2
            ));
        }
        i = j;
    }
    out.join("\n")
}

fn is_name(w: &str) -> bool {
    !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !KEYWORDS.contains(&w)
}

/// Where a clause goes in a rule (the canonical order): what the rule is, what it reads,
/// when it fires, how its alerts behave, what they say and where they go.
fn clause_rank(k: &crate::syntax::ast::ClauseKind) -> u8 {
    use crate::syntax::ast::ClauseKind as C;
    match k {
        C::Severity(_) => 0,
        C::Labels(_) => 1,
        C::Let { .. } => 2,
        C::StringsNocase => 3,
        C::OnEvent(_) => 4,
        C::Except(_) => 5,
        C::Sequence(_) => 6,
        C::When { .. } => 7,
        C::Recover(_) => 8,
        C::KeepFiring(_) => 9,
        C::NoData { .. } => 10,
        C::Flapping { .. } => 11,
        C::Throttle { .. } => 12,
        C::Cooldown(_) => 13,
        C::Delay(_) => 14,
        C::Interval(_) => 15,
        C::Summary(_) => 16,
        C::Description(_) => 17,
        C::Annotations(_) => 18,
        C::Notify(_) => 19,
        C::Playbook(_) => 20,
    }
}

/// [`clause_rank`] of a clause by the word that starts it.
fn keyword_rank(word: &str) -> Option<u8> {
    Some(match word {
        "severity" => 0,
        "labels" => 1,
        "let" => 2,
        "strings" => 3,
        "on" => 4,
        "except" => 5,
        "sequence" => 6,
        "when" | "info" | "warning" | "high" | "critical" => 7,
        "recover" => 8,
        "keep_firing" => 9,
        "no_data" => 10,
        "flapping" => 11,
        "throttle" => 12,
        "cooldown" => 13,
        "delay" => 14,
        "interval" => 15,
        "summary" => 16,
        "description" => 17,
        "annotations" => 18,
        "notify" => 19,
        "playbook" => 20,
        _ => return None,
    })
}

/// Puts each rule's clauses in canonical order. A clause moves with the comment lines right
/// above it and the lines that continue it; rules written in ways this cannot follow (a
/// clause on the `{` or `}` line, a line it cannot place) keep their order.
fn order_clauses(lines: Vec<Line>) -> Vec<Line> {
    let braces = |l: &Line| -> i64 {
        l.iter()
            .filter(|t| t.kind == Kind::Punct)
            .map(|t| match t.text {
                "{" => 1,
                "}" => -1,
                _ => 0,
            })
            .sum()
    };
    let mut out = Vec::with_capacity(lines.len());
    let mut depth = 0i64;
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let words: Vec<&str> = line.iter().take(2).map(|t| t.text).collect();
        let opens_rule = depth == 0
            && (words.first() == Some(&"rule") || words == ["open", "rule"])
            && line.last().is_some_and(|t| t.text == "{")
            && braces(line) == 1;
        depth += braces(line);
        out.push(line.clone());
        i += 1;
        if !opens_rule {
            continue;
        }
        // The body: up to the line that closes the rule (`}` alone).
        let mut d = 1i64;
        let mut end = None;
        for (j, l) in lines.iter().enumerate().skip(i) {
            d += braces(l);
            if d == 0 {
                end = Some(j);
                break;
            }
        }
        let Some(end) = end else { continue };
        let body = &lines[i..end];
        match clause_groups(body) {
            Some(mut groups) => {
                groups.sort_by_key(|g| g.0);
                out.extend(groups.into_iter().flat_map(|g| g.1));
            }
            None => out.extend(body.iter().cloned()),
        }
        i = end;
        depth = 1;
    }
    out
}

/// A rule body as `(rank, lines)` per clause, or `None` when it cannot be split safely.
fn clause_groups<'a>(body: &[Line<'a>]) -> Option<Vec<(u8, Vec<Line<'a>>)>> {
    let mut groups: Vec<(u8, Vec<Line<'a>>)> = Vec::new();
    let mut pending: Vec<Line<'a>> = Vec::new();
    let mut depth = 0i64;
    let mut open = 0i64;
    let mut continues = false;
    for l in body {
        let Some(first) = l.first() else {
            pending.push(l.clone());
            continue;
        };
        if first.kind == Kind::Comment && depth == 0 && open == 0 && !continues {
            pending.push(l.clone());
            continue;
        }
        let starts = depth == 0
            && open == 0
            && !continues
            && first.kind == Kind::Word
            && !starts_continuation(first);
        if starts {
            let rank = keyword_rank(first.text)?;
            let mut lines = std::mem::take(&mut pending);
            lines.push(l.clone());
            groups.push((rank, lines));
        } else {
            let g = groups.last_mut()?;
            g.1.append(&mut pending);
            g.1.push(l.clone());
        }
        for t in l.iter().filter(|t| t.kind == Kind::Punct) {
            match t.text {
                "{" => depth += 1,
                "}" => depth -= 1,
                "(" | "[" => open += 1,
                ")" | "]" => open -= 1,
                _ => {}
            }
        }
        continues = l
            .iter()
            .rev()
            .find(|t| t.kind != Kind::Comment)
            .is_some_and(ends_unfinished);
        if depth < 0 || open < 0 {
            return None;
        }
    }
    // Comments after the last clause stay last.
    if !pending.is_empty() {
        groups.push((u8::MAX, pending));
    }
    Some(groups)
}

/// A line starting with these continues the item above.
fn starts_continuation(t: &Token) -> bool {
    match t.kind {
        Kind::Word => matches!(t.text, "and" | "or"),
        Kind::Punct => {
            BINARY.contains(&t.text) && t.text != "-" || matches!(t.text, ")" | "]" | "." | "|")
        }
        _ => false,
    }
}

/// A line ending with these leaves its item unfinished.
fn ends_unfinished(t: &Token) -> bool {
    match t.kind {
        Kind::Word => matches!(t.text, "and" | "or" | "not" | "in" | "where"),
        Kind::Punct => {
            matches!(t.text, "," | "(" | "[") || BINARY.contains(&t.text) && t.text != "}"
        }
        _ => false,
    }
}

/// Whether one space goes between `a` and `b` (on the same line).
fn space_between(a: &Token, b: &Token, braces: &[bool], line: &[Token], i: usize) -> bool {
    let in_selector = braces.last().copied().unwrap_or(false);
    if b.kind == Kind::Comment {
        return true;
    }
    if a.kind == Kind::Punct {
        match a.text {
            "(" | "[" => return false,
            "..." | ".." => return false,
            "{" => return !in_selector,
            "," => return true,
            "-" if unary(line, i - 1) => return false,
            // A session's hours: `09:30-16:00`.
            "-" if is_clock(b) => return false,
            t if BINARY.contains(&t) => return !in_selector,
            _ => {}
        }
    }
    if b.kind == Kind::Punct {
        match b.text {
            "," | ")" | "]" | ":" => return false,
            ".." => return false,
            "}" => return !in_selector,
            "(" => return a.kind != Kind::Word || KEYWORDS.contains(&a.text) || a.text == "when",
            // A call's or an index's bracket hugs its name; a keyword's does not.
            "[" => {
                let indexes = a.kind == Kind::Word && !KEYWORDS.contains(&a.text) && !b.spaced;
                return !indexes && !matches!(a.text, ")" | "]");
            }
            "{" => return !selector_brace(line, i),
            "..." => return true,
            "-" if is_clock(a) => return false,
            t if BINARY.contains(&t) => return !in_selector,
            _ => {}
        }
    }
    if a.kind == Kind::Punct && a.text == ":" {
        return true;
    }
    true
}

/// A word the lexer joined at a colon that is a name and a type (`user:string`), split.
/// (Metric names keep their colons: `job:error_ratio`.)
fn typed_name<'a>(t: &Token<'a>) -> Option<(&'a str, &'a str)> {
    if t.kind != Kind::Word {
        return None;
    }
    let (name, ty) = t.text.split_once(':')?;
    let types = [
        "string",
        "number",
        "int",
        "float",
        "bool",
        "ip",
        "cidr",
        "duration",
        "bytes",
        "timestamp",
    ];
    (types.contains(&ty) && !name.contains('.')).then_some((name, ty))
}

fn is_clock(t: &Token) -> bool {
    t.kind == Kind::Number && t.text.contains(':')
}

/// Whether the `{` at `i` opens a selector's matchers (`cpu{host="a"}`: a metric name right
/// before it, not a declaration's name).
fn selector_brace(line: &[Token], i: usize) -> bool {
    let Some(name) = i.checked_sub(1).and_then(|j| line.get(j)) else {
        return false;
    };
    let decl = i
        .checked_sub(2)
        .and_then(|j| line.get(j))
        .is_some_and(|d| matches!(d.text, "rule" | "playbook" | "schema" | "test" | "route"));
    name.kind == Kind::Word && !line[i].spaced && !decl && !KEYWORDS.contains(&name.text)
}

/// Whether the `-` at `i` is a sign (nothing that could be its left operand before it).
fn unary(line: &[Token], i: usize) -> bool {
    let Some(prev) = i.checked_sub(1).and_then(|j| line.get(j)) else {
        return true;
    };
    match prev.kind {
        Kind::Number | Kind::Str | Kind::Regex => false,
        Kind::Word => KEYWORDS.contains(&prev.text),
        Kind::Punct => !matches!(prev.text, ")" | "]" | "}"),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_and_indentation() {
        let src = "rule  x{\n severity   high\n\n\n  when avg(cpu_usage{host=\"a\"},5m)>80%   and\nrate(x,1m) >= -1 # hot\n labels {team=\"a\"}\n}\n";
        let got = format(src).expect("formats");
        assert_eq!(
            got,
            "rule x {\n  severity high\n  labels { team = \"a\" }\n\n  when avg(cpu_usage{host=\"a\"}, 5m) > 80% and\n    rate(x, 1m) >= -1  # hot\n}\n"
        );
        assert_eq!(format(&got).expect("formats"), got);
    }
}

//! Suppression comments, as rule authors know them from pint and Ruff:
//!
//! - `# vigil: allow(V1016)` at the end of a line: findings that start on that line;
//! - the same on a line of its own before a declaration: findings inside the declaration
//!   (before any other line: findings that start on the next line of code);
//! - `# vigil: allow-file(V1016, rate-on-non-counter)` anywhere: the whole file.
//!
//! Codes or names may be listed. Only warnings can be allowed (an error means the rules cannot
//! run); a comment that allows nothing it could, or names an unknown code or an error, is
//! itself reported (V1028, V1029), so stale suppressions do not pile up.

use crate::diag::{Code, Diagnostic, Level};
use crate::resolve::LoadedFile;
use crate::source::{SourceMap, Span};
use crate::syntax::lex::{self, Kind};

/// What one suppression comment covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Findings whose primary span starts in this byte range.
    Range(usize, usize),
    File,
}

/// One `# vigil: allow(..)` comment.
#[derive(Debug)]
struct Allow {
    span: Span,
    scope: Scope,
    /// The codes it names, with whether each suppressed something.
    codes: Vec<(Code, bool)>,
}

/// Drops the warnings that suppression comments allow, and reports comments that allow
/// nothing or name what cannot be allowed.
pub fn apply(sources: &SourceMap, files: &[LoadedFile], diags: &mut Vec<Diagnostic>) {
    let mut allows = Vec::new();
    for f in files {
        collect(sources, f, &mut allows, diags);
    }
    if allows.is_empty() {
        return;
    }
    diags.retain(|d| {
        if d.level() != Level::Warning {
            return true;
        }
        let mut kept = true;
        for a in allows.iter_mut().filter(|a| a.span.file == d.span.file) {
            let covers = match a.scope {
                Scope::File => true,
                Scope::Range(from, to) => (from..to).contains(&(d.span.start as usize)),
            };
            if !covers {
                continue;
            }
            for (code, used) in a.codes.iter_mut() {
                if *code == d.code {
                    *used = true;
                    kept = false;
                }
            }
        }
        kept
    });
    for a in &allows {
        for (code, used) in &a.codes {
            if !used {
                diags.push(
                    Diagnostic::new(
                        Code::UnusedAllow,
                        a.span,
                        format!("`allow({})` suppresses nothing here", code.as_str()),
                    )
                    .label("no such finding in its scope"),
                );
            }
        }
    }
}

/// The suppression comments of one file; unknown codes and errors are reported into `diags`.
fn collect(sources: &SourceMap, f: &LoadedFile, out: &mut Vec<Allow>, diags: &mut Vec<Diagnostic>) {
    let text = &sources.get(f.id).text;
    if !text.contains("vigil:") {
        return;
    }
    let Some(tokens) = lex::lex(text) else {
        return;
    };
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != Kind::Comment {
            continue;
        }
        let Some((file_wide, list)) = parse(t.text) else {
            continue;
        };
        let span = Span {
            file: f.id,
            start: t.at as u32,
            end: (t.at + t.text.len()) as u32,
        };
        let codes = codes(list, span, diags);
        if codes.is_empty() {
            continue;
        }
        let scope = if file_wide {
            Scope::File
        } else {
            let trailing = tokens[..i]
                .iter()
                .rev()
                .take_while(|p| p.kind != Kind::Newline)
                .any(|p| p.kind != Kind::Comment);
            if trailing {
                line_of(text, t.at)
            } else {
                match tokens[i..]
                    .iter()
                    .find(|n| !matches!(n.kind, Kind::Comment | Kind::Newline))
                {
                    Some(next) => declaration_at(f, next.at).unwrap_or(line_of(text, next.at)),
                    None => continue,
                }
            }
        };
        out.push(Allow { span, scope, codes });
    }
}

/// `vigil: allow(a, b)` or `vigil: allow-file(a, b)` in a comment's text: whether it is
/// file-wide, and the list.
fn parse(comment: &str) -> Option<(bool, &str)> {
    let body = comment
        .trim_start_matches('#')
        .trim_start_matches("//")
        .trim_start();
    let rest = body.strip_prefix("vigil:")?.trim_start();
    let (file_wide, rest) = match rest.strip_prefix("allow-file") {
        Some(r) => (true, r),
        None => (false, rest.strip_prefix("allow")?),
    };
    let list = rest.trim_start().strip_prefix('(')?;
    let end = list.find(')')?;
    Some((file_wide, &list[..end]))
}

/// The warning codes a list names (by code or name); anything else is reported.
fn codes(list: &str, span: Span, diags: &mut Vec<Diagnostic>) -> Vec<(Code, bool)> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let found =
            Code::parse(item).or_else(|| Code::ALL.iter().copied().find(|c| c.info().name == item));
        match found {
            Some(c) if c.info().level == Level::Warning => out.push((c, false)),
            Some(c) => diags.push(
                Diagnostic::new(
                    Code::InvalidAllow,
                    span,
                    format!("{} is an error, and errors cannot be allowed", c.as_str()),
                )
                .label("not a warning")
                .help("fix the error: the rules cannot run with it"),
            ),
            None => diags.push(
                Diagnostic::new(
                    Code::InvalidAllow,
                    span,
                    format!("`{item}` is not a diagnostic code or name"),
                )
                .label("unknown code"),
            ),
        }
    }
    out
}

/// The byte range of the line holding `at`.
fn line_of(text: &str, at: usize) -> Scope {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    Scope::Range(start, end)
}

/// The declaration that starts at byte `at`, as a range.
fn declaration_at(f: &LoadedFile, at: usize) -> Option<Scope> {
    f.module
        .decls
        .iter()
        .find(|d| d.span.start as usize == at)
        .map(|d| Scope::Range(d.span.start as usize, d.span.end as usize))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn comments_are_read() {
        assert_eq!(parse("# vigil: allow(V1016)"), Some((false, "V1016")));
        assert_eq!(parse("// vigil: allow-file(a, b)"), Some((true, "a, b")));
        assert_eq!(parse("#vigil:allow (x)"), Some((false, "x")));
        assert_eq!(parse("# vigil allow(V1016)"), None);
        assert_eq!(parse("# vigil: allowed(V1016)"), None);
    }
}

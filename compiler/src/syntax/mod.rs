//! Syntax: pest grammar to AST, with error recovery at top-level declarations.
//!
//! The whole file is parsed in one go first; only when that fails does the parser fall back to
//! parsing declaration by declaration, skipping a broken one to the next line that starts a
//! top-level declaration, so one run reports every broken declaration.

pub mod ast;
mod expected;
pub mod lex;
mod lower;

mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "../../grammar/vigil.pest"]
    pub struct VigilParser;
}

use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use ast::Module;
use grammar::{Rule, VigilParser};
use pest::Parser;

/// Maximum bracket nesting (and prefix operators, and quantifiers in one declaration);
/// deeper input is refused before pest sees it (V0002).
pub const MAX_NESTING: usize = 64;

/// Maximum depth of an expression tree once built: long operator chains (`a + b + ...`,
/// `x[0][0]...`) nest without brackets, and every later pass recurses over the tree.
pub const MAX_EXPR_DEPTH: usize = 256;

/// Words that start a top-level declaration: where recovery resumes.
pub const TOP_LEVEL: &[&str] = &[
    "package",
    "import",
    "interval",
    "strings",
    "open",
    "const",
    "metric",
    "list",
    "macro",
    "schema",
    "calendar",
    "record",
    "exception",
    "extend",
    "override",
    "disable",
    "rule",
    "notifier",
    "route",
    "inhibit",
    "playbook",
    "test",
    "defaults",
];

/// Seconds in one of the language's duration units (`ns us ms s m h d w`).
pub fn duration_unit(unit: &str) -> Option<f64> {
    vigil_vocab::duration::unit_seconds(unit)
}

/// Parses one file. Syntax errors are appended to `diags`; the module holds every declaration
/// that parsed.
pub fn parse(file: FileId, text: &str, diags: &mut Vec<Diagnostic>) -> Module {
    if let Some(at) = lone_cr(text) {
        diags.push(
            Diagnostic::new(
                Code::Syntax,
                Span::new(file, at, at + 1),
                "a line ends with a lone carriage return (CR)",
            )
            .label("CR without LF")
            .help("save the file with LF (or CRLF) line endings; with CR alone the whole file reads as one line"),
        );
        return Module::default();
    }
    if let Some((at, why)) = too_deep(text) {
        diags.push(
            Diagnostic::new(
                Code::NestingTooDeep,
                Span::new(file, at, at + 1),
                "expression nested too deeply",
            )
            .label(why),
        );
        return Module::default();
    }
    let mut module = Module::default();
    // A byte order mark is not part of the program (editors on Windows write one).
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    if let Ok(mut pairs) = VigilParser::parse(Rule::file, &text[bom..]) {
        let mut lower = lower::Lower {
            file,
            offset: bom,
            diags,
            drop_decl: false,
        };
        let file_pair = pairs.next().expect("grammar: file");
        for p in file_pair.into_inner() {
            if p.as_rule() != Rule::EOI {
                let decl = lower.decl(p);
                if !std::mem::take(&mut lower.drop_decl) {
                    module.decls.push(decl);
                }
            }
        }
        return module;
    }
    let mut pos = bom;
    while pos < text.len() {
        let rest = &text[pos..];
        if VigilParser::parse(Rule::only_trivia, rest).is_ok() {
            break;
        }
        match VigilParser::parse(Rule::single_decl, rest) {
            Ok(mut pairs) => {
                let single = pairs.next().expect("grammar: single_decl");
                let end = single.as_span().end();
                let decl = single.into_inner().next().expect("grammar: decl");
                let mut lower = lower::Lower {
                    file,
                    offset: pos,
                    diags,
                    drop_decl: false,
                };
                let decl = lower.decl(decl);
                if !lower.drop_decl {
                    module.decls.push(decl);
                }
                pos += end.max(1);
            }
            Err(_) => {
                let err = detailed_error(rest);
                let mut at = pos + error_offset(&err);
                at += text[at..].len() - text[at..].trim_start().len();
                diags.push(syntax_error(file, text, at, &err));
                match resync(text, pos, at) {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    module
}

/// Re-parses a failing declaration with pest's expected-token tracking on. Tracking doubles
/// parse time, so it runs only here; the flag is global, hence the lock.
fn detailed_error(text: &str) -> pest::error::Error<Rule> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    pest::set_error_detail(true);
    let result = VigilParser::parse(Rule::single_decl, text);
    pest::set_error_detail(false);
    match result {
        Err(e) => e,
        Ok(_) => pest::error::Error::new_from_pos(
            pest::error::ErrorVariant::CustomError {
                message: "syntax error".into(),
            },
            pest::Position::from_start(text),
        ),
    }
}

fn error_offset(err: &pest::error::Error<Rule>) -> usize {
    match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    }
}

/// Turns a pest error into words a user understands: what was found and what could come there.
fn syntax_error(file: FileId, text: &str, at: usize, err: &pest::error::Error<Rule>) -> Diagnostic {
    let found = expected::found_at(text, at);
    let expected = expected::describe(err);
    let len = found.as_ref().map(|f| f.len()).unwrap_or(0).max(1);
    let end = (at + len).min(text.len());
    let message = match &found {
        Some(tok) => format!("unexpected `{tok}`"),
        None => "unexpected end of file".to_string(),
    };
    let mut d = Diagnostic::new(Code::Syntax, Span::new(file, at, end.max(at)), message);
    d = match &expected {
        Some(e) => d.label(format!("expected {e}")),
        None => d.label("not valid here"),
    };
    if let Some(h) = expected::hint(text, at, found.as_deref()) {
        d = d.help(h);
    }
    d
}

/// The start of the first line after the error's declaration that begins (at column 0) with a
/// top-level keyword; `None` when the rest of the file holds none.
fn resync(text: &str, pos: usize, err_at: usize) -> Option<usize> {
    // The declaration starts at the first non-blank character after `pos`.
    let rest = &text[pos..];
    let decl_start = (pos + rest.len() - rest.trim_start().len()).min(err_at);
    let mut line_start = text[decl_start..].find('\n').map(|i| decl_start + i + 1)?;
    // Lines from the one after the declaration start; stop at the first top-level keyword.
    while line_start < text.len() {
        let line_end = text[line_start..]
            .find('\n')
            .map(|i| line_start + i)
            .unwrap_or(text.len());
        let line = &text[line_start..line_end];
        let word: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if line_start > decl_start && TOP_LEVEL.contains(&word.as_str()) {
            return Some(line_start);
        }
        line_start = line_end + 1;
    }
    None
}

/// Offset of the first bracket past [`MAX_NESTING`], ignoring strings, regexes and comments.
fn too_deep(text: &str) -> Option<(usize, String)> {
    let Some(tokens) = lex::lex(text) else {
        return brackets_too_deep(text)
            .map(|at| (at, format!("more than {MAX_NESTING} levels of brackets")));
    };
    let (mut depth, mut prefix, mut quants) = (0usize, 0usize, 0usize);
    let mut line_start = true;
    for (i, t) in tokens.iter().enumerate() {
        if matches!(t.kind, lex::Kind::Newline | lex::Kind::Comment) {
            line_start |= t.kind == lex::Kind::Newline;
            continue;
        }
        let word = |j: usize, w: &str| tokens.get(j).is_some_and(|t| t.text == w);
        match (t.kind, t.text) {
            (lex::Kind::Punct, "(" | "[" | "{") => depth += 1,
            (lex::Kind::Punct, ")" | "]" | "}") => depth = depth.saturating_sub(1),
            _ => {}
        }
        if line_start && depth == 0 && TOP_LEVEL.contains(&t.text) {
            quants = 0;
        }
        line_start = false;
        prefix = match t.text {
            "not" | "-" | "!" => prefix + 1,
            _ => 0,
        };
        // `any x in xs where ...`: each quantifier nests the rest of its declaration.
        if matches!(t.text, "any" | "all") && word(i + 2, "in") {
            quants += 1;
        }
        let why = if depth > MAX_NESTING {
            format!("more than {MAX_NESTING} levels of brackets")
        } else if depth + prefix > MAX_NESTING {
            format!("more than {MAX_NESTING} prefix operators and brackets around one operand")
        } else if quants > MAX_NESTING {
            format!("more than {MAX_NESTING} quantifiers in one declaration")
        } else {
            continue;
        };
        return Some((t.at, why));
    }
    None
}

/// Where a carriage return stands without a line feed after it.
fn lone_cr(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    memchr::memchr_iter(b'\r', b).find(|&i| b.get(i + 1) != Some(&b'\n'))
}

/// The byte scan used when the text does not lex (an unterminated string: pest reports it).
fn brackets_too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

//! Turns pest's parse tree into the AST, one file per kind of node. With `syntax/mod.rs`, the
//! only place that sees pest types.

use super::ast::*;
use super::grammar::Rule as R;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use pest::iterators::Pair;

mod clauses;
mod decls;
mod exprs;
mod routes;
mod test_items;

type P<'i> = Pair<'i, R>;

pub(super) struct Lower<'d> {
    pub file: FileId,
    /// Byte offset of the parsed text in its file (declarations are parsed one by one).
    pub offset: usize,
    pub diags: &'d mut Vec<Diagnostic>,
    /// The declaration being lowered held an expression too deep to keep (V0002 reported):
    /// it is left out of the module.
    pub drop_decl: bool,
}

impl Lower<'_> {
    fn span(&self, p: &P) -> Span {
        let s = p.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }

    fn ident(&self, p: P) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    /// A metric name as Prometheus spells it: the backquotes of `` `:node_memory:sum` `` are
    /// only how the file writes it.
    fn metric_name(&self, p: P) -> Ident {
        Ident {
            name: unquote_metric(p.as_str()),
            span: self.span(&p),
        }
    }

    // ------------------------------------------------------------ rules

    // ------------------------------------------------------------ routes, playbooks, tests

    // ------------------------------------------------------------ literals

    fn num(&mut self, p: P) -> f64 {
        let span = self.span(&p);
        match p.as_str().parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.diags.push(
                    Diagnostic::new(Code::BadLiteral, span, "number out of range")
                        .label("too large"),
                );
                0.0
            }
        }
    }

    pub(super) fn string(&mut self, p: P) -> StrLit {
        let span = self.span(&p);
        let raw = p.into_inner().next().map(|i| i.as_str()).unwrap_or("");
        StrLit {
            value: self.unescape(raw, span),
            span,
        }
    }

    fn regex_lit(&mut self, p: P) -> StrLit {
        let span = self.span(&p);
        let raw = p.into_inner().next().map(|i| i.as_str()).unwrap_or("");
        // `\/` is the only escape a regex literal adds; the rest belongs to the regex syntax.
        StrLit {
            value: raw.replace("\\/", "/"),
            span,
        }
    }

    fn unescape(&mut self, raw: &str, span: Span) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let bad = |me: &mut Self, len: usize| {
                let start = span.start as usize + 1 + i;
                me.diags.push(
                    Diagnostic::new(
                        Code::BadEscape,
                        Span::new(span.file, start, start + len),
                        "unknown escape sequence in string",
                    )
                    .label("not a valid escape"),
                );
            };
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'u')) => {
                    let rest = &raw[i + 2..];
                    let parsed = rest
                        .strip_prefix('{')
                        .and_then(|r| r.find('}').map(|end| &r[..end]))
                        .and_then(|hex| {
                            u32::from_str_radix(hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .map(|c| (c, hex.len()))
                        });
                    match parsed {
                        Some((c, n)) => {
                            out.push(c);
                            for _ in 0..n + 2 {
                                chars.next();
                            }
                        }
                        None => bad(self, 2),
                    }
                }
                Some((_, other)) => bad(self, 1 + other.len_utf8()),
                None => bad(self, 1),
            }
        }
        out
    }

    // ------------------------------------------------------------ expressions
}

/// A metric name (or a reference beginning with one) without the backquotes it may be written
/// in: `` `:node_memory:sum` `` is the metric `:node_memory:sum`.
fn unquote_metric(s: &str) -> String {
    s.replace('`', "")
}

fn next<'i>(it: &mut impl Iterator<Item = P<'i>>) -> P<'i> {
    it.next().expect("grammar guarantees this child")
}

fn severity(s: &str) -> Severity {
    Severity::parse(s).unwrap_or(Severity::Warning)
}

fn target_kind(s: &str) -> TargetKind {
    match s {
        "const" => TargetKind::Const,
        "list" => TargetKind::List,
        "macro" => TargetKind::Macro,
        "rule" => TargetKind::Rule,
        _ => TargetKind::Exception,
    }
}

fn match_op(s: &str) -> MatchOp {
    match s {
        "=~" => MatchOp::Re,
        "!~" => MatchOp::NotRe,
        "!=" => MatchOp::Ne,
        _ => MatchOp::Eq,
    }
}

fn bin_op(s: &str) -> BinOp {
    match s {
        "or" => BinOp::Or,
        "and" => BinOp::And,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        _ => BinOp::Div,
    }
}

fn quant(s: &str) -> Quant {
    if s == "all" { Quant::All } else { Quant::Any }
}

fn str_op(s: &str) -> StrOp {
    match s {
        "contains" => StrOp::Contains,
        "startswith" => StrOp::StartsWith,
        "endswith" => StrOp::EndsWith,
        "matches" => StrOp::Matches,
        "glob" => StrOp::Glob,
        _ => StrOp::Under,
    }
}

fn alert_state(s: &str) -> AlertState {
    match s {
        "pending" => AlertState::Pending,
        "firing" => AlertState::Firing,
        "resolved" => AlertState::Resolved,
        _ => AlertState::Inactive,
    }
}

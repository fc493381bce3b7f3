//! Summary and description templates: `{{ name }}`, `{{ event.user }}`, `{{ value | round(1) }}`.

use super::Checker;
use crate::diag::{Code, Diagnostic};
use crate::resolve::suggest::did_you_mean;
use crate::source::Span;
use crate::syntax::ast::StrLit;

const FILTERS: &[&str] = &[
    "round", "humanize", "percent", "duration", "bytes", "upper", "lower", "title", "default",
    "sig", "prefix", "suffix",
];

/// One `{{ ... }}`: the name it reads and where it is.
/// `value`, `host`, `event.proc.name`; event fields may index arrays (`event.proc.aname[2]`).
fn placeholder_name(name: &str) -> bool {
    let event = name.starts_with("event.") || name.starts_with("steps.");
    !name.is_empty()
        && name.split('.').all(|seg| {
            let (head, mut idx) = match seg.find('[') {
                Some(i) if event => (&seg[..i], &seg[i..]),
                _ => (seg, ""),
            };
            while let Some(rest) = idx.strip_prefix('[') {
                match rest.split_once(']') {
                    Some((n, after)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                        idx = after
                    }
                    _ => return false,
                }
            }
            !head.is_empty() && head.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

pub struct Placeholder {
    pub name: String,
    pub span: Span,
}

/// Labels every scraped series has (Prometheus adds them): never reported as unknown.
const SCRAPE_LABELS: &[&str] = &["instance", "job"];

impl Checker<'_> {
    /// V1030: a placeholder on a rule whose labels are open names a label that no rule of the
    /// rule set mentions (`{{ hostname_typo }}`): it would render empty in every alert.
    pub(crate) fn open_placeholder_lints(&mut self) {
        for (name, span, names) in std::mem::take(&mut self.open_placeholders) {
            if self.mentioned.contains(&name) || SCRAPE_LABELS.contains(&name.as_str()) {
                continue;
            }
            let mut known: Vec<&str> = names.iter().map(String::as_str).collect();
            known.extend(self.mentioned.iter().map(String::as_str));
            known.sort_unstable();
            known.dedup();
            let help = did_you_mean(
                &name,
                known.iter().copied(),
                Code::UnknownLabelInTemplate.info().help,
            );
            self.diags.push(
                Diagnostic::new(
                    Code::UnknownLabelInTemplate,
                    span,
                    format!("no rule mentions a `{name}` label"),
                )
                .label("may render empty")
                .help(help),
            );
        }
    }

    /// Checks a template against the names an alert will have.
    pub(crate) fn template(&mut self, lit: &StrLit, names: &[String], event_rule: bool) {
        for ph in self.placeholders(lit) {
            let ok = names.contains(&ph.name)
                || (event_rule && ph.name.starts_with("event."))
                || ph.name.starts_with("alert.");
            if !ok {
                let help = did_you_mean(
                    &ph.name,
                    names.iter().map(String::as_str),
                    &format!("this alert has: {}", names.join(", ")),
                );
                let why = if ph.name.starts_with("event.") {
                    "only event rules that fire on single events carry event fields"
                } else {
                    "not a label or value of this rule"
                };
                self.err(
                    Diagnostic::new(
                        Code::UnknownPlaceholder,
                        ph.span,
                        format!("`{{{{ {} }}}}` will not be set on this alert", ph.name),
                    )
                    .label(why)
                    .help(help),
                );
            }
        }
    }

    /// Parses the placeholders, reporting malformed ones (V0217).
    pub(crate) fn placeholders(&mut self, lit: &StrLit) -> Vec<Placeholder> {
        let text = &lit.value;
        // Offsets are into the unescaped value; map them to the literal's span (+1 for the quote)
        // when the literal has no escapes, else point at the whole literal.
        let raw_len = lit.span.len().saturating_sub(2);
        let exact = raw_len == text.len();
        let at = |s: usize, e: usize| {
            if exact {
                Span::new(
                    lit.span.file,
                    lit.span.start as usize + 1 + s,
                    lit.span.start as usize + 1 + e,
                )
            } else {
                lit.span
            }
        };
        let mut out = Vec::new();
        let mut rest = 0;
        while let Some(open) = text[rest..].find("{{") {
            let start = rest + open;
            let Some(close) = text[start + 2..].find("}}") else {
                self.err(
                    Diagnostic::new(
                        Code::TemplateSyntax,
                        at(start, start + 2),
                        "unclosed `{{` in template",
                    )
                    .label("no matching `}}`"),
                );
                break;
            };
            let end = start + 2 + close + 2;
            let inner = &text[start + 2..end - 2];
            let mut parts = inner.split('|');
            let name = parts.next().unwrap_or("").trim();
            if !placeholder_name(name) {
                self.err(
                    Diagnostic::new(
                        Code::TemplateSyntax,
                        at(start, end),
                        "a placeholder must name one value",
                    )
                    .label("empty or malformed placeholder")
                    .help(match name.strip_prefix('$') {
                        // Prometheus's template forms.
                        Some(rest) => format!(
                            "Prometheus's `{name}` is `{{{{ {} }}}}` in Vigil",
                            rest.strip_prefix("labels.").unwrap_or(rest)
                        ),
                        None => Code::TemplateSyntax.info().help.to_string(),
                    }),
                );
            } else {
                out.push(Placeholder {
                    name: name.to_string(),
                    span: at(start, end),
                });
            }
            for f in parts {
                let fname = f.trim().split('(').next().unwrap_or("").trim();
                if !FILTERS.contains(&fname) {
                    self.err(
                        Diagnostic::new(
                            Code::TemplateSyntax,
                            at(start, end),
                            format!("unknown template filter `{fname}`"),
                        )
                        .label("unknown filter")
                        .help(did_you_mean(
                            fname,
                            FILTERS.iter().copied(),
                            &format!("filters: {}", FILTERS.join(", ")),
                        )),
                    );
                }
            }
            rest = end;
        }
        out
    }
}

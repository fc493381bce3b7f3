//! Hover: a function's signature and doc, a declaration, or the labels the rules use with a
//! metric.

use super::*;

pub fn hover(uri: &Uri, text: &str, pos: Position, root: Option<&Path>) -> Option<Hover> {
    let (s, e) = text::word_at(text, text::offset(text, pos))?;
    let word = &text[s..e];
    let call = text[e..].trim_start().starts_with('(');
    let markdown = if let Some(b) = vigil_compiler::typeck::functions::lookup(word).filter(|_| call)
    {
        format!("```vigil\n{}\n```\n{}", b.signature, b.doc)
    } else {
        let (checked, fi) = check(uri, text, root);
        let Some((key, sym)) = resolve(&checked, fi?, word) else {
            // An undeclared metric: what the rule set says of it.
            let labels = metric_labels(&checked, word);
            if labels.is_empty() && !mentions_metric(&checked, word) {
                return None;
            }
            return Some(Hover {
                contents: HoverContents::Markup(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: format!(
                        "metric `{word}`

labels the rules use: {}",
                        shown(&labels)
                    ),
                }),
                range: Some(text::range(text, s, e)),
            });
        };
        let decl = &checked.files[sym.file].module.decls[sym.decl];
        let source = checked.sources.snippet(decl.span).trim_end();
        let shown: Vec<&str> = source.lines().take(14).collect();
        let more = if source.lines().count() > 14 {
            "\n…"
        } else {
            ""
        };
        let what = match decl.kind {
            DeclKind::Rule(_) => "rule",
            DeclKind::Const { .. } => "const",
            DeclKind::List { .. } => "list",
            DeclKind::Macro { .. } => "macro",
            DeclKind::Metric { .. } => "metric",
            _ => "",
        };
        let extra = if matches!(decl.kind, DeclKind::Metric { .. }) {
            format!(
                "\n\nlabels the rules use: {}",
                self::shown(&metric_labels(&checked, &key.2))
            )
        } else {
            String::new()
        };
        format!(
            "{what} `{}.{}`\n```vigil\n{}{more}\n```{extra}",
            key.0,
            key.2,
            shown.join("\n")
        )
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range: Some(text::range(text, s, e)),
    })
}

fn shown(labels: &std::collections::BTreeSet<String>) -> String {
    if labels.is_empty() {
        "none seen".into()
    } else {
        labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every expression of every rule, record and declaration body in the checked files.
fn expressions(checked: &Checked, f: &mut dyn FnMut(&vigil_compiler::syntax::ast::Expr)) {
    use vigil_compiler::syntax::ast::ClauseKind as C;
    for file in &checked.files {
        for d in &file.module.decls {
            match &d.kind {
                DeclKind::Rule(r) => {
                    for c in &r.clauses {
                        match &c.kind {
                            C::When {
                                cond,
                                for_,
                                recover,
                                ..
                            } => {
                                f(cond);
                                for e in for_.iter().chain(recover) {
                                    f(e);
                                }
                            }
                            C::Let { value, .. } => f(value),
                            C::Recover(e) | C::OnEvent(Some(e)) => f(e),
                            _ => {}
                        }
                    }
                }
                DeclKind::Record { expr, .. } => f(expr),
                DeclKind::Const { value, .. } | DeclKind::Macro { body: value, .. } => f(value),
                _ => {}
            }
        }
    }
}

fn mentions(e: &vigil_compiler::syntax::ast::Expr, metric: &str) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        if let vigil_compiler::syntax::ast::ExprKind::Ref { name, .. } = &x.kind {
            found |= name == metric;
        }
    });
    found
}

fn mentions_metric(checked: &Checked, metric: &str) -> bool {
    let mut found = false;
    expressions(checked, &mut |e| found |= mentions(e, metric));
    found
}

/// Label names the rule set uses with a metric: its declaration's, its matchers', and the
/// `by`/`without`/`on`/`ignoring` lists over expressions that read it.
fn metric_labels(checked: &Checked, metric: &str) -> std::collections::BTreeSet<String> {
    use vigil_compiler::syntax::ast::{ExprKind, Grouping};
    let mut out = std::collections::BTreeSet::new();
    for file in &checked.files {
        for d in &file.module.decls {
            if let DeclKind::Metric {
                name,
                labels: Some(ls),
                ..
            } = &d.kind
                && name.name == metric
            {
                out.extend(ls.iter().map(|l| l.name.clone()));
            }
        }
    }
    expressions(checked, &mut |e| {
        e.walk(&mut |x| match &x.kind {
            ExprKind::Ref { name, matchers } if name == metric => {
                out.extend(matchers.iter().map(|m| m.label.name.clone()));
            }
            ExprKind::Call {
                args,
                group: Some(Grouping::By(ls, _) | Grouping::Without(ls, _)),
                ..
            } if args.iter().any(|a| mentions(&a.value, metric)) => {
                out.extend(ls.iter().map(|l| l.name.clone()));
            }
            ExprKind::Binary {
                lhs,
                rhs,
                matching: Some(m),
                ..
            } if mentions(lhs, metric) || mentions(rhs, metric) => {
                out.extend(m.labels.iter().map(|l| l.name.clone()));
            }
            _ => {}
        });
    });
    out
}

//! Route lints: a route an earlier sibling always takes first (V1011), and one whose condition
//! contradicts itself (V1012).

use crate::diag::{Code, Diagnostic};
use crate::syntax::ast::{LabelCond, MatchOp, RouteBody, RouteItem, RouteTarget};
use crate::typeck::Checker;

type Term = (String, MatchOp, String);

pub fn check(ck: &mut Checker, body: &RouteBody) {
    let mut earlier: Vec<(Vec<Term>, crate::source::Span)> = Vec::new();
    let mut default_seen = None;
    for it in &body.items {
        match it {
            RouteItem::Match {
                cond,
                during,
                target,
                span,
                ..
            } => {
                let terms = conjunction(cond);
                if let Some(d) = default_seen {
                    ck.diags.push(
                        Diagnostic::new(
                            Code::RouteShadowed,
                            *span,
                            "this route comes after `default`, which takes every alert",
                        )
                        .label("never reached")
                        .with(d, "default here"),
                    );
                    continue;
                }
                if let Some(t) = &terms {
                    if let Some(why) = contradiction(t) {
                        ck.diags.push(
                            Diagnostic::new(Code::RouteNeverMatches, cond.span(), why)
                                .label("can never match"),
                        );
                    } else if let Some((_, prev)) = earlier
                        .iter()
                        .find(|(e, _)| e.iter().all(|x| t.contains(x)))
                    {
                        ck.diags.push(
                            Diagnostic::new(
                                Code::RouteShadowed,
                                *span,
                                "an earlier route takes every alert this one matches",
                            )
                            .label("never reached")
                            .with(*prev, "this route matches first"),
                        );
                    }
                }
                let cont = matches!(
                    target,
                    RouteTarget::Notifiers { cont: true, .. }
                        | RouteTarget::Nested { cont: true, .. }
                );
                if let (Some(t), false, None) = (terms, cont, during) {
                    earlier.push((t, *span));
                }
            }
            RouteItem::Default { span, .. } => default_seen = Some(*span),
            _ => {}
        }
    }
}

/// The condition as a list of ANDed matchers, when it is one.
fn conjunction(c: &LabelCond) -> Option<Vec<Term>> {
    match c {
        LabelCond::Match {
            label, op, value, ..
        } => Some(vec![(label.name.clone(), *op, value.text().to_string())]),
        LabelCond::And(parts, _) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend(conjunction(p)?);
            }
            Some(out)
        }
        _ => None,
    }
}

fn contradiction(terms: &[Term]) -> Option<String> {
    for (i, (l, op, v)) in terms.iter().enumerate() {
        for (l2, op2, v2) in &terms[i + 1..] {
            if l != l2 {
                continue;
            }
            match (op, op2) {
                (MatchOp::Eq, MatchOp::Eq) if v != v2 => {
                    return Some(format!("`{l}` cannot be both \"{v}\" and \"{v2}\""));
                }
                (MatchOp::Eq, MatchOp::Ne) | (MatchOp::Ne, MatchOp::Eq) if v == v2 => {
                    return Some(format!("`{l}` cannot both be and not be \"{v}\""));
                }
                _ => {}
            }
        }
    }
    None
}

//! Rule lints: severity (V1006), `for` (V1007, V1023), constant conditions (V1008, V1009),
//! duplicate ids (V1010), event-type indexing (V1013), summaries (V1018), labels (V1022),
//! unused `let` (V1024), clauses without effect (V1027), sequences without a time limit
//! (V1032).

use crate::diag::{Code, Diagnostic};
use crate::source::Span;
use crate::syntax::ast::{BinOp, ClauseKind, Expr, ExprKind, Rule};
use crate::typeck::Checker;
use crate::typeck::types::{Konst, Val};

pub fn no_severity(ck: &mut Checker, rule: &Rule) {
    ck.diags.push(
        Diagnostic::new(
            Code::NoSeverity,
            rule.name.span,
            format!("rule `{}` has no severity", rule.name.name),
        )
        .label("no severity"),
    );
}

/// A sequence with neither `within` nor `until`: nothing but eviction ends a partial match.
pub fn sequence_without_within(ck: &mut Checker, span: Span) {
    ck.diags.push(
        Diagnostic::new(
            Code::SequenceWithoutWithin,
            span,
            "this sequence has no time limit and no `until`",
        )
        .label("partial matches wait indefinitely"),
    );
}

pub fn for_clause(ck: &mut Checker, f: &Expr, interval: f64, single_event: bool) {
    if single_event {
        ck.diags.push(
            Diagnostic::new(
                Code::ForOnEventRule,
                f.span,
                "`for` on a rule that fires on single events",
            )
            .label("never holds"),
        );
        return;
    }
    if let ExprKind::Duration(secs) = f.kind
        && secs > 0.0
        && secs < interval
    {
        ck.diags.push(
            Diagnostic::new(
                Code::ForShorterThanInterval,
                f.span,
                format!("`for {secs}s` is shorter than the {interval}s evaluation interval"),
            )
            .label("acts as no `for`"),
        );
    }
}

pub fn constant_condition(ck: &mut Checker, v: &Val, span: Span) {
    if let Some(Konst::Bool(b)) = v.konst {
        let code = if b {
            Code::AlwaysTrue
        } else {
            Code::AlwaysFalse
        };
        ck.diags.push(
            Diagnostic::new(code, span, format!("this condition is always {b}"))
                .label("depends on no data"),
        );
    }
}

/// V1013: an event filter whose top-level conjunction never pins `event.type` (or, ECS's
/// way, a string in an array field: `"process" in event.event.category`, which the index can
/// key on too).
pub fn not_indexable(ck: &mut Checker, filter: &Expr, rule: &Rule) {
    if !pins_type(filter, ck, 0) {
        ck.diags.push(
            Diagnostic::new(
                Code::NotIndexable,
                filter.span,
                format!("rule `{}` is evaluated for every event", rule.name.name),
            )
            .label("no `event.type` test"),
        );
    }
}

fn pins_type(e: &Expr, ck: &Checker, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    match &e.kind {
        ExprKind::Binary {
            op: BinOp::And,
            lhs,
            rhs,
            ..
        } => pins_type(lhs, ck, depth) || pins_type(rhs, ck, depth),
        ExprKind::Binary {
            op: BinOp::Or,
            lhs,
            rhs,
            ..
        } => pins_type(lhs, ck, depth) && pins_type(rhs, ck, depth),
        ExprKind::In {
            negated: false,
            lhs,
            rhs,
            ..
        } if matches!(lhs.kind, ExprKind::Str(_)) => matches!(&rhs.kind, ExprKind::Field(_)),
        ExprKind::Binary {
            op: BinOp::Eq, lhs, ..
        }
        | ExprKind::In {
            negated: false,
            lhs,
            ..
        } => {
            matches!(&lhs.kind, ExprKind::Field(p) if p.len() == 1 && p[0].name == "type")
        }
        // A macro is inlined: look through it.
        ExprKind::Ref { name, matchers } if matchers.is_empty() => ck
            .syms
            .map
            .iter()
            .find(|((_, ns, n), _)| *ns == crate::resolve::Namespace::Value && n == name)
            .and_then(
                |(_, sym)| match &ck.files[sym.file].module.decls[sym.decl].kind {
                    crate::syntax::ast::DeclKind::Macro { body, .. } => {
                        Some(pins_type(body, ck, depth + 1))
                    }
                    _ => None,
                },
            )
            .unwrap_or(false),
        _ => false,
    }
}

pub fn dynamic_label(ck: &mut Checker, value: &str, span: Span) {
    if value.contains("{{") && value.contains("value") {
        ck.diags.push(
            Diagnostic::new(
                Code::DynamicLabel,
                span,
                "a label that holds the alert's value",
            )
            .label("changes every evaluation"),
        );
    }
}

pub fn no_summary(ck: &mut Checker, rule: &Rule) {
    let notifies = rule
        .clauses
        .iter()
        .find(|c| matches!(c.kind, ClauseKind::Notify(_) | ClauseKind::Playbook(_)));
    let has_summary = rule
        .clauses
        .iter()
        .any(|c| matches!(c.kind, ClauseKind::Summary(_)));
    if let (Some(n), false) = (notifies, has_summary) {
        ck.diags.push(
            Diagnostic::new(
                Code::NoSummary,
                n.span,
                format!("rule `{}` notifies without a summary", rule.name.name),
            )
            .label("what will the responder read?"),
        );
    }
}

pub fn unused_lets(ck: &mut Checker, cx: &crate::typeck::ExprCtx) {
    let mut unused: Vec<(&String, Span)> = cx
        .lets
        .iter()
        .filter(|(k, _)| !cx.lets_used.contains(*k))
        .map(|(k, (_, s))| (k, *s))
        .collect();
    unused.sort_by_key(|(_, s)| s.start);
    for (name, span) in unused {
        ck.diags.push(
            Diagnostic::new(Code::UnusedLet, span, format!("`{name}` is never used"))
                .label("unused binding"),
        );
    }
}

/// V1010: two rules with one id in one package.
pub fn duplicate_ids(ck: &mut Checker) {
    for (second, first, name) in ck.syms.duplicate_rules.clone() {
        ck.diags.push(
            Diagnostic::new(
                Code::DuplicateRuleId,
                second,
                format!("rule id `{name}` is used twice"),
            )
            .label("second rule with this id")
            .with(first, "first rule with this id"),
        );
    }
}

/// `throttle` on a metric rule, `no_data` on an event rule: accepted, but they do nothing.
pub fn clauses_without_effect(ck: &mut Checker, rule: &Rule, event: bool) {
    for c in &rule.clauses {
        // The clause up to its last expression (a clause's own span runs to the next one).
        let (what, last) = match (&c.kind, event) {
            (ClauseKind::Throttle { per, by, .. }, false) => (
                "`throttle` has no effect on a metric rule",
                by.last().unwrap_or(per).span,
            ),
            (ClauseKind::NoData { after, .. }, true) => {
                ("`no_data` has no effect on an event rule", after.span)
            }
            _ => continue,
        };
        let span = Span {
            end: last.end.max(c.span.start),
            ..c.span
        };
        ck.diags
            .push(Diagnostic::new(Code::ClauseWithoutEffect, span, what).label("ignored"));
    }
}

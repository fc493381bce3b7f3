//! Expressions: types, units, label sets and constant folding.

use super::Checker;
use super::functions::{self, FnKind};
use super::types::{Konst, Labels, Shape, Ty, Unit, Val};
use crate::diag::{Code, Diagnostic};
use crate::resolve::Namespace;
use crate::resolve::suggest::did_you_mean;
use crate::source::Span;
use crate::syntax::ast::*;
use std::collections::HashMap;

mod binary;
mod calls;
mod events;
mod literals;
mod names;
mod windows;

pub(crate) use calls::{duration_help, is_duration_literal};
pub(crate) use literals::{named_type, unit_from_decl};

/// What an expression may see: the file, rule-local bindings, whether events are in scope.
#[derive(Default)]
pub struct Ctx {
    pub file: usize,
    /// Inside an event rule (or an event macro / exception): `event.x` is readable.
    pub event: bool,
    /// The event type the rule's filter pins (`event.type == "login"`), for schema checks.
    pub schema: Option<String>,
    pub lets: HashMap<String, (Val, Span)>,
    pub lets_used: std::collections::HashSet<String>,
    pub quant_vars: Vec<String>,
    /// Exception parameters: names bound to strings.
    pub params: HashMap<String, Ty>,
    /// The rule's evaluation interval, for window lints.
    pub interval: f64,
    /// The rule's `delay`, seconds (long windows' bucket grid).
    pub delay: f64,
    /// Facts gathered while checking, read by rule-level checks.
    pub saw_selector: Option<Span>,
    pub saw_event_agg: Option<Span>,
    /// The grouping fields of the first event aggregate (all must agree), with its span.
    pub agg_keys: Option<(Vec<String>, Span)>,
    pub saw_rule_ref: Option<Span>,
    /// Event aggregate function names used (template aliases: `{{ count }}`).
    pub agg_names: Vec<String>,
    /// Reading values, not conditions (the right side of a set operator on values, inside
    /// `present(..)`): a comparison of series is a filter there, as in PromQL.
    pub values: bool,
}

impl Checker<'_> {
    pub(crate) fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(crate) fn expr(&mut self, cx: &mut Ctx, e: &Expr) -> Val {
        let v = self.expr_kind(cx, e);
        // Evaluation scales a percent literal by its partner's unit (`80%` is 0.8 against a
        // ratio, 80 against a percentage), so it needs the unit of every numeric expression.
        if let Ty::Num(u) = v.ty {
            self.units.insert(e.span, u);
        }
        v
    }

    fn expr_kind(&mut self, cx: &mut Ctx, e: &Expr) -> Val {
        let span = e.span;
        match &e.kind {
            ExprKind::Number(n) => Val::konst(Ty::Num(Unit::Number), Konst::Num(*n)),
            ExprKind::Percent(n) => Val::konst(Ty::Num(Unit::Percent), Konst::Num(*n)),
            ExprKind::Duration(n) => Val::konst(Ty::Num(Unit::Duration), Konst::Num(*n)),
            ExprKind::Bytes(n) => Val::konst(Ty::Num(Unit::Bytes), Konst::Num(*n)),
            ExprKind::Str(s) => Val::konst(Ty::Str, Konst::Str(s.clone())),
            ExprKind::Bool(b) => Val::konst(Ty::Bool, Konst::Bool(*b)),
            ExprKind::Regex(r) => {
                self.regex(r, span);
                Val::scalar(Ty::Regex)
            }
            ExprKind::List(items) => self.list(cx, items, None, span),
            ExprKind::Spread(name) => self.value_ref(cx, &name.name, &[], name.span),
            ExprKind::Ref { name, matchers } => self.value_ref(cx, name, matchers, span),
            ExprKind::Field(path) => self.field(cx, path, span),
            ExprKind::AlertField(_) => Val::scalar(Ty::Str),
            ExprKind::Index(inner, _) => self.index(cx, inner),
            ExprKind::Unary(UnOp::Neg, inner) => self.negate(cx, inner),
            ExprKind::Unary(UnOp::Not, inner) => self.not(cx, inner),
            ExprKind::Binary {
                op,
                lhs,
                rhs,
                matching,
            } => self.binary(cx, *op, lhs, rhs, matching.as_ref(), span),
            ExprKind::In { cidr, lhs, rhs, .. } => self.in_test(cx, *cidr, lhs, rhs),
            ExprKind::StrTest {
                op,
                quant,
                lhs,
                rhs,
                ..
            } => self.str_test(cx, *op, *quant, lhs, rhs),
            ExprKind::Is { lhs, what, p } => self.trend_test(cx, lhs, what, *p, span),
            ExprKind::Call {
                func,
                args,
                group,
                over,
            } => self.call(cx, func, args, group.as_ref(), over.as_deref(), span),
            ExprKind::Exists(path) => {
                self.field(cx, path, span);
                Val::scalar(Ty::Bool).with_shape(Shape::Event)
            }
            ExprKind::Quantifier {
                var, over, pred, ..
            } => self.quantifier(cx, var, over, pred),
            ExprKind::Selection { pattern, .. } => self.selection(cx, pattern),
        }
    }

    /// `x[i]`: only lists and fields can be indexed.
    fn index(&mut self, cx: &mut Ctx, inner: &Expr) -> Val {
        let v = self.expr(cx, inner);
        if !matches!(v.ty, Ty::List(_) | Ty::Dynamic | Ty::Error) {
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    inner.span,
                    format!("cannot index a {}", v.ty),
                )
                .label("not a list"),
            );
        }
        Val::scalar(Ty::Dynamic).with_shape(v.shape)
    }

    /// `-x`: a number, folded when constant.
    fn negate(&mut self, cx: &mut Ctx, inner: &Expr) -> Val {
        let v = self.expr(cx, inner);
        if !v.ty.is_numeric() {
            self.mismatch(inner.span, "a number", &v.ty);
            return Val::error();
        }
        let konst = match v.konst {
            Some(Konst::Num(n)) => Some(Konst::Num(-n)),
            _ => None,
        };
        Val {
            konst,
            stored: false,
            ..v
        }
    }

    /// `not x`: a condition, folded when constant.
    fn not(&mut self, cx: &mut Ctx, inner: &Expr) -> Val {
        let v = self.expr(cx, inner);
        if !v.ty.is_boolish() && !v.score {
            self.mismatch(inner.span, "a condition", &v.ty);
            return Val::error();
        }
        let konst = match v.konst {
            Some(Konst::Bool(b)) => Some(Konst::Bool(!b)),
            _ => None,
        };
        Val {
            ty: Ty::Bool,
            konst,
            score: false,
            stored: false,
            ..v
        }
    }

    /// `trend(x, w) is increasing|decreasing|changing [p]`.
    fn trend_test(
        &mut self,
        cx: &mut Ctx,
        lhs: &Expr,
        what: &Ident,
        p: Option<f64>,
        span: Span,
    ) -> Val {
        let v = self.expr(cx, lhs);
        if !matches!(v.ty, Ty::Trend | Ty::Error) {
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    lhs.span,
                    format!("`is {}` needs a trend, found {}", what.name, v.ty),
                )
                .label("not a trend")
                .help("write `trend(x, 30m) is increasing`"),
            );
        }
        if !matches!(what.name.as_str(), "increasing" | "decreasing" | "changing") {
            let help = did_you_mean(
                &what.name,
                ["increasing", "decreasing", "changing"],
                "trends are increasing, decreasing or changing",
            );
            self.err(
                Diagnostic::new(
                    Code::UnknownMethod,
                    what.span,
                    format!("unknown trend `{}`", what.name),
                )
                .label("not a trend test")
                .help(help),
            );
        }
        if let Some(p) = p
            && !(p > 0.0 && p < 1.0)
        {
            self.err(
                Diagnostic::new(
                    Code::QuantileRange,
                    span,
                    format!("significance level {p} is not between 0 and 1"),
                )
                .label("p must be in (0, 1)"),
            );
        }
        Val {
            ty: Ty::Bool,
            konst: None,
            score: false,
            stored: false,
            ..v
        }
    }

    /// `any|all v in xs where p`: over a list or an array field.
    fn quantifier(&mut self, cx: &mut Ctx, var: &Ident, over: &Expr, pred: &Expr) -> Val {
        let o = self.expr(cx, over);
        if !matches!(o.ty, Ty::List(_) | Ty::Dynamic | Ty::Error) {
            self.mismatch(over.span, "a list or array field", &o.ty);
        }
        cx.quant_vars.push(var.name.clone());
        let p = self.expr(cx, pred);
        cx.quant_vars.pop();
        self.want_bool(&p, pred.span);
        Val::scalar(Ty::Bool).with_shape(o.shape)
    }

    /// `1 of sel*`: the rule's lets whose names match, at least one.
    fn selection(&mut self, cx: &mut Ctx, pattern: &Ident) -> Val {
        let pat = pattern.name.replace('*', ".*");
        let re = regex::Regex::new(&format!("^{pat}$")).ok();
        let hits: Vec<String> = cx
            .lets
            .keys()
            .filter(|k| re.as_ref().is_some_and(|r| r.is_match(k)))
            .cloned()
            .collect();
        if hits.is_empty() {
            let mut names: Vec<&str> = cx.lets.keys().map(String::as_str).collect();
            names.sort_unstable();
            let help = if names.is_empty() {
                "this rule has no `let` bindings; declare `let selection_x = ...` first".to_string()
            } else {
                format!("the rule's `let` names are: {}", names.join(", "))
            };
            self.err(
                Diagnostic::new(
                    Code::EmptySelection,
                    pattern.span,
                    format!("`{}` matches none of the rule's `let` names", pattern.name),
                )
                .label("empty expansion")
                .help(help),
            );
            return Val::error();
        }
        let mut shape = Shape::Scalar;
        for h in hits {
            cx.lets_used.insert(h.clone());
            if let Some((v, _)) = cx.lets.get(&h) {
                shape = join_shape(&shape, &v.shape);
            }
        }
        Val::scalar(Ty::Bool).with_shape(shape)
    }

    pub(crate) fn mismatch(&mut self, span: Span, want: &str, found: &Ty) {
        if *found == Ty::Error {
            return;
        }
        self.err(
            Diagnostic::new(
                Code::TypeMismatch,
                span,
                format!("expected {want}, found {found}"),
            )
            .label(format!("this is a {found}")),
        );
    }

    /// Reports a non-boolean condition.
    pub(crate) fn want_bool(&mut self, v: &Val, span: Span) {
        if !v.ty.is_boolish() && !v.score {
            let help = match v.ty {
                Ty::Num(_) => "compare the value with a threshold: `when x > 10`",
                Ty::Trend => "test the trend: `trend(x, 30m) is increasing`",
                _ => "a condition must be true or false",
            };
            self.err(
                Diagnostic::new(
                    Code::NotBool,
                    span,
                    format!("this condition is a {}, not true or false", v.ty),
                )
                .label("not a condition")
                .help(help),
            );
        }
    }
}

impl Val {
    /// A list literal whose elements were all rule references.
    fn reads_rules_list(&self) -> bool {
        self.reads_rules || matches!(self.ty, Ty::List(_))
    }
}

fn describe(v: &Val) -> String {
    match &v.shape {
        Shape::Series(_) => format!("a series of {}", v.ty),
        Shape::Event => format!("an event field ({})", v.ty),
        Shape::Scalar => format!("a constant {}", v.ty),
    }
}

pub(crate) fn join_shape(a: &Shape, b: &Shape) -> Shape {
    match (a, b) {
        (Shape::Series(x), Shape::Series(y)) => Shape::Series(x.union(y)),
        (Shape::Series(x), _) | (_, Shape::Series(x)) => Shape::Series(x.clone()),
        (Shape::Event, _) | (_, Shape::Event) => Shape::Event,
        _ => Shape::Scalar,
    }
}

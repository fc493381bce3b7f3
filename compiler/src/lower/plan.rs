//! Planning series slots: the structured [`SeriesExpr`] behind each metric leaf, and the
//! [`Rows`] join of a metric program. Names resolve exactly as in lowering (lets, macros,
//! consts, records, rules), so a leaf means the same thing wherever it is written.

use super::{Bind, Low, LowerError, Lowerer, Scope, T, err, fail};
use crate::diag::Code;
use crate::ir::series::*;
use crate::ir::{Arith, Node};
use crate::resolve::Namespace;
use crate::source::Span;
use crate::syntax::ast::{self, BinOp, DeclKind, Expr, ExprKind, UnOp};

/// Prometheus's series of alert states, read as the rules' alerts (see [`SeriesExpr::Alerts`]).
pub const ALERTS: &str = "ALERTS";

impl<'a> Lowerer<'a> {
    /// How the series slots of condition `e` join into rows.
    pub(super) fn rows(&mut self, sc: &Scope<'a>, e: &'a Expr) -> Result<Rows, LowerError> {
        self.rows_in(sc, e, true)
    }

    /// `cond`: `e` is used as a condition (a bare anomaly score then reads its flag slot).
    fn rows_in(&mut self, sc: &Scope<'a>, e: &'a Expr, cond: bool) -> Result<Rows, LowerError> {
        Ok(match &e.kind {
            ExprKind::Binary {
                op,
                lhs,
                rhs,
                matching,
            } => {
                if self.is_value_filter(e, *op) {
                    return self.leaf_rows(sc, e, false);
                }
                let matching = matching.as_ref().map(label_match);
                let (kind, rhs) = match (op, &rhs.kind) {
                    (BinOp::Or, _) => (JoinKind::Outer, &**rhs),
                    (BinOp::And, ExprKind::Unary(UnOp::Not, inner)) => (JoinKind::Left, &**inner),
                    _ => (JoinKind::Inner, &**rhs),
                };
                // Arithmetic and comparisons (not `and`/`or`): one-to-one results keep only the
                // matched labels, as PromQL's `on`/`ignoring` do for both.
                let arith = !matches!(op, BinOp::And | BinOp::Or);
                let logic = matches!(op, BinOp::And | BinOp::Or);
                let l = self.rows_in(sc, lhs, logic)?;
                let r = self.rows_in(sc, rhs, logic)?;
                join(kind, arith, matching, l, r)
            }
            ExprKind::Unary(op, x) => self.rows_in(sc, x, *op == UnOp::Not)?,
            ExprKind::Ref { name, matchers } if matchers.is_empty() => {
                if let Some(&le) = sc.lets.get(name) {
                    return self.rows_in(sc, le, cond);
                }
                if sc.binds.iter().any(|(v, _)| v == name) {
                    return Ok(Rows::Scalar);
                }
                let ck = self.ck;
                if let Some(key) = ck.syms.resolve(&ck.files, sc.file, Namespace::Value, name) {
                    let sym = ck.syms.map[&key];
                    let decl = &ck.files[sym.file].module.decls[sym.decl];
                    let body = match (self.overrides.get(&key), &decl.kind) {
                        (Some(&(_, e)), _) => e,
                        (None, DeclKind::Macro { body, .. }) => body,
                        (None, DeclKind::Record { .. }) => return self.leaf_rows(sc, e, false),
                        _ => return Ok(Rows::Scalar),
                    };
                    let dsc = self.decl_scope(sym.file, sc);
                    return self.rows_in(&dsc, body, cond);
                }
                self.leaf_rows(sc, e, cond)?
            }
            ExprKind::Ref { .. } | ExprKind::Is { .. } => self.leaf_rows(sc, e, cond)?,
            ExprKind::Call { func, args, .. } => {
                let scalar = crate::typeck::functions::lookup(&func.name)
                    .is_some_and(|b| b.kind == crate::typeck::functions::FnKind::Scalar)
                    && !matches!(func.name.as_str(), "score" | "at_least" | "time")
                    || (matches!(func.name.as_str(), "min" | "max")
                        && args.len() == 2
                        && !crate::typeck::is_duration_literal(&args[1].value));
                if scalar {
                    let mut acc = Rows::Scalar;
                    for a in args {
                        let r = self.rows_in(sc, &a.value, false)?;
                        acc = join(JoinKind::Inner, false, None, acc, r);
                    }
                    acc
                } else {
                    self.leaf_rows(sc, e, cond)?
                }
            }
            _ => Rows::Scalar,
        })
    }

    /// Whether `e` (a binary operation `op`) is a comparison or set operator the checker
    /// typed as a series of numbers: a PromQL filter (`x - (y > 0)`, `a or b`), planned as
    /// one series rather than joined into rows.
    pub(super) fn is_value_filter(&self, e: &Expr, op: BinOp) -> bool {
        (op.is_comparison() || matches!(op, BinOp::And | BinOp::Or))
            && self.ck.units.contains_key(&e.span)
    }

    /// The rows of a series leaf: the slot lowering gave it.
    fn leaf_rows(&mut self, sc: &Scope<'a>, e: &'a Expr, cond: bool) -> Result<Rows, LowerError> {
        let mut plan = self.plan(sc, e)?;
        if let SeriesExpr::Anomaly { flag, .. } = &mut plan {
            *flag = cond;
        }
        if plan == SeriesExpr::Time {
            return Ok(Rows::Scalar);
        }
        Ok(Rows::Leaf(self.series_slot(plan)))
    }

    /// A file's top-level scope.
    pub(super) fn root_scope(&self, file: usize) -> Scope<'a> {
        Scope {
            file,
            lets: Default::default(),
            binds: Vec::new(),
            nocase: self.file_nocase[file],
            opened: Vec::new(),
        }
    }

    /// The scope a declaration's body is read in (its own file, no lets).
    pub(super) fn decl_scope(&self, file: usize, sc: &Scope<'a>) -> Scope<'a> {
        Scope {
            file,
            lets: Default::default(),
            binds: Vec::new(),
            nocase: sc.nocase || self.file_nocase[file],
            opened: Vec::new(),
        }
    }

    /// A constant number (window sizes, quantiles, weights).
    pub(super) fn constant(&mut self, sc: &Scope<'a>, e: &'a Expr) -> Result<f64, LowerError> {
        let mut s = self.decl_scope(sc.file, sc);
        s.lets = sc.lets.clone();
        s.binds = sc.binds.clone();
        match self.expr(&mut s, e)? {
            Low::Pct(p) => Ok(p / 100.0),
            Low::Node(n, T::Num) => match *self.ir.node(n) {
                Node::Num(bits) => Ok(f64::from_bits(bits)),
                _ => fail(
                    Code::ConstantRequired,
                    e.span,
                    "expected a constant number here",
                ),
            },
            Low::Node(..) | Low::Str(_) | Low::Regex(_) | Low::List(_) | Low::Env(_) => fail(
                Code::ConstantRequired,
                e.span,
                "expected a constant number here",
            ),
        }
    }

    /// A comparison as a series of values: against a constant, the series that pass
    /// (`m > 50`, a percentage scaled by the series' unit, as everywhere); between two
    /// series, the left one's where it holds with its match on the right (`a > b on [x]`),
    /// matched as arithmetic is. Both sides are planned, never lowered: planning a series
    /// registers nothing.
    fn plan_compare(
        &mut self,
        sc: &Scope<'a>,
        op: BinOp,
        (lhs, rhs): (&'a Expr, &'a Expr),
        matching: Option<&ast::Matching>,
    ) -> Result<SeriesExpr, LowerError> {
        let cmp = super::compare::cmp_op(op);
        let (l, r) = (self.plan(sc, lhs)?, self.plan(sc, rhs)?);
        // A percentage against a percent series compares in its points (`cpu > 90%`).
        let value = |this: &Self, k: f64, konst: &Expr, series: &Expr| match konst.kind {
            ExprKind::Percent(p)
                if this.ck.units.get(&series.span)
                    == Some(&crate::typeck::types::Unit::Percent) =>
            {
                p
            }
            _ => k,
        };
        if matching.is_none() {
            match (folded(&l), folded(&r)) {
                (None, Some(k)) => {
                    return Ok(SeriesExpr::Filter {
                        value: value(self, k, rhs, lhs),
                        inner: Box::new(l),
                        op: cmp,
                    });
                }
                (Some(k), None) => {
                    return Ok(SeriesExpr::Filter {
                        value: value(self, k, lhs, rhs),
                        inner: Box::new(r),
                        op: cmp.flipped(),
                    });
                }
                _ => {}
            }
        }
        Ok(SeriesExpr::Compare {
            op: cmp,
            lhs: Box::new(l),
            rhs: Box::new(r),
            matching: matching.map(label_match),
        })
    }

    /// The structured plan of a series expression.
    pub(super) fn plan(&mut self, sc: &Scope<'a>, e: &'a Expr) -> Result<SeriesExpr, LowerError> {
        match &e.kind {
            ExprKind::Number(_)
            | ExprKind::Duration(_)
            | ExprKind::Bytes(_)
            | ExprKind::Percent(_) => Ok(SeriesExpr::Scalar(self.constant(sc, e)?)),
            ExprKind::Ref { name, matchers } => self.plan_ref(sc, e, name, matchers),
            ExprKind::Unary(UnOp::Neg, x) => Ok(SeriesExpr::Arith {
                op: Arith::Mul,
                lhs: Box::new(SeriesExpr::Scalar(-1.0)),
                rhs: Box::new(self.plan(sc, x)?),
                matching: None,
            }),
            ExprKind::Binary {
                op,
                lhs,
                rhs,
                matching,
            } => {
                if op.is_comparison() {
                    return self.plan_compare(sc, *op, (lhs, rhs), matching.as_ref());
                }
                if matches!(op, BinOp::And | BinOp::Or) {
                    let (set, rhs) = match (op, &rhs.kind) {
                        (BinOp::And, ExprKind::Unary(UnOp::Not, x)) => (SetOp::Unless, &**x),
                        (BinOp::And, _) => (SetOp::And, &**rhs),
                        _ => (SetOp::Or, &**rhs),
                    };
                    return Ok(SeriesExpr::Set {
                        op: set,
                        lhs: Box::new(self.plan(sc, lhs)?),
                        rhs: Box::new(self.plan(sc, rhs)?),
                        matching: matching.as_ref().map(label_match),
                    });
                }
                let op = match op {
                    BinOp::Add => Arith::Add,
                    BinOp::Sub => Arith::Sub,
                    BinOp::Mul => Arith::Mul,
                    BinOp::Div => Arith::Div,
                    _ => return err(e.span, "only arithmetic combines series inside a series"),
                };
                Ok(SeriesExpr::Arith {
                    op,
                    lhs: Box::new(self.plan(sc, lhs)?),
                    rhs: Box::new(self.plan(sc, rhs)?),
                    matching: matching.as_ref().map(label_match),
                })
            }
            ExprKind::Is { .. } => self.plan_trend(sc, e),
            ExprKind::Call {
                func, args, group, ..
            } => self.plan_call(sc, e, &func.name, args, group.as_ref()),
            _ => err(e.span, "not a series expression"),
        }
    }

    /// A name or selector as a series: a let, a constant, a macro's body, a record, a
    /// rule's state, or a metric selector.
    fn plan_ref(
        &mut self,
        sc: &Scope<'a>,
        e: &'a Expr,
        name: &str,
        matchers: &[ast::Matcher],
    ) -> Result<SeriesExpr, LowerError> {
        if name == ALERTS {
            return Ok(SeriesExpr::Alerts(self.selector(name, matchers)));
        }
        if !matchers.is_empty() {
            return Ok(SeriesExpr::Instant {
                sel: self.selector(name, matchers),
                offset: 0.0,
            });
        }
        if let Some(&le) = sc.lets.get(name) {
            return self.plan(sc, le);
        }
        if let Some((_, Bind::Const(_))) = sc.binds.iter().rev().find(|(v, _)| v == name) {
            return Ok(SeriesExpr::Scalar(self.constant(sc, e)?));
        }
        let ck = self.ck;
        if let Some(key) = ck.syms.resolve(&ck.files, sc.file, Namespace::Value, name) {
            let sym = ck.syms.map[&key];
            let decl = &ck.files[sym.file].module.decls[sym.decl];
            let dsc = self.decl_scope(sym.file, sc);
            return match (self.overrides.get(&key), &decl.kind) {
                (Some(&(f, body)), _) => {
                    let dsc = self.decl_scope(f, sc);
                    self.plan(&dsc, body)
                }
                (None, DeclKind::Macro { body, .. }) => self.plan(&dsc, body),
                (None, DeclKind::Const { .. }) => Ok(SeriesExpr::Scalar(self.constant(sc, e)?)),
                (None, DeclKind::Record { name, .. }) => Ok(SeriesExpr::Instant {
                    sel: self.selector(&name.name, &[]),
                    offset: 0.0,
                }),
                _ => err(e.span, format!("`{name}` is not a series")),
            };
        }
        if let Some(key) = ck.syms.resolve(&ck.files, sc.file, Namespace::Rule, name) {
            return Ok(SeriesExpr::RuleState(format!("{}.{}", key.0, key.2)));
        }
        Ok(SeriesExpr::Instant {
            sel: self.selector(name, matchers),
            offset: 0.0,
        })
    }

    /// `trend(x, w[, method m]) is increasing|decreasing|changing [p]`.
    fn plan_trend(&mut self, sc: &Scope<'a>, e: &'a Expr) -> Result<SeriesExpr, LowerError> {
        let ExprKind::Is { lhs, what, p } = &e.kind else {
            return err(e.span, "not a trend test");
        };
        let ExprKind::Call { args, .. } = &lhs.kind else {
            return err(lhs.span, "`is` applies to trend(x, w)");
        };
        let pos = positional(args);
        let (sel, _) = self.window_selector(sc, pos.first().copied(), e.span)?;
        let range = self.window_arg(sc, pos.get(1).copied(), e.span)?;
        let method = match args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == "method"))
            .map(|a| &a.value.kind)
        {
            Some(ExprKind::Ref { name, .. }) if name == "mann_kendall" => TrendMethod::MannKendall,
            _ => TrendMethod::Regression,
        };
        let dir = match what.name.as_str() {
            "increasing" => TrendDir::Increasing,
            "decreasing" => TrendDir::Decreasing,
            _ => TrendDir::Changing,
        };
        Ok(SeriesExpr::Trend {
            dir,
            method,
            p: p.unwrap_or(0.05),
            sel,
            range,
        })
    }

    /// A window function's series argument: a selector or a recorded series.
    pub(super) fn window_selector(
        &mut self,
        sc: &Scope<'a>,
        x: Option<&'a Expr>,
        span: Span,
    ) -> Result<(Selector, f64), LowerError> {
        let Some(x) = x else {
            return err(span, "missing the series argument");
        };
        match self.plan(sc, x)? {
            SeriesExpr::Instant { sel, offset } => Ok((sel, offset)),
            _ => err(
                x.span,
                "window functions read a metric selector or a recorded series; record the \
                 expression first (`record name = ...`)",
            ),
        }
    }

    pub(super) fn window_arg(
        &mut self,
        sc: &Scope<'a>,
        w: Option<&'a Expr>,
        span: Span,
    ) -> Result<f64, LowerError> {
        match w {
            Some(w) => self.constant(sc, w),
            None => err(span, "missing the window"),
        }
    }

    pub(super) fn selector(&self, name: &str, matchers: &[ast::Matcher]) -> Selector {
        Selector {
            metric: name.to_string(),
            matchers: matchers
                .iter()
                .map(|m| (m.label.name.clone(), m.op, m.value.value.clone()))
                .collect(),
            scale: self.metric_scale.get(name).copied().unwrap_or_else(|| {
                if name.ends_with("_ms") || name.ends_with("_milliseconds") {
                    0.001
                } else {
                    1.0
                }
            }),
        }
    }

    /// The slot of a planned series value (equal plans share a slot).
    pub(super) fn series_slot(&mut self, plan: SeriesExpr) -> u32 {
        let source = match &plan {
            SeriesExpr::RuleState(r) => crate::ir::SlotSource::Rule(r.clone()),
            p => crate::ir::SlotSource::Series(format!("{p:?}")),
        };
        let id = self.ir.layout.slot(source);
        self.ir.series.entry(id).or_insert(plan);
        id
    }
}

fn label_match(m: &ast::Matching) -> LabelMatch {
    LabelMatch {
        on: !m.ignoring,
        labels: m.labels.iter().map(|l| l.name.clone()).collect(),
        group: m.group.as_ref().map(|g| GroupSide {
            left: g.left,
            extra: g.extra.iter().map(|l| l.name.clone()).collect(),
        }),
    }
}

pub(super) fn positional(args: &[ast::Arg]) -> Vec<&Expr> {
    args.iter()
        .filter(|a| a.name.is_none())
        .map(|a| &a.value)
        .collect()
}

fn join(kind: JoinKind, arith: bool, matching: Option<LabelMatch>, l: Rows, r: Rows) -> Rows {
    match (l, r) {
        (Rows::Scalar, x) | (x, Rows::Scalar) => x,
        (l, r) if l == r && matching.is_none() => l,
        (l, r) => Rows::Join {
            kind,
            arith,
            matching,
            lhs: Box::new(l),
            rhs: Box::new(r),
        },
    }
}

/// The value of a plan that is a constant (`5`, `-5`, `24 * 60`, a `const`), without lowering
/// anything.
fn folded(e: &SeriesExpr) -> Option<f64> {
    match e {
        SeriesExpr::Scalar(v) => Some(*v),
        SeriesExpr::Arith {
            op,
            lhs,
            rhs,
            matching: None,
        } => {
            let (a, b) = (folded(lhs)?, folded(rhs)?);
            Some(match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div => a / b,
                _ => return None,
            })
        }
        _ => None,
    }
}

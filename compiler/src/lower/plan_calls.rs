//! Planning function calls over series: window functions, aggregations across series,
//! histograms, trend and anomaly tests, forecasts, and the rule-state functions (`score`,
//! `at_least`).

use super::plan::positional;
use super::{LowerError, Lowerer, Scope, err};
use crate::ir::series::*;
use crate::source::Span;
use crate::syntax::ast::{self, BinOp, Expr, ExprKind};

/// A call's arguments: positional, named, where it is written, and its `ago` offset.
struct Call<'a> {
    args: &'a [ast::Arg],
    pos: Vec<&'a Expr>,
    span: Span,
    offset: f64,
}

impl<'a> Call<'a> {
    fn named(&self, n: &str) -> Option<&'a ast::Arg> {
        self.args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|x| x.name == n))
    }
}

impl<'a> Lowerer<'a> {
    /// A function call as a series plan.
    pub(super) fn plan_call(
        &mut self,
        sc: &Scope<'a>,
        e: &'a Expr,
        name: &str,
        args: &'a [ast::Arg],
        group: Option<&'a ast::Grouping>,
    ) -> Result<SeriesExpr, LowerError> {
        let mut call = Call {
            args,
            pos: positional(args),
            span: e.span,
            offset: 0.0,
        };
        if let Some(a) = call.named("ago") {
            call.offset = self.constant(sc, &a.value)?;
        }
        let grouping = match group {
            Some(ast::Grouping::By(ls, _)) => {
                Some(Grouping::By(ls.iter().map(|l| l.name.clone()).collect()))
            }
            Some(ast::Grouping::Without(ls, _)) => Some(Grouping::Without(
                ls.iter().map(|l| l.name.clone()).collect(),
            )),
            _ => None,
        };
        if name == "histogram_quantile" || name == "histogram_fraction" {
            return self.plan_histogram(sc, &call, name == "histogram_fraction", grouping);
        }
        if let Some(group) = grouping {
            return self.plan_aggregate(sc, &call, name, group);
        }
        match name {
            "label_replace" | "label_join" => {
                let s = |i: usize| match call.pos.get(i).map(|e| &e.kind) {
                    Some(ExprKind::Str(s)) => Ok(s.clone()),
                    _ => err(
                        call.span,
                        format!("`{name}` takes string literals after the series"),
                    ),
                };
                let Some(inner) = call.pos.first().copied() else {
                    return err(call.span, format!("`{name}` takes a series"));
                };
                let how = if name == "label_replace" {
                    Relabel::Replace {
                        replacement: s(2)?,
                        src: s(3)?,
                        regex: s(4)?,
                    }
                } else {
                    Relabel::Join {
                        sep: s(2)?,
                        srcs: (3..call.pos.len()).map(s).collect::<Result<_, _>>()?,
                    }
                };
                Ok(SeriesExpr::Relabel {
                    inner: Box::new(self.plan(sc, inner)?),
                    dst: s(1)?,
                    how,
                })
            }
            "present" => match call.pos.first() {
                Some(inner) => Ok(SeriesExpr::Present(Box::new(self.plan(sc, inner)?))),
                None => err(call.span, "`present` takes a series"),
            },
            "time" => Ok(SeriesExpr::Time),
            "score" => self.plan_score(sc, call.pos.first().copied(), call.span),
            "at_least" => self.plan_at_least(sc, &call),
            "absent" if call.pos.len() == 1 => match self.plan(sc, call.pos[0])? {
                SeriesExpr::Instant { sel, .. } => Ok(SeriesExpr::Absent {
                    sel,
                    range: 300.0,
                    instant: true,
                }),
                inner => Ok(SeriesExpr::AbsentOf(Box::new(inner))),
            },
            "absent" => {
                let (sel, _) = self.window_selector(sc, call.pos.first().copied(), call.span)?;
                let (range, instant) = match call.pos.get(1) {
                    Some(w) => (self.constant(sc, w)?, false),
                    None => (300.0, true),
                };
                Ok(SeriesExpr::Absent {
                    sel,
                    range,
                    instant,
                })
            }
            "outside" => self.plan_outside(sc, &call),
            "anomaly" => self.plan_anomaly(sc, &call),
            "last" if call.pos.len() < 2 => {
                let (sel, _) = self.window_selector(sc, call.pos.first().copied(), call.span)?;
                Ok(SeriesExpr::Instant {
                    sel,
                    offset: call.offset,
                })
            }
            _ => self.plan_window(sc, &call, name),
        }
    }

    /// `histogram_quantile(q, x, w)`, `histogram_fraction(le v, x, w)`.
    fn plan_histogram(
        &mut self,
        sc: &Scope<'a>,
        call: &Call<'a>,
        fraction: bool,
        group: Option<Grouping>,
    ) -> Result<SeriesExpr, LowerError> {
        let pos = &call.pos;
        let (value, x, w) = if fraction {
            let Some(le) = call.named("le") else {
                return err(call.span, "histogram_fraction needs `le v`");
            };
            (self.constant(sc, &le.value)?, pos.first(), pos.get(1))
        } else {
            let Some(q) = pos.first() else {
                return err(call.span, "histogram_quantile needs a quantile");
            };
            if let (2, Some(buckets), None) = (pos.len(), pos.get(1), &group) {
                return Ok(SeriesExpr::BucketQuantile {
                    q: self.constant(sc, q)?,
                    inner: Box::new(self.plan(sc, buckets)?),
                });
            }
            (self.constant(sc, q)?, pos.get(1), pos.get(2))
        };
        let (sel, _) = self.window_selector(sc, x.copied(), call.span)?;
        let range = self.window_arg(sc, w.copied(), call.span)?;
        Ok(SeriesExpr::Histogram {
            fraction,
            value,
            sel,
            range,
            offset: call.offset,
            group,
        })
    }

    /// `sum(x) by [..]` and the other aggregations across series.
    fn plan_aggregate(
        &mut self,
        sc: &Scope<'a>,
        call: &Call<'a>,
        name: &str,
        group: Grouping,
    ) -> Result<SeriesExpr, LowerError> {
        let op = match name {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "count" => AggOp::Count,
            "count_distinct" => AggOp::CountDistinct,
            "stddev" => AggOp::Stddev,
            "quantile" => AggOp::Quantile,
            "variance" => AggOp::Variance,
            "topk" => AggOp::Topk,
            "bottomk" => AggOp::Bottomk,
            "group" => AggOp::Group,
            _ => {
                return err(
                    call.span,
                    format!("`{name}` does not aggregate across series"),
                );
            }
        };
        let (param, inner) = if matches!(op, AggOp::Quantile | AggOp::Topk | AggOp::Bottomk) {
            match (call.pos.first(), call.pos.get(1)) {
                (Some(q), Some(x)) => (self.constant(sc, q)?, *x),
                _ => {
                    return err(
                        call.span,
                        format!("`{name}` across series takes (param, x)"),
                    );
                }
            }
        } else {
            match call.pos.first() {
                Some(x) => (0.0, *x),
                None => return err(call.span, "an aggregate needs an expression"),
            }
        };
        Ok(SeriesExpr::Aggregate {
            op,
            param,
            inner: Box::new(self.plan(sc, inner)?),
            group,
        })
    }

    /// `at_least(n, [rules])`.
    fn plan_at_least(&mut self, sc: &Scope<'a>, call: &Call<'a>) -> Result<SeriesExpr, LowerError> {
        let (Some(n), Some(list)) = (call.pos.first(), call.pos.get(1)) else {
            return err(call.span, "at_least takes (n, [rules])");
        };
        let n = self.constant(sc, n)?;
        let ExprKind::List(items) = &list.kind else {
            return err(list.span, "at_least takes a list of rules");
        };
        let mut rules = Vec::new();
        for it in items {
            match self.plan(sc, it)? {
                SeriesExpr::RuleState(r) => rules.push(r),
                _ => return err(it.span, "at_least counts rules"),
            }
        }
        Ok(SeriesExpr::AtLeast(n, rules))
    }

    /// `outside(x, forecast holt_winters(x, period)[, bands k])`.
    fn plan_outside(&mut self, sc: &Scope<'a>, call: &Call<'a>) -> Result<SeriesExpr, LowerError> {
        let (sel, _) = self.window_selector(sc, call.pos.first().copied(), call.span)?;
        let Some(f) = call.named("forecast") else {
            return err(
                call.span,
                "outside needs `forecast holt_winters(x, period)`",
            );
        };
        let ExprKind::Call { args: fargs, .. } = &f.value.kind else {
            return err(f.value.span, "expected holt_winters(x, period)");
        };
        let fpos = positional(fargs);
        let period = self.window_arg(sc, fpos.get(1).copied(), f.value.span)?;
        let bands = match call.named("bands") {
            Some(b) => self.constant(sc, &b.value)?,
            None => 3.0,
        };
        Ok(SeriesExpr::Outside { sel, period, bands })
    }

    /// `anomaly(x, w, method m, season s, bands k)`.
    fn plan_anomaly(&mut self, sc: &Scope<'a>, call: &Call<'a>) -> Result<SeriesExpr, LowerError> {
        let (sel, _) = self.window_selector(sc, call.pos.first().copied(), call.span)?;
        let range = self.window_arg(sc, call.pos.get(1).copied(), call.span)?;
        let method = match call.named("method").map(|a| &a.value.kind) {
            Some(ExprKind::Ref { name, .. }) => match name.as_str() {
                "robust" => AnomalyMethod::Robust,
                "ewma" => AnomalyMethod::Ewma,
                "holt_winters" => AnomalyMethod::HoltWinters,
                _ => AnomalyMethod::Zscore,
            },
            _ => AnomalyMethod::Zscore,
        };
        let (season, calendar) = match call.named("season") {
            Some(a) if matches!(a.value.kind, ExprKind::Duration(_)) => {
                (Some(self.constant(sc, &a.value)?), None)
            }
            // A calendar: like with like on its open days (a day apart at least).
            Some(a) => match &a.value.kind {
                // Calendars are looked up by their own name (`pkg.xnys` is `xnys`).
                ExprKind::Ref { name, .. } => (
                    Some(86_400.0),
                    Some(name.rsplit('.').next().unwrap_or(name).to_string()),
                ),
                _ => (Some(86_400.0), None),
            },
            None => (None, None),
        };
        let bands = match call.named("bands") {
            Some(b) => self.constant(sc, &b.value)?,
            None => 3.0,
        };
        Ok(SeriesExpr::Anomaly {
            method,
            sel,
            range,
            season,
            calendar,
            bands,
            flag: false,
        })
    }

    /// A window function over one series: `avg(x, w)`, `rate`, `quantile(q, x, w)`,
    /// `predict(x, w, ahead d)`, `ewma(x[, w], alpha)`, ...
    fn plan_window(
        &mut self,
        sc: &Scope<'a>,
        call: &Call<'a>,
        name: &str,
    ) -> Result<SeriesExpr, LowerError> {
        let func = match window_fn(name) {
            Some(f) => f,
            None => {
                return err(
                    call.span,
                    format!("`{name}` is not evaluated over series yet"),
                );
            }
        };
        let pos = &call.pos;
        let (x, w, arg) = match func {
            WindowFn::Quantile => {
                let Some(q) = pos.first() else {
                    return err(call.span, "quantile takes (q, x, w)");
                };
                (pos.get(1), pos.get(2), self.constant(sc, q)?)
            }
            WindowFn::Predict => {
                let ahead = match call.named("ahead") {
                    Some(a) => self.constant(sc, &a.value)?,
                    None => return err(call.span, "predict needs `ahead d`"),
                };
                (pos.first(), pos.get(1), ahead)
            }
            WindowFn::Ewma => {
                // `ewma(x, alpha)` reads the lookback window; `ewma(x, w, alpha)` its own.
                let alpha = pos.last().filter(|_| pos.len() >= 2);
                let alpha = match alpha {
                    Some(a) => self.constant(sc, a)?,
                    None => return err(call.span, "ewma takes (x, alpha)"),
                };
                let w = if pos.len() >= 3 { pos.get(1) } else { None };
                (pos.first(), w, alpha)
            }
            _ => (pos.first(), pos.get(1), 0.0),
        };
        let (sel, _) = self.window_selector(sc, x.copied(), call.span)?;
        let range = match (func, w) {
            (WindowFn::Ewma, None) => 300.0,
            _ => self.window_arg(sc, w.copied(), call.span)?,
        };
        Ok(SeriesExpr::Window {
            func,
            sel,
            range,
            offset: call.offset,
            arg,
        })
    }

    /// `score(w1 * r1 + w2 * r2 ...)`.
    fn plan_score(
        &mut self,
        sc: &Scope<'a>,
        e: Option<&'a Expr>,
        span: Span,
    ) -> Result<SeriesExpr, LowerError> {
        let Some(e) = e else {
            return err(span, "score takes a weighted sum of rules");
        };
        let mut terms = Vec::new();
        let mut stack = vec![e];
        while let Some(x) = stack.pop() {
            match &x.kind {
                ExprKind::Binary {
                    op: BinOp::Add,
                    lhs,
                    rhs,
                    ..
                } => {
                    stack.push(rhs);
                    stack.push(lhs);
                }
                ExprKind::Binary {
                    op: BinOp::Mul,
                    lhs,
                    rhs,
                    ..
                } => {
                    let (w, r) = match (self.plan(sc, lhs)?, self.plan(sc, rhs)?) {
                        (SeriesExpr::Scalar(w), SeriesExpr::RuleState(r))
                        | (SeriesExpr::RuleState(r), SeriesExpr::Scalar(w)) => (w, r),
                        _ => return err(x.span, "score terms are `weight * rule`"),
                    };
                    terms.push((w, r));
                }
                _ => match self.plan(sc, x)? {
                    SeriesExpr::RuleState(r) => terms.push((1.0, r)),
                    _ => return err(x.span, "score terms are `weight * rule`"),
                },
            }
        }
        Ok(SeriesExpr::Score(terms))
    }
}

/// The window function a name calls.
fn window_fn(name: &str) -> Option<WindowFn> {
    Some(match name {
        "avg" => WindowFn::Avg,
        "sum" => WindowFn::Sum,
        "min" => WindowFn::Min,
        "max" => WindowFn::Max,
        "count" => WindowFn::Count,
        "last" => WindowFn::Last,
        "first" => WindowFn::First,
        "rate" => WindowFn::Rate,
        "irate" => WindowFn::Irate,
        "increase" => WindowFn::Increase,
        "delta" => WindowFn::Delta,
        "stddev" => WindowFn::Stddev,
        "variance" => WindowFn::Variance,
        "changes" => WindowFn::Changes,
        "slope" | "deriv" => WindowFn::Slope,
        "predict" => WindowFn::Predict,
        "quantile" => WindowFn::Quantile,
        "ewma" => WindowFn::Ewma,
        "zscore" => WindowFn::Zscore,
        "change" => WindowFn::Change,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn bucketable_names_and_functions_agree() {
        for name in [
            "avg", "sum", "min", "max", "count", "last", "first", "rate", "irate", "increase",
            "delta", "stddev", "variance", "changes", "slope", "deriv", "predict", "quantile",
            "ewma", "zscore", "change",
        ] {
            let f = super::window_fn(name).expect(name);
            assert_eq!(f.bucketable(), crate::retention::bucketable(name), "{name}");
        }
    }
}

//! Evaluating a vector expression at one time: instant reads, windows (sliding where
//! possible), aggregation and arithmetic, histograms, rule states for composites.

use super::histogram::{bucket_fraction, bucket_quantile};
use super::join::{aggregate, arith, combine, set};
use super::{AccSpec, LOOKBACK, VExpr, Vector, fires, union};
use crate::labels::{LabelId, Labels, Sym};
use crate::metric::incremental::Acc;
use crate::metric::rollup::Span;
use crate::metric::store::Store;
use crate::metric::window;
use std::collections::HashMap;
use vigil_compiler::ir::series::WindowFn;

/// How many series ahead a window asks for the sample its slide will drop (see
/// [`Acc::prefetch`]): far enough for the load to arrive, near enough to stay cached.
const PREFETCH_AHEAD: usize = 8;

/// Evaluation context for one time.
pub struct Eval<'a> {
    pub store: &'a Store,
    pub labels: &'a mut Labels,
    /// Per rule, as evaluated so far this tick: every label set it had data for, 1 when
    /// firing, else 0 (so composites see "not firing" as false, not as missing data).
    pub firing: &'a [Vec<(LabelId, f64)>],
    pub t: i64,
    pub scratch: &'a mut Vec<(i64, f64)>,
    pub fscratch: &'a mut Vec<f64>,
    /// Many-to-many matches met (label sets), for the diagnostics.
    pub match_conflicts: &'a mut u64,
    /// Per accumulator spec, one accumulator per selected series (by position).
    pub accs: &'a mut [Vec<Acc>],
    pub acc_specs: &'a [AccSpec],
    /// Per span spec, one span per selected series (by position).
    pub spans: &'a mut [Vec<Span>],
    /// The rules' firing alerts as series, as of the start of this evaluation (`ALERTS`).
    pub alerts: &'a [(LabelId, f64)],
}

impl Eval<'_> {
    pub(super) fn window_of(&mut self, series: u32, from: i64, to: i64) {
        self.scratch.clear();
        self.scratch
            .extend(self.store.series[series as usize].range(from, to));
    }

    /// Calls `row` with each row of `e` when `e` reads series directly (an instant read or a
    /// window function), in the order [`Eval::eval`] would write them, and says whether it
    /// did: a threshold over such a read is decided row by row without a vector in between.
    pub fn stream(&mut self, e: &VExpr, row: &mut impl FnMut(LabelId, f64)) -> bool {
        match e {
            VExpr::Instant { sel, offset } => self.instant(*sel, *offset, row),
            VExpr::Window { .. } => self.window(e, row),
            _ => return false,
        }
        true
    }

    /// The newest sample of each selected series within the lookback (none once stale).
    fn instant(&mut self, sel: usize, offset: i64, out: &mut impl FnMut(LabelId, f64)) {
        let t = self.t;
        let at = t - offset;
        for &s in self.store.selected(sel) {
            let series = &self.store.series[s as usize];
            if let Some((ts, v)) = series.at_or_before(at)
                && ts > at - LOOKBACK
                && series.stale.is_none_or(|m| m > at)
            {
                out(series.labels, v);
            }
        }
    }

    /// A window function of each selected series: from its sliding accumulator when it has
    /// one, else over the samples in the window.
    fn window(&mut self, e: &VExpr, out: &mut impl FnMut(LabelId, f64)) {
        let VExpr::Window {
            func,
            sel,
            range,
            offset,
            arg,
            change,
            acc,
            span,
        } = e
        else {
            return;
        };
        let t = self.t;
        let end = t - offset;
        let selected = self.store.selected(*sel);
        for (pos, &s) in selected.iter().enumerate() {
            if let Some(a) = acc
                && let (Some(&ahead), Some(next)) = (
                    selected.get(pos + PREFETCH_AHEAD),
                    self.accs[*a].get(pos + PREFETCH_AHEAD),
                )
            {
                next.prefetch(&self.store.series[ahead as usize]);
            }
            if let (Some(i), Some(r)) = (span, &self.store.series[s as usize].rollup) {
                let list = &mut self.spans[*i];
                if list.len() <= pos {
                    list.resize_with(pos + 1, Span::default);
                }
                // Off the grid (never at rule evaluation times) it falls through to raw samples.
                if list[pos].slide(r, end - range, end) {
                    if let Some(v) = list[pos].value(r, *func, end, *range) {
                        out(self.store.series[s as usize].labels, v);
                    }
                    continue;
                }
            }
            if let Some(a) = acc {
                let series = &self.store.series[s as usize];
                let list = &mut self.accs[*a];
                if list.len() <= pos {
                    let funcs = &self.acc_specs[*a].funcs;
                    list.resize_with(pos + 1, || Acc::for_funcs(funcs));
                }
                let acc = &mut list[pos];
                acc.slide(series, end - range, end);
                if !acc.needs_fresh() {
                    let last = acc.last(series).unwrap_or(f64::NAN);
                    if let Some(v) = acc.value(*func, *arg, last, end) {
                        out(series.labels, v);
                    }
                    continue;
                }
            }
            let labels = self.store.series[s as usize].labels;
            if *change {
                let series = &self.store.series[s as usize];
                let Some((_, last)) = series.at_or_before(end).filter(|x| x.0 > end - range) else {
                    continue;
                };
                let past = series.at_or_before(end - range);
                if let Some((pt, pv)) = past
                    && pt > end - range - LOOKBACK
                {
                    out(labels, last / pv - 1.0);
                }
                continue;
            }
            self.window_of(s, end - range, end);
            if let Some(v) = window::apply(*func, *arg, self.scratch, end, *range, self.fscratch) {
                out(labels, v);
            }
        }
    }

    /// `histogram_quantile`/`histogram_fraction`: bucket rates summed per group and `le`.
    fn histogram(&mut self, e: &VExpr, out: &mut Vector) {
        let VExpr::Hist {
            fraction,
            value,
            sel,
            range,
            offset,
            group,
            le,
        } = e
        else {
            return;
        };
        let t = self.t;
        let end = t - offset;
        // Rates of every bucket series, then summed per group (and `le`).
        let mut groups = Buckets::default();
        for &s in self.store.selected(*sel) {
            self.window_of(s, end - range, end);
            let Some(rate) = window::apply(
                WindowFn::Rate,
                0.0,
                self.scratch,
                end,
                *range,
                self.fscratch,
            ) else {
                continue;
            };
            let labels = self.store.series[s as usize].labels;
            let le_v = self.labels.get(labels, *le);
            let Ok(bound) = vigil_ingest::float(self.labels.str(le_v)) else {
                continue;
            };
            let key = match group {
                Some(g) => g.key(self.labels, labels),
                None => labels,
            };
            let key = self.labels.project(key, &[*le], false);
            groups.add(key, bound, rate);
        }
        for (key, mut b) in groups.groups {
            let v = if *fraction {
                bucket_fraction(*value, &mut b)
            } else {
                bucket_quantile(*value, &mut b)
            };
            out.push((key, v));
        }
    }

    /// PromQL's `histogram_quantile(q, v)`: `v`'s series grouped by their labels without `le`,
    /// each group's buckets (bound from `le`, value; equal bounds summed, as PromQL's
    /// `coalesceBuckets`) to a quantile. A series without a readable `le` is left out.
    fn buckets(&mut self, q: f64, v: &Vector, le: Sym, out: &mut Vector) {
        let mut groups = Buckets::default();
        for &(l, x) in v {
            let bound = self.labels.get(l, le);
            let Ok(bound) = vigil_ingest::float(self.labels.str(bound)) else {
                continue;
            };
            groups.add(self.labels.project(l, &[le], false), bound, x);
        }
        for (key, mut b) in groups.groups {
            out.push((key, bucket_quantile(q, &mut b)));
        }
    }

    /// Both operands' vectors, each flagged when it is a scalar (a number or `time()`).
    fn operands(&mut self, lhs: &VExpr, rhs: &VExpr) -> ((Vector, bool), (Vector, bool)) {
        let (mut a, mut b) = (Vector::new(), Vector::new());
        self.eval(lhs, &mut a);
        self.eval(rhs, &mut b);
        let scalar = |e: &VExpr| matches!(e, VExpr::Scalar(_) | VExpr::Time);
        ((a, scalar(lhs)), (b, scalar(rhs)))
    }

    pub fn eval(&mut self, e: &VExpr, out: &mut Vector) {
        out.clear();
        let t = self.t;
        match e {
            VExpr::Instant { sel, offset } => {
                self.instant(*sel, *offset, &mut |l, x| out.push((l, x)))
            }
            VExpr::Window { .. } => self.window(e, &mut |l, x| out.push((l, x))),
            VExpr::Scalar(v) => out.push((self.labels.intern(Vec::new()), *v)),
            VExpr::Time => out.push((self.labels.intern(Vec::new()), t as f64 / 1000.0)),
            VExpr::Agg {
                op,
                param,
                inner,
                group,
            } => {
                let mut v = Vector::new();
                self.eval(inner, &mut v);
                aggregate(self.labels, *op, *param, group, &v, out);
            }
            VExpr::Relabel { inner, dst, how } => {
                let mut v = Vector::new();
                self.eval(inner, &mut v);
                for (l, x) in v {
                    let l = relabel(self.labels, l, *dst, how).unwrap_or(l);
                    out.push((l, x));
                }
            }
            VExpr::Filter { inner, op, value } => {
                self.eval(inner, out);
                out.retain(|&(_, x)| op.num(x, *value));
            }
            VExpr::Compare {
                op,
                lhs,
                rhs,
                matching,
            } => {
                let ((a, scalar_l), (b, scalar_r)) = self.operands(lhs, rhs);
                // `time() > x` keeps `x`'s series and values, as PromQL's scalar comparisons do.
                let (op, (a, sa), (b, sb)) = if scalar_l && !scalar_r {
                    (op.flipped(), (&b, false), (&a, true))
                } else {
                    (*op, (&a, scalar_l), (&b, scalar_r))
                };
                combine(
                    self.labels,
                    |x, y| op.num(x, y).then_some(x),
                    (a, sa),
                    (b, sb),
                    matching.as_ref(),
                    out,
                    self.match_conflicts,
                );
            }
            VExpr::BucketQuantile { q, inner, le } => {
                let mut v = Vector::new();
                self.eval(inner, &mut v);
                self.buckets(*q, &v, *le, out);
            }
            VExpr::Alerts(sel) => {
                let s = &self.store.selectors[*sel];
                out.extend(
                    self.alerts
                        .iter()
                        .filter(|(l, _)| Store::matches(self.labels, *l, s)),
                );
            }
            VExpr::AbsentOf(inner, none) => {
                let mut v = Vector::new();
                self.eval(inner, &mut v);
                if v.is_empty() {
                    out.push((*none, 1.0));
                }
            }
            VExpr::Present(inner) => {
                self.eval(inner, out);
                for x in out.iter_mut() {
                    x.1 = 1.0;
                }
            }
            VExpr::Set {
                op,
                lhs,
                rhs,
                matching,
            } => {
                let ((a, _), (b, _)) = self.operands(lhs, rhs);
                set(self.labels, *op, &a, &b, matching.as_ref(), out);
            }
            VExpr::Arith {
                op,
                lhs,
                rhs,
                matching,
            } => {
                let ((a, scalar_l), (b, scalar_r)) = self.operands(lhs, rhs);
                arith(
                    self.labels,
                    *op,
                    (&a, scalar_l),
                    (&b, scalar_r),
                    matching.as_ref(),
                    out,
                    self.match_conflicts,
                );
            }
            VExpr::Hist { .. } => self.histogram(e, out),
            VExpr::Trend { .. } => self.trend(e, out),
            VExpr::Anomaly { .. } => self.anomaly(e, out),
            VExpr::Outside { sel, period, bands } => self.outside(*sel, *period, *bands, out),
            VExpr::Absent {
                sel,
                range,
                instant,
                labels,
            } => {
                let any = self.store.selected(*sel).iter().any(|&s| {
                    let series = &self.store.series[s as usize];
                    // An instant read ends at a staleness marker, as PromQL's `absent(x)`.
                    let stale = *instant && series.stale.is_some_and(|m| m <= t);
                    !stale && series.range(t - range, t).next().is_some()
                });
                if !any {
                    out.push((*labels, 1.0));
                }
            }
            VExpr::RuleState(r) => {
                if let Some(f) = self.firing.get(*r) {
                    out.extend_from_slice(f);
                }
            }
            VExpr::Score(terms) => {
                let sets = union(self.firing, terms.iter().map(|x| x.1));
                for l in sets {
                    let v: f64 = terms
                        .iter()
                        .filter(|(_, r)| fires(self.labels, &self.firing[*r], l))
                        .map(|(w, _)| w)
                        .sum();
                    out.push((l, v));
                }
            }
            VExpr::AtLeast(n, rules) => {
                let sets = union(self.firing, rules.iter().copied());
                for l in sets {
                    let c = rules
                        .iter()
                        .filter(|r| fires(self.labels, &self.firing[**r], l))
                        .count() as f64;
                    out.push((l, f64::from(u8::from(c >= *n))));
                }
            }
        }
    }
}

/// `l` with `dst` rewritten as `how` says; `None` when it stays as it is (a `label_replace`
/// whose regex does not match). An empty value removes the label, as in PromQL.
fn relabel(labels: &mut Labels, l: LabelId, dst: Sym, how: &super::VRelabel) -> Option<LabelId> {
    let value = match how {
        super::VRelabel::Replace {
            re,
            replacement,
            src,
        } => {
            let caps = re.captures(labels.str(labels.get(l, *src)))?;
            let mut out = String::new();
            caps.expand(replacement, &mut out);
            out
        }
        super::VRelabel::Join { sep, srcs } => {
            let mut out = String::new();
            for (i, s) in srcs.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                out.push_str(labels.str(labels.get(l, *s)));
            }
            out
        }
    };
    let mut pairs: Vec<(Sym, Sym)> = labels
        .pairs(l)
        .iter()
        .filter(|(k, _)| *k != dst)
        .copied()
        .collect();
    if !value.is_empty() {
        let v = labels.sym(&value);
        pairs.push((dst, v));
    }
    Some(labels.intern(pairs))
}

/// Histogram buckets per group, in first-seen group order: `(upper bound, value)`, equal
/// bounds summed (PromQL's `coalesceBuckets`).
#[derive(Default)]
struct Buckets {
    at: HashMap<LabelId, usize>,
    groups: Vec<(LabelId, Vec<(f64, f64)>)>,
}

impl Buckets {
    fn add(&mut self, key: LabelId, bound: f64, value: f64) {
        let i = *self.at.entry(key).or_insert_with(|| {
            self.groups.push((key, Vec::new()));
            self.groups.len() - 1
        });
        let g = &mut self.groups[i].1;
        match g.iter_mut().find(|b| b.0 == bound) {
            Some(b) => b.1 += value,
            None => g.push((bound, value)),
        }
    }
}

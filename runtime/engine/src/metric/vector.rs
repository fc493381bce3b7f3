//! The vector evaluator: a series plan ([`SeriesExpr`]) at one evaluation time, as one value
//! per label set. Selection, windows, aggregation and label matching are hash work here; the
//! per-row arithmetic and predicates are the compiled programs' (see `rows` and `engine`).

use crate::labels::{LabelId, Labels, Sym};
use crate::metric::incremental::Acc;
use crate::metric::stats;
use crate::metric::store::Store;
use crate::metric::window;
use std::collections::HashMap;
use vigil_compiler::ir::Arith;
use vigil_compiler::ir::series::*;

pub type Vector = Vec<(LabelId, f64)>;

/// `on`/`ignoring` (or by/without) resolved to symbols: `keep` is `on`/`by`.
#[derive(Debug, Clone)]
pub struct LabelSel {
    pub keep: bool,
    pub names: Vec<Sym>,
}

impl LabelSel {
    pub fn key(&self, labels: &mut Labels, id: LabelId) -> LabelId {
        labels.project(id, &self.names, self.keep)
    }
}

/// A series plan with selectors registered in the store and label names interned.
#[derive(Debug, Clone)]
pub enum VExpr {
    Instant {
        sel: usize,
        offset: i64,
    },
    Window {
        func: WindowFn,
        sel: usize,
        range: i64,
        offset: i64,
        arg: f64,
        change: bool,
        /// The accumulators of an incremental function (an index into `Eval::accs`).
        acc: Option<usize>,
    },
    Agg {
        op: AggOp,
        param: f64,
        inner: Box<VExpr>,
        group: LabelSel,
    },
    Arith {
        op: Arith,
        lhs: Box<VExpr>,
        rhs: Box<VExpr>,
        matching: Option<LabelSel>,
    },
    Scalar(f64),
    Hist {
        fraction: bool,
        value: f64,
        sel: usize,
        range: i64,
        offset: i64,
        group: Option<LabelSel>,
        le: Sym,
    },
    Trend {
        dir: TrendDir,
        method: TrendMethod,
        p: f64,
        sel: usize,
        range: i64,
    },
    Anomaly {
        method: AnomalyMethod,
        sel: usize,
        range: i64,
        season: Option<i64>,
        bands: f64,
        flag: bool,
    },
    Outside {
        sel: usize,
        period: i64,
        bands: f64,
    },
    Absent {
        sel: usize,
        range: i64,
        labels: LabelId,
    },
    Time,
    RuleState(usize),
    Score(Vec<(f64, usize)>),
    AtLeast(f64, Vec<usize>),
}

/// What compiling a plan needs from the engine.
pub struct Compile<'a> {
    pub store: &'a mut Store,
    pub labels: &'a mut Labels,
    pub rule: &'a str,
    pub rule_index: &'a HashMap<String, usize>,
    pub lateness_s: f64,
    /// Sliding accumulators so far: one per (selector, range, offset), shared by the
    /// functions over that window.
    pub accs: &'a mut Vec<AccSpec>,
}

/// The window an accumulator slides over, and the functions it serves.
#[derive(Debug, Clone)]
pub struct AccSpec {
    pub sel: usize,
    pub range: i64,
    pub offset: i64,
    pub funcs: Vec<WindowFn>,
}

use crate::time::ms;

impl Compile<'_> {
    fn sel(&mut self, s: &Selector, reach: f64) -> Result<usize, String> {
        self.store
            .selector(self.labels, s, reach + self.lateness_s, self.rule)
            .map_err(|e| format!("selector `{}`: {e}", s.metric))
    }
    fn grouping(&mut self, g: &Grouping) -> LabelSel {
        match g {
            Grouping::By(v) => LabelSel {
                keep: true,
                names: self.names(v),
            },
            Grouping::Without(v) => LabelSel {
                keep: false,
                names: self.names(v),
            },
        }
    }
    fn names(&mut self, v: &[String]) -> Vec<Sym> {
        v.iter().map(|n| self.labels.sym(n)).collect()
    }
    fn rule(&self, r: &str) -> Result<usize, String> {
        self.rule_index
            .get(r)
            .copied()
            .ok_or_else(|| format!("rule `{r}` is not evaluated over series"))
    }

    pub fn expr(&mut self, e: &SeriesExpr) -> Result<VExpr, String> {
        let reach = e.reach();
        Ok(match e {
            SeriesExpr::Instant { sel, offset } => VExpr::Instant {
                sel: self.sel(sel, reach)?,
                offset: ms(*offset),
            },
            SeriesExpr::Window {
                func,
                sel,
                range,
                offset,
                arg,
            } => {
                let change = *func == WindowFn::Change;
                let sel_id = self.sel(sel, reach + if change { 300.0 } else { 0.0 })?;
                let (range, offset) = (ms(*range), ms(*offset));
                let acc = if crate::metric::incremental::supported(*func) {
                    let found = self
                        .accs
                        .iter()
                        .position(|a| (a.sel, a.range, a.offset) == (sel_id, range, offset));
                    let i = found.unwrap_or_else(|| {
                        self.accs.push(AccSpec {
                            sel: sel_id,
                            range,
                            offset,
                            funcs: Vec::new(),
                        });
                        self.accs.len() - 1
                    });
                    if !self.accs[i].funcs.contains(func) {
                        self.accs[i].funcs.push(*func);
                    }
                    Some(i)
                } else {
                    None
                };
                VExpr::Window {
                    func: *func,
                    sel: sel_id,
                    range,
                    offset,
                    arg: *arg,
                    change,
                    acc,
                }
            }
            SeriesExpr::Aggregate {
                op,
                param,
                inner,
                group,
            } => {
                let group = self.grouping(group);
                VExpr::Agg {
                    op: *op,
                    param: *param,
                    inner: Box::new(self.expr(inner)?),
                    group,
                }
            }
            SeriesExpr::Arith {
                op,
                lhs,
                rhs,
                matching,
            } => VExpr::Arith {
                op: *op,
                lhs: Box::new(self.expr(lhs)?),
                rhs: Box::new(self.expr(rhs)?),
                matching: matching.as_ref().map(|m| LabelSel {
                    keep: m.on,
                    names: self.names(&m.labels),
                }),
            },
            SeriesExpr::Scalar(v) => VExpr::Scalar(*v),
            SeriesExpr::Histogram {
                fraction,
                value,
                sel,
                range,
                offset,
                group,
            } => {
                let mut bucket = sel.clone();
                bucket.metric = format!("{}_bucket", sel.metric);
                bucket.scale = 1.0;
                let le = self.labels.sym("le");
                // Buckets are summed per group and `le`.
                let group = group.as_ref().map(|g| {
                    let mut g = self.grouping(g);
                    if g.keep {
                        g.names.push(le);
                    }
                    g
                });
                VExpr::Hist {
                    fraction: *fraction,
                    value: *value,
                    sel: self.sel(&bucket, reach)?,
                    range: ms(*range),
                    offset: ms(*offset),
                    group,
                    le,
                }
            }
            SeriesExpr::Trend {
                dir,
                method,
                p,
                sel,
                range,
            } => VExpr::Trend {
                dir: *dir,
                method: *method,
                p: *p,
                sel: self.sel(sel, reach)?,
                range: ms(*range),
            },
            SeriesExpr::Anomaly {
                method,
                sel,
                range,
                season,
                bands,
                flag,
            } => VExpr::Anomaly {
                method: *method,
                sel: self.sel(sel, reach + 300.0)?,
                range: ms(*range),
                season: season.map(ms),
                bands: *bands,
                flag: *flag,
            },
            SeriesExpr::Outside { sel, period, bands } => VExpr::Outside {
                sel: self.sel(sel, reach)?,
                period: ms(*period),
                bands: *bands,
            },
            SeriesExpr::Absent { sel, range } => {
                let eq: Vec<(&str, &str)> = sel
                    .matchers
                    .iter()
                    .filter(|m| m.1 == vigil_vocab::MatchOp::Eq)
                    .map(|m| (m.0.as_str(), m.2.as_str()))
                    .collect();
                let labels = self.labels.intern_strs(eq);
                VExpr::Absent {
                    sel: self.sel(sel, reach)?,
                    range: ms(*range),
                    labels,
                }
            }
            SeriesExpr::Time => VExpr::Time,
            SeriesExpr::RuleState(r) => VExpr::RuleState(self.rule(r)?),
            SeriesExpr::Score(t) => VExpr::Score(
                t.iter()
                    .map(|(w, r)| Ok((*w, self.rule(r)?)))
                    .collect::<Result<_, String>>()?,
            ),
            SeriesExpr::AtLeast(n, rs) => VExpr::AtLeast(
                *n,
                rs.iter()
                    .map(|r| self.rule(r))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

/// The lookback of a bare series reference, ms.
pub const LOOKBACK: i64 = 300_000;

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
    pub many_to_many: &'a mut u64,
    /// Per accumulator spec, one accumulator per selected series (by position).
    pub accs: &'a mut [Vec<Acc>],
    pub acc_specs: &'a [AccSpec],
}

impl Eval<'_> {
    fn window_of(&mut self, series: u32, from: i64, to: i64) {
        self.scratch.clear();
        self.scratch
            .extend(self.store.series[series as usize].range(from, to));
    }

    pub fn eval(&mut self, e: &VExpr, out: &mut Vector) {
        out.clear();
        let t = self.t;
        match e {
            VExpr::Instant { sel, offset } => {
                let at = t - offset;
                for &s in self.store.selected(*sel) {
                    let series = &self.store.series[s as usize];
                    if let Some((ts, v)) = series.at_or_before(at)
                        && ts > at - LOOKBACK
                        && series.stale.is_none_or(|m| m > at)
                    {
                        out.push((series.labels, v));
                    }
                }
            }
            VExpr::Window {
                func,
                sel,
                range,
                offset,
                arg,
                change,
                acc,
            } => {
                let end = t - offset;
                for (pos, &s) in self.store.selected(*sel).iter().enumerate() {
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
                                out.push((series.labels, v));
                            }
                            continue;
                        }
                    }
                    let labels = self.store.series[s as usize].labels;
                    if *change {
                        let series = &self.store.series[s as usize];
                        let Some((_, last)) =
                            series.at_or_before(end).filter(|x| x.0 > end - range)
                        else {
                            continue;
                        };
                        let past = series.at_or_before(end - range);
                        if let Some((pt, pv)) = past
                            && pt > end - range - LOOKBACK
                        {
                            out.push((labels, last / pv - 1.0));
                        }
                        continue;
                    }
                    self.window_of(s, end - range, end);
                    if let Some(v) =
                        window::apply(*func, *arg, self.scratch, end, *range, self.fscratch)
                    {
                        out.push((labels, v));
                    }
                }
            }
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
            VExpr::Arith {
                op,
                lhs,
                rhs,
                matching,
            } => {
                let (mut a, mut b) = (Vector::new(), Vector::new());
                self.eval(lhs, &mut a);
                self.eval(rhs, &mut b);
                let scalar_l = matches!(**lhs, VExpr::Scalar(_) | VExpr::Time);
                let scalar_r = matches!(**rhs, VExpr::Scalar(_) | VExpr::Time);
                arith(
                    self.labels,
                    *op,
                    &a,
                    &b,
                    scalar_l,
                    scalar_r,
                    matching.as_ref(),
                    out,
                    self.many_to_many,
                );
            }
            VExpr::Hist {
                fraction,
                value,
                sel,
                range,
                offset,
                group,
                le,
            } => {
                let end = t - offset;
                // Rates of every bucket series, then summed per group (and `le`).
                let mut groups: HashMap<LabelId, Vec<(f64, f64)>> = HashMap::new();
                let mut order = Vec::new();
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
                    let e = groups.entry(key).or_insert_with(|| {
                        order.push(key);
                        Vec::new()
                    });
                    match e.iter_mut().find(|b| b.0 == bound) {
                        Some(b) => b.1 += rate,
                        None => e.push((bound, rate)),
                    }
                }
                for key in order {
                    let mut b = groups.remove(&key).unwrap_or_default();
                    let v = if *fraction {
                        bucket_fraction(*value, &mut b)
                    } else {
                        bucket_quantile(*value, &mut b)
                    };
                    out.push((key, v));
                }
            }
            VExpr::Trend {
                dir,
                method,
                p,
                sel,
                range,
            } => {
                for &s in self.store.selected(*sel) {
                    self.window_of(s, t - range, t);
                    let tested = match method {
                        TrendMethod::Regression => {
                            stats::slope_test(self.scratch).map(|(_, u, d, two)| (u, d, two))
                        }
                        TrendMethod::MannKendall => {
                            self.fscratch.clear();
                            self.fscratch.extend(self.scratch.iter().map(|x| x.1));
                            stats::mann_kendall_test(self.fscratch)
                        }
                    };
                    let Some((up, down, two)) = tested else {
                        continue;
                    };
                    let pv = match dir {
                        TrendDir::Increasing => up,
                        TrendDir::Decreasing => down,
                        TrendDir::Changing => two,
                    };
                    out.push((
                        self.store.series[s as usize].labels,
                        f64::from(u8::from(pv < *p)),
                    ));
                }
            }
            VExpr::Anomaly {
                method,
                sel,
                range,
                season,
                bands,
                flag,
            } => {
                for &s in self.store.selected(*sel) {
                    let series = &self.store.series[s as usize];
                    let labels = series.labels;
                    let score = match (method, season) {
                        (_, Some(period)) => {
                            // Seasonal baseline: the value at the same phase of each earlier
                            // season within the window, scored robustly.
                            let Some((_, last)) =
                                series.at_or_before(t).filter(|x| x.0 > t - LOOKBACK)
                            else {
                                continue;
                            };
                            self.fscratch.clear();
                            let mut k = 1;
                            while k * period <= *range {
                                let at = t - k * period;
                                if let Some((pt, pv)) = series.at_or_before(at)
                                    && pt > at - LOOKBACK
                                {
                                    self.fscratch.push(pv);
                                }
                                k += 1;
                            }
                            stats::robust(last, self.fscratch)
                        }
                        (m, None) => {
                            self.window_of(s, t - range, t);
                            self.fscratch.clear();
                            self.fscratch.extend(self.scratch.iter().map(|x| x.1));
                            match m {
                                AnomalyMethod::Zscore => stats::zscore(self.fscratch),
                                AnomalyMethod::Robust => {
                                    let Some(last) = self.fscratch.last().copied() else {
                                        continue;
                                    };
                                    let n = self.fscratch.len();
                                    stats::robust(last, &mut self.fscratch[..n - 1])
                                }
                                AnomalyMethod::Ewma => stats::ewma_score(self.fscratch),
                                AnomalyMethod::HoltWinters => stats::holt_winters(self.fscratch, 0)
                                    .and_then(|(f, sd)| {
                                        self.fscratch.last().map(|l| {
                                            if sd == 0.0 {
                                                if *l == f { 0.0 } else { f64::INFINITY }
                                            } else {
                                                (l - f) / sd
                                            }
                                        })
                                    }),
                            }
                        }
                    };
                    let Some(score) = score else { continue };
                    let v = if *flag {
                        f64::from(u8::from(score.abs() > *bands))
                    } else {
                        score
                    };
                    out.push((labels, v));
                }
            }
            VExpr::Outside { sel, period, bands } => {
                for &s in self.store.selected(*sel) {
                    self.window_of(s, t - 3 * period, t);
                    if self.scratch.len() < 3 {
                        continue;
                    }
                    let span = self.scratch[self.scratch.len() - 1].0 - self.scratch[0].0;
                    let step = span / (self.scratch.len() as i64 - 1).max(1);
                    let per = if step > 0 {
                        (*period / step) as usize
                    } else {
                        0
                    };
                    self.fscratch.clear();
                    self.fscratch.extend(self.scratch.iter().map(|x| x.1));
                    let Some((f, sd)) = stats::holt_winters(self.fscratch, per) else {
                        continue;
                    };
                    let last = self.fscratch[self.fscratch.len() - 1];
                    out.push((
                        self.store.series[s as usize].labels,
                        f64::from(u8::from((last - f).abs() > bands * sd)),
                    ));
                }
            }
            VExpr::Absent { sel, range, labels } => {
                let any = self.store.selected(*sel).iter().any(|&s| {
                    self.store.series[s as usize]
                        .range(t - range, t)
                        .next()
                        .is_some()
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

/// Whether a rule fires for an alert compatible with `l`.
fn fires(labels: &Labels, states: &[(LabelId, f64)], l: LabelId) -> bool {
    states
        .iter()
        .any(|(f, v)| *v != 0.0 && labels.compatible(*f, l))
}

/// Every label set the rules know about.
fn union(states: &[Vec<(LabelId, f64)>], rules: impl Iterator<Item = usize>) -> Vec<LabelId> {
    let mut v = Vec::new();
    for r in rules {
        for (l, _) in &states[r] {
            if !v.contains(l) {
                v.push(*l);
            }
        }
    }
    v
}

/// PromQL's `bucketQuantile` over `(upper bound, cumulative count)` pairs.
pub fn bucket_quantile(q: f64, b: &mut Vec<(f64, f64)>) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if !prepare(b) {
        return f64::NAN;
    }
    let total = b[b.len() - 1].1;
    if total == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * total;
    let i = b[..b.len() - 1].partition_point(|x| x.1 < rank);
    if i == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if i == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (mut start, end, mut count) = (0.0, b[i].0, b[i].1);
    if i > 0 {
        start = b[i - 1].0;
        count -= b[i - 1].1;
        rank -= b[i - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// The fraction of observations at or below `v`, interpolating linearly inside a bucket.
pub fn bucket_fraction(v: f64, b: &mut Vec<(f64, f64)>) -> f64 {
    if !prepare(b) {
        return f64::NAN;
    }
    let total = b[b.len() - 1].1;
    if total == 0.0 {
        return f64::NAN;
    }
    let i = b.partition_point(|x| x.0 < v);
    if i >= b.len() - 1 && v >= b[b.len() - 2].0 {
        return b[b.len() - 2].1 / total;
    }
    let (start, below) = if i == 0 {
        (0.0f64.min(b[0].0), 0.0)
    } else {
        b[i - 1]
    };
    let (end, upto) = b[i];
    let inside = if end > start {
        (v - start) / (end - start)
    } else {
        1.0
    };
    (below + (upto - below) * inside.clamp(0.0, 1.0)) / total
}

/// Sorts, merges equal bounds and makes counts monotonic; false when unusable.
fn prepare(b: &mut Vec<(f64, f64)>) -> bool {
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|x| x.0 != f64::INFINITY) {
        return false;
    }
    b.dedup_by(|x, y| {
        if x.0 == y.0 {
            y.1 += x.1;
            true
        } else {
            false
        }
    });
    let mut max = f64::NEG_INFINITY;
    for x in b.iter_mut() {
        if x.1 < max {
            x.1 = max;
        }
        max = x.1;
    }
    b.len() >= 2
}

/// Cross-series aggregation by label groups (first-seen group order).
pub fn aggregate(
    labels: &mut Labels,
    op: AggOp,
    param: f64,
    group: &LabelSel,
    v: &Vector,
    out: &mut Vector,
) {
    let mut groups: HashMap<LabelId, usize> = HashMap::new();
    let mut members: Vec<(LabelId, Vec<f64>)> = Vec::new();
    for &(l, x) in v {
        let k = group.key(labels, l);
        let i = *groups.entry(k).or_insert_with(|| {
            members.push((k, Vec::new()));
            members.len() - 1
        });
        members[i].1.push(x);
    }
    for (k, mut xs) in members {
        let pts: Vec<(i64, f64)> = xs.iter().map(|x| (0, *x)).collect();
        let r = match op {
            AggOp::Sum => window::sum(&pts),
            AggOp::Avg => window::mean(&pts),
            AggOp::Min => xs
                .iter()
                .fold(f64::NAN, |m, &x| if x < m || m.is_nan() { x } else { m }),
            AggOp::Max => xs
                .iter()
                .fold(f64::NAN, |m, &x| if x > m || m.is_nan() { x } else { m }),
            AggOp::Count => xs.len() as f64,
            AggOp::CountDistinct => {
                xs.sort_by(|a, b| a.total_cmp(b));
                xs.dedup_by(|a, b| a.to_bits() == b.to_bits());
                xs.len() as f64
            }
            AggOp::Stddev => window::variance(&pts).sqrt(),
            AggOp::Quantile => window::quantile(param, &mut xs),
        };
        out.push((k, r));
    }
}

fn apply(op: Arith, a: f64, b: f64) -> f64 {
    match op {
        Arith::Add => a + b,
        Arith::Sub => a - b,
        Arith::Mul => a * b,
        Arith::Div => a / b,
        Arith::Min => vigil_compiler::eval::ops::min(a, b),
        Arith::Max => vigil_compiler::eval::ops::max(a, b),
        Arith::Round => vigil_compiler::eval::ops::round_to(a, b),
    }
}

/// Vector arithmetic with PromQL matching: one-to-one keeps the matched labels (`on`) or drops
/// the ignored ones; the side with several series per key keeps its labels (many-to-one is
/// inferred); many-to-many matches are counted and dropped from the result.
#[allow(clippy::too_many_arguments)]
pub fn arith(
    labels: &mut Labels,
    op: Arith,
    a: &Vector,
    b: &Vector,
    scalar_l: bool,
    scalar_r: bool,
    matching: Option<&LabelSel>,
    out: &mut Vector,
    many_to_many: &mut u64,
) {
    if scalar_r {
        let y = b.first().map_or(f64::NAN, |x| x.1);
        out.extend(a.iter().map(|&(l, x)| (l, apply(op, x, y))));
        return;
    }
    if scalar_l {
        let x = a.first().map_or(f64::NAN, |x| x.1);
        out.extend(b.iter().map(|&(l, y)| (l, apply(op, x, y))));
        return;
    }
    let key = |labels: &mut Labels, l: LabelId| match matching {
        Some(m) => m.key(labels, l),
        None => l,
    };
    let mut bk: HashMap<LabelId, Vec<usize>> = HashMap::new();
    for (i, &(l, _)) in b.iter().enumerate() {
        let k = key(labels, l);
        bk.entry(k).or_default().push(i);
    }
    let mut ak: HashMap<LabelId, usize> = HashMap::new();
    let akeys: Vec<LabelId> = a.iter().map(|&(l, _)| key(labels, l)).collect();
    for k in &akeys {
        *ak.entry(*k).or_default() += 1;
    }
    for (i, &(l, x)) in a.iter().enumerate() {
        let k = akeys[i];
        let Some(bs) = bk.get(&k) else { continue };
        let many_a = ak[&k] > 1;
        if many_a && bs.len() > 1 {
            *many_to_many += 1;
            continue;
        }
        for &j in bs {
            let (lb, y) = b[j];
            let res = if many_a {
                l
            } else if bs.len() > 1 {
                lb
            } else {
                match matching {
                    Some(m) => m.key(labels, l),
                    None => l,
                }
            };
            out.push((res, apply(op, x, y)));
        }
    }
}

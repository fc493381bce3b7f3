//! Series plans: what the metric engine computes for each series slot of a program, and how a
//! program's rows are joined from them.
//!
//! A metric condition mixes two kinds of work. Label handling (selecting series, windows over
//! their samples, aggregation `by`/`without`, matching `on`/`ignoring`, `and`/`or`/`and not`)
//! is hash work done once per evaluation by the runtime; the per-row arithmetic and comparisons
//! are the program's nodes, run by the interpreter or the JIT. A [`SeriesExpr`] describes one
//! series slot (an *instant vector*: one value per label set); [`Rows`] says how the slots of one
//! program are joined into rows.

use super::Arith;
use vigil_vocab::MatchOp;
use vigil_vocab::template::duration;

/// `name{label op "value", ...}`, with the factor that brings samples to Vigil's base units
/// (0.001 for a millisecond series, so durations are seconds everywhere).
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<(String, MatchOp, String)>,
    pub scale: f64,
}

/// A window function over one series' samples in `(t - offset - range, t - offset]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowFn {
    Avg,
    Sum,
    Min,
    Max,
    Count,
    Last,
    First,
    Rate,
    Irate,
    Increase,
    Delta,
    Stddev,
    Variance,
    Changes,
    Slope,
    /// `predict(x, w, ahead d)`: `arg` is `d` in seconds.
    Predict,
    /// `quantile(q, x, w)`: `arg` is `q`.
    Quantile,
    /// `ewma(x, alpha)` over the window: `arg` is `alpha`.
    Ewma,
    /// `(last - mean) / stddev` over the window.
    Zscore,
    /// `last / (value one window ago) - 1`.
    Change,
}

/// Cross-series aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    CountDistinct,
    Stddev,
    /// `quantile(q, x) by [..]` across series: `param` is `q`.
    Quantile,
    Variance,
    /// `topk(k, x) by [..]`: the `param` largest series of each group, with their labels.
    Topk,
    Bottomk,
    /// 1 per group (PromQL's `group`).
    Group,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

/// `on [..]` (`on` true) or `ignoring [..]`, with PromQL's cardinality: one-to-one unless a
/// group modifier says which side may hold several series per key.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMatch {
    pub on: bool,
    pub labels: Vec<String>,
    pub group: Option<GroupSide>,
}

/// `group_left [extra]` (`left`) or `group_right [extra]`: that side is the "many" and keeps
/// its labels; `extra` labels are copied from the other side (removed where it lacks them).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSide {
    pub left: bool,
    pub extra: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendDir {
    Increasing,
    Decreasing,
    Changing,
}

/// How `trend` tests significance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendMethod {
    /// t-test of the least-squares slope.
    Regression,
    /// Mann-Kendall rank test.
    MannKendall,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyMethod {
    Zscore,
    Robust,
    Ewma,
    HoltWinters,
}

/// One series slot's value per label set at an evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesExpr {
    /// The latest sample at or before `t - offset`, no older than the lookback (5m).
    Instant { sel: Selector, offset: f64 },
    Window {
        func: WindowFn,
        sel: Selector,
        range: f64,
        offset: f64,
        arg: f64,
    },
    /// A cross-series aggregate of an inner vector.
    Aggregate {
        op: AggOp,
        param: f64,
        inner: Box<SeriesExpr>,
        group: Grouping,
    },
    /// The series of `inner` whose value compares true with a constant (`count(m > 50) by
    /// [job]`, PromQL's filtering comparison): their values kept, the others dropped.
    Filter {
        inner: Box<SeriesExpr>,
        op: super::CmpOp,
        value: f64,
    },
    /// Arithmetic between vectors (inside an aggregate), label-matched.
    Arith {
        op: Arith,
        lhs: Box<SeriesExpr>,
        rhs: Box<SeriesExpr>,
        matching: Option<LabelMatch>,
    },
    /// A comparison between two vectors used as a value (PromQL's filtering comparison,
    /// `x - (y > z)`): `lhs`'s series where it compares true with their match in `rhs`,
    /// matched as arithmetic is, keeping `lhs`'s values.
    Compare {
        op: super::CmpOp,
        lhs: Box<SeriesExpr>,
        rhs: Box<SeriesExpr>,
        matching: Option<LabelMatch>,
    },
    /// `ALERTS{..}`: every firing alert of the metric rules as of the start of the evaluation
    /// (Prometheus's series), labelled with its labels, `alertname`, `alertstate="firing"` and
    /// `severity`, value 1; the selector's matchers pick among them.
    Alerts(Selector),
    /// `absent(expr)` of a computed series (`absent(up == 1)`): 1 without labels when `inner`
    /// has no series, as PromQL's.
    AbsentOf(Box<SeriesExpr>),
    /// `histogram_quantile(q, buckets)`: per label set without `le`, the q-quantile of the
    /// buckets `inner` gives (their `le` bounds and values), as PromQL computes it.
    BucketQuantile { q: f64, inner: Box<SeriesExpr> },
    /// `present(x)`: 1 for every series of `inner`, whatever its value (PromQL fires an alert
    /// for every series a bare expression yields).
    Present(Box<SeriesExpr>),
    /// A set operator on values (PromQL's `and`, `or`, `unless`): series are kept whole, with
    /// their labels and values; `on`/`ignoring` say which labels must agree.
    Set {
        op: SetOp,
        lhs: Box<SeriesExpr>,
        rhs: Box<SeriesExpr>,
        matching: Option<LabelMatch>,
    },
    /// A number, the same for every label set.
    Scalar(f64),
    /// `histogram_quantile(q, x, w)` (`fraction` false; `value` is q) or
    /// `histogram_fraction(le v, x, w)` (`fraction` true; `value` is v) over the rates of the
    /// `x_bucket` family, grouped by every label but `le` or by `group`.
    Histogram {
        fraction: bool,
        value: f64,
        sel: Selector,
        range: f64,
        offset: f64,
        group: Option<Grouping>,
    },
    /// `trend(x, w) is dir [with p < p]`: 1 when significant in that direction, else 0.
    Trend {
        dir: TrendDir,
        method: TrendMethod,
        p: f64,
        sel: Selector,
        range: f64,
    },
    /// `anomaly(x, w, ...)` as a score, or (`flag`) the bare condition "score above the
    /// method's bound" as 1/0.
    Anomaly {
        method: AnomalyMethod,
        sel: Selector,
        range: f64,
        season: Option<f64>,
        /// `season CAL`: the baseline is the same offset into the same session on the
        /// calendar's earlier open days (the calendar's name in `Ir::routing.calendars`).
        calendar: Option<String>,
        bands: f64,
        flag: bool,
    },
    /// `outside(x, forecast holt_winters(x, period))`: 1 when the last sample leaves the band.
    Outside {
        sel: Selector,
        period: f64,
        bands: f64,
    },
    /// `absent(x[, w])`: 1 for the selector's own labels when no series has a sample. Without
    /// a window (`instant`) it is PromQL's instant read: a staleness marker ends a series at
    /// once, and `range` is the lookback.
    Absent {
        sel: Selector,
        range: f64,
        instant: bool,
    },
    /// `time()`.
    Time,
    /// `label_replace(x, dst, replacement, src, regex)` / `label_join(x, dst, sep, src..)`:
    /// `inner`'s series with label `dst` rewritten (PromQL's).
    Relabel {
        inner: Box<SeriesExpr>,
        dst: String,
        how: Relabel,
    },
    /// Whether a rule fires, per alert label set (composites).
    RuleState(String),
    /// `score(w1 * r1 + ...)`: the sum of the weights of the rules that fire.
    Score(Vec<(f64, String)>),
    /// `at_least(n, [r..])`: 1 when at least n of the rules fire.
    AtLeast(f64, Vec<String>),
}

/// PromQL's set operators on values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// `a and b`: `a`'s series that have a match in `b`.
    And,
    /// `a or b`: all of `a`'s, and `b`'s that have no match in `a`.
    Or,
    /// `a and not b` (PromQL's `unless`): `a`'s series without a match in `b`.
    Unless,
}

impl std::fmt::Display for SetOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SetOp::And => "and",
            SetOp::Or => "or",
            SetOp::Unless => "and not",
        })
    }
}

/// How [`SeriesExpr::Relabel`] makes the new value.
#[derive(Debug, Clone, PartialEq)]
pub enum Relabel {
    /// When `regex` (anchored) matches `src`'s value, `dst` is `replacement` with `$1`,
    /// `${name}` expanded; otherwise the series is unchanged.
    Replace {
        replacement: String,
        src: String,
        regex: String,
    },
    /// `dst` is the values of `srcs` joined by `sep`.
    Join { sep: String, srcs: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Both sides must have the row (`and`, arithmetic, comparisons).
    Inner,
    /// Either side (`or`).
    Outer,
    /// Every left row, with the right side's values where it has them (`and not`).
    Left,
}

/// How one program's series slots are joined into rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    /// No series at all: one row without labels.
    Scalar,
    /// One series slot's vector.
    Leaf(u32),
    Join {
        kind: JoinKind,
        /// An arithmetic or comparison operator (not `and`/`or`): one-to-one results keep
        /// only the matched labels (PromQL's `on`), or lose the ignored ones (`ignoring`).
        arith: bool,
        matching: Option<LabelMatch>,
        lhs: Box<Rows>,
        rhs: Box<Rows>,
    },
}

impl Rows {
    /// Every series slot this plan reads.
    pub fn leaves(&self, out: &mut Vec<u32>) {
        match self {
            Rows::Scalar => {}
            Rows::Leaf(s) => {
                if !out.contains(s) {
                    out.push(*s)
                }
            }
            Rows::Join { lhs, rhs, .. } => {
                lhs.leaves(out);
                rhs.leaves(out);
            }
        }
    }
}

impl SeriesExpr {
    /// How far back this expression reads, in seconds (window + offset + lookback), so the
    /// store keeps no more than rules need.
    pub fn reach(&self) -> f64 {
        const LOOKBACK: f64 = 300.0;
        match self {
            SeriesExpr::Instant { offset, .. } => offset + LOOKBACK,
            SeriesExpr::Window {
                func,
                range,
                offset,
                ..
            } => {
                let r = if *func == WindowFn::Change {
                    2.0 * range
                } else {
                    *range
                };
                r + offset
            }
            SeriesExpr::Aggregate { inner, .. }
            | SeriesExpr::Filter { inner, .. }
            | SeriesExpr::Relabel { inner, .. }
            | SeriesExpr::Present(inner)
            | SeriesExpr::AbsentOf(inner)
            | SeriesExpr::BucketQuantile { inner, .. } => inner.reach(),
            SeriesExpr::Arith { lhs, rhs, .. }
            | SeriesExpr::Compare { lhs, rhs, .. }
            | SeriesExpr::Set { lhs, rhs, .. } => lhs.reach().max(rhs.reach()),
            SeriesExpr::Histogram { range, offset, .. } => range + offset,
            SeriesExpr::Trend { range, .. } | SeriesExpr::Absent { range, .. } => *range,
            SeriesExpr::Anomaly { range, season, .. } => range + season.unwrap_or(0.0),
            SeriesExpr::Outside { period, .. } => 3.0 * period,
            _ => 0.0,
        }
    }
    /// The selectors this expression reads (so ingest can skip series no rule reads).
    pub fn selectors<'a>(&'a self, out: &mut Vec<&'a Selector>) {
        match self {
            SeriesExpr::Instant { sel, .. }
            | SeriesExpr::Window { sel, .. }
            | SeriesExpr::Histogram { sel, .. }
            | SeriesExpr::Trend { sel, .. }
            | SeriesExpr::Anomaly { sel, .. }
            | SeriesExpr::Outside { sel, .. }
            | SeriesExpr::Absent { sel, .. } => out.push(sel),
            SeriesExpr::Aggregate { inner, .. }
            | SeriesExpr::Filter { inner, .. }
            | SeriesExpr::Relabel { inner, .. }
            | SeriesExpr::Present(inner)
            | SeriesExpr::AbsentOf(inner)
            | SeriesExpr::BucketQuantile { inner, .. } => inner.selectors(out),
            SeriesExpr::Arith { lhs, rhs, .. }
            | SeriesExpr::Compare { lhs, rhs, .. }
            | SeriesExpr::Set { lhs, rhs, .. } => {
                lhs.selectors(out);
                rhs.selectors(out);
            }
            _ => {}
        }
    }
    /// The rules this expression reads (composites), `pkg.name`.
    pub fn rules(&self) -> Vec<&str> {
        match self {
            SeriesExpr::RuleState(r) => vec![r],
            SeriesExpr::Score(t) => t.iter().map(|(_, r)| r.as_str()).collect(),
            SeriesExpr::AtLeast(_, rs) => rs.iter().map(String::as_str).collect(),
            SeriesExpr::Aggregate { inner, .. }
            | SeriesExpr::Filter { inner, .. }
            | SeriesExpr::Relabel { inner, .. }
            | SeriesExpr::Present(inner)
            | SeriesExpr::AbsentOf(inner)
            | SeriesExpr::BucketQuantile { inner, .. } => inner.rules(),
            SeriesExpr::Arith { lhs, rhs, .. }
            | SeriesExpr::Compare { lhs, rhs, .. }
            | SeriesExpr::Set { lhs, rhs, .. } => {
                let mut v = lhs.rules();
                v.extend(rhs.rules());
                v
            }
            _ => Vec::new(),
        }
    }
}

pub use crate::retention::{BUCKETS_FROM_MS, Keep, MAX_BUCKETS, MAX_SERIES_SAMPLES, gcd};

impl WindowFn {
    /// Exact from per-bucket partial aggregates (the variants of [`crate::retention::bucketable`]).
    pub fn bucketable(self) -> bool {
        use WindowFn::*;
        matches!(
            self,
            Avg | Sum
                | Min
                | Max
                | Count
                | First
                | Last
                | Stddev
                | Variance
                | Zscore
                | Rate
                | Increase
                | Delta
                | Changes
        )
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.metric)?;
        if !self.matchers.is_empty() {
            let m: Vec<String> = self
                .matchers
                .iter()
                .map(|(l, op, v)| format!("{l}{op}{v:?}"))
                .collect();
            write!(f, "{{{}}}", m.join(", "))?;
        }
        Ok(())
    }
}

/// Source-like text of a series slot, for traces (`avg(cpu_usage, 5m)`).
impl std::fmt::Display for SeriesExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ago = |o: &f64| {
            if *o > 0.0 {
                format!(", ago {}", duration(*o))
            } else {
                String::new()
            }
        };
        match self {
            SeriesExpr::Instant { sel, offset } if *offset > 0.0 => {
                write!(f, "last({sel}{})", ago(offset))
            }
            SeriesExpr::Instant { sel, .. } => write!(f, "{sel}"),
            SeriesExpr::Window {
                func,
                sel,
                range,
                offset,
                ..
            } => {
                let name = format!("{func:?}").to_lowercase();
                write!(f, "{name}({sel}, {}{})", duration(*range), ago(offset))
            }
            SeriesExpr::Aggregate {
                op, inner, group, ..
            } => {
                let name = format!("{op:?}").to_lowercase();
                let (kw, l) = match group {
                    Grouping::By(l) => ("by", l),
                    Grouping::Without(l) => ("without", l),
                };
                write!(f, "{name}({inner}) {kw} [{}]", l.join(", "))
            }
            SeriesExpr::Filter { inner, op, value } => write!(f, "({inner} {op} {value})"),
            SeriesExpr::Arith { op, lhs, rhs, .. } => write!(f, "({lhs} {op} {rhs})"),
            SeriesExpr::Compare { op, lhs, rhs, .. } => write!(f, "({lhs} {op} {rhs})"),
            SeriesExpr::Set { op, lhs, rhs, .. } => write!(f, "({lhs} {op} {rhs})"),
            SeriesExpr::Present(inner) => write!(f, "present({inner})"),
            SeriesExpr::Alerts(_) => f.write_str("ALERTS"),
            SeriesExpr::AbsentOf(inner) => write!(f, "absent({inner})"),
            SeriesExpr::BucketQuantile { q, inner } => {
                write!(f, "histogram_quantile({q}, {inner})")
            }
            SeriesExpr::Scalar(v) => write!(f, "{v}"),
            SeriesExpr::Histogram {
                fraction,
                value,
                sel,
                range,
                ..
            } => {
                let name = if *fraction {
                    "histogram_fraction"
                } else {
                    "histogram_quantile"
                };
                write!(f, "{name}({value}, {sel}, {})", duration(*range))
            }
            SeriesExpr::Trend {
                dir, sel, range, ..
            } => {
                write!(f, "trend({sel}, {}) is {dir:?}", duration(*range))
            }
            SeriesExpr::Anomaly { sel, range, .. } => {
                write!(f, "anomaly({sel}, {})", duration(*range))
            }
            SeriesExpr::Outside { sel, period, .. } => {
                write!(f, "outside({sel}, {})", duration(*period))
            }
            SeriesExpr::Absent { sel, .. } => write!(f, "absent({sel})"),
            SeriesExpr::Time => write!(f, "time()"),
            SeriesExpr::Relabel { inner, dst, how } => match how {
                Relabel::Replace {
                    replacement,
                    src,
                    regex,
                } => write!(
                    f,
                    "label_replace({inner}, {dst:?}, {replacement:?}, {src:?}, {regex:?})"
                ),
                Relabel::Join { sep, srcs } => {
                    write!(f, "label_join({inner}, {dst:?}, {sep:?}, {srcs:?})")
                }
            },
            SeriesExpr::RuleState(r) => write!(f, "{r}"),
            SeriesExpr::Score(t) => {
                let t: Vec<String> = t.iter().map(|(w, r)| format!("{w} * {r}")).collect();
                write!(f, "score({})", t.join(" + "))
            }
            SeriesExpr::AtLeast(n, rs) => write!(f, "at_least({n}, [{}])", rs.join(", ")),
        }
    }
}

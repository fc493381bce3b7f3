//! The vector evaluator: a series plan ([`SeriesExpr`]) at one evaluation time, as one value
//! per label set. Selection, windows, aggregation and label matching are hash work here; the
//! per-row arithmetic and predicates are the compiled programs' (see `rows` and `engine`).

mod compile;
mod detect;
mod eval;
mod histogram;
mod join;

pub use compile::{AccSpec, Compile};
pub use eval::Eval;
pub use histogram::{bucket_fraction, bucket_quantile};
pub use join::{aggregate, arith};

use crate::labels::{LabelId, Labels, Sym};
use vigil_compiler::ir::Arith;
use vigil_compiler::ir::series::*;

pub type Vector = Vec<(LabelId, f64)>;

/// `on`/`ignoring` (or by/without) resolved to symbols: `keep` is `on`/`by`.
#[derive(Debug, Clone)]
pub struct LabelSel {
    pub keep: bool,
    pub names: Vec<Sym>,
    /// Matching only: `group_left` (true) / `group_right` and the labels to copy from the
    /// "one" side; `None` is one-to-one.
    pub group: Option<(bool, Vec<Sym>)>,
}

impl LabelSel {
    pub fn grouping(keep: bool, names: Vec<Sym>) -> LabelSel {
        LabelSel {
            keep,
            names,
            group: None,
        }
    }
    /// A matching, with its group modifier.
    pub fn matching(m: &LabelMatch, labels: &mut Labels) -> LabelSel {
        LabelSel {
            keep: m.on,
            names: m.labels.iter().map(|n| labels.sym(n)).collect(),
            group: m.group.as_ref().map(|g| {
                let extra = g.extra.iter().map(|n| labels.sym(n)).collect();
                (g.left, extra)
            }),
        }
    }
    pub fn key(&self, labels: &mut Labels, id: LabelId) -> LabelId {
        labels.project(id, &self.names, self.keep)
    }
    /// The labels of a matched pair: the key (one-to-one), or the "many" side's labels with
    /// the extra labels taken from the "one" side (PromQL's `group_left(extra)`).
    pub fn result(
        &self,
        labels: &mut Labels,
        key: LabelId,
        many: LabelId,
        one: LabelId,
    ) -> LabelId {
        match &self.group {
            None => key,
            Some((_, extra)) if extra.is_empty() => many,
            Some((_, extra)) => labels.copy_from(many, one, extra),
        }
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
        /// A long window served from buckets (an index into `Eval::spans`).
        span: Option<usize>,
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
    /// `lhs`'s series where they compare true with their match in `rhs` (PromQL's
    /// filtering comparison between vectors), with `lhs`'s values.
    Compare {
        op: vigil_compiler::ir::CmpOp,
        lhs: Box<VExpr>,
        rhs: Box<VExpr>,
        matching: Option<LabelSel>,
    },
    /// `histogram_quantile(q, buckets)` over the inner vector's `le` buckets.
    BucketQuantile {
        q: f64,
        inner: Box<VExpr>,
        le: Sym,
    },
    /// The rules' firing alerts as series (`ALERTS{..}`; the store selector holds the
    /// matchers, never samples).
    Alerts(usize),
    /// 1 without labels when the inner vector is empty (`absent(up == 1)`).
    AbsentOf(Box<VExpr>, LabelId),
    /// 1 for every series of the inner vector (`present(x)`).
    Present(Box<VExpr>),
    /// PromQL's `and`, `or`, `unless` on whole series.
    Set {
        op: SetOp,
        lhs: Box<VExpr>,
        rhs: Box<VExpr>,
        matching: Option<LabelSel>,
    },
    /// `inner` with label `dst` rewritten (`label_replace`, `label_join`).
    Relabel {
        inner: Box<VExpr>,
        dst: Sym,
        how: VRelabel,
    },
    /// The series of `inner` whose value compares true with `value`.
    Filter {
        inner: Box<VExpr>,
        op: vigil_compiler::ir::CmpOp,
        value: f64,
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
        /// `season CAL`: earlier openings of the same session, closed days skipped.
        calendar: Option<vigil_vocab::calendar::Calendar>,
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
        /// No window written: a staleness marker ends a series at once.
        instant: bool,
        labels: LabelId,
    },
    Time,
    RuleState(usize),
    Score(Vec<(f64, usize)>),
    AtLeast(f64, Vec<usize>),
}

/// How [`VExpr::Relabel`] makes the new value.
#[derive(Debug, Clone)]
pub enum VRelabel {
    /// PromQL's `label_replace`: where `re` (anchored) matches `src`, `dst` is `replacement`
    /// expanded; elsewhere the series is unchanged.
    Replace {
        re: regex::Regex,
        replacement: String,
        src: Sym,
    },
    /// PromQL's `label_join`.
    Join { sep: String, srcs: Vec<Sym> },
}

/// The lookback of a bare series reference, ms.
pub const LOOKBACK: i64 = 300_000;

/// Whether a rule fires for an alert compatible with `l`.
pub(super) fn fires(labels: &Labels, states: &[(LabelId, f64)], l: LabelId) -> bool {
    states
        .iter()
        .any(|(f, v)| *v != 0.0 && labels.compatible(*f, l))
}

/// Every label set the rules know about.
pub(super) fn union(
    states: &[Vec<(LabelId, f64)>],
    rules: impl Iterator<Item = usize>,
) -> Vec<LabelId> {
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

//! Aggregation across series by label groups, arithmetic and filtering comparisons between
//! two vectors with PromQL's vector matching, and PromQL's set operators.

use super::{LabelSel, Vector};
use crate::labels::{LabelId, Labels};
use crate::metric::window;
use std::collections::{HashMap, HashSet};
use vigil_compiler::ir::Arith;
use vigil_compiler::ir::series::{AggOp, SetOp};

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
    let mut members: Vec<(LabelId, Vec<f64>, Vec<LabelId>)> = Vec::new();
    for &(l, x) in v {
        let k = group.key(labels, l);
        let i = *groups.entry(k).or_insert_with(|| {
            members.push((k, Vec::new(), Vec::new()));
            members.len() - 1
        });
        members[i].1.push(x);
        // Only topk/bottomk report the members' own labels.
        if matches!(op, AggOp::Topk | AggOp::Bottomk) {
            members[i].2.push(l);
        }
    }
    for (k, mut xs, series) in members {
        if matches!(op, AggOp::Topk | AggOp::Bottomk) {
            // PromQL's order: largest (smallest) first, NaN last; ties keep arrival order.
            let mut idx: Vec<usize> = (0..xs.len()).collect();
            let top = op == AggOp::Topk;
            idx.sort_by(|&a, &b| {
                let (x, y) = (xs[a], xs[b]);
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if top => y.total_cmp(&x),
                    _ => x.total_cmp(&y),
                }
            });
            let n = if param.is_finite() && param >= 1.0 {
                param as usize
            } else {
                0
            };
            for &i in idx.iter().take(n) {
                out.push((series[i], xs[i]));
            }
            continue;
        }
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
            AggOp::Variance => window::variance(&pts),
            AggOp::Group => 1.0,
            AggOp::Topk | AggOp::Bottomk => continue,
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
/// the ignored ones; with `group_left`/`group_right` the "many" side keeps its labels (plus the
/// extra ones copied). A key with several series where one is required is a conflict: counted
/// and left out of the result (PromQL fails the whole query instead).
pub fn arith(
    labels: &mut Labels,
    op: Arith,
    a: (&Vector, bool),
    b: (&Vector, bool),
    matching: Option<&LabelSel>,
    out: &mut Vector,
    conflicts: &mut u64,
) {
    combine(
        labels,
        |x, y| Some(apply(op, x, y)),
        a,
        b,
        matching,
        out,
        conflicts,
    );
}

/// Pairs the series of `a` and `b` as [`arith`] does (each side flagged when it is a scalar)
/// and keeps `f(x, y)` where it is `Some`: arithmetic always is, a filtering comparison only
/// where it holds.
pub fn combine(
    labels: &mut Labels,
    f: impl Fn(f64, f64) -> Option<f64>,
    (a, scalar_l): (&Vector, bool),
    (b, scalar_r): (&Vector, bool),
    matching: Option<&LabelSel>,
    out: &mut Vector,
    conflicts: &mut u64,
) {
    if scalar_r {
        let y = b.first().map_or(f64::NAN, |x| x.1);
        out.extend(a.iter().filter_map(|&(l, x)| Some((l, f(x, y)?))));
        return;
    }
    if scalar_l {
        let x = a.first().map_or(f64::NAN, |x| x.1);
        out.extend(b.iter().filter_map(|&(l, y)| Some((l, f(x, y)?))));
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
    let akeys: Vec<LabelId> = a.iter().map(|&(l, _)| key(labels, l)).collect();
    let mut ak: HashMap<LabelId, usize> = HashMap::new();
    for k in &akeys {
        *ak.entry(*k).or_default() += 1;
    }
    let many_left = matching.and_then(|m| m.group.as_ref()).map(|g| g.0);
    for (i, &(l, x)) in a.iter().enumerate() {
        let k = akeys[i];
        let Some(bs) = bk.get(&k) else { continue };
        match (matching, many_left) {
            (Some(m), Some(false)) => {
                if ak[&k] > 1 {
                    *conflicts += 1;
                    continue;
                }
                for &j in bs {
                    let (lb, y) = b[j];
                    if let Some(v) = f(x, y) {
                        out.push((m.result(labels, k, lb, l), v));
                    }
                }
            }
            _ => {
                let one_left = many_left.is_none() && ak[&k] > 1;
                if bs.len() > 1 || one_left {
                    *conflicts += 1;
                    continue;
                }
                let (lb, y) = b[bs[0]];
                let Some(v) = f(x, y) else { continue };
                let res = match matching {
                    Some(m) => m.result(labels, k, l, lb),
                    None => l,
                };
                out.push((res, v));
            }
        }
    }
}

/// PromQL's set operators: `and` keeps `a`'s series with a match in `b`, `unless` those without
/// one, `or` all of `a`'s and `b`'s without a match in `a`; series keep their labels and
/// values. A match is equal labels, or equal `on` labels (all but the `ignoring` ones).
pub fn set(
    labels: &mut Labels,
    op: SetOp,
    a: &Vector,
    b: &Vector,
    matching: Option<&LabelSel>,
    out: &mut Vector,
) {
    let mut key = |l: LabelId| match matching {
        Some(m) => m.key(labels, l),
        None => l,
    };
    match op {
        SetOp::And | SetOp::Unless => {
            let keys: HashSet<LabelId> = b.iter().map(|&(l, _)| key(l)).collect();
            let keep = op == SetOp::And;
            for &(l, x) in a {
                if keys.contains(&key(l)) == keep {
                    out.push((l, x));
                }
            }
        }
        SetOp::Or => {
            let keys: HashSet<LabelId> = a.iter().map(|&(l, _)| key(l)).collect();
            out.extend_from_slice(a);
            for &(l, y) in b {
                if !keys.contains(&key(l)) {
                    out.push((l, y));
                }
            }
        }
    }
}

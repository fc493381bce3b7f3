//! Rows: a program's series slots joined by label set, following the condition's operators
//! (`and`, comparisons and arithmetic: inner; `or`: outer; `and not`: left). Each row is then
//! one evaluation of the compiled program.
//!
//! Matching: `on [..]`/`ignoring [..]` when written; otherwise identical label sets, except
//! when a side comes from rule states (composites), which join on the labels both sides have.

use crate::labels::{LabelId, Labels};
use crate::metric::vector::{LabelSel, Vector};
use std::collections::HashMap;
use vigil_compiler::ir::series::JoinKind;

#[derive(Debug, Clone)]
pub struct Row {
    pub labels: LabelId,
    /// `(slot, value)` for the slots this row has.
    pub vals: Vec<(u32, f64)>,
}

/// A compiled join plan.
#[derive(Debug, Clone)]
pub enum Plan {
    Scalar,
    Leaf {
        slot: u32,
        natural: bool,
    },
    Join {
        kind: JoinKind,
        arith: bool,
        matching: Option<LabelSel>,
        lhs: Box<Plan>,
        rhs: Box<Plan>,
    },
}

pub struct Rows {
    pub rows: Vec<Row>,
    /// Joined on shared labels (a rule-state side).
    pub natural: bool,
}

/// Builds the rows of a plan from each slot's vector.
pub fn build<'v>(
    plan: &Plan,
    labels: &mut Labels,
    leaf: &dyn Fn(u32) -> Option<&'v Vector>,
    many: &mut u64,
) -> Rows {
    match plan {
        Plan::Scalar => Rows {
            rows: vec![Row {
                labels: labels.intern(Vec::new()),
                vals: Vec::new(),
            }],
            natural: true,
        },
        Plan::Leaf { slot, natural } => Rows {
            rows: leaf(*slot)
                .map(|v| {
                    v.iter()
                        .map(|&(l, x)| Row {
                            labels: l,
                            vals: vec![(*slot, x)],
                        })
                        .collect()
                })
                .unwrap_or_default(),
            natural: *natural,
        },
        Plan::Join {
            kind,
            arith,
            matching,
            lhs,
            rhs,
        } => {
            let l = build(lhs, labels, leaf, many);
            let r = build(rhs, labels, leaf, many);
            if matching.is_none() && (l.natural || r.natural) {
                natural(*kind, labels, l, r)
            } else {
                keyed(*kind, *arith, matching.as_ref(), labels, l, r, many)
            }
        }
    }
}

fn concat(a: &Row, b: &Row, labels: LabelId) -> Row {
    let mut vals = a.vals.clone();
    for v in &b.vals {
        if !vals.iter().any(|x| x.0 == v.0) {
            vals.push(*v);
        }
    }
    Row { labels, vals }
}

/// Join on the labels both rows have (composites).
fn natural(kind: JoinKind, labels: &mut Labels, l: Rows, r: Rows) -> Rows {
    let mut out = Vec::new();
    let mut r_used = vec![false; r.rows.len()];
    for a in &l.rows {
        let mut hit = false;
        for (j, b) in r.rows.iter().enumerate() {
            if labels.compatible(a.labels, b.labels) {
                hit = true;
                r_used[j] = true;
                let m = labels.merge(a.labels, b.labels);
                out.push(concat(a, b, m));
                if kind == JoinKind::Left {
                    break;
                }
            }
        }
        if !hit && kind != JoinKind::Inner {
            out.push(a.clone());
        }
    }
    if kind == JoinKind::Outer {
        out.extend(
            r.rows
                .iter()
                .zip(&r_used)
                .filter(|(_, u)| !**u)
                .map(|(b, _)| b.clone()),
        );
    }
    Rows {
        rows: out,
        natural: true,
    }
}

fn keyed(
    kind: JoinKind,
    arith: bool,
    matching: Option<&LabelSel>,
    labels: &mut Labels,
    l: Rows,
    r: Rows,
    many: &mut u64,
) -> Rows {
    let key = |labels: &mut Labels, id: LabelId| match matching {
        Some(m) => m.key(labels, id),
        None => id,
    };
    let mut rk: HashMap<LabelId, Vec<usize>> = HashMap::new();
    for (j, b) in r.rows.iter().enumerate() {
        let k = key(labels, b.labels);
        rk.entry(k).or_default().push(j);
    }
    let lkeys: Vec<LabelId> = l.rows.iter().map(|a| key(labels, a.labels)).collect();
    let mut lcount: HashMap<LabelId, usize> = HashMap::new();
    for k in &lkeys {
        *lcount.entry(*k).or_default() += 1;
    }
    let mut out = Vec::new();
    for (i, a) in l.rows.iter().enumerate() {
        let k = lkeys[i];
        match rk.get(&k) {
            None => {
                if kind != JoinKind::Inner {
                    out.push(a.clone());
                }
            }
            Some(bs) => {
                let many_l = lcount[&k] > 1;
                if kind == JoinKind::Left {
                    out.push(concat(a, &r.rows[bs[0]], a.labels));
                    continue;
                }
                if many_l && bs.len() > 1 {
                    *many += 1;
                    continue;
                }
                for &j in bs {
                    let b = &r.rows[j];
                    let res = if many_l || kind == JoinKind::Outer {
                        a.labels
                    } else if bs.len() > 1 {
                        b.labels
                    } else if arith {
                        k
                    } else {
                        a.labels
                    };
                    out.push(concat(a, b, res));
                }
            }
        }
    }
    if kind == JoinKind::Outer {
        let lk: std::collections::HashSet<LabelId> = lkeys.into_iter().collect();
        for b in &r.rows {
            if !lk.contains(&key(labels, b.labels)) {
                out.push(b.clone());
            }
        }
    }
    Rows {
        rows: out,
        natural: false,
    }
}

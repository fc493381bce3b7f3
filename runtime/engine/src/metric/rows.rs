//! Rows: a program's series slots joined by label set, following the condition's operators
//! (`and`, comparisons and arithmetic: inner; `or`: outer; `and not`: left). Each row is then
//! one evaluation of the compiled program.
//!
//! Matching: `on [..]`/`ignoring [..]` when written; otherwise identical label sets, except
//! when a side comes from rule states (composites), which join on the labels both sides have.
//!
//! Set operators follow PromQL, whose `and`/`or`/`unless` filter by presence after each side
//! is evaluated. Here each side is a part of one program, so a row cannot be dropped before
//! the program runs; rows carry what to do after: `and` pairs a left row with every right row
//! of its key and holds if any pair does ([`Merge::Any`]); `and not` holds if every pair does
//! ([`Merge::All`]); `or` keeps the two sides' rows apart, and a right row yields to the left
//! rows of its key ([`Row::yields`]): it does not hold where one of them does.

use crate::labels::{LabelId, Labels};
use crate::metric::vector::{LabelSel, Vector};
use foldhash::fast::RandomState;
use smallvec::{SmallVec, smallvec};
use vigil_compiler::ir::series::JoinKind;

/// Hash maps keyed by label set ids (small integers; no untrusted keys to guard against).
type HashMap<K, V> = std::collections::HashMap<K, V, RandomState>;

/// A row's slot values: inline up to two (one per side of a join), so building rows does not
/// allocate per row.
pub type Vals = SmallVec<[(u32, f64); 2]>;

#[derive(Debug, Clone)]
pub struct Row {
    pub labels: LabelId,
    /// `(slot, value)` for the slots this row has.
    pub vals: Vals,
    /// How rows of the same labels combine after evaluation (`and`, `and not`).
    pub merge: Merge,
    /// `or` groups this row leads (its left side) and yields to (its right side).
    pub leads: Vec<u32>,
    pub yields: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    None,
    Any,
    All,
}

impl Row {
    fn leaf(labels: LabelId, vals: Vals) -> Row {
        Row {
            labels,
            vals,
            merge: Merge::None,
            leads: Vec::new(),
            yields: Vec::new(),
        }
    }
}

/// Applies the rows' `or` precedence and merges to their results (`out[i]` is `(labels,
/// holds, value)` of `rows[i]`): a row that yields to a holding row does not hold, and rows of
/// one label set with a merge become one, holding if any (or all) did.
pub fn settle(rows: &[Row], out: &mut Vec<(LabelId, bool, f64)>) {
    if rows
        .iter()
        .all(|r| r.yields.is_empty() && r.merge == Merge::None)
    {
        return;
    }
    let led: std::collections::HashSet<u32> = rows
        .iter()
        .zip(out.iter())
        .filter(|(_, o)| o.1)
        .flat_map(|(r, _)| r.leads.iter().copied())
        .collect();
    for (r, o) in rows.iter().zip(out.iter_mut()) {
        if r.yields.iter().any(|g| led.contains(g)) {
            *o = (o.0, false, f64::NAN);
        }
    }
    let mut at: HashMap<LabelId, usize> = HashMap::default();
    let mut merged: Vec<(LabelId, bool, f64)> = Vec::with_capacity(out.len());
    for (r, &o) in rows.iter().zip(out.iter()) {
        if r.merge == Merge::None {
            merged.push(o);
            continue;
        }
        match at.get(&o.0) {
            None => {
                at.insert(o.0, merged.len());
                merged.push(o);
            }
            Some(&f) => {
                let m = &mut merged[f];
                if r.merge == Merge::All {
                    if !o.1 {
                        *m = (m.0, false, f64::NAN);
                    }
                } else if !m.1 && o.1 {
                    *m = o;
                }
            }
        }
    }
    *out = merged;
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

/// Builds the rows of a plan from each slot's vector; keys matched ambiguously are counted in
/// `conflicts`.
pub fn build<'v>(
    plan: &Plan,
    labels: &mut Labels,
    leaf: &dyn Fn(u32) -> Option<&'v Vector>,
    conflicts: &mut u64,
) -> Rows {
    build_in(plan, labels, leaf, conflicts, &mut 0)
}

fn build_in<'v>(
    plan: &Plan,
    labels: &mut Labels,
    leaf: &dyn Fn(u32) -> Option<&'v Vector>,
    many: &mut u64,
    next_group: &mut u32,
) -> Rows {
    match plan {
        Plan::Scalar => Rows {
            rows: vec![Row::leaf(labels.intern(Vec::new()), Vals::new())],
            natural: true,
        },
        Plan::Leaf { slot, natural } => Rows {
            rows: leaf(*slot)
                .map(|v| {
                    v.iter()
                        .map(|&(l, x)| Row::leaf(l, smallvec![(*slot, x)]))
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
            let l = build_in(lhs, labels, leaf, many, next_group);
            let r = build_in(rhs, labels, leaf, many, next_group);
            if matching.is_none() && (l.natural || r.natural) {
                natural(*kind, labels, l, r)
            } else if *arith {
                matched(matching.as_ref(), labels, l, r, many)
            } else {
                set_op(*kind, matching.as_ref(), labels, (l, r), next_group)
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
    let mut leads = a.leads.clone();
    leads.extend_from_slice(&b.leads);
    let mut yields = a.yields.clone();
    yields.extend_from_slice(&b.yields);
    Row {
        labels,
        vals,
        merge: if a.merge == Merge::None {
            b.merge
        } else {
            a.merge
        },
        leads,
        yields,
    }
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

/// Rows by matching key: each key's row indices, in first-seen order.
fn index(
    matching: Option<&LabelSel>,
    labels: &mut Labels,
    rows: &Rows,
) -> (Vec<LabelId>, HashMap<LabelId, SmallVec<[usize; 1]>>) {
    let mut keys = Vec::with_capacity(rows.rows.len());
    let mut by: HashMap<LabelId, SmallVec<[usize; 1]>> = HashMap::default();
    for (i, r) in rows.rows.iter().enumerate() {
        let k = match matching {
            Some(m) => m.key(labels, r.labels),
            None => r.labels,
        };
        keys.push(k);
        by.entry(k).or_default().push(i);
    }
    (keys, by)
}

/// Arithmetic and comparisons: one-to-one (the key's labels), or many-to-one with
/// `group_left`/`group_right` (the "many" side's labels). Keys with several rows where one is
/// required are conflicts: counted, no row.
fn matched(
    matching: Option<&LabelSel>,
    labels: &mut Labels,
    l: Rows,
    r: Rows,
    conflicts: &mut u64,
) -> Rows {
    let (lkeys, lby) = index(matching, labels, &l);
    let (_, rby) = index(matching, labels, &r);
    let many_left = matching.and_then(|m| m.group.as_ref()).map(|g| g.0);
    let mut out = Vec::new();
    for (i, a) in l.rows.iter().enumerate() {
        let k = lkeys[i];
        let Some(bs) = rby.get(&k) else { continue };
        let (lmany, rmany) = (lby[&k].len() > 1, bs.len() > 1);
        let ok = match many_left {
            None => !lmany && !rmany,
            Some(true) => !rmany,
            Some(false) => !lmany,
        };
        if !ok {
            *conflicts += 1;
            continue;
        }
        for &j in bs {
            let b = &r.rows[j];
            let res = match (matching, many_left) {
                (None, _) => a.labels,
                (Some(m), Some(false)) => m.result(labels, k, b.labels, a.labels),
                (Some(m), _) => m.result(labels, k, a.labels, b.labels),
            };
            out.push(concat(a, b, res));
        }
    }
    Rows {
        rows: out,
        natural: false,
    }
}

/// `and`, `and not`, `or` on keyed rows (see the module's note).
fn set_op(
    kind: JoinKind,
    matching: Option<&LabelSel>,
    labels: &mut Labels,
    (l, r): (Rows, Rows),
    next_group: &mut u32,
) -> Rows {
    let (lkeys, lby) = index(matching, labels, &l);
    let (rkeys, rby) = index(matching, labels, &r);
    let mut out = Vec::new();
    if kind == JoinKind::Outer {
        // One `or` group per key both sides have: the left rows lead it, the right rows yield.
        let mut groups: HashMap<LabelId, u32> = HashMap::default();
        for (k, _) in lby.iter().filter(|(k, _)| rby.contains_key(k)) {
            groups.insert(*k, *next_group);
            *next_group += 1;
        }
        for (i, a) in l.rows.into_iter().enumerate() {
            let mut a = a;
            if let Some(&g) = groups.get(&lkeys[i]) {
                a.leads.push(g);
            }
            out.push(a);
        }
        for (j, b) in r.rows.into_iter().enumerate() {
            let mut b = b;
            if let Some(&g) = groups.get(&rkeys[j]) {
                b.yields.push(g);
            }
            out.push(b);
        }
        return Rows {
            rows: out,
            natural: false,
        };
    }
    let merge = if kind == JoinKind::Left {
        Merge::All
    } else {
        Merge::Any
    };
    for (i, a) in l.rows.iter().enumerate() {
        match rby.get(&lkeys[i]) {
            None if kind == JoinKind::Left => out.push(a.clone()),
            None => {}
            Some(bs) if bs.len() == 1 => out.push(concat(a, &r.rows[bs[0]], a.labels)),
            Some(bs) => {
                for &j in bs {
                    let mut row = concat(a, &r.rows[j], a.labels);
                    row.merge = merge;
                    out.push(row);
                }
            }
        }
    }
    Rows {
        rows: out,
        natural: false,
    }
}

//! The rule index: which event filters can match an event, found without evaluating them.
//!
//! From each filter's top-level conjuncts it extracts what the filter requires: a string field
//! equal to one of some constants (`event.type == "login"`, `event.type in [..]`) and fields
//! that must be present (any comparison or string test on them is false otherwise). The field
//! most filters pin becomes the index key, as Falco indexes by event type: an event's key value
//! picks its candidate filters directly; filters that pin nothing are always candidates (the
//! checker's V1020 lint names them). Required fields are checked before a candidate runs.

use super::SlotVal;
use crate::ir::{CmpKind, CmpOp, Ir, Kind, Node, NodeId, SlotRef};
use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct RuleIndex {
    /// The slot whose interned string picks candidates.
    pub key: Option<u32>,
    /// Filters by the key's interned id; the last entry is for strings no rule names.
    by_sym: Vec<Vec<u32>>,
    /// Filters that pin no value of the key (always candidates).
    unindexed: Vec<u32>,
    /// Per program (by index): top-level slots that must be present.
    required: Vec<Vec<u32>>,
}

impl RuleIndex {
    pub fn build(ir: &Ir) -> RuleIndex {
        let filters: Vec<(usize, NodeId)> = ir.filters().map(|(i, p)| (i, p.root)).collect();
        let mut pins: Vec<(u32, HashMap<u32, Vec<u32>>)> = Vec::new();
        let mut votes: HashMap<u32, usize> = HashMap::new();
        for &(_, root) in &filters {
            let mut p: HashMap<u32, Vec<u32>> = HashMap::new();
            for c in conjuncts(ir, root) {
                if let Some((slot, syms)) = pinned(ir, c) {
                    p.entry(slot).or_insert(syms);
                }
            }
            for s in p.keys() {
                *votes.entry(*s).or_default() += 1;
            }
            pins.push((root, p));
        }
        let key = votes
            .iter()
            .max_by_key(|(slot, n)| (**n, std::cmp::Reverse(**slot)))
            .map(|(s, _)| *s);
        let mut idx = RuleIndex {
            key,
            by_sym: vec![Vec::new(); ir.strings.len() + 1],
            unindexed: Vec::new(),
            required: vec![Vec::new(); ir.programs.len()],
        };
        for (&(prog, root), (_, p)) in filters.iter().zip(&pins) {
            let prog = prog as u32;
            match key.and_then(|k| p.get(&k)) {
                Some(syms) => {
                    for s in syms {
                        idx.by_sym[*s as usize].push(prog);
                    }
                }
                None => idx.unindexed.push(prog),
            }
            let mut req: Vec<u32> = conjuncts(ir, root)
                .into_iter()
                .flat_map(|c| required(ir, c))
                .collect();
            req.sort_unstable();
            req.dedup();
            idx.required[prog as usize] = req;
        }
        idx
    }

    /// The interned key value of an event: which keyed list applies (`None`: no filter pins
    /// this value).
    pub fn key_of(&self, slots: &[SlotVal]) -> Option<u32> {
        let s = slots.get(self.key? as usize)?.sym()?;
        ((s as usize) < self.by_sym.len() - 1 && !self.by_sym[s as usize].is_empty()).then_some(s)
    }

    /// Filters pinned to key value `sym`, in program order.
    pub fn keyed(&self, sym: u32) -> &[u32] {
        self.by_sym.get(sym as usize).map_or(&[], Vec::as_slice)
    }

    /// Every key value some filter pins, with its filters.
    pub fn keyed_lists(&self) -> impl Iterator<Item = (u32, &[u32])> {
        self.by_sym
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(s, v)| (s as u32, v.as_slice()))
    }

    /// Filters that pin no key value: candidates for every event.
    pub fn always(&self) -> &[u32] {
        &self.unindexed
    }

    /// Filters that may match an event, in program order, into `out` (cleared first).
    pub fn candidates(&self, slots: &[SlotVal], out: &mut Vec<u32>) {
        out.clear();
        let keyed: &[u32] = match self.key_of(slots) {
            Some(s) => &self.by_sym[s as usize],
            None => &[],
        };
        // Merge two sorted lists, dropping candidates whose required fields are missing.
        let (mut i, mut j) = (0, 0);
        while i < keyed.len() || j < self.unindexed.len() {
            let take_keyed =
                j >= self.unindexed.len() || (i < keyed.len() && keyed[i] < self.unindexed[j]);
            let p = if take_keyed {
                i += 1;
                keyed[i - 1]
            } else {
                j += 1;
                self.unindexed[j - 1]
            };
            let ok = self.required[p as usize]
                .iter()
                .all(|s| slots.get(*s as usize).is_some_and(|v| v.is_present()));
            if ok {
                out.push(p);
            }
        }
    }

    /// How many filters the index pins to a key value.
    pub fn indexed(&self) -> usize {
        let mut all: Vec<u32> = self.by_sym.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    }
    pub fn unindexed(&self) -> usize {
        self.unindexed.len()
    }
}

fn conjuncts(ir: &Ir, root: NodeId) -> Vec<NodeId> {
    match ir.node(root) {
        Node::And(v) => v.clone(),
        _ => vec![root],
    }
}

fn top(r: &SlotRef) -> Option<u32> {
    (r.depth == 0).then_some(r.id)
}

/// `slot == "x"` or `slot in ["x", "y"]`: the slot and the interned values.
fn pinned(ir: &Ir, c: NodeId) -> Option<(u32, Vec<u32>)> {
    match ir.node(c) {
        Node::Cmp(CmpOp::Eq, CmpKind::Sym, a, b) => match (ir.node(*a), ir.node(*b)) {
            (Node::Slot(r, _), Node::Str(s)) => Some((top(r)?, vec![*s])),
            _ => None,
        },
        Node::InSyms {
            slot,
            set,
            negated: false,
        } => Some((top(slot)?, ir.sets[*set as usize].clone())),
        _ => None,
    }
}

/// Slots a conjunct reads directly whose absence makes it false.
fn required(ir: &Ir, c: NodeId) -> Vec<u32> {
    let direct = |n: NodeId| match ir.node(n) {
        Node::Slot(r, _) => top(r),
        _ => None,
    };
    match ir.node(c) {
        Node::Cmp(_, _, a, b) => [direct(*a), direct(*b)].into_iter().flatten().collect(),
        Node::Slot(r, Kind::Bool) | Node::Exists(r) => top(r).into_iter().collect(),
        Node::InSyms { slot, .. } | Node::Text { slot, .. } | Node::Cidr { slot, .. } => {
            top(slot).into_iter().collect()
        }
        Node::Quant { slot, .. } => top(slot).into_iter().collect(),
        Node::TextField { lhs, rhs, .. } => [top(lhs), top(rhs)].into_iter().flatten().collect(),
        Node::InNums { lhs, .. } => direct(*lhs).into_iter().collect(),
        _ => Vec::new(),
    }
}

//! The rule index: which event filters can match an event, found without evaluating them.
//!
//! From each filter's top-level conjuncts it extracts what the filter requires: a string field
//! equal to one of some constants (`event.type == "login"`, `event.type in [..]`) and fields
//! that must be present (any comparison or string test on them is false otherwise). The field
//! most filters pin becomes the index key, as Falco indexes by event type: an event's key value
//! picks its candidate filters directly; filters that pin nothing are always candidates (the
//! checker's V1020 lint names them). Required fields are checked before a candidate runs.
//! An array field pinned by membership (`"process" in event.event.category`, ECS's way) can be
//! the key too: each of the event's distinct elements picks its filters.

use super::SlotVal;
use crate::ir::{CmpKind, CmpOp, Ir, Kind, Node, NodeId, SlotRef};
use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct RuleIndex {
    /// The slot whose interned string picks candidates.
    pub key: Option<u32>,
    /// When the key is an array field: its element's slot in the element layout, and that
    /// layout's width (elements are `width` slots apart in the frame's arena).
    elem: Option<(u32, u32)>,
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
        // Per pinned slot: as a value (`None`) or as an array (its element slot). The first
        // kind seen wins; a field pinned both ways (a schema-less field used as either) keeps
        // it, the other pins are not used.
        let mut kinds: HashMap<u32, Option<u32>> = HashMap::new();
        for &(_, root) in &filters {
            let mut p: HashMap<u32, Vec<u32>> = HashMap::new();
            for c in conjuncts(ir, root) {
                if let Some((slot, syms, elem)) = pinned(ir, c) {
                    if kinds.entry(slot).or_insert(elem).is_some() != elem.is_some() {
                        continue;
                    }
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
        let elem = key.and_then(|k| {
            let e = (*kinds.get(&k)?)?;
            let width = ir.layout.slots.get(k as usize)?.elem.as_ref()?.len() as u32;
            Some((e, width))
        });
        let mut idx = RuleIndex {
            key,
            elem,
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

    /// The event's key values into `out` (distinct, in element order): none, one, or for an
    /// array key each string element some filter pins.
    pub fn keys_of(&self, slots: &[SlotVal], elems: &[SlotVal], out: &mut Vec<u32>) {
        out.clear();
        let Some((el, width)) = self.elem else {
            out.extend(self.key_of(slots));
            return;
        };
        let Some((start, n)) = self
            .key
            .and_then(|k| slots.get(k as usize))
            .and_then(SlotVal::as_array)
        else {
            return;
        };
        for e in 0..n {
            let at = start + e * width as usize + el as usize;
            let Some(s) = elems.get(at).and_then(SlotVal::sym) else {
                continue;
            };
            let pinned =
                (s as usize) < self.by_sym.len() - 1 && !self.by_sym[s as usize].is_empty();
            if pinned && !out.contains(&s) {
                out.push(s);
            }
        }
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

    /// Filters that may match an event whose key values are `keys` (see
    /// [`RuleIndex::keys_of`]), in program order, into `out` (cleared first).
    pub fn candidates(&self, keys: &[u32], slots: &[SlotVal], out: &mut Vec<u32>) {
        out.clear();
        if keys.len() > 1 {
            // Several elements of an array key: their lists and the unindexed ones, merged.
            for &k in keys {
                out.extend_from_slice(&self.by_sym[k as usize]);
            }
            out.extend_from_slice(&self.unindexed);
            out.sort_unstable();
            out.dedup();
            out.retain(|&p| {
                self.required[p as usize]
                    .iter()
                    .all(|s| slots.get(*s as usize).is_some_and(|v| v.is_present()))
            });
            return;
        }
        let keyed: &[u32] = match keys.first() {
            Some(&s) => &self.by_sym[s as usize],
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

/// `slot == "x"` or `slot in ["x", "y"]`: the slot and the interned values; `"x" in arr` (an
/// array field holding the string): also the element's slot in the array's element layout.
fn pinned(ir: &Ir, c: NodeId) -> Option<(u32, Vec<u32>, Option<u32>)> {
    match ir.node(c) {
        Node::Cmp(CmpOp::Eq, CmpKind::Sym, a, b) => match (ir.node(*a), ir.node(*b)) {
            (Node::Slot(r, _), Node::Str(s)) => Some((top(r)?, vec![*s], None)),
            _ => None,
        },
        Node::InSyms {
            slot,
            set,
            negated: false,
        } => Some((top(slot)?, ir.sets[*set as usize].clone(), None)),
        Node::Quant {
            all: false,
            slot,
            body,
            depth: 1,
        } => {
            let arr = top(slot)?;
            let (el, s) = match ir.node(*body) {
                Node::Cmp(CmpOp::Eq, CmpKind::Sym, a, b) => match (ir.node(*a), ir.node(*b)) {
                    (Node::Slot(r, _), Node::Str(s)) | (Node::Str(s), Node::Slot(r, _))
                        if r.depth == 1 =>
                    {
                        (r.id, *s)
                    }
                    _ => return None,
                },
                _ => return None,
            };
            // The element itself (not a field of it), interned at ingest.
            let info = ir
                .layout
                .slots
                .get(arr as usize)?
                .elem
                .as_ref()?
                .slots
                .get(el as usize)?;
            let own = matches!(&info.source, crate::ir::SlotSource::Field(p) if p.is_empty());
            (own && info.needs_sym).then_some((arr, vec![s], Some(el)))
        }
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
        Node::InSyms { slot, .. }
        | Node::Text { slot, .. }
        | Node::Cidr { slot, .. }
        | Node::InList { slot, .. } => top(slot).into_iter().collect(),
        Node::Quant { slot, .. } => top(slot).into_iter().collect(),
        Node::TextField { lhs, rhs, .. } => [top(lhs), top(rhs)].into_iter().flatten().collect(),
        Node::InNums { lhs, .. } => direct(*lhs).into_iter().collect(),
        _ => Vec::new(),
    }
}

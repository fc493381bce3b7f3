//! Interned label sets. A series' labels are a sorted list of (name, value) symbol pairs,
//! interned once, so rows, joins and alert instances carry a `LabelId` (4 bytes) and compare
//! by integer. The metric name is never a label: vector matching and alerts ignore it, as
//! Prometheus does.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Label strings come from input, so their tables use a seeded hash (foldhash: fast, and
/// randomised per process so collisions cannot be crafted).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub type LabelId = u32;
pub type Sym = u32;
/// A label a set does not have.
pub const ABSENT: Sym = u32::MAX;

/// Strings and label sets, both interned.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Labels {
    strings: Vec<String>,
    #[serde(skip)]
    by_string: Map<String, Sym>,
    sets: Vec<Box<[(Sym, Sym)]>>,
    #[serde(skip)]
    by_set: Map<Box<[(Sym, Sym)]>, LabelId>,
    #[serde(skip)]
    scratch: Vec<(Sym, Sym)>,
    /// Alert label maps as transitions carry them, by label set and the rule's additions
    /// ([`Labels::shared_map`]), and the highest id among their keys (a rollback past it
    /// forgets them).
    #[serde(skip)]
    maps: HashMap<
        (LabelId, LabelId),
        std::sync::Arc<vigil_vocab::LabelSet>,
        foldhash::fast::FixedState,
    >,
    #[serde(skip)]
    maps_top: LabelId,
}

/// Alert label maps kept for reuse; past this many, they are forgotten and built again.
const MAX_MAPS: usize = 16_384;

impl Labels {
    pub fn sym(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.by_string.get(s) {
            return id;
        }
        let id = self.strings.len() as Sym;
        self.strings.push(s.to_string());
        self.by_string.insert(s.to_string(), id);
        id
    }
    /// How much is interned: [`Labels::rollback`] forgets what is interned after it.
    pub fn mark(&self) -> (usize, usize) {
        (self.strings.len(), self.sets.len())
    }
    /// Forgets the strings and sets interned since `mark`; nothing may hold them (a sample's
    /// labels when the store refused it), so refused input leaves no state behind.
    pub fn rollback(&mut self, (strings, sets): (usize, usize)) {
        if !self.maps.is_empty() && self.maps_top as usize >= sets {
            self.maps.clear();
            self.maps_top = 0;
        }
        while self.sets.len() > sets {
            if let Some(k) = self.sets.pop() {
                self.by_set.remove(&k);
            }
        }
        while self.strings.len() > strings {
            if let Some(k) = self.strings.pop() {
                self.by_string.remove(&k);
            }
        }
    }
    /// The symbol of a string, if any label has used it.
    pub fn lookup(&self, s: &str) -> Option<Sym> {
        self.by_string.get(s).copied()
    }
    pub fn str(&self, s: Sym) -> &str {
        self.strings.get(s as usize).map_or("", String::as_str)
    }
    /// Interns a set of pairs (any order; duplicate names keep the last value).
    pub fn intern(&mut self, mut pairs: Vec<(Sym, Sym)>) -> LabelId {
        self.intern_in(&mut pairs)
    }

    /// [`Labels::intern`] on a buffer the caller reuses (it is sorted in place).
    fn intern_in(&mut self, pairs: &mut Vec<(Sym, Sym)>) -> LabelId {
        pairs.sort_by_key(|p| p.0);
        pairs.dedup_by(|b, a| {
            if a.0 == b.0 {
                a.1 = b.1;
                true
            } else {
                false
            }
        });
        pairs.retain(|p| p.1 != ABSENT);
        if let Some(&id) = self.by_set.get(pairs.as_slice()) {
            return id;
        }
        let key: Box<[(Sym, Sym)]> = pairs.as_slice().into();
        let id = self.sets.len() as LabelId;
        self.by_set.insert(key.clone(), id);
        self.sets.push(key);
        id
    }
    pub fn intern_strs<'s>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'s str, &'s str)>,
    ) -> LabelId {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        for (k, val) in pairs {
            if !val.is_empty() {
                let p = (self.sym(k), self.sym(val));
                v.push(p);
            }
        }
        let id = self.intern_in(&mut v);
        self.scratch = v;
        id
    }
    pub fn pairs(&self, id: LabelId) -> &[(Sym, Sym)] {
        self.sets.get(id as usize).map_or(&[], |b| b)
    }
    /// A label's value in a set, or [`ABSENT`].
    pub fn get(&self, id: LabelId, name: Sym) -> Sym {
        let p = self.pairs(id);
        match p.binary_search_by_key(&name, |x| x.0) {
            Ok(i) => p[i].1,
            Err(_) => ABSENT,
        }
    }
    /// The set restricted to `names` (`keep`) or without them.
    pub fn project(&mut self, id: LabelId, names: &[Sym], keep: bool) -> LabelId {
        let v: Vec<(Sym, Sym)> = self
            .pairs(id)
            .iter()
            .filter(|(k, _)| names.contains(k) == keep)
            .copied()
            .collect();
        self.intern(v)
    }
    /// `to` with each of `names` set to its value in `from`, or removed where `from` has none.
    pub fn copy_from(&mut self, to: LabelId, from: LabelId, names: &[Sym]) -> LabelId {
        let mut v: Vec<(Sym, Sym)> = self
            .pairs(to)
            .iter()
            .filter(|(k, _)| !names.contains(k))
            .copied()
            .collect();
        v.extend(
            self.pairs(from)
                .iter()
                .filter(|(k, _)| names.contains(k))
                .copied(),
        );
        self.intern(v)
    }
    /// `a` and `b` agree on every label both have.
    pub fn compatible(&self, a: LabelId, b: LabelId) -> bool {
        let (pa, pb) = (self.pairs(a), self.pairs(b));
        let (mut i, mut j) = (0, 0);
        while i < pa.len() && j < pb.len() {
            match pa[i].0.cmp(&pb[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    if pa[i].1 != pb[j].1 {
                        return false;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        true
    }
    /// The union of two compatible sets.
    pub fn merge(&mut self, a: LabelId, b: LabelId) -> LabelId {
        let mut v: Vec<(Sym, Sym)> = self.pairs(a).to_vec();
        v.extend_from_slice(self.pairs(b));
        self.intern(v)
    }
    /// Name/value pairs sorted by name, for output.
    pub fn to_map(&self, id: LabelId) -> std::collections::BTreeMap<String, String> {
        self.pairs(id)
            .iter()
            .map(|(k, v)| (self.str(*k).to_string(), self.str(*v).to_string()))
            .collect()
    }
    /// [`Labels::to_map`] of set `id` with the pairs of set `extra` put over it (a rule's
    /// static labels and severity), built once and shared: every transition of that alert
    /// carries the same map, so reporting a change allocates nothing once warm.
    pub fn shared_map(
        &mut self,
        id: LabelId,
        extra: LabelId,
    ) -> std::sync::Arc<vigil_vocab::LabelSet> {
        if let Some(m) = self.maps.get(&(id, extra)) {
            return m.clone();
        }
        if self.maps.len() >= MAX_MAPS {
            self.maps.clear();
            self.maps_top = 0;
        }
        let mut m = self.to_map(id);
        for &(k, v) in self.pairs(extra) {
            m.insert(self.str(k).to_string(), self.str(v).to_string());
        }
        let m = std::sync::Arc::new(m);
        self.maps.insert((id, extra), m.clone());
        self.maps_top = self.maps_top.max(id).max(extra);
        m
    }
    /// Interns everything `other` holds here: returns how `other`'s symbols and label sets
    /// map to this table's (to restore state saved by another engine).
    pub fn import(&mut self, other: &Labels) -> (Vec<Sym>, Vec<LabelId>) {
        let syms: Vec<Sym> = other.strings.iter().map(|s| self.sym(s)).collect();
        let sets = other
            .sets
            .iter()
            .map(|set| {
                let v = set
                    .iter()
                    .map(|(k, v)| (syms[*k as usize], syms[*v as usize]))
                    .collect();
                self.intern(v)
            })
            .collect();
        (syms, sets)
    }

    /// Rebuilds the lookup maps after deserialising.
    pub fn reindex(&mut self) {
        self.by_string = self
            .strings
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as Sym))
            .collect();
        self.by_set = self
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as LabelId))
            .collect();
    }
    pub fn len(&self) -> usize {
        self.sets.len()
    }
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_intern_in_any_order() {
        let mut l = Labels::default();
        let a = l.intern_strs([("job", "api"), ("instance", "a")]);
        let b = l.intern_strs([("instance", "a"), ("job", "api")]);
        assert_eq!(a, b);
        let job = l.sym("job");
        let only = l.project(a, &[job], true);
        assert_eq!(l.to_map(only).len(), 1);
        assert!(l.compatible(a, only));
        let other = l.intern_strs([("job", "db")]);
        assert!(!l.compatible(a, other));
    }
}

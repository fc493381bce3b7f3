//! Keys: an event's identity in a rule (a 128-bit hash of its key fields' values, memoised
//! per event across rules keyed alike), and the label set a key gets once it needs one.

use super::{Events, FxMap, KeyId};
use crate::labels::{LabelId, Labels, Sym};
use std::hash::BuildHasher;
use vigil_compiler::eval::{Frame, SlotVal};

impl Events {
    pub(super) fn throttle_key(&mut self, ri: usize, frame: &Frame, key: KeyId) -> KeyId {
        let rule = &self.rules[ri];
        if rule.throttle.is_none() || rule.throttle_keys.is_empty() {
            return key;
        }
        self.key(ri, true, frame)
    }

    /// The identity of an event's key fields (the rule's keys, or its throttle keys): a
    /// 128-bit hash of their values, so a collision is as unlikely as a random 128-bit clash.
    pub(super) fn key(&mut self, ri: usize, throttle: bool, frame: &Frame) -> KeyId {
        let rule = &self.rules[ri];
        let (fields, spec) = if throttle {
            (&rule.throttle_keys, rule.throttle_spec)
        } else {
            (&rule.keys, rule.key_spec)
        };
        if fields.is_empty() {
            return 0;
        }
        if let Some(&(n, id)) = self.memo.get(spec)
            && n == self.serial
        {
            return id;
        }
        let (mut a, mut b) = (0u64, 0u64);
        for &(name, slot) in fields {
            let v = hash_of(&self.hasher, &frame.slots()[slot as usize]).unwrap_or(0);
            a = self.hasher.hash_one((a, name, v));
            b = self.hasher2.hash_one((b, name, v));
        }
        // 0 is the empty key.
        let id = ((u128::from(a) << 64) | u128::from(b)).max(1);
        if let Some(m) = self.memo.get_mut(spec) {
            *m = (self.serial, id);
        }
        id
    }

    /// The label set of key `key` of rule `ri`, from the event in `frame`.
    pub(super) fn label(
        &mut self,
        ri: usize,
        frame: &Frame,
        labels: &mut Labels,
        key: KeyId,
    ) -> LabelId {
        label_of(
            &mut self.keys,
            self.empty,
            &self.rules[ri].keys,
            frame,
            labels,
            key,
        )
    }

    /// Gives a tracked key its label set (from the event at hand) if it has none yet.
    pub(super) fn ensure_label(
        &mut self,
        ri: usize,
        frame: &Frame,
        labels: &mut Labels,
        key: KeyId,
    ) {
        if self.rules[ri]
            .state
            .get(&key)
            .is_some_and(|ks| ks.label.is_none())
        {
            let l = self.label(ri, frame, labels, key);
            if let Some(ks) = self.rules[ri].state.get_mut(&key) {
                ks.label = Some(l);
            }
        }
    }
}

/// The label set of key `key` (its `fields` read from the event in `frame`), remembered in
/// `known` for the keys that need one.
pub(super) fn label_of(
    known: &mut FxMap<KeyId, LabelId>,
    empty: LabelId,
    fields: &[(Sym, u32)],
    frame: &Frame,
    labels: &mut Labels,
    key: KeyId,
) -> LabelId {
    if key == 0 {
        return empty;
    }
    if let Some(&l) = known.get(&key) {
        return l;
    }
    let l = key_of(fields, frame, labels);
    if known.len() > 1 << 22 {
        known.clear();
    }
    known.insert(key, l);
    l
}

/// The key of an event: the label set of its grouping fields (a missing field is no label).
pub(super) fn key_of(keys: &[(Sym, u32)], frame: &Frame, labels: &mut Labels) -> LabelId {
    let mut pairs: Vec<(Sym, Sym)> = Vec::with_capacity(keys.len());
    let mut buf;
    for &(name, slot) in keys {
        let v = frame.slots()[slot as usize];
        let text: &str = if let Some(s) = v.as_str() {
            s
        } else if let Some(n) = v.as_num() {
            buf = number_text(n);
            &buf
        } else if let Some(b) = v.as_bool() {
            if b { "true" } else { "false" }
        } else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        pairs.push((name, labels.sym(text)));
    }
    labels.intern(pairs)
}

/// A number as a label value: integers without a fraction, others as Rust prints them.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A value's identity for `distinct`, `share` and per-step join keys: strings, numbers and
/// booleans hash apart (`"1"` is not `1`); a missing value has none.
#[inline]
pub(super) fn hash_of(h: &foldhash::fast::FixedState, v: &SlotVal) -> Option<u64> {
    if let Some(s) = v.as_str() {
        Some(h.hash_one((3u8, s)))
    } else if let Some(n) = v.as_num() {
        let n = if n == 0.0 { 0.0 } else { n };
        let bits = if n.is_nan() {
            f64::NAN.to_bits()
        } else {
            n.to_bits()
        };
        Some(h.hash_one((1u8, bits)))
    } else {
        v.as_bool().map(|b| h.hash_one((2u8, b)))
    }
}

//! Frames: the slot values one evaluation reads, filled from an event (or by the metric
//! engine). A frame is reused from event to event, so ingest allocates nothing once warm.

use super::SlotVal;
use crate::ir::{Ir, Layout, PathSeg, SlotSource};
use serde_json::Value;

/// Arrays longer than this are cut (quantifiers and membership see the first elements only),
/// so one event cannot make evaluation unbounded.
pub const MAX_ARRAY: usize = 4096;

/// [`Frame::set`]'s bit for slots from 63 on.
const TOP: u64 = 1 << 63;

/// `v`'s buffer, emptied, for values of another lifetime (collected in place: no allocation).
fn relive<'b>(mut v: Vec<SlotVal<'_>>) -> Vec<SlotVal<'b>> {
    v.clear();
    v.into_iter().map(|_| SlotVal::missing()).collect()
}

/// Slot values for one evaluation: the top-level slots and the arena of array elements.
#[derive(Debug, Default)]
pub struct Frame<'a> {
    pub(crate) slots: Vec<SlotVal<'a>>,
    pub(crate) elems: Vec<SlotVal<'a>>,
    /// Slots set since the frame was last all missing: bit `i` for slot `i`, the top bit for
    /// any slot from 63 on (then [`Frame::clear`] resets them all).
    set: u64,
}

impl<'a> Frame<'a> {
    /// An empty frame (every slot missing) for a rule set's layout.
    pub fn new(ir: &Ir) -> Frame<'a> {
        Frame {
            slots: vec![SlotVal::missing(); ir.layout.len()],
            elems: Vec::new(),
            set: 0,
        }
    }

    /// This frame's buffers, emptied, for an event with another lifetime.
    pub fn recycle<'b>(self) -> Frame<'b> {
        let n = self.slots.len();
        // Emptied first, each buffer changes lifetime in place without a pass over it; the
        // slots are then refilled as one `memset` (a missing slot is zero bits).
        let mut slots = relive(self.slots);
        slots.resize(n, SlotVal::missing());
        Frame {
            slots,
            elems: relive(self.elems),
            set: 0,
        }
    }

    /// Every slot missing again, no array elements, for another event of the same lifetime:
    /// only the slots set since the frame was last all missing are written (an event sets a
    /// few of a rule set's fields).
    pub fn clear(&mut self) {
        if self.set & TOP != 0 {
            self.slots.fill(SlotVal::missing());
        } else {
            let mut set = self.set;
            while set != 0 {
                if let Some(s) = self.slots.get_mut(set.trailing_zeros() as usize) {
                    *s = SlotVal::missing();
                }
                set &= set - 1;
            }
        }
        self.set = 0;
        self.elems.clear();
    }

    pub fn slots(&self) -> &[SlotVal<'a>] {
        &self.slots
    }

    /// Sets one slot (the metric engine's series values, rule states, the time).
    #[inline]
    pub fn set(&mut self, slot: u32, v: SlotVal<'a>) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = v;
            self.set |= 1 << slot.min(63);
        }
    }

    /// The arena of array elements.
    pub fn elems(&self) -> &[SlotVal<'a>] {
        &self.elems
    }

    /// Appends `n` missing element slots to the arena (another reader's arrays); returns
    /// where they start.
    pub fn grow_elems(&mut self, n: usize) -> usize {
        let start = self.elems.len();
        self.elems.resize(start + n, SlotVal::missing());
        start
    }

    /// Sets element slot `i` of the arena.
    pub fn set_elem(&mut self, i: usize, v: SlotVal<'a>) {
        if let Some(s) = self.elems.get_mut(i) {
            *s = v;
        }
    }

    /// Every slot missing, no array elements: ready to be filled by another reader.
    pub fn reset(&mut self, ir: &Ir) {
        self.elems.clear();
        self.slots.clear();
        self.slots.resize(ir.layout.len(), SlotVal::missing());
        self.set = 0;
    }

    /// Fills every field slot from a JSON event object; other slots become missing.
    pub fn fill_json(&mut self, ir: &Ir, event: &'a Value) {
        self.elems.clear();
        self.slots.clear();
        self.slots.resize(ir.layout.len(), SlotVal::missing());
        // Any slot may be set below.
        self.set = u64::MAX;
        for (i, info) in ir.layout.slots.iter().enumerate() {
            if let SlotSource::Field(path) = &info.source {
                if let [PathSeg::Strings] = path.as_slice() {
                    self.slots[i] = strings(ir, info, event, &mut self.elems);
                    continue;
                }
                let v = walk(event, path)
                    .map(|v| convert(ir, &ir.layout, i, v, &mut self.elems))
                    .unwrap_or(SlotVal::missing());
                self.slots[i] = v;
            }
        }
    }
}

fn walk<'a>(mut v: &'a Value, path: &[PathSeg]) -> Option<&'a Value> {
    for seg in path {
        v = match seg {
            PathSeg::Key(k) => v.as_object()?.get(k)?,
            PathSeg::Index(i) => v.as_array()?.get(*i)?,
            PathSeg::Strings => return None,
        };
    }
    Some(v)
}

/// `event.*`: every string value of `event` (in objects and arrays, however deep; keys are
/// not values), in document order, as an array slot of its element layout (at most
/// [`MAX_ARRAY`] strings, as any array).
fn strings<'a>(
    ir: &Ir,
    info: &crate::ir::SlotInfo,
    event: &'a Value,
    elems: &mut Vec<SlotVal<'a>>,
) -> SlotVal<'a> {
    let mut found: Vec<&'a str> = Vec::new();
    let mut stack = vec![event];
    while let Some(v) = stack.pop() {
        if found.len() >= MAX_ARRAY {
            break;
        }
        match v {
            Value::String(s) => found.push(s),
            // Reversed onto the stack so they come off in document order.
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Object(m) => stack.extend(m.values().rev()),
            _ => {}
        }
    }
    let Some(el) = &info.elem else {
        return SlotVal::array(elems.len(), 0);
    };
    let k = el.len();
    let start = elems.len();
    elems.resize(start + found.len() * k, SlotVal::missing());
    for (e, s) in found.iter().enumerate() {
        for (j, slot) in el.slots.iter().enumerate() {
            if matches!(&slot.source, SlotSource::Field(p) if p.is_empty()) {
                let sym = if slot.needs_sym {
                    ir.strings.lookup(s)
                } else {
                    crate::ir::NO_SYM
                };
                elems[start + e * k + j] = SlotVal::string(s, sym);
            }
        }
    }
    SlotVal::array(start, found.len() as u32)
}

/// One JSON value as slot `i` of `layout` (arrays go to the arena with their element layout).
fn convert<'a>(
    ir: &Ir,
    layout: &Layout,
    i: usize,
    v: &'a Value,
    elems: &mut Vec<SlotVal<'a>>,
) -> SlotVal<'a> {
    let info = &layout.slots[i];
    match v {
        Value::Null => SlotVal::missing(),
        Value::Bool(b) => SlotVal::boolean(*b),
        Value::Number(n) => SlotVal::number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => {
            let sym = if info.needs_sym {
                ir.strings.lookup(s)
            } else {
                crate::ir::NO_SYM
            };
            SlotVal::string(s, sym)
        }
        Value::Object(_) => SlotVal::object(),
        Value::Array(items) => {
            let Some(el) = &info.elem else {
                return SlotVal::array(elems.len(), 0);
            };
            let n = items.len().min(MAX_ARRAY);
            let k = el.len();
            let start = elems.len();
            elems.resize(start + n * k, SlotVal::missing());
            for (e, item) in items.iter().take(n).enumerate() {
                for (j, s) in el.slots.iter().enumerate() {
                    let SlotSource::Field(path) = &s.source else {
                        continue;
                    };
                    let val = walk(item, path)
                        .map(|v| convert(ir, el, j, v, elems))
                        .unwrap_or(SlotVal::missing());
                    elems[start + e * k + j] = val;
                }
            }
            SlotVal::array(start, n as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clear` resets exactly what was set, slots past 63 included, and the arena.
    #[test]
    fn clearing_resets_every_slot_set() {
        let missing = |f: &Frame| f.slots.iter().all(|s| s.tag == SlotVal::MISSING.tag);
        let mut f = Frame {
            slots: vec![SlotVal::missing(); 70],
            ..Frame::default()
        };
        for slots in [&[5u32][..], &[0, 62], &[63], &[2, 64, 69]] {
            for &s in slots {
                f.set(s, SlotVal::number(1.0));
            }
            f.grow_elems(3);
            assert!(!missing(&f));
            f.clear();
            assert!(missing(&f), "after {slots:?}");
            assert!(f.elems.is_empty());
        }
        f.set(70, SlotVal::number(1.0));
        assert_eq!(f.slots.len(), 70, "a slot past the layout is not made");
    }
}

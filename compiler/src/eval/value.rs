//! Slot values: what a frame holds for each slot, in the one layout both engines read. Plain
//! safe Rust; the JIT reads the same struct at fixed offsets (its `abi` module checks them).

/// A slot's kind, in [`SlotVal::tag`].
pub const TAG_MISSING: u32 = 0;
pub const TAG_NUM: u32 = 1;
pub const TAG_BOOL: u32 = 2;
pub const TAG_STR: u32 = 3;
pub const TAG_ARRAY: u32 = 4;
pub const TAG_OBJECT: u32 = 5;

/// One slot's value: missing, a number (its bits in `bits`), a boolean (in `sym`), a string
/// borrowed from the event (with its interned id in `sym`), an array (`bits` = first element
/// index in the frame's element arena, `sym` = element count) or an object (present, no
/// scalar value). `#[repr(C)]`: generated code loads `tag`, `sym` and `bits` at fixed
/// offsets and reaches strings only through helpers.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SlotVal<'a> {
    pub(super) tag: u32,
    pub(super) sym: u32,
    pub(super) bits: u64,
    /// `None` (all zero bits) unless a string: a missing slot is zeroes, so resetting a
    /// frame is a `memset`.
    pub(super) text: Option<&'a str>,
}

impl<'a> SlotVal<'a> {
    pub const MISSING: SlotVal<'static> = SlotVal {
        tag: TAG_MISSING,
        sym: 0,
        bits: 0,
        text: None,
    };

    pub fn missing() -> Self {
        Self::with(TAG_MISSING)
    }
    fn with(tag: u32) -> Self {
        SlotVal {
            tag,
            sym: 0,
            bits: 0,
            text: None,
        }
    }
    pub fn number(v: f64) -> Self {
        SlotVal {
            bits: v.to_bits(),
            ..Self::with(TAG_NUM)
        }
    }
    pub fn boolean(b: bool) -> Self {
        SlotVal {
            sym: b as u32,
            ..Self::with(TAG_BOOL)
        }
    }
    /// A string with its interned id (`ir::NO_SYM` when no rule mentions it).
    pub fn string(s: &'a str, sym: u32) -> Self {
        SlotVal {
            sym,
            text: Some(s),
            ..Self::with(TAG_STR)
        }
    }
    pub fn array(start: usize, count: u32) -> Self {
        SlotVal {
            sym: count,
            bits: start as u64,
            ..Self::with(TAG_ARRAY)
        }
    }
    pub fn object() -> Self {
        Self::with(TAG_OBJECT)
    }

    pub fn tag(&self) -> u32 {
        self.tag
    }
    pub fn is_present(&self) -> bool {
        self.tag != TAG_MISSING
    }
    pub fn as_num(&self) -> Option<f64> {
        (self.tag == TAG_NUM).then_some(f64::from_bits(self.bits))
    }
    pub fn as_bool(&self) -> Option<bool> {
        (self.tag == TAG_BOOL).then_some(self.sym != 0)
    }
    pub fn sym(&self) -> Option<u32> {
        (self.tag == TAG_STR).then_some(self.sym)
    }
    pub fn as_str(&self) -> Option<&'a str> {
        if self.tag == TAG_STR { self.text } else { None }
    }
    /// `(first element index, count)` of an array.
    pub fn as_array(&self) -> Option<(usize, usize)> {
        (self.tag == TAG_ARRAY).then_some((self.bits as usize, self.sym as usize))
    }
}

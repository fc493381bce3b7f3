//! The frame layout both engines read: one 32-byte `#[repr(C)]` value per slot. Generated code
//! loads `tag`, `sym` and `num` at fixed offsets; strings are reached only through helpers.

use std::marker::PhantomData;

pub const TAG_MISSING: u32 = 0;
pub const TAG_NUM: u32 = 1;
pub const TAG_BOOL: u32 = 2;
pub const TAG_STR: u32 = 3;
pub const TAG_ARRAY: u32 = 4;
pub const TAG_OBJECT: u32 = 5;

/// Byte offsets and size, for the code generator.
pub const OFF_TAG: i32 = 0;
pub const OFF_SYM: i32 = 4;
pub const OFF_NUM: i32 = 8;
pub const OFF_LEN: i32 = 24;
pub const SLOT_SIZE: i64 = 32;

/// One slot's value: missing, a number, a boolean (in `sym`), a string borrowed from the event
/// (with its interned id in `sym`), an array (`len` = first element index in the frame's
/// element arena, `sym` = element count) or an object (present, no scalar value).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SlotVal<'a> {
    tag: u32,
    sym: u32,
    num: f64,
    ptr: *const u8,
    len: usize,
    _borrow: PhantomData<&'a str>,
}

const _: () = assert!(std::mem::size_of::<SlotVal>() == SLOT_SIZE as usize);

// SAFETY: a SlotVal is a `&'a str` (or plain numbers) in another form: the pointer is only
// ever built from a `&'a str` and read back as one, so sharing it across threads is as safe as
// sharing the `&str`.
unsafe impl Send for SlotVal<'_> {}
// SAFETY: as above; nothing is ever written through the pointer.
unsafe impl Sync for SlotVal<'_> {}

impl<'a> SlotVal<'a> {
    pub const MISSING: SlotVal<'static> = SlotVal {
        tag: TAG_MISSING,
        sym: 0,
        num: 0.0,
        ptr: std::ptr::null(),
        len: 0,
        _borrow: PhantomData,
    };

    pub fn missing() -> Self {
        Self::with(TAG_MISSING)
    }
    fn with(tag: u32) -> Self {
        SlotVal {
            tag,
            sym: 0,
            num: 0.0,
            ptr: std::ptr::null(),
            len: 0,
            _borrow: PhantomData,
        }
    }
    pub fn number(v: f64) -> Self {
        SlotVal {
            num: v,
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
            ptr: s.as_ptr(),
            len: s.len(),
            ..Self::with(TAG_STR)
        }
    }
    pub fn array(start: usize, count: u32) -> Self {
        SlotVal {
            sym: count,
            len: start,
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
        (self.tag == TAG_NUM).then_some(self.num)
    }
    pub fn as_bool(&self) -> Option<bool> {
        (self.tag == TAG_BOOL).then_some(self.sym != 0)
    }
    pub fn sym(&self) -> Option<u32> {
        (self.tag == TAG_STR).then_some(self.sym)
    }
    pub fn as_str(&self) -> Option<&'a str> {
        if self.tag != TAG_STR {
            return None;
        }
        // SAFETY: tag STR is only set by `string`, from a `&'a str` whose pointer and length
        // are stored unchanged; the borrow lives for 'a.
        Some(unsafe {
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len))
        })
    }
    /// `(first element index, count)` of an array.
    pub fn as_array(&self) -> Option<(usize, usize)> {
        (self.tag == TAG_ARRAY).then_some((self.len, self.sym as usize))
    }
}

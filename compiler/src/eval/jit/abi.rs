//! The frame layout as generated code sees it: byte offsets into [`SlotVal`] (one 32-byte
//! `#[repr(C)]` value per slot), computed from the struct so they cannot drift from it.

use crate::eval::value::SlotVal;

/// Byte offsets and size, for the code generator.
pub const OFF_TAG: i32 = std::mem::offset_of!(SlotVal, tag) as i32;
pub const OFF_SYM: i32 = std::mem::offset_of!(SlotVal, sym) as i32;
/// A number's bits (read as f64) or an array's first element index (read as i64).
pub const OFF_BITS: i32 = std::mem::offset_of!(SlotVal, bits) as i32;
pub const SLOT_SIZE: i64 = std::mem::size_of::<SlotVal>() as i64;

const _: () = assert!(SLOT_SIZE == 32);
const _: () = assert!(OFF_TAG == 0 && OFF_SYM == 4 && OFF_BITS == 8);

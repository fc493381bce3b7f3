//! `extern "C"` entry points generated code calls for what is not plain arithmetic: string
//! operators, CIDR tries, large sets, lists read from files, dynamic comparisons, maths from libm. Each one
//! rebuilds safe references from the pointers the generated code passes and calls the same
//! function in [`crate::eval::ops`] the interpreter calls.

use crate::eval::ops;
use crate::eval::value::SlotVal;
use crate::ir::tables::TextOp;
use crate::ir::{CmpOp, Ir};

/// # Safety
/// `ir` points at the rule set's live IR; `slot` at a slot of the current frame; `elems` at
/// the frame's element arena of `elems_len` values. Generated code passes exactly those.
pub unsafe extern "C" fn text(
    ir: *const Ir,
    test: u32,
    negated: u32,
    slot: *const SlotVal,
    elems: *const SlotVal,
    elems_len: u64,
    own: u32,
    k: u32,
) -> u8 {
    // SAFETY: per the contract above, all three pointers are valid for the call's duration.
    let (ir, slot, elems) = unsafe { (&*ir, &*slot, arena(elems, elems_len)) };
    let own = (own != u32::MAX).then_some(own);
    ops::text(ir, test, negated != 0, slot, elems, own, k as usize) as u8
}

/// # Safety
/// As [`text`].
pub unsafe extern "C" fn cidr(ir: *const Ir, trie: u32, negated: u32, slot: *const SlotVal) -> u8 {
    // SAFETY: valid per the contract.
    let (ir, slot) = unsafe { (&*ir, &*slot) };
    ops::cidr(ir, trie, negated != 0, slot) as u8
}

/// # Safety
/// As [`text`].
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn in_list(
    ir: *const Ir,
    list: u32,
    test: u32,
    negated: u32,
    slot: *const SlotVal,
    elems: *const SlotVal,
    elems_len: u64,
    own: u32,
    k: u32,
) -> u8 {
    // SAFETY: valid per the contract.
    let (ir, slot, elems) = unsafe { (&*ir, &*slot, arena(elems, elems_len)) };
    let own = (own != u32::MAX).then_some(own);
    ops::in_list(ir, list, test, negated != 0, slot, elems, own, k as usize) as u8
}

/// # Safety
/// As [`text`].
pub unsafe extern "C" fn in_syms(
    ir: *const Ir,
    set: u32,
    negated: u32,
    slot: *const SlotVal,
) -> u8 {
    // SAFETY: valid per the contract.
    let (ir, slot) = unsafe { (&*ir, &*slot) };
    ops::in_syms(ir, set, negated != 0, slot) as u8
}

/// # Safety
/// `a` and `b` point at slots of the current frames.
pub unsafe extern "C" fn dyn_cmp(op: u32, a: *const SlotVal, b: *const SlotVal) -> u8 {
    // SAFETY: valid per the contract.
    let (a, b) = unsafe { (&*a, &*b) };
    ops::dyn_cmp(CmpOp::from_code(op), a, b) as u8
}

/// The element arena as a slice.
///
/// # Safety
/// `elems` points at `len` initialised values (or `len` is 0).
unsafe fn arena<'x>(elems: *const SlotVal<'x>, len: u64) -> &'x [SlotVal<'x>] {
    if len == 0 || elems.is_null() {
        return &[];
    }
    // SAFETY: per the contract; the arena is a live `Vec` for the call's duration.
    unsafe { std::slice::from_raw_parts(elems, len as usize) }
}

/// # Safety
/// `a` and `b` point at slots of the current frames.
pub unsafe extern "C" fn text_field(
    op: u32,
    nocase: u32,
    negated: u32,
    a: *const SlotVal,
    b: *const SlotVal,
) -> u8 {
    // SAFETY: valid per the contract.
    let (a, b) = unsafe { (&*a, &*b) };
    let op = match op {
        0 => TextOp::Contains,
        1 => TextOp::StartsWith,
        2 => TextOp::EndsWith,
        _ => TextOp::Under,
    };
    ops::text_field(op, nocase != 0, negated != 0, a, b) as u8
}

/// The code [`text_field`] reads an operator from.
pub fn text_field_code(op: TextOp) -> u32 {
    match op {
        TextOp::Contains => 0,
        TextOp::StartsWith => 1,
        TextOp::EndsWith => 2,
        _ => 3,
    }
}

/// # Safety
/// `ir` points at the live IR, `slot` at a slot of the current frame.
pub unsafe extern "C" fn cmp_const(ir: *const Ir, op: u32, slot: *const SlotVal, sym: u32) -> u8 {
    // SAFETY: valid per the contract.
    let (ir, slot) = unsafe { (&*ir, &*slot) };
    ops::cmp_const(ir, CmpOp::from_code(op), slot, sym) as u8
}

//! The operations both engines share: the interpreter calls them directly, the JIT through
//! `extern "C"` helpers (or emits the same IEEE instruction). One definition each, so the two
//! engines cannot drift apart.

use super::SlotVal;
use super::value::{TAG_BOOL, TAG_NUM, TAG_STR};
use crate::ir::tables::TextOp;
use crate::ir::{CmpOp, Ir};

/// The NaN every numeric result is reported as, whatever NaN payload arithmetic produced.
pub const CANONICAL_NAN: f64 = f64::NAN;

pub fn canonical(x: f64) -> f64 {
    if x.is_nan() { CANONICAL_NAN } else { x }
}

/// NaN when either is NaN, else the smaller; the right operand when equal (`min(-0, 0)` is 0).
pub fn min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        CANONICAL_NAN
    } else if a < b {
        a
    } else {
        b
    }
}

pub fn max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        CANONICAL_NAN
    } else if a > b {
        a
    } else {
        b
    }
}

/// Prometheus `round(x, to)`: `floor(x / to + 0.5) * to`, computed as Prometheus does (through
/// the inverse, so `round(x, 0.1)` gives the same float as Prometheus).
pub extern "C" fn round_to(x: f64, to: f64) -> f64 {
    let inv = 1.0 / to;
    (x * inv + 0.5).floor() / inv
}

pub extern "C" fn ln(x: f64) -> f64 {
    x.ln()
}

pub extern "C" fn log10(x: f64) -> f64 {
    x.log10()
}

/// Two dynamic values: same kinds compare as that kind (strings byte-wise), different kinds
/// are never related, not even by `!=`.
pub fn dyn_cmp(op: CmpOp, a: &SlotVal, b: &SlotVal) -> bool {
    match (a.tag(), b.tag()) {
        (TAG_NUM, TAG_NUM) => op.num(a.as_num().unwrap_or(0.0), b.as_num().unwrap_or(0.0)),
        (TAG_BOOL, TAG_BOOL) => op.holds(a.as_bool().cmp(&b.as_bool())),
        (TAG_STR, TAG_STR) => op.holds(a.as_str().cmp(&b.as_str())),
        _ => false,
    }
}

/// A compiled string operator on a slot: strings are tested, arrays element by element
/// (`elem_own` is the element's own slot, `k` the element width), anything else is false.
pub fn text(
    ir: &Ir,
    test: u32,
    negated: bool,
    v: &SlotVal,
    elems: &[SlotVal],
    elem_own: Option<u32>,
    k: usize,
) -> bool {
    let t = &ir.texts[test as usize];
    if let Some(s) = v.as_str() {
        return t.test(s) != negated;
    }
    element_strings(v, elems, elem_own, k).is_some_and(|e| t.test_elements(e) != negated)
}

/// The string elements of an array slot (`elem_own` the element's own slot, `k` the element
/// width); `None` for anything else, or with no element layout.
fn element_strings<'f, 'a>(
    v: &SlotVal,
    elems: &'f [SlotVal<'a>],
    elem_own: Option<u32>,
    k: usize,
) -> Option<impl Iterator<Item = &'a str> + Clone + 'f> {
    let ((start, n), own) = (v.as_array()?, elem_own?);
    let items = element_range(elems, start, n, k)?;
    Some(
        items
            .chunks_exact(k.max(1))
            .filter_map(move |e| e.get(own as usize).and_then(|s| s.as_str())),
    )
}

pub fn cidr(ir: &Ir, trie: u32, negated: bool, v: &SlotVal) -> bool {
    match v.as_str().and_then(|s| ir.cidrs[trie as usize].lookup(s)) {
        Some(hit) => hit != negated,
        None => false,
    }
}

/// A slot against a list read from a file, as its current contents hold it: a string is
/// tested; an array's elements by a string operator (as [`text`] does, `elem_own` and `k`
/// alike); anything else is false, as for [`in_syms`], [`cidr`] and [`text`].
#[allow(clippy::too_many_arguments)]
pub fn in_list(
    ir: &Ir,
    list: u32,
    test: u32,
    negated: bool,
    v: &SlotVal,
    elems: &[SlotVal],
    elem_own: Option<u32>,
    k: usize,
) -> bool {
    let l = &ir.lists[list as usize];
    if let Some(s) = v.as_str() {
        return l.test(test, s).is_some_and(|hit| hit != negated);
    }
    element_strings(v, elems, elem_own, k).is_some_and(|e| l.test_elements(test, e) != negated)
}

pub fn in_syms(ir: &Ir, set: u32, negated: bool, v: &SlotVal) -> bool {
    match v.sym() {
        Some(s) => ir.sets[set as usize].binary_search(&s).is_ok() != negated,
        None => false,
    }
}

/// The elements of an array slot, if the arena holds them all (it always does when the frame
/// was filled by [`super::Frame`]; the check keeps a hand-built frame from reading past it).
pub fn element_range<'f, 'a>(
    elems: &'f [SlotVal<'a>],
    start: usize,
    n: usize,
    k: usize,
) -> Option<&'f [SlotVal<'a>]> {
    let end = n.checked_mul(k)?.checked_add(start)?;
    elems.get(start..end)
}

/// A string operator with a field as its pattern; both sides must be strings.
pub fn text_field(op: TextOp, nocase: bool, negated: bool, a: &SlotVal, b: &SlotVal) -> bool {
    let (Some(s), Some(p)) = (a.as_str(), b.as_str()) else {
        return false;
    };
    let hit = match (op, nocase) {
        (TextOp::Contains, false) => s.contains(p),
        (TextOp::StartsWith, false) => s.starts_with(p),
        (TextOp::EndsWith, false) => s.ends_with(p),
        (TextOp::Contains, true) => s
            .char_indices()
            .map(|(i, _)| i)
            .chain([s.len()])
            .any(|i| lower_prefix(&s[i..], p).is_some()),
        (TextOp::StartsWith, true) => lower_prefix(s, p).is_some(),
        (TextOp::EndsWith, true) => {
            let mut si = s.chars().rev().flat_map(char::to_lowercase);
            p.chars()
                .rev()
                .flat_map(char::to_lowercase)
                .all(|c| si.next() == Some(c))
        }
        (TextOp::Under, _) => {
            let p = p.trim_end_matches('/');
            let rest = if nocase {
                lower_prefix(s, p)
            } else {
                s.strip_prefix(p)
            };
            rest.is_some_and(|r| r.is_empty() || r.starts_with('/'))
        }
        _ => false,
    };
    hit != negated
}

/// When `s` starts with `p` compared by lower case, the rest of `s`.
fn lower_prefix<'s>(s: &'s str, p: &str) -> Option<&'s str> {
    let mut want = p.chars().flat_map(char::to_lowercase).peekable();
    for (i, c) in s.char_indices() {
        if want.peek().is_none() {
            return Some(&s[i..]);
        }
        for l in c.to_lowercase() {
            if want.next() != Some(l) {
                return None;
            }
        }
    }
    want.peek().is_none().then_some("")
}

/// A string slot against a constant string, by any comparison (ordering is byte-wise).
pub fn cmp_const(ir: &Ir, op: CmpOp, v: &SlotVal, sym: u32) -> bool {
    match (v.as_str(), ir.strings.resolve(sym)) {
        (Some(s), Some(c)) => op.holds(s.cmp(c)),
        _ => false,
    }
}

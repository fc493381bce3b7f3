//! The reference interpreter: the meaning of every IR node, written as plainly as possible.
//! The JIT must agree with it on every input; the differential tests hold it to that.

use super::SlotVal;
use super::ops;
use crate::ir::{Arith, CmpKind, CmpOp, Ir, Kind, Layout, Math, Node, NodeId};

/// Quantifiers nest at most this deep (the checker's nesting limit keeps real rules far below).
pub const MAX_DEPTH: usize = 8;

/// Where slots are read: one frame per quantifier depth, and the element arena.
#[derive(Clone, Copy)]
pub(super) struct Env<'f, 'a> {
    frames: [&'f [SlotVal<'a>]; MAX_DEPTH],
    layouts: [&'f Layout; MAX_DEPTH],
    elems: &'f [SlotVal<'a>],
}

/// Evaluates a predicate: true only when it holds (missing is false).
pub fn eval_bool(ir: &Ir, root: NodeId, slots: &[SlotVal], elems: &[SlotVal]) -> bool {
    truth(ir, &env(ir, slots, elems), root)
}

/// Evaluates a number; `None` when missing. NaN is canonical.
pub fn eval_num(ir: &Ir, root: NodeId, slots: &[SlotVal], elems: &[SlotVal]) -> Option<f64> {
    num(ir, &env(ir, slots, elems), root).map(ops::canonical)
}

pub(super) fn env<'f, 'a>(
    ir: &'f Ir,
    slots: &'f [SlotVal<'a>],
    elems: &'f [SlotVal<'a>],
) -> Env<'f, 'a> {
    Env {
        frames: [slots; MAX_DEPTH],
        layouts: [&ir.layout; MAX_DEPTH],
        elems,
    }
}

/// Whether a node reads no slot (so it can be folded at compile time).
fn constant(ir: &Ir, id: NodeId) -> bool {
    match ir.node(id) {
        Node::Slot(..)
        | Node::Exists(_)
        | Node::InSyms { .. }
        | Node::Text { .. }
        | Node::TextField { .. }
        | Node::Cidr { .. }
        | Node::InList { .. }
        | Node::Quant { .. } => false,
        n => n.children().into_iter().all(|c| constant(ir, c)),
    }
}

/// The value of a constant numeric node, for folding (same code as evaluation).
pub fn fold_num(ir: &Ir, id: NodeId) -> Option<f64> {
    if !constant(ir, id) {
        return None;
    }
    num(ir, &env(ir, &[], &[]), id)
}

pub fn fold_bool(ir: &Ir, id: NodeId) -> Option<bool> {
    if !constant(ir, id) {
        return None;
    }
    Some(truth(ir, &env(ir, &[], &[]), id))
}

pub(super) fn slot<'a>(env: &Env<'_, 'a>, r: crate::ir::SlotRef) -> SlotVal<'a> {
    env.frames[r.depth as usize]
        .get(r.id as usize)
        .copied()
        .unwrap_or(SlotVal::MISSING)
}

pub(super) fn num(ir: &Ir, env: &Env, id: NodeId) -> Option<f64> {
    match ir.node(id) {
        Node::Num(b) => Some(f64::from_bits(*b)),
        Node::Slot(r, Kind::Num) => slot(env, *r).as_num(),
        Node::Math(m, a) => {
            let x = num(ir, env, *a)?;
            Some(match m {
                Math::Neg => -x,
                Math::Abs => x.abs(),
                Math::Ln => ops::ln(x),
                Math::Log10 => ops::log10(x),
            })
        }
        Node::Arith(op, a, b) => {
            let x = num(ir, env, *a)?;
            let y = num(ir, env, *b)?;
            Some(match op {
                Arith::Add => x + y,
                Arith::Sub => x - y,
                Arith::Mul => x * y,
                Arith::Div => x / y,
                Arith::Min => ops::min(x, y),
                Arith::Max => ops::max(x, y),
                Arith::Round => ops::round_to(x, y),
            })
        }
        _ => None,
    }
}

/// A boolean operand (for `==` between booleans): `None` when missing.
fn boolean(ir: &Ir, env: &Env, id: NodeId) -> Option<bool> {
    match ir.node(id) {
        Node::Slot(r, Kind::Bool) => slot(env, *r).as_bool(),
        _ => Some(truth(ir, env, id)),
    }
}

pub(super) fn truth(ir: &Ir, env: &Env, id: NodeId) -> bool {
    match ir.node(id) {
        Node::Bool(b) => *b,
        Node::Slot(r, Kind::Bool) => slot(env, *r).as_bool() == Some(true),
        Node::Slot(..)
        | Node::Num(_)
        | Node::Str(_)
        | Node::Env(_)
        | Node::Math(..)
        | Node::Arith(..) => false,
        Node::Exists(r) => slot(env, *r).is_present(),
        Node::Cmp(op, kind, a, b) => compare(ir, env, *op, *kind, *a, *b),
        Node::Not(a) => !truth(ir, env, *a),
        Node::And(v) => v.iter().all(|c| truth(ir, env, *c)),
        Node::Or(v) => v.iter().any(|c| truth(ir, env, *c)),
        Node::InSyms {
            slot: r,
            set,
            negated,
        } => ops::in_syms(ir, *set, *negated, &slot(env, *r)),
        Node::InNums {
            lhs,
            values,
            negated,
        } => match num(ir, env, *lhs) {
            Some(x) => values.iter().any(|v| x == f64::from_bits(*v)) != *negated,
            None => false,
        },
        Node::Text {
            slot: r,
            test,
            negated,
            elem,
        } => {
            let k = env.layouts[r.depth as usize].elem_width(r.id);
            ops::text(ir, *test, *negated, &slot(env, *r), env.elems, *elem, k)
        }
        Node::TextField {
            op,
            nocase,
            negated,
            lhs,
            rhs,
        } => ops::text_field(*op, *nocase, *negated, &slot(env, *lhs), &slot(env, *rhs)),
        Node::Cidr {
            slot: r,
            trie,
            negated,
        } => ops::cidr(ir, *trie, *negated, &slot(env, *r)),
        Node::InList {
            slot: r,
            list,
            test,
            negated,
            elem,
        } => {
            let k = env.layouts[r.depth as usize].elem_width(r.id);
            let v = slot(env, *r);
            ops::in_list(ir, *list, *test, *negated, &v, env.elems, *elem, k)
        }
        Node::Quant {
            all,
            slot: r,
            body,
            depth,
        } => quantifier(ir, env, *all, *r, *body, *depth),
    }
}

/// A comparison as its kind decides (see [`CmpKind`]). Inlined into `truth`, its only
/// caller, as the hot path was written before it was split out.
#[inline(always)]
fn compare(ir: &Ir, env: &Env, op: CmpOp, kind: CmpKind, a: NodeId, b: NodeId) -> bool {
    match kind {
        CmpKind::Num => match (num(ir, env, a), num(ir, env, b)) {
            (Some(x), Some(y)) => op.num(x, y),
            _ => false,
        },
        CmpKind::Bool => match (boolean(ir, env, a), boolean(ir, env, b)) {
            (Some(x), Some(y)) => op.holds(x.cmp(&y)),
            _ => false,
        },
        CmpKind::Sym => {
            let (Node::Slot(r, _), Node::Str(c)) = (ir.node(a), ir.node(b)) else {
                return false;
            };
            match op {
                CmpOp::Eq | CmpOp::Ne => match slot(env, *r).sym() {
                    Some(s) => op.holds(s.cmp(c)),
                    None => false,
                },
                _ => ops::cmp_const(ir, op, &slot(env, *r), *c),
            }
        }
        CmpKind::Dyn => {
            let (Node::Slot(ra, _), Node::Slot(rb, _)) = (ir.node(a), ir.node(b)) else {
                return false;
            };
            ops::dyn_cmp(op, &slot(env, *ra), &slot(env, *rb))
        }
    }
}

/// `any`/`all` over an array slot's elements, each read as frame `depth`.
fn quantifier(
    ir: &Ir,
    env: &Env,
    all: bool,
    r: crate::ir::SlotRef,
    body: NodeId,
    depth: u8,
) -> bool {
    let Some((start, n)) = slot(env, r).as_array() else {
        return false;
    };
    let Some(layout) = env.layouts[r.depth as usize].slots[r.id as usize]
        .elem
        .as_ref()
    else {
        return false;
    };
    let k = layout.len();
    let d = depth as usize;
    if d >= MAX_DEPTH {
        return false;
    }
    let Some(items) = ops::element_range(env.elems, start, n, k) else {
        return false;
    };
    let mut inner = *env;
    inner.layouts[d] = layout;
    let mut each = (0..n).map(|i| {
        inner.frames[d] = &items[i * k..(i + 1) * k];
        truth(ir, &inner, body)
    });
    if all {
        each.all(|b| b)
    } else {
        each.any(|b| b)
    }
}

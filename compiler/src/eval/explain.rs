//! Why a condition held or not: each part of a predicate with the values it compared, for
//! `vigil replay --trace` and `vigil test -v`. It walks the program with the interpreter (the
//! reference semantics), so it explains exactly what either backend decided.

use super::interp::{self, Env};
use super::{Frame, RuleSet, SlotVal};
use crate::ir::{Arith, CmpKind, Ir, Kind, Math, Node, NodeId, SlotRef, SlotSource};

/// One part of a condition: nesting depth (`and`/`or`/`not` open a level), what it tests with
/// the values read, and whether it held.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub depth: usize,
    pub text: String,
    pub held: bool,
}

/// Explains predicate program `prog` on `frame`, its root first.
pub fn explain(rs: &RuleSet, prog: usize, frame: &Frame) -> Vec<Part> {
    let ir = rs.ir();
    let env = interp::env(ir, &frame.slots, &frame.elems);
    let mut out = Vec::new();
    walk(ir, &env, ir.programs[prog].root, 0, &mut out);
    out
}

fn walk(ir: &Ir, env: &Env, id: NodeId, depth: usize, out: &mut Vec<Part>) {
    let held = interp::truth(ir, env, id);
    match ir.node(id) {
        Node::And(v) | Node::Or(v) => {
            let all = matches!(ir.node(id), Node::And(_));
            out.push(Part {
                depth,
                text: (if all { "all of" } else { "any of" }).into(),
                held,
            });
            for c in v {
                walk(ir, env, *c, depth + 1, out);
            }
        }
        Node::Not(a) => {
            out.push(Part {
                depth,
                text: "not".into(),
                held,
            });
            walk(ir, env, *a, depth + 1, out);
        }
        Node::Cmp(op, kind, a, b) => {
            let mut text = format!("{} {op} {}", name(ir, *a), name(ir, *b));
            if *kind == CmpKind::Num {
                let v = |n| match interp::num(ir, env, n) {
                    Some(x) => number(x),
                    None => "missing".to_string(),
                };
                text += &format!("  ({} {op} {})", v(*a), v(*b));
            } else if let Node::Slot(r, _) = ir.node(*a) {
                text += &format!("  ({})", value(interp::slot(env, *r)));
            }
            out.push(Part { depth, text, held });
        }
        n => out.push(Part {
            depth,
            text: match n {
                Node::Slot(r, Kind::Bool) => {
                    format!("{}  ({})", slot_name(ir, *r), value(interp::slot(env, *r)))
                }
                Node::Exists(r) => format!("exists {}", slot_name(ir, *r)),
                Node::InSyms { slot, negated, .. }
                | Node::Text { slot, negated, .. }
                | Node::InList { slot, negated, .. } => format!(
                    "{} {}  ({})",
                    slot_name(ir, *slot),
                    if *negated {
                        "fails a string test"
                    } else {
                        "passes a string test"
                    },
                    value(interp::slot(env, *slot))
                ),
                Node::Cidr { slot, .. } => format!(
                    "{} in cidr  ({})",
                    slot_name(ir, *slot),
                    value(interp::slot(env, *slot))
                ),
                Node::Quant { all, slot, .. } => {
                    format!(
                        "{} of {}",
                        if *all { "all" } else { "any" },
                        slot_name(ir, *slot)
                    )
                }
                _ => name(ir, id),
            },
            held,
        }),
    }
}

/// A value as the trace prints it.
fn value(v: SlotVal) -> String {
    if let Some(x) = v.as_num() {
        number(x)
    } else if let Some(b) = v.as_bool() {
        b.to_string()
    } else if let Some(s) = v.as_str() {
        format!("{s:?}")
    } else if v.is_present() {
        "a value".into()
    } else {
        "missing".into()
    }
}

fn number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A numeric or string operand, written back as source-like text.
fn name(ir: &Ir, id: NodeId) -> String {
    match ir.node(id) {
        Node::Num(b) => number(f64::from_bits(*b)),
        Node::Bool(b) => b.to_string(),
        Node::Str(s) => format!("{:?}", ir.strings.resolve(*s).unwrap_or("?")),
        Node::Env(_) => "env(..)".into(),
        Node::Slot(r, _) => slot_name(ir, *r),
        Node::Math(m, a) => match m {
            Math::Neg => format!("-{}", name(ir, *a)),
            Math::Abs => format!("abs({})", name(ir, *a)),
            Math::Ln => format!("ln({})", name(ir, *a)),
            Math::Log10 => format!("log10({})", name(ir, *a)),
        },
        Node::Arith(op, a, b) => {
            let (a, b) = (name(ir, *a), name(ir, *b));
            match op {
                Arith::Add => format!("({a} + {b})"),
                Arith::Sub => format!("({a} - {b})"),
                Arith::Mul => format!("({a} * {b})"),
                Arith::Div => format!("({a} / {b})"),
                Arith::Min => format!("min({a}, {b})"),
                Arith::Max => format!("max({a}, {b})"),
                Arith::Round => format!("round({a}, {b})"),
            }
        }
        _ => "(condition)".into(),
    }
}

fn slot_name(ir: &Ir, r: SlotRef) -> String {
    if r.depth > 0 {
        return "element".into();
    }
    if let Some(plan) = ir.series.get(&r.id) {
        return plan.to_string();
    }
    match ir.layout.slots.get(r.id as usize).map(|s| &s.source) {
        Some(SlotSource::Field(path)) => {
            let mut s = String::from("event");
            for seg in path {
                match seg {
                    crate::ir::PathSeg::Key(k) => {
                        s.push('.');
                        s.push_str(k);
                    }
                    crate::ir::PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
                    crate::ir::PathSeg::Strings => s.push_str(".*"),
                }
            }
            s
        }
        Some(SlotSource::Aggregate(text)) => text.clone(),
        Some(SlotSource::Rule(r)) => r.clone(),
        Some(SlotSource::Alert(path)) => format!("alert.{}", path.join(".")),
        Some(SlotSource::Time) => "time()".into(),
        Some(SlotSource::Series(text)) => text.clone(),
        None => "?".into(),
    }
}

//! Predicates of the commonest metric shape, one number slot against a constant (`avg(cpu,
//! 5m) > 80`), decided by one comparison: a metric rule runs its predicate once per series
//! per evaluation, and for this shape a program call (native or interpreted) costs more than
//! the comparison itself. The result is the interpreter's, bit for bit (tested against it).

use super::ops;
use crate::ir::{CmpKind, CmpOp, Ir, Kind, Node, NodeId, SlotRef};

/// `slot <op> bound` (or `bound <op> slot`) on a number slot of the top frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// The slot compared.
    pub slot: u32,
    op: CmpOp,
    bound: f64,
    /// The constant is on the left (`90 < x`).
    flipped: bool,
}

impl Threshold {
    /// Program `p`'s predicate, when it has this shape.
    pub fn of(ir: &Ir, p: usize) -> Option<Threshold> {
        let prog = ir.programs.get(p)?;
        if prog.kind != Kind::Bool {
            return None;
        }
        let Node::Cmp(op, CmpKind::Num, a, b) = ir.node(prog.root) else {
            return None;
        };
        let bound = |n: NodeId| match ir.node(n) {
            Node::Num(bits) => Some(f64::from_bits(*bits)),
            _ => None,
        };
        let (slot, bound, flipped) = match (number_slot(ir, *a), bound(*b)) {
            (Some(s), Some(c)) => (s, c, false),
            _ => (number_slot(ir, *b)?, bound(*a)?, true),
        };
        Some(Threshold {
            slot,
            op: *op,
            bound,
            flipped,
        })
    }

    /// Whether the predicate holds when its slot holds the number `x`.
    #[inline]
    pub fn holds(&self, x: f64) -> bool {
        if self.flipped {
            self.op.num(self.bound, x)
        } else {
            self.op.num(x, self.bound)
        }
    }
}

/// A value program a threshold's rows take without a call: the number in the slot, or a
/// constant (`{{ value }}` of `90 < x` is the left side, 90).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowValue {
    Slot,
    Const(f64),
}

impl RowValue {
    /// Numeric program `p`'s form, when it is one of these for `slot`.
    pub fn of(ir: &Ir, p: usize, slot: u32) -> Option<RowValue> {
        let prog = ir.programs.get(p).filter(|prog| prog.kind == Kind::Num)?;
        match ir.node(prog.root) {
            Node::Num(bits) => Some(RowValue::Const(f64::from_bits(*bits))),
            _ => (number_slot(ir, prog.root) == Some(slot)).then_some(RowValue::Slot),
        }
    }

    /// The program's value when the slot holds `x`, NaN canonical.
    #[inline]
    pub fn at(self, x: f64) -> f64 {
        match self {
            RowValue::Slot => ops::canonical(x),
            RowValue::Const(c) => ops::canonical(c),
        }
    }
}

fn number_slot(ir: &Ir, n: NodeId) -> Option<u32> {
    match ir.node(n) {
        Node::Slot(SlotRef { depth: 0, id }, Kind::Num) => Some(*id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Engine, Frame, RuleSet, SlotVal};

    fn rules(src: &str, engine: Engine) -> RuleSet {
        let checked = crate::check_source("t.rules", src, None);
        assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
        RuleSet::from_checked(&checked, engine).expect("lowers")
    }

    /// Values where comparisons differ: both zeros, NaN, infinities, the bound and its
    /// neighbours.
    fn values(bound: f64) -> Vec<f64> {
        let mut v = vec![
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            1e300,
            -1e300,
        ];
        if bound.is_finite() {
            v.extend([bound, bound.next_up(), bound.next_down(), -bound]);
        }
        v
    }

    #[test]
    fn agrees_with_the_interpreter_and_the_jit() {
        let ops = ["<", "<=", ">", ">=", "==", "!="];
        let bounds = [80.0, 0.0, -0.0, -2.5, 1e-9];
        let mut checked = 0;
        for op in ops {
            for bound in bounds {
                for flipped in [false, true] {
                    let cond = if flipped {
                        format!("{bound:?} {op} avg(cpu, 5m)")
                    } else {
                        format!("avg(cpu, 5m) {op} {bound:?}")
                    };
                    let src = format!("package t\nrule r {{\n  when {cond}\n}}\n");
                    for engine in [Engine::Interp, Engine::Jit] {
                        let set = rules(&src, engine);
                        let ir = set.ir();
                        let p = ir
                            .programs
                            .iter()
                            .position(|p| p.kind == Kind::Bool)
                            .expect("a predicate");
                        let th = Threshold::of(ir, p).unwrap_or_else(|| panic!("{cond}"));
                        let mut frame = Frame::new(ir);
                        for x in values(bound) {
                            frame.set(th.slot, SlotVal::number(x));
                            assert_eq!(th.holds(x), set.eval_bool(p, &frame), "{cond} at {x}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 500);
    }

    #[test]
    fn other_shapes_are_not_thresholds() {
        for cond in [
            "avg(cpu, 5m) > 80 and max(cpu, 5m) > 90",
            "avg(cpu, 5m) * 2 > 80",
            "avg(cpu, 5m) > max(cpu, 5m)",
            "not (avg(cpu, 5m) > 80)",
        ] {
            let set = rules(
                &format!("package t\nrule r {{\n  when {cond}\n}}\n"),
                Engine::Interp,
            );
            let ir = set.ir();
            for (p, prog) in ir.programs.iter().enumerate() {
                if prog.kind == Kind::Bool {
                    assert_eq!(Threshold::of(ir, p), None, "{cond}");
                }
            }
        }
    }

    #[test]
    fn row_values_are_the_programs_values() {
        for (cond, want) in [
            ("avg(cpu, 5m) > 80", RowValue::Slot),
            ("80 < avg(cpu, 5m)", RowValue::Const(80.0)),
        ] {
            let set = rules(
                &format!("package t\nrule r {{\n  when {cond}\n}}\n"),
                Engine::Jit,
            );
            let ir = set.ir();
            let p = ir.programs.iter().position(|p| p.kind == Kind::Bool);
            let th = Threshold::of(ir, p.expect("a predicate")).expect("a threshold");
            let value = ir
                .programs
                .iter()
                .position(|p| p.kind == Kind::Num)
                .expect("a value program");
            let row = RowValue::of(ir, value, th.slot);
            assert_eq!(row, Some(want), "{cond}");
            if want == RowValue::Slot {
                assert_eq!(RowValue::of(ir, value, th.slot + 1), None);
            }
            let mut frame = Frame::new(ir);
            for x in [1.5, f64::NAN, -f64::NAN, -0.0] {
                frame.set(th.slot, SlotVal::number(x));
                let v = set.eval_num(value, &frame).expect("a value");
                assert_eq!(v.to_bits(), want.at(x).to_bits(), "{cond} at {x}");
            }
        }
    }
}

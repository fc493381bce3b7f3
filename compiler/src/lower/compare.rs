//! Binary operators: `and`/`or`, arithmetic, and comparisons in the shape each operand pair
//! needs (interned strings, numbers, booleans, dynamic fields, secrets).

use super::*;

impl<'a> Lowerer<'a> {
    pub(super) fn binary(
        &mut self,
        sc: &mut Scope<'a>,
        op: BinOp,
        lhs: &'a Expr,
        rhs: &'a Expr,
        span: Span,
    ) -> Result<Low, LowerError> {
        let l = self.expr(sc, lhs)?;
        let r = self.expr(sc, rhs)?;
        match op {
            BinOp::And | BinOp::Or => {
                let a = self.boolean(l, lhs.span)?;
                let b = self.boolean(r, rhs.span)?;
                let id = if op == BinOp::And {
                    self.and(vec![a, b])
                } else {
                    self.or(vec![a, b])
                };
                Ok(Low::Node(id, T::Bool))
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                if let (Low::Pct(a), Low::Pct(b)) = (&l, &r) {
                    return Ok(Low::Pct(match op {
                        BinOp::Add => a + b,
                        BinOp::Sub => a - b,
                        BinOp::Mul => a * b / 100.0,
                        _ => return Ok(self.num(a / b)),
                    }));
                }
                let a = self.number(l, self.unit(rhs.span), lhs.span)?;
                let b = self.number(r, self.unit(lhs.span), rhs.span)?;
                let ar = match op {
                    BinOp::Add => Arith::Add,
                    BinOp::Sub => Arith::Sub,
                    BinOp::Mul => Arith::Mul,
                    _ => Arith::Div,
                };
                let id = self.ir.add(Node::Arith(ar, a, b));
                Ok(self.fold(id, T::Num))
            }
            _ => {
                let c = cmp_op(op);
                let l = Operand {
                    low: l,
                    unit: self.unit(lhs.span),
                };
                let r = Operand {
                    low: r,
                    unit: self.unit(rhs.span),
                };
                let opened = sc.opened.clone();
                let id = self.compare(&opened, c, l, r, sc.nocase, span)?;
                Ok(Low::Node(id, T::Bool))
            }
        }
    }

    /// A comparison. Constants on the left are turned around, so slot-vs-constant has one
    /// shape; strings and secrets compare by interned id, the rest by kind.
    pub(super) fn compare(
        &mut self,
        path: &[SlotRef],
        op: CmpOp,
        l: Operand,
        r: Operand,
        nocase: bool,
        span: Span,
    ) -> Result<NodeId, LowerError> {
        let is_const = |l: &Low| !matches!(l, Low::Node(..));
        if is_const(&l.low) && !is_const(&r.low) {
            return self.compare(path, op.flipped(), r, l, nocase, span);
        }
        if let Some(id) = self.compare_text(path, op, &l.low, &r.low, nocase, span)? {
            return Ok(id);
        }
        let (Operand { low: l, unit: lu }, Operand { low: r, unit: ru }) = (l, r);
        let kind = match (self.ty(&l), self.ty(&r)) {
            (Some(T::Dyn), Some(T::Dyn)) => {
                let a = self.as_kind(&l, Kind::Any, span)?;
                let b = self.as_kind(&r, Kind::Any, span)?;
                // Two slots, each maybe a string: byte comparison when both are strings.
                return Ok(self.ir.add(Node::Cmp(op, CmpKind::Dyn, a, b)));
            }
            (Some(T::Bool), _) | (_, Some(T::Bool)) => CmpKind::Bool,
            _ => CmpKind::Num,
        };
        let (a, b) = if kind == CmpKind::Bool {
            (
                self.as_kind(&l, Kind::Bool, span)?,
                self.as_kind(&r, Kind::Bool, span)?,
            )
        } else {
            (self.number(l, ru, span)?, self.number(r, lu, span)?)
        };
        let id = self.ir.add(Node::Cmp(op, kind, a, b));
        Ok(self.fold_bool(id))
    }

    /// Comparisons with a constant string or a secret on the right (`None` for the others).
    fn compare_text(
        &mut self,
        path: &[SlotRef],
        op: CmpOp,
        l: &Low,
        r: &Low,
        nocase: bool,
        span: Span,
    ) -> Result<Option<NodeId>, LowerError> {
        let id = match (l, r) {
            (Low::Node(n, T::Dyn), Low::Env(name)) if !nocase => {
                let Node::Slot(slot, _) = *self.ir.node(*n) else {
                    return Ok(Some(self.ir.add(Node::Bool(false))));
                };
                if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    self.mark_sym_at(path, slot);
                }
                let a = self.ir.add(Node::Slot(slot, Kind::Str));
                let b = self.ir.env(name);
                self.ir.add(Node::Cmp(op, CmpKind::Sym, a, b))
            }
            (_, Low::Env(_)) | (Low::Env(_), _) => {
                return fail(
                    Code::ConstantRequired,
                    span,
                    "`env(..)` is read when the rules are loaded: compare it exactly with an event field (`event.user == env(\"ADMIN\")`)",
                );
            }
            (Low::Str(a), Low::Str(b)) => {
                let v = if nocase && matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    tables::nocase_eq(a, b) == (op == CmpOp::Eq)
                } else {
                    op.holds(a.as_str().cmp(b.as_str()))
                };
                self.ir.add(Node::Bool(v))
            }
            (Low::Node(n, t), Low::Str(s)) => {
                let slot = match (*t, self.ir.node(*n)) {
                    (T::Dyn, Node::Slot(slot, _)) => *slot,
                    _ => return Ok(Some(self.ir.add(Node::Bool(false)))),
                };
                if nocase && matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    let spec = TextSpec::equals_nocase(op == CmpOp::Ne);
                    let low = self.text(path, l.clone(), spec, vec![s.clone()], span)?;
                    return self.boolean(low, span).map(Some);
                }
                if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    self.mark_sym_at(path, slot);
                }
                let a = self.ir.add(Node::Slot(slot, Kind::Str));
                let sym = self.ir.strings.intern(s);
                let b = self.ir.add(Node::Str(sym));
                self.ir.add(Node::Cmp(op, CmpKind::Sym, a, b))
            }
            _ => return Ok(None),
        };
        Ok(Some(id))
    }

    pub(super) fn ty(&self, l: &Low) -> Option<T> {
        match l {
            Low::Node(_, t) => Some(*t),
            Low::Pct(_) => Some(T::Num),
            _ => None,
        }
    }

    /// Marks a slot's strings for interning at ingest.
    pub(super) fn mark_sym_at(&mut self, opened: &[SlotRef], slot: SlotRef) {
        let layout = self.ir.layout_for_mut(opened, slot.depth as usize);
        layout.slots[slot.id as usize].needs_sym = true;
    }
}

/// The IR comparison of a comparison operator (the caller knows `op` is one).
pub(super) fn cmp_op(op: BinOp) -> CmpOp {
    match op {
        BinOp::Eq => CmpOp::Eq,
        BinOp::Ne => CmpOp::Ne,
        BinOp::Lt => CmpOp::Lt,
        BinOp::Le => CmpOp::Le,
        BinOp::Gt => CmpOp::Gt,
        _ => CmpOp::Ge,
    }
}

//! Placing values: a lowered value as a number, a condition or a slot of some kind;
//! conjunctions flattened and ordered cheapest first; constants folded with the interpreter.

use super::*;

impl<'a> Lowerer<'a> {
    /// A value as a number node. Percent literals scale by their partner's unit.
    pub(super) fn number(
        &mut self,
        l: Low,
        partner: Option<Unit>,
        span: Span,
    ) -> Result<NodeId, LowerError> {
        match l {
            Low::Pct(p) => Ok(self.ir.add(Node::Num(pct(p, partner).to_bits()))),
            Low::Node(n, T::Num) => Ok(n),
            Low::Node(n, _) => self.as_kind(&Low::Node(n, T::Dyn), Kind::Num, span),
            _ => err(span, "expected a number"),
        }
    }

    /// A value as a condition.
    pub(super) fn boolean(&mut self, l: Low, span: Span) -> Result<NodeId, LowerError> {
        match l {
            Low::Node(n, T::Bool) => Ok(n),
            Low::Node(n, T::Dyn) => self.as_kind(&Low::Node(n, T::Dyn), Kind::Bool, span),
            Low::Node(n, T::Num) => match *self.ir.node(n) {
                // An anomaly score used bare: "above the method's bound", supplied as a flag;
                // `at_least(..)` is itself a condition.
                Node::Slot(r, Kind::Num) if r.depth == 0 => {
                    match self.ir.series.get(&r.id).cloned() {
                        Some(series::SeriesExpr::Anomaly {
                            method,
                            sel,
                            range,
                            season,
                            calendar,
                            bands,
                            ..
                        }) => {
                            let id = self.series_slot(series::SeriesExpr::Anomaly {
                                method,
                                sel,
                                range,
                                season,
                                calendar,
                                bands,
                                flag: true,
                            });
                            Ok(self
                                .ir
                                .add(Node::Slot(SlotRef { depth: 0, id }, Kind::Bool)))
                        }
                        Some(series::SeriesExpr::AtLeast(..)) => {
                            Ok(self.ir.add(Node::Slot(r, Kind::Bool)))
                        }
                        _ => err(span, "expected a condition, found a number"),
                    }
                }
                _ => err(span, "expected a condition, found a number"),
            },
            _ => err(span, "expected a condition"),
        }
    }

    /// Reads a slot node as another kind.
    pub(super) fn as_kind(
        &mut self,
        l: &Low,
        kind: Kind,
        span: Span,
    ) -> Result<NodeId, LowerError> {
        match l {
            Low::Node(n, t) => match *self.ir.node(*n) {
                Node::Slot(r, _) => Ok(self.ir.add(Node::Slot(r, kind))),
                _ if (kind == Kind::Bool && *t == T::Bool)
                    || (kind == Kind::Num && *t == T::Num) =>
                {
                    Ok(*n)
                }
                _ => err(span, "mismatched operand kinds"),
            },
            Low::Pct(p) => Ok(self.ir.add(Node::Num(pct(*p, None).to_bits()))),
            _ => err(span, "mismatched operand kinds"),
        }
    }

    pub(super) fn not(&mut self, b: NodeId) -> NodeId {
        match *self.ir.node(b) {
            Node::Bool(v) => self.ir.add(Node::Bool(!v)),
            Node::Not(inner) => inner,
            _ => self.ir.add(Node::Not(b)),
        }
    }

    /// A conjunction: flattened, constants folded, cheapest first.
    pub(super) fn and(&mut self, parts: Vec<NodeId>) -> NodeId {
        self.junction(parts, true)
    }

    pub(super) fn or(&mut self, parts: Vec<NodeId>) -> NodeId {
        self.junction(parts, false)
    }

    pub(super) fn junction(&mut self, parts: Vec<NodeId>, and: bool) -> NodeId {
        let mut flat = Vec::new();
        for p in parts {
            match self.ir.node(p) {
                Node::Bool(b) if *b == and => {}
                Node::Bool(_) => return p,
                Node::And(v) if and => flat.extend(v.clone()),
                Node::Or(v) if !and => flat.extend(v.clone()),
                _ => flat.push(p),
            }
        }
        let mut seen = HashSet::new();
        flat.retain(|p| seen.insert(*p));
        match flat.len() {
            0 => self.ir.add(Node::Bool(and)),
            1 => flat[0],
            _ => {
                flat.sort_by_key(|&p| self.ir.cost(p));
                self.ir
                    .add(if and { Node::And(flat) } else { Node::Or(flat) })
            }
        }
    }

    /// Folds a numeric node whose inputs are constants.
    pub(super) fn fold(&mut self, id: NodeId, t: T) -> Low {
        if let Some(v) = crate::eval::interp::fold_num(&self.ir, id) {
            return self.num(v);
        }
        Low::Node(id, t)
    }

    pub(super) fn fold_bool(&mut self, id: NodeId) -> NodeId {
        match crate::eval::interp::fold_bool(&self.ir, id) {
            Some(b) => self.ir.add(Node::Bool(b)),
            None => id,
        }
    }
}

/// A percent literal's value against a partner of `unit`.
pub(super) fn pct(p: f64, unit: Option<Unit>) -> f64 {
    if unit == Some(Unit::Percent) {
        p
    } else {
        p / 100.0
    }
}

/// The IR's string operator for the language's.
pub(super) fn text_op(op: ast::StrOp) -> TextOp {
    match op {
        ast::StrOp::Contains => TextOp::Contains,
        ast::StrOp::StartsWith => TextOp::StartsWith,
        ast::StrOp::EndsWith => TextOp::EndsWith,
        ast::StrOp::Matches => TextOp::Matches,
        ast::StrOp::Glob => TextOp::Glob,
        ast::StrOp::Under => TextOp::Under,
    }
}

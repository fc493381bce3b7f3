//! Scalar function calls (`abs`, `round`, `clamp`, `time()`, `env`, Sigma's encoders); window
//! and aggregate calls become series leaves.

use super::*;

impl<'a> Lowerer<'a> {
    /// A function call: scalar functions here, everything over series or events as a leaf
    /// the engines supply.
    pub(super) fn call(&mut self, sc: &mut Scope<'a>, e: &'a Expr) -> Result<Low, LowerError> {
        let ExprKind::Call {
            func,
            args,
            group,
            over,
        } = &e.kind
        else {
            return err(e.span, "not a call");
        };
        let (grouped, over) = (group.is_some(), over.is_some());
        let name = func.name.as_str();
        let pos: Vec<&'a Expr> = args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
            .collect();
        if over || grouped {
            let t = if over && name == "first_seen" {
                T::Bool
            } else {
                T::Num
            };
            return self.series_leaf(sc, e, t);
        }
        let scalar_min_max = matches!(name, "min" | "max")
            && pos.len() == 2
            && !crate::typeck::is_duration_literal(pos[1]);
        let kind = functions::lookup(name).map(|b| b.kind);
        if kind != Some(FnKind::Scalar) && !scalar_min_max {
            let t = if matches!(name, "absent" | "outside" | "present") {
                T::Bool
            } else {
                T::Num
            };
            return self.series_leaf(sc, e, t);
        }
        let mut vals = Vec::new();
        for p in &pos {
            vals.push(self.expr(sc, p)?);
        }
        let s = |vals: &[Low], i: usize| match vals.get(i) {
            Some(Low::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let strings = |v: Vec<String>| Low::List(v.into_iter().map(Low::Str).collect());
        Ok(match name {
            "time" => {
                let id = self.ir.layout.slot(SlotSource::Time);
                let n = self.ir.add(Node::Slot(SlotRef { depth: 0, id }, Kind::Num));
                Low::Node(n, T::Num)
            }
            // Kept as a reference: the value is looked up when the rule set is loaded, so the
            // IR (and anything printed from it) never holds the secret.
            "env" => Low::Env(s(&vals, 0).unwrap_or_default()),
            "base64offset" => strings(encoders::base64offset(&s(&vals, 0).unwrap_or_default())),
            "utf16le" => strings(encoders::utf16le(&s(&vals, 0).unwrap_or_default())),
            "windash" => strings(encoders::windash(&s(&vals, 0).unwrap_or_default())),
            "score" | "at_least" => self.series_leaf(sc, e, T::Num)?,
            _ => self.math(name, vals, &pos, e.span)?,
        })
    }

    /// `abs`, `ln`, `log10`, `min(a, b)`, `max(a, b)`, `round(x[, to])`, `clamp(x, lo, hi)`
    /// on lowered arguments, folded when constant.
    fn math(
        &mut self,
        name: &str,
        mut vals: Vec<Low>,
        pos: &[&'a Expr],
        span: Span,
    ) -> Result<Low, LowerError> {
        Ok(match name {
            "abs" | "ln" | "log10" => {
                let m = match name {
                    "abs" => Math::Abs,
                    "ln" => Math::Ln,
                    _ => Math::Log10,
                };
                let x = self.number(vals.remove(0), None, pos[0].span)?;
                let id = self.ir.add(Node::Math(m, x));
                self.fold(id, T::Num)
            }
            "min" | "max" | "round" => {
                let a = vals.remove(0);
                let b = if vals.is_empty() {
                    self.num(1.0)
                } else {
                    vals.remove(0)
                };
                let op = match name {
                    "min" => Arith::Min,
                    "max" => Arith::Max,
                    _ => Arith::Round,
                };
                let partner = self.unit(pos[0].span);
                let (a, b) = (
                    self.number(a, partner, pos[0].span)?,
                    self.number(b, partner, span)?,
                );
                let id = self.ir.add(Node::Arith(op, a, b));
                self.fold(id, T::Num)
            }
            "clamp" => {
                let partner = self.unit(pos[0].span);
                let x = self.number(vals.remove(0), None, pos[0].span)?;
                let lo = self.number(vals.remove(0), partner, pos[1].span)?;
                let hi = self.number(vals.remove(0), partner, pos[2].span)?;
                let m = self.ir.add(Node::Arith(Arith::Max, x, lo));
                let id = self.ir.add(Node::Arith(Arith::Min, m, hi));
                self.fold(id, T::Num)
            }
            _ => return err(span, format!("`{name}` cannot be evaluated here")),
        })
    }

    pub(super) fn unit(&self, span: Span) -> Option<Unit> {
        self.ck.units.get(&span).copied()
    }
}

//! Event aggregates (`count() by event.k over w`) and key fields: the slots and plans the
//! event engine fills per key.

use super::*;

impl<'a> Lowerer<'a> {
    /// An event aggregate's slot and plan. Each rule has its own slot (its own events and
    /// state), keyed by the rule and the aggregate's text.
    pub(super) fn event_agg(&mut self, sc: &Scope<'a>, e: &'a Expr) -> Result<u32, LowerError> {
        let ExprKind::Call {
            func,
            args,
            group,
            over: Some(over),
        } = &e.kind
        else {
            return err(e.span, "not an event aggregate");
        };
        let text: String = self
            .ck
            .sources
            .snippet(e.span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let id = self
            .ir
            .layout
            .slot(SlotSource::Aggregate(format!("{}:{text}", self.cur_rule)));
        let Some(f) = events::EventFn::from_name(&func.name) else {
            return err(
                func.span,
                format!("`{}` cannot aggregate events", func.name),
            );
        };
        let window = self.constant(sc, over)?;
        let keys = match group {
            Some(ast::Grouping::Fields(fields, _)) => self.keys(sc, fields)?,
            _ => Vec::new(),
        };
        let arg = match args.iter().find(|a| a.name.is_none()) {
            None => None,
            Some(a) if f.by_value() => Some(events::AggArg::Field(self.field_slot(sc, &a.value)?)),
            Some(a) => {
                let mut inner = sc.clone();
                let l = self.expr(&mut inner, &a.value)?;
                let root = self.number(l, None, a.value.span)?;
                self.ir.programs.push(Program {
                    rule: self.cur_rule.clone(),
                    role: Role::Operand,
                    root,
                    kind: Kind::Num,
                    rows: None,
                });
                Some(events::AggArg::Program(self.ir.programs.len() - 1))
            }
        };
        self.ir.event_aggs.insert(
            id,
            events::EventAgg {
                func: f,
                arg,
                keys,
                window,
            },
        );
        if !self.cur_aggs.contains(&id) {
            self.cur_aggs.push(id);
        }
        Ok(id)
    }

    /// Grouping fields as keys: the label each becomes and its slot.
    pub(super) fn keys(
        &mut self,
        sc: &Scope<'a>,
        fields: &'a [Expr],
    ) -> Result<Vec<events::Key>, LowerError> {
        let mut keys = Vec::new();
        for f in fields {
            let label = match &f.kind {
                ExprKind::Field(path) => path.last().map(|p| p.name.clone()).unwrap_or_default(),
                _ => return fail(Code::EventFieldRequired, f.span, "group by event fields"),
            };
            let slot = self.field_slot(sc, f)?;
            keys.push(events::Key { label, slot });
        }
        Ok(keys)
    }

    /// The top-level slot of an event field (`event.src_ip`, `event.tags[0]`).
    pub(super) fn field_slot(&mut self, sc: &Scope<'a>, e: &'a Expr) -> Result<u32, LowerError> {
        let mut inner = sc.clone();
        if let Low::Node(n, _) = self.expr(&mut inner, e)?
            && let Node::Slot(r, _) = self.ir.node(n)
            && r.depth == 0
        {
            return Ok(r.id);
        }
        fail(Code::EventFieldRequired, e.span, "expected an event field")
    }
}

//! Rule clauses: `when` levels, sequences, throttles and the rest.

use super::*;

impl Lower<'_> {
    pub(super) fn clause(&mut self, p: P) -> Clause {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        let kind = match rule {
            R::severity_clause => ClauseKind::Severity(severity(next(&mut it).as_str())),
            R::labels_clause => ClauseKind::Labels(self.object(next(&mut it))),
            R::annotations_clause => ClauseKind::Annotations(self.object(next(&mut it))),
            R::let_clause => ClauseKind::Let {
                name: self.ident(next(&mut it)),
                value: self.expr(next(&mut it)),
            },
            R::on_event_clause => ClauseKind::OnEvent(it.next().map(|e| self.expr(e))),
            R::sequence_clause => ClauseKind::Sequence(self.sequence(it)),
            R::when_clause => return self.when(None, it, None, span),
            R::level_clause => {
                let lv = next(&mut it);
                let level = (severity(lv.as_str()), self.span(&lv));
                let when = next(&mut it);
                let recover = it.next().map(|r| self.expr(next(&mut r.into_inner())));
                return self.when(Some(level), when.into_inner(), recover, span);
            }
            R::recover_clause => ClauseKind::Recover(self.expr(next(&mut it))),
            R::keep_firing_clause => ClauseKind::KeepFiring(self.expr(next(&mut it))),
            R::no_data_clause => {
                let after = self.expr(next(&mut it));
                let action = match next(&mut it).as_str() {
                    "alert" => NoDataAction::Alert,
                    "resolve" => NoDataAction::Resolve,
                    "ok" => NoDataAction::Ok,
                    _ => NoDataAction::Keep,
                };
                ClauseKind::NoData { after, action }
            }
            R::flapping_clause => {
                let low = self.num(next(&mut it));
                let high = self.num(next(&mut it));
                ClauseKind::Flapping {
                    low,
                    high,
                    over: self.expr(next(&mut it)),
                }
            }
            R::throttle_clause => {
                let count = self.num(next(&mut it));
                let per = self.expr(next(&mut it));
                let by = it.next().map(|k| self.group_keys(k)).unwrap_or_default();
                ClauseKind::Throttle { count, per, by }
            }
            R::cooldown_clause => ClauseKind::Cooldown(self.expr(next(&mut it))),
            R::delay_clause => ClauseKind::Delay(self.expr(next(&mut it))),
            R::interval_clause => ClauseKind::Interval(self.expr(next(&mut it))),
            R::strings_clause => ClauseKind::StringsNocase,
            R::except_clause => ClauseKind::Except(it.map(|q| self.ident(q)).collect()),
            R::summary_clause => ClauseKind::Summary(self.string(next(&mut it))),
            R::description_clause => ClauseKind::Description(self.string(next(&mut it))),
            R::notify_clause => ClauseKind::Notify(it.map(|q| self.ident(q)).collect()),
            R::playbook_clause => ClauseKind::Playbook(self.ident(next(&mut it))),
            other => unreachable!("grammar: unexpected clause {other:?}"),
        };
        Clause { kind, span }
    }

    pub(super) fn when(
        &mut self,
        level: Option<(Severity, Span)>,
        mut it: pest::iterators::Pairs<R>,
        recover: Option<Expr>,
        span: Span,
    ) -> Clause {
        let cond = self.expr(next(&mut it));
        let for_ = it.next().map(|f| self.expr(next(&mut f.into_inner())));
        Clause {
            kind: ClauseKind::When {
                level,
                cond,
                for_,
                recover,
            },
            span,
        }
    }

    pub(super) fn sequence(&mut self, it: pest::iterators::Pairs<R>) -> Sequence {
        let mut seq = Sequence {
            any_order: false,
            by: vec![],
            within: None,
            steps: vec![],
            until: vec![],
        };
        for q in it {
            match q.as_rule() {
                R::any_order => seq.any_order = true,
                R::group_keys => seq.by = self.group_keys(q),
                R::expr => seq.within = Some(self.expr(q)),
                R::until_step => seq.until.push(self.expr(next(&mut q.into_inner().skip(1)))),
                R::seq_step => {
                    let span = self.span(&q);
                    let mut missing = false;
                    let mut parts = q.into_inner().peekable();
                    if parts.peek().map(|x| x.as_rule()) == Some(R::missing_kw) {
                        parts.next();
                        missing = true;
                    }
                    let name = self.ident(next(&mut parts));
                    let cond = self.expr(next(&mut parts));
                    let mut key = None;
                    let mut repeat = None;
                    for r in parts {
                        match r.as_rule() {
                            R::field_path => key = Some(self.expr_any(r)),
                            _ => repeat = Some(self.num(r)),
                        }
                    }
                    seq.steps.push(SeqStep {
                        name,
                        missing,
                        cond,
                        key,
                        repeat,
                        span,
                    });
                }
                other => unreachable!("grammar: unexpected sequence part {other:?}"),
            }
        }
        seq
    }

    pub(super) fn group_keys(&mut self, p: P) -> Vec<Expr> {
        p.into_inner().map(|f| self.expr_any(f)).collect()
    }
}

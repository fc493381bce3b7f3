//! Route trees, label conditions and playbook steps.

use super::*;

impl Lower<'_> {
    pub(super) fn route_body(&mut self, p: P) -> RouteBody {
        let span = self.span(&p);
        let mut items = Vec::new();
        for q in p.into_inner() {
            let qspan = self.span(&q);
            let rule = q.as_rule();
            let mut it = q.into_inner();
            items.push(match rule {
                R::group_by_opt => RouteItem::GroupBy(self.label_list(next(&mut it)), qspan),
                R::group_wait_opt => RouteItem::GroupWait(self.expr(next(&mut it))),
                R::group_interval_opt => RouteItem::GroupInterval(self.expr(next(&mut it))),
                R::repeat_opt => RouteItem::Repeat(self.expr(next(&mut it))),
                R::match_route => {
                    let cond = self.label_cond(next(&mut it));
                    let (mut during, mut muted) = (None, None);
                    let mut target = None;
                    let mut cont = false;
                    for r in it {
                        match r.as_rule() {
                            R::during => during = Some(self.ident(next(&mut r.into_inner()))),
                            R::muted => {
                                let name = r.into_inner().find(|p| p.as_rule() == R::ident);
                                muted = name.map(|n| self.ident(n));
                            }
                            R::route_body => {
                                target = Some(RouteTarget::Nested {
                                    body: self.route_body(r),
                                    cont: false,
                                })
                            }
                            R::route_targets => {
                                target = Some(RouteTarget::Notifiers {
                                    targets: r.into_inner().map(|t| self.ident(t)).collect(),
                                    cont: false,
                                })
                            }
                            _ => cont = true,
                        }
                    }
                    let mut target = target.expect("grammar: route target");
                    match &mut target {
                        RouteTarget::Notifiers { cont: c, .. }
                        | RouteTarget::Nested { cont: c, .. } => *c = cont,
                    }
                    RouteItem::Match {
                        cond,
                        during,
                        muted,
                        target,
                        span: qspan,
                    }
                }
                R::default_route => RouteItem::Default {
                    targets: next(&mut it).into_inner().map(|t| self.ident(t)).collect(),
                    span: qspan,
                },
                other => unreachable!("grammar: unexpected route item {other:?}"),
            });
        }
        RouteBody { items, span }
    }

    pub(super) fn label_cond(&mut self, p: P) -> LabelCond {
        let span = self.span(&p);
        match p.as_rule() {
            R::label_cond | R::label_and => {
                let or = p.as_rule() == R::label_cond;
                let mut parts: Vec<LabelCond> = p
                    .into_inner()
                    .filter(|q| !matches!(q.as_rule(), R::and_op | R::or_op))
                    .map(|q| self.label_cond(q))
                    .collect();
                if parts.len() == 1 {
                    parts.pop().expect("one part")
                } else if or {
                    LabelCond::Or(parts, span)
                } else {
                    LabelCond::And(parts, span)
                }
            }
            R::label_not => LabelCond::Not(
                Box::new(self.label_cond(next(&mut p.into_inner().skip(1)))),
                span,
            ),
            R::label_match => {
                let mut it = p.into_inner();
                let label = self.ident(next(&mut it));
                let op = match_op(next(&mut it).as_str());
                let v = next(&mut it);
                let inner = next(&mut v.into_inner());
                let value = match inner.as_rule() {
                    R::string => LabelValue::Str(self.string(inner)),
                    R::regex => LabelValue::Regex(self.regex_lit(inner)),
                    _ => LabelValue::Word(self.ident(inner)),
                };
                LabelCond::Match {
                    label,
                    op,
                    value,
                    span,
                }
            }
            other => unreachable!("grammar: unexpected label condition {other:?}"),
        }
    }

    pub(super) fn playbook_item(&mut self, p: P) -> PlaybookItem {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        match rule {
            R::step_item => {
                let s = next(&mut it);
                let cond = it.next().map(|c| {
                    let inner = c.into_inner().find(|q| q.as_rule() == R::label_cond);
                    inner.map(|q| self.label_cond(q))
                });
                let srule = s.as_rule();
                let mut si = s.into_inner();
                let step = match srule {
                    R::step_notify => PlaybookItem::Notify {
                        notifier: self.ident(next(&mut si)),
                        message: si.next().map(|m| self.string(m)),
                        span,
                    },
                    R::step_http => {
                        let method = self.ident(next(&mut si));
                        let url = self.string(next(&mut si));
                        let (mut body, mut timeout, mut retries) = (vec![], None, None);
                        let mut idempotent = false;
                        for q in si {
                            match q.as_rule() {
                                R::label_block => body = self.object(q),
                                R::expr => timeout = Some(self.expr(q)),
                                R::kw_idempotent => idempotent = true,
                                _ => retries = Some(self.num(q)),
                            }
                        }
                        PlaybookItem::Http {
                            method,
                            url,
                            body,
                            timeout,
                            retries,
                            idempotent,
                            span,
                        }
                    }
                    R::step_approve => PlaybookItem::Approve {
                        by: self.string(next(&mut si)),
                        span,
                    },
                    _ => PlaybookItem::Shell {
                        command: self.string(next(&mut si)),
                        timeout: si.next().map(|e| self.expr(e)),
                        span,
                    },
                };
                match cond.flatten() {
                    Some(cond) => PlaybookItem::Conditional {
                        cond,
                        step: Box::new(step),
                        span,
                    },
                    None => step,
                }
            }
            R::wait_item => {
                let duration = self.expr(next(&mut it));
                PlaybookItem::Wait {
                    duration,
                    unless_acknowledged: it.next().is_some(),
                    span,
                }
            }
            _ => {
                let count = self.num(next(&mut it));
                PlaybookItem::RateLimit {
                    count,
                    per: self.expr(next(&mut it)),
                    span,
                }
            }
        }
    }
}

//! `test` block items: series, events, `advance to`, silences, expectations.

use super::*;

impl Lower<'_> {
    pub(super) fn test_item(&mut self, p: P) -> TestItem {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        match rule {
            R::test_interval => TestItem::Interval(self.expr(next(&mut it))),
            R::series_item => {
                let selector = self.expr_any(next(&mut it));
                let every = self.expr(next(&mut it));
                TestItem::Series {
                    selector,
                    every,
                    values: self.string(next(&mut it)),
                }
            }
            R::events_item => self.events(next(&mut it), span),
            R::event_item => {
                let at = self.expr(next(&mut it));
                TestItem::EventAt {
                    at,
                    object: self.object(next(&mut it)),
                }
            }
            R::advance_item => TestItem::Advance(self.expr(next(&mut it))),
            R::expect_item => self.expect(next(&mut it)),
            R::silence_item => {
                let labels = self.object(next(&mut it));
                let from = self.expr(next(&mut it));
                let to = self.expr(next(&mut it));
                TestItem::Silence { labels, from, to }
            }
            other => unreachable!("grammar: unexpected test item {other:?}"),
        }
    }

    /// `events from "file"`, `events every d count n { .. }`.
    fn events(&mut self, q: P, span: Span) -> TestItem {
        let qr = q.as_rule();
        let mut qi = q.into_inner().filter(|p| {
            !matches!(
                p.as_rule(),
                R::kw_no | R::kw_notification | R::kw_playbook | R::kw_nothing
            )
        });
        if qr == R::events_from {
            TestItem::EventsFrom(self.string(next(&mut qi)))
        } else {
            let every = self.expr(next(&mut qi));
            let count = self.num(next(&mut qi));
            TestItem::EventsEvery {
                every,
                count,
                object: self.object(next(&mut qi)),
                span,
            }
        }
    }

    /// `expect ...`: a state at a time, no state, a notification, a playbook step, nothing
    /// else.
    fn expect(&mut self, q: P) -> TestItem {
        let qspan = self.span(&q);
        let qr = q.as_rule();
        let mut qi = q.into_inner().filter(|p| {
            !matches!(
                p.as_rule(),
                R::kw_no | R::kw_notification | R::kw_playbook | R::kw_nothing
            )
        });
        match qr {
            R::expect_nothing => TestItem::ExpectNothingElse(qspan),
            R::expect_state => {
                let rule = self.ident(next(&mut qi));
                let state = alert_state(next(&mut qi).as_str());
                let at = self.expr(next(&mut qi));
                let with = qi.next().map(|o| self.object(o)).unwrap_or_default();
                TestItem::ExpectState {
                    rule,
                    state,
                    at,
                    with,
                }
            }
            R::expect_no => {
                let rule = self.ident(next(&mut qi));
                let state = alert_state(next(&mut qi).as_str());
                let (mut at, mut with) = (None, vec![]);
                for r in qi {
                    match r.as_rule() {
                        R::object => with = self.object(r),
                        _ => at = Some(self.expr(r)),
                    }
                }
                TestItem::ExpectNo {
                    rule,
                    state,
                    at,
                    with,
                }
            }
            R::expect_notification | R::expect_no_notification => {
                let notifier = self.ident(next(&mut qi));
                let (mut at, mut with) = (None, vec![]);
                for r in qi {
                    match r.as_rule() {
                        R::object => with = self.object(r),
                        _ => at = Some(self.expr(r)),
                    }
                }
                TestItem::ExpectNotification {
                    notifier,
                    at,
                    with,
                    negated: qr == R::expect_no_notification,
                }
            }
            _ => {
                let playbook = self.ident(next(&mut qi));
                let step = self.num(next(&mut qi));
                let outcome = self.ident(next(&mut qi));
                let at = qi.next().map(|e| self.expr(e));
                TestItem::ExpectPlaybook {
                    playbook,
                    step,
                    outcome,
                    at,
                }
            }
        }
    }
}

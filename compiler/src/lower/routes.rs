//! `route` declarations to the route tree ([`Route`]): their items, in load order, form the
//! root (one tree per rule set, as Alertmanager has one). With it, into [`Routing`]: the
//! notifiers, inhibitions, calendars and what each rule's alerts carry.

use crate::ir::routes::{Cond, Route};
use crate::syntax::ast::{self, LabelCond, LabelValue, RouteBody, RouteItem, RouteTarget};
use regex::Regex;
use vigil_vocab::calendar::Calendar;
use vigil_vocab::notify::{InhibitPlan, NotifierPlan, Routing, RuleNotes, Setting};
use vigil_vocab::playbook::{BodyValue, PlaybookPlan, Step};
use vigil_vocab::{MatchOp, SecretRef};

/// The tree of these `route` bodies, settings and notifiers inherited down it.
pub fn tree<'a>(bodies: impl IntoIterator<Item = &'a RouteBody>) -> Route {
    let mut root = Route::default();
    for b in bodies {
        fill(&mut root, b);
    }
    root.inherit(&Route::default());
    root
}

/// The tree of a checked rule set's `route` declarations.
pub fn of_checked(checked: &crate::Checked) -> Route {
    tree(checked.files.iter().flat_map(|f| {
        f.module.decls.iter().filter_map(|d| match &d.kind {
            ast::DeclKind::Route(body) => Some(body),
            _ => None,
        })
    }))
}

/// Everything a checked rule set says about notifying: the tree, the notifiers, the
/// inhibitions and what each rule's alerts carry.
pub fn routing(checked: &crate::Checked) -> Routing {
    let mut out = Routing {
        tree: of_checked(checked),
        ..Routing::default()
    };
    for f in &checked.files {
        for d in &f.module.decls {
            match &d.kind {
                ast::DeclKind::Notifier { name, kind, args } => {
                    let settings = args
                        .iter()
                        .filter_map(|(k, v)| Some((k.name.clone(), setting(v)?)))
                        .collect();
                    out.notifiers.insert(
                        name.name.clone(),
                        NotifierPlan {
                            name: name.name.clone(),
                            kind: kind.name.clone(),
                            settings,
                        },
                    );
                }
                ast::DeclKind::Inhibit {
                    source,
                    unless,
                    target,
                    equal,
                } => out.inhibits.push(InhibitPlan {
                    // `inhibit A when B`: the syntax tree calls A `source` (written first);
                    // A is what is muted, B what mutes it (or, with `unless`, lets it through).
                    target: lower_cond(source),
                    source: lower_cond(target),
                    unless: *unless,
                    equal: equal.iter().map(|l| l.name.clone()).collect(),
                }),
                ast::DeclKind::Calendar {
                    name,
                    tz,
                    sessions,
                    holidays_text,
                    ..
                } => {
                    if let Some(c) = calendar(&tz.value, sessions, holidays_text.as_deref()) {
                        out.calendars.insert(name.name.clone(), c);
                    }
                }
                ast::DeclKind::Playbook { name, items } => {
                    out.playbooks
                        .insert(name.name.clone(), playbook(&name.name, items));
                }
                ast::DeclKind::Rule(r) => {
                    let mut notes = RuleNotes::default();
                    for c in &r.clauses {
                        match &c.kind {
                            ast::ClauseKind::Summary(s) => notes.summary = Some(s.value.clone()),
                            ast::ClauseKind::Description(s) => {
                                notes.description = Some(s.value.clone())
                            }
                            ast::ClauseKind::Annotations(pairs) => {
                                for (k, v) in pairs {
                                    if let ast::ExprKind::Str(s) = &v.kind {
                                        notes.annotations.push((k.name.clone(), s.clone()));
                                    }
                                }
                            }
                            ast::ClauseKind::Notify(ns) => {
                                notes.notify.extend(ns.iter().map(|n| n.name.clone()))
                            }
                            ast::ClauseKind::Playbook(p) => {
                                notes.playbook =
                                    Some(p.name.rsplit('.').next().unwrap_or(&p.name).to_string())
                            }
                            _ => {}
                        }
                    }
                    out.rules
                        .insert(format!("{}.{}", f.package, r.name.name), notes);
                }
                _ => {}
            }
        }
    }
    out
}

/// A calendar declaration (the checker proved its parts valid; `None` if they are not).
fn calendar(tz: &str, sessions: &[ast::Session], holidays: Option<&str>) -> Option<Calendar> {
    use vigil_vocab::calendar::{Session, clock, holidays as dates, weekday};
    let mut out = Vec::new();
    for s in sessions {
        let from = weekday(&s.from_day.name)?;
        let to = s.to_day.as_ref().map_or(Some(from), |d| weekday(&d.name))?;
        // `fri..mon` wraps over the weekend.
        let mut days = 0u8;
        let mut d = from;
        loop {
            days |= 1 << d;
            if d == to {
                break;
            }
            d = (d + 1) % 7;
        }
        out.push(Session {
            days,
            open: clock(&s.open.name)?,
            close: clock(&s.close.name)?,
        });
    }
    let closed = match holidays {
        Some(t) => dates(t).ok()?,
        None => Default::default(),
    };
    Calendar::new(tz, out, closed).ok()
}

/// A playbook declaration as steps (the checker proved its parts).
fn playbook(name: &str, items: &[ast::PlaybookItem]) -> PlaybookPlan {
    let mut plan = PlaybookPlan {
        name: name.to_string(),
        ..PlaybookPlan::default()
    };
    for it in items {
        if let ast::PlaybookItem::RateLimit { count, per, .. } = it {
            plan.rate_limit = Some((count.max(0.0) as u32, seconds(per).unwrap_or(0.0)));
        } else if let Some(step) = step(it) {
            plan.steps.push(step);
        }
    }
    plan
}

/// One playbook item as a step (`None` for the rate limit).
fn step(it: &ast::PlaybookItem) -> Option<Step> {
    use ast::PlaybookItem as I;
    Some(match it {
        I::Notify {
            notifier, message, ..
        } => Step::Notify {
            notifier: notifier.name.clone(),
            message: message.as_ref().map(|m| m.value.clone()),
        },
        I::Http {
            method,
            url,
            body,
            timeout,
            retries,
            idempotent,
            ..
        } => Step::Http {
            method: method.name.clone(),
            url: url.value.clone(),
            body: body
                .iter()
                .map(|(k, v)| {
                    let value = match &v.kind {
                        ast::ExprKind::AlertField(path) => BodyValue::Alert(
                            path.iter()
                                .map(|p| p.name.as_str())
                                .collect::<Vec<_>>()
                                .join("."),
                        ),
                        ast::ExprKind::Str(s) => BodyValue::Text(s.clone()),
                        ast::ExprKind::Number(n) => {
                            BodyValue::Text(vigil_vocab::template::number(*n))
                        }
                        ast::ExprKind::Bool(b) => BodyValue::Text(b.to_string()),
                        _ => BodyValue::Text(String::new()),
                    };
                    (k.name.clone(), value)
                })
                .collect(),
            timeout: timeout.as_ref().and_then(seconds),
            retries: retries.map_or(0, |r| r.max(0.0) as u32),
            idempotent: *idempotent,
        },
        I::Approve { by, .. } => Step::Approve {
            by: by.value.clone(),
        },
        I::Shell {
            command, timeout, ..
        } => Step::Shell {
            command: command.value.clone(),
            timeout: timeout.as_ref().and_then(seconds),
        },
        I::Wait {
            duration,
            unless_acknowledged,
            ..
        } => Step::Wait {
            seconds: seconds(duration).unwrap_or(0.0),
            unless_acknowledged: *unless_acknowledged,
        },
        I::Conditional {
            cond, step: inner, ..
        } => Step::When {
            cond: lower_cond(cond),
            step: Box::new(step(inner)?),
        },
        I::RateLimit { .. } => return None,
    })
}

/// A notifier setting as written (the checker typed it).
fn setting(e: &ast::Expr) -> Option<Setting> {
    Some(match &e.kind {
        ast::ExprKind::Str(s) => Setting::Str(s.clone()),
        ast::ExprKind::Number(n) => Setting::Num(*n),
        ast::ExprKind::Duration(s) => Setting::Seconds(*s),
        ast::ExprKind::Bool(b) => Setting::Bool(*b),
        ast::ExprKind::List(items) => Setting::List(items.iter().filter_map(setting).collect()),
        ast::ExprKind::Call { func, args, .. } if func.name == "env" => {
            match &args.first()?.value.kind {
                ast::ExprKind::Str(s) => Setting::Secret(SecretRef::new(s.clone())),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A body's items into `route`. A `match` after the body's `default` is never reached
/// (`default` takes every alert; V1011 says so) and is left out.
fn fill(route: &mut Route, body: &RouteBody) {
    let mut after_default = false;
    for it in &body.items {
        match it {
            RouteItem::GroupBy(labels, _) => {
                route.group_by = Some(labels.iter().map(|l| l.name.clone()).collect())
            }
            RouteItem::GroupWait(e) => route.group_wait = seconds(e),
            RouteItem::GroupInterval(e) => route.group_interval = seconds(e),
            RouteItem::Repeat(e) => route.repeat = seconds(e),
            RouteItem::Default { targets, .. } => {
                route.notifiers = targets.iter().map(|t| t.name.clone()).collect();
                after_default = true;
            }
            RouteItem::Match { .. } if after_default => {}
            RouteItem::Match {
                cond,
                during,
                muted,
                target,
                ..
            } => {
                let mut child = Route {
                    cond: Some(lower_cond(cond)),
                    // Calendars are looked up by their own name (`pkg.xnys` is `xnys`).
                    during: during
                        .as_ref()
                        .map(|d| d.name.rsplit('.').next().unwrap_or(&d.name).to_string()),
                    muted: muted
                        .as_ref()
                        .map(|d| d.name.rsplit('.').next().unwrap_or(&d.name).to_string()),
                    ..Route::default()
                };
                match target {
                    RouteTarget::Notifiers { targets, cont } => {
                        child.notifiers = targets.iter().map(|t| t.name.clone()).collect();
                        child.cont = *cont;
                    }
                    RouteTarget::Nested { body, cont } => {
                        fill(&mut child, body);
                        child.cont = *cont;
                    }
                }
                route.routes.push(child);
            }
        }
    }
}

fn lower_cond(c: &LabelCond) -> Cond {
    match c {
        LabelCond::Or(cs, _) => Cond::Or(cs.iter().map(lower_cond).collect()),
        LabelCond::And(cs, _) => Cond::And(cs.iter().map(lower_cond).collect()),
        LabelCond::Not(c, _) => Cond::Not(Box::new(lower_cond(c))),
        LabelCond::Match {
            label, op, value, ..
        } => {
            let value = match value {
                LabelValue::Str(s) | LabelValue::Regex(s) => s.value.clone(),
                LabelValue::Word(w) => w.name.clone(),
            };
            // The checker proved the regex compiles.
            let re = matches!(op, MatchOp::Re | MatchOp::NotRe)
                .then(|| Regex::new(&format!("^(?:{value})$")).ok())
                .flatten();
            Cond::Match {
                label: label.name.clone(),
                op: *op,
                value,
                re,
            }
        }
    }
}

/// A duration literal's seconds (the checker proved it is one).
fn seconds(e: &ast::Expr) -> Option<f64> {
    match e.kind {
        ast::ExprKind::Duration(s) => Some(s),
        _ => None,
    }
}

impl<'a> super::Lowerer<'a> {
    /// `text` with each `{{ name }}` that names a string constant in file `fi` replaced by
    /// its value (overrides applied).
    pub(super) fn fill_consts(
        &mut self,
        fi: usize,
        text: &str,
        span: crate::source::Span,
    ) -> String {
        let ck = self.ck;
        let mut out = text.to_string();
        for name in vigil_vocab::playbook::placeholders(text) {
            if ck
                .syms
                .resolve(&ck.files, fi, crate::resolve::Namespace::Value, name)
                .is_none()
            {
                continue;
            }
            let mut sc = self.root_scope(fi);
            if let Ok(super::Low::Str(v)) = self.name(&mut sc, name, span) {
                for form in [format!("{{{{ {name} }}}}"), format!("{{{{{name}}}}}")] {
                    out = out.replace(&form, &v);
                }
            }
        }
        out
    }
}

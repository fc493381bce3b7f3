//! `test` blocks to test plans: inputs (series, events, files), expectations (alert states
//! and notifications), silences, `advance to`.

use super::*;

/// The most events one `events every D xN` line may repeat.
pub const MAX_REPEATED_EVENTS: usize = 100_000;

/// Seconds to test milliseconds.
fn ms(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

/// An `expect` line as written.
struct ExpectSpec<'a> {
    rule: &'a ast::Ident,
    state: ast::AlertState,
    at: Option<&'a Expr>,
    with: &'a [(ast::Ident, Expr)],
    negated: bool,
}

impl<'a> Lowerer<'a> {
    /// One `test` block of file `fi`.
    pub(super) fn test(
        &mut self,
        fi: usize,
        t: &'a ast::Test,
    ) -> Result<testplan::TestCase, LowerError> {
        let src = self.ck.sources.get(self.ck.files[fi].id);
        let (line, _) = src.line_col(t.name.span.start as usize);
        let mut case = testplan::TestCase {
            name: t.name.value.clone(),
            place: format!("{}:{line}", src.name),
            interval: None,
            inputs: Vec::new(),
            expects: Vec::new(),
            nothing_else: false,
            advance: None,
            notifications: Vec::new(),
            silences: Vec::new(),
            playbooks: Vec::new(),
            unchecked: Vec::new(),
            packages: self.test_packages(fi),
        };
        let sc = self.root_scope(fi);
        for it in &t.items {
            self.test_item(&sc, fi, it, &mut case)?;
        }
        Ok(case)
    }

    /// The packages a test of file `fi` sees: its own and what it imports, transitively.
    fn test_packages(&self, fi: usize) -> Vec<String> {
        let files = &self.ck.files;
        let mut pk = vec![files[fi].package.clone()];
        let mut i = 0;
        while i < pk.len() {
            let cur = pk[i].clone();
            for f in files.iter().filter(|f| f.package == cur) {
                for (_, p, _) in &f.imports {
                    if !pk.contains(p) {
                        pk.push(p.clone());
                    }
                }
            }
            i += 1;
        }
        pk
    }

    /// One line of a test block into the case.
    fn test_item(
        &mut self,
        sc: &Scope<'a>,
        fi: usize,
        it: &'a ast::TestItem,
        case: &mut testplan::TestCase,
    ) -> Result<(), LowerError> {
        use testplan::Expect;
        let spec = match it {
            ast::TestItem::Interval(e) => {
                case.interval = Some(ms(self.constant(sc, e)?));
                return Ok(());
            }
            ast::TestItem::Advance(e) => {
                let v = ms(self.constant(sc, e)?);
                case.advance = Some(case.advance.map_or(v, |a: i64| a.max(v)));
                return Ok(());
            }
            ast::TestItem::Series { .. }
            | ast::TestItem::EventsFrom(_)
            | ast::TestItem::EventsEvery { .. }
            | ast::TestItem::EventAt { .. } => {
                return self.test_input(sc, fi, it, &mut case.inputs);
            }
            ast::TestItem::ExpectState {
                rule,
                state,
                at,
                with,
            } => ExpectSpec {
                rule,
                state: *state,
                at: Some(at),
                with,
                negated: false,
            },
            ast::TestItem::ExpectNo {
                rule,
                state,
                at,
                with,
            } => ExpectSpec {
                rule,
                state: *state,
                at: at.as_ref(),
                with,
                negated: true,
            },
            ast::TestItem::ExpectNotification {
                notifier,
                at,
                with,
                negated,
            } => {
                let at_ms = match at {
                    Some(a) => Some(ms(self.constant(sc, a)?)),
                    None => None,
                };
                let written = at
                    .as_ref()
                    .map(|a| {
                        let t = self.ck.sources.snippet(a.span);
                        format!(" at {}", t.split_whitespace().collect::<Vec<_>>().join(" "))
                    })
                    .unwrap_or_default();
                case.notifications.push(testplan::ExpectNotification {
                    notifier: notifier.name.clone(),
                    at: at_ms,
                    labels: self.label_object(sc, with)?,
                    negated: *negated,
                    text: format!(
                        "{}notification {}{written}",
                        if *negated { "no " } else { "" },
                        notifier.name
                    ),
                });
                return Ok(());
            }
            ast::TestItem::Silence { labels, from, to } => {
                case.silences.push(testplan::TestSilence {
                    labels: self.label_object(sc, labels)?,
                    from: ms(self.constant(sc, from)?),
                    to: ms(self.constant(sc, to)?),
                });
                return Ok(());
            }
            ast::TestItem::ExpectPlaybook {
                playbook,
                step,
                outcome,
                at,
            } => {
                let at_ms = match at {
                    Some(a) => Some(ms(self.constant(sc, a)?)),
                    None => None,
                };
                case.playbooks.push(testplan::ExpectPlaybook {
                    playbook: playbook
                        .name
                        .rsplit('.')
                        .next()
                        .unwrap_or(&playbook.name)
                        .to_string(),
                    step: *step as usize,
                    outcome: outcome.name.clone(),
                    at: at_ms,
                    text: format!(
                        "playbook {} step {} {}{}",
                        playbook.name,
                        step,
                        outcome.name,
                        at_ms
                            .map(|t| format!(" at {}s", t as f64 / 1000.0))
                            .unwrap_or_default()
                    ),
                });
                return Ok(());
            }
            ast::TestItem::ExpectNothingElse(_) => {
                case.nothing_else = true;
                return Ok(());
            }
        };
        let e = self.expect(sc, fi, spec)?;
        case.expects.push(Expect {
            after: case.advance,
            ..e
        });
        Ok(())
    }

    /// A test's inputs: a series in promtool's notation, events at times or every interval,
    /// events from a file next to the test.
    fn test_input(
        &mut self,
        sc: &Scope<'a>,
        fi: usize,
        it: &'a ast::TestItem,
        inputs: &mut Vec<testplan::Input>,
    ) -> Result<(), LowerError> {
        use testplan::Input;
        match it {
            ast::TestItem::Series {
                selector,
                every,
                values,
            } => {
                let ExprKind::Ref { name, matchers } = &selector.kind else {
                    return err(selector.span, "expected a series like `cpu{host=\"a\"}`");
                };
                let points =
                    crate::series_notation::parse(&values.value).map_err(|why| LowerError {
                        code: Code::CannotEvaluate,
                        message: why,
                        span: values.span,
                    })?;
                inputs.push(Input::Series {
                    metric: name.clone(),
                    labels: matchers
                        .iter()
                        .map(|m| (m.label.name.clone(), m.value.value.clone()))
                        .collect(),
                    every: ms(self.constant(sc, every)?).max(1),
                    points,
                });
            }
            ast::TestItem::EventsFrom(path) => {
                let src = self.ck.sources.get(self.ck.files[fi].id);
                let base = src
                    .path
                    .parent()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_default();
                inputs.push(Input::File(base.join(&path.value)));
            }
            ast::TestItem::EventsEvery {
                every,
                count,
                object,
                span,
            } => {
                if !(0.0..=MAX_REPEATED_EVENTS as f64).contains(count) {
                    return err(
                        *span,
                        format!(
                            "`x{count}` asks for more than {MAX_REPEATED_EVENTS} events, the limit of one `events every` line"
                        ),
                    );
                }
                let every = ms(self.constant(sc, every)?);
                let event = self.json_object(sc, object)?;
                for i in 0..*count as i64 {
                    inputs.push(Input::Event {
                        at: i * every,
                        event: event.clone(),
                    });
                }
            }
            ast::TestItem::EventAt { at, object } => {
                let at = ms(self.constant(sc, at)?);
                let event = self.json_object(sc, object)?;
                inputs.push(Input::Event { at, event });
            }
            _ => {}
        }
        Ok(())
    }

    /// `expect [no] RULE STATE [at T] [with {..}]` (`after` is set by the caller).
    fn expect(
        &mut self,
        sc: &Scope<'a>,
        fi: usize,
        spec: ExpectSpec<'a>,
    ) -> Result<testplan::Expect, LowerError> {
        let ck = self.ck;
        let ExpectSpec {
            rule,
            state,
            at,
            with,
            negated,
        } = spec;
        let rule_id = match ck.syms.resolve(&ck.files, fi, Namespace::Rule, &rule.name) {
            Some(k) => format!("{}.{}", k.0, k.2),
            None => return err(rule.span, format!("unknown rule `{}`", rule.name)),
        };
        let written = |e: &Expr| {
            ck.sources
                .snippet(e.span)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let text = format!(
            "{}{} {}{}",
            if negated { "no " } else { "" },
            rule.name,
            state.word(),
            at.map(|a| format!(" at {}", written(a)))
                .unwrap_or_default()
        );
        Ok(testplan::Expect {
            rule: rule_id,
            state,
            at: match at {
                Some(a) => Some(ms(self.constant(sc, a)?)),
                None => None,
            },
            labels: self.label_object(sc, with)?,
            negated,
            after: None,
            text,
        })
    }

    /// A test's event object as JSON; `a.b = v` nests.
    pub(super) fn json_object(
        &mut self,
        sc: &Scope<'a>,
        pairs: &'a [(ast::Ident, Expr)],
    ) -> Result<serde_json::Value, LowerError> {
        let mut root = serde_json::Map::new();
        for (k, v) in pairs {
            let value = self.json_value(sc, v)?;
            let mut parts: Vec<&str> = k.name.split('.').collect();
            let last = parts.pop().unwrap_or_default();
            let mut obj = &mut root;
            for p in parts {
                let slot = obj
                    .entry(p.to_string())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if !slot.is_object() {
                    *slot = serde_json::Value::Object(Default::default());
                }
                let serde_json::Value::Object(m) = slot else {
                    return err(k.span, "not an object");
                };
                obj = m;
            }
            obj.insert(last.to_string(), value);
        }
        Ok(serde_json::Value::Object(root))
    }

    pub(super) fn json_value(
        &mut self,
        sc: &Scope<'a>,
        e: &'a Expr,
    ) -> Result<serde_json::Value, LowerError> {
        Ok(match &e.kind {
            ExprKind::Str(s) => serde_json::Value::String(s.clone()),
            ExprKind::Bool(b) => serde_json::Value::Bool(*b),
            ExprKind::List(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|i| self.json_value(sc, i))
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                let v = self.constant(sc, e)?;
                serde_json::Number::from_f64(v)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        })
    }

    /// Expected alert labels: strings (numbers as written).
    pub(super) fn label_object(
        &mut self,
        sc: &Scope<'a>,
        pairs: &'a [(ast::Ident, Expr)],
    ) -> Result<Vec<(String, String)>, LowerError> {
        let mut out = Vec::new();
        for (k, v) in pairs {
            let text = match self.json_value(sc, v)? {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            out.push((k.name.clone(), text));
        }
        Ok(out)
    }
}

//! `test` blocks to test plans: inputs (series, events, files), expectations, `advance to`.

use super::*;

impl<'a> Lowerer<'a> {
    pub(super) fn test(
        &mut self,
        fi: usize,
        t: &'a ast::Test,
    ) -> Result<testplan::TestCase, LowerError> {
        use testplan::{Expect, Input};
        let ck = self.ck;
        let src = ck.sources.get(ck.files[fi].id);
        let (line, _) = src.line_col(t.name.span.start as usize);
        let sc = self.root_scope(fi);
        let ms = |v: f64| (v * 1000.0).round() as i64;
        let mut case = testplan::TestCase {
            name: t.name.value.clone(),
            place: format!("{}:{line}", src.name),
            interval: None,
            inputs: Vec::new(),
            expects: Vec::new(),
            nothing_else: false,
            advance: None,
            unchecked: Vec::new(),
            packages: {
                let mut pk = vec![ck.files[fi].package.clone()];
                let mut i = 0;
                while i < pk.len() {
                    let cur = pk[i].clone();
                    for f in ck.files.iter().filter(|f| f.package == cur) {
                        for (_, p, _) in &f.imports {
                            if !pk.contains(p) {
                                pk.push(p.clone());
                            }
                        }
                    }
                    i += 1;
                }
                pk
            },
        };
        let rule_id = |name: &ast::Ident| -> Result<String, LowerError> {
            match ck.syms.resolve(&ck.files, fi, Namespace::Rule, &name.name) {
                Some(k) => Ok(format!("{}.{}", k.0, k.2)),
                None => err(name.span, format!("unknown rule `{}`", name.name)),
            }
        };
        for it in &t.items {
            match it {
                ast::TestItem::Interval(e) => case.interval = Some(ms(self.constant(&sc, e)?)),
                ast::TestItem::Advance(e) => {
                    let v = ms(self.constant(&sc, e)?);
                    case.advance = Some(case.advance.map_or(v, |a: i64| a.max(v)));
                }
                ast::TestItem::Series {
                    selector,
                    every,
                    values,
                } => {
                    let ExprKind::Ref { name, matchers } = &selector.kind else {
                        return err(selector.span, "expected a series like `cpu{host=\"a\"}`");
                    };
                    let points =
                        crate::series_notation::parse(&values.value).map_err(|bad| LowerError {
                            code: Code::CannotEvaluate,
                            message: format!("cannot read `{bad}` in series values"),
                            span: values.span,
                        })?;
                    case.inputs.push(Input::Series {
                        metric: name.clone(),
                        labels: matchers
                            .iter()
                            .map(|m| (m.label.name.clone(), m.value.value.clone()))
                            .collect(),
                        every: ms(self.constant(&sc, every)?).max(1),
                        points,
                    });
                }
                ast::TestItem::EventsFrom(path) => {
                    let base = src
                        .path
                        .parent()
                        .map(std::path::Path::to_path_buf)
                        .unwrap_or_default();
                    case.inputs.push(Input::File(base.join(&path.value)));
                }
                ast::TestItem::EventsEvery {
                    every,
                    count,
                    object,
                    ..
                } => {
                    let every = ms(self.constant(&sc, every)?);
                    let event = self.json_object(&sc, object)?;
                    for i in 0..(*count as i64).clamp(0, 1_000_000) {
                        case.inputs.push(Input::Event {
                            at: i * every,
                            event: event.clone(),
                        });
                    }
                }
                ast::TestItem::EventAt { at, object } => {
                    let at = ms(self.constant(&sc, at)?);
                    let event = self.json_object(&sc, object)?;
                    case.inputs.push(Input::Event { at, event });
                }
                ast::TestItem::ExpectState {
                    rule,
                    state,
                    at,
                    with,
                } => {
                    let e =
                        self.expect(&sc, rule_id(rule)?, rule, *state, Some(at), with, false)?;
                    case.expects.push(Expect {
                        after: case.advance,
                        ..e
                    });
                }
                ast::TestItem::ExpectNo {
                    rule,
                    state,
                    at,
                    with,
                } => {
                    let e =
                        self.expect(&sc, rule_id(rule)?, rule, *state, at.as_ref(), with, true)?;
                    case.expects.push(Expect {
                        after: case.advance,
                        ..e
                    });
                }
                ast::TestItem::ExpectNotification { notifier, .. } => case.unchecked.push(format!(
                    "notification {} (routing is not built yet)",
                    notifier.name
                )),
                ast::TestItem::ExpectPlaybook { playbook, .. } => case.unchecked.push(format!(
                    "playbook {} (playbooks are not built yet)",
                    playbook.name
                )),
                ast::TestItem::ExpectNothingElse(_) => case.nothing_else = true,
            }
        }
        Ok(case)
    }

    /// `expect [no] RULE STATE [at T] [with {..}]` (`after` is set by the caller).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn expect(
        &mut self,
        sc: &Scope<'a>,
        rule_id: String,
        rule: &ast::Ident,
        state: ast::AlertState,
        at: Option<&'a Expr>,
        with: &'a [(ast::Ident, Expr)],
        negated: bool,
    ) -> Result<testplan::Expect, LowerError> {
        let written = |e: &Expr| {
            self.ck
                .sources
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
                Some(a) => Some((self.constant(sc, a)? * 1000.0).round() as i64),
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

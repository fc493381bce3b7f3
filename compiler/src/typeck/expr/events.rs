//! Event aggregates (`count() by event.k over w`): where they may appear, their grouping
//! fields and windows.

use super::*;

impl Checker<'_> {
    pub(super) fn event_aggregate(
        &mut self,
        cx: &mut Ctx,
        func: &Ident,
        pos: &[&Expr],
        group: Option<&Grouping>,
        over: &Expr,
        span: Span,
    ) -> Val {
        let name = func.name.as_str();
        cx.saw_event_agg.get_or_insert(span);
        if !self.event_aggregate_allowed(cx, func, pos, span) {
            return Val::error();
        }
        let mut unit = Unit::Number;
        if let Some(arg) = pos.first() {
            let v = self.expr(cx, arg);
            if matches!(name, "sum" | "avg" | "min" | "max") && !v.ty.is_numeric() {
                self.mismatch(arg.span, "a numeric event field", &v.ty);
            }
            if matches!(name, "sum" | "avg" | "min" | "max") {
                unit = v.ty.unit();
            }
        }
        self.duration_arg(cx, over, Code::ClauseNotDuration);
        self.same_keys(cx, group, span);
        let labels = self.key_labels(cx, group);
        if !cx.agg_names.iter().any(|n| n == name) {
            cx.agg_names.push(name.to_string());
        }
        let ty = if name == "share" {
            Ty::Num(Unit::Ratio)
        } else if name == "first_seen" {
            Ty::Bool
        } else {
            Ty::Num(unit)
        };
        Val::scalar(ty).with_shape(Shape::Series(labels))
    }

    /// Whether an event aggregate may stand here: in an event rule, a function that
    /// aggregates events, with its number of arguments.
    fn event_aggregate_allowed(
        &mut self,
        cx: &Ctx,
        func: &Ident,
        pos: &[&Expr],
        span: Span,
    ) -> bool {
        let name = func.name.as_str();
        if !cx.event {
            self.err(
                Diagnostic::new(
                    Code::EventAggOutsideEventRule,
                    span,
                    format!("`{name}(...) over` aggregates events, but this rule reads no events"),
                )
                .label("event aggregate"),
            );
            return false;
        }
        if !functions::EVENT_AGGREGATES.contains(&name) {
            self.err(
                Diagnostic::new(
                    Code::ArgType,
                    func.span,
                    format!("`{name}` cannot aggregate events"),
                )
                .label("not an event aggregate")
                .help("event aggregates are count, sum, avg, min, max, distinct, share and first_seen"),
            );
            return false;
        }
        let want = usize::from(!matches!(name, "count" | "first_seen"));
        if pos.len() != want {
            self.err(
                Diagnostic::new(
                    Code::Arity,
                    span,
                    format!(
                        "`{name}` over events takes {want} argument{}",
                        if want == 1 { "" } else { "s" }
                    ),
                )
                .label("wrong number of arguments")
                .help(if want == 0 {
                    "write `count() by event.key over 1m`"
                } else {
                    "write `sum(event.field) by event.key over 1h`"
                }),
            );
            return false;
        }
        true
    }

    /// Every event aggregate of a rule groups by the same fields (the rule's key).
    fn same_keys(&mut self, cx: &mut Ctx, group: Option<&Grouping>, span: Span) {
        let keys: Vec<String> = match group {
            Some(Grouping::Fields(fields, _)) => fields
                .iter()
                .map(|f| match &f.kind {
                    ExprKind::Field(p) => p
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                    _ => String::new(),
                })
                .collect(),
            _ => Vec::new(),
        };
        match &cx.agg_keys {
            Some((first, at)) if *first != keys => {
                let shown = |k: &[String]| {
                    if k.is_empty() {
                        "no fields".to_string()
                    } else {
                        k.iter()
                            .map(|k| format!("event.{k}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                };
                self.err(
                    Diagnostic::new(
                        Code::AggregateKeysDiffer,
                        span,
                        format!(
                            "this aggregate groups by {}, an earlier one by {}",
                            shown(&keys),
                            shown(first)
                        ),
                    )
                    .label("different grouping")
                    .with(*at, "first aggregate"),
                );
            }
            Some(_) => {}
            None => cx.agg_keys = Some((keys, span)),
        }
    }

    /// The labels an aggregate's alerts carry: the last segment of each key field.
    fn key_labels(&mut self, cx: &mut Ctx, group: Option<&Grouping>) -> Labels {
        let mut labels = Labels::closed([]);
        match group {
            Some(Grouping::Fields(fields, _)) => {
                for f in fields {
                    self.expr(cx, f);
                    if let ExprKind::Field(path) = &f.kind
                        && let Some(last) = path.last()
                    {
                        labels.known.insert(last.name.clone());
                    }
                }
            }
            Some(Grouping::By(ls, s)) | Some(Grouping::Without(ls, s)) if !ls.is_empty() => {
                self.err(
                    Diagnostic::new(Code::ArgType, *s, "event aggregates group by event fields")
                        .label("labels here")
                        .help(format!("write `by event.{}`", ls[0].name)),
                );
            }
            _ => {}
        }
        labels
    }
}

//! Window functions over a series and aggregations across series: their units, windows
//! and the label sets they keep.

use super::*;

impl Checker<'_> {
    /// A window function over one series: its named arguments, quantile, series (a metric
    /// or a recorded series), window, and the type of its result.
    pub(super) fn window_call(
        &mut self,
        cx: &mut Ctx,
        func: &Ident,
        pos: &[&Expr],
        named: &[(&Ident, &Expr)],
        span: Span,
    ) -> Val {
        let name = func.name.as_str();
        // Leading quantile / fraction argument.
        let mut pos = pos.to_vec();
        let mut q = None;
        if matches!(name, "quantile" | "histogram_quantile") && !pos.is_empty() {
            q = Some(pos.remove(0));
        }
        for (k, v) in named {
            self.window_named_arg(cx, name, k, v);
        }
        if let Some(q) = q {
            self.quantile_arg(cx, q);
        }
        if name == "histogram_quantile" && pos.len() == 1 {
            return self.bucket_quantile(cx, pos[0]);
        }
        if name == "absent" && pos.len() == 1 {
            return self.absent_of(cx, pos[0]);
        }
        if name == "histogram_fraction" && !named.iter().any(|(k, _)| k.name == "le") {
            self.err(
                Diagnostic::new(
                    Code::ArgType,
                    span,
                    "`histogram_fraction` needs `le <value>`",
                )
                .label("missing `le`"),
            );
        }
        let Some(series_e) = pos.first() else {
            return Val::error();
        };
        let Some(series) = self.window_series(cx, name, series_e) else {
            return Val::error();
        };
        // Second positional: a window, except ewma (alpha) and holt_winters (period).
        if let Some(w) = pos.get(1) {
            let ago = named.iter().find_map(|(k, v)| match (&*k.name, &v.kind) {
                ("ago", ExprKind::Duration(s)) => Some(*s),
                _ => None,
            });
            self.window_arg(cx, name, w, ago.unwrap_or(0.0));
        }
        if matches!(name, "rate" | "increase" | "irate") && !self.declared_counter(cx, series_e) {
            crate::lint::exprs::rate_on_gauge(self, name, series_e);
        }
        Val {
            ty: window_type(name, series.ty.unit()),
            shape: series.shape,
            konst: None,
            score: name == "anomaly",
            reads_rules: false,
            stored: false,
        }
    }

    /// `absent(x)`: of a metric or recorded series, true (with the selector's labels) when it
    /// has no sample in the lookback; of any other series of numbers (`absent(up == 1)`, a
    /// comparison filtering), true without labels when it has no series, as PromQL's.
    fn absent_of(&mut self, cx: &mut Ctx, arg: &Expr) -> Val {
        let Some(v) = self.value_arg(cx, arg) else {
            return Val::error();
        };
        let shape = if v.stored {
            v.shape
        } else {
            Shape::Series(Labels::closed(Vec::<String>::new()))
        };
        Val {
            ty: Ty::Bool,
            shape,
            konst: None,
            score: false,
            reads_rules: false,
            stored: false,
        }
    }

    /// `histogram_quantile(q, buckets)`: PromQL's form over any series of numbers with an
    /// `le` label (bucket counts or rates however computed); the result loses `le`.
    fn bucket_quantile(&mut self, cx: &mut Ctx, arg: &Expr) -> Val {
        let Some(v) = self.value_arg(cx, arg) else {
            return Val::error();
        };
        let Some(labels) = v.labels() else {
            return Val::error();
        };
        if !labels.may_have("le") {
            self.err(
                Diagnostic::new(
                    Code::ArgType,
                    arg.span,
                    "`histogram_quantile` reads buckets by their `le` label, which this series cannot have",
                )
                .label("no `le` label")
                .help("keep `le` in the grouping: `sum(rate(x_bucket, 5m)) by [le, job]`, or write `histogram_quantile(q, x, w)`"),
            );
            return Val::error();
        }
        let mut labels = labels.clone();
        labels.known.remove("le");
        Val {
            ty: Ty::Num(Unit::Number),
            shape: Shape::Series(labels),
            konst: None,
            score: false,
            reads_rules: false,
            stored: false,
        }
    }

    /// One named argument of a window function (`ago`, `ahead`, `le`, `alpha`, `bands`,
    /// `method`, `season`, `forecast`).
    fn window_named_arg(&mut self, cx: &mut Ctx, name: &str, k: &Ident, v: &Expr) {
        match k.name.as_str() {
            "ago" | "ahead" => self.duration_arg(cx, v, Code::WindowNotDuration),
            "le" => {
                self.expr(cx, v);
            }
            "alpha" | "bands" => {
                let val = self.expr(cx, v);
                if !matches!(val.ty, Ty::Num(Unit::Number)) {
                    self.mismatch(v.span, "a number", &val.ty);
                }
            }
            "method" => self.method_arg(name, v),
            "season" => match &v.kind {
                ExprKind::Ref { name, .. } => self.calendar_arg(cx, name, v.span),
                _ => self.duration_arg(cx, v, Code::WindowNotDuration),
            },
            "forecast" => {
                let f = self.expr(cx, v);
                if !matches!(f.ty, Ty::Forecast | Ty::Error) {
                    self.mismatch(v.span, "a forecast like holt_winters(x, 1d)", &f.ty);
                }
            }
            _ => {
                self.err(
                    Diagnostic::new(
                        Code::ArgType,
                        k.span,
                        format!("`{name}` has no `{}` argument", k.name),
                    )
                    .label("unknown argument"),
                );
            }
        }
    }

    /// `method m` of `trend` (regression, mann_kendall) or `anomaly` (zscore, robust, ewma,
    /// holt_winters).
    fn method_arg(&mut self, func: &str, v: &Expr) {
        let m = match &v.kind {
            ExprKind::Ref { name, .. } => name.as_str(),
            _ => "",
        };
        let (known, what, label, help): (&[&str], &str, &str, &str) = if func == "trend" {
            (
                &["regression", "mann_kendall"],
                "trend method",
                "not a trend test",
                "trend tests are regression (the default) and mann_kendall",
            )
        } else {
            (
                &["zscore", "robust", "ewma", "holt_winters"],
                "anomaly method",
                "not a method",
                "methods are zscore, robust, ewma and holt_winters",
            )
        };
        if !known.contains(&m) {
            self.err(
                Diagnostic::new(Code::UnknownMethod, v.span, format!("unknown {what} `{m}`"))
                    .label(label)
                    .help(did_you_mean(m, known.iter().copied(), help)),
            );
        }
    }

    /// `season xnys`: a declared calendar.
    fn calendar_arg(&mut self, cx: &mut Ctx, name: &str, span: Span) {
        match self.resolve(cx.file, Namespace::Calendar, name) {
            Some(key) => {
                self.used.insert(key);
            }
            None => {
                let cands = self.candidates(cx.file, &[Namespace::Calendar]);
                self.err(
                    Diagnostic::new(
                        Code::UnknownCalendar,
                        span,
                        format!("unknown calendar `{name}`"),
                    )
                    .label("not a calendar")
                    .help(did_you_mean(
                        name,
                        cands.iter().map(String::as_str),
                        "declare it with `calendar NAME = sessions(...)`, or give a duration like 1d",
                    )),
                );
            }
        }
    }

    /// A quantile between 0 and 1.
    fn quantile_arg(&mut self, cx: &mut Ctx, q: &Expr) {
        let v = self.expr(cx, q);
        if let Some(Konst::Num(n)) = v.konst
            && !(0.0..=1.0).contains(&n)
        {
            self.err(
                Diagnostic::new(
                    Code::QuantileRange,
                    q.span,
                    format!("quantile {n} is not between 0 and 1"),
                )
                .label("out of range"),
            );
        }
    }

    /// The series a window function reads: numeric, per series, and stored (a metric or a
    /// recorded series, not an expression computed per evaluation).
    fn window_series(&mut self, cx: &mut Ctx, name: &str, series_e: &Expr) -> Option<Val> {
        let series = self.expr(cx, series_e);
        if series.ty == Ty::Error {
            return None;
        }
        if !matches!(series.shape, Shape::Series(_)) || !series.ty.is_numeric() {
            self.err(
                Diagnostic::new(
                    Code::ArgType,
                    series_e.span,
                    format!(
                        "`{name}` needs a metric series, found {}",
                        describe(&series)
                    ),
                )
                .label("not a series")
                .help(format!(
                    "the signature is `{}`",
                    functions::lookup(name).map(|b| b.signature).unwrap_or("")
                )),
            );
            return None;
        }
        if !series.stored {
            self.err(
                Diagnostic::new(
                    Code::WindowOverComputed,
                    series_e.span,
                    format!("`{name}` reads stored samples, and this series is computed"),
                )
                .label("not a metric or a recorded series")
                .help("record it first (`record job:x = ...`) and apply the window to the recorded series, as Prometheus recording rules do"),
            );
            return None;
        }
        Some(series)
    }

    /// The second positional argument: a window (an ewma's smoothing factor).
    fn window_arg(&mut self, cx: &mut Ctx, name: &str, w: &Expr, ago: f64) {
        if name == "ewma" {
            let a = self.expr(cx, w);
            if !matches!(a.ty, Ty::Num(Unit::Number)) {
                self.mismatch(w.span, "a smoothing factor between 0 and 1", &a.ty);
            }
            return;
        }
        self.duration_arg(cx, w, Code::WindowNotDuration);
        if let ExprKind::Duration(secs) = &w.kind {
            let ms = |s: f64| (s * 1000.0).round() as i64;
            // The engine's grid: evaluation times are multiples of the interval, shifted by
            // the rule's delay; windows by their `ago`.
            let grid = crate::retention::gcd(ms(cx.interval), ms(cx.delay));
            let keep = crate::retention::Keep::of(name, grid, ms(*secs), ms(ago));
            crate::lint::exprs::long_window(self, name, (*secs, cx.interval), keep, w.span);
        }
        if let (ExprKind::Duration(secs), true) = (
            &w.kind,
            matches!(name, "rate" | "increase" | "irate" | "deriv" | "slope"),
        ) {
            crate::lint::exprs::short_window(self, name, *secs, cx.interval, w.span);
        }
    }

    pub(super) fn series_aggregate(
        &mut self,
        cx: &mut Ctx,
        func: &Ident,
        pos: &[&Expr],
        group: &Grouping,
        span: Span,
    ) -> Val {
        let name = func.name.as_str();
        if !functions::SERIES_AGGREGATES.contains(&name) {
            self.err(
                Diagnostic::new(Code::ArgType, func.span, format!("`{name}` cannot aggregate across series"))
                    .label("not an aggregate")
                    .help("aggregates are sum, avg, min, max, count, stddev, variance, quantile, count_distinct, topk, bottomk and group; `by` after histogram_quantile groups its buckets"),
            );
            return Val::error();
        }
        let mut pos = pos.to_vec();
        if matches!(name, "quantile" | "topk" | "bottomk") && pos.len() == 2 {
            let q = pos.remove(0);
            self.expr(cx, q);
        }
        if pos.len() != 1 {
            self.err(
                Diagnostic::new(
                    Code::Arity,
                    span,
                    format!("`{name}(...) by` takes one expression"),
                )
                .label("wrong number of arguments"),
            );
            return Val::error();
        }
        // `count(m > 50) by [job]`: PromQL's filtering comparison; what passes keeps its value
        // (the series side's unit).
        let v = self.expr(cx, pos[0]);
        let v = self.as_value(v, pos[0]);
        if v.ty != Ty::Error && (!v.ty.is_numeric() || !matches!(v.shape, Shape::Series(_))) {
            self.err(
                Diagnostic::new(
                    Code::ArgType,
                    pos[0].span,
                    format!("`{name}` aggregates series, found {}", describe(&v)),
                )
                .label("not a series"),
            );
            return Val::error();
        }
        let v = if matches!(name, "count" | "count_distinct" | "group") {
            Val {
                ty: Ty::Num(Unit::Number),
                ..v
            }
        } else {
            v
        };
        if matches!(name, "topk" | "bottomk") {
            // The chosen series keep their own labels; the grouping only has to exist.
            let labels = v.labels().cloned();
            let grouped = self.grouped(v.clone(), group);
            if grouped.ty == Ty::Error {
                return grouped;
            }
            return Val {
                shape: Shape::Series(labels.unwrap_or_default()),
                konst: None,
                ..v
            };
        }
        self.grouped(v, group)
    }

    /// Applies `by [..]` / `without [..]` to a series value.
    pub(crate) fn grouped(&mut self, v: Val, group: &Grouping) -> Val {
        let labels = v.labels().cloned().unwrap_or_default();
        if let Grouping::By(ls, _) | Grouping::Without(ls, _) = group {
            self.mentioned.extend(ls.iter().map(|l| l.name.clone()));
        }
        let out = match group {
            Grouping::By(ls, _) => {
                for l in ls {
                    if !labels.may_have(&l.name) {
                        let have: Vec<&str> = labels.known.iter().map(String::as_str).collect();
                        self.err(
                            Diagnostic::new(
                                Code::MissingJoinLabel,
                                l.span,
                                format!("the series has no `{}` label to group by", l.name),
                            )
                            .label("label not present")
                            .help(did_you_mean(
                                &l.name,
                                have.iter().copied(),
                                &format!("labels here: [{}]", have.join(", ")),
                            )),
                        );
                    }
                }
                Labels::closed(ls.iter().map(|i| i.name.clone()))
            }
            Grouping::Without(ls, _) => {
                let mut l = labels.clone();
                for x in ls {
                    l.known.remove(&x.name);
                }
                l
            }
            Grouping::Fields(_, s) => {
                self.err(
                    Diagnostic::new(
                        Code::EventAggOutsideEventRule,
                        *s,
                        "grouping by event fields needs `over <window>`",
                    )
                    .label("event grouping without a window"),
                );
                return Val::error();
            }
        };
        Val {
            shape: Shape::Series(out),
            konst: None,
            ..v
        }
    }

    /// Whether a selector names a metric declared `counter` (`metric bytes_sent: counter`),
    /// which is what silences V1016 for a name that does not end in `_total`.
    fn declared_counter(&mut self, cx: &Ctx, e: &Expr) -> bool {
        let ExprKind::Ref { name, .. } = &e.kind else {
            return false;
        };
        self.metric_unit_decl(cx.file, name)
            .is_some_and(|(unit, _)| unit.name == "counter")
    }
}

/// What a window function returns over a series of unit `unit`.
fn window_type(name: &str, unit: Unit) -> Ty {
    match name {
        "count" | "changes" | "zscore" => Ty::Num(Unit::Number),
        "absent" | "outside" => Ty::Bool,
        "trend" => Ty::Trend,
        "holt_winters" => Ty::Forecast,
        "change" | "histogram_fraction" => Ty::Num(Unit::Ratio),
        "rate" | "irate" => Ty::Num(if unit == Unit::Unknown {
            Unit::Unknown
        } else {
            Unit::Number
        }),
        "anomaly" => Ty::Num(Unit::Number),
        _ => Ty::Num(unit),
    }
}

/// A number, duration, percentage or size written in place (what a filtering comparison
/// compares a series with).
pub(super) fn is_constant(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Number(_) | ExprKind::Percent(_) | ExprKind::Duration(_) | ExprKind::Bytes(_) => {
            true
        }
        ExprKind::Unary(UnOp::Neg, x) => is_constant(x),
        _ => false,
    }
}

//! Function calls: arity and argument kinds from the built-in table, scalar functions.

use super::*;

impl Checker<'_> {
    pub(super) fn call(
        &mut self,
        cx: &mut Ctx,
        func: &Ident,
        args: &[Arg],
        group: Option<&Grouping>,
        over: Option<&Expr>,
        span: Span,
    ) -> Val {
        let name = func.name.as_str();
        let Some(b) = functions::lookup(name) else {
            let names = functions::BUILTINS.iter().map(|b| b.name);
            self.err(
                Diagnostic::new(
                    Code::UnknownFunction,
                    func.span,
                    format!("unknown function `{name}`"),
                )
                .label("not a function")
                .help(did_you_mean(
                    name,
                    names,
                    "see the function list in docs/language.md",
                )),
            );
            return self.args_only(cx, args);
        };
        let positional: Vec<&Expr> = args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
            .collect();
        let named: Vec<(&Ident, &Expr)> = args
            .iter()
            .filter_map(|a| a.name.as_ref().map(|n| (n, &a.value)))
            .collect();

        // Event aggregates: `count() by event.k over w`.
        if let Some(w) = over {
            return self.event_aggregate(cx, func, &positional, group, w, span);
        }
        if let Some(g) = group {
            if b.kind == FnKind::Window && name.starts_with("histogram_") {
                let v = self.window_call(cx, func, &positional, &named, span);
                return if v.ty == Ty::Error {
                    v
                } else {
                    self.grouped(v, g)
                };
            }
            return self.series_aggregate(cx, func, &positional, g, span);
        }
        let total = positional.len() + named.len();
        let is_window_min_max = matches!(name, "min" | "max")
            && positional.len() == 2
            && !is_duration_literal(positional[1]);
        if !is_window_min_max && (total < b.min || total > b.max) {
            self.arity_error(b, positional.len(), total, span);
            return self.args_only(cx, args);
        }
        if is_window_min_max || b.kind == FnKind::Scalar {
            return self.scalar_call(cx, name, &positional, span);
        }
        if name == "present" {
            return self.present_call(cx, positional[0]);
        }
        if b.kind == FnKind::Vector {
            return self.relabel_call(cx, name, &positional);
        }
        self.window_call(cx, func, &positional, &named, span)
    }

    /// `present(x)`: true for each series of `x` (a series of numbers; comparisons and set
    /// operators inside read as PromQL's filters), whatever its value.
    fn present_call(&mut self, cx: &mut Ctx, arg: &Expr) -> Val {
        let Some(v) = self.value_arg(cx, arg) else {
            return Val::error();
        };
        Val {
            ty: Ty::Bool,
            konst: None,
            score: false,
            ..v
        }
    }

    /// `label_replace(x, "dst", "$1", "src", "re")`, `label_join(x, "dst", ",", "a", "b")`: a
    /// series, then string literals (label names, a regex that must compile); the result
    /// carries `dst` besides `x`'s labels.
    fn relabel_call(&mut self, cx: &mut Ctx, name: &str, pos: &[&Expr]) -> Val {
        let v = self.expr(cx, pos[0]);
        if v.ty != Ty::Error && (!v.ty.is_numeric() || !matches!(v.shape, Shape::Series(_))) {
            self.mismatch(pos[0].span, "a series", &v.ty);
            return Val::error();
        }
        let mut strs = Vec::new();
        for (i, a) in pos[1..].iter().enumerate() {
            let ExprKind::Str(s) = &a.kind else {
                let t = self.expr(cx, a);
                self.mismatch(a.span, "a string literal", &t.ty);
                return Val::error();
            };
            let is_label = match name {
                "label_replace" => i == 0 || i == 2,
                _ => i != 1,
            };
            let label_name = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if is_label && !(s.is_empty() && i != 0) && !label_name {
                self.err(
                    Diagnostic::new(Code::ArgType, a.span, format!("`{s}` is not a label name"))
                        .label("a label name"),
                );
            }
            strs.push((s.clone(), a.span));
        }
        if name == "label_replace"
            && let Some((re, at)) = strs.get(3)
            && let Err(e) = regex::Regex::new(&format!("^(?:{re})$"))
        {
            self.err(
                Diagnostic::new(Code::ArgType, *at, "the regex does not compile")
                    .label(e.to_string().lines().last().unwrap_or("").to_string()),
            );
        }
        let mut out = v;
        if let (Shape::Series(l), Some((dst, _))) = (&mut out.shape, strs.first()) {
            l.known.insert(dst.clone());
            self.mentioned.insert(dst.clone());
        }
        out.konst = None;
        out
    }

    /// Checks a call's arguments when the call itself is wrong (so their errors still show).
    fn args_only(&mut self, cx: &mut Ctx, args: &[Arg]) -> Val {
        for a in args {
            self.expr(cx, &a.value);
        }
        Val::error()
    }

    /// A call with the wrong number of arguments (a series aggregate without grouping says so).
    fn arity_error(&mut self, b: &functions::Builtin, positional: usize, total: usize, span: Span) {
        let name = b.name;
        if functions::SERIES_AGGREGATES.contains(&name) && positional == 1 {
            self.err(
                Diagnostic::new(Code::AggregateNoGrouping, span, format!("`{name}` across series needs `by` or `without`"))
                    .label("how should series be grouped?")
                    .help(format!("write `{name}(...) by [labels]`, `{name}(...) without [labels]`, or `{name}(...) by []` for one total; for a window write `{name}(x, 5m)`")),
            );
            return;
        }
        self.err(
            Diagnostic::new(
                Code::Arity,
                span,
                format!(
                    "`{name}` takes {} argument{}, found {total}",
                    arity_words(b.min, b.max),
                    if b.max == 1 { "" } else { "s" }
                ),
            )
            .label("wrong number of arguments")
            .help(format!("the signature is `{}`", b.signature)),
        );
    }

    pub(super) fn scalar_call(
        &mut self,
        cx: &mut Ctx,
        name: &str,
        pos: &[&Expr],
        span: Span,
    ) -> Val {
        let vals: Vec<Val> = pos.iter().map(|e| self.expr(cx, e)).collect();
        if vals.iter().any(|v| v.ty == Ty::Error) {
            return Val::error();
        }
        let shape = vals
            .iter()
            .fold(Shape::Scalar, |s, v| join_shape(&s, &v.shape));
        match name {
            "time" => Val::scalar(Ty::Num(Unit::Duration)),
            "env" | "base64offset" | "utf16le" | "windash" => {
                if !matches!(vals[0].ty, Ty::Str) {
                    self.mismatch(pos[0].span, "a string", &vals[0].ty);
                }
                if name == "env" {
                    Val::scalar(Ty::Str)
                } else {
                    Val::scalar(Ty::List(Box::new(Ty::Str)))
                }
            }
            "score" => self.score(&vals, pos, shape),
            "at_least" => self.at_least(&vals, pos),
            _ => {
                for (v, e) in vals.iter().zip(pos) {
                    if !v.ty.is_numeric() {
                        self.mismatch(e.span, "a number", &v.ty);
                        return Val::error();
                    }
                }
                let _ = span;
                let unit = vals[0].ty.unit();
                let konst = match (name, &vals[0].konst) {
                    ("abs", Some(Konst::Num(n))) => Some(Konst::Num(n.abs())),
                    _ => None,
                };
                let unit = if matches!(name, "ln" | "log10") {
                    Unit::Number
                } else {
                    unit
                };
                Val {
                    ty: Ty::Num(unit),
                    shape,
                    konst,
                    score: false,
                    reads_rules: false,
                    stored: false,
                }
            }
        }
    }

    /// `score(w1 * rule1 + ...)`: a weighted sum of rule states.
    fn score(&mut self, vals: &[Val], pos: &[&Expr], shape: Shape) -> Val {
        if !vals[0].reads_rules {
            self.err(
                Diagnostic::new(Code::ArgType, pos[0].span, "`score` weighs rule states")
                    .label("names no rule")
                    .help("write `score(0.5 * rule_a + 0.5 * rule_b)`"),
            );
        }
        Val {
            ty: Ty::Num(Unit::Number),
            shape,
            konst: None,
            score: false,
            reads_rules: true,
            stored: false,
        }
    }

    /// `at_least(n, [rules])`: true when n of the rules fire.
    fn at_least(&mut self, vals: &[Val], pos: &[&Expr]) -> Val {
        if !matches!(vals[0].ty, Ty::Num(Unit::Number)) {
            self.mismatch(pos[0].span, "a count", &vals[0].ty);
        }
        let rules_ok = matches!(&pos[1].kind, ExprKind::List(items) if !items.is_empty())
            && vals[1].reads_rules_list();
        if !rules_ok {
            self.err(
                Diagnostic::new(
                    Code::ArgType,
                    pos[1].span,
                    "`at_least` needs a list of rules",
                )
                .label("not a list of rules")
                .help("write `at_least(2, [rule_a, rule_b, rule_c])`"),
            );
        }
        Val {
            ty: Ty::Bool,
            shape: Shape::Series(Labels::open([])),
            konst: None,
            score: false,
            reads_rules: true,
            stored: false,
        }
    }

    pub(super) fn duration_arg(&mut self, cx: &mut Ctx, e: &Expr, code: Code) {
        let v = self.expr(cx, e);
        if !matches!(v.ty, Ty::Num(Unit::Duration) | Ty::Error) || !matches!(v.shape, Shape::Scalar)
        {
            let help = duration_help(e);
            self.err(
                Diagnostic::new(code, e.span, format!("expected a duration, found {}", v.ty))
                    .label("not a duration")
                    .help(help),
            );
        }
    }
}

fn arity_words(min: usize, max: usize) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min} to {max}")
    }
}

/// Help for a value that should have been a duration: a bare number gets its unit suggested.
pub(crate) fn duration_help(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number(n) => format!("write the unit: `{n}m` for minutes, `{n}s` for seconds"),
        _ => "durations look like 30s, 5m, 1h, 7d".to_string(),
    }
}

pub(crate) fn is_duration_literal(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Duration(_))
}

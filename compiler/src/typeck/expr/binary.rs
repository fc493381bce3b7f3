//! Binary operators: units across arithmetic and comparisons, label sets across joins
//! (`on`/`ignoring`), membership and string operators, and folding of constants.

use super::*;

impl Checker<'_> {
    /// `a op b`: logic, comparisons and arithmetic, with the label set the join keeps.
    pub(super) fn binary(
        &mut self,
        cx: &mut Ctx,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        matching: Option<&Matching>,
        span: Span,
    ) -> Val {
        let l = self.expr(cx, lhs);
        let set_op = matches!(op, BinOp::And | BinOp::Or);
        let l = if set_op && cx.values {
            self.as_value(l, lhs)
        } else {
            l
        };
        if set_op && is_value_series(&l) {
            return self.value_set(cx, op, l, (lhs, rhs), matching);
        }
        let r = self.expr(cx, rhs);
        if l.ty == Ty::Error || r.ty == Ty::Error {
            return Val::error();
        }
        // An operand of arithmetic or of a comparison that is itself a comparison of series is
        // PromQL's filter: the series where it holds, with their values.
        let (l, r) = if set_op {
            (l, r)
        } else {
            (self.as_value(l, lhs), self.as_value(r, rhs))
        };
        let shape = self.join_labels(op, &l, &r, matching, lhs.span, rhs.span);
        let reads_rules = l.reads_rules || r.reads_rules;
        let condition = |konst| Val {
            ty: Ty::Bool,
            shape: shape.clone(),
            konst,
            score: false,
            reads_rules,
            stored: false,
        };
        match op {
            BinOp::And | BinOp::Or => {
                self.want_bool(&l, lhs.span);
                self.want_bool(&r, rhs.span);
                condition(fold_logic(op, &l.konst, &r.konst))
            }
            _ if op.is_comparison() => {
                self.comparable(op, &l, &r, lhs, rhs, span);
                self.bare_against_unit(cx, op, (&l, lhs), (&r, rhs));
                crate::lint::exprs::comparison(self, op, &l, &r, lhs, rhs);
                condition(fold_cmp(op, &l.konst, &r.konst).map(Konst::Bool))
            }
            _ => match self.arithmetic(op, (&l, lhs), (&r, rhs), span) {
                Some(unit) => {
                    let konst = match (&l.konst, &r.konst) {
                        (Some(Konst::Num(a)), Some(Konst::Num(b))) => Some(Konst::Num(match op {
                            BinOp::Add => a + b,
                            BinOp::Sub => a - b,
                            BinOp::Mul => a * b,
                            _ => a / b,
                        })),
                        _ => None,
                    };
                    Val {
                        ty: Ty::Num(unit),
                        shape,
                        konst,
                        score: false,
                        reads_rules,
                        stored: false,
                    }
                }
                None => Val::error(),
            },
        }
    }

    /// A comparison of series where a number is wanted: PromQL's filtering comparison, the
    /// series where it holds with the values of its series side (`x > 5`, `a > b`: `x`, `a`).
    /// Anything else is returned as it is.
    pub(crate) fn as_value(&mut self, v: Val, e: &Expr) -> Val {
        let ExprKind::Binary { op, lhs, rhs, .. } = &e.kind else {
            return v;
        };
        if v.ty != Ty::Bool
            || !op.is_comparison()
            || v.reads_rules
            || !matches!(v.shape, Shape::Series(_))
        {
            return v;
        }
        let side = if super::windows::is_constant(lhs) {
            rhs
        } else {
            lhs
        };
        let Some(&unit) = self.units.get(&side.span) else {
            return v;
        };
        self.units.insert(e.span, unit);
        Val {
            ty: Ty::Num(unit),
            konst: None,
            ..v
        }
    }

    /// `e` read as values: comparisons and set operators inside it are PromQL's filters, and
    /// so is `e` itself when it is a comparison of series.
    fn value_of(&mut self, cx: &mut Ctx, e: &Expr) -> Val {
        let values = std::mem::replace(&mut cx.values, true);
        let v = self.expr(cx, e);
        cx.values = values;
        self.as_value(v, e)
    }

    /// The argument of a function over a series of values (`present`, `absent`,
    /// `histogram_quantile(q, buckets)`), read as values (comparisons and set operators are
    /// PromQL's filters there); `None` (reported) when it is not a series of numbers.
    pub(crate) fn value_arg(&mut self, cx: &mut Ctx, arg: &Expr) -> Option<Val> {
        let v = self.value_of(cx, arg);
        if v.ty == Ty::Error {
            return None;
        }
        if !is_value_series(&v) {
            self.mismatch(arg.span, "a series of numbers", &v.ty);
            return None;
        }
        Some(v)
    }

    /// `a and b`, `a and not b`, `a or b` where `a` is a series of numbers: PromQL's set
    /// operators, which keep whole series (labels and values) from either side. The right
    /// side is a series of numbers too (a comparison of series filters).
    fn value_set(
        &mut self,
        cx: &mut Ctx,
        op: BinOp,
        l: Val,
        (lhs, rhs): (&Expr, &Expr),
        matching: Option<&Matching>,
    ) -> Val {
        let inner = match (op, &rhs.kind) {
            (BinOp::And, ExprKind::Unary(UnOp::Not, x)) => &**x,
            _ => rhs,
        };
        let r = self.value_of(cx, inner);
        if r.ty == Ty::Error {
            return Val::error();
        }
        // `sum(x) by [] or 0`: a constant is a series without labels (PromQL's `vector(0)`).
        let constant = op == BinOp::Or && r.ty.is_numeric() && r.shape == Shape::Scalar;
        if !is_value_series(&r) && !constant {
            let word = if op == BinOp::Or { "or" } else { "and" };
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    inner.span,
                    format!("`{word}` on a series of numbers needs one on the right too, found {}", describe(&r)),
                )
                .label("not a series of numbers")
                .with(lhs.span, "a series of numbers")
                .help("compare the left side to make a condition (`x > 0 and y > 0`), or filter the right one (`x and (y > 0)`)"),
            );
            return Val::error();
        }
        if op == BinOp::Or && !l.ty.unit().compatible(r.ty.unit()) {
            self.unit_error(rhs.span, op, l.ty.unit(), r.ty.unit(), lhs.span, inner.span);
            return Val::error();
        }
        // Checks `on`/`ignoring` and refuses `group_*` (set operators match many-to-many).
        let _ = self.join_labels(op, &l, &r, matching, lhs.span, inner.span);
        let none = Labels::closed(Vec::<String>::new());
        let shape = match (op, l.labels(), r.labels().unwrap_or(&none)) {
            (BinOp::Or, Some(a), b) if a.known != b.known => {
                Shape::Series(Labels::open(a.known.intersection(&b.known).cloned()))
            }
            (BinOp::Or, Some(a), b) => Shape::Series(Labels {
                known: a.known.clone(),
                open: a.open || b.open,
            }),
            _ => l.shape.clone(),
        };
        Val {
            shape,
            konst: None,
            reads_rules: false,
            stored: false,
            ..l
        }
    }

    /// The unit of `l op r` for `+ - * /`, or `None` (reported) when the operands are not
    /// numbers or their units do not combine.
    fn arithmetic(
        &mut self,
        op: BinOp,
        (l, lhs): (&Val, &Expr),
        (r, rhs): (&Val, &Expr),
        span: Span,
    ) -> Option<Unit> {
        let both_numeric = (l.ty.is_numeric() || l.score) && (r.ty.is_numeric() || r.score);
        let reads_rules = l.reads_rules || r.reads_rules;
        // Rule states count as 0/1 inside score(); anything else needs numbers.
        if !both_numeric
            && !(reads_rules
                && (l.ty.is_boolish() || l.ty.is_numeric())
                && (r.ty.is_boolish() || r.ty.is_numeric()))
        {
            let (bad, t) = if !l.ty.is_numeric() {
                (lhs.span, &l.ty)
            } else {
                (rhs.span, &r.ty)
            };
            let t = t.clone();
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    bad,
                    format!("`{}` needs numbers, found {t}", op.symbol()),
                )
                .label(format!("this is a {t}")),
            );
            return None;
        }
        let (lu, ru) = (l.ty.unit(), r.ty.unit());
        Some(match op {
            BinOp::Add | BinOp::Sub => {
                if !lu.compatible(ru) {
                    self.unit_error(span, op, lu, ru, lhs.span, rhs.span);
                    return None;
                }
                lu.join(ru)
            }
            BinOp::Mul => match (lu, ru) {
                (Unit::Number, u) | (u, Unit::Number) => u,
                _ => Unit::Number,
            },
            _ => match (lu, ru) {
                (u, Unit::Number) => u,
                _ => Unit::Number,
            },
        })
    }

    pub(super) fn unit_error(
        &mut self,
        _span: Span,
        op: BinOp,
        lu: Unit,
        ru: Unit,
        ls: Span,
        rs: Span,
    ) {
        self.err(
            Diagnostic::new(
                Code::UnitMismatch,
                rs,
                format!(
                    "cannot use `{}` on a {} and a {}",
                    op.symbol(),
                    lu.word(),
                    ru.word()
                ),
            )
            .label(format!("this is a {}", ru.word()))
            .with(ls, format!("this is a {}", lu.word())),
        );
    }

    pub(super) fn comparable(
        &mut self,
        op: BinOp,
        l: &Val,
        r: &Val,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) {
        let ok = match (&l.ty, &r.ty) {
            (Ty::Dynamic, _) | (_, Ty::Dynamic) => true,
            (Ty::Num(a), Ty::Num(b)) => {
                if !a.compatible(*b) {
                    self.unit_error(span, op, *a, *b, lhs.span, rhs.span);
                }
                true
            }
            (Ty::Str, Ty::Str) | (Ty::Bool, Ty::Bool) | (Ty::Ip, Ty::Ip) => true,
            (Ty::Ip, Ty::Str) | (Ty::Str, Ty::Ip) => true,
            _ => false,
        };
        if !(ok || l.score || r.score) {
            let array = matches!((&l.ty, &r.ty), (Ty::List(_), t) | (t, Ty::List(_)) if !matches!(t, Ty::List(_)));
            let mut d = Diagnostic::new(
                Code::TypeMismatch,
                span,
                format!("cannot compare a {} with a {}", l.ty, r.ty),
            )
            .label("incompatible types")
            .with(lhs.span, format!("this is a {}", l.ty))
            .with(rhs.span, format!("this is a {}", r.ty));
            if array && matches!(op, BinOp::Eq | BinOp::Ne) {
                // ECS `event.type` is an array: `==` on it never holds.
                d = d.help("an array never equals a single value; did you mean `contains` (an element equals it)?");
            }
            self.err(d);
        }
    }

    /// A bare number against a series read in milliseconds, or a duration against a series of
    /// plain numbers: both check clean under the dimension rule (a number goes with anything) but
    /// are off by a factor of 1000 or meaningless, so they are unit errors.
    fn bare_against_unit(&mut self, cx: &Ctx, op: BinOp, l: (&Val, &Expr), r: (&Val, &Expr)) {
        for ((a, ae), (b, be)) in [(l, r), (r, l)] {
            let konst_num = matches!(a.konst, Some(Konst::Num(_)));
            let series = b.konst.is_none() && b.labels().is_some();
            let bare = matches!(&ae.kind, ExprKind::Number(_))
                || matches!(&ae.kind, ExprKind::Unary(_, x) if matches!(x.kind, ExprKind::Number(_)));
            let msg = match (a.ty.unit(), b.ty.unit()) {
                (Unit::Number, Unit::Duration) if bare && series && self.reads_ms(cx, be) => {
                    let n = match a.konst {
                        Some(Konst::Num(n)) => n,
                        _ => 0.0,
                    };
                    let secs = n / 1000.0;
                    format!(
                        "a series read in milliseconds is compared in seconds: write {n}ms or {secs}s"
                    )
                }
                (Unit::Duration, Unit::Number)
                    if konst_num && series && is_duration_literal(ae) =>
                {
                    "a plain number (a count or a ratio) is compared with a duration; compare it with a number".to_string()
                }
                _ => continue,
            };
            let (aw, bw) = (a.ty.unit().word(), b.ty.unit().word());
            self.err(
                Diagnostic::new(
                    Code::UnitMismatch,
                    ae.span,
                    format!("cannot use `{}` on a {bw} series and a {aw}", op.symbol()),
                )
                .label(format!("this is a {aw}"))
                .with(be.span, format!("this is a {bw} series"))
                .help(msg),
            );
            return;
        }
    }

    /// Whether an expression reads a metric stored in milliseconds (named `_ms` or
    /// `_milliseconds`, or declared `duration(ms)`), which the engine converts to seconds.
    fn reads_ms(&mut self, cx: &Ctx, e: &Expr) -> bool {
        let mut names = Vec::new();
        e.walk(&mut |x| {
            if let ExprKind::Ref { name, .. } = &x.kind {
                names.push(name.clone());
            }
        });
        names.iter().any(|n| self.metric_in_ms(cx.file, n))
    }

    fn metric_in_ms(&mut self, file: usize, name: &str) -> bool {
        if let Some((unit, arg)) = self.metric_unit_decl(file, name) {
            return unit.name == "duration" && arg.is_some_and(|a| a.name == "ms");
        }
        let n = Unit::unit_stem(name);
        n.ends_with("_ms") || n.ends_with("_milliseconds")
    }

    /// The labels of a binary operation's result, checking `on`/`ignoring` lists and group
    /// modifiers. One-to-one arithmetic and comparisons keep the matched labels; the "many"
    /// side of `group_left`/`group_right` keeps its own, plus the extra labels copied.
    pub(super) fn join_labels(
        &mut self,
        op: BinOp,
        l: &Val,
        r: &Val,
        matching: Option<&Matching>,
        ls: Span,
        rs: Span,
    ) -> Shape {
        let set_op = matches!(op, BinOp::And | BinOp::Or);
        if let Some(m) = matching
            && let Some(g) = &m.group
        {
            self.group_modifier(set_op, m, g);
        }
        let (Some(a), Some(b)) = (l.labels(), r.labels()) else {
            if let Some(m) = matching.filter(|_| l.ty != Ty::Error && r.ty != Ty::Error) {
                let side = if l.labels().is_none() { ls } else { rs };
                let kw = if m.ignoring { "ignoring" } else { "on" };
                self.err(
                    Diagnostic::new(
                        Code::InvalidMatching,
                        m.span,
                        format!("`{kw} [..]` joins two series, but one side has no labels"),
                    )
                    .label("matching written here")
                    .with(side, "not a series")
                    .help("to join a comparison with another series, parenthesise it: `cpu > 50 and (mem > 50) on [host]`"),
                );
            }
            return join_shape(&l.shape, &r.shape);
        };
        let Some(m) = matching else {
            return Shape::Series(a.union(b));
        };
        self.mentioned
            .extend(m.labels.iter().map(|l| l.name.clone()));
        for label in &m.labels {
            for (side, labels, sspan) in [("left", a, ls), ("right", b, rs)] {
                if !m.ignoring && !labels.may_have(&label.name) {
                    self.missing_join_label(label, side, labels, sspan);
                }
            }
        }
        if let Some(g) = &m.group {
            let (many, one, ospan) = if g.left { (a, b, rs) } else { (b, a, ls) };
            self.mentioned
                .extend(g.extra.iter().map(|l| l.name.clone()));
            let mut out = many.clone();
            for label in &g.extra {
                if !one.may_have(&label.name) {
                    let side = if g.left { "right" } else { "left" };
                    self.missing_join_label(label, side, one, ospan);
                }
                out.known.insert(label.name.clone());
            }
            return Shape::Series(out);
        }
        if set_op {
            return Shape::Series(a.union(b));
        }
        if m.ignoring {
            let drop: Vec<&str> = m.labels.iter().map(|i| i.name.as_str()).collect();
            let mut u = a.union(b);
            u.known.retain(|k| !drop.contains(&k.as_str()));
            return Shape::Series(u);
        }
        // One-to-one `on`: the result carries the matched labels only.
        Shape::Series(Labels::closed(m.labels.iter().map(|l| l.name.clone())))
    }

    fn missing_join_label(&mut self, label: &Ident, side: &str, labels: &Labels, sspan: Span) {
        let have: Vec<&str> = labels.known.iter().map(String::as_str).collect();
        self.err(
            Diagnostic::new(
                Code::MissingJoinLabel,
                label.span,
                format!("the {side} side has no `{}` label", label.name),
            )
            .label("not on both sides")
            .with(sspan, format!("labels here: [{}]", have.join(", ")))
            .help(did_you_mean(
                &label.name,
                have.iter().copied(),
                "join only on labels both sides keep",
            )),
        );
    }

    /// `group_left`/`group_right` only on arithmetic and comparisons, never copying a label
    /// that is also matched on (PromQL refuses both).
    fn group_modifier(&mut self, set_op: bool, m: &Matching, g: &Group) {
        let which = if g.left { "group_left" } else { "group_right" };
        if set_op {
            self.err(
                Diagnostic::new(
                    Code::InvalidMatching,
                    g.span,
                    format!("`{which}` on `and`/`or`/`and not`"),
                )
                .label("set operators match any number of series")
                .help(
                    "remove it: `and`, `or` and `and not` keep the left side's series as they are",
                ),
            );
            return;
        }
        for x in &g.extra {
            if !m.ignoring && m.labels.iter().any(|l| l.name == x.name) {
                self.err(
                    Diagnostic::new(
                        Code::InvalidMatching,
                        x.span,
                        format!("`{}` is both matched on and copied by `{which}`", x.name),
                    )
                    .label("already in `on [..]`")
                    .help("a matched label is on both sides already: list only labels to copy from the other side"),
                );
            }
        }
    }

    pub(super) fn in_test(&mut self, cx: &mut Ctx, cidr: bool, lhs: &Expr, rhs: &Expr) -> Val {
        let l = self.expr(cx, lhs);
        let r = if cidr {
            match &rhs.kind {
                ExprKind::Str(s) => {
                    self.cidr(s, rhs.span);
                    Val::scalar(Ty::List(Box::new(Ty::Cidr)))
                }
                ExprKind::List(items) => {
                    let v = self.list(cx, items, Some(&Ty::Cidr), rhs.span);
                    if let Ty::List(_) = v.ty {
                        for it in items {
                            if let ExprKind::Str(s) = &it.kind {
                                self.cidr(s, it.span);
                            }
                        }
                    }
                    v
                }
                _ => self.expr(cx, rhs),
            }
        } else {
            self.expr(cx, rhs)
        };
        if cidr && !matches!(l.ty, Ty::Ip | Ty::Str | Ty::Dynamic | Ty::Error) {
            self.mismatch(lhs.span, "an ip address", &l.ty);
        }
        if !cidr && matches!(l.ty, Ty::List(_)) {
            // `in` compares the whole value: an array field is never in a list of strings.
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    lhs.span,
                    format!("`in` compares the whole value, and this is a {}", l.ty),
                )
                .label("an array")
                .help("did you mean `contains any [..]` (some element is one of them)?"),
            );
        }
        if !matches!(r.ty, Ty::List(_) | Ty::Dynamic | Ty::Error | Ty::Cidr) {
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    rhs.span,
                    format!("`in` needs a list, found {}", r.ty),
                )
                .label("not a list")
                .help("write `x in [\"a\", \"b\"]`, or `==` to compare with one value"),
            );
        }
        Val::scalar(Ty::Bool).with_shape(join_shape(&l.shape, &r.shape))
    }

    pub(super) fn str_test(
        &mut self,
        cx: &mut Ctx,
        op: StrOp,
        quant: Option<Quant>,
        lhs: &Expr,
        rhs: &Expr,
    ) -> Val {
        let l = self.expr(cx, lhs);
        let r = self.expr(cx, rhs);
        let array_membership = op == StrOp::Contains && matches!(l.ty, Ty::List(_));
        if !l.ty.is_stringish() && !array_membership && l.ty != Ty::Ip {
            self.mismatch(lhs.span, &format!("a string for `{}`", op.word()), &l.ty);
        }
        if (matches!(op, StrOp::Matches | StrOp::Glob) || quant.is_some())
            && r.shape == Shape::Event
        {
            self.err(
                Diagnostic::new(
                    Code::PatternNotConstant,
                    rhs.span,
                    format!(
                        "the pattern of `{}{}` must be a constant",
                        op.word(),
                        if quant.is_some() { " any/all" } else { "" }
                    ),
                )
                .label("read from the event"),
            );
            return Val::error();
        }
        let want_list = quant.is_some() || op == StrOp::Under;
        let elem_ok = |t: &Ty| match op {
            StrOp::Matches => matches!(t, Ty::Regex | Ty::Dynamic | Ty::Error),
            _ => matches!(t, Ty::Str | Ty::Dynamic | Ty::Error),
        };
        let ok = match &r.ty {
            Ty::List(t) if want_list => elem_ok(t),
            Ty::Error | Ty::Dynamic => true,
            t if !want_list || op == StrOp::Under => elem_ok(t),
            _ => false,
        };
        if !ok {
            let want = match (op, want_list) {
                (StrOp::Matches, false) => "a regex like /.../".to_string(),
                (StrOp::Matches, true) => "a list of regexes".to_string(),
                (_, true) => "a list of strings".to_string(),
                _ => "a string".to_string(),
            };
            let help = if quant.is_none() && matches!(r.ty, Ty::List(_)) {
                format!(
                    "to test against several values write `{} any [...]`",
                    op.word()
                )
            } else {
                format!("`{}` takes {want}", op.word())
            };
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    rhs.span,
                    format!("`{}` needs {want}, found {}", op.word(), r.ty),
                )
                .label(format!("this is a {}", r.ty))
                .help(help),
            );
        }
        Val::scalar(Ty::Bool).with_shape(join_shape(&l.shape, &r.shape))
    }
}

fn fold_cmp(op: BinOp, a: &Option<Konst>, b: &Option<Konst>) -> Option<bool> {
    use std::cmp::Ordering;
    let ord = match (a.as_ref()?, b.as_ref()?) {
        (Konst::Num(x), Konst::Num(y)) => x.partial_cmp(y)?,
        (Konst::Str(x), Konst::Str(y)) => x.cmp(y),
        (Konst::Bool(x), Konst::Bool(y)) => x.cmp(y),
        _ => return None,
    };
    Some(match op {
        BinOp::Eq => ord == Ordering::Equal,
        BinOp::Ne => ord != Ordering::Equal,
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Le => ord != Ordering::Greater,
        BinOp::Gt => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    })
}

/// `and`/`or` of constants (one false side decides `and`, one true side `or`).
fn fold_logic(op: BinOp, a: &Option<Konst>, b: &Option<Konst>) -> Option<Konst> {
    match (a, b) {
        (Some(Konst::Bool(a)), Some(Konst::Bool(b))) => Some(Konst::Bool(if op == BinOp::And {
            *a && *b
        } else {
            *a || *b
        })),
        (Some(Konst::Bool(false)), _) | (_, Some(Konst::Bool(false))) if op == BinOp::And => {
            Some(Konst::Bool(false))
        }
        (Some(Konst::Bool(true)), _) | (_, Some(Konst::Bool(true))) if op == BinOp::Or => {
            Some(Konst::Bool(true))
        }
        _ => None,
    }
}

/// A series of numbers (not an anomaly score, which reads as a condition, nor rule states).
fn is_value_series(v: &Val) -> bool {
    v.ty.is_numeric() && !v.score && !v.reads_rules && matches!(v.shape, Shape::Series(_))
}

//! Expressions: types, units, label sets and constant folding.

use super::Checker;
use super::functions::{self, FnKind};
use super::types::{Konst, Labels, Shape, Ty, Unit, Val};
use crate::diag::{Code, Diagnostic};
use crate::resolve::Namespace;
use crate::resolve::suggest::did_you_mean;
use crate::source::Span;
use crate::syntax::ast::*;
use std::collections::HashMap;

/// What an expression may see: the file, rule-local bindings, whether events are in scope.
#[derive(Default)]
pub struct Ctx {
    pub file: usize,
    /// Inside an event rule (or an event macro / exception): `event.x` is readable.
    pub event: bool,
    /// The event type the rule's filter pins (`event.type == "login"`), for schema checks.
    pub schema: Option<String>,
    pub lets: HashMap<String, (Val, Span)>,
    pub lets_used: std::collections::HashSet<String>,
    pub quant_vars: Vec<String>,
    /// Exception parameters: names bound to strings.
    pub params: HashMap<String, Ty>,
    /// The rule's evaluation interval, for window lints.
    pub interval: f64,
    /// Facts gathered while checking, read by rule-level checks.
    pub saw_selector: Option<Span>,
    pub saw_event_agg: Option<Span>,
    /// The grouping fields of the first event aggregate (all must agree), with its span.
    pub agg_keys: Option<(Vec<String>, Span)>,
    pub saw_rule_ref: Option<Span>,
    /// Event aggregate function names used (template aliases: `{{ count }}`).
    pub agg_names: Vec<String>,
}

impl Checker<'_> {
    pub(crate) fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(crate) fn expr(&mut self, cx: &mut Ctx, e: &Expr) -> Val {
        let v = self.expr_kind(cx, e);
        // Evaluation scales a percent literal by its partner's unit (`80%` is 0.8 against a
        // ratio, 80 against a percentage), so it needs the unit of every numeric expression.
        if let Ty::Num(u) = v.ty {
            self.units.insert(e.span, u);
        }
        v
    }

    fn expr_kind(&mut self, cx: &mut Ctx, e: &Expr) -> Val {
        let span = e.span;
        match &e.kind {
            ExprKind::Number(n) => Val::konst(Ty::Num(Unit::Number), Konst::Num(*n)),
            ExprKind::Percent(n) => Val::konst(Ty::Num(Unit::Percent), Konst::Num(*n)),
            ExprKind::Duration(n) => Val::konst(Ty::Num(Unit::Duration), Konst::Num(*n)),
            ExprKind::Bytes(n) => Val::konst(Ty::Num(Unit::Bytes), Konst::Num(*n)),
            ExprKind::Str(s) => Val::konst(Ty::Str, Konst::Str(s.clone())),
            ExprKind::Bool(b) => Val::konst(Ty::Bool, Konst::Bool(*b)),
            ExprKind::Regex(r) => {
                self.regex(r, span);
                Val::scalar(Ty::Regex)
            }
            ExprKind::List(items) => self.list(cx, items, None, span),
            ExprKind::Spread(name) => self.value_ref(cx, &name.name, &[], name.span),
            ExprKind::Ref { name, matchers } => self.value_ref(cx, name, matchers, span),
            ExprKind::Field(path) => self.field(cx, path, span),
            ExprKind::AlertField(_) => Val::scalar(Ty::Str),
            ExprKind::Index(inner, _) => {
                let v = self.expr(cx, inner);
                if !matches!(v.ty, Ty::List(_) | Ty::Dynamic | Ty::Error) {
                    self.err(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            inner.span,
                            format!("cannot index a {}", v.ty),
                        )
                        .label("not a list"),
                    );
                }
                Val::scalar(Ty::Dynamic).with_shape(v.shape)
            }
            ExprKind::Unary(UnOp::Neg, inner) => {
                let v = self.expr(cx, inner);
                if !v.ty.is_numeric() {
                    self.mismatch(inner.span, "a number", &v.ty);
                    return Val::error();
                }
                let konst = match v.konst {
                    Some(Konst::Num(n)) => Some(Konst::Num(-n)),
                    _ => None,
                };
                Val {
                    konst,
                    stored: false,
                    ..v
                }
            }
            ExprKind::Unary(UnOp::Not, inner) => {
                let v = self.expr(cx, inner);
                if !v.ty.is_boolish() && !v.score {
                    self.mismatch(inner.span, "a condition", &v.ty);
                    return Val::error();
                }
                let konst = match v.konst {
                    Some(Konst::Bool(b)) => Some(Konst::Bool(!b)),
                    _ => None,
                };
                Val {
                    ty: Ty::Bool,
                    konst,
                    score: false,
                    stored: false,
                    ..v
                }
            }
            ExprKind::Binary {
                op,
                lhs,
                rhs,
                matching,
            } => self.binary(cx, *op, lhs, rhs, matching.as_ref(), span),
            ExprKind::In { cidr, lhs, rhs, .. } => self.in_test(cx, *cidr, lhs, rhs),
            ExprKind::StrTest {
                op,
                quant,
                lhs,
                rhs,
                ..
            } => self.str_test(cx, *op, *quant, lhs, rhs),
            ExprKind::Is { lhs, what, p } => {
                let v = self.expr(cx, lhs);
                if !matches!(v.ty, Ty::Trend | Ty::Error) {
                    self.err(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            lhs.span,
                            format!("`is {}` needs a trend, found {}", what.name, v.ty),
                        )
                        .label("not a trend")
                        .help("write `trend(x, 30m) is increasing`"),
                    );
                }
                if !matches!(what.name.as_str(), "increasing" | "decreasing" | "changing") {
                    let help = did_you_mean(
                        &what.name,
                        ["increasing", "decreasing", "changing"],
                        "trends are increasing, decreasing or changing",
                    );
                    self.err(
                        Diagnostic::new(
                            Code::UnknownMethod,
                            what.span,
                            format!("unknown trend `{}`", what.name),
                        )
                        .label("not a trend test")
                        .help(help),
                    );
                }
                if let Some(p) = p
                    && !(*p > 0.0 && *p < 1.0)
                {
                    self.err(
                        Diagnostic::new(
                            Code::QuantileRange,
                            span,
                            format!("significance level {p} is not between 0 and 1"),
                        )
                        .label("p must be in (0, 1)"),
                    );
                }
                Val {
                    ty: Ty::Bool,
                    konst: None,
                    score: false,
                    stored: false,
                    ..v
                }
            }
            ExprKind::Call {
                func,
                args,
                group,
                over,
            } => self.call(cx, func, args, group.as_ref(), over.as_deref(), span),
            ExprKind::Exists(path) => {
                self.field(cx, path, span);
                Val::scalar(Ty::Bool).with_shape(Shape::Event)
            }
            ExprKind::Quantifier {
                var, over, pred, ..
            } => {
                let o = self.expr(cx, over);
                if !matches!(o.ty, Ty::List(_) | Ty::Dynamic | Ty::Error) {
                    self.mismatch(over.span, "a list or array field", &o.ty);
                }
                cx.quant_vars.push(var.name.clone());
                let p = self.expr(cx, pred);
                cx.quant_vars.pop();
                self.want_bool(&p, pred.span);
                Val::scalar(Ty::Bool).with_shape(o.shape)
            }
            ExprKind::Selection { pattern, .. } => {
                let pat = pattern.name.replace('*', ".*");
                let re = regex::Regex::new(&format!("^{pat}$")).ok();
                let hits: Vec<String> = cx
                    .lets
                    .keys()
                    .filter(|k| re.as_ref().is_some_and(|r| r.is_match(k)))
                    .cloned()
                    .collect();
                if hits.is_empty() {
                    let mut names: Vec<&str> = cx.lets.keys().map(String::as_str).collect();
                    names.sort_unstable();
                    let help = if names.is_empty() {
                        "this rule has no `let` bindings; declare `let selection_x = ...` first"
                            .to_string()
                    } else {
                        format!("the rule's `let` names are: {}", names.join(", "))
                    };
                    self.err(
                        Diagnostic::new(
                            Code::EmptySelection,
                            pattern.span,
                            format!("`{}` matches none of the rule's `let` names", pattern.name),
                        )
                        .label("empty expansion")
                        .help(help),
                    );
                    return Val::error();
                }
                let mut shape = Shape::Scalar;
                for h in hits {
                    cx.lets_used.insert(h.clone());
                    if let Some((v, _)) = cx.lets.get(&h) {
                        shape = join_shape(&shape, &v.shape);
                    }
                }
                Val::scalar(Ty::Bool).with_shape(shape)
            }
        }
    }

    pub(crate) fn mismatch(&mut self, span: Span, want: &str, found: &Ty) {
        if *found == Ty::Error {
            return;
        }
        self.err(
            Diagnostic::new(
                Code::TypeMismatch,
                span,
                format!("expected {want}, found {found}"),
            )
            .label(format!("this is a {found}")),
        );
    }

    /// Reports a non-boolean condition.
    pub(crate) fn want_bool(&mut self, v: &Val, span: Span) {
        if !v.ty.is_boolish() && !v.score {
            let help = match v.ty {
                Ty::Num(_) => "compare the value with a threshold: `when x > 10`",
                Ty::Trend => "test the trend: `trend(x, 30m) is increasing`",
                _ => "a condition must be true or false",
            };
            self.err(
                Diagnostic::new(
                    Code::NotBool,
                    span,
                    format!("this condition is a {}, not true or false", v.ty),
                )
                .label("not a condition")
                .help(help),
            );
        }
    }

    pub(crate) fn regex(&mut self, r: &str, span: Span) -> bool {
        match regex::Regex::new(r) {
            Ok(_) => true,
            Err(e) => {
                let msg = e.to_string();
                let last = msg
                    .lines()
                    .last()
                    .unwrap_or("invalid regex")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string();
                self.err(
                    Diagnostic::new(Code::BadRegex, span, format!("invalid regex: {last}"))
                        .label("does not compile"),
                );
                false
            }
        }
    }

    fn list(&mut self, cx: &mut Ctx, items: &[Expr], declared: Option<&Ty>, span: Span) -> Val {
        let mut elem: Option<Ty> = declared.cloned();
        for it in items {
            let v = self.expr(cx, it);
            let t = match (&it.kind, v.ty) {
                (ExprKind::Spread(_), Ty::List(t)) => *t,
                (ExprKind::Spread(_), Ty::Error) => continue,
                (ExprKind::Spread(_), other) => {
                    self.mismatch(it.span, "a list to spread", &other);
                    continue;
                }
                (_, t) => t,
            };
            match &elem {
                None => elem = Some(t),
                Some(e) if list_compatible(e, &t, it) => {}
                Some(e) => {
                    let e = e.clone();
                    self.err(
                        Diagnostic::new(
                            Code::ListElementType,
                            it.span,
                            format!("list element is a {t}, the list holds {e}"),
                        )
                        .label("wrong element type"),
                    );
                }
            }
            if (elem == Some(Ty::Cidr) || declared == Some(&Ty::Cidr))
                && let ExprKind::Str(s) = &it.kind
            {
                self.cidr(s, it.span);
            }
        }
        let _ = span;
        Val::scalar(Ty::List(Box::new(elem.unwrap_or(Ty::Dynamic))))
    }

    /// Validates an IP or CIDR literal.
    pub(crate) fn cidr(&mut self, s: &str, span: Span) -> bool {
        if parse_cidr(s) {
            return true;
        }
        self.err(
            Diagnostic::new(
                Code::BadCidr,
                span,
                format!("`{s}` is not a network or address"),
            )
            .label("invalid CIDR"),
        );
        false
    }

    /// A typed list declaration's items.
    pub(crate) fn typed_list(&mut self, cx: &mut Ctx, items: &Expr, ty: Option<&Ident>) -> Val {
        let declared = ty.and_then(|t| match t.name.as_str() {
            "string" => Some(Ty::Str),
            "number" => Some(Ty::Num(Unit::Number)),
            "cidr" => Some(Ty::Cidr),
            "ip" => Some(Ty::Ip),
            "regex" => Some(Ty::Regex),
            "duration" => Some(Ty::Num(Unit::Duration)),
            "bool" => Some(Ty::Bool),
            _ => None,
        });
        if let Some(t) = ty
            && declared.is_none()
        {
            self.err(
                Diagnostic::new(
                    Code::UnknownSchemaType,
                    t.span,
                    format!("unknown list type `{}`", t.name),
                )
                .label("not a type")
                .help("list types are string, number, cidr, ip, regex, duration and bool"),
            );
        }
        match &items.kind {
            ExprKind::List(v) => self.list(cx, v, declared.as_ref(), items.span),
            _ => self.expr(cx, items),
        }
    }

    fn value_ref(&mut self, cx: &mut Ctx, name: &str, matchers: &[Matcher], span: Span) -> Val {
        if matchers.is_empty() {
            if let Some((head, _)) = name.split_once('.')
                && cx.quant_vars.iter().any(|v| v == head)
            {
                return Val::scalar(Ty::Dynamic).with_shape(Shape::Event);
            }
            if cx.quant_vars.iter().any(|v| v == name) {
                return Val::scalar(Ty::Dynamic).with_shape(Shape::Event);
            }
            if let Some(t) = cx.params.get(name) {
                return Val::scalar(t.clone());
            }
            if let Some((v, _)) = cx.lets.get(name) {
                cx.lets_used.insert(name.to_string());
                return v.clone();
            }
            if let Some(key) = self.resolve(cx.file, Namespace::Value, name) {
                self.used.insert(key.clone());
                return self.value_decl(key, span);
            }
            if let Some(key) = self.resolve(cx.file, Namespace::Rule, name) {
                self.used.insert(key.clone());
                cx.saw_rule_ref.get_or_insert(span);
                let labels = self.rule_labels(&key);
                return Val {
                    reads_rules: true,
                    ..Val::scalar(Ty::Bool).with_shape(Shape::Series(labels))
                };
            }
            let declared_metric = self.resolve(cx.file, Namespace::Metric, name).is_some();
            // Rule names are offered only where a metric cannot stand (event filters).
            let namespaces: &[Namespace] = if cx.event {
                &[Namespace::Value, Namespace::Rule]
            } else {
                &[Namespace::Value]
            };
            let mut cands = self.candidates(cx.file, namespaces);
            cands.extend(cx.lets.keys().cloned());
            let near = crate::resolve::suggest::closest(name, cands.iter().map(String::as_str))
                .map(str::to_string);
            if !declared_metric && (near.is_some() || name.contains('.')) {
                // The suggested name is what the user meant: do not also call it unused.
                if let Some(n) = &near
                    && let Some(key) = self.resolve(cx.file, Namespace::Value, n)
                {
                    self.used.insert(key);
                }
                let help = match &near {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "declare it, or import the package that does".to_string(),
                };
                self.err(
                    Diagnostic::new(Code::UnknownName, span, format!("unknown name `{name}`"))
                        .label("not found")
                        .help(help),
                );
                return Val::error();
            }
        }
        self.selector(cx, name, matchers, span)
    }

    /// A metric selector: one value per matching series.
    fn selector(&mut self, cx: &mut Ctx, name: &str, matchers: &[Matcher], span: Span) -> Val {
        cx.saw_selector.get_or_insert(span);
        let mut unit = Unit::from_metric_name(name);
        let mut labels = Labels::open([]);
        if let Some(key) = self.resolve(cx.file, Namespace::Metric, name) {
            self.used.insert(key.clone());
            let sym = self.syms.map[&key];
            if let DeclKind::Metric {
                unit: u,
                unit_arg,
                labels: l,
                ..
            } = &self.files[sym.file].module.decls[sym.decl].kind
            {
                unit = unit_from_decl(u, unit_arg.as_ref());
                if let Some(l) = l {
                    labels = Labels::closed(l.iter().map(|i| i.name.clone()));
                }
            }
        }
        for m in matchers {
            if matches!(m.op, MatchOp::Re | MatchOp::NotRe)
                && self.regex(&m.value.value, m.value.span)
            {
                crate::lint::exprs::regex_matcher(self, m);
            }
            if labels.open {
                labels.known.insert(m.label.name.clone());
            }
        }
        Val {
            stored: true,
            ..Val::scalar(Ty::Num(unit.unwrap_or(Unit::Unknown))).with_shape(Shape::Series(labels))
        }
    }

    /// The value of a const, list, macro or record.
    fn value_decl(&mut self, key: crate::resolve::SymKey, span: Span) -> Val {
        let sym = self.syms.map[&key];
        let decl = &self.files[sym.file].module.decls[sym.decl];
        match &decl.kind {
            DeclKind::Macro { body, .. } => {
                if let Some(v) = self.macros.get(&key) {
                    return v.clone();
                }
                if let Some(pos) = self.macro_stack.iter().position(|k| *k == key) {
                    let chain: Vec<&str> = self.macro_stack[pos..]
                        .iter()
                        .map(|k| k.2.as_str())
                        .collect();
                    self.err(
                        Diagnostic::new(
                            Code::MacroCycle,
                            span,
                            format!("macro `{}` uses itself", key.2),
                        )
                        .label("cycle closes here")
                        .help(format!(
                            "the cycle is {} -> {}",
                            chain.join(" -> "),
                            key.2
                        )),
                    );
                    return Val::error();
                }
                self.macro_stack.push(key.clone());
                let mut cx = Ctx {
                    file: sym.file,
                    event: true,
                    interval: super::DEFAULT_INTERVAL_SECS,
                    ..Ctx::default()
                };
                let v = self.expr(&mut cx, body);
                self.macro_stack.pop();
                self.macros.insert(key, v.clone());
                v
            }
            DeclKind::Const { value, .. } => {
                let mut cx = Ctx {
                    file: sym.file,
                    ..Ctx::default()
                };
                let mut v = self.expr(&mut cx, value);
                v.shape = Shape::Scalar;
                v
            }
            DeclKind::List { items, elem, .. } => {
                let mut cx = Ctx {
                    file: sym.file,
                    ..Ctx::default()
                };
                // Element types were reported where the list is declared.
                let mark = self.diags.len();
                let v = self.typed_list(&mut cx, items, elem.as_ref());
                self.diags.truncate(mark);
                v
            }
            DeclKind::Record { expr, .. } => {
                let mut cx = Ctx {
                    file: sym.file,
                    ..Ctx::default()
                };
                let mark = self.diags.len();
                let v = self.expr(&mut cx, expr);
                self.diags.truncate(mark);
                // Recorded: stored as a series of its own, readable by window functions.
                Val { stored: true, ..v }
            }
            _ => Val::error(),
        }
    }

    fn field(&mut self, cx: &mut Ctx, path: &[Ident], span: Span) -> Val {
        if !cx.event {
            self.err(
                Diagnostic::new(
                    Code::EventOutsideEventRule,
                    span,
                    "event fields are only readable in event rules",
                )
                .label("no event here"),
            );
            return Val::error();
        }
        let ty = match (&cx.schema, path.first()) {
            (Some(schema), Some(first)) => self.schema_field(cx.file, schema, path, first),
            _ => Ty::Dynamic,
        };
        Val::scalar(ty).with_shape(Shape::Event)
    }

    fn schema_field(&mut self, fi: usize, schema: &str, path: &[Ident], first: &Ident) -> Ty {
        let Some(key) = self.resolve(fi, Namespace::Schema, schema) else {
            return Ty::Dynamic;
        };
        self.used.insert(key.clone());
        let sym = self.syms.map[&key];
        let DeclKind::Schema { fields, .. } = &self.files[sym.file].module.decls[sym.decl].kind
        else {
            return Ty::Dynamic;
        };
        if matches!(first.name.as_str(), "type" | "ts" | "timestamp") {
            return Ty::Str;
        }
        let mut fields = fields.as_slice();
        let mut ty = Ty::Dynamic;
        for (i, seg) in path.iter().enumerate() {
            let Some(f) = fields.iter().find(|f| f.name.name == seg.name) else {
                let names: Vec<&str> = fields.iter().map(|f| f.name.name.as_str()).collect();
                let help = did_you_mean(
                    &seg.name,
                    names.iter().copied(),
                    &format!("the `{schema}` schema has: {}", names.join(", ")),
                );
                self.err(
                    Diagnostic::new(
                        Code::UnknownField,
                        seg.span,
                        format!("`{}` is not a field of `{schema}` events", seg.name),
                    )
                    .label("unknown field")
                    .help(help),
                );
                return Ty::Error;
            };
            match &f.ty {
                FieldType::Object(inner) => {
                    fields = inner;
                    ty = Ty::Object;
                }
                FieldType::Array(_) => return Ty::List(Box::new(Ty::Dynamic)),
                FieldType::Named(n) => {
                    if i + 1 < path.len() {
                        return Ty::Dynamic;
                    }
                    ty = named_type(&n.name).unwrap_or(Ty::Dynamic);
                }
            }
        }
        ty
    }

    fn binary(
        &mut self,
        cx: &mut Ctx,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        matching: Option<&Matching>,
        span: Span,
    ) -> Val {
        let l = self.expr(cx, lhs);
        let r = self.expr(cx, rhs);
        if l.ty == Ty::Error || r.ty == Ty::Error {
            return Val::error();
        }
        let shape = self.join_labels(&l, &r, matching, lhs.span, rhs.span);
        match op {
            BinOp::And | BinOp::Or => {
                self.want_bool(&l, lhs.span);
                self.want_bool(&r, rhs.span);
                let konst = match (&l.konst, &r.konst) {
                    (Some(Konst::Bool(a)), Some(Konst::Bool(b))) => {
                        Some(Konst::Bool(if op == BinOp::And {
                            *a && *b
                        } else {
                            *a || *b
                        }))
                    }
                    (Some(Konst::Bool(false)), _) | (_, Some(Konst::Bool(false)))
                        if op == BinOp::And =>
                    {
                        Some(Konst::Bool(false))
                    }
                    (Some(Konst::Bool(true)), _) | (_, Some(Konst::Bool(true)))
                        if op == BinOp::Or =>
                    {
                        Some(Konst::Bool(true))
                    }
                    _ => None,
                };
                Val {
                    ty: Ty::Bool,
                    shape,
                    konst,
                    score: false,
                    reads_rules: l.reads_rules || r.reads_rules,
                    stored: false,
                }
            }
            _ if op.is_comparison() => {
                self.comparable(op, &l, &r, lhs, rhs, span);
                crate::lint::exprs::comparison(self, op, &l, &r, lhs, rhs);
                let konst = fold_cmp(op, &l.konst, &r.konst).map(Konst::Bool);
                Val {
                    ty: Ty::Bool,
                    shape,
                    konst,
                    score: false,
                    reads_rules: l.reads_rules || r.reads_rules,
                    stored: false,
                }
            }
            _ => {
                let both_numeric = (l.ty.is_numeric() || l.score) && (r.ty.is_numeric() || r.score);
                let reads_rules = l.reads_rules || r.reads_rules;
                if !both_numeric {
                    // Rule states count as 0/1 inside score(); anything else needs numbers.
                    if !(reads_rules
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
                        return Val::error();
                    }
                }
                let (lu, ru) = (l.ty.unit(), r.ty.unit());
                let unit = match op {
                    BinOp::Add | BinOp::Sub => {
                        if !lu.compatible(ru) {
                            self.unit_error(span, op, lu, ru, lhs.span, rhs.span);
                            return Val::error();
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
                };
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
        }
    }

    fn unit_error(&mut self, _span: Span, op: BinOp, lu: Unit, ru: Unit, ls: Span, rs: Span) {
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

    fn comparable(&mut self, op: BinOp, l: &Val, r: &Val, lhs: &Expr, rhs: &Expr, span: Span) {
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
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    span,
                    format!("cannot compare a {} with a {}", l.ty, r.ty),
                )
                .label("incompatible types")
                .with(lhs.span, format!("this is a {}", l.ty))
                .with(rhs.span, format!("this is a {}", r.ty)),
            );
        }
    }

    /// The labels of a binary operation's result, checking `on`/`ignoring` lists.
    fn join_labels(
        &mut self,
        l: &Val,
        r: &Val,
        matching: Option<&Matching>,
        ls: Span,
        rs: Span,
    ) -> Shape {
        let (Some(a), Some(b)) = (l.labels(), r.labels()) else {
            return join_shape(&l.shape, &r.shape);
        };
        if let Some(m) = matching {
            for label in &m.labels {
                for (side, labels, sspan) in [("left", a, ls), ("right", b, rs)] {
                    if !m.ignoring && !labels.may_have(&label.name) {
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
                }
            }
            if m.ignoring {
                let drop: Vec<&str> = m.labels.iter().map(|i| i.name.as_str()).collect();
                let mut u = a.union(b);
                u.known.retain(|k| !drop.contains(&k.as_str()));
                return Shape::Series(u);
            }
            // Many-to-one: the side with more labels keeps them.
            return Shape::Series(if a.known.len() >= b.known.len() {
                a.clone()
            } else {
                b.clone()
            });
        }
        Shape::Series(a.union(b))
    }

    fn in_test(&mut self, cx: &mut Ctx, cidr: bool, lhs: &Expr, rhs: &Expr) -> Val {
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

    fn str_test(
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

    fn call(
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
            for a in args {
                self.expr(cx, &a.value);
            }
            return Val::error();
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
            let single_series_agg =
                functions::SERIES_AGGREGATES.contains(&name) && positional.len() == 1;
            if single_series_agg {
                self.err(
                    Diagnostic::new(Code::AggregateNoGrouping, span, format!("`{name}` across series needs `by` or `without`"))
                        .label("how should series be grouped?")
                        .help(format!("write `{name}(...) by [labels]`, `{name}(...) without [labels]`, or `{name}(...) by []` for one total; for a window write `{name}(x, 5m)`")),
                );
            } else {
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
            for a in args {
                self.expr(cx, &a.value);
            }
            return Val::error();
        }
        if is_window_min_max || b.kind == FnKind::Scalar {
            return self.scalar_call(cx, name, &positional, span);
        }
        self.window_call(cx, func, &positional, &named, span)
    }

    fn window_call(
        &mut self,
        cx: &mut Ctx,
        func: &Ident,
        pos: &[&Expr],
        named: &[(&Ident, &Expr)],
        span: Span,
    ) -> Val {
        let name = func.name.as_str();
        let _ = span;
        // Leading quantile / fraction argument.
        let mut pos = pos.to_vec();
        let mut q = None;
        if matches!(name, "quantile" | "histogram_quantile") && !pos.is_empty() {
            q = Some(pos.remove(0));
        }
        for (k, v) in named {
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
                "method" if name == "trend" => {
                    let m = match &v.kind {
                        ExprKind::Ref { name, .. } => name.as_str(),
                        _ => "",
                    };
                    if !matches!(m, "regression" | "mann_kendall") {
                        self.err(
                            Diagnostic::new(
                                Code::UnknownMethod,
                                v.span,
                                format!("unknown trend method `{m}`"),
                            )
                            .label("not a trend test")
                            .help(did_you_mean(
                                m,
                                ["regression", "mann_kendall"],
                                "trend tests are regression (the default) and mann_kendall",
                            )),
                        );
                    }
                }
                "method" => {
                    let m = match &v.kind {
                        ExprKind::Ref { name, .. } => name.as_str(),
                        _ => "",
                    };
                    if !matches!(m, "zscore" | "robust" | "ewma" | "holt_winters") {
                        self.err(
                            Diagnostic::new(
                                Code::UnknownMethod,
                                v.span,
                                format!("unknown anomaly method `{m}`"),
                            )
                            .label("not a method")
                            .help(did_you_mean(
                                m,
                                ["zscore", "robust", "ewma", "holt_winters"],
                                "methods are zscore, robust, ewma and holt_winters",
                            )),
                        );
                    }
                }
                "season" => match &v.kind {
                    ExprKind::Ref { name, .. } => {
                        match self.resolve(cx.file, Namespace::Calendar, name) {
                            Some(key) => {
                                self.used.insert(key);
                            }
                            None => {
                                let cands = self.candidates(cx.file, &[Namespace::Calendar]);
                                self.err(
                                Diagnostic::new(Code::UnknownCalendar, v.span, format!("unknown calendar `{name}`"))
                                    .label("not a calendar")
                                    .help(did_you_mean(name, cands.iter().map(String::as_str), "declare it with `calendar NAME = sessions(...)`, or give a duration like 1d")),
                            );
                            }
                        }
                    }
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
        if let Some(q) = q {
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
        let series = self.expr(cx, series_e);
        if series.ty == Ty::Error {
            return Val::error();
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
            return Val::error();
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
            return Val::error();
        }
        // Second positional: a window, except ewma (alpha) and holt_winters (period).
        if let Some(w) = pos.get(1) {
            if name == "ewma" {
                let a = self.expr(cx, w);
                if !matches!(a.ty, Ty::Num(Unit::Number)) {
                    self.mismatch(w.span, "a smoothing factor between 0 and 1", &a.ty);
                }
            } else {
                self.duration_arg(cx, w, Code::WindowNotDuration);
                if let (ExprKind::Duration(secs), true) = (
                    &w.kind,
                    matches!(name, "rate" | "increase" | "irate" | "deriv" | "slope"),
                ) {
                    crate::lint::exprs::short_window(self, name, *secs, cx.interval, w.span);
                }
            }
        }
        if matches!(name, "rate" | "increase" | "irate") {
            crate::lint::exprs::rate_on_gauge(self, name, series_e);
        }
        let unit = series.ty.unit();
        let ty = match name {
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
        };
        Val {
            ty,
            shape: series.shape,
            konst: None,
            score: name == "anomaly",
            reads_rules: false,
            stored: false,
        }
    }

    fn duration_arg(&mut self, cx: &mut Ctx, e: &Expr, code: Code) {
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

    fn series_aggregate(
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
                    .help("aggregates are sum, avg, min, max, count, stddev, quantile and count_distinct; `by` after histogram_quantile groups its buckets"),
            );
            return Val::error();
        }
        let mut pos = pos.to_vec();
        if name == "quantile" && pos.len() == 2 {
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
        let v = self.expr(cx, pos[0]);
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
        let v = if name == "count" || name == "count_distinct" {
            Val {
                ty: Ty::Num(Unit::Number),
                ..v
            }
        } else {
            v
        };
        self.grouped(v, group)
    }

    /// Applies `by [..]` / `without [..]` to a series value.
    pub(crate) fn grouped(&mut self, v: Val, group: &Grouping) -> Val {
        let labels = v.labels().cloned().unwrap_or_default();
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

    fn event_aggregate(
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
        if !cx.event {
            self.err(
                Diagnostic::new(
                    Code::EventAggOutsideEventRule,
                    span,
                    format!("`{name}(...) over` aggregates events, but this rule reads no events"),
                )
                .label("event aggregate"),
            );
            return Val::error();
        }
        if !functions::EVENT_AGGREGATES.contains(&name) {
            self.err(
                Diagnostic::new(
                    Code::ArgType,
                    func.span,
                    format!("`{name}` cannot aggregate events"),
                )
                .label("not an event aggregate")
                .help("event aggregates are count, sum, avg, min, max, distinct and share"),
            );
            return Val::error();
        }
        let want = usize::from(name != "count");
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
        if !cx.agg_names.iter().any(|n| n == name) {
            cx.agg_names.push(name.to_string());
        }
        let ty = if name == "share" {
            Ty::Num(Unit::Ratio)
        } else {
            Ty::Num(unit)
        };
        Val::scalar(ty).with_shape(Shape::Series(labels))
    }

    fn scalar_call(&mut self, cx: &mut Ctx, name: &str, pos: &[&Expr], span: Span) -> Val {
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
            "score" => {
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
            "at_least" => {
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
}

impl Val {
    /// A list literal whose elements were all rule references.
    fn reads_rules_list(&self) -> bool {
        self.reads_rules || matches!(self.ty, Ty::List(_))
    }
}

pub(crate) fn is_duration_literal(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Duration(_))
}

fn arity_words(min: usize, max: usize) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min} to {max}")
    }
}

fn describe(v: &Val) -> String {
    match &v.shape {
        Shape::Series(_) => format!("a series of {}", v.ty),
        Shape::Event => format!("an event field ({})", v.ty),
        Shape::Scalar => format!("a constant {}", v.ty),
    }
}

pub(crate) fn join_shape(a: &Shape, b: &Shape) -> Shape {
    match (a, b) {
        (Shape::Series(x), Shape::Series(y)) => Shape::Series(x.union(y)),
        (Shape::Series(x), _) | (_, Shape::Series(x)) => Shape::Series(x.clone()),
        (Shape::Event, _) | (_, Shape::Event) => Shape::Event,
        _ => Shape::Scalar,
    }
}

fn list_compatible(a: &Ty, b: &Ty, item: &Expr) -> bool {
    match (a, b) {
        (x, y) if x == y => true,
        (Ty::Dynamic | Ty::Error, _) | (_, Ty::Dynamic | Ty::Error) => true,
        (Ty::Cidr | Ty::Ip, Ty::Str) => matches!(item.kind, ExprKind::Str(_)),
        (Ty::Num(x), Ty::Num(y)) => x.compatible(*y),
        _ => false,
    }
}

/// Whether `s` is an IPv4/IPv6 address or network with a valid prefix length.
pub(crate) fn parse_cidr(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|n| n <= max))
}

pub(crate) fn unit_from_decl(u: &Ident, arg: Option<&Ident>) -> Option<Unit> {
    let _ = arg;
    Some(match u.name.as_str() {
        "percent" => Unit::Percent,
        "ratio" => Unit::Ratio,
        "duration" => Unit::Duration,
        "bytes" => Unit::Bytes,
        "number" | "counter" => Unit::Number,
        _ => return None,
    })
}

pub(crate) fn named_type(n: &str) -> Option<Ty> {
    Some(match n {
        "string" => Ty::Str,
        "number" | "int" | "float" => Ty::Num(Unit::Number),
        "bool" => Ty::Bool,
        "ip" => Ty::Ip,
        "duration" => Ty::Num(Unit::Duration),
        "bytes" => Ty::Num(Unit::Bytes),
        "timestamp" => Ty::Num(Unit::Duration),
        _ => return None,
    })
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

/// Help for a value that should have been a duration: a bare number gets its unit suggested.
pub(crate) fn duration_help(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number(n) => format!("write the unit: `{n}m` for minutes, `{n}s` for seconds"),
        _ => "durations look like 30s, 5m, 1h, 7d".to_string(),
    }
}

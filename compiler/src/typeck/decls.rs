//! Declarations other than rules: consts, lists, schemas, calendars, exceptions, overrides,
//! notifiers, routes, inhibits, playbooks and tests.

use super::Checker;
use super::expr::Ctx;
use super::types::Ty;
use crate::diag::{Code, Diagnostic};
use crate::resolve::suggest::did_you_mean;
use crate::resolve::{Namespace, SymKey};
use crate::syntax::ast::*;

/// Notifier kinds: the settings each needs, and the ones it may have besides the settings
/// every kind takes (`timeout`, `retries`, `send_resolved`).
const NOTIFIER_KINDS: &[(&str, &[&str], &[&str])] = &[
    ("console", &[], &["format"]),
    ("file", &["path"], &[]),
    ("webhook", &["url"], &["headers", "method", "max_alerts"]),
    ("slack", &["webhook"], &["channel", "username"]),
    ("pagerduty", &["routing_key"], &["severity", "url"]),
    ("email", &["to", "smtp"], &["from", "subject", "starttls"]),
    ("telegram", &["bot_token", "chat_id"], &["api_url"]),
    ("teams", &["webhook"], &[]),
    ("alertmanager", &["url"], &[]),
];

/// Settings every notifier kind takes.
const NOTIFIER_COMMON: &[&str] = &["timeout", "retries", "send_resolved"];

impl Checker<'_> {
    pub(crate) fn decl(&mut self, fi: usize, di: usize) {
        let files = self.files;
        let decl = &files[fi].module.decls[di];
        let mut cx = Ctx {
            file: fi,
            interval: super::DEFAULT_INTERVAL_SECS,
            ..Ctx::default()
        };
        match &decl.kind {
            DeclKind::Package(_)
            | DeclKind::Import { .. }
            | DeclKind::StringsNocase
            | DeclKind::Schema { .. } => {
                if let DeclKind::Schema { fields, .. } = &decl.kind {
                    self.schema_fields(fields);
                }
            }
            DeclKind::Interval(e) => self.interval_duration(&mut cx, e),
            DeclKind::Defaults(clauses) => {
                let mut seen: Vec<(std::mem::Discriminant<ClauseKind>, crate::source::Span)> =
                    Vec::new();
                for c in clauses {
                    let d = std::mem::discriminant(&c.kind);
                    if let Some((_, prev)) = seen.iter().find(|(k, _)| *k == d) {
                        let prev = *prev;
                        self.err(
                            Diagnostic::new(
                                Code::DuplicateClause,
                                c.span,
                                "given twice in `defaults`",
                            )
                            .label("second one")
                            .with(prev, "first one"),
                        );
                    }
                    seen.push((d, c.span));
                    match &c.kind {
                        ClauseKind::KeepFiring(e)
                        | ClauseKind::Cooldown(e)
                        | ClauseKind::Delay(e) => self.clause_duration(&mut cx, e),
                        ClauseKind::NoData { after, .. } => self.clause_duration(&mut cx, after),
                        _ => {}
                    }
                }
            }
            DeclKind::Const { name, value } => {
                self.inside(fi, name, |ck| ck.const_decl(&mut cx, value))
            }
            DeclKind::Metric { unit, unit_arg, .. } => self.metric_decl(unit, unit_arg.as_ref()),
            DeclKind::List {
                name, items, elem, ..
            } => self.inside(fi, name, |ck| {
                ck.typed_list(&mut cx, items, elem.as_ref());
            }),
            DeclKind::Macro { name, .. } => self.macro_decl(&mut cx, fi, name),
            DeclKind::Calendar {
                tz,
                sessions,
                holidays,
                holidays_text,
                ..
            } => self.calendar_decl(tz, sessions, holidays.as_ref(), holidays_text.as_deref()),
            DeclKind::Record { name, expr, labels } => self.inside(fi, name, |ck| {
                let v = ck.expr(&mut cx, expr);
                let v = ck.as_value(v, expr);
                if v.ty != Ty::Error && (!v.ty.is_numeric() || v.labels().is_none()) {
                    ck.mismatch(expr.span, "a series", &v.ty);
                }
                for (_, value) in labels {
                    if !matches!(value.kind, ExprKind::Str(_)) {
                        let t = ck.expr(&mut cx, value);
                        ck.mismatch(value.span, "a string", &t.ty);
                    }
                }
            }),
            DeclKind::Exception {
                params,
                body,
                values,
                ..
            } => self.exception_decl(&mut cx, params, body, values),
            DeclKind::ExtendList { target, items } => {
                if let Some(key) = self.open_target(fi, Namespace::Value, target, "list") {
                    self.used.insert(key);
                }
                self.expr(&mut cx, items);
            }
            DeclKind::ExtendException { target, values } => {
                self.extend_exception(fi, target, values)
            }
            DeclKind::Override {
                kind,
                target,
                value,
            } => {
                let ns = target_namespace(*kind);
                if let Some(key) = self.open_target(fi, ns, target, kind.word()) {
                    self.used.insert(key);
                }
                cx.event = true;
                self.expr(&mut cx, value);
            }
            DeclKind::Disable { kind, target } => {
                let ns = target_namespace(*kind);
                if let Some(key) = self.open_target(fi, ns, target, kind.word()) {
                    self.used.insert(key);
                }
            }
            DeclKind::Rule(r) => self.rule_decl(fi, di, r),
            DeclKind::Notifier { kind, args, .. } => self.notifier(&mut cx, kind, args),
            DeclKind::Route(body) => self.route(fi, body),
            DeclKind::Inhibit { .. } => {}
            DeclKind::Playbook { items, .. } => self.playbook_decl(&mut cx, fi, items),
            DeclKind::Test(t) => self.test(fi, t),
        }
    }

    /// `const x = v`: a constant value.
    fn const_decl(&mut self, cx: &mut Ctx, value: &Expr) {
        let v = self.expr(cx, value);
        if v.ty != Ty::Error && v.konst.is_none() && !matches!(v.ty, Ty::Regex | Ty::List(_)) {
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    value.span,
                    "a const must be a constant value",
                )
                .label("depends on data")
                .help("use `let` inside a rule, or `record` for a derived series"),
            );
        }
    }

    /// `metric x: unit`: a known unit (and a duration's scale).
    /// Checks a const, list or record's body as the value being declared, so a body that
    /// names its own declaration is a cycle (V0107) found here, where it is reported.
    fn inside(&mut self, fi: usize, name: &Ident, check: impl FnOnce(&mut Self)) {
        let key = (
            self.files[fi].package.clone(),
            Namespace::Value,
            name.name.clone(),
        );
        self.macro_stack.push(key);
        check(self);
        self.macro_stack.pop();
    }

    fn metric_decl(&mut self, unit: &Ident, unit_arg: Option<&Ident>) {
        let ok = super::expr::unit_from_decl(unit, unit_arg).is_some()
            && unit_arg
                .is_none_or(|a| matches!(a.name.as_str(), "ms" | "s" | "us" | "ns" | "m" | "h"));
        if !ok {
            let bad = unit_arg.filter(|_| unit.name == "duration").unwrap_or(unit);
            self.err(
                Diagnostic::new(
                    Code::UnknownUnit,
                    bad.span,
                    format!("unknown unit `{}`", bad.name),
                )
                .label("not a unit")
                .help(did_you_mean(
                    &bad.name,
                    ["number", "percent", "ratio", "duration", "bytes", "counter"],
                    Code::UnknownUnit.info().help,
                )),
            );
        }
    }

    /// `macro m = ...`: checked through the memoised path, so cycles are found once.
    fn macro_decl(&mut self, cx: &mut Ctx, fi: usize, name: &Ident) {
        let key = (
            self.files[fi].package.clone(),
            Namespace::Value,
            name.name.clone(),
        );
        cx.event = true;
        // Checked through the memoised path so cycles are found once.
        let e = Expr {
            kind: ExprKind::Ref {
                name: name.name.clone(),
                matchers: vec![],
            },
            span: name.span,
        };
        let used_before = self.used.contains(&key);
        self.expr(cx, &e);
        if !used_before {
            self.used.remove(&key);
        }
    }

    /// `calendar c = sessions(tz, days hh:mm-hh:mm, ...)`.
    fn calendar_decl(
        &mut self,
        tz: &StrLit,
        sessions: &[Session],
        holidays: Option<&StrLit>,
        holidays_text: Option<&str>,
    ) {
        if let Err(why) =
            vigil_vocab::calendar::Calendar::new(&tz.value, Vec::new(), Default::default())
        {
            self.err(
                Diagnostic::new(
                    Code::BadCalendar,
                    tz.span,
                    format!("`{}` is not a time zone", tz.value),
                )
                .label("expected an IANA name like \"America/New_York\"")
                .help(why),
            );
        }
        if let (Some(lit), Some(text)) = (holidays, holidays_text)
            && let Err(why) = vigil_vocab::calendar::holidays(text)
        {
            self.err(
                Diagnostic::new(
                    Code::BadCalendar,
                    lit.span,
                    format!("holidays file `{}`: {why}", lit.value),
                )
                .label("read from here"),
            );
        }
        for s in sessions {
            for c in [&s.open, &s.close] {
                let (h, m) = c.name.split_once(':').unwrap_or(("99", "99"));
                if h.parse::<u32>().map_or(true, |h| h > 24)
                    || m.parse::<u32>().map_or(true, |m| m > 59)
                {
                    self.err(
                        Diagnostic::new(
                            Code::BadCalendar,
                            c.span,
                            format!("`{}` is not a time of day", c.name),
                        )
                        .label("invalid time"),
                    );
                }
            }
            if s.open.name >= s.close.name {
                self.err(
                    Diagnostic::new(
                        Code::BadCalendar,
                        s.span,
                        "a session must close after it opens",
                    )
                    .label("empty session"),
                );
            }
        }
    }

    /// `exception e(p: type, ...) = body values [...]`.
    fn exception_decl(
        &mut self,
        cx: &mut Ctx,
        params: &[(Ident, Ident)],
        body: &Expr,
        values: &[Tuple],
    ) {
        cx.event = true;
        for (p, t) in params {
            let ty = super::expr::named_type(&t.name).unwrap_or_else(|| {
                self.err(
                    Diagnostic::new(
                        Code::UnknownSchemaType,
                        t.span,
                        format!("unknown type `{}`", t.name),
                    )
                    .label("not a type"),
                );
                Ty::Error
            });
            cx.params.insert(p.name.clone(), ty);
        }
        let v = self.expr(cx, body);
        self.want_bool(&v, body.span);
        self.exception_rows(params.len(), values);
    }

    /// `playbook p { steps }`.
    fn playbook_decl(&mut self, cx: &mut Ctx, fi: usize, items: &[PlaybookItem]) {
        for it in items {
            self.playbook_item(cx, fi, it);
        }
    }

    fn playbook_item(&mut self, cx: &mut Ctx, fi: usize, it: &PlaybookItem) {
        {
            match it {
                PlaybookItem::Notify { notifier, .. } => {
                    self.reference(fi, Namespace::Notifier, notifier, Code::UnknownNotifier)
                }
                PlaybookItem::Http {
                    url, timeout, body, ..
                } => {
                    let texts = std::iter::once(url.value.as_str()).chain(body.iter().filter_map(
                        |(_, v)| match &v.kind {
                            ExprKind::Str(s) => Some(s.as_str()),
                            _ => None,
                        },
                    ));
                    for t in texts {
                        for name in vigil_vocab::playbook::placeholders(t) {
                            if let Some(key) = self.resolve(fi, Namespace::Value, name) {
                                self.used.insert(key);
                            }
                        }
                    }
                    // A URL may start with a constant (`"{{ soar_url }}/isolate"`).
                    let v = &url.value;
                    if !(v.starts_with("http://")
                        || v.starts_with("https://")
                        || v.starts_with("{{"))
                    {
                        self.err(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                url.span,
                                "an HTTP step needs an http:// or https:// URL",
                            )
                            .label("not a URL"),
                        );
                    }
                    if let Some(t) = timeout {
                        self.clause_duration(cx, t);
                    }
                }
                PlaybookItem::Wait { duration, .. }
                | PlaybookItem::RateLimit { per: duration, .. } => {
                    self.clause_duration(cx, duration)
                }
                PlaybookItem::Shell { timeout, .. } => {
                    if let Some(t) = timeout {
                        self.clause_duration(cx, t);
                    }
                }
                PlaybookItem::Conditional { cond, step, .. } => {
                    self.label_regexes(cond);
                    self.playbook_item(cx, fi, step);
                }
                PlaybookItem::Approve { .. } => {}
            }
        }
    }

    /// `extend exception pkg.e += [(..)]`: an open exception, rows of its arity.
    fn extend_exception(&mut self, fi: usize, target: &Ident, values: &[Tuple]) {
        if let Some(key) = self.open_target(fi, Namespace::Exception, target, "exception") {
            let sym = self.syms.map[&key];
            if let DeclKind::Exception { params, .. } =
                &self.files[sym.file].module.decls[sym.decl].kind
            {
                self.exception_rows(params.len(), values);
            }
            self.used.insert(key);
        }
    }

    /// A rule, checked once (through the memoised path) where it is declared.
    fn rule_decl(&mut self, fi: usize, di: usize, r: &Rule) {
        let key = (
            self.files[fi].package.clone(),
            Namespace::Rule,
            r.name.name.clone(),
        );
        if self
            .syms
            .map
            .get(&key)
            .is_some_and(|s| s.file == fi && s.decl == di)
        {
            self.rule(key);
        }
    }

    fn schema_fields(&mut self, fields: &[SchemaField]) {
        for f in fields {
            self.field_type(&f.ty);
        }
    }

    fn field_type(&mut self, t: &FieldType) {
        match t {
            FieldType::Named(n) => {
                if super::expr::named_type(&n.name).is_none() {
                    self.err(
                        Diagnostic::new(
                            Code::UnknownSchemaType,
                            n.span,
                            format!("unknown field type `{}`", n.name),
                        )
                        .label("not a type")
                        .help(did_you_mean(
                            &n.name,
                            [
                                "string",
                                "number",
                                "bool",
                                "ip",
                                "duration",
                                "bytes",
                                "timestamp",
                            ],
                            Code::UnknownSchemaType.info().help,
                        )),
                    );
                }
            }
            FieldType::Array(inner) => self.field_type(inner),
            FieldType::Object(fs) => self.schema_fields(fs),
        }
    }

    fn exception_rows(&mut self, arity: usize, rows: &[Tuple]) {
        for row in rows {
            if row.values.len() != arity {
                self.err(
                    Diagnostic::new(
                        Code::ExceptionArity,
                        row.span,
                        format!(
                            "this row has {} values, the exception has {arity} parameters",
                            row.values.len()
                        ),
                    )
                    .label("wrong number of values"),
                );
            }
        }
    }

    /// Resolves the target of `extend`/`override`/`disable`, which must be declared `open`.
    fn open_target(
        &mut self,
        fi: usize,
        ns: Namespace,
        target: &Ident,
        what: &str,
    ) -> Option<SymKey> {
        let Some(key) = self.resolve(fi, ns, &target.name) else {
            let cands = self.candidates(fi, &[ns]);
            self.err(
                Diagnostic::new(
                    Code::UnknownTarget,
                    target.span,
                    format!("no {what} `{}` to change", target.name),
                )
                .label("not found")
                .help(did_you_mean(
                    &target.name,
                    cands.iter().map(String::as_str),
                    Code::UnknownTarget.info().help,
                )),
            );
            return None;
        };
        let sym = self.syms.map[&key];
        if !sym.open {
            self.err(
                Diagnostic::new(
                    Code::NotOpen,
                    target.span,
                    format!("`{}` is not declared `open`", target.name),
                )
                .label("cannot be changed")
                .with(sym.span, "declared here without `open`"),
            );
        }
        Some(key)
    }

    fn notifier(&mut self, cx: &mut Ctx, kind: &Ident, args: &[(Ident, Expr)]) {
        for (_, v) in args {
            self.expr(cx, v);
        }
        let Some((_, required, optional)) = NOTIFIER_KINDS.iter().find(|(k, _, _)| *k == kind.name)
        else {
            self.err(
                Diagnostic::new(
                    Code::UnknownNotifierKind,
                    kind.span,
                    format!("unknown notifier kind `{}`", kind.name),
                )
                .label("not a notifier kind")
                .help(did_you_mean(
                    &kind.name,
                    NOTIFIER_KINDS.iter().map(|k| k.0),
                    Code::UnknownNotifierKind.info().help,
                )),
            );
            return;
        };
        for r in required.iter() {
            if !args.iter().any(|(k, _)| k.name == *r) {
                self.err(
                    Diagnostic::new(
                        Code::NotifierArgs,
                        kind.span,
                        format!("`{}` needs `{r}`", kind.name),
                    )
                    .label(format!("missing `{r}`"))
                    .help(format!(
                        "write `{}({r} = ...)`; secrets come from env(\"NAME\")",
                        kind.name
                    )),
                );
            }
        }
        for (k, _) in args {
            let known = |set: &[&str]| set.contains(&k.name.as_str());
            if !known(required) && !known(optional) && !known(NOTIFIER_COMMON) {
                let all: Vec<&str> = required
                    .iter()
                    .chain(optional.iter())
                    .chain(NOTIFIER_COMMON.iter())
                    .copied()
                    .collect();
                self.err(
                    Diagnostic::new(
                        Code::NotifierArgs,
                        k.span,
                        format!("`{}` has no setting `{}`", kind.name, k.name),
                    )
                    .label("unknown setting")
                    .help(did_you_mean(
                        &k.name,
                        all.iter().copied(),
                        &format!("settings: {}", all.join(", ")),
                    )),
                );
            }
        }
    }

    fn route(&mut self, fi: usize, body: &RouteBody) {
        let mut cx = Ctx {
            file: fi,
            ..Ctx::default()
        };
        for it in &body.items {
            match it {
                RouteItem::GroupWait(e) | RouteItem::GroupInterval(e) | RouteItem::Repeat(e) => {
                    self.clause_duration(&mut cx, e)
                }
                RouteItem::GroupBy(..) => {}
                RouteItem::Match {
                    cond,
                    during,
                    muted,
                    target,
                    ..
                } => {
                    self.label_regexes(cond);
                    for d in [during, muted].into_iter().flatten() {
                        self.reference(fi, Namespace::Calendar, d, Code::UnknownCalendar);
                    }
                    match target {
                        RouteTarget::Nested { body, .. } => self.route(fi, body),
                        RouteTarget::Notifiers { targets, .. } => {
                            for t in targets {
                                self.reference(fi, Namespace::Notifier, t, Code::UnknownNotifier);
                            }
                        }
                    }
                }
                RouteItem::Default { targets, .. } => {
                    for t in targets {
                        self.reference(fi, Namespace::Notifier, t, Code::UnknownNotifier);
                    }
                }
            }
        }
        crate::lint::routes::check(self, body);
    }

    fn label_regexes(&mut self, c: &LabelCond) {
        match c {
            LabelCond::Or(v, _) | LabelCond::And(v, _) => {
                v.iter().for_each(|x| self.label_regexes(x))
            }
            LabelCond::Not(x, _) => self.label_regexes(x),
            LabelCond::Match { op, value, .. } => {
                if matches!(op, MatchOp::Re | MatchOp::NotRe) {
                    self.regex(value.text(), value.span());
                }
            }
        }
    }

    fn test(&mut self, fi: usize, t: &Test) {
        let mut cx = Ctx {
            file: fi,
            ..Ctx::default()
        };
        for it in &t.items {
            match it {
                TestItem::Interval(e) => self.interval_duration(&mut cx, e),
                TestItem::Advance(e) => self.clause_duration(&mut cx, e),
                TestItem::Series {
                    selector,
                    every,
                    values,
                } => {
                    // The labels a test gives its series are labels the rule set knows.
                    if let ExprKind::Ref { matchers, .. } = &selector.kind {
                        self.mentioned
                            .extend(matchers.iter().map(|m| m.label.name.clone()));
                    }
                    self.clause_duration(&mut cx, every);
                    if let Err(why) = crate::series_notation::parse(&values.value) {
                        self.err(
                            Diagnostic::new(Code::SeriesNotation, values.span, why)
                                .label("invalid series notation"),
                        );
                    }
                }
                TestItem::EventsFrom(_) => {}
                TestItem::EventsEvery { every, .. } => self.clause_duration(&mut cx, every),
                TestItem::EventAt { at, .. } => self.clause_duration(&mut cx, at),
                TestItem::ExpectState { rule, at, .. } => {
                    self.reference(fi, Namespace::Rule, rule, Code::UnknownRule);
                    self.clause_duration(&mut cx, at);
                }
                TestItem::ExpectNo { rule, at, .. } => {
                    self.reference(fi, Namespace::Rule, rule, Code::UnknownRule);
                    if let Some(a) = at {
                        self.clause_duration(&mut cx, a);
                    }
                }
                TestItem::ExpectNotification { notifier, at, .. } => {
                    self.reference(fi, Namespace::Notifier, notifier, Code::UnknownNotifier);
                    if let Some(a) = at {
                        self.clause_duration(&mut cx, a);
                    }
                }
                TestItem::Silence { from, to, .. } => {
                    self.clause_duration(&mut cx, from);
                    self.clause_duration(&mut cx, to);
                }
                TestItem::ExpectPlaybook { playbook, at, .. } => {
                    if let Some(a) = at {
                        self.clause_duration(&mut cx, a);
                    }
                    self.reference(fi, Namespace::Playbook, playbook, Code::UnknownPlaybook)
                }
                TestItem::ExpectNothingElse(_) => {}
            }
        }
    }
}

/// The namespace an `override`/`disable` target lives in.
fn target_namespace(kind: TargetKind) -> Namespace {
    match kind {
        TargetKind::Rule => Namespace::Rule,
        TargetKind::Exception => Namespace::Exception,
        TargetKind::Const | TargetKind::List | TargetKind::Macro => Namespace::Value,
    }
}

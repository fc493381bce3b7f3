//! Turns pest's parse tree into the AST. The only file besides `mod.rs` that sees pest types.

use super::ast::*;
use super::grammar::Rule as R;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use pest::iterators::Pair;

type P<'i> = Pair<'i, R>;

pub(super) struct Lower<'d> {
    pub file: FileId,
    /// Byte offset of the parsed text in its file (declarations are parsed one by one).
    pub offset: usize,
    pub diags: &'d mut Vec<Diagnostic>,
}

impl Lower<'_> {
    fn span(&self, p: &P) -> Span {
        let s = p.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }

    fn ident(&self, p: P) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    pub fn decl(&mut self, p: P) -> Decl {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        let kind = match rule {
            R::package_decl => DeclKind::Package(self.ident(next(&mut it))),
            R::import_decl => {
                let path = self.string(next(&mut it));
                DeclKind::Import {
                    path,
                    alias: it.next().map(|a| self.ident(a)),
                }
            }
            R::interval_decl => DeclKind::Interval(self.expr_any(next(&mut it))),
            R::strings_decl => DeclKind::StringsNocase,
            R::open_decl => {
                let _kw = next(&mut it);
                let mut inner = self.decl(next(&mut it));
                inner.open = true;
                inner.span = span;
                return inner;
            }
            R::const_decl => DeclKind::Const {
                name: self.ident(next(&mut it)),
                value: self.expr(next(&mut it)),
            },
            R::metric_decl => {
                let name = self.ident(next(&mut it));
                let mut unit = next(&mut it).into_inner();
                let u = self.ident(next(&mut unit));
                let unit_arg = unit.next().map(|a| self.ident(a));
                let labels = it.next().map(|l| self.label_list(l));
                DeclKind::Metric {
                    name,
                    unit: u,
                    unit_arg,
                    labels,
                }
            }
            R::list_decl => {
                let name = self.ident(next(&mut it));
                let mut rest: Vec<P> = it.collect();
                let items = self.expr_any(rest.pop().expect("grammar: list literal"));
                let elem = rest.pop().map(|e| self.ident(e));
                DeclKind::List { name, elem, items }
            }
            R::macro_decl => DeclKind::Macro {
                name: self.ident(next(&mut it)),
                body: self.expr(next(&mut it)),
            },
            R::schema_decl => {
                let name = self.ident(next(&mut it));
                DeclKind::Schema {
                    name,
                    fields: self.schema_body(next(&mut it)),
                }
            }
            R::calendar_decl => {
                let name = self.ident(next(&mut it));
                let tz = self.string(next(&mut it));
                let mut sessions = Vec::new();
                let mut holidays = None;
                for q in it {
                    match q.as_rule() {
                        R::session_spec => sessions.push(self.session(q)),
                        _ => holidays = Some(self.string(q)),
                    }
                }
                DeclKind::Calendar {
                    name,
                    tz,
                    sessions,
                    holidays,
                }
            }
            R::record_decl => DeclKind::Record {
                name: self.ident(next(&mut it)),
                expr: self.expr(next(&mut it)),
            },
            R::exception_decl => {
                let name = self.ident(next(&mut it));
                let mut params = Vec::new();
                let mut body = None;
                let mut values = Vec::new();
                for q in it {
                    match q.as_rule() {
                        R::param => {
                            let mut pi = q.into_inner();
                            params.push((self.ident(next(&mut pi)), self.ident(next(&mut pi))));
                        }
                        R::tuple_list => values = self.tuples(q),
                        _ => body = Some(self.expr(q)),
                    }
                }
                DeclKind::Exception {
                    name,
                    params,
                    body: body.expect("grammar: exception body"),
                    values,
                }
            }
            R::extend_decl => {
                let q = next(&mut it);
                let r = q.as_rule();
                let mut qi = q.into_inner();
                let target = self.ident(next(&mut qi));
                let v = next(&mut qi);
                if r == R::extend_list {
                    DeclKind::ExtendList {
                        target,
                        items: self.expr_any(v),
                    }
                } else {
                    DeclKind::ExtendException {
                        target,
                        values: self.tuples(v),
                    }
                }
            }
            R::override_decl => {
                let kind = target_kind(next(&mut it).as_str());
                let target = self.ident(next(&mut it));
                DeclKind::Override {
                    kind,
                    target,
                    value: self.expr_any(next(&mut it)),
                }
            }
            R::disable_decl => {
                let kind = target_kind(next(&mut it).as_str());
                DeclKind::Disable {
                    kind,
                    target: self.ident(next(&mut it)),
                }
            }
            R::rule_decl => {
                let name = self.ident(next(&mut it));
                let clauses = it.map(|c| self.clause(c)).collect();
                DeclKind::Rule(Rule { name, clauses })
            }
            R::notifier_decl => {
                let name = self.ident(next(&mut it));
                let kind = self.ident(next(&mut it));
                let args = it.map(|nv| self.pair_of(nv)).collect();
                DeclKind::Notifier { name, kind, args }
            }
            R::route_decl => DeclKind::Route(self.route_body(next(&mut it))),
            R::inhibit_decl => {
                let source = self.label_cond(next(&mut it));
                let target = self.label_cond(next(&mut it));
                let equal = it.next().map(|l| self.label_list(l)).unwrap_or_default();
                DeclKind::Inhibit {
                    source,
                    target,
                    equal,
                }
            }
            R::playbook_decl => {
                let name = self.ident(next(&mut it));
                DeclKind::Playbook {
                    name,
                    items: it.map(|q| self.playbook_item(q)).collect(),
                }
            }
            R::test_decl => {
                let name = self.string(next(&mut it));
                DeclKind::Test(Test {
                    name,
                    items: it.map(|q| self.test_item(q)).collect(),
                })
            }
            other => unreachable!("grammar: unexpected declaration {other:?}"),
        };
        Decl {
            kind,
            span,
            open: false,
        }
    }

    fn session(&self, p: P) -> Session {
        let span = self.span(&p);
        let parts: Vec<P> = p.into_inner().collect();
        let mut idents: Vec<Ident> = parts.into_iter().map(|q| self.ident(q)).collect();
        let close = idents.pop().expect("grammar: close");
        let open = idents.pop().expect("grammar: open");
        let to_day = if idents.len() > 1 { idents.pop() } else { None };
        let from_day = idents.pop().expect("grammar: day");
        Session {
            from_day,
            to_day,
            open,
            close,
            span,
        }
    }

    fn schema_body(&mut self, p: P) -> Vec<SchemaField> {
        p.into_inner()
            .map(|f| {
                let mut fi = f.into_inner();
                let name = self.ident(next(&mut fi));
                SchemaField {
                    name,
                    ty: self.field_type(next(&mut fi)),
                }
            })
            .collect()
    }

    fn field_type(&mut self, p: P) -> FieldType {
        let q = p.into_inner().next().expect("grammar: field type");
        match q.as_rule() {
            R::schema_body => FieldType::Object(self.schema_body(q)),
            R::field_type => FieldType::Array(Box::new(self.field_type(q))),
            _ => FieldType::Named(self.ident(q)),
        }
    }

    fn tuples(&mut self, p: P) -> Vec<Tuple> {
        p.into_inner()
            .map(|t| {
                let span = self.span(&t);
                Tuple {
                    values: t.into_inner().map(|e| self.expr(e)).collect(),
                    span,
                }
            })
            .collect()
    }

    fn pair_of(&mut self, p: P) -> (Ident, Expr) {
        let mut it = p.into_inner();
        let name = self.ident(next(&mut it));
        (name, self.expr(next(&mut it)))
    }

    fn label_list(&self, p: P) -> Vec<Ident> {
        p.into_inner().map(|l| self.ident(l)).collect()
    }

    fn object(&mut self, p: P) -> Vec<(Ident, Expr)> {
        p.into_inner().map(|q| self.pair_of(q)).collect()
    }

    // ------------------------------------------------------------ rules

    fn clause(&mut self, p: P) -> Clause {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        let kind = match rule {
            R::severity_clause => ClauseKind::Severity(severity(next(&mut it).as_str())),
            R::labels_clause => ClauseKind::Labels(self.object(next(&mut it))),
            R::let_clause => ClauseKind::Let {
                name: self.ident(next(&mut it)),
                value: self.expr(next(&mut it)),
            },
            R::on_event_clause => ClauseKind::OnEvent(it.next().map(|e| self.expr(e))),
            R::sequence_clause => ClauseKind::Sequence(self.sequence(it)),
            R::when_clause => return self.when(None, it, None, span),
            R::level_clause => {
                let lv = next(&mut it);
                let level = (severity(lv.as_str()), self.span(&lv));
                let when = next(&mut it);
                let recover = it.next().map(|r| self.expr(next(&mut r.into_inner())));
                return self.when(Some(level), when.into_inner(), recover, span);
            }
            R::recover_clause => ClauseKind::Recover(self.expr(next(&mut it))),
            R::keep_firing_clause => ClauseKind::KeepFiring(self.expr(next(&mut it))),
            R::no_data_clause => {
                let after = self.expr(next(&mut it));
                let action = match next(&mut it).as_str() {
                    "alert" => NoDataAction::Alert,
                    "resolve" => NoDataAction::Resolve,
                    "ok" => NoDataAction::Ok,
                    _ => NoDataAction::Keep,
                };
                ClauseKind::NoData { after, action }
            }
            R::flapping_clause => {
                let low = self.num(next(&mut it));
                let high = self.num(next(&mut it));
                ClauseKind::Flapping {
                    low,
                    high,
                    over: self.expr(next(&mut it)),
                }
            }
            R::throttle_clause => {
                let count = self.num(next(&mut it));
                let per = self.expr(next(&mut it));
                let by = it.next().map(|k| self.group_keys(k)).unwrap_or_default();
                ClauseKind::Throttle { count, per, by }
            }
            R::cooldown_clause => ClauseKind::Cooldown(self.expr(next(&mut it))),
            R::delay_clause => ClauseKind::Delay(self.expr(next(&mut it))),
            R::interval_clause => ClauseKind::Interval(self.expr(next(&mut it))),
            R::strings_clause => ClauseKind::StringsNocase,
            R::except_clause => ClauseKind::Except(it.map(|q| self.ident(q)).collect()),
            R::summary_clause => ClauseKind::Summary(self.string(next(&mut it))),
            R::description_clause => ClauseKind::Description(self.string(next(&mut it))),
            R::notify_clause => ClauseKind::Notify(it.map(|q| self.ident(q)).collect()),
            R::playbook_clause => ClauseKind::Playbook(self.ident(next(&mut it))),
            other => unreachable!("grammar: unexpected clause {other:?}"),
        };
        Clause { kind, span }
    }

    fn when(
        &mut self,
        level: Option<(Severity, Span)>,
        mut it: pest::iterators::Pairs<R>,
        recover: Option<Expr>,
        span: Span,
    ) -> Clause {
        let cond = self.expr(next(&mut it));
        let for_ = it.next().map(|f| self.expr(next(&mut f.into_inner())));
        Clause {
            kind: ClauseKind::When {
                level,
                cond,
                for_,
                recover,
            },
            span,
        }
    }

    fn sequence(&mut self, it: pest::iterators::Pairs<R>) -> Sequence {
        let mut seq = Sequence {
            any_order: false,
            by: vec![],
            within: dummy(self.file),
            steps: vec![],
            until: vec![],
        };
        for q in it {
            match q.as_rule() {
                R::any_order => seq.any_order = true,
                R::group_keys => seq.by = self.group_keys(q),
                R::expr => seq.within = self.expr(q),
                R::until_step => seq.until.push(self.expr(next(&mut q.into_inner().skip(1)))),
                R::seq_step => {
                    let span = self.span(&q);
                    let mut missing = false;
                    let mut parts = q.into_inner().peekable();
                    if parts.peek().map(|x| x.as_rule()) == Some(R::missing_kw) {
                        parts.next();
                        missing = true;
                    }
                    let name = self.ident(next(&mut parts));
                    let cond = self.expr(next(&mut parts));
                    let mut key = None;
                    let mut repeat = None;
                    for r in parts {
                        match r.as_rule() {
                            R::field_path => key = Some(self.expr_any(r)),
                            _ => repeat = Some(self.num(r)),
                        }
                    }
                    seq.steps.push(SeqStep {
                        name,
                        missing,
                        cond,
                        key,
                        repeat,
                        span,
                    });
                }
                other => unreachable!("grammar: unexpected sequence part {other:?}"),
            }
        }
        seq
    }

    fn group_keys(&mut self, p: P) -> Vec<Expr> {
        p.into_inner().map(|f| self.expr_any(f)).collect()
    }

    // ------------------------------------------------------------ routes, playbooks, tests

    fn route_body(&mut self, p: P) -> RouteBody {
        let span = self.span(&p);
        let mut items = Vec::new();
        for q in p.into_inner() {
            let qspan = self.span(&q);
            let rule = q.as_rule();
            let mut it = q.into_inner();
            items.push(match rule {
                R::group_by_opt => RouteItem::GroupBy(self.label_list(next(&mut it)), qspan),
                R::group_wait_opt => RouteItem::GroupWait(self.expr(next(&mut it))),
                R::group_interval_opt => RouteItem::GroupInterval(self.expr(next(&mut it))),
                R::repeat_opt => RouteItem::Repeat(self.expr(next(&mut it))),
                R::match_route => {
                    let cond = self.label_cond(next(&mut it));
                    let mut during = None;
                    let mut target = None;
                    let mut cont = false;
                    for r in it {
                        match r.as_rule() {
                            R::during => during = Some(self.ident(next(&mut r.into_inner()))),
                            R::route_body => target = Some(RouteTarget::Nested(self.route_body(r))),
                            R::route_targets => {
                                target = Some(RouteTarget::Notifiers {
                                    targets: r.into_inner().map(|t| self.ident(t)).collect(),
                                    cont: false,
                                })
                            }
                            _ => cont = true,
                        }
                    }
                    let mut target = target.expect("grammar: route target");
                    if let RouteTarget::Notifiers { cont: c, .. } = &mut target {
                        *c = cont;
                    }
                    RouteItem::Match {
                        cond,
                        during,
                        target,
                        span: qspan,
                    }
                }
                R::default_route => RouteItem::Default {
                    targets: next(&mut it).into_inner().map(|t| self.ident(t)).collect(),
                    span: qspan,
                },
                other => unreachable!("grammar: unexpected route item {other:?}"),
            });
        }
        RouteBody { items, span }
    }

    fn label_cond(&mut self, p: P) -> LabelCond {
        let span = self.span(&p);
        match p.as_rule() {
            R::label_cond | R::label_and => {
                let or = p.as_rule() == R::label_cond;
                let mut parts: Vec<LabelCond> = p
                    .into_inner()
                    .filter(|q| !matches!(q.as_rule(), R::and_op | R::or_op))
                    .map(|q| self.label_cond(q))
                    .collect();
                if parts.len() == 1 {
                    parts.pop().expect("one part")
                } else if or {
                    LabelCond::Or(parts, span)
                } else {
                    LabelCond::And(parts, span)
                }
            }
            R::label_not => LabelCond::Not(
                Box::new(self.label_cond(next(&mut p.into_inner().skip(1)))),
                span,
            ),
            R::label_match => {
                let mut it = p.into_inner();
                let label = self.ident(next(&mut it));
                let op = match_op(next(&mut it).as_str());
                let v = next(&mut it);
                let inner = next(&mut v.into_inner());
                let value = match inner.as_rule() {
                    R::string => LabelValue::Str(self.string(inner)),
                    R::regex => LabelValue::Regex(self.regex_lit(inner)),
                    _ => LabelValue::Word(self.ident(inner)),
                };
                LabelCond::Match {
                    label,
                    op,
                    value,
                    span,
                }
            }
            other => unreachable!("grammar: unexpected label condition {other:?}"),
        }
    }

    fn playbook_item(&mut self, p: P) -> PlaybookItem {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        match rule {
            R::step_item => {
                let s = next(&mut it);
                let srule = s.as_rule();
                let mut si = s.into_inner();
                match srule {
                    R::step_notify => PlaybookItem::Notify {
                        notifier: self.ident(next(&mut si)),
                        message: si.next().map(|m| self.string(m)),
                        span,
                    },
                    R::step_http => {
                        let method = self.ident(next(&mut si));
                        let url = self.string(next(&mut si));
                        let (mut body, mut timeout, mut retries) = (vec![], None, None);
                        for q in si {
                            match q.as_rule() {
                                R::label_block => body = self.object(q),
                                R::expr => timeout = Some(self.expr(q)),
                                _ => retries = Some(self.num(q)),
                            }
                        }
                        PlaybookItem::Http {
                            method,
                            url,
                            body,
                            timeout,
                            retries,
                            span,
                        }
                    }
                    R::step_approve => PlaybookItem::Approve {
                        by: self.string(next(&mut si)),
                        span,
                    },
                    _ => PlaybookItem::Shell {
                        command: self.string(next(&mut si)),
                        span,
                    },
                }
            }
            R::wait_item => {
                let duration = self.expr(next(&mut it));
                PlaybookItem::Wait {
                    duration,
                    unless_acknowledged: it.next().is_some(),
                    span,
                }
            }
            _ => {
                let count = self.num(next(&mut it));
                PlaybookItem::RateLimit {
                    count,
                    per: self.expr(next(&mut it)),
                    span,
                }
            }
        }
    }

    fn test_item(&mut self, p: P) -> TestItem {
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
            R::events_item => {
                let q = next(&mut it);
                let qr = q.as_rule();
                let mut qi = q.into_inner();
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
            R::event_item => {
                let at = self.expr(next(&mut it));
                TestItem::EventAt {
                    at,
                    object: self.object(next(&mut it)),
                }
            }
            R::advance_item => TestItem::Advance(self.expr(next(&mut it))),
            R::expect_item => {
                let q = next(&mut it);
                let qspan = self.span(&q);
                let qr = q.as_rule();
                let mut qi = q.into_inner();
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
                    R::expect_notification => {
                        let notifier = self.ident(next(&mut qi));
                        let at = self.expr(next(&mut qi));
                        let with = qi.next().map(|o| self.object(o)).unwrap_or_default();
                        TestItem::ExpectNotification { notifier, at, with }
                    }
                    _ => {
                        let playbook = self.ident(next(&mut qi));
                        let step = self.num(next(&mut qi));
                        TestItem::ExpectPlaybook {
                            playbook,
                            step,
                            outcome: self.ident(next(&mut qi)),
                        }
                    }
                }
            }
            other => unreachable!("grammar: unexpected test item {other:?}"),
        }
    }

    // ------------------------------------------------------------ literals

    fn num(&mut self, p: P) -> f64 {
        let span = self.span(&p);
        match p.as_str().parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.diags.push(
                    Diagnostic::new(Code::BadLiteral, span, "number out of range")
                        .label("too large"),
                );
                0.0
            }
        }
    }

    pub(super) fn string(&mut self, p: P) -> StrLit {
        let span = self.span(&p);
        let raw = p.into_inner().next().map(|i| i.as_str()).unwrap_or("");
        StrLit {
            value: self.unescape(raw, span),
            span,
        }
    }

    fn regex_lit(&mut self, p: P) -> StrLit {
        let span = self.span(&p);
        let raw = p.into_inner().next().map(|i| i.as_str()).unwrap_or("");
        // `\/` is the only escape a regex literal adds; the rest belongs to the regex syntax.
        StrLit {
            value: raw.replace("\\/", "/"),
            span,
        }
    }

    fn unescape(&mut self, raw: &str, span: Span) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let bad = |me: &mut Self, len: usize| {
                let start = span.start as usize + 1 + i;
                me.diags.push(
                    Diagnostic::new(
                        Code::BadEscape,
                        Span::new(span.file, start, start + len),
                        "unknown escape sequence in string",
                    )
                    .label("not a valid escape"),
                );
            };
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'u')) => {
                    let rest = &raw[i + 2..];
                    let parsed = rest
                        .strip_prefix('{')
                        .and_then(|r| r.find('}').map(|end| &r[..end]))
                        .and_then(|hex| {
                            u32::from_str_radix(hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .map(|c| (c, hex.len()))
                        });
                    match parsed {
                        Some((c, n)) => {
                            out.push(c);
                            for _ in 0..n + 2 {
                                chars.next();
                            }
                        }
                        None => bad(self, 2),
                    }
                }
                Some((_, other)) => bad(self, 1 + other.len_utf8()),
                None => bad(self, 1),
            }
        }
        out
    }

    // ------------------------------------------------------------ expressions

    /// Lowers an `expr` pair.
    pub fn expr(&mut self, p: P) -> Expr {
        self.expr_any(p)
    }

    /// Lowers any expression-level pair (`expr`, `or_expr`, ..., `primary` alternatives).
    fn expr_any(&mut self, p: P) -> Expr {
        let span = self.span(&p);
        let rule = p.as_rule();
        match rule {
            R::expr => self.expr_any(next(&mut p.into_inner())),
            R::or_expr | R::and_expr | R::add_expr | R::mul_expr => self.binary_chain(p),
            R::not_expr => {
                let parts: Vec<P> = p.into_inner().collect();
                let nots = parts.len() - 1;
                let mut it = parts.into_iter().rev();
                let mut e = self.expr_any(it.next().expect("grammar: operand"));
                for op in it.take(nots) {
                    let s = self.span(&op).to(e.span);
                    e = Expr {
                        kind: ExprKind::Unary(UnOp::Not, Box::new(e)),
                        span: s,
                    };
                }
                e
            }
            R::unary => {
                let parts: Vec<P> = p.into_inner().collect();
                let mut it = parts.into_iter().rev();
                let mut e = self.expr_any(it.next().expect("grammar: operand"));
                for op in it {
                    let s = self.span(&op).to(e.span);
                    e = Expr {
                        kind: ExprKind::Unary(UnOp::Neg, Box::new(e)),
                        span: s,
                    };
                }
                e
            }
            R::postfix => {
                let mut it = p.into_inner();
                let mut e = self.expr_any(next(&mut it));
                for idx in it {
                    let s = e.span.to(self.span(&idx));
                    let n = self.num(next(&mut idx.into_inner()));
                    e = Expr {
                        kind: ExprKind::Index(Box::new(e), n),
                        span: s,
                    };
                }
                e
            }
            R::cmp_expr => {
                let mut it = p.into_inner();
                let lhs = self.expr_any(next(&mut it));
                match it.next() {
                    None => lhs,
                    Some(tail) => self.cmp_tail(lhs, tail, span),
                }
            }
            R::number => Expr {
                kind: ExprKind::Number(self.num(p)),
                span,
            },
            R::percent => Expr {
                kind: ExprKind::Percent(self.num(next(&mut p.into_inner()))),
                span,
            },
            R::duration => {
                let mut it = p.into_inner();
                let mut total = 0.0;
                while let Some(n) = it.next() {
                    let n = self.num(n);
                    // The grammar admits only the units `duration_unit` knows.
                    let mult = super::duration_unit(next(&mut it).as_str()).unwrap_or(1.0);
                    total += n * mult;
                }
                Expr {
                    kind: ExprKind::Duration(total),
                    span,
                }
            }
            R::bytesize => {
                let mut it = p.into_inner();
                let n = self.num(next(&mut it));
                let mult: f64 = match next(&mut it).as_str() {
                    "KiB" => 1024.0,
                    "MiB" => 1024f64.powi(2),
                    "GiB" => 1024f64.powi(3),
                    "TiB" => 1024f64.powi(4),
                    "KB" => 1e3,
                    "MB" => 1e6,
                    "GB" => 1e9,
                    "TB" => 1e12,
                    _ => 1.0,
                };
                Expr {
                    kind: ExprKind::Bytes(n * mult),
                    span,
                }
            }
            R::string => {
                let s = self.string(p);
                Expr {
                    kind: ExprKind::Str(s.value),
                    span,
                }
            }
            R::regex => {
                let s = self.regex_lit(p);
                Expr {
                    kind: ExprKind::Regex(s.value),
                    span,
                }
            }
            R::boolean => Expr {
                kind: ExprKind::Bool(p.as_str() == "true"),
                span,
            },
            R::list_lit => Expr {
                kind: ExprKind::List(p.into_inner().map(|q| self.expr_any(q)).collect()),
                span,
            },
            R::spread => Expr {
                kind: ExprKind::Spread(self.ident(next(&mut p.into_inner()))),
                span,
            },
            R::selector => {
                let mut it = p.into_inner();
                let name = next(&mut it).as_str().to_string();
                let matchers = it
                    .next()
                    .map(|m| {
                        m.into_inner()
                            .map(|mm| {
                                let mut mi = mm.into_inner();
                                let label = self.ident(next(&mut mi));
                                let op = match_op(next(&mut mi).as_str());
                                Matcher {
                                    label,
                                    op,
                                    value: self.string(next(&mut mi)),
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Expr {
                    kind: ExprKind::Ref { name, matchers },
                    span,
                }
            }
            R::field_path => Expr {
                kind: ExprKind::Field(p.into_inner().map(|q| self.ident(q)).collect()),
                span,
            },
            R::alert_path => Expr {
                kind: ExprKind::AlertField(p.into_inner().map(|q| self.ident(q)).collect()),
                span,
            },
            R::exists_expr => {
                let f = next(&mut p.into_inner());
                Expr {
                    kind: ExprKind::Exists(f.into_inner().map(|q| self.ident(q)).collect()),
                    span,
                }
            }
            R::quantifier => {
                let mut it = p.into_inner();
                let quant = quant(next(&mut it).as_str());
                let var = self.ident(next(&mut it));
                let over = Box::new(self.expr_any(next(&mut it)));
                let pred = Box::new(self.expr_any(next(&mut it)));
                Expr {
                    kind: ExprKind::Quantifier {
                        quant,
                        var,
                        over,
                        pred,
                    },
                    span,
                }
            }
            R::selection => {
                let mut it = p.into_inner();
                let quant = quant(next(&mut it).as_str());
                Expr {
                    kind: ExprKind::Selection {
                        quant,
                        pattern: self.ident(next(&mut it)),
                    },
                    span,
                }
            }
            R::call_expr => {
                let mut it = p.into_inner();
                let call = next(&mut it);
                let mut ci = call.into_inner();
                let func = self.ident(next(&mut ci));
                let args = ci
                    .map(|a| {
                        if a.as_rule() == R::named_arg {
                            let mut ai = a.into_inner();
                            let name = self.ident(next(&mut ai));
                            Arg {
                                name: Some(name),
                                value: self.expr_any(next(&mut ai)),
                            }
                        } else {
                            Arg {
                                name: None,
                                value: self.expr_any(a),
                            }
                        }
                    })
                    .collect();
                let (mut group, mut over) = (None, None);
                for q in it {
                    match q.as_rule() {
                        R::call_group => {
                            let gspan = self.span(&q);
                            let mut gi = q.into_inner();
                            let without = next(&mut gi).as_str() == "without";
                            let what = next(&mut gi);
                            group = Some(if what.as_rule() == R::label_list {
                                let labels = self.label_list(what);
                                if without {
                                    Grouping::Without(labels, gspan)
                                } else {
                                    Grouping::By(labels, gspan)
                                }
                            } else {
                                Grouping::Fields(self.group_keys(what), gspan)
                            });
                        }
                        _ => over = Some(Box::new(self.expr_any(next(&mut q.into_inner())))),
                    }
                }
                Expr {
                    kind: ExprKind::Call {
                        func,
                        args,
                        group,
                        over,
                    },
                    span,
                }
            }
            other => unreachable!("grammar: unexpected expression {other:?}"),
        }
    }

    fn binary_chain(&mut self, p: P) -> Expr {
        let mut it = p.into_inner().peekable();
        let mut lhs = self.expr_any(next(&mut it));
        while let Some(op) = it.next() {
            let op = bin_op(op.as_str());
            let rhs = self.expr_any(next(&mut it));
            let mut span = lhs.span.to(rhs.span);
            let matching = if it.peek().map(|q| q.as_rule()) == Some(R::matching) {
                let m = self.matching(next(&mut it));
                span = span.to(m.span);
                Some(m)
            } else {
                None
            };
            lhs = Expr {
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                    matching,
                },
                span,
            };
        }
        lhs
    }

    fn matching(&self, p: P) -> Matching {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let ignoring = next(&mut it).as_str() == "ignoring";
        Matching {
            ignoring,
            labels: self.label_list(next(&mut it)),
            span,
        }
    }

    fn cmp_tail(&mut self, lhs: Expr, tail: P, span: Span) -> Expr {
        let rule = tail.as_rule();
        let mut it = tail.into_inner().peekable();
        let kind = match rule {
            R::cmp_binary => {
                let op = bin_op(next(&mut it).as_str());
                let rhs = self.expr_any(next(&mut it));
                let matching = it.next().map(|m| self.matching(m));
                ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                    matching,
                }
            }
            R::in_test => {
                let (mut negated, mut nocase, mut cidr) = (false, false, false);
                let mut rhs = None;
                for q in it {
                    match q.as_rule() {
                        R::negate => negated = true,
                        R::nocase => nocase = true,
                        R::cidr_kw => cidr = true,
                        _ => rhs = Some(self.expr_any(q)),
                    }
                }
                ExprKind::In {
                    negated,
                    nocase,
                    cidr,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs.expect("grammar: in rhs")),
                }
            }
            R::str_test => {
                let (mut negated, mut nocase, mut q_, mut op) =
                    (false, false, None, StrOp::Contains);
                let mut rhs = None;
                for q in it {
                    match q.as_rule() {
                        R::negate => negated = true,
                        R::nocase => nocase = true,
                        R::quant => q_ = Some(quant(q.as_str())),
                        R::str_op => op = str_op(q.as_str()),
                        _ => rhs = Some(self.expr_any(q)),
                    }
                }
                let rhs = Box::new(rhs.expect("grammar: string test rhs"));
                ExprKind::StrTest {
                    negated,
                    op,
                    quant: q_,
                    nocase,
                    lhs: Box::new(lhs),
                    rhs,
                }
            }
            _ => {
                let what = self.ident(next(&mut it));
                let p = it.next().map(|n| self.num(n));
                ExprKind::Is {
                    lhs: Box::new(lhs),
                    what,
                    p,
                }
            }
        };
        Expr { kind, span }
    }
}

fn next<'i>(it: &mut impl Iterator<Item = P<'i>>) -> P<'i> {
    it.next().expect("grammar guarantees this child")
}

fn dummy(file: FileId) -> Expr {
    Expr {
        kind: ExprKind::Number(0.0),
        span: Span::new(file, 0, 0),
    }
}

fn severity(s: &str) -> Severity {
    Severity::parse(s).unwrap_or(Severity::Warning)
}

fn target_kind(s: &str) -> TargetKind {
    match s {
        "const" => TargetKind::Const,
        "list" => TargetKind::List,
        "macro" => TargetKind::Macro,
        "rule" => TargetKind::Rule,
        _ => TargetKind::Exception,
    }
}

fn match_op(s: &str) -> MatchOp {
    match s {
        "=~" => MatchOp::Re,
        "!~" => MatchOp::NotRe,
        "!=" => MatchOp::Ne,
        _ => MatchOp::Eq,
    }
}

fn bin_op(s: &str) -> BinOp {
    match s {
        "or" => BinOp::Or,
        "and" => BinOp::And,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        _ => BinOp::Div,
    }
}

fn quant(s: &str) -> Quant {
    if s == "all" { Quant::All } else { Quant::Any }
}

fn str_op(s: &str) -> StrOp {
    match s {
        "contains" => StrOp::Contains,
        "startswith" => StrOp::StartsWith,
        "endswith" => StrOp::EndsWith,
        "matches" => StrOp::Matches,
        "glob" => StrOp::Glob,
        _ => StrOp::Under,
    }
}

fn alert_state(s: &str) -> AlertState {
    match s {
        "pending" => AlertState::Pending,
        "firing" => AlertState::Firing,
        "resolved" => AlertState::Resolved,
        _ => AlertState::Inactive,
    }
}

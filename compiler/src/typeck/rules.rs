//! Rules: forms (metric, event, sequence, composite), clauses, levels, templates.

use super::Checker;
use super::expr::Ctx;
use super::types::{Konst, Labels, Shape, Ty, Unit};
use crate::diag::{Code, Diagnostic};
use crate::resolve::suggest::did_you_mean;
use crate::resolve::{Namespace, SymKey};
use crate::source::Span;
use crate::syntax::ast::*;

/// What other declarations and the lints need to know about a checked rule.
#[derive(Debug, Clone, Default)]
pub struct RuleInfo {
    /// Labels its alerts carry (condition labels plus the `labels` clause).
    pub labels: Labels,
    pub event: bool,
    pub severity: Option<Severity>,
}

impl Checker<'_> {
    /// The checked rule for `key`, checking it now if needed; `None` inside a cycle.
    pub(crate) fn rule(&mut self, key: SymKey) -> Option<&RuleInfo> {
        if self.rules.contains_key(&key) {
            return self.rules.get(&key);
        }
        if let Some(pos) = self.rule_stack.iter().position(|k| *k == key) {
            let chain: Vec<String> = self.rule_stack[pos..].iter().map(|k| k.2.clone()).collect();
            let sym = self.syms.map[&key];
            self.err(
                Diagnostic::new(
                    Code::RuleCycle,
                    sym.span,
                    format!("rule `{}` depends on itself", key.2),
                )
                .label("part of a cycle")
                .help(format!("the cycle is {} -> {}", chain.join(" -> "), key.2)),
            );
            return None;
        }
        let sym = *self.syms.map.get(&key)?;
        let files = self.files;
        let DeclKind::Rule(rule) = &files[sym.file].module.decls[sym.decl].kind else {
            return None;
        };
        self.rule_stack.push(key.clone());
        let info = self.check_rule(sym.file, rule);
        self.rule_stack.pop();
        self.rules.insert(key.clone(), info);
        self.rules.get(&key)
    }

    /// One rule: its context, lets, clauses, the forms it combines, and its templates
    /// against the labels its alerts carry.
    fn check_rule(&mut self, fi: usize, rule: &Rule) -> RuleInfo {
        let mut cx = self.rule_ctx(fi, rule);
        self.duplicate_clauses(rule);
        let mut info = RuleInfo {
            event: cx.event,
            ..RuleInfo::default()
        };
        self.rule_lets(&mut cx, rule);
        let mut forms = Forms::default();
        for c in &rule.clauses {
            self.rule_clause(&mut cx, fi, rule, c, &mut forms, &mut info);
        }
        self.rule_forms(&cx, rule, &forms, &mut info);
        let labels = forms.labels.take().unwrap_or_else(|| Labels::closed([]));
        info.labels = self.rule_templates(&mut cx, rule, labels, forms.sequence.is_some());
        crate::lint::rules::no_summary(self, rule);
        crate::lint::rules::clauses_without_effect(
            self,
            rule,
            cx.event || forms.sequence.is_some(),
        );
        crate::lint::rules::unused_lets(self, &cx);
        info
    }

    /// What a rule's expressions see: its file, events (an `on event` clause), the schema its
    /// filter pins, its evaluation interval.
    fn rule_ctx(&mut self, fi: usize, rule: &Rule) -> Ctx {
        // A duration clause's constant seconds.
        let secs = |pick: fn(&ClauseKind) -> Option<&Expr>| {
            rule.clauses
                .iter()
                .find_map(|c| pick(&c.kind).and_then(konst_secs))
        };
        let interval = secs(|k| match k {
            ClauseKind::Interval(e) => Some(e),
            _ => None,
        })
        .or_else(|| self.file_interval(fi))
        .unwrap_or(super::DEFAULT_INTERVAL_SECS);
        let delay = secs(|k| match k {
            ClauseKind::Delay(e) => Some(e),
            _ => None,
        })
        .unwrap_or(0.0);
        let event = rule
            .clauses
            .iter()
            .any(|c| matches!(c.kind, ClauseKind::OnEvent(_)));
        let schema = rule.clauses.iter().find_map(|c| match &c.kind {
            ClauseKind::OnEvent(Some(f)) => {
                pinned_type(f).and_then(|t| self.resolve(fi, Namespace::Schema, &t).map(|_| t))
            }
            _ => None,
        });
        Ctx {
            file: fi,
            event,
            schema,
            interval,
            delay,
            ..Ctx::default()
        }
    }

    /// `let`s first, in order, so every clause sees them.
    fn rule_lets(&mut self, cx: &mut Ctx, rule: &Rule) {
        for c in &rule.clauses {
            if let ClauseKind::Let { name, value } = &c.kind {
                let v = self.expr(cx, value);
                if let Some((_, prev)) = cx.lets.get(&name.name) {
                    let prev = *prev;
                    self.err(
                        Diagnostic::new(
                            Code::DuplicateLet,
                            name.span,
                            format!("`{}` is bound twice", name.name),
                        )
                        .label("bound again")
                        .with(prev, "first bound here"),
                    );
                }
                cx.lets.insert(name.name.clone(), (v, name.span));
            }
        }
    }

    /// One clause of a rule.
    fn rule_clause(
        &mut self,
        cx: &mut Ctx,
        fi: usize,
        rule: &Rule,
        c: &Clause,
        forms: &mut Forms,
        info: &mut RuleInfo,
    ) {
        match &c.kind {
            ClauseKind::Severity(s) => info.severity = Some(*s),
            ClauseKind::OnEvent(Some(f)) => {
                let v = self.expr(cx, f);
                self.want_bool(&v, f.span);
                crate::lint::rules::not_indexable(self, f, rule);
                crate::lint::rules::constant_condition(self, &v, f.span);
            }
            ClauseKind::OnEvent(None) => {}
            ClauseKind::Sequence(seq) => {
                forms.sequence = Some(c.span);
                let l = self.sequence(cx, seq, c.span);
                forms.labels = Some(l);
            }
            ClauseKind::When { .. } => self.when_clause(cx, c, forms),
            ClauseKind::Recover(r) => {
                let rv = self.expr(cx, r);
                self.want_bool(&rv, r.span);
            }
            ClauseKind::KeepFiring(e) | ClauseKind::Cooldown(e) | ClauseKind::Delay(e) => {
                self.clause_duration(cx, e)
            }
            ClauseKind::Interval(e) => self.interval_duration(cx, e),
            ClauseKind::NoData { after, .. } => self.clause_duration(cx, after),
            ClauseKind::Flapping { low, high, over } => {
                if !(0.0..=1.0).contains(low) || !(0.0..=1.0).contains(high) || low > high {
                    self.err(
                        Diagnostic::new(
                            Code::QuantileRange,
                            c.span,
                            format!("flap thresholds {low}..{high} must satisfy 0 <= low <= high <= 1"),
                        )
                        .label("invalid thresholds")
                        .help("`flapping damp LOW..HIGH over D`: an alert starts flapping when its share of state changes over D reaches HIGH and stops below LOW, e.g. `damp 0.3..0.5 over 10m`"),
                    );
                }
                self.clause_duration(cx, over);
            }
            ClauseKind::Throttle { count, per, by } => {
                if *count < 1.0 || count.fract() != 0.0 || !count.is_finite() {
                    self.err(
                        Diagnostic::new(
                            Code::CountOutOfRange,
                            c.span,
                            format!("`throttle {count}` is not a number of alerts"),
                        )
                        .label("at least 1, a whole number"),
                    );
                }
                self.clause_duration(cx, per);
                for b in by {
                    self.expr(cx, b);
                }
            }
            ClauseKind::Except(names) => {
                for n in names {
                    self.reference(fi, Namespace::Exception, n, Code::UnknownException);
                }
            }
            ClauseKind::Notify(names) => {
                for n in names {
                    self.reference(fi, Namespace::Notifier, n, Code::UnknownNotifier);
                }
            }
            ClauseKind::Playbook(n) => {
                self.reference(fi, Namespace::Playbook, n, Code::UnknownPlaybook)
            }
            ClauseKind::Let { .. }
            | ClauseKind::Labels(_)
            | ClauseKind::Summary(_)
            | ClauseKind::Description(_)
            | ClauseKind::Annotations(_)
            | ClauseKind::StringsNocase => {}
        }
    }

    /// `[level] when cond [for d] [recover when r]`: one level per severity, or one plain
    /// `when`; the condition's label set joins the rule's.
    fn when_clause(&mut self, cx: &mut Ctx, c: &Clause, forms: &mut Forms) {
        let ClauseKind::When {
            level,
            cond,
            for_,
            recover,
        } = &c.kind
        else {
            return;
        };
        match level {
            Some((sev, sspan)) => {
                if let Some((_, prev)) = forms.levels.iter().find(|(s, _)| s == sev) {
                    let prev = *prev;
                    self.err(
                        Diagnostic::new(
                            Code::LevelRepeated,
                            *sspan,
                            format!("`{}` is given twice", sev.word()),
                        )
                        .label("repeated level")
                        .with(prev, "first given here"),
                    );
                }
                forms.levels.push((*sev, *sspan));
            }
            None => {
                if let Some(prev) = forms.plain_when {
                    self.err(
                        Diagnostic::new(Code::DuplicateClause, c.span, "a rule has one `when`")
                            .label("second `when`")
                            .with(prev, "first `when`")
                            .help("combine them with `and`/`or`, or use levels: `warning when ...` and `critical when ...`"),
                    );
                }
                forms.plain_when = Some(c.span);
            }
        }
        let v = self.expr(cx, cond);
        self.want_bool(&v, cond.span);
        crate::lint::rules::constant_condition(self, &v, cond.span);
        if v.ty == Ty::Error {
            forms.labels = Some(Labels::open([]));
        } else if let Some(l) = v.labels() {
            forms.labels = Some(match forms.labels.take() {
                Some(prev) => prev.union(l),
                None => l.clone(),
            });
        } else if forms.labels.is_none() && v.shape == Shape::Event {
            forms.labels = Some(Labels::closed([]));
        }
        if let Some(f) = for_ {
            self.clause_duration(cx, f);
            let single_event = cx.event && cx.saw_event_agg.is_none();
            crate::lint::rules::for_clause(self, f, cx.interval, single_event);
        }
        if let Some(r) = recover {
            let rv = self.expr(cx, r);
            self.want_bool(&rv, r.span);
        }
    }

    /// The forms a rule combines, as a whole: levels or a plain `when`, a condition at all,
    /// a sequence beside a `when`, series in an event rule, rule states beside series.
    fn rule_forms(&mut self, cx: &Ctx, rule: &Rule, forms: &Forms, info: &mut RuleInfo) {
        if forms.plain_when.is_some() && !forms.levels.is_empty() {
            self.err(
                Diagnostic::new(
                    Code::LevelRepeated,
                    forms.levels[0].1,
                    "a rule uses either `when` or severity levels, not both",
                )
                .label("level here")
                .with(forms.plain_when.unwrap_or_default(), "plain `when` here")
                .help("turn the plain `when` into a level: `warning when ...`"),
            );
        }
        let has_condition = forms.plain_when.is_some()
            || !forms.levels.is_empty()
            || forms.sequence.is_some()
            || cx.event;
        if !has_condition {
            self.err(
                Diagnostic::new(
                    Code::NoCondition,
                    rule.name.span,
                    format!(
                        "rule `{}` has nothing that could make it fire",
                        rule.name.name
                    ),
                )
                .label("no condition"),
            );
        }
        if let (Some(seq), Some(w)) = (forms.sequence, forms.plain_when) {
            self.err(
                Diagnostic::new(
                    Code::ConflictingForms,
                    w,
                    "a rule cannot have both a `sequence` and a `when`",
                )
                .label("metric or aggregate condition")
                .with(seq, "sequence here"),
            );
        }
        if cx.event
            && let Some(sel) = cx.saw_selector
        {
            self.err(
                Diagnostic::new(
                    Code::ConflictingForms,
                    sel,
                    "an event rule cannot read metric series",
                )
                .label("metric series in an event rule")
                .help("split it: a metric rule and an event rule, joined by a composite"),
            );
        }
        if let (Some(r), Some(sel)) = (cx.saw_rule_ref, cx.saw_selector) {
            self.err(
                Diagnostic::new(
                    Code::MetricNotCondition,
                    sel,
                    "a composite condition mixes rule states with metric values",
                )
                .label("metric here")
                .with(r, "rule state here"),
            );
        }
        if forms.levels.is_empty() && info.severity.is_none() {
            crate::lint::rules::no_severity(self, rule);
        }
        info.severity = info.severity.or(forms.levels.iter().map(|(s, _)| *s).max());
    }

    /// Labels the alerts carry (the condition's, then static ones), then the templates
    /// against them; returns the labels.
    fn rule_templates(
        &mut self,
        cx: &mut Ctx,
        rule: &Rule,
        mut labels: Labels,
        sequence: bool,
    ) -> Labels {
        // Labels the alerts carry, then templates against them.
        let mut names: Vec<String> = vec!["value".into(), "rule".into(), "severity".into()];
        for c in &rule.clauses {
            if let ClauseKind::Labels(pairs) = &c.kind {
                for (k, v) in pairs {
                    let lv = self.expr(cx, v);
                    if !matches!(lv.ty, Ty::Str | Ty::Error) {
                        self.mismatch(v.span, "a string label value", &lv.ty);
                    }
                    if let ExprKind::Str(s) = &v.kind {
                        crate::lint::rules::dynamic_label(self, s, v.span);
                    }
                    labels.known.insert(k.name.clone());
                    self.mentioned.insert(k.name.clone());
                }
            }
        }
        names.extend(labels.known.iter().cloned());
        names.extend(cx.lets.keys().cloned());
        names.extend(cx.agg_names.iter().cloned());
        let single_event = cx.event && cx.saw_event_agg.is_none() && !sequence;
        let mut templates: Vec<StrLit> = Vec::new();
        for c in &rule.clauses {
            match &c.kind {
                ClauseKind::Summary(t) | ClauseKind::Description(t) => templates.push(t.clone()),
                ClauseKind::Annotations(pairs) => templates.extend(self.annotations(cx, pairs)),
                _ => {}
            }
        }
        for t in &templates {
            if labels.open {
                // Any label may exist; one no rule mentions is likely a typo (decided
                // once all rules are seen).
                for ph in self.placeholders(t) {
                    let known = names.contains(&ph.name)
                        || ph.name.starts_with("event.")
                        || ph.name.starts_with("alert.");
                    if !known {
                        self.open_placeholders
                            .push((ph.name, ph.span, names.clone()));
                    }
                }
            } else {
                self.template(t, &names, single_event);
            }
        }
        labels
    }

    /// `annotations { k = "template" }`: string literals under names not already taken (by
    /// another annotation or by the `summary`/`description` clauses).
    fn annotations(&mut self, cx: &mut Ctx, pairs: &[(Ident, Expr)]) -> Vec<StrLit> {
        let mut out = Vec::new();
        let mut seen: Vec<(&str, Span)> = Vec::new();
        for (k, v) in pairs {
            if matches!(k.name.as_str(), "summary" | "description") {
                self.err(
                    Diagnostic::new(
                        Code::DuplicateClause,
                        k.span,
                        format!("the `{}` annotation has its own clause", k.name),
                    )
                    .label(format!("write `{} \"...\"` in the rule", k.name)),
                );
            } else if let Some((_, prev)) = seen.iter().find(|(n, _)| *n == k.name) {
                let prev = *prev;
                self.err(
                    Diagnostic::new(
                        Code::DuplicateClause,
                        k.span,
                        format!("annotation `{}` is given twice", k.name),
                    )
                    .label("second one")
                    .with(prev, "first one"),
                );
            }
            seen.push((&k.name, k.span));
            match &v.kind {
                ExprKind::Str(s) => out.push(StrLit {
                    value: s.clone(),
                    span: v.span,
                }),
                _ => {
                    let t = self.expr(cx, v);
                    self.mismatch(v.span, "a string (a template)", &t.ty);
                }
            }
        }
        out
    }

    fn sequence(&mut self, cx: &mut Ctx, seq: &Sequence, span: Span) -> Labels {
        if !cx.event {
            self.err(
                Diagnostic::new(
                    Code::ConflictingForms,
                    span,
                    "a sequence needs events: add `on event where ...`",
                )
                .label("sequence without events"),
            );
            cx.event = true;
        }
        let mut labels = Labels::closed([]);
        for b in &seq.by {
            self.expr(cx, b);
            if let ExprKind::Field(p) = &b.kind
                && let Some(l) = p.last()
            {
                labels.known.insert(l.name.clone());
            }
        }
        match &seq.within {
            Some(w) => self.clause_duration(cx, w),
            None => {
                if let Some(m) = seq.steps.iter().find(|s| s.missing) {
                    self.err(
                        Diagnostic::new(
                            Code::BadSequence,
                            m.span,
                            "a `missing` step needs the sequence's `within`",
                        )
                        .label("absent until when?")
                        .help("say how long the sequence may take: `sequence by [..] within 5m { .. }`"),
                    );
                } else if seq.until.is_empty() {
                    crate::lint::rules::sequence_without_within(self, span);
                }
            }
        }
        let total: f64 = seq.steps.iter().map(|s| s.repeat.unwrap_or(1.0)).sum();
        if total < 2.0 {
            self.err(
                Diagnostic::new(
                    Code::BadSequence,
                    span,
                    "a sequence needs at least two steps",
                )
                .label("one step")
                .help("add a step, or write `repeat N` on the step"),
            );
        }
        if let Some(first) = seq.steps.first()
            && first.missing
            && !seq.any_order
        {
            self.err(
                Diagnostic::new(
                    Code::BadSequence,
                    first.span,
                    "a sequence cannot start with a `missing` step",
                )
                .label("nothing anchors this step's window"),
            );
        }
        let mut seen: Vec<&Ident> = Vec::new();
        for s in &seq.steps {
            if let Some(prev) = seen.iter().find(|p| p.name == s.name.name) {
                self.err(
                    Diagnostic::new(
                        Code::BadSequence,
                        s.name.span,
                        format!("step `{}` is named twice", s.name.name),
                    )
                    .label("repeated step name")
                    .with(prev.span, "first step with this name"),
                );
            }
            seen.push(&s.name);
            let v = self.expr(cx, &s.cond);
            self.want_bool(&v, s.cond.span);
            if let Some(k) = &s.key {
                self.expr(cx, k);
            }
        }
        for u in &seq.until {
            let v = self.expr(cx, u);
            self.want_bool(&v, u.span);
        }
        labels
    }

    pub(crate) fn clause_duration(&mut self, cx: &mut Ctx, e: &Expr) {
        let v = self.expr(cx, e);
        if let (Ty::Num(Unit::Duration), Some(Konst::Num(secs))) = (&v.ty, &v.konst)
            && !(0.0..=MAX_DURATION_SECS).contains(secs)
        {
            self.err(
                Diagnostic::new(
                    Code::DurationOutOfRange,
                    e.span,
                    format!("a duration of {secs}s is out of range"),
                )
                .label("between 0s and 10 years"),
            );
            return;
        }
        if !matches!(v.ty, Ty::Num(Unit::Duration) | Ty::Error) || v.konst.is_none() {
            let help = super::expr::duration_help(e);
            self.err(
                Diagnostic::new(
                    Code::ClauseNotDuration,
                    e.span,
                    format!("expected a duration, found {}", v.ty),
                )
                .label("not a duration")
                .help(help),
            );
        }
    }

    /// An evaluation interval: a duration of at least 1s (cost follows the data, not a
    /// setting of a few milliseconds).
    pub(crate) fn interval_duration(&mut self, cx: &mut Ctx, e: &Expr) {
        let mark = self.diags.len();
        self.clause_duration(cx, e);
        if self.diags.len() > mark {
            return;
        }
        if let Some(secs) = konst_secs(e)
            && secs < 1.0
        {
            self.err(
                Diagnostic::new(
                    Code::DurationOutOfRange,
                    e.span,
                    format!("an evaluation interval of {secs}s is too short"),
                )
                .label("at least 1s"),
            );
        }
    }

    /// Resolves a reference to a notifier, playbook, exception, calendar or rule.
    pub(crate) fn reference(&mut self, fi: usize, ns: Namespace, name: &Ident, code: Code) {
        if let Some(key) = self.resolve(fi, ns, &name.name) {
            self.used.insert(key);
            return;
        }
        let what = match ns {
            Namespace::Notifier => "notifier",
            Namespace::Playbook => "playbook",
            Namespace::Exception => "exception",
            Namespace::Calendar => "calendar",
            _ => "rule",
        };
        let cands = self.candidates(fi, &[ns]);
        let fallback = code.info().help;
        self.err(
            Diagnostic::new(code, name.span, format!("unknown {what} `{}`", name.name))
                .label(format!("no such {what}"))
                .help(did_you_mean(
                    &name.name,
                    cands.iter().map(String::as_str),
                    fallback,
                )),
        );
    }

    fn duplicate_clauses(&mut self, rule: &Rule) {
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        for c in &rule.clauses {
            let key = match &c.kind {
                ClauseKind::Severity(_) => "severity",
                ClauseKind::OnEvent(_) => "on event",
                ClauseKind::Sequence(_) => "sequence",
                ClauseKind::KeepFiring(_) => "keep_firing",
                ClauseKind::NoData { .. } => "no_data",
                ClauseKind::Flapping { .. } => "flapping",
                ClauseKind::Throttle { .. } => "throttle",
                ClauseKind::Cooldown(_) => "cooldown",
                ClauseKind::Delay(_) => "delay",
                ClauseKind::Interval(_) => "interval",
                ClauseKind::Summary(_) => "summary",
                ClauseKind::Description(_) => "description",
                ClauseKind::Playbook(_) => "playbook",
                ClauseKind::Recover(_) => "recover when",
                ClauseKind::Labels(_) => "labels",
                ClauseKind::Annotations(_) => "annotations",
                _ => continue,
            };
            if let Some((_, prev)) = seen.iter().find(|(k, _)| *k == key) {
                let prev = *prev;
                self.err(
                    Diagnostic::new(
                        Code::DuplicateClause,
                        c.span,
                        format!("`{key}` is given twice"),
                    )
                    .label("second one")
                    .with(prev, "first one"),
                );
            }
            seen.push((key, c.span));
        }
    }

    pub(crate) fn file_interval(&self, fi: usize) -> Option<f64> {
        self.intervals.get(fi).copied().flatten()
    }
}

/// The longest duration a clause may give: 10 years.
pub const MAX_DURATION_SECS: f64 = 10.0 * 365.0 * 86_400.0;

pub(crate) fn konst_secs(e: &Expr) -> Option<f64> {
    match e.kind {
        ExprKind::Duration(s) => Some(s),
        _ => None,
    }
}

/// The event type a filter requires, if its top-level conjunction says `event.type == "x"`.
pub(crate) fn pinned_type(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Binary {
            op: BinOp::And,
            lhs,
            rhs,
            ..
        } => pinned_type(lhs).or_else(|| pinned_type(rhs)),
        ExprKind::Binary {
            op: BinOp::Eq,
            lhs,
            rhs,
            ..
        } => match (&lhs.kind, &rhs.kind) {
            (ExprKind::Field(p), ExprKind::Str(s)) | (ExprKind::Str(s), ExprKind::Field(p))
                if p.len() == 1 && p[0].name == "type" =>
            {
                Some(s.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// The forms a rule's clauses use, gathered as they are checked.
#[derive(Default)]
struct Forms {
    /// The label set of the rule's alerts, as far as the conditions tell.
    labels: Option<Labels>,
    levels: Vec<(Severity, Span)>,
    plain_when: Option<Span>,
    sequence: Option<Span>,
}

//! Lowering: a checked program (no errors) to the IR. Names are inlined (consts, lists,
//! macros, lets, exception tables, with `extend`/`override`/`disable` applied), constants are
//! folded, strings interned, string operators compiled, and every value the runtime must
//! supply gets a slot.

use crate::Checked;
use crate::diag::{Code, Diagnostic};
use crate::ir::meta::{Level, RuleKind, RuleMeta};
use crate::ir::tables::{self, CidrTrie, TextOp, TextTest};
use crate::ir::*;
use crate::resolve::{Namespace, SymKey};
use crate::source::Span;
use crate::syntax::ast::{self, BinOp, DeclKind, Expr, ExprKind, Quant, UnOp};
use crate::typeck::functions::{self, FnKind};
use crate::typeck::types::Unit;
use std::collections::{HashMap, HashSet};

mod encoders;
mod plan;

/// A construct the checker accepts but evaluation cannot compile; `vigil check` reports it
/// with its code like any other finding.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct LowerError {
    pub code: Code,
    pub message: String,
    pub span: Span,
}

impl LowerError {
    /// As a diagnostic (the registry gives its help).
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic::new(self.code, self.span, self.message.clone()).label("cannot be compiled")
    }
}

impl crate::eval::RuleSet {
    /// Lowers a checked program (which must have no errors) and compiles it, secrets unset.
    pub fn from_checked(
        checked: &Checked,
        engine: crate::eval::Engine,
    ) -> Result<crate::eval::RuleSet, LowerError> {
        Ok(crate::eval::RuleSet::new(lower(checked)?, engine))
    }

    /// [`RuleSet::from_checked`], with `env("NAME")` looked up in `secrets` as it loads.
    pub fn from_checked_with(
        checked: &Checked,
        engine: crate::eval::Engine,
        secrets: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::eval::RuleSet, LowerError> {
        Ok(crate::eval::RuleSet::load(lower(checked)?, engine, secrets))
    }
}

/// Lowers every rule of a checked program without errors.
pub fn lower(checked: &Checked) -> Result<Ir, LowerError> {
    let (ir, errors) = lower_all(checked);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(ir),
    }
}

/// Every `test` block of the root files (those named, not only imported), as plain data.
pub fn tests(checked: &Checked) -> Result<Vec<testplan::TestCase>, LowerError> {
    let (cases, errors) = tests_all(checked);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(cases),
    }
}

/// Everything lowering would refuse in a checked program: every rule, record, interval and
/// test is lowered, and each failure reported (what `vigil check` adds to the checker's
/// findings, so no error first appears at `replay` or `test` time).
pub fn diagnostics(checked: &Checked) -> Vec<Diagnostic> {
    let (_, mut errors) = lower_all(checked);
    errors.extend(tests_all(checked).1);
    errors.iter().map(LowerError::diagnostic).collect()
}

/// The IR of every rule, record and interval, and every declaration that failed.
fn lower_all(checked: &Checked) -> (Ir, Vec<LowerError>) {
    let mut lw = Lowerer::new(checked);
    let mut errors = Vec::new();
    for (fi, f) in checked.files.iter().enumerate() {
        for d in &f.module.decls {
            let r = match &d.kind {
                DeclKind::Rule(r) => lw.rule(fi, r),
                DeclKind::Interval(e) => lw.interval(fi, e),
                DeclKind::Record { name, expr } => lw.record(fi, name, expr),
                _ => Ok(()),
            };
            errors.extend(r.err());
        }
    }
    (lw.ir, errors)
}

/// The test plans of the root files, and every test that failed to lower.
fn tests_all(checked: &Checked) -> (Vec<testplan::TestCase>, Vec<LowerError>) {
    let mut lw = Lowerer::new(checked);
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for (fi, f) in checked.files.iter().enumerate() {
        if !f.root {
            continue;
        }
        for d in &f.module.decls {
            if let DeclKind::Test(t) = &d.kind {
                match lw.test(fi, t) {
                    Ok(c) => out.push(c),
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    (out, errors)
}

/// A lowered expression: a node, or a constant not yet placed (its meaning depends on use).
#[derive(Debug, Clone)]
enum Low {
    Node(NodeId, T),
    /// `80%` as written: 80 against a percentage, 0.8 otherwise.
    Pct(f64),
    Str(String),
    Regex(String),
    List(Vec<Low>),
    /// `env("NAME")`: a secret, known only when the rule set is loaded.
    Env(String),
}

/// The static type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    Num,
    Bool,
    /// A slot read as whatever it holds (event fields, alert labels).
    Dyn,
}

#[derive(Debug, Clone)]
enum Bind {
    /// A quantifier variable: the element at this depth.
    Elem(u8),
    /// A quantifier over a constant list, or an exception parameter.
    Const(Low),
}

#[derive(Clone)]
struct Scope<'a> {
    file: usize,
    lets: HashMap<String, &'a Expr>,
    binds: Vec<(String, Bind)>,
    nocase: bool,
    /// The array slot each enclosing quantifier opened: frame `d` is `opened[d - 1]`'s
    /// elements.
    opened: Vec<SlotRef>,
}

struct Lowerer<'a> {
    ck: &'a Checked,
    ir: Ir,
    disabled: HashSet<SymKey>,
    overrides: HashMap<SymKey, (usize, &'a Expr)>,
    extends: HashMap<SymKey, Vec<(usize, &'a Expr)>>,
    exception_rows: HashMap<SymKey, Vec<(usize, &'a ast::Tuple)>>,
    file_nocase: Vec<bool>,
    /// Factor to base units per declared metric (`duration(ms)` is 0.001).
    metric_scale: HashMap<String, f64>,
    /// The rule being lowered (`pkg.name`) and the event aggregate slots it has read so far.
    cur_rule: String,
    cur_aggs: Vec<u32>,
}

/// A construct evaluation has no way to run (V0237).
fn err<T>(span: Span, message: impl Into<String>) -> Result<T, LowerError> {
    fail(Code::CannotEvaluate, span, message)
}

fn fail<T>(code: Code, span: Span, message: impl Into<String>) -> Result<T, LowerError> {
    Err(LowerError {
        code,
        message: message.into(),
        span,
    })
}

impl<'a> Lowerer<'a> {
    fn new(ck: &'a Checked) -> Self {
        let mut lw = Lowerer {
            ck,
            ir: Ir::default(),
            disabled: HashSet::new(),
            overrides: HashMap::new(),
            extends: HashMap::new(),
            exception_rows: HashMap::new(),
            file_nocase: Vec::new(),
            metric_scale: HashMap::new(),
            cur_rule: String::new(),
            cur_aggs: Vec::new(),
        };
        for (fi, f) in ck.files.iter().enumerate() {
            lw.file_nocase.push(
                f.module
                    .decls
                    .iter()
                    .any(|d| matches!(d.kind, DeclKind::StringsNocase)),
            );
            for d in &f.module.decls {
                if let DeclKind::Metric {
                    name,
                    unit,
                    unit_arg,
                    ..
                } = &d.kind
                {
                    let scale = match (
                        unit.name.as_str(),
                        unit_arg.as_ref().map(|a| a.name.as_str()),
                    ) {
                        ("duration", Some("ms")) => 0.001,
                        ("duration", Some("us")) => 1e-6,
                        ("duration", Some("ns")) => 1e-9,
                        ("duration", Some("m")) => 60.0,
                        ("duration", Some("h")) => 3600.0,
                        _ => 1.0,
                    };
                    lw.metric_scale.insert(name.name.clone(), scale);
                }
                let resolve = |ns, t: &ast::Ident| ck.syms.resolve(&ck.files, fi, ns, &t.name);
                match &d.kind {
                    DeclKind::Disable { target, kind } => {
                        let ns = if *kind == ast::TargetKind::Rule {
                            Namespace::Rule
                        } else {
                            Namespace::Value
                        };
                        if let Some(k) = resolve(ns, target) {
                            lw.disabled.insert(k);
                        }
                    }
                    DeclKind::Override {
                        target,
                        value,
                        kind,
                    } => {
                        let ns = if *kind == ast::TargetKind::Exception {
                            Namespace::Exception
                        } else {
                            Namespace::Value
                        };
                        if let Some(k) = resolve(ns, target) {
                            lw.overrides.insert(k, (fi, value));
                        }
                    }
                    DeclKind::ExtendList { target, items } => {
                        if let Some(k) = resolve(Namespace::Value, target) {
                            lw.extends.entry(k).or_default().push((fi, items));
                        }
                    }
                    DeclKind::ExtendException { target, values } => {
                        if let Some(k) = resolve(Namespace::Exception, target) {
                            let rows = lw.exception_rows.entry(k).or_default();
                            rows.extend(values.iter().map(|t| (fi, t)));
                        }
                    }
                    _ => {}
                }
            }
        }
        lw
    }

    /// `interval d`: the shortest of the packages' intervals.
    fn interval(&mut self, fi: usize, e: &'a Expr) -> Result<(), LowerError> {
        let sc = self.root_scope(fi);
        let v = self.constant(&sc, e)?;
        self.ir.interval = Some(self.ir.interval.map_or(v, |i: f64| i.min(v)));
        Ok(())
    }

    /// `record name = expr`: a series computed at every evaluation.
    fn record(&mut self, fi: usize, name: &ast::Ident, expr: &'a Expr) -> Result<(), LowerError> {
        let sc = self.decl_scope(fi, &self.root_scope(fi));
        let plan = self.plan(&sc, expr)?;
        self.ir.records.push((name.name.clone(), plan));
        Ok(())
    }

    fn rule(&mut self, fi: usize, r: &'a ast::Rule) -> Result<(), LowerError> {
        let file = &self.ck.files[fi];
        let key = (file.package.clone(), Namespace::Rule, r.name.name.clone());
        if self.disabled.contains(&key) {
            return Ok(());
        }
        let id = format!("{}.{}", file.package, r.name.name);
        self.cur_rule = id.clone();
        self.cur_aggs.clear();
        let mut sc = Scope {
            file: fi,
            lets: HashMap::new(),
            binds: Vec::new(),
            nocase: self.file_nocase[fi],
            opened: Vec::new(),
        };
        let mut excepts = Vec::new();
        let mut has_filter = false;
        for c in &r.clauses {
            match &c.kind {
                ast::ClauseKind::Let { name, value } => {
                    sc.lets.insert(name.name.clone(), value);
                }
                ast::ClauseKind::StringsNocase => sc.nocase = true,
                ast::ClauseKind::Except(names) => excepts.extend(names),
                ast::ClauseKind::OnEvent(_) => has_filter = true,
                _ => {}
            }
        }
        let push = |ir: &mut Ir, role, root, kind, rows| {
            ir.programs.push(Program {
                rule: id.clone(),
                role,
                root,
                kind,
                rows,
            });
            ir.programs.len() - 1
        };
        let event_rule = has_filter
            || !excepts.is_empty()
            || r.clauses
                .iter()
                .any(|c| matches!(c.kind, ast::ClauseKind::Sequence(_)));
        let mut filter = None;
        let mut plan = events::EventPlan::default();
        if has_filter || !excepts.is_empty() {
            let mut parts = Vec::new();
            for c in &r.clauses {
                if let ast::ClauseKind::OnEvent(Some(e)) = &c.kind {
                    let l = self.expr(&mut sc, e)?;
                    parts.push(self.boolean(l, e.span)?);
                }
            }
            for name in excepts {
                let table = self.exception(&mut sc, name)?;
                let not = self.ir.add(Node::Not(table));
                parts.push(not);
            }
            let root = self.and(parts);
            filter = Some(push(&mut self.ir, Role::Filter, root, Kind::Bool, None));
        }
        let mut meta = RuleMeta {
            id: id.clone(),
            kind: if event_rule {
                RuleKind::Event
            } else {
                RuleKind::Metric
            },
            severity: None,
            labels: Vec::new(),
            levels: Vec::new(),
            keep_firing: 0.0,
            cooldown: 0.0,
            delay: 0.0,
            interval: None,
            no_data: None,
            flapping: None,
            summary: None,
            events: None,
        };
        let mut global_recover = None;
        for c in &r.clauses {
            match &c.kind {
                ast::ClauseKind::When {
                    level,
                    cond,
                    recover,
                    for_,
                } => {
                    let lvl = level.map(|(s, _)| s);
                    let l = self.expr(&mut sc, cond)?;
                    let root = self.boolean(l, cond.span)?;
                    let rows = if event_rule {
                        None
                    } else {
                        Some(self.rows(&sc, cond)?)
                    };
                    let when = push(&mut self.ir, Role::When(lvl), root, Kind::Bool, rows);
                    let recover = match recover {
                        Some(rc) => {
                            let l = self.expr(&mut sc, rc)?;
                            let root = self.boolean(l, rc.span)?;
                            let rows = if event_rule {
                                None
                            } else {
                                Some(self.rows(&sc, rc)?)
                            };
                            Some(push(
                                &mut self.ir,
                                Role::Recover(lvl),
                                root,
                                Kind::Bool,
                                rows,
                            ))
                        }
                        None => None,
                    };
                    let value = match self.value_operand(&sc, cond) {
                        Some(v) => {
                            let l = self.expr(&mut sc, v)?;
                            match self.number(l, None, v.span) {
                                Ok(root) => Some(push(
                                    &mut self.ir,
                                    Role::Value(lvl),
                                    root,
                                    Kind::Num,
                                    None,
                                )),
                                Err(_) => None,
                            }
                        }
                        _ => None,
                    };
                    let for_ = match for_ {
                        Some(f) => self.constant(&sc, f)?,
                        None => 0.0,
                    };
                    meta.levels.push(Level {
                        severity: lvl,
                        when,
                        recover,
                        value,
                        for_,
                    });
                }
                ast::ClauseKind::Recover(e) => {
                    let l = self.expr(&mut sc, e)?;
                    let root = self.boolean(l, e.span)?;
                    let rows = if event_rule {
                        None
                    } else {
                        Some(self.rows(&sc, e)?)
                    };
                    global_recover = Some(push(
                        &mut self.ir,
                        Role::Recover(None),
                        root,
                        Kind::Bool,
                        rows,
                    ));
                }
                ast::ClauseKind::Sequence(seq) => {
                    let mut steps = Vec::new();
                    for s in &seq.steps {
                        let l = self.expr(&mut sc, &s.cond)?;
                        let root = self.boolean(l, s.cond.span)?;
                        let program = push(
                            &mut self.ir,
                            Role::Step(s.name.name.clone()),
                            root,
                            Kind::Bool,
                            None,
                        );
                        let key = match &s.key {
                            Some(k) => Some(self.field_slot(&sc, k)?),
                            None => None,
                        };
                        steps.push(events::StepPlan {
                            name: s.name.name.clone(),
                            program,
                            missing: s.missing,
                            key,
                            repeat: s.repeat.unwrap_or(1.0).clamp(1.0, 1000.0) as u32,
                        });
                    }
                    let mut until = None;
                    if !seq.until.is_empty() {
                        let mut parts = Vec::new();
                        for u in &seq.until {
                            let l = self.expr(&mut sc, u)?;
                            parts.push(self.boolean(l, u.span)?);
                        }
                        let root = self.or(parts);
                        until = Some(push(&mut self.ir, Role::Until, root, Kind::Bool, None));
                    }
                    plan.sequence = Some(events::SequencePlan {
                        any_order: seq.any_order,
                        keys: self.keys(&sc, &seq.by)?,
                        within: self.constant(&sc, &seq.within)?,
                        steps,
                        until,
                    });
                }
                ast::ClauseKind::Throttle { count, per, by } => {
                    plan.throttle = Some(events::Throttle {
                        count: count.clamp(1.0, u32::MAX as f64) as u32,
                        per: self.constant(&sc, per)?,
                        keys: self.keys(&sc, by)?,
                    });
                }
                ast::ClauseKind::Severity(s) => meta.severity = Some(*s),
                ast::ClauseKind::Labels(ls) => {
                    for (k, v) in ls {
                        if let ExprKind::Str(s) = &v.kind {
                            meta.labels.push((k.name.clone(), s.clone()));
                        }
                    }
                }
                ast::ClauseKind::KeepFiring(e) => meta.keep_firing = self.constant(&sc, e)?,
                ast::ClauseKind::Cooldown(e) => meta.cooldown = self.constant(&sc, e)?,
                ast::ClauseKind::Delay(e) => meta.delay = self.constant(&sc, e)?,
                ast::ClauseKind::Interval(e) => meta.interval = Some(self.constant(&sc, e)?),
                ast::ClauseKind::NoData { after, action } => {
                    meta.no_data = Some((self.constant(&sc, after)?, *action))
                }
                ast::ClauseKind::Flapping { low, high, over } => {
                    meta.flapping = Some((*low, *high, self.constant(&sc, over)?))
                }
                ast::ClauseKind::Summary(s) => meta.summary = Some(s.value.clone()),
                _ => {}
            }
        }
        if let Some(g) = global_recover {
            for l in &mut meta.levels {
                l.recover.get_or_insert(g);
            }
        }
        for l in &mut meta.levels {
            if l.severity.is_none() {
                l.severity = meta.severity;
            }
        }
        meta.levels.sort_by_key(|l| l.severity);
        if event_rule {
            plan.filter = filter;
            plan.aggregates = std::mem::take(&mut self.cur_aggs);
            meta.events = Some(plan);
        }
        self.ir.rules.push(meta);
        Ok(())
    }

    /// The left operand of a condition's first comparison (what `{{ value }}` reports),
    /// looking through `and`/`or` and lets.
    fn value_operand(&self, sc: &Scope<'a>, e: &'a Expr) -> Option<&'a Expr> {
        match &e.kind {
            ExprKind::Binary { op, lhs, .. } if op.is_comparison() => Some(lhs),
            ExprKind::Binary {
                op: BinOp::And | BinOp::Or,
                lhs,
                rhs,
                ..
            } => self
                .value_operand(sc, lhs)
                .or_else(|| self.value_operand(sc, rhs)),
            ExprKind::Ref { name, matchers } if matchers.is_empty() => {
                sc.lets.get(name).and_then(|le| self.value_operand(sc, le))
            }
            _ => None,
        }
    }

    /// An exception table as one condition: any row's body holds.
    fn exception(&mut self, sc: &mut Scope<'a>, name: &ast::Ident) -> Result<NodeId, LowerError> {
        let ck = self.ck;
        let Some(key) = ck
            .syms
            .resolve(&ck.files, sc.file, Namespace::Exception, &name.name)
        else {
            return err(name.span, format!("unknown exception `{}`", name.name));
        };
        let sym = ck.syms.map[&key];
        let DeclKind::Exception {
            params,
            body,
            values,
            ..
        } = &ck.files[sym.file].module.decls[sym.decl].kind
        else {
            return err(name.span, "not an exception");
        };
        let mut rows: Vec<(usize, &ast::Tuple)> = values.iter().map(|t| (sym.file, t)).collect();
        rows.extend(self.exception_rows.get(&key).cloned().unwrap_or_default());
        let mut alts = Vec::new();
        for (rf, row) in rows {
            let mut rsc = Scope {
                file: rf,
                lets: HashMap::new(),
                binds: Vec::new(),
                nocase: sc.nocase,
                opened: Vec::new(),
            };
            let mut binds = Vec::new();
            for ((p, _), v) in params.iter().zip(&row.values) {
                binds.push((p.name.clone(), Bind::Const(self.expr(&mut rsc, v)?)));
            }
            let mut bsc = Scope {
                file: sym.file,
                lets: HashMap::new(),
                binds,
                nocase: sc.nocase || self.file_nocase[sym.file],
                opened: Vec::new(),
            };
            let l = self.expr(&mut bsc, body)?;
            alts.push(self.boolean(l, body.span)?);
        }
        Ok(self.or(alts))
    }

    // ------------------------------------------------------------ expressions

    fn expr(&mut self, sc: &mut Scope<'a>, e: &'a Expr) -> Result<Low, LowerError> {
        let span = e.span;
        Ok(match &e.kind {
            ExprKind::Number(n) | ExprKind::Duration(n) | ExprKind::Bytes(n) => self.num(*n),
            ExprKind::Percent(p) => Low::Pct(*p),
            ExprKind::Str(s) => Low::Str(s.clone()),
            ExprKind::Regex(r) => Low::Regex(r.clone()),
            ExprKind::Bool(b) => Low::Node(self.ir.add(Node::Bool(*b)), T::Bool),
            ExprKind::List(items) => {
                let mut out = Vec::new();
                for it in items {
                    match self.expr(sc, it)? {
                        Low::List(inner) if matches!(it.kind, ExprKind::Spread(_)) => {
                            out.extend(inner)
                        }
                        // Encoders inside a list splice too: `[...windash("-x"), "y"]`.
                        Low::List(inner) if matches!(it.kind, ExprKind::Call { .. }) => {
                            out.extend(inner)
                        }
                        l => out.push(l),
                    }
                }
                Low::List(out)
            }
            ExprKind::Spread(name) => self.name(sc, &name.name, span)?,
            ExprKind::Ref { name, matchers } if matchers.is_empty() => self.name(sc, name, span)?,
            ExprKind::Ref { .. } => self.series_leaf(sc, e, T::Num)?,
            ExprKind::Field(path) => {
                let segs = path.iter().map(|p| PathSeg::Key(p.name.clone())).collect();
                let id = self.ir.layout.slot(SlotSource::Field(segs));
                self.dyn_slot(SlotRef { depth: 0, id })
            }
            ExprKind::AlertField(path) => {
                let id = self.ir.layout.slot(SlotSource::Alert(
                    path.iter().map(|p| p.name.clone()).collect(),
                ));
                self.dyn_slot(SlotRef { depth: 0, id })
            }
            ExprKind::Index(inner, i) => {
                let l = self.expr(sc, inner)?;
                let idx = *i as usize;
                match l {
                    Low::List(items) => match items.get(idx) {
                        Some(it) => it.clone(),
                        None => {
                            return fail(
                                Code::ListIndexOutOfRange,
                                span,
                                format!("index {idx} is past the list's end"),
                            );
                        }
                    },
                    Low::Node(n, T::Dyn) => {
                        let Node::Slot(r, _) = *self.ir.node(n) else {
                            return fail(
                                Code::EventFieldRequired,
                                span,
                                "only fields can be indexed",
                            );
                        };
                        let layout = self.ir.layout_for_mut(&sc.opened, r.depth as usize);
                        let SlotSource::Field(mut segs) =
                            layout.slots[r.id as usize].source.clone()
                        else {
                            return fail(
                                Code::EventFieldRequired,
                                span,
                                "only fields can be indexed",
                            );
                        };
                        segs.push(PathSeg::Index(idx));
                        let id = layout.slot(SlotSource::Field(segs));
                        self.dyn_slot(SlotRef { depth: r.depth, id })
                    }
                    _ => {
                        return fail(
                            Code::EventFieldRequired,
                            span,
                            "only fields and lists can be indexed",
                        );
                    }
                }
            }
            ExprKind::Unary(UnOp::Neg, inner) => {
                let l = self.expr(sc, inner)?;
                if let Low::Pct(p) = l {
                    return Ok(Low::Pct(-p));
                }
                let n = self.number(l, None, inner.span)?;
                let id = self.ir.add(Node::Math(Math::Neg, n));
                self.fold(id, T::Num)
            }
            ExprKind::Unary(UnOp::Not, inner) => {
                let l = self.expr(sc, inner)?;
                let b = self.boolean(l, inner.span)?;
                let id = self.not(b);
                Low::Node(id, T::Bool)
            }
            ExprKind::Binary { op, lhs, rhs, .. } => self.binary(sc, *op, lhs, rhs, span)?,
            ExprKind::In {
                negated,
                nocase,
                cidr,
                lhs,
                rhs,
            } => {
                let nocase = *nocase || sc.nocase;
                self.in_test(sc, *negated, nocase, *cidr, lhs, rhs)?
            }
            ExprKind::StrTest {
                negated,
                op,
                quant,
                nocase,
                lhs,
                rhs,
            } => {
                let nocase = *nocase || sc.nocase;
                let l = self.expr(sc, lhs)?;
                let r = self.expr(sc, rhs)?;
                let pats = match r {
                    Low::Str(s) | Low::Regex(s) => vec![s],
                    Low::List(items) => items
                        .into_iter()
                        .map(|i| match i {
                            Low::Str(s) | Low::Regex(s) => Ok(s),
                            _ => err(rhs.span, "string operators take strings or regexes"),
                        })
                        .collect::<Result<_, _>>()?,
                    Low::Node(rn, T::Dyn) if quant.is_none() => {
                        // A field as the pattern (the checker allows it for these operators).
                        let (Low::Node(ln, _), Node::Slot(rhs_slot, _)) =
                            (&l, self.ir.node(rn).clone())
                        else {
                            return Ok(Low::Node(self.ir.add(Node::Bool(false)), T::Bool));
                        };
                        let Node::Slot(lhs_slot, _) = *self.ir.node(*ln) else {
                            return Ok(Low::Node(self.ir.add(Node::Bool(false)), T::Bool));
                        };
                        let id = self.ir.add(Node::TextField {
                            op: text_op(*op),
                            nocase,
                            negated: *negated,
                            lhs: lhs_slot,
                            rhs: rhs_slot,
                        });
                        return Ok(Low::Node(id, T::Bool));
                    }
                    _ => {
                        return fail(
                            Code::ConstantRequired,
                            rhs.span,
                            format!("`{}` needs a constant pattern here", op.word()),
                        );
                    }
                };
                let all = *quant == Some(Quant::All);
                let path = sc.opened.clone();
                self.text(&path, l, text_op(*op), all, nocase, pats, *negated, span)?
            }
            ExprKind::Is { .. } => self.series_leaf(sc, e, T::Bool)?,
            ExprKind::Call {
                func,
                args,
                group,
                over,
            } => self.call(sc, e, func, args, group.is_some(), over.is_some())?,
            ExprKind::Exists(path) => {
                let segs = path.iter().map(|p| PathSeg::Key(p.name.clone())).collect();
                let id = self.ir.layout.slot(SlotSource::Field(segs));
                let n = self.ir.add(Node::Exists(SlotRef { depth: 0, id }));
                Low::Node(n, T::Bool)
            }
            ExprKind::Quantifier {
                quant,
                var,
                over,
                pred,
            } => {
                let all = *quant == Quant::All;
                match self.expr(sc, over)? {
                    Low::List(items) => {
                        let mut parts = Vec::new();
                        for it in items {
                            sc.binds.push((var.name.clone(), Bind::Const(it)));
                            let l = self.expr(sc, pred);
                            sc.binds.pop();
                            parts.push(self.boolean(l?, pred.span)?);
                        }
                        let id = if all { self.and(parts) } else { self.or(parts) };
                        Low::Node(id, T::Bool)
                    }
                    Low::Node(n, T::Dyn) => {
                        let Node::Slot(r, _) = *self.ir.node(n) else {
                            return fail(
                                Code::EventFieldRequired,
                                over.span,
                                "quantifiers range over array fields or lists",
                            );
                        };
                        self.ir
                            .layout_for_mut(&sc.opened, r.depth as usize)
                            .elem_mut(r.id);
                        if sc.opened.len() + 1 >= crate::eval::MAX_DEPTH {
                            return fail(
                                Code::QuantifiersTooDeep,
                                span,
                                "quantifiers nest too deeply to evaluate",
                            );
                        }
                        sc.opened.push(r);
                        let depth = sc.opened.len() as u8;
                        sc.binds.push((var.name.clone(), Bind::Elem(depth)));
                        let body = self.expr(sc, pred);
                        sc.binds.pop();
                        sc.opened.pop();
                        let body = self.boolean(body?, pred.span)?;
                        let id = self.ir.add(Node::Quant {
                            all,
                            slot: r,
                            body,
                            depth,
                        });
                        Low::Node(id, T::Bool)
                    }
                    _ => {
                        return fail(
                            Code::EventFieldRequired,
                            over.span,
                            "quantifiers range over array fields or lists",
                        );
                    }
                }
            }
            ExprKind::Selection { quant, pattern } => {
                let pat = pattern.name.replace('*', ".*");
                let re = regex::Regex::new(&format!("^{pat}$")).map_err(|e| LowerError {
                    code: Code::CannotEvaluate,
                    message: e.to_string(),
                    span: pattern.span,
                })?;
                let mut names: Vec<&String> = sc.lets.keys().filter(|k| re.is_match(k)).collect();
                names.sort();
                let names: Vec<String> = names.into_iter().cloned().collect();
                let mut parts = Vec::new();
                for n in names {
                    let l = self.name(sc, &n, pattern.span)?;
                    parts.push(self.boolean(l, pattern.span)?);
                }
                let id = if *quant == Quant::All {
                    self.and(parts)
                } else {
                    self.or(parts)
                };
                Low::Node(id, T::Bool)
            }
        })
    }

    fn num(&mut self, n: f64) -> Low {
        Low::Node(self.ir.add(Node::Num(n.to_bits())), T::Num)
    }

    fn dyn_slot(&mut self, r: SlotRef) -> Low {
        Low::Node(self.ir.add(Node::Slot(r, Kind::Any)), T::Dyn)
    }

    /// A name in expression position.
    fn name(&mut self, sc: &mut Scope<'a>, name: &str, span: Span) -> Result<Low, LowerError> {
        let (head, rest) = match name.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (name, None),
        };
        if let Some((_, b)) = sc.binds.iter().rev().find(|(v, _)| v == head) {
            return match b.clone() {
                Bind::Elem(depth) => {
                    let segs = rest
                        .map(|r| r.split('.').map(|s| PathSeg::Key(s.to_string())).collect())
                        .unwrap_or_default();
                    let layout = self.ir.layout_for_mut(&sc.opened, depth as usize);
                    let id = layout.slot(SlotSource::Field(segs));
                    Ok(self.dyn_slot(SlotRef { depth, id }))
                }
                Bind::Const(l) if rest.is_none() => Ok(l),
                Bind::Const(_) => err(span, format!("`{head}` is a constant; it has no fields")),
            };
        }
        if let Some(&e) = sc.lets.get(name) {
            return self.expr(sc, e);
        }
        let ck = self.ck;
        if let Some(key) = ck.syms.resolve(&ck.files, sc.file, Namespace::Value, name) {
            return self.value_decl(sc, key, span);
        }
        if let Some(key) = ck.syms.resolve(&ck.files, sc.file, Namespace::Rule, name) {
            let id = self.series_slot(series::SeriesExpr::RuleState(format!(
                "{}.{}",
                key.0, key.2
            )));
            let n = self
                .ir
                .add(Node::Slot(SlotRef { depth: 0, id }, Kind::Bool));
            return Ok(Low::Node(n, T::Bool));
        }
        // A metric selector.
        let sel = self.selector(name, &[]);
        let id = self.series_slot(series::SeriesExpr::Instant { sel, offset: 0.0 });
        let n = self.ir.add(Node::Slot(SlotRef { depth: 0, id }, Kind::Num));
        Ok(Low::Node(n, T::Num))
    }

    fn value_decl(
        &mut self,
        sc: &mut Scope<'a>,
        key: SymKey,
        span: Span,
    ) -> Result<Low, LowerError> {
        let ck = self.ck;
        let sym = ck.syms.map[&key];
        let decl = &ck.files[sym.file].module.decls[sym.decl];
        let (file, expr) = match (self.overrides.get(&key), &decl.kind) {
            (Some(&(f, e)), _) => (f, e),
            (None, DeclKind::Const { value, .. }) => (sym.file, value),
            (None, DeclKind::List { items, .. }) => (sym.file, items),
            (None, DeclKind::Macro { body, .. }) => (sym.file, body),
            (None, DeclKind::Record { name, .. }) => {
                // A recorded series is computed by the metric engine, shared by its readers.
                let sel = self.selector(&name.name, &[]);
                let id = self.series_slot(series::SeriesExpr::Instant { sel, offset: 0.0 });
                let n = self.ir.add(Node::Slot(SlotRef { depth: 0, id }, Kind::Num));
                return Ok(Low::Node(n, T::Num));
            }
            _ => return err(span, format!("`{}` is not a value", key.2)),
        };
        let mut dsc = Scope {
            file,
            lets: HashMap::new(),
            binds: Vec::new(),
            nocase: sc.nocase || self.file_nocase[file],
            opened: sc.opened.clone(),
        };
        let mut v = self.expr(&mut dsc, expr)?;
        if let (Low::List(items), Some(ext)) = (&mut v, self.extends.get(&key).cloned()) {
            for (f, e) in ext {
                let mut esc = Scope {
                    file: f,
                    lets: HashMap::new(),
                    binds: Vec::new(),
                    nocase: false,
                    opened: Vec::new(),
                };
                if let Low::List(more) = self.expr(&mut esc, e)? {
                    items.extend(more);
                }
            }
        }
        Ok(v)
    }

    /// A value the metric engine supplies per series (or the event engine per key).
    fn series_leaf(&mut self, sc: &Scope<'a>, e: &'a Expr, t: T) -> Result<Low, LowerError> {
        let id = if let ExprKind::Call { over: Some(_), .. } = &e.kind {
            self.event_agg(sc, e)?
        } else {
            let plan = self.plan(sc, e)?;
            self.series_slot(plan)
        };
        let kind = if t == T::Bool { Kind::Bool } else { Kind::Num };
        let n = self.ir.add(Node::Slot(SlotRef { depth: 0, id }, kind));
        Ok(Low::Node(n, t))
    }

    /// An event aggregate's slot and plan. Each rule has its own slot (its own events and
    /// state), keyed by the rule and the aggregate's text.
    fn event_agg(&mut self, sc: &Scope<'a>, e: &'a Expr) -> Result<u32, LowerError> {
        let ExprKind::Call {
            func,
            args,
            group,
            over: Some(over),
        } = &e.kind
        else {
            return err(e.span, "not an event aggregate");
        };
        let text: String = self
            .ck
            .sources
            .snippet(e.span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let id = self
            .ir
            .layout
            .slot(SlotSource::Aggregate(format!("{}:{text}", self.cur_rule)));
        let Some(f) = events::EventFn::from_name(&func.name) else {
            return err(
                func.span,
                format!("`{}` cannot aggregate events", func.name),
            );
        };
        let window = self.constant(sc, over)?;
        let keys = match group {
            Some(ast::Grouping::Fields(fields, _)) => self.keys(sc, fields)?,
            _ => Vec::new(),
        };
        let arg = match args.iter().find(|a| a.name.is_none()) {
            None => None,
            Some(a) if f.by_value() => Some(events::AggArg::Field(self.field_slot(sc, &a.value)?)),
            Some(a) => {
                let mut inner = sc.clone();
                let l = self.expr(&mut inner, &a.value)?;
                let root = self.number(l, None, a.value.span)?;
                self.ir.programs.push(Program {
                    rule: self.cur_rule.clone(),
                    role: Role::Operand,
                    root,
                    kind: Kind::Num,
                    rows: None,
                });
                Some(events::AggArg::Program(self.ir.programs.len() - 1))
            }
        };
        self.ir.event_aggs.insert(
            id,
            events::EventAgg {
                func: f,
                arg,
                keys,
                window,
            },
        );
        if !self.cur_aggs.contains(&id) {
            self.cur_aggs.push(id);
        }
        Ok(id)
    }

    fn test(&mut self, fi: usize, t: &'a ast::Test) -> Result<testplan::TestCase, LowerError> {
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
    fn expect(
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
    fn json_object(
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

    fn json_value(&mut self, sc: &Scope<'a>, e: &'a Expr) -> Result<serde_json::Value, LowerError> {
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
    fn label_object(
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

    /// Grouping fields as keys: the label each becomes and its slot.
    fn keys(&mut self, sc: &Scope<'a>, fields: &'a [Expr]) -> Result<Vec<events::Key>, LowerError> {
        let mut keys = Vec::new();
        for f in fields {
            let label = match &f.kind {
                ExprKind::Field(path) => path.last().map(|p| p.name.clone()).unwrap_or_default(),
                _ => return fail(Code::EventFieldRequired, f.span, "group by event fields"),
            };
            let slot = self.field_slot(sc, f)?;
            keys.push(events::Key { label, slot });
        }
        Ok(keys)
    }

    /// The top-level slot of an event field (`event.src_ip`, `event.tags[0]`).
    fn field_slot(&mut self, sc: &Scope<'a>, e: &'a Expr) -> Result<u32, LowerError> {
        let mut inner = sc.clone();
        if let Low::Node(n, _) = self.expr(&mut inner, e)?
            && let Node::Slot(r, _) = self.ir.node(n)
            && r.depth == 0
        {
            return Ok(r.id);
        }
        fail(Code::EventFieldRequired, e.span, "expected an event field")
    }

    fn call(
        &mut self,
        sc: &mut Scope<'a>,
        e: &'a Expr,
        func: &ast::Ident,
        args: &'a [ast::Arg],
        grouped: bool,
        over: bool,
    ) -> Result<Low, LowerError> {
        let name = func.name.as_str();
        let pos: Vec<&'a Expr> = args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
            .collect();
        if over || grouped {
            return self.series_leaf(sc, e, T::Num);
        }
        let scalar_min_max = matches!(name, "min" | "max")
            && pos.len() == 2
            && !crate::typeck::is_duration_literal(pos[1]);
        let kind = functions::lookup(name).map(|b| b.kind);
        if kind != Some(FnKind::Scalar) && !scalar_min_max {
            let t = if matches!(name, "absent" | "outside") {
                T::Bool
            } else {
                T::Num
            };
            return self.series_leaf(sc, e, t);
        }
        let mut vals = Vec::new();
        for p in &pos {
            vals.push(self.expr(sc, p)?);
        }
        let s = |vals: &[Low], i: usize| match vals.get(i) {
            Some(Low::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let strings = |v: Vec<String>| Low::List(v.into_iter().map(Low::Str).collect());
        Ok(match name {
            "time" => {
                let id = self.ir.layout.slot(SlotSource::Time);
                let n = self.ir.add(Node::Slot(SlotRef { depth: 0, id }, Kind::Num));
                Low::Node(n, T::Num)
            }
            // Kept as a reference: the value is looked up when the rule set is loaded, so the
            // IR (and anything printed from it) never holds the secret.
            "env" => Low::Env(s(&vals, 0).unwrap_or_default()),
            "base64offset" => strings(encoders::base64offset(&s(&vals, 0).unwrap_or_default())),
            "utf16le" => strings(encoders::utf16le(&s(&vals, 0).unwrap_or_default())),
            "windash" => strings(encoders::windash(&s(&vals, 0).unwrap_or_default())),
            "score" | "at_least" => self.series_leaf(sc, e, T::Num)?,
            "abs" | "ln" | "log10" => {
                let m = match name {
                    "abs" => Math::Abs,
                    "ln" => Math::Ln,
                    _ => Math::Log10,
                };
                let x = self.number(vals.remove(0), None, pos[0].span)?;
                let id = self.ir.add(Node::Math(m, x));
                self.fold(id, T::Num)
            }
            "min" | "max" | "round" => {
                let a = vals.remove(0);
                let b = if vals.is_empty() {
                    self.num(1.0)
                } else {
                    vals.remove(0)
                };
                let op = match name {
                    "min" => Arith::Min,
                    "max" => Arith::Max,
                    _ => Arith::Round,
                };
                let partner = self.unit(pos[0].span);
                let (a, b) = (
                    self.number(a, partner, pos[0].span)?,
                    self.number(b, partner, e.span)?,
                );
                let id = self.ir.add(Node::Arith(op, a, b));
                self.fold(id, T::Num)
            }
            "clamp" => {
                let partner = self.unit(pos[0].span);
                let x = self.number(vals.remove(0), None, pos[0].span)?;
                let lo = self.number(vals.remove(0), partner, pos[1].span)?;
                let hi = self.number(vals.remove(0), partner, pos[2].span)?;
                let m = self.ir.add(Node::Arith(Arith::Max, x, lo));
                let id = self.ir.add(Node::Arith(Arith::Min, m, hi));
                self.fold(id, T::Num)
            }
            _ => return err(e.span, format!("`{name}` cannot be evaluated here")),
        })
    }

    fn unit(&self, span: Span) -> Option<Unit> {
        self.ck.units.get(&span).copied()
    }

    fn binary(
        &mut self,
        sc: &mut Scope<'a>,
        op: BinOp,
        lhs: &'a Expr,
        rhs: &'a Expr,
        span: Span,
    ) -> Result<Low, LowerError> {
        let l = self.expr(sc, lhs)?;
        let r = self.expr(sc, rhs)?;
        match op {
            BinOp::And | BinOp::Or => {
                let a = self.boolean(l, lhs.span)?;
                let b = self.boolean(r, rhs.span)?;
                let id = if op == BinOp::And {
                    self.and(vec![a, b])
                } else {
                    self.or(vec![a, b])
                };
                Ok(Low::Node(id, T::Bool))
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                if let (Low::Pct(a), Low::Pct(b)) = (&l, &r) {
                    return Ok(Low::Pct(match op {
                        BinOp::Add => a + b,
                        BinOp::Sub => a - b,
                        BinOp::Mul => a * b / 100.0,
                        _ => return Ok(self.num(a / b)),
                    }));
                }
                let a = self.number(l, self.unit(rhs.span), lhs.span)?;
                let b = self.number(r, self.unit(lhs.span), rhs.span)?;
                let ar = match op {
                    BinOp::Add => Arith::Add,
                    BinOp::Sub => Arith::Sub,
                    BinOp::Mul => Arith::Mul,
                    _ => Arith::Div,
                };
                let id = self.ir.add(Node::Arith(ar, a, b));
                Ok(self.fold(id, T::Num))
            }
            _ => {
                let c = match op {
                    BinOp::Eq => CmpOp::Eq,
                    BinOp::Ne => CmpOp::Ne,
                    BinOp::Lt => CmpOp::Lt,
                    BinOp::Le => CmpOp::Le,
                    BinOp::Gt => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                let (lu, ru) = (self.unit(lhs.span), self.unit(rhs.span));
                let opened = sc.opened.clone();
                let id = self.compare(&opened, c, l, r, lu, ru, sc.nocase, span)?;
                Ok(Low::Node(id, T::Bool))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn compare(
        &mut self,
        path: &[SlotRef],
        op: CmpOp,
        l: Low,
        r: Low,
        lu: Option<Unit>,
        ru: Option<Unit>,
        nocase: bool,
        span: Span,
    ) -> Result<NodeId, LowerError> {
        // Constants on the left are turned around, so slot-vs-constant has one shape.
        let flip = |op: CmpOp| match op {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        };
        let is_const = |l: &Low| !matches!(l, Low::Node(..));
        if is_const(&l) && !is_const(&r) {
            return self.compare(path, flip(op), r, l, ru, lu, nocase, span);
        }
        match (&l, &r) {
            (Low::Node(n, T::Dyn), Low::Env(name)) if !nocase => {
                let Node::Slot(slot, _) = *self.ir.node(*n) else {
                    return Ok(self.ir.add(Node::Bool(false)));
                };
                if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    self.mark_sym_at(path, slot);
                }
                let a = self.ir.add(Node::Slot(slot, Kind::Str));
                let b = self.ir.env(name);
                return Ok(self.ir.add(Node::Cmp(op, CmpKind::Sym, a, b)));
            }
            (_, Low::Env(_)) | (Low::Env(_), _) => {
                return fail(
                    Code::ConstantRequired,
                    span,
                    "`env(..)` is read when the rules are loaded: compare it exactly with an event field (`event.user == env(\"ADMIN\")`)",
                );
            }
            (Low::Str(a), Low::Str(b)) => {
                let v = if nocase && matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    tables::nocase_eq(a, b) == (op == CmpOp::Eq)
                } else {
                    op.holds(a.as_str().cmp(b.as_str()))
                };
                return Ok(self.ir.add(Node::Bool(v)));
            }
            (Low::Node(n, t), Low::Str(s)) => {
                let n = *n;
                if *t != T::Dyn {
                    return Ok(self.ir.add(Node::Bool(false)));
                }
                let Node::Slot(slot, _) = *self.ir.node(n) else {
                    return Ok(self.ir.add(Node::Bool(false)));
                };
                return match op {
                    CmpOp::Eq | CmpOp::Ne if nocase => {
                        let low = self.text(
                            path,
                            l.clone(),
                            TextOp::Equals,
                            false,
                            true,
                            vec![s.clone()],
                            op == CmpOp::Ne,
                            span,
                        )?;
                        self.boolean(low, span)
                    }
                    CmpOp::Eq | CmpOp::Ne => {
                        self.mark_sym_at(path, slot);
                        let a = self.ir.add(Node::Slot(slot, Kind::Str));
                        let sym = self.ir.strings.intern(s);
                        let b = self.ir.add(Node::Str(sym));
                        Ok(self.ir.add(Node::Cmp(op, CmpKind::Sym, a, b)))
                    }
                    _ => {
                        let a = self.ir.add(Node::Slot(slot, Kind::Str));
                        let sym = self.ir.strings.intern(s);
                        let b = self.ir.add(Node::Str(sym));
                        Ok(self.ir.add(Node::Cmp(op, CmpKind::Sym, a, b)))
                    }
                };
            }
            _ => {}
        }
        let ta = self.ty(&l);
        let tb = self.ty(&r);
        let kind = match (ta, tb) {
            (Some(T::Dyn), Some(T::Dyn)) => {
                let a = self.as_kind(&l, Kind::Any, span)?;
                let b = self.as_kind(&r, Kind::Any, span)?;
                // Two slots, each maybe a string: byte comparison when both are strings.
                return Ok(self.ir.add(Node::Cmp(op, CmpKind::Dyn, a, b)));
            }
            (Some(T::Bool), _) | (_, Some(T::Bool)) => CmpKind::Bool,
            _ => CmpKind::Num,
        };
        let (a, b) = if kind == CmpKind::Bool {
            (
                self.as_kind(&l, Kind::Bool, span)?,
                self.as_kind(&r, Kind::Bool, span)?,
            )
        } else {
            (self.number(l, ru, span)?, self.number(r, lu, span)?)
        };
        let id = self.ir.add(Node::Cmp(op, kind, a, b));
        Ok(self.fold_bool(id))
    }

    fn ty(&self, l: &Low) -> Option<T> {
        match l {
            Low::Node(_, t) => Some(*t),
            Low::Pct(_) => Some(T::Num),
            _ => None,
        }
    }

    /// Marks a slot's strings for interning at ingest.
    fn mark_sym_at(&mut self, opened: &[SlotRef], slot: SlotRef) {
        let layout = self.ir.layout_for_mut(opened, slot.depth as usize);
        layout.slots[slot.id as usize].needs_sym = true;
    }

    fn in_test(
        &mut self,
        sc: &mut Scope<'a>,
        negated: bool,
        nocase: bool,
        cidr: bool,
        lhs: &'a Expr,
        rhs: &'a Expr,
    ) -> Result<Low, LowerError> {
        let l = self.expr(sc, lhs)?;
        let r = self.expr(sc, rhs)?;
        let items = match r {
            Low::List(items) => items,
            Low::Str(s) => vec![Low::Str(s)],
            Low::Node(n, T::Dyn) => {
                // Membership in an array field: any element equals the value.
                let Node::Slot(arr, _) = *self.ir.node(n) else {
                    return err(rhs.span, "`in` needs a list");
                };
                if cidr {
                    return fail(
                        Code::ConstantRequired,
                        rhs.span,
                        "`in cidr` needs constant prefixes",
                    );
                }
                let layout = self.ir.layout_for_mut(&sc.opened, arr.depth as usize);
                let own = layout.elem_mut(arr.id).slot(SlotSource::Field(Vec::new()));
                let mut opened = sc.opened.clone();
                opened.push(arr);
                let depth = opened.len() as u8;
                let e = self.dyn_slot(SlotRef { depth, id: own });
                let eq = self.compare(&opened, CmpOp::Eq, l, e, None, None, nocase, rhs.span)?;
                let q = self.ir.add(Node::Quant {
                    all: false,
                    slot: arr,
                    body: eq,
                    depth,
                });
                let id = if negated { self.not(q) } else { q };
                return Ok(Low::Node(id, T::Bool));
            }
            _ => return err(rhs.span, "`in` needs a list"),
        };
        if cidr {
            let mut pats = Vec::new();
            for it in &items {
                match it {
                    Low::Str(s) => pats.push(s.as_str()),
                    _ => {
                        return fail(
                            Code::ConstantRequired,
                            rhs.span,
                            "`in cidr` needs a list of prefixes",
                        );
                    }
                }
            }
            let trie = CidrTrie::new(pats).map_err(|m| LowerError {
                code: Code::ConstantRequired,
                message: m,
                span: rhs.span,
            })?;
            return Ok(match l {
                Low::Str(s) => {
                    let v = trie.lookup(&s).is_some_and(|hit| hit != negated);
                    Low::Node(self.ir.add(Node::Bool(v)), T::Bool)
                }
                Low::Node(n, T::Dyn) => {
                    let Node::Slot(slot, _) = *self.ir.node(n) else {
                        return fail(
                            Code::EventFieldRequired,
                            lhs.span,
                            "`in cidr` needs an address field",
                        );
                    };
                    self.ir.cidrs.push(trie);
                    let id = self.ir.add(Node::Cidr {
                        slot,
                        trie: self.ir.cidrs.len() as u32 - 1,
                        negated,
                    });
                    Low::Node(id, T::Bool)
                }
                _ => Low::Node(self.ir.add(Node::Bool(false)), T::Bool),
            });
        }
        let all_str = items.iter().all(|i| matches!(i, Low::Str(_)));
        if all_str && !items.is_empty() {
            let strs: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Low::Str(s) => s.clone(),
                    _ => String::new(),
                })
                .collect();
            if nocase {
                let path = sc.opened.clone();
                return self.text(
                    &path,
                    l,
                    TextOp::Equals,
                    false,
                    true,
                    strs,
                    negated,
                    lhs.span,
                );
            }
            return Ok(match l {
                Low::Str(s) => Low::Node(
                    self.ir.add(Node::Bool(strs.contains(&s) != negated)),
                    T::Bool,
                ),
                Low::Node(n, T::Dyn) => {
                    let Node::Slot(slot, _) = *self.ir.node(n) else {
                        return Ok(Low::Node(self.ir.add(Node::Bool(false)), T::Bool));
                    };
                    self.mark_sym_at(&sc.opened, slot);
                    let mut set: Vec<Sym> =
                        strs.iter().map(|s| self.ir.strings.intern(s)).collect();
                    set.sort_unstable();
                    set.dedup();
                    let idx = match self.ir.sets.iter().position(|s| *s == set) {
                        Some(i) => i,
                        None => {
                            self.ir.sets.push(set);
                            self.ir.sets.len() - 1
                        }
                    };
                    let id = self.ir.add(Node::InSyms {
                        slot,
                        set: idx as u32,
                        negated,
                    });
                    Low::Node(id, T::Bool)
                }
                _ => Low::Node(self.ir.add(Node::Bool(false)), T::Bool),
            });
        }
        // Numbers (or an empty list).
        let partner = self.unit(lhs.span);
        let mut values = Vec::new();
        for it in items {
            match it {
                Low::Pct(p) => values.push(pct(p, partner).to_bits()),
                Low::Node(n, T::Num) => match self.ir.node(n) {
                    Node::Num(b) => values.push(*b),
                    _ => {
                        return fail(
                            Code::ConstantRequired,
                            rhs.span,
                            "`in` needs a list of constants",
                        );
                    }
                },
                Low::Node(n, T::Bool) => match self.ir.node(n) {
                    Node::Bool(b) => values.push((*b as u8 as f64).to_bits()),
                    _ => {
                        return fail(
                            Code::ConstantRequired,
                            rhs.span,
                            "`in` needs a list of constants",
                        );
                    }
                },
                Low::Node(..) => {
                    return fail(
                        Code::ConstantRequired,
                        rhs.span,
                        "`in [..]` needs constants; this list holds a value read per event",
                    );
                }
                _ => {
                    return fail(
                        Code::ConstantRequired,
                        rhs.span,
                        "`in` needs a list of one kind of constant",
                    );
                }
            }
        }
        if matches!(l, Low::Str(_)) {
            return Ok(Low::Node(self.ir.add(Node::Bool(negated)), T::Bool));
        }
        let lhs_n = self.number(l, None, lhs.span)?;
        let id = self.ir.add(Node::InNums {
            lhs: lhs_n,
            values,
            negated,
        });
        Ok(Low::Node(self.fold_bool(id), T::Bool))
    }

    /// A string operator with constant patterns.
    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        path: &[SlotRef],
        l: Low,
        op: TextOp,
        all: bool,
        nocase: bool,
        pats: Vec<String>,
        negated: bool,
        span: Span,
    ) -> Result<Low, LowerError> {
        let test = TextTest::new(op, all, nocase, pats).map_err(|m| LowerError {
            code: Code::CannotEvaluate,
            message: m,
            span,
        })?;
        Ok(match l {
            Low::Str(s) => Low::Node(self.ir.add(Node::Bool(test.test(&s) != negated)), T::Bool),
            Low::List(items) => {
                let strs: Vec<String> = items
                    .into_iter()
                    .filter_map(|i| match i {
                        Low::Str(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                let v = test.test_elements(strs.iter().map(String::as_str)) != negated;
                Low::Node(self.ir.add(Node::Bool(v)), T::Bool)
            }
            Low::Node(n, T::Dyn) => {
                let Node::Slot(slot, _) = *self.ir.node(n) else {
                    return Ok(Low::Node(self.ir.add(Node::Bool(false)), T::Bool));
                };
                // An array here is tested element by element: give it an element layout
                // whose slot 0 (path `[]`) is the element itself.
                let layout = self.ir.layout_for_mut(path, slot.depth as usize);
                let elem = Some(layout.elem_mut(slot.id).slot(SlotSource::Field(Vec::new())));
                self.ir.texts.push(test);
                let id = self.ir.add(Node::Text {
                    slot,
                    test: self.ir.texts.len() as u32 - 1,
                    negated,
                    elem,
                });
                Low::Node(id, T::Bool)
            }
            _ => Low::Node(self.ir.add(Node::Bool(false)), T::Bool),
        })
    }

    /// A value as a number node. Percent literals scale by their partner's unit.
    fn number(&mut self, l: Low, partner: Option<Unit>, span: Span) -> Result<NodeId, LowerError> {
        match l {
            Low::Pct(p) => Ok(self.ir.add(Node::Num(pct(p, partner).to_bits()))),
            Low::Node(n, T::Num) => Ok(n),
            Low::Node(n, _) => self.as_kind(&Low::Node(n, T::Dyn), Kind::Num, span),
            _ => err(span, "expected a number"),
        }
    }

    /// A value as a condition.
    fn boolean(&mut self, l: Low, span: Span) -> Result<NodeId, LowerError> {
        match l {
            Low::Node(n, T::Bool) => Ok(n),
            Low::Node(n, T::Dyn) => self.as_kind(&Low::Node(n, T::Dyn), Kind::Bool, span),
            Low::Node(n, T::Num) => match *self.ir.node(n) {
                // An anomaly score used bare: "above the method's bound", supplied as a flag;
                // `at_least(..)` is itself a condition.
                Node::Slot(r, Kind::Num) if r.depth == 0 => {
                    match self.ir.series.get(&r.id).cloned() {
                        Some(series::SeriesExpr::Anomaly {
                            method,
                            sel,
                            range,
                            season,
                            bands,
                            ..
                        }) => {
                            let id = self.series_slot(series::SeriesExpr::Anomaly {
                                method,
                                sel,
                                range,
                                season,
                                bands,
                                flag: true,
                            });
                            Ok(self
                                .ir
                                .add(Node::Slot(SlotRef { depth: 0, id }, Kind::Bool)))
                        }
                        Some(series::SeriesExpr::AtLeast(..)) => {
                            Ok(self.ir.add(Node::Slot(r, Kind::Bool)))
                        }
                        _ => err(span, "expected a condition, found a number"),
                    }
                }
                _ => err(span, "expected a condition, found a number"),
            },
            _ => err(span, "expected a condition"),
        }
    }

    /// Reads a slot node as another kind.
    fn as_kind(&mut self, l: &Low, kind: Kind, span: Span) -> Result<NodeId, LowerError> {
        match l {
            Low::Node(n, t) => match *self.ir.node(*n) {
                Node::Slot(r, _) => Ok(self.ir.add(Node::Slot(r, kind))),
                _ if (kind == Kind::Bool && *t == T::Bool)
                    || (kind == Kind::Num && *t == T::Num) =>
                {
                    Ok(*n)
                }
                _ => err(span, "mismatched operand kinds"),
            },
            Low::Pct(p) => Ok(self.ir.add(Node::Num(pct(*p, None).to_bits()))),
            _ => err(span, "mismatched operand kinds"),
        }
    }

    fn not(&mut self, b: NodeId) -> NodeId {
        match *self.ir.node(b) {
            Node::Bool(v) => self.ir.add(Node::Bool(!v)),
            Node::Not(inner) => inner,
            _ => self.ir.add(Node::Not(b)),
        }
    }

    /// A conjunction: flattened, constants folded, cheapest first.
    fn and(&mut self, parts: Vec<NodeId>) -> NodeId {
        self.junction(parts, true)
    }
    fn or(&mut self, parts: Vec<NodeId>) -> NodeId {
        self.junction(parts, false)
    }
    fn junction(&mut self, parts: Vec<NodeId>, and: bool) -> NodeId {
        let mut flat = Vec::new();
        for p in parts {
            match self.ir.node(p) {
                Node::Bool(b) if *b == and => {}
                Node::Bool(_) => return p,
                Node::And(v) if and => flat.extend(v.clone()),
                Node::Or(v) if !and => flat.extend(v.clone()),
                _ => flat.push(p),
            }
        }
        let mut seen = HashSet::new();
        flat.retain(|p| seen.insert(*p));
        match flat.len() {
            0 => self.ir.add(Node::Bool(and)),
            1 => flat[0],
            _ => {
                flat.sort_by_key(|&p| self.ir.cost(p));
                self.ir
                    .add(if and { Node::And(flat) } else { Node::Or(flat) })
            }
        }
    }

    /// Folds a numeric node whose inputs are constants.
    fn fold(&mut self, id: NodeId, t: T) -> Low {
        if let Some(v) = crate::eval::interp::fold_num(&self.ir, id) {
            return self.num(v);
        }
        Low::Node(id, t)
    }
    fn fold_bool(&mut self, id: NodeId) -> NodeId {
        match crate::eval::interp::fold_bool(&self.ir, id) {
            Some(b) => self.ir.add(Node::Bool(b)),
            None => id,
        }
    }
}

/// A percent literal's value against a partner of `unit`.
fn pct(p: f64, unit: Option<Unit>) -> f64 {
    if unit == Some(Unit::Percent) {
        p
    } else {
        p / 100.0
    }
}

/// The IR's string operator for the language's.
fn text_op(op: ast::StrOp) -> TextOp {
    match op {
        ast::StrOp::Contains => TextOp::Contains,
        ast::StrOp::StartsWith => TextOp::StartsWith,
        ast::StrOp::EndsWith => TextOp::EndsWith,
        ast::StrOp::Matches => TextOp::Matches,
        ast::StrOp::Glob => TextOp::Glob,
        ast::StrOp::Under => TextOp::Under,
    }
}

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

mod aggregates;
mod calls;
mod compare;
mod encoders;
mod exprs;
mod kinds;
mod membership;
mod plan;
mod plan_calls;
pub mod routes;
mod rules;
mod test_blocks;

use kinds::{pct, text_op};

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
    let (mut ir, errors) = lower_all(checked);
    ir.routing = routing(checked);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(ir),
    }
}

/// Everything a checked rule set says about notifying ([`routes::routing`]), with playbook
/// templates' `{{ name }}` filled in where `name` is a constant (an `open const` a user may
/// `override`: a pack's configurable endpoint); other placeholders stay for the alert.
pub fn routing(checked: &Checked) -> vigil_vocab::notify::Routing {
    let mut out = routes::routing(checked);
    let mut lw = Lowerer::new(checked);
    for (fi, f) in checked.files.iter().enumerate() {
        for d in &f.module.decls {
            let DeclKind::Playbook { name, .. } = &d.kind else {
                continue;
            };
            let Some(plan) = out.playbooks.get_mut(&name.name) else {
                continue;
            };
            for step in &mut plan.steps {
                for text in step.templates_mut() {
                    *text = lw.fill_consts(fi, text, d.span);
                }
            }
        }
    }
    out
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
                DeclKind::Record { name, expr, labels } => lw.record(fi, name, expr, labels),
                _ => Ok(()),
            };
            errors.extend(r.err());
        }
    }
    errors.extend(lw.fill_lists().err());
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
    /// The list declaration behind each of `ir.lists`.
    file_lists: Vec<SymKey>,
    /// Lists read from files whose entries were inlined somewhere (their files reload the
    /// rules when they change).
    inlined_lists: HashSet<SymKey>,
}

/// One side of a comparison, with its unit (a percent literal on the other side scales by it).
#[derive(Debug, Clone)]
struct Operand {
    low: Low,
    unit: Option<Unit>,
}

impl Operand {
    fn plain(low: Low) -> Operand {
        Operand { low, unit: None }
    }
}

/// A membership test's flags and operand places.
#[derive(Debug, Clone, Copy)]
struct Membership {
    negated: bool,
    nocase: bool,
    lhs: Span,
    rhs: Span,
}

/// A string operator with constant patterns, as [`Lowerer::text`] compiles it.
#[derive(Debug, Clone, Copy)]
struct TextSpec {
    op: TextOp,
    /// Every pattern must hold (`contains all`).
    all: bool,
    nocase: bool,
    negated: bool,
    /// An array is tested element by element (string operators); `==`/`in` compare the whole
    /// value, so an array is never equal to a string, with or without `nocase`.
    elements: bool,
}

impl TextSpec {
    /// `==`/`in` under `nocase`: equality by lower case.
    fn equals_nocase(negated: bool) -> TextSpec {
        TextSpec {
            op: TextOp::Equals,
            all: false,
            nocase: true,
            negated,
            elements: false,
        }
    }
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
    /// A lowerer for a checked program: what every file declares about the others (`disable`,
    /// `override`, `extend`), file-wide `strings nocase`, and metric unit scales.
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
            file_lists: Vec::new(),
            inlined_lists: HashSet::new(),
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
                    let arg = unit_arg.as_ref().map(|a| a.name.as_str());
                    lw.metric_scale
                        .insert(name.name.clone(), unit_scale(&unit.name, arg));
                }
                lw.amendment(fi, &d.kind);
            }
        }
        lw
    }

    /// Records a `disable`, `override` or `extend` declared in file `fi`.
    fn amendment(&mut self, fi: usize, kind: &'a DeclKind) {
        let ck = self.ck;
        let resolve = |ns, t: &ast::Ident| ck.syms.resolve(&ck.files, fi, ns, &t.name);
        match kind {
            DeclKind::Disable { target, kind } => {
                let ns = if *kind == ast::TargetKind::Rule {
                    Namespace::Rule
                } else {
                    Namespace::Value
                };
                if let Some(k) = resolve(ns, target) {
                    self.disabled.insert(k);
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
                    self.overrides.insert(k, (fi, value));
                }
            }
            DeclKind::ExtendList { target, items } => {
                if let Some(k) = resolve(Namespace::Value, target) {
                    self.extends.entry(k).or_default().push((fi, items));
                }
            }
            DeclKind::ExtendException { target, values } => {
                if let Some(k) = resolve(Namespace::Exception, target) {
                    let rows = self.exception_rows.entry(k).or_default();
                    rows.extend(values.iter().map(|t| (fi, t)));
                }
            }
            _ => {}
        }
    }
}

/// The factor from a declared metric unit to base units (`duration(ms)` is 0.001).
fn unit_scale(unit: &str, arg: Option<&str>) -> f64 {
    match (unit, arg) {
        ("duration", Some("ms")) => 0.001,
        ("duration", Some("us")) => 1e-6,
        ("duration", Some("ns")) => 1e-9,
        ("duration", Some("m")) => 60.0,
        ("duration", Some("h")) => 3600.0,
        _ => 1.0,
    }
}

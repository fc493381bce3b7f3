//! The abstract syntax tree. Every node carries its span; nothing here knows about pest.

use crate::source::Span;

/// The alert vocabulary the AST shares with the engine and, later, routing and the audit log.
pub use vigil_vocab::{AlertState, MatchOp, NoDataAction, Severity};

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal after escape processing.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, Default)]
pub struct Module {
    pub decls: Vec<Decl>,
}

#[derive(Debug, Clone)]
pub struct Decl {
    pub kind: DeclKind,
    pub span: Span,
    /// Declared `open`: users may extend, override or disable it.
    pub open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Const,
    List,
    Macro,
    Rule,
    Exception,
}

impl TargetKind {
    pub fn word(self) -> &'static str {
        match self {
            TargetKind::Const => "const",
            TargetKind::List => "list",
            TargetKind::Macro => "macro",
            TargetKind::Rule => "rule",
            TargetKind::Exception => "exception",
        }
    }
}

#[derive(Debug, Clone)]
pub enum DeclKind {
    Package(Ident),
    Import {
        path: StrLit,
        alias: Option<Ident>,
    },
    Interval(Expr),
    StringsNocase,
    /// `defaults { ... }`: rule clauses (`no_data`, `keep_firing`, `cooldown`, `delay`) for
    /// every rule of the package that does not give its own.
    Defaults(Vec<Clause>),
    Const {
        name: Ident,
        value: Expr,
    },
    Metric {
        name: Ident,
        unit: Ident,
        unit_arg: Option<Ident>,
        labels: Option<Vec<Ident>>,
    },
    List {
        name: Ident,
        elem: Option<Ident>,
        /// The literal, or for `file("path")` the file's entries as strings (read by the
        /// loader; empty until then), each spanning the path.
        items: Expr,
        /// `file("path")`: the list is read from this file (relative to the rules file).
        file: Option<StrLit>,
    },
    Macro {
        name: Ident,
        body: Expr,
    },
    Schema {
        name: Ident,
        fields: Vec<SchemaField>,
    },
    Calendar {
        name: Ident,
        tz: StrLit,
        sessions: Vec<Session>,
        holidays: Option<StrLit>,
        /// The holidays file's text, read by the loader (`None` until then, or unreadable).
        holidays_text: Option<String>,
    },
    Record {
        name: Ident,
        expr: Expr,
        /// `labels { k = "v" }` set on every recorded series (string literals).
        labels: Vec<(Ident, Expr)>,
    },
    Exception {
        name: Ident,
        params: Vec<(Ident, Ident)>,
        body: Expr,
        values: Vec<Tuple>,
    },
    ExtendList {
        target: Ident,
        items: Expr,
    },
    ExtendException {
        target: Ident,
        values: Vec<Tuple>,
    },
    Override {
        kind: TargetKind,
        target: Ident,
        value: Expr,
    },
    Disable {
        kind: TargetKind,
        target: Ident,
    },
    Rule(Rule),
    Notifier {
        name: Ident,
        kind: Ident,
        args: Vec<(Ident, Expr)>,
    },
    Route(RouteBody),
    Inhibit {
        source: LabelCond,
        /// `unless`: the alerts are muted while none matching `target` fires.
        unless: bool,
        target: LabelCond,
        equal: Vec<Ident>,
    },
    Playbook {
        name: Ident,
        items: Vec<PlaybookItem>,
    },
    Test(Test),
}

#[derive(Debug, Clone)]
pub struct SchemaField {
    pub name: Ident,
    pub ty: FieldType,
}

#[derive(Debug, Clone)]
pub enum FieldType {
    Named(Ident),
    Array(Box<FieldType>),
    Object(Vec<SchemaField>),
}

#[derive(Debug, Clone)]
pub struct Session {
    pub from_day: Ident,
    pub to_day: Option<Ident>,
    pub open: Ident,
    pub close: Ident,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Tuple {
    pub values: Vec<Expr>,
    pub span: Span,
}

// ---------------------------------------------------------------- rules

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: Ident,
    pub clauses: Vec<Clause>,
}

#[derive(Debug, Clone)]
pub struct Clause {
    pub kind: ClauseKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ClauseKind {
    Severity(Severity),
    Labels(Vec<(Ident, Expr)>),
    Let {
        name: Ident,
        value: Expr,
    },
    OnEvent(Option<Expr>),
    Sequence(Sequence),
    /// `when` (level `None`) or `warning when ...` with its own `for` and recovery.
    When {
        level: Option<(Severity, Span)>,
        cond: Expr,
        for_: Option<Expr>,
        recover: Option<Expr>,
    },
    Recover(Expr),
    KeepFiring(Expr),
    NoData {
        after: Expr,
        action: NoDataAction,
    },
    Flapping {
        low: f64,
        high: f64,
        over: Expr,
    },
    Throttle {
        count: f64,
        per: Expr,
        by: Vec<Expr>,
    },
    Cooldown(Expr),
    Delay(Expr),
    Interval(Expr),
    StringsNocase,
    Except(Vec<Ident>),
    Summary(StrLit),
    Description(StrLit),
    /// `annotations { k = "template" }`: values are string literals (checked as templates).
    Annotations(Vec<(Ident, Expr)>),
    Notify(Vec<Ident>),
    Playbook(Ident),
}

#[derive(Debug, Clone)]
pub struct Sequence {
    pub any_order: bool,
    pub by: Vec<Expr>,
    /// None: partial matches have no time limit.
    pub within: Option<Expr>,
    pub steps: Vec<SeqStep>,
    pub until: Vec<Expr>,
}

#[derive(Debug, Clone)]
pub struct SeqStep {
    pub name: Ident,
    pub missing: bool,
    pub cond: Expr,
    pub key: Option<Expr>,
    pub repeat: Option<f64>,
    pub span: Span,
}

// ---------------------------------------------------------------- routes and playbooks

#[derive(Debug, Clone)]
pub struct RouteBody {
    pub items: Vec<RouteItem>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum RouteItem {
    GroupBy(Vec<Ident>, Span),
    GroupWait(Expr),
    GroupInterval(Expr),
    Repeat(Expr),
    Match {
        cond: LabelCond,
        during: Option<Ident>,
        /// `muted during CAL`.
        muted: Option<Ident>,
        target: RouteTarget,
        span: Span,
    },
    Default {
        targets: Vec<Ident>,
        span: Span,
    },
}

#[derive(Debug, Clone)]
pub enum RouteTarget {
    /// `match cond { ... } [continue]`.
    Nested { body: RouteBody, cont: bool },
    /// `match cond -> a, b [continue]`.
    Notifiers { targets: Vec<Ident>, cont: bool },
}

/// A condition over alert labels, as routes and inhibits write them.
#[derive(Debug, Clone)]
pub enum LabelCond {
    Or(Vec<LabelCond>, Span),
    And(Vec<LabelCond>, Span),
    Not(Box<LabelCond>, Span),
    Match {
        label: Ident,
        op: MatchOp,
        value: LabelValue,
        span: Span,
    },
}

impl LabelCond {
    pub fn span(&self) -> Span {
        match self {
            LabelCond::Or(_, s) | LabelCond::And(_, s) | LabelCond::Not(_, s) => *s,
            LabelCond::Match { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    Str(StrLit),
    Regex(StrLit),
    Word(Ident),
}

impl LabelValue {
    pub fn text(&self) -> &str {
        match self {
            LabelValue::Str(s) | LabelValue::Regex(s) => &s.value,
            LabelValue::Word(w) => &w.name,
        }
    }
    pub fn span(&self) -> Span {
        match self {
            LabelValue::Str(s) | LabelValue::Regex(s) => s.span,
            LabelValue::Word(w) => w.span,
        }
    }
}

#[derive(Debug, Clone)]
pub enum PlaybookItem {
    Notify {
        notifier: Ident,
        message: Option<StrLit>,
        span: Span,
    },
    Http {
        method: Ident,
        url: StrLit,
        body: Vec<(Ident, Expr)>,
        timeout: Option<Expr>,
        retries: Option<f64>,
        /// `idempotent`: a restart during the request sends it again.
        idempotent: bool,
        span: Span,
    },
    Approve {
        by: StrLit,
        span: Span,
    },
    Shell {
        command: StrLit,
        timeout: Option<Expr>,
        span: Span,
    },
    /// `step ... if COND`: a step that runs only when the alert's labels hold `cond`.
    Conditional {
        cond: LabelCond,
        step: Box<PlaybookItem>,
        span: Span,
    },
    Wait {
        duration: Expr,
        unless_acknowledged: bool,
        span: Span,
    },
    RateLimit {
        count: f64,
        per: Expr,
        span: Span,
    },
}

// ---------------------------------------------------------------- tests

#[derive(Debug, Clone)]
pub struct Test {
    pub name: StrLit,
    pub items: Vec<TestItem>,
}

#[derive(Debug, Clone)]
pub enum TestItem {
    Interval(Expr),
    Series {
        selector: Expr,
        every: Expr,
        values: StrLit,
    },
    EventsFrom(StrLit),
    EventsEvery {
        every: Expr,
        count: f64,
        object: Vec<(Ident, Expr)>,
        span: Span,
    },
    EventAt {
        at: Expr,
        object: Vec<(Ident, Expr)>,
    },
    Advance(Expr),
    ExpectState {
        rule: Ident,
        state: AlertState,
        at: Expr,
        with: Vec<(Ident, Expr)>,
    },
    ExpectNo {
        rule: Ident,
        state: AlertState,
        at: Option<Expr>,
        with: Vec<(Ident, Expr)>,
    },
    /// `expect [no] notification N [at T] [with {labels}]` (`at` is required without `no`).
    ExpectNotification {
        notifier: Ident,
        at: Option<Expr>,
        with: Vec<(Ident, Expr)>,
        negated: bool,
    },
    /// `silence {labels} from T to T`.
    Silence {
        labels: Vec<(Ident, Expr)>,
        from: Expr,
        to: Expr,
    },
    /// `expect playbook P step N done|waiting|skipped|failed|pending [at T]`.
    ExpectPlaybook {
        playbook: Ident,
        step: f64,
        outcome: Ident,
        at: Option<Expr>,
    },
    ExpectNothingElse(Span),
}

// ---------------------------------------------------------------- expressions

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrOp {
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    Glob,
    Under,
}

impl StrOp {
    pub fn word(self) -> &'static str {
        match self {
            StrOp::Contains => "contains",
            StrOp::StartsWith => "startswith",
            StrOp::EndsWith => "endswith",
            StrOp::Matches => "matches",
            StrOp::Glob => "glob",
            StrOp::Under => "under",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    Any,
    All,
}

/// `on [..]` / `ignoring [..]` after a binary operator's right operand.
#[derive(Debug, Clone, PartialEq)]
pub struct Matching {
    pub ignoring: bool,
    pub labels: Vec<Ident>,
    /// `group_left [..]` / `group_right [..]`: many-to-one, declared.
    pub group: Option<Group>,
    pub span: Span,
}

/// `group_left [extra]` (`left` true) or `group_right [extra]`: the named side may hold several
/// series per matching key and keeps its labels, plus `extra` copied from the other side.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub left: bool,
    pub extra: Vec<Ident>,
    pub span: Span,
}

/// How a call groups: `by [labels]` / `without [labels]` for series, `by event.x` for events.
#[derive(Debug, Clone, PartialEq)]
pub enum Grouping {
    By(Vec<Ident>, Span),
    Without(Vec<Ident>, Span),
    Fields(Vec<Expr>, Span),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub label: Ident,
    pub op: MatchOp,
    pub value: StrLit,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(f64),
    /// `80%`, kept as written (80.0); its meaning depends on what it is compared with.
    Percent(f64),
    /// In seconds.
    Duration(f64),
    /// In bytes.
    Bytes(f64),
    Str(String),
    Regex(String),
    Bool(bool),
    List(Vec<Expr>),
    Spread(Ident),
    /// A name: const, list, macro, let, rule, quantifier variable field (`p.name`), or a metric
    /// selector with matchers.
    Ref {
        name: String,
        matchers: Vec<Matcher>,
    },
    /// `event.a.b`; empty path is the whole event.
    Field(Vec<Ident>),
    AlertField(Vec<Ident>),
    Index(Box<Expr>, f64),
    Unary(UnOp, Box<Expr>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        matching: Option<Matching>,
    },
    In {
        negated: bool,
        nocase: bool,
        cidr: bool,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    StrTest {
        negated: bool,
        op: StrOp,
        quant: Option<Quant>,
        nocase: bool,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Is {
        lhs: Box<Expr>,
        what: Ident,
        p: Option<f64>,
    },
    Call {
        func: Ident,
        args: Vec<Arg>,
        group: Option<Grouping>,
        over: Option<Box<Expr>>,
    },
    Exists(Vec<Ident>),
    Quantifier {
        quant: Quant,
        var: Ident,
        over: Box<Expr>,
        pred: Box<Expr>,
    },
    Selection {
        quant: Quant,
        pattern: Ident,
    },
}

impl Expr {
    /// Visits this expression and every sub-expression, parents first.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        self.children(&mut |c| c.walk(f));
    }

    /// Calls `f` on each direct child expression.
    pub fn children<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        match &self.kind {
            ExprKind::List(items) => items.iter().for_each(f),
            ExprKind::Index(e, _) | ExprKind::Unary(_, e) => f(e),
            ExprKind::Binary { lhs, rhs, .. }
            | ExprKind::In { lhs, rhs, .. }
            | ExprKind::StrTest { lhs, rhs, .. } => {
                f(lhs);
                f(rhs);
            }
            ExprKind::Is { lhs, .. } => f(lhs),
            ExprKind::Call {
                args, group, over, ..
            } => {
                args.iter().for_each(|a| f(&a.value));
                if let Some(Grouping::Fields(fs, _)) = group {
                    fs.iter().for_each(&mut *f);
                }
                if let Some(o) = over {
                    f(o);
                }
            }
            ExprKind::Quantifier { over, pred, .. } => {
                f(over);
                f(pred);
            }
            _ => {}
        }
    }

    /// Where the tree first goes deeper than `max` levels, found without recursion (the
    /// tree may be too deep to recurse over).
    pub fn deeper_than(&self, max: usize) -> Option<Span> {
        let mut stack = vec![(self, 1usize)];
        while let Some((e, d)) = stack.pop() {
            if d > max {
                return Some(e.span);
            }
            e.children(&mut |c| stack.push((c, d + 1)));
        }
        None
    }
}

/// Whether a field path is `event.*` (every string value of the event).
pub fn is_all_strings(path: &[Ident]) -> bool {
    matches!(path, [one] if one.name == "*")
}

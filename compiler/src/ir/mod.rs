//! The evaluation IR: checked rules lowered to typed expressions over numbered *slots*.
//!
//! A slot is one value the runtime hands an evaluator: an event field (`event.proc.name`), a
//! metric aggregate (`avg(cpu_usage, 5m)`), a rule's state, the evaluation time. Slot numbers
//! are fixed at compile time, so evaluation is array indexing. Strings compared for equality
//! are interned to integers at compile time and at ingest, so `==` and `in [..]` are integer
//! work; every other string operator is compiled once into an automaton in [`tables`].
//!
//! Nodes live in one hash-consed arena per rule set: a macro used by fifty rules is one node,
//! and so is any identical sub-expression (common sub-expression sharing across rules).

pub mod events;
pub mod intern;
pub mod lists;
pub mod meta;
pub mod routes;
pub mod series;
pub mod tables;
pub mod testplan;

use std::collections::HashMap;
use vigil_vocab::{SecretRef, Severity};

pub use intern::Interner;

/// Index of a node in [`Ir::nodes`].
pub type NodeId = u32;
/// An interned string. [`NO_SYM`] is any string no rule mentions.
pub type Sym = u32;
pub const NO_SYM: Sym = u32::MAX;

/// A slot in one frame. `depth` 0 is the event (or series row); depth `d > 0` is the element
/// of the `d`-th enclosing array quantifier, whose layout is [`SlotInfo::elem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotRef {
    pub depth: u8,
    pub id: u32,
}

/// How a slot is read: the value must have this kind, or the read is *missing*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Num,
    Bool,
    Str,
    /// Whatever the field holds (comparisons between two dynamic fields).
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl std::fmt::Display for CmpOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

impl std::fmt::Display for Arith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arith::Add => "+",
            Arith::Sub => "-",
            Arith::Mul => "*",
            Arith::Div => "/",
            Arith::Min => "min",
            Arith::Max => "max",
            Arith::Round => "round",
        })
    }
}

impl CmpOp {
    /// The same test with its operands swapped (`5 < x` is `x > 5`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }
    /// The comparison of two ordered values (`ord` is `a.cmp(b)`).
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }
    /// IEEE comparison: false when either side is NaN, except `!=`.
    pub fn num(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
    pub fn code(self) -> u32 {
        self as u32
    }
    pub fn from_code(c: u32) -> CmpOp {
        match c {
            0 => CmpOp::Eq,
            1 => CmpOp::Ne,
            2 => CmpOp::Lt,
            3 => CmpOp::Le,
            4 => CmpOp::Gt,
            _ => CmpOp::Ge,
        }
    }
}

/// What a comparison compares, decided at compile time from the operands' types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpKind {
    /// Two numbers (IEEE).
    Num,
    /// Two booleans (false < true).
    Bool,
    /// A string slot and a constant: `==` and `!=` by interned id, ordering byte-wise.
    Sym,
    /// Two dynamic slots: equal kinds compare as that kind (strings byte-wise), different
    /// kinds are never related.
    Dyn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    /// NaN if either is NaN, else the smaller (the right one when equal).
    Min,
    Max,
    /// `round(x, to)`: x rounded half away from zero to a multiple of `to`.
    Round,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Math {
    Neg,
    Abs,
    Ln,
    Log10,
}

/// One IR node. Numeric and boolean nodes may be *missing* (a slot without a value of the
/// kind read); see docs/language.md, "Evaluation", for how missing values propagate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    /// A number, by its bits (so nodes hash and compare exactly).
    Num(u64),
    Bool(bool),
    /// A constant string: the right side of a [`CmpKind::Sym`] comparison.
    Str(Sym),
    /// The value of secret [`Ir::secrets`]`[i]` (`env("NAME")`), a string: replaced by a
    /// [`Node::Str`] when a rule set is loaded, so the IR itself only names the variable.
    Env(u32),
    Slot(SlotRef, Kind),
    /// The slot holds any value (`exists event.x`).
    Exists(SlotRef),
    Math(Math, NodeId),
    Arith(Arith, NodeId, NodeId),
    Cmp(CmpOp, CmpKind, NodeId, NodeId),
    Not(NodeId),
    /// Short-circuit, left to right; children are ordered cheapest first.
    And(Vec<NodeId>),
    Or(Vec<NodeId>),
    /// A string slot's interned id is one of a set ([`Ir::sets`]).
    InSyms {
        slot: SlotRef,
        set: u32,
        negated: bool,
    },
    /// A number is one of a constant list (IEEE equality).
    InNums {
        lhs: NodeId,
        values: Vec<u64>,
        negated: bool,
    },
    /// A string operator, compiled into [`Ir::texts`]. On an array slot it tests the elements
    /// (`elem` is the element's own slot in the array's element layout).
    Text {
        slot: SlotRef,
        test: u32,
        negated: bool,
        elem: Option<u32>,
    },
    /// A string operator whose pattern is another field (`contains`, `startswith`,
    /// `endswith`, `under`): both must be strings.
    TextField {
        op: tables::TextOp,
        nocase: bool,
        negated: bool,
        lhs: SlotRef,
        rhs: SlotRef,
    },
    /// A slot tested against a list read from a file ([`Ir::lists`]), whose contents can
    /// be replaced while the rules run: use `test` of the list (membership, a CIDR, a string
    /// operator). A string operator on an array slot tests the elements (`elem` as in
    /// [`Node::Text`]).
    InList {
        slot: SlotRef,
        list: u32,
        test: u32,
        negated: bool,
        elem: Option<u32>,
    },
    /// An IP address in a CIDR prefix trie ([`Ir::cidrs`]).
    Cidr {
        slot: SlotRef,
        trie: u32,
        negated: bool,
    },
    /// `any`/`all` over an array slot's elements; `body` reads each element as frame
    /// `depth`.
    Quant {
        all: bool,
        slot: SlotRef,
        body: NodeId,
        depth: u8,
    },
}

impl Node {
    /// Children, for walks.
    pub fn children(&self) -> Vec<NodeId> {
        match self {
            Node::Math(_, a) | Node::Not(a) => vec![*a],
            Node::InNums { lhs, .. } => vec![*lhs],
            Node::Quant { body, .. } => vec![*body],
            Node::Arith(_, a, b) | Node::Cmp(_, _, a, b) => vec![*a, *b],
            Node::And(v) | Node::Or(v) => v.clone(),
            _ => Vec::new(),
        }
    }
}

/// Where the runtime takes a slot's value from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SlotSource {
    /// An event field path (`event.proc.args[0]` is `["proc", "args", "0"]` with the index
    /// marked); relative to the array element inside a quantifier.
    Field(Vec<PathSeg>),
    /// A per-series value the metric engine computes (a window function, an aggregate, an
    /// anomaly test), by its canonical text.
    Series(String),
    /// An event aggregate (`count() by event.src_ip over 1m`), by its canonical text.
    Aggregate(String),
    /// Whether a rule fires (composites), `pkg.name`.
    Rule(String),
    /// A label of the alert a composite reads (`alert.service`).
    Alert(Vec<String>),
    /// The evaluation time, seconds since the Unix epoch.
    Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSeg {
    Key(String),
    Index(usize),
    /// `event.*`: every string value below, however deep, as one array.
    Strings,
}

/// One slot of a frame layout.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    pub source: SlotSource,
    /// Intern string values at ingest (equality with constants reads the id).
    pub needs_sym: bool,
    /// When the value is an array: the layout of each element.
    pub elem: Option<Layout>,
}

/// The slots of one frame, numbered.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub slots: Vec<SlotInfo>,
    by_source: HashMap<SlotSource, u32>,
}

impl Layout {
    /// The slot for a source, added on first use.
    pub fn slot(&mut self, source: SlotSource) -> u32 {
        if let Some(&id) = self.by_source.get(&source) {
            return id;
        }
        let id = self.slots.len() as u32;
        self.by_source.insert(source.clone(), id);
        self.slots.push(SlotInfo {
            source,
            needs_sym: false,
            elem: None,
        });
        id
    }
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// How many slots each element of array slot `id` has (0 when it has no element layout).
    pub fn elem_width(&self, id: u32) -> usize {
        self.slots
            .get(id as usize)
            .and_then(|s| s.elem.as_ref())
            .map_or(0, Layout::len)
    }
    /// The element layout of slot `id`, created on first use.
    pub fn elem_mut(&mut self, id: u32) -> &mut Layout {
        self.slots[id as usize]
            .elem
            .get_or_insert_with(Layout::default)
    }
}

/// What a program computes for its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `on event where ...` (with `except` tables folded in): does this event concern the rule?
    Filter,
    /// A sequence step's predicate, by step name.
    Step(String),
    /// A sequence's `until` predicate.
    Until,
    /// A `when` condition (per event for single-event rules, per series or group otherwise),
    /// with its severity level when the rule has several.
    When(Option<Severity>),
    /// A `recover when` condition.
    Recover(Option<Severity>),
    /// The value an alert of this level reports (`{{ value }}`): the left operand of the
    /// condition's first comparison.
    Value(Option<Severity>),
    /// The number an event aggregate sums or averages (`sum(event.bytes) by ...`).
    Operand,
}

/// One compiled predicate or value: a root node and what it is for.
#[derive(Debug, Clone)]
pub struct Program {
    /// The rule, `pkg.name`.
    pub rule: String,
    pub role: Role,
    pub root: NodeId,
    /// Bool for predicates, Num for values.
    pub kind: Kind,
    /// For metric programs: how its series slots join into rows.
    pub rows: Option<series::Rows>,
}

/// `record name = plan labels { .. }`: one declaration (a name may have several).
#[derive(Debug, Clone)]
pub struct Record {
    pub name: String,
    pub plan: series::SeriesExpr,
    /// Set on every series it records (over the plan's own labels of those names).
    pub labels: Vec<(String, String)>,
}

/// A lowered rule set: arena, layout, constant tables and programs.
#[derive(Debug, Default)]
pub struct Ir {
    pub nodes: Vec<Node>,
    dedup: HashMap<Node, NodeId>,
    pub layout: Layout,
    pub strings: Interner,
    /// Sets of interned strings for [`Node::InSyms`], sorted.
    pub sets: Vec<Vec<Sym>>,
    pub texts: Vec<tables::TextTest>,
    pub cidrs: Vec<tables::CidrTrie>,
    /// Lists read from files that [`Node::InList`] tests at run time.
    pub lists: Vec<lists::FileList>,
    pub programs: Vec<Program>,
    /// What the metric engine computes for each series slot.
    pub series: HashMap<u32, series::SeriesExpr>,
    /// `record name = ...`: computed once per evaluation, stored as series `name`.
    pub records: Vec<Record>,
    /// Per rule: its clauses that drive the alert state machine.
    pub rules: Vec<meta::RuleMeta>,
    /// The shortest package `interval`, seconds.
    pub interval: Option<f64>,
    /// What the event engine computes for each event aggregate slot.
    pub event_aggs: HashMap<u32, events::EventAgg>,
    /// The secrets the rules compare with, by [`Node::Env`] index.
    pub secrets: Vec<SecretRef>,
    /// Files whose contents are compiled into the rules (lists read from files and used
    /// other than by [`Node::InList`], calendars' holidays): a change to one reloads the rules.
    pub list_files: Vec<std::path::PathBuf>,
    /// Notifiers, inhibitions, the route tree and what each rule's alerts carry.
    pub routing: vigil_vocab::notify::Routing,
}

impl Ir {
    /// Adds a node, or returns the identical one already there.
    pub fn add(&mut self, n: Node) -> NodeId {
        if let Some(&id) = self.dedup.get(&n) {
            return id;
        }
        let id = self.nodes.len() as NodeId;
        self.dedup.insert(n.clone(), id);
        self.nodes.push(n);
        id
    }
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }
    /// The node reading secret `name`.
    pub fn env(&mut self, name: &str) -> NodeId {
        let i = match self.secrets.iter().position(|s| s.name() == name) {
            Some(i) => i,
            None => {
                self.secrets.push(SecretRef::new(name));
                self.secrets.len() - 1
            }
        };
        self.add(Node::Env(i as u32))
    }
    /// Replaces every secret reference with its value (`lookup` by variable name; unset is
    /// the empty string), interned like any constant: done once, when a rule set is loaded.
    pub fn resolve_secrets(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        for id in 0..self.nodes.len() {
            if let Node::Env(i) = self.nodes[id] {
                let name = self.secrets.get(i as usize).map_or("", SecretRef::name);
                let sym = self.strings.intern(&lookup(name).unwrap_or_default());
                self.nodes[id] = Node::Str(sym);
            }
        }
    }
    /// The layout of frame `depth`, where `opened[d - 1]` is the array slot whose elements
    /// frame `d` holds.
    pub fn layout_for(&self, opened: &[SlotRef], depth: usize) -> Option<&Layout> {
        if depth == 0 {
            return Some(&self.layout);
        }
        let r = opened.get(depth - 1)?;
        self.layout_for(opened, r.depth as usize)?
            .slots
            .get(r.id as usize)?
            .elem
            .as_ref()
    }
    pub fn layout_for_mut(&mut self, opened: &[SlotRef], depth: usize) -> &mut Layout {
        if depth == 0 {
            return &mut self.layout;
        }
        let r = opened[depth - 1];
        self.layout_for_mut(opened, r.depth as usize).elem_mut(r.id)
    }
    /// A rough cost, to order `and`/`or` children cheapest first.
    pub fn cost(&self, id: NodeId) -> u32 {
        match self.node(id) {
            Node::Num(_)
            | Node::Bool(_)
            | Node::Str(_)
            | Node::Env(_)
            | Node::Slot(..)
            | Node::Exists(_) => 1,
            Node::InSyms { .. } => 3,
            Node::InNums { lhs, values, .. } => 1 + self.cost(*lhs) + values.len() as u32,
            Node::Text { .. } | Node::TextField { .. } => 40,
            Node::Cidr { .. } => 30,
            Node::InList { list, test, .. } => match self.lists[*list as usize].use_kind(*test) {
                Some(lists::ListTest::Exact) => 6,
                Some(lists::ListTest::Cidr) => 30,
                _ => 40,
            },
            Node::Quant { body, .. } => 20 + 8 * self.cost(*body),
            n => {
                let extra = match n {
                    Node::Cmp(_, CmpKind::Dyn, ..) => 10,
                    Node::Math(Math::Ln | Math::Log10, _) | Node::Arith(Arith::Round, ..) => 10,
                    _ => 1,
                };
                extra + n.children().iter().map(|c| self.cost(*c)).sum::<u32>()
            }
        }
    }
    /// Programs of one role, by index.
    pub fn filters(&self) -> impl Iterator<Item = (usize, &Program)> {
        self.programs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.role == Role::Filter)
    }
}

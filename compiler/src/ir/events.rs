//! Plans for event rules over time: what the event engine keeps per key (aggregates,
//! sequences, throttles). Fields are frame slots, conditions are programs; the runtime owns
//! the state.

/// An event aggregate function (`count() by event.k over w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventFn {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// Distinct values in the window (Sigma `value_count`).
    Distinct,
    /// Events with the current event's value / all events of the group, in the window.
    Share,
    /// The event at hand is its key's first in the window (Elastic's `new_terms`): true
    /// only for that event, never when an older one leaves the window.
    FirstSeen,
}

impl EventFn {
    pub fn from_name(name: &str) -> Option<EventFn> {
        Some(match name {
            "count" => EventFn::Count,
            "sum" => EventFn::Sum,
            "avg" => EventFn::Avg,
            "min" => EventFn::Min,
            "max" => EventFn::Max,
            "distinct" => EventFn::Distinct,
            "share" => EventFn::Share,
            "first_seen" => EventFn::FirstSeen,
            _ => return None,
        })
    }
    /// Whether the function counts values (kept per value, not per number).
    pub fn by_value(self) -> bool {
        matches!(self, EventFn::Distinct | EventFn::Share)
    }
}

/// A grouping key: the label it becomes (the field's last name) and the field's slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub label: String,
    pub slot: u32,
}

/// One event aggregate, read through its slot by the rule's conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct EventAgg {
    pub func: EventFn,
    /// The argument: a numeric program (sum/avg/min/max) or a field slot (distinct/share).
    pub arg: Option<AggArg>,
    pub keys: Vec<Key>,
    /// Seconds.
    pub window: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AggArg {
    /// A program index ([`super::Role::Operand`]) computing the number.
    Program(usize),
    /// A field slot whose value is counted.
    Field(u32),
}

/// `sequence [any order] by KEYS within W { steps; until P }`.
#[derive(Debug, Clone, PartialEq)]
pub struct SequencePlan {
    pub any_order: bool,
    pub keys: Vec<Key>,
    /// Seconds; infinite without `within` (the engine bounds it at its largest time).
    pub within: f64,
    pub steps: Vec<StepPlan>,
    /// The `until` program.
    pub until: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepPlan {
    pub name: String,
    /// The step's predicate ([`super::Role::Step`]).
    pub program: usize,
    pub missing: bool,
    /// `key event.f`: the step joins on this field too.
    pub key: Option<u32>,
    pub repeat: u32,
}

/// `throttle N per W by KEYS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    pub count: u32,
    /// Seconds.
    pub per: f64,
    pub keys: Vec<Key>,
}

/// What an event rule needs beyond its programs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPlan {
    /// The `on event where` program (with `except` folded in).
    pub filter: Option<usize>,
    /// Aggregate slots its conditions read.
    pub aggregates: Vec<u32>,
    pub sequence: Option<SequencePlan>,
    pub throttle: Option<Throttle>,
}

//! Event rules over time: single events, aggregates per key over sliding windows, sequences
//! and throttles, driven by event time.
//!
//! The rule index picks the rules whose `on event where` holds for an event; each such rule
//! updates the state of the event's *key* (the fields its aggregates or sequence group by)
//! and evaluates its conditions for that key only (`arrive.rs`). Time that passes without
//! events (a count dropping as events leave the window, a `for` running out, a trailing
//! `missing` step staying missing) is handled by timers fired as the event-time watermark
//! passes them (`timers.rs`), so the same input gives the same alerts whatever the batching.
//! State per key is plain data (`snapshot.rs`).

/// A rule's [`Parts`], borrowed field by field (so its `state` can be borrowed beside).
macro_rules! parts {
    ($rule:expr) => {
        Parts {
            seq: $rule.seq.as_ref(),
            books: &$rule.books,
            aggs: &$rule.aggs,
            mono: $rule.mono,
        }
    };
}

mod arrive;
mod build;
mod keymap;
mod keys;
pub mod raw;
pub mod sequence;
mod snapshot;
pub mod throttle;
mod timers;
pub mod window;

pub use snapshot::{EventSnapshot, ExpirySnapshot, RuleSnapshot};

use crate::alert::{Book, Change, Origin, Policy, Verdict};
use crate::labels::{LabelId, Labels, Sym};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasherDefault;
use vigil_compiler::eval::{Frame, RuleSet, Scratch};
use vigil_compiler::ir::events::{AggArg, EventFn};
use vigil_vocab::{AlertState, EventJson, Severity, Transition};
use window::Window;

/// A key's identity: a 128-bit hash of its fields' values (two seeds), so an event's key
/// costs no string interning; the key's label set is interned only once it alerts.
pub type KeyId = u128;

/// Maps keyed by ids and hashes we make ourselves: a cheap, deterministic hash is enough.
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<vigil_compiler::ir::intern::FxHasher>>;

/// Emptied sequence states, boxed as keys hold them: a new key takes one without allocating.
#[allow(clippy::vec_box)]
type SeqPool = Vec<Box<sequence::State>>;

/// A rule has at most one level per severity.
const MAX_LEVELS: usize = 4;

/// Keys one event rule tracks at most by default; events of further keys are refused
/// (counted and reported) until old keys expire.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Each matching event may fire on its own.
    Single,
    /// Conditions over event aggregates, per key.
    Aggregate,
    Sequence,
}

/// A sequence: its shape, each step's program and `key` slot, the `until` program.
type SeqParts = (sequence::Spec, Vec<usize>, Vec<Option<u32>>, Option<usize>);

/// What [`Parts::schedule`] reads of a rule (borrowed beside one of its keys' state).
struct Parts<'a> {
    seq: Option<&'a SeqParts>,
    books: &'a [Book],
    aggs: &'a [Agg],
    mono: bool,
}

struct Level {
    when: Option<usize>,
    recover: Option<usize>,
    value: Option<usize>,
    policy: Policy,
    severity: Option<Severity>,
}

struct Agg {
    slot: u32,
    func: EventFn,
    arg: Option<AggArg>,
    window: i64,
}

/// Per level (at most one per severity): until when an instantaneous alert stays firing
/// (`keep_firing`), 0 if none. Boxed, and only for keys that fired one, like sequence state.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct Instants(Option<Box<[i64; MAX_LEVELS]>>);

impl Instants {
    fn get(&self, level: usize) -> i64 {
        self.0.as_ref().map_or(0, |a| a[level])
    }

    fn set(&mut self, level: usize, until: i64) {
        self.0.get_or_insert_default()[level] = until;
    }

    /// Every level's time, in order (none when no level ever fired).
    fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().flat_map(|a| a.iter().copied())
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Bytes held beside the key (for the memory report).
    fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |a| std::mem::size_of_val(&**a))
    }
}

/// One key's state in one rule.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct KeyState {
    windows: Vec<Window>,
    /// Sequence rules' keys only (boxed: most keys are not in one, and a small entry makes the
    /// key map cheaper to grow and to walk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seq: Option<Box<sequence::State>>,
    /// Per level: until when an instantaneous alert stays firing (`keep_firing`).
    #[serde(default, skip_serializing_if = "Instants::is_none")]
    instant: Instants,
    /// The earliest timer queued for this key (`i64::MAX`: none).
    due: i64,
    /// The key's label set, interned when the key first needs one (an alert, a deadline).
    #[serde(default)]
    label: Option<LabelId>,
    /// A `sum` of this key saw a negative or NaN value: events leaving its window could make
    /// a monotone condition true, so the key is watched like an active one.
    #[serde(default)]
    volatile: bool,
    /// The newest event of this key: once the rule's horizon has passed it, every window and
    /// partial match of the key is empty.
    #[serde(default)]
    last: i64,
    /// Its stamp in [`Rule::order`] (0 for keys restored from a snapshot).
    #[serde(skip)]
    born: u64,
}

struct Rule {
    id: std::sync::Arc<str>,
    /// Position in the rule set (what composites read).
    index: usize,
    form: Form,
    levels: Vec<Level>,
    books: Vec<Book>,
    /// Fields the alert key is made of: `(label, slot)`.
    keys: Vec<(Sym, u32)>,
    /// Ids of `keys` and `throttle_keys` among the rule set's distinct key field lists (rules
    /// keyed alike share one key computation per event).
    key_spec: usize,
    throttle_spec: usize,
    aggs: Vec<Agg>,
    seq: Option<SeqParts>,
    throttle: Option<throttle::Throttle>,
    throttle_keys: Vec<(Sym, u32)>,
    keep_firing: i64,
    /// Per level, what it adds to its alerts' labels: the rule's static labels and, with
    /// several levels, its severity ([`crate::alert::Origin::extra`]).
    extras: Vec<crate::labels::LabelId>,
    state: keymap::KeyMap<KeyState>,
    /// Every condition is `count()`, `distinct()` or `sum()` compared from above (`>= n`),
    /// joined by `and`/`or`: events leaving a window can only make it false (for `sum`, while
    /// the key's values are not negative), so keys whose alerts are inactive need no expiry
    /// work (their windows are trimmed by their next event or a sweep).
    mono: bool,
    /// An aggregate rule that fires instantaneous alerts, as single-event rules do: its only
    /// aggregates are `first_seen()`, true for the event at hand and never later.
    instant: bool,
    /// Key count after the last sweep of idle keys.
    swept: usize,
    /// Keys in the order they were made, with their `born` stamps: sweeps that growth
    /// triggers walk it a few keys per event ([`timers::tidy`]) instead of stalling an event
    /// on every key at once. A stamp that is not its key's any more is a key dropped since.
    order: std::collections::VecDeque<(KeyId, u64)>,
    /// Entries of `order` the sweep under way has yet to look at (0: none under way).
    sweep_left: usize,
    /// Keys made so far (the newest key's stamp).
    births: u64,
    /// `first_seen()`: until when the rule only learns keys (its first event plus the
    /// window), so a fresh start does not call every key new.
    learn_until: Option<i64>,
    /// When the key limit last forced a sweep.
    last_full_sweep: i64,
    /// Emptied windows of dropped keys, reused by new keys (no allocation per key in a
    /// steady stream of short-lived keys).
    pool: Vec<Vec<Window>>,
    /// Emptied sequence states of dropped keys, likewise.
    seq_pool: SeqPool,
    /// When keys must be looked at again because an event leaves a window (rules that are
    /// not monotone): per window length, `(time, key)` in time order, one per event.
    expiry: Vec<(i64, std::collections::VecDeque<(i64, KeyId)>)>,
    /// Firing label sets changed since composites last read them.
    dirty: bool,
    refused: u64,
    /// Events this rule's filter matched, and the newest one's time.
    matches: u64,
    last_match: Option<i64>,
}

/// Counters for `--stats`.
#[derive(Debug, Default, Clone)]
pub struct EventCounters {
    pub events: u64,
    /// Rule matches (an event matching three rules counts three).
    pub matched: u64,
    pub too_late: u64,
    pub throttled: u64,
    /// Events dropped because their rule already tracked the maximum number of keys.
    pub refused: u64,
    /// Events dropped early from a window holding [`window::MAX_WINDOW_EVENTS`].
    pub window_overflow: u64,
    pub timers: u64,
    /// Event texts that were not JSON objects.
    pub malformed: u64,
    /// Events whose text the direct reader declined (parsed with serde instead).
    pub slow_path: u64,
}

/// The event side of the engine.
pub struct Events {
    rules: Vec<Rule>,
    /// Filter program -> event rule + 1 (0: not an event rule's filter).
    by_filter: Vec<u32>,
    timers: BinaryHeap<Reverse<(i64, u32, KeyId)>>,
    /// The newest event time processed.
    pub watermark: Option<i64>,
    pub max_keys: usize,
    pub counters: EventCounters,
    matched: Vec<u32>,
    scratch: Scratch,
    steps: Vec<bool>,
    joins: Vec<Option<u64>>,
    fired: Vec<i64>,
    changes: Vec<Change>,
    verdicts: Vec<Verdict>,
    /// A frame with no event (timers evaluate aggregates only).
    blank: Frame<'static>,
    hasher: foldhash::fast::FixedState,
    /// Rules with expiry queues (aggregate rules).
    timed: Vec<usize>,
    /// Per key spec: the key computed for event number `.0`.
    memo: Vec<(u64, KeyId)>,
    serial: u64,
    /// The earliest front of the expiry queues (`i64::MAX`: all empty).
    fifo_min: i64,
    /// Label sets of keys that have one, by key (all rules keyed alike share them).
    keys: FxMap<KeyId, LabelId>,
    hasher2: foldhash::fast::FixedState,
    empty: LabelId,
}

/// What every event and timer needs besides the event side's own state: the compiled rules,
/// the label table, and where transitions go.
pub struct Cx<'a> {
    pub rules: &'a RuleSet,
    pub labels: &'a mut Labels,
    pub out: &'a mut Vec<Transition>,
}

/// An event's key in one rule, and the key its throttle counts by (the same key unless the
/// throttle has its own `by`).
#[derive(Debug, Clone, Copy)]
struct Keys {
    key: KeyId,
    throttle: KeyId,
}

impl Events {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The time of the earliest timer.
    pub fn next_timer(&self) -> Option<i64> {
        let fifo = (self.fifo_min < i64::MAX).then_some(self.fifo_min);
        self.timers
            .peek()
            .map(|Reverse((t, _, _))| *t)
            .into_iter()
            .chain(fifo)
            .min()
    }

    /// One event at `t`, its fields in `frame`. `event` gives the event's JSON for alerts
    /// that carry it. The caller has run every timer before `t`.
    pub fn event(
        &mut self,
        cx: &mut Cx,
        frame: &mut Frame,
        t: i64,
        event: &mut dyn FnMut() -> EventJson,
    ) {
        self.counters.events += 1;
        if self.watermark.is_some_and(|w| t < w) {
            self.counters.too_late += 1;
            return;
        }
        self.watermark = Some(t);
        self.serial += 1;
        let mut matched = std::mem::take(&mut self.matched);
        cx.rules.matching(frame, &mut self.scratch, &mut matched);
        for &p in &matched {
            if let Some(&r) = self.by_filter.get(p as usize)
                && r > 0
            {
                let ri = r as usize - 1;
                self.counters.matched += 1;
                self.rules[ri].matches += 1;
                self.rules[ri].last_match = Some(t);
                self.rule_event(ri, cx, frame, t, event);
            }
        }
        self.matched = matched;
    }

    /// Each event rule's matches: `(position in the rule set, id, statistics)`.
    pub fn rule_stats(
        &self,
    ) -> impl Iterator<Item = (usize, std::sync::Arc<str>, crate::engine::RuleStat)> {
        self.rules.iter().map(|r| {
            let stat = crate::engine::RuleStat {
                at: r.last_match,
                count: r.matches,
                ..Default::default()
            };
            (r.index, r.id.clone(), stat)
        })
    }

    /// Writes the firing label sets of event rules that changed into `firing` (what
    /// composites read), indexed by rule.
    pub fn publish(&mut self, firing: &mut [Vec<(LabelId, f64)>]) {
        for r in &mut self.rules {
            if !r.dirty {
                continue;
            }
            r.dirty = false;
            let mut v: Vec<LabelId> = Vec::new();
            for b in &r.books {
                b.firing(&mut v);
            }
            for ks in r.state.values() {
                if let Some(l) = ks.label
                    && ks.instant.iter().any(|u| u > 0)
                {
                    v.push(l);
                }
            }
            v.sort_unstable();
            v.dedup();
            if let Some(f) = firing.get_mut(r.index) {
                // Alerts that stopped firing are published once as not firing, so composites
                // see the row turn false (and resolve) rather than vanish (and keep).
                let mut next: Vec<(LabelId, f64)> = f
                    .iter()
                    .filter(|(l, x)| *x == 1.0 && v.binary_search(l).is_err())
                    .map(|&(l, _)| (l, 0.0))
                    .collect();
                r.dirty = !next.is_empty();
                next.extend(v.into_iter().map(|l| (l, 1.0)));
                next.sort_unstable_by_key(|x| x.0);
                *f = next;
            }
        }
    }

    /// Alerts pending or firing, for tests and the API.
    pub fn alerts(&self, labels: &Labels, out: &mut Vec<crate::engine::ActiveAlert>) {
        for r in &self.rules {
            for (li, b) in r.books.iter().enumerate() {
                for (l, a) in &b.alerts {
                    if a.state.is_active() {
                        out.push(crate::engine::ActiveAlert {
                            rule: r.id.clone(),
                            labels: r.origin(li).labels(labels, *l),
                            state: a.state,
                            severity: r.levels[li].severity,
                            value: a.value,
                            active_at: Some(a.active_at),
                            fired_at: a.fired_at,
                        });
                    }
                }
            }
            for ks in r.state.values() {
                let Some(k) = ks.label else { continue };
                for (li, u) in ks.instant.iter().enumerate() {
                    if u > 0 {
                        out.push(crate::engine::ActiveAlert {
                            rule: r.id.clone(),
                            labels: r.origin(li).labels(labels, k),
                            state: AlertState::Firing,
                            severity: r.levels[li].severity,
                            value: f64::NAN,
                            active_at: None,
                            fired_at: None,
                        });
                    }
                }
            }
        }
    }

    /// Keys tracked and bytes held by windows and partial matches.
    pub fn memory(&self) -> (usize, usize, usize) {
        let mut keys = 0;
        let mut bytes = 0;
        let mut partials = 0;
        for r in &self.rules {
            keys += r.state.len();
            bytes += r.order.len() * std::mem::size_of::<(KeyId, u64)>();
            for ks in r.state.values() {
                bytes += std::mem::size_of::<KeyState>() + 16;
                bytes += ks.seq.as_deref().map_or(0, std::mem::size_of_val);
                bytes += ks.instant.bytes();
                bytes += ks.windows.iter().map(Window::bytes).sum::<usize>();
                partials += ks.seq.as_deref().map_or(0, sequence::Spec::partials);
            }
        }
        (keys, bytes, partials)
    }

    /// Rules that refused keys at their limit, as `(rule, refused events)`.
    pub fn refusals(&self) -> Vec<(String, u64)> {
        self.rules
            .iter()
            .filter(|r| r.refused > 0)
            .map(|r| (r.id.to_string(), r.refused))
            .collect()
    }
}

impl Rule {
    /// Whose alerts level `li`'s book holds.
    fn origin(&self, li: usize) -> Origin<'_> {
        Origin {
            rule: &self.id,
            severity: self.levels[li].severity,
            extra: self.extras[li],
        }
    }

    /// How long state can stay alive without events: the longest window or span, ms.
    fn horizon(&self) -> i64 {
        self.aggs
            .iter()
            .map(|a| a.window)
            .chain(self.seq.as_ref().map(|s| s.0.within + 1))
            .max()
            .unwrap_or(0)
            .max(self.keep_firing)
            .max(1)
    }
}

impl KeyState {
    fn new() -> KeyState {
        KeyState {
            due: i64::MAX,
            ..KeyState::default()
        }
    }
}

/// A new key's state, queued in its rule's `order` for sweeps (`births`: the rule's count).
fn new_key(
    order: &mut std::collections::VecDeque<(KeyId, u64)>,
    births: &mut u64,
    key: KeyId,
) -> KeyState {
    *births += 1;
    order.push_back((key, *births));
    KeyState {
        born: *births,
        ..KeyState::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checkpoints written before sequence state and instantaneous alerts' times were boxed
    /// (every key carried both) restore, and a key without them writes neither.
    #[test]
    fn key_state_reads_its_earlier_form() {
        let old = r#"{"windows":[],"seq":{"waiting":[],"closing":[],"seen":[],"deadline":null},
            "instant":[0,5000,0,0],"due":9223372036854775807,"label":null,"volatile":false,"last":7}"#;
        let ks: KeyState = serde_json::from_str(old).unwrap();
        assert!(ks.seq.is_some());
        assert_eq!(ks.instant.iter().collect::<Vec<_>>(), [0, 5000, 0, 0]);
        assert_eq!(ks.instant.get(1), 5000);
        let plain = serde_json::to_value(KeyState::default()).unwrap();
        assert!(
            plain.get("seq").is_none() && plain.get("instant").is_none(),
            "{plain}"
        );
        let back: KeyState = serde_json::from_value(plain).unwrap();
        assert!(back.seq.is_none() && back.instant.is_none());
    }
}

//! Event rules over time: single events, aggregates per key over sliding windows, sequences
//! and throttles, driven by event time.
//!
//! The rule index picks the rules whose `on event where` holds for an event; each such rule
//! updates the state of the event's *key* (the fields its aggregates or sequence group by)
//! and evaluates its conditions for that key only. Time that passes without events (a count
//! dropping as events leave the window, a `for` running out, a trailing `missing` step
//! staying missing) is handled by timers fired as the event-time watermark passes them, so
//! the same input gives the same alerts whatever the batching. State per key is plain data.

pub mod raw;
pub mod sequence;
pub mod throttle;
pub mod window;

use crate::alert::{Book, Change, Origin, Policy};
use crate::labels::{LabelId, Labels, Sym};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;
use vigil_compiler::eval::{Frame, RuleSet, Scratch, SlotVal};
use vigil_compiler::ir::events::{AggArg, EventFn};
use vigil_compiler::ir::meta::RuleKind;
use vigil_vocab::{AlertState, LabelSet, Severity, Transition};
use window::Window;

/// A key's identity: a 128-bit hash of its fields' values (two seeds), so an event's key
/// costs no string interning; the key's label set is interned only once it alerts.
pub type KeyId = u128;

/// Maps keyed by ids and hashes we make ourselves: a cheap, deterministic hash is enough.
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<vigil_compiler::ir::intern::FxHasher>>;

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

/// What [`schedule`] reads of a rule (borrowed beside one of its keys' state).
struct Parts<'a> {
    seq: Option<&'a SeqParts>,
    books: &'a [Book],
    aggs: &'a [Agg],
    mono: bool,
}

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

/// One key's state in one rule.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct KeyState {
    windows: Vec<Window>,
    seq: sequence::State,
    /// Per level (at most one per severity): until when an instantaneous alert stays firing
    /// (`keep_firing`), 0 if none.
    instant: [i64; MAX_LEVELS],
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
}

struct Rule {
    id: String,
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
    static_labels: Vec<(String, String)>,
    state: FxMap<KeyId, KeyState>,
    /// Every condition is `count()`, `distinct()` or `sum()` compared from above (`>= n`),
    /// joined by `and`/`or`: events leaving a window can only make it false (for `sum`, while
    /// the key's values are not negative), so keys whose alerts are inactive need no expiry
    /// work (their windows are trimmed by their next event or a sweep).
    mono: bool,
    /// Key count after the last sweep of idle keys.
    swept: usize,
    /// When the key limit last forced a sweep.
    last_full_sweep: i64,
    /// Emptied windows of dropped keys, reused by new keys (no allocation per key in a
    /// steady stream of short-lived keys).
    pool: Vec<Vec<Window>>,
    /// When keys must be looked at again because an event leaves a window (rules that are
    /// not monotone): per window length, `(time, key)` in time order, one per event.
    expiry: Vec<(i64, std::collections::VecDeque<(i64, KeyId)>)>,
    /// Firing label sets changed since composites last read them.
    dirty: bool,
    refused: u64,
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
    verdicts: Vec<(Option<f64>, bool)>,
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

/// Milliseconds from seconds, clamped to the engine's time range.
fn ms(s: f64) -> i64 {
    let max = crate::store::MAX_TIME as f64;
    let v = (s * 1000.0).round();
    if v.is_nan() {
        0
    } else {
        v.clamp(-max, max) as i64
    }
}

impl Events {
    pub fn new(rules: &RuleSet, labels: &mut Labels, interval: i64, max_keys: usize) -> Events {
        let ir = rules.ir();
        let mut out = Vec::new();
        let mut by_filter = vec![0u32; ir.programs.len()];
        for (index, meta) in ir.rules.iter().enumerate() {
            let (RuleKind::Event, Some(plan)) = (meta.kind, &meta.events) else {
                continue;
            };
            let mut key_syms = |keys: &[vigil_compiler::ir::events::Key]| {
                keys.iter()
                    .map(|k| (labels.sym(&k.label), k.slot))
                    .collect::<Vec<_>>()
            };
            let aggs: Vec<Agg> = plan
                .aggregates
                .iter()
                .filter_map(|s| {
                    ir.event_aggs.get(s).map(|a| Agg {
                        slot: *s,
                        func: a.func,
                        arg: a.arg.clone(),
                        window: ms(a.window).max(1),
                    })
                })
                .collect();
            let throttle_keys = plan
                .throttle
                .as_ref()
                .map(|t| key_syms(&t.keys))
                .unwrap_or_default();
            let (form, keys) = if let Some(s) = &plan.sequence {
                (Form::Sequence, key_syms(&s.keys))
            } else if let Some(first) = plan.aggregates.first() {
                let keys = ir
                    .event_aggs
                    .get(first)
                    .map(|a| key_syms(&a.keys))
                    .unwrap_or_default();
                (Form::Aggregate, keys)
            } else {
                (Form::Single, throttle_keys.clone())
            };
            let keep_firing = ms(meta.keep_firing);
            let mut levels: Vec<Level> = meta
                .levels
                .iter()
                .map(|l| Level {
                    when: Some(l.when),
                    recover: l.recover,
                    value: l.value,
                    severity: l.severity,
                    policy: Policy {
                        for_: ms(l.for_),
                        keep_firing,
                        cooldown: ms(meta.cooldown),
                        no_data: None,
                        flapping: meta.flapping.map(|(lo, hi, over)| (lo, hi, ms(over))),
                        interval,
                        has_recover: l.recover.is_some(),
                    },
                })
                .collect();
            if levels.is_empty() {
                levels.push(Level {
                    when: None,
                    recover: None,
                    value: None,
                    severity: meta.severity,
                    policy: Policy {
                        for_: 0,
                        keep_firing,
                        cooldown: 0,
                        no_data: None,
                        flapping: None,
                        interval,
                        has_recover: false,
                    },
                });
            }
            // The checker allows one level per severity; never more than the state holds.
            levels.truncate(MAX_LEVELS);
            let seq = plan.sequence.as_ref().map(|s| {
                (
                    sequence::Spec::new(s, ms(s.within)),
                    s.steps.iter().map(|st| st.program).collect(),
                    s.steps.iter().map(|st| st.key).collect(),
                    s.until,
                )
            });
            let mut expiry: Vec<(i64, std::collections::VecDeque<(i64, KeyId)>)> = Vec::new();
            for w in aggs.iter().map(|a| a.window) {
                if !expiry.iter().any(|(x, _)| *x == w) {
                    expiry.push((w, Default::default()));
                }
            }
            let mono = form == Form::Aggregate && monotone(ir, &meta.levels, &aggs);
            if let Some(f) = plan.filter {
                by_filter[f] = out.len() as u32 + 1;
            }
            out.push(Rule {
                id: meta.id.clone(),
                index,
                form,
                books: vec![Book::default(); levels.len()],
                levels,
                keys,
                aggs,
                seq,
                throttle: plan
                    .throttle
                    .as_ref()
                    .map(|t| throttle::Throttle::new(t.count, ms(t.per).max(1))),
                throttle_keys,
                key_spec: 0,
                throttle_spec: 0,
                keep_firing,
                static_labels: meta.labels.clone(),
                state: FxMap::default(),
                mono,
                swept: 0,
                last_full_sweep: i64::MIN,
                pool: Vec::new(),
                expiry,
                dirty: false,
                refused: 0,
            });
        }
        let mut specs: Vec<Vec<(Sym, u32)>> = Vec::new();
        let mut spec_of = |k: &Vec<(Sym, u32)>| match specs.iter().position(|x| x == k) {
            Some(i) => i,
            None => {
                specs.push(k.clone());
                specs.len() - 1
            }
        };
        for r in out.iter_mut() {
            r.key_spec = spec_of(&r.keys);
            r.throttle_spec = spec_of(&r.throttle_keys);
        }
        let n_specs = specs.len();
        Events {
            memo: vec![(u64::MAX, 0); n_specs],
            serial: 0,
            timed: (0..out.len())
                .filter(|&i| !out[i].expiry.is_empty())
                .collect(),
            rules: out,
            fifo_min: i64::MAX,
            by_filter,
            timers: BinaryHeap::new(),
            watermark: None,
            max_keys,
            counters: EventCounters::default(),
            matched: Vec::new(),
            scratch: Scratch::default(),
            steps: Vec::new(),
            joins: Vec::new(),
            fired: Vec::new(),
            changes: Vec::new(),
            verdicts: Vec::new(),
            blank: Frame::new(ir),
            hasher: foldhash::fast::FixedState::with_seed(0x0076_6967_696c),
            keys: FxMap::default(),
            hasher2: foldhash::fast::FixedState::with_seed(0x6576_656e_7473),
            empty: labels.intern(Vec::new()),
        }
    }

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
        rs: &RuleSet,
        labels: &mut Labels,
        frame: &mut Frame,
        t: i64,
        event: &mut dyn FnMut() -> Arc<Value>,
        out: &mut Vec<Transition>,
    ) {
        self.counters.events += 1;
        if self.watermark.is_some_and(|w| t < w) {
            self.counters.too_late += 1;
            return;
        }
        self.watermark = Some(t);
        self.serial += 1;
        let mut matched = std::mem::take(&mut self.matched);
        rs.matching(frame, &mut self.scratch, &mut matched);
        for &p in &matched {
            if let Some(&r) = self.by_filter.get(p as usize)
                && r > 0
            {
                let ri = r as usize - 1;
                self.counters.matched += 1;
                self.rule_event(ri, rs, labels, frame, t, event, out);
            }
        }
        self.matched = matched;
    }

    #[allow(clippy::too_many_arguments)]
    fn rule_event(
        &mut self,
        ri: usize,
        rs: &RuleSet,
        labels: &mut Labels,
        frame: &mut Frame,
        t: i64,
        event: &mut dyn FnMut() -> Arc<Value>,
        out: &mut Vec<Transition>,
    ) {
        let form = self.rules[ri].form;
        let key = self.key(ri, false, frame);
        match form {
            Form::Single => {
                for li in 0..self.rules[ri].levels.len() {
                    let lvl = &self.rules[ri].levels[li];
                    if lvl.when.is_some_and(|p| !rs.eval_bool(p, frame)) {
                        continue;
                    }
                    let value = lvl
                        .value
                        .and_then(|p| rs.eval_num(p, frame))
                        .unwrap_or(f64::NAN);
                    let tk = self.throttle_key(ri, frame, key);
                    let label = self.label(ri, frame, labels, key);
                    self.fire_instant(labels, ri, li, key, label, tk, t, value, Some(event()), out);
                }
            }
            Form::Aggregate => {
                // A new key when the rule is full takes the slow road (a sweep, or refusal).
                let rule = &self.rules[ri];
                if rule.state.len() >= self.max_keys
                    && !rule.state.contains_key(&key)
                    && !self.admit(ri, key)
                {
                    return;
                }
                let mut overflow = 0;
                let mut volatile = false;
                let Events {
                    rules,
                    keys: known,
                    empty,
                    counters,
                    fifo_min,
                    ..
                } = self;
                let rule = &mut rules[ri];
                let ks = rule.state.entry(key).or_insert_with(KeyState::new);
                ks.last = t;
                if !rule.mono && ks.label.is_none() {
                    // Its condition may turn true as events leave: label it now, while the
                    // event is at hand.
                    ks.label = Some(label_of(known, *empty, &rule.keys, frame, labels, key));
                }
                if ks.windows.len() != rule.aggs.len() {
                    ks.windows = rule
                        .pool
                        .pop()
                        .unwrap_or_else(|| rule.aggs.iter().map(|a| Window::new(a.func)).collect());
                }
                for (a, w) in rule.aggs.iter().zip(ks.windows.iter_mut()) {
                    w.evict(t, a.window);
                    let (num, hash) = match &a.arg {
                        None => (0.0, 0),
                        Some(AggArg::Program(p)) => match rs.eval_num(*p, frame) {
                            Some(v) => {
                                volatile |= a.func == EventFn::Sum && (v < 0.0 || v.is_nan());
                                (v, 0)
                            }
                            None => continue,
                        },
                        Some(AggArg::Field(s)) => {
                            match hash_of(&self.hasher, &frame.slots()[*s as usize]) {
                                Some(h) => (0.0, h),
                                None => continue,
                            }
                        }
                    };
                    overflow += u64::from(w.push(t, num, hash));
                }
                counters.window_overflow += overflow;
                if volatile && !ks.volatile {
                    ks.volatile = true;
                    if ks.label.is_none() {
                        ks.label = Some(label_of(known, *empty, &rule.keys, frame, labels, key));
                    }
                }
                if !rule.mono {
                    for (w, q) in rule.expiry.iter_mut() {
                        if q.back() != Some(&(t + *w, key)) {
                            q.push_back((t + *w, key));
                            *fifo_min = (*fifo_min).min(t + *w);
                        }
                    }
                } else if rule.state.len() > 2 * rule.swept.max(1024) {
                    sweep(rule, t);
                }
                let tk = self.throttle_key(ri, frame, key);
                self.evaluate_key(ri, rs, labels, frame, key, tk, t, true, out);
            }
            Form::Sequence => {
                let Some((_, progs, keyslots, until)) = &self.rules[ri].seq else {
                    return;
                };
                self.steps.clear();
                self.joins.clear();
                for (p, k) in progs.iter().zip(keyslots) {
                    self.steps.push(rs.eval_bool(*p, frame));
                    self.joins
                        .push(k.and_then(|s| hash_of(&self.hasher, &frame.slots()[s as usize])));
                }
                let until = until.is_some_and(|u| rs.eval_bool(u, frame));
                let exists = self.rules[ri].state.contains_key(&key);
                if !exists && (until || !self.steps.iter().any(|&b| b)) {
                    return;
                }
                if !self.admit(ri, key) {
                    return;
                }
                self.fired.clear();
                let rule = &mut self.rules[ri];
                let (Some((spec, ..)), Some(ks)) = (rule.seq.as_ref(), rule.state.get_mut(&key))
                else {
                    return;
                };
                let hits = sequence::Hits {
                    steps: &self.steps,
                    joins: &self.joins,
                    until,
                };
                spec.event(&mut ks.seq, t, &hits, &mut self.fired);
                ks.last = t;
                // Lapsed partial matches need no timer (the key's next event drops them, and
                // deadlines are on the heap); idle keys go in sweeps.
                let deadline = spec.next_deadline(&ks.seq).is_some();
                if rule.state.len() > 2 * rule.swept.max(1024) {
                    sweep(rule, t);
                }
                let fired = std::mem::take(&mut self.fired);
                if !fired.is_empty() || deadline {
                    // Completions (now, or when a deadline passes) need the key's labels.
                    self.ensure_label(ri, frame, labels, key);
                }
                if !fired.is_empty() {
                    let tk = self.throttle_key(ri, frame, key);
                    let label = self.label(ri, frame, labels, key);
                    let ev = event();
                    for &f in &fired {
                        self.fire_instant(
                            labels,
                            ri,
                            0,
                            key,
                            label,
                            tk,
                            f,
                            f64::NAN,
                            Some(ev.clone()),
                            out,
                        );
                    }
                }
                self.fired = fired;
                self.reschedule(ri, key, t);
            }
        }
    }

    /// Makes room for `key` in rule `ri`: false (counted) when the rule is at its key limit.
    fn admit(&mut self, ri: usize, key: KeyId) -> bool {
        let rule = &mut self.rules[ri];
        if rule.state.contains_key(&key) {
            return true;
        }
        if rule.state.len() >= self.max_keys {
            // Full: drop what has expired first (at most once per window of time, so a rule
            // full of live keys does not sweep on every event).
            if let Some(t) = self.watermark
                && t >= rule.last_full_sweep.saturating_add(rule.horizon())
            {
                rule.last_full_sweep = t;
                sweep(rule, t);
            }
            if rule.state.len() >= self.max_keys {
                rule.refused += 1;
                self.counters.refused += 1;
                return false;
            }
        }
        rule.state.insert(key, KeyState::new());
        true
    }

    fn throttle_key(&mut self, ri: usize, frame: &Frame, key: KeyId) -> KeyId {
        let rule = &self.rules[ri];
        if rule.throttle.is_none() || rule.throttle_keys.is_empty() {
            return key;
        }
        self.key(ri, true, frame)
    }

    /// The identity of an event's key fields (the rule's keys, or its throttle keys): a
    /// 128-bit hash of their values, so a collision is as unlikely as a random 128-bit clash.
    fn key(&mut self, ri: usize, throttle: bool, frame: &Frame) -> KeyId {
        let rule = &self.rules[ri];
        let (fields, spec) = if throttle {
            (&rule.throttle_keys, rule.throttle_spec)
        } else {
            (&rule.keys, rule.key_spec)
        };
        if fields.is_empty() {
            return 0;
        }
        if let Some(&(n, id)) = self.memo.get(spec)
            && n == self.serial
        {
            return id;
        }
        let (mut a, mut b) = (0u64, 0u64);
        for &(name, slot) in fields {
            let v = hash_of(&self.hasher, &frame.slots()[slot as usize]).unwrap_or(0);
            a = self.hasher.hash_one((a, name, v));
            b = self.hasher2.hash_one((b, name, v));
        }
        // 0 is the empty key.
        let id = ((u128::from(a) << 64) | u128::from(b)).max(1);
        if let Some(m) = self.memo.get_mut(spec) {
            *m = (self.serial, id);
        }
        id
    }

    /// The label set of key `key` of rule `ri`, from the event in `frame`.
    fn label(&mut self, ri: usize, frame: &Frame, labels: &mut Labels, key: KeyId) -> LabelId {
        label_of(
            &mut self.keys,
            self.empty,
            &self.rules[ri].keys,
            frame,
            labels,
            key,
        )
    }

    /// Gives a tracked key its label set (from the event at hand) if it has none yet.
    fn ensure_label(&mut self, ri: usize, frame: &Frame, labels: &mut Labels, key: KeyId) {
        if self.rules[ri]
            .state
            .get(&key)
            .is_some_and(|ks| ks.label.is_none())
        {
            let l = self.label(ri, frame, labels, key);
            if let Some(ks) = self.rules[ri].state.get_mut(&key) {
                ks.label = Some(l);
            }
        }
    }

    /// Sets a key's aggregates into `frame`, evaluates every level and steps its alerts.
    #[allow(clippy::too_many_arguments)]
    fn evaluate_key(
        &mut self,
        ri: usize,
        rs: &RuleSet,
        labels: &mut Labels,
        frame: &mut Frame,
        key: KeyId,
        tkey: KeyId,
        t: i64,
        with_event: bool,
        out: &mut Vec<Transition>,
    ) {
        let rule = &mut self.rules[ri];
        let Some(ks) = rule.state.get_mut(&key) else {
            return;
        };
        for (a, w) in rule.aggs.iter().zip(ks.windows.iter_mut()) {
            w.evict(t, a.window);
            let current = match (&a.arg, with_event) {
                (Some(AggArg::Field(s)), true) => {
                    hash_of(&self.hasher, &frame.slots()[*s as usize])
                }
                _ => None,
            };
            let v = w.value(a.func, current);
            frame.set(a.slot, v.map_or(SlotVal::missing(), SlotVal::number));
        }
        // Each level's verdict first: a key without a label set (a monotone rule's quiet key)
        // needs one only when some level holds.
        let mut verdicts = std::mem::take(&mut self.verdicts);
        verdicts.clear();
        for lvl in &rule.levels {
            let holds = lvl.when.is_none_or(|p| rs.eval_bool(p, frame));
            let hit = holds.then(|| {
                lvl.value
                    .and_then(|p| rs.eval_num(p, frame))
                    .unwrap_or(f64::NAN)
            });
            let recovered = lvl.recover.is_some_and(|p| rs.eval_bool(p, frame));
            verdicts.push((hit, recovered));
        }
        for a in &rule.aggs {
            frame.set(a.slot, SlotVal::missing());
        }
        let label = match ks.label {
            Some(l) => Some(l),
            None if with_event && verdicts.iter().any(|v| v.0.is_some()) => {
                let l = if key == 0 {
                    self.empty
                } else if let Some(&l) = self.keys.get(&key) {
                    l
                } else {
                    let l = key_of(&rule.keys, frame, labels);
                    self.keys.insert(key, l);
                    l
                };
                ks.label = Some(l);
                Some(l)
            }
            _ => None,
        };
        let mut next: Option<i64> = None;
        if let Some(label) = label {
            let mut changes = std::mem::take(&mut self.changes);
            changes.clear();
            let throttle = &mut rule.throttle;
            let counters = &mut self.counters;
            for (li, lvl) in rule.levels.iter().enumerate() {
                let (hit, recovered) = verdicts[li];
                let mut allow = || match throttle.as_mut() {
                    Some(th) => {
                        let ok = th.allow(tkey, t);
                        counters.throttled += u64::from(!ok);
                        ok
                    }
                    None => true,
                };
                let before = changes.len();
                if let Some(n) = rule.books[li].step_one(
                    &lvl.policy,
                    t,
                    label,
                    hit,
                    recovered,
                    &mut allow,
                    &mut changes,
                ) {
                    next = Some(next.map_or(n, |x: i64| x.min(n)));
                }
                for c in &changes[before..] {
                    rule.dirty = true;
                    let origin = Origin {
                        rule: &rule.id,
                        static_labels: &rule.static_labels,
                        severity: lvl.severity,
                        levels: rule.levels.len(),
                    };
                    out.push(origin.transition(labels, t, c, None));
                }
            }
            self.changes = changes;
        }
        self.verdicts = verdicts;
        if schedule(parts!(rule), ks, ri, key, t, next, &mut self.timers) {
            drop_key(rule, key);
        }
    }

    /// Fires an instantaneous alert (a single event, a completed sequence).
    #[allow(clippy::too_many_arguments)]
    fn fire_instant(
        &mut self,
        labels: &Labels,
        ri: usize,
        li: usize,
        key: KeyId,
        label: LabelId,
        tkey: KeyId,
        t: i64,
        value: f64,
        event: Option<Arc<Value>>,
        out: &mut Vec<Transition>,
    ) {
        let keep = self.rules[ri].keep_firing;
        if keep > 0 {
            if !self.admit(ri, key) {
                return;
            }
            let Some(ks) = self.rules[ri].state.get_mut(&key) else {
                return;
            };
            if ks.instant[li] > t {
                // Still firing: the new event only extends it.
                ks.instant[li] = t + keep;
                return;
            }
        }
        let rule = &mut self.rules[ri];
        if let Some(th) = rule.throttle.as_mut()
            && !th.allow(tkey, t)
        {
            self.counters.throttled += 1;
            return;
        }
        let c = Change {
            labels: label,
            state: AlertState::Firing,
            value,
            flapping: false,
        };
        out.push(rule.origin(li).transition(labels, t, &c, event));
        if keep > 0 {
            rule.dirty = true;
            if let Some(ks) = rule.state.get_mut(&key) {
                ks.instant[li] = t + keep;
                ks.label = Some(label);
            }
            self.reschedule(ri, key, t);
        }
    }

    /// Queues the key's next timer, if it needs one earlier than the one queued.
    fn reschedule(&mut self, ri: usize, key: KeyId, t: i64) {
        self.reschedule_with(ri, key, t, None);
    }

    fn reschedule_with(&mut self, ri: usize, key: KeyId, t: i64, extra: Option<i64>) {
        let rule = &mut self.rules[ri];
        let Some(ks) = rule.state.get_mut(&key) else {
            return;
        };
        if schedule(parts!(rule), ks, ri, key, t, extra, &mut self.timers) {
            drop_key(rule, key);
        }
    }

    /// Runs every timer due at or before `until` (the watermark passed them), in time order.
    pub fn run_timers(
        &mut self,
        rs: &RuleSet,
        labels: &mut Labels,
        until: i64,
        out: &mut Vec<Transition>,
    ) {
        loop {
            if self.next_timer().is_none_or(|t| t > until) {
                return;
            }
            // The earliest of the heap and the expiry queues.
            let mut best: Option<(i64, usize, usize)> = self
                .timers
                .peek()
                .map(|Reverse((t, r, _))| (*t, *r as usize, usize::MAX));
            for &ri in &self.timed {
                for (qi, (_, q)) in self.rules[ri].expiry.iter().enumerate() {
                    if let Some(&(t, _)) = q.front()
                        && best.is_none_or(|b| t < b.0)
                    {
                        best = Some((t, ri, qi));
                    }
                }
            }
            let Some((t, ri, qi)) = best else { break };
            if t > until {
                break;
            }
            let key = if qi == usize::MAX {
                let Some(Reverse((_, _, key))) = self.timers.pop() else {
                    break;
                };
                match self.rules[ri].state.get(&key) {
                    Some(ks) if ks.due == t => key,
                    _ => continue,
                }
            } else {
                let Some((_, key)) = self.rules[ri].expiry[qi].1.pop_front() else {
                    break;
                };
                self.fifo_min = self.queue_front();
                if !self.rules[ri].state.contains_key(&key) {
                    continue;
                }
                key
            };
            self.wake(ri, key, t, rs, labels, out);
        }
    }

    /// A key's state at time `t` without an event: resolves instantaneous alerts whose
    /// `keep_firing` ran out, re-evaluates aggregates, completes or expires sequences.
    fn wake(
        &mut self,
        ri: usize,
        key: KeyId,
        t: i64,
        rs: &RuleSet,
        labels: &mut Labels,
        out: &mut Vec<Transition>,
    ) {
        self.counters.timers += 1;
        let rule = &mut self.rules[ri];
        let Some(ks) = rule.state.get_mut(&key) else {
            return;
        };
        let label = ks.label.unwrap_or(self.empty);
        for li in 0..ks.instant.len() {
            let u = ks.instant[li];
            if u > 0 && u <= t {
                ks.instant[li] = 0;
                rule.dirty = true;
                let c = Change {
                    labels: label,
                    state: AlertState::Resolved,
                    value: f64::NAN,
                    flapping: false,
                };
                let origin = Origin {
                    rule: &rule.id,
                    static_labels: &rule.static_labels,
                    severity: rule.levels[li].severity,
                    levels: rule.levels.len(),
                };
                out.push(origin.transition(labels, u, &c, None));
            }
        }
        match rule.form {
            Form::Single => self.reschedule(ri, key, t),
            Form::Aggregate => {
                let mut blank = std::mem::take(&mut self.blank);
                self.evaluate_key(ri, rs, labels, &mut blank, key, key, t, false, out);
                self.blank = blank;
            }
            Form::Sequence => {
                self.fired.clear();
                let mut fired = std::mem::take(&mut self.fired);
                if let Some((spec, ..)) = &rule.seq {
                    spec.expire(&mut ks.seq, t, &mut fired);
                }
                // Deadlines are set only once the key has its label set.
                if let Some(label) = ks.label {
                    for &f in &fired {
                        self.fire_instant(labels, ri, 0, key, label, key, f, f64::NAN, None, out);
                    }
                }
                self.fired = fired;
                self.reschedule(ri, key, t);
            }
        }
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
                    && ks.instant.iter().any(|&u| u > 0)
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

    /// Alerts pending or firing, for tests and the API: `(rule, labels, state)`.
    pub fn active(&self, labels: &Labels, out: &mut Vec<(String, LabelSet, AlertState)>) {
        for r in &self.rules {
            for (li, b) in r.books.iter().enumerate() {
                for (l, a) in &b.alerts {
                    if a.state.is_active() {
                        out.push((r.id.clone(), r.origin(li).labels(labels, *l), a.state));
                    }
                }
            }
            for ks in r.state.values() {
                let Some(k) = ks.label else { continue };
                for (li, &u) in ks.instant.iter().enumerate() {
                    if u > 0 {
                        let m = r.origin(li).labels(labels, k);
                        out.push((r.id.clone(), m, AlertState::Firing));
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
            for ks in r.state.values() {
                bytes += std::mem::size_of::<KeyState>() + 16;
                bytes += ks.windows.iter().map(Window::bytes).sum::<usize>();
                partials += sequence::Spec::partials(&ks.seq);
            }
        }
        (keys, bytes, partials)
    }

    /// Rules that refused keys at their limit, as `(rule, refused events)`.
    pub fn refusals(&self) -> Vec<(String, u64)> {
        self.rules
            .iter()
            .filter(|r| r.refused > 0)
            .map(|r| (r.id.clone(), r.refused))
            .collect()
    }
}

/// The event side's state as plain data (see [`crate::engine::Snapshot`]); label sets are
/// numbered in the snapshot's table.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EventSnapshot {
    pub watermark: Option<i64>,
    pub rules: Vec<RuleSnapshot>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RuleSnapshot {
    pub id: String,
    pub books: Vec<Book>,
    /// Keys as two u64 halves (JSON has no 128-bit integers).
    pub keys: Vec<([u64; 2], KeyState)>,
    pub throttle: Option<throttle::Throttle>,
    pub expiry: Vec<ExpirySnapshot>,
}

impl Events {
    pub fn snapshot(&self) -> EventSnapshot {
        let mut rules = Vec::new();
        for r in &self.rules {
            let mut keys: Vec<([u64; 2], KeyState)> = r
                .state
                .iter()
                .map(|(k, v)| (halves(*k), v.clone()))
                .collect();
            keys.sort_by_key(|k| k.0);
            rules.push(RuleSnapshot {
                id: r.id.clone(),
                books: r.books.clone(),
                keys,
                throttle: r.throttle.clone(),
                expiry: r
                    .expiry
                    .iter()
                    .map(|(w, q)| (*w, q.iter().map(|&(t, k)| (t, halves(k))).collect()))
                    .collect(),
            });
        }
        EventSnapshot {
            watermark: self.watermark,
            rules,
        }
    }

    /// Restores a snapshot into freshly built event rules (rules that no longer exist are
    /// dropped, new ones start empty); `set` maps the snapshot's label sets to ours.
    pub fn restore(&mut self, snap: EventSnapshot, set: &dyn Fn(LabelId) -> LabelId) {
        self.watermark = snap.watermark;
        self.keys.clear();
        self.timers.clear();
        for rs in snap.rules {
            let Some(ri) = self.rules.iter().position(|r| r.id == rs.id) else {
                continue;
            };
            let r = &mut self.rules[ri];
            if rs.books.len() == r.books.len() {
                r.books = rs.books.into_iter().map(|b| b.remap(set)).collect();
            }
            if let (Some(mine), Some(mut th)) = (r.throttle.as_mut(), rs.throttle) {
                th.count = mine.count;
                th.per = mine.per;
                *mine = th;
            }
            for (w, q) in rs.expiry {
                if let Some((_, mine)) = r.expiry.iter_mut().find(|(x, _)| *x == w) {
                    *mine = q.into_iter().map(|(t, k)| (t, whole(k))).collect();
                }
            }
            for (k, mut ks) in rs.keys {
                let k = whole(k);
                ks.label = ks.label.map(set);
                if ks.windows.len() != r.aggs.len() {
                    continue;
                }
                if ks.due != i64::MAX {
                    self.timers.push(Reverse((ks.due, ri as u32, k)));
                }
                ks.windows.shrink_to_fit();
                r.state.insert(k, ks);
                r.dirty = true;
            }
        }
        self.fifo_min = self.queue_front();
    }

    /// The earliest time at the front of the expiry queues (`i64::MAX` when all are empty).
    fn queue_front(&self) -> i64 {
        self.timed
            .iter()
            .flat_map(|&r| self.rules[r].expiry.iter().filter_map(|(_, q)| q.front()))
            .map(|e| e.0)
            .min()
            .unwrap_or(i64::MAX)
    }
}

impl Rule {
    /// Whose alerts level `li`'s book holds.
    fn origin(&self, li: usize) -> Origin<'_> {
        Origin {
            rule: &self.id,
            static_labels: &self.static_labels,
            severity: self.levels[li].severity,
            levels: self.levels.len(),
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

/// Queues key `key`'s next timer (window and span expiry is queued per event in `expiry`,
/// except for monotone rules, which need it only while a key is watched; the heap holds the
/// rest), if it needs one earlier than the one queued. Returns whether the key is idle (holds
/// nothing and needs nothing: the caller drops it).
#[allow(clippy::too_many_arguments)]
fn schedule(
    rule: Parts,
    ks: &mut KeyState,
    ri: usize,
    key: KeyId,
    t: i64,
    extra: Option<i64>,
    timers: &mut BinaryHeap<Reverse<(i64, u32, KeyId)>>,
) -> bool {
    let seq = rule
        .seq
        .as_ref()
        .and_then(|(s, ..)| s.next_deadline(&ks.seq));
    let instant = ks.instant.iter().copied().filter(|&u| u > 0);
    let active = ks
        .label
        .is_some_and(|l| rule.books.iter().any(|b| b.is_active(l)));
    let watched = active || ks.volatile;
    let windows = rule
        .aggs
        .iter()
        .zip(&ks.windows)
        .filter(|_| rule.mono && watched)
        .filter_map(|(a, w)| w.oldest().map(|o| o + a.window));
    let next = seq
        .into_iter()
        .chain(instant)
        .chain(extra)
        .chain(windows)
        .min();
    if next.is_none()
        && ks.windows.iter().all(Window::is_empty)
        && sequence::Spec::is_empty(&ks.seq)
        && !active
    {
        return true;
    }
    if let Some(n) = next {
        let n = n.max(t + 1);
        if ks.due <= t || n < ks.due {
            ks.due = n;
            timers.push(Reverse((n, ri as u32, key)));
        }
    } else if ks.due <= t {
        ks.due = i64::MAX;
    }
    false
}

/// One expiry queue: its window and `(time, key halves)`.
pub type ExpirySnapshot = (i64, Vec<(i64, [u64; 2])>);

fn halves(k: KeyId) -> [u64; 2] {
    [(k >> 64) as u64, k as u64]
}

fn whole(h: [u64; 2]) -> KeyId {
    (u128::from(h[0]) << 64) | u128::from(h[1])
}

/// Drops what has expired from every key of a rule at time `t` (a monotone rule's inactive
/// keys and lapsed partial sequences get no expiry timers), and the keys left with nothing.
fn sweep(rule: &mut Rule, t: i64) {
    let horizon = rule.horizon();
    let aggs = &rule.aggs;
    let books = &rule.books;
    let seq = rule.seq.as_ref().map(|s| &s.0);
    let mut due = Vec::new();
    let pool = &mut rule.pool;
    rule.state.retain(|_, ks| {
        let quiet = ks.due == i64::MAX
            && ks.instant.iter().all(|&u| u == 0)
            && !ks
                .label
                .is_some_and(|l| books.iter().any(|b| b.is_active(l)));
        if quiet && ks.last.saturating_add(horizon) < t {
            // Everything it held has expired: drop it without reading its windows.
            reuse(pool, std::mem::take(&mut ks.windows));
            return false;
        }
        for (a, w) in aggs.iter().zip(ks.windows.iter_mut()) {
            w.evict(t, a.window);
        }
        if let Some(spec) = seq {
            // Deadlines before `t` ran as timers already; this only drops lapsed matches.
            spec.expire(&mut ks.seq, t, &mut due);
        }
        let idle =
            quiet && ks.windows.iter().all(Window::is_empty) && sequence::Spec::is_empty(&ks.seq);
        if idle {
            reuse(pool, std::mem::take(&mut ks.windows));
        }
        !idle
    });
    rule.swept = rule.state.len();
}

/// Drops a key, keeping its windows for the next new key.
fn drop_key(rule: &mut Rule, key: KeyId) {
    if let Some(ks) = rule.state.remove(&key) {
        reuse(&mut rule.pool, ks.windows);
    }
}

/// Keeps emptied windows (with their buffers) for reuse: at most 4,096, none holding more
/// than 4 KiB (a hot key's large buffer is freed, not kept).
fn reuse(pool: &mut Vec<Vec<Window>>, mut windows: Vec<Window>) {
    if !windows.is_empty()
        && pool.len() < 4096
        && windows.iter().map(Window::bytes).sum::<usize>() <= 4096
    {
        windows.iter_mut().for_each(Window::clear);
        pool.push(windows);
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

/// The label set of key `key` (its `fields` read from the event in `frame`), remembered in
/// `known` for the keys that need one.
fn label_of(
    known: &mut FxMap<KeyId, LabelId>,
    empty: LabelId,
    fields: &[(Sym, u32)],
    frame: &Frame,
    labels: &mut Labels,
    key: KeyId,
) -> LabelId {
    if key == 0 {
        return empty;
    }
    if let Some(&l) = known.get(&key) {
        return l;
    }
    let l = key_of(fields, frame, labels);
    if known.len() > 1 << 22 {
        known.clear();
    }
    known.insert(key, l);
    l
}

/// Whether every level's condition only compares `count()`, `distinct()` or `sum()` from
/// above with constants, joined by `and`/`or` (see [`Rule::mono`]; a `sum` stays monotone
/// while its values are not negative, which [`KeyState::volatile`] watches per key).
fn monotone(
    ir: &vigil_compiler::ir::Ir,
    levels: &[vigil_compiler::ir::meta::Level],
    aggs: &[Agg],
) -> bool {
    use vigil_compiler::ir::{CmpOp, Node};
    let counting = |n: u32| {
        matches!(ir.node(n), Node::Slot(r, _) if r.depth == 0
            && aggs.iter().any(|a| a.slot == r.id && matches!(a.func, EventFn::Count | EventFn::Distinct | EventFn::Sum)))
    };
    let constant = |n: u32| matches!(ir.node(n), Node::Num(_));
    fn walk(ir: &vigil_compiler::ir::Ir, n: u32, ok: &dyn Fn(u32, u32, CmpOp) -> bool) -> bool {
        match ir.node(n) {
            Node::And(v) | Node::Or(v) => v.iter().all(|c| walk(ir, *c, ok)),
            Node::Cmp(op, _, a, b) => ok(*a, *b, *op),
            _ => false,
        }
    }
    let ok = |a: u32, b: u32, op: CmpOp| match op {
        CmpOp::Gt | CmpOp::Ge => counting(a) && constant(b),
        CmpOp::Lt | CmpOp::Le => constant(a) && counting(b),
        _ => false,
    };
    !levels.is_empty()
        && levels
            .iter()
            .all(|l| walk(ir, ir.programs[l.when].root, &ok))
}

/// The key of an event: the label set of its grouping fields (a missing field is no label).
fn key_of(keys: &[(Sym, u32)], frame: &Frame, labels: &mut Labels) -> LabelId {
    let mut pairs: Vec<(Sym, Sym)> = Vec::with_capacity(keys.len());
    let mut buf;
    for &(name, slot) in keys {
        let v = frame.slots()[slot as usize];
        let text: &str = if let Some(s) = v.as_str() {
            s
        } else if let Some(n) = v.as_num() {
            buf = number_text(n);
            &buf
        } else if let Some(b) = v.as_bool() {
            if b { "true" } else { "false" }
        } else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        pairs.push((name, labels.sym(text)));
    }
    labels.intern(pairs)
}

/// A number as a label value: integers without a fraction, others as Rust prints them.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A value's identity for `distinct`, `share` and per-step join keys: strings, numbers and
/// booleans hash apart (`"1"` is not `1`); a missing value has none.
fn hash_of(h: &foldhash::fast::FixedState, v: &SlotVal) -> Option<u64> {
    if let Some(s) = v.as_str() {
        Some(h.hash_one((3u8, s)))
    } else if let Some(n) = v.as_num() {
        let n = if n == 0.0 { 0.0 } else { n };
        let bits = if n.is_nan() {
            f64::NAN.to_bits()
        } else {
            n.to_bits()
        };
        Some(h.hash_one((1u8, bits)))
    } else {
        v.as_bool().map(|b| h.hash_one((2u8, b)))
    }
}

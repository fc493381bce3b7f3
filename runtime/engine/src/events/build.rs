//! Building the event side from a rule set: each event rule's form (single event,
//! aggregate, sequence), keys, levels and policies, windows and expiry queues, and whether
//! its conditions are monotone.

use super::{Agg, EventCounters, Events, Form, FxMap, Level, MAX_LEVELS, Rule, sequence, throttle};
use crate::alert::{Book, Policy};
use crate::labels::{Labels, Sym};
use crate::time::ms;
use std::collections::{BinaryHeap, VecDeque};
use vigil_compiler::eval::{Frame, RuleSet, Scratch};
use vigil_compiler::ir::events::{EventFn, EventPlan, Key};
use vigil_compiler::ir::meta::{RuleKind, RuleMeta};
use vigil_compiler::ir::{CmpOp, Ir, Node};

impl Events {
    pub fn new(rules: &RuleSet, labels: &mut Labels, interval: i64, max_keys: usize) -> Events {
        let ir = rules.ir();
        let mut out = Vec::new();
        let mut by_filter = vec![0u32; ir.programs.len()];
        for (index, meta) in ir.rules.iter().enumerate() {
            let (RuleKind::Event, Some(plan)) = (meta.kind, &meta.events) else {
                continue;
            };
            if let Some(f) = plan.filter {
                by_filter[f] = out.len() as u32 + 1;
            }
            out.push(rule_of(ir, index, meta, plan, labels, interval));
        }
        // Rules keyed alike share one key computation per event.
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
}

/// One event rule, ready to take events.
fn rule_of(
    ir: &Ir,
    index: usize,
    meta: &RuleMeta,
    plan: &EventPlan,
    labels: &mut Labels,
    interval: i64,
) -> Rule {
    let aggs = aggregates(ir, plan);
    let (form, keys, throttle_keys) = form_and_keys(ir, plan, labels);
    let keep_firing = ms(meta.keep_firing);
    let levels = levels_of(meta, keep_firing, interval);
    let seq = plan.sequence.as_ref().map(|s| {
        (
            sequence::Spec::new(s, ms(s.within)),
            s.steps.iter().map(|st| st.program).collect(),
            s.steps.iter().map(|st| st.key).collect(),
            s.until,
        )
    });
    let mut expiry: Vec<(i64, VecDeque<(i64, super::KeyId)>)> = Vec::new();
    for w in aggs.iter().map(|a| a.window) {
        if !expiry.iter().any(|(x, _)| *x == w) {
            expiry.push((w, Default::default()));
        }
    }
    let mono = form == Form::Aggregate && monotone(ir, &meta.levels, &aggs);
    // `first_seen()` alone: true only for the event at hand, so its alerts are instantaneous.
    let instant = form == Form::Aggregate && aggs.iter().all(|a| a.func == EventFn::FirstSeen);
    let extras = levels
        .iter()
        .map(|l| crate::alert::Origin::extra(labels, &meta.labels, l.severity, levels.len()))
        .collect();
    Rule {
        extras,
        id: meta.id.as_str().into(),
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
        state: Default::default(),
        mono,
        instant,
        swept: 0,
        order: Default::default(),
        sweep_left: 0,
        births: 0,
        learn_until: None,
        last_full_sweep: i64::MIN,
        pool: Vec::new(),
        seq_pool: Vec::new(),
        expiry,
        dirty: false,
        refused: 0,
        matches: 0,
        last_match: None,
    }
}

/// The aggregates an event rule reads, with their windows in ms.
fn aggregates(ir: &Ir, plan: &EventPlan) -> Vec<Agg> {
    plan.aggregates
        .iter()
        .filter_map(|s| {
            ir.event_aggs.get(s).map(|a| Agg {
                slot: *s,
                func: a.func,
                arg: a.arg.clone(),
                window: ms(a.window).max(1),
            })
        })
        .collect()
}

/// Key fields: `(label, slot)`.
type KeyFields = Vec<(Sym, u32)>;

/// An event rule's form, the fields its alerts are keyed by, and its throttle's keys (label
/// names interned in that order).
fn form_and_keys(ir: &Ir, plan: &EventPlan, labels: &mut Labels) -> (Form, KeyFields, KeyFields) {
    let mut key_syms = |keys: &[Key]| {
        keys.iter()
            .map(|k| (labels.sym(&k.label), k.slot))
            .collect::<Vec<_>>()
    };
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
    (form, keys, throttle_keys)
}

/// A rule's levels (one per severity, at most [`MAX_LEVELS`]); a rule without `when` (a
/// single event or a sequence) has one, always holding.
fn levels_of(meta: &RuleMeta, keep_firing: i64, interval: i64) -> Vec<Level> {
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
    levels
}

/// Whether every level's condition only compares `count()`, `distinct()` or `sum()` from
/// above with constants, joined by `and`/`or` (see `Rule::mono`; a `sum` stays monotone
/// while its values are not negative, which `KeyState::volatile` watches per key).
fn monotone(ir: &Ir, levels: &[vigil_compiler::ir::meta::Level], aggs: &[Agg]) -> bool {
    let counting = |n: u32| {
        matches!(ir.node(n), Node::Slot(r, _) if r.depth == 0
            && aggs.iter().any(|a| a.slot == r.id && matches!(a.func, EventFn::Count | EventFn::Distinct | EventFn::Sum)))
    };
    let constant = |n: u32| matches!(ir.node(n), Node::Num(_));
    fn walk(ir: &Ir, n: u32, ok: &dyn Fn(u32, u32, CmpOp) -> bool) -> bool {
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

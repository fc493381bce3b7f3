//! Building an engine from a rule set: series plans compiled to vector expressions (with
//! their selectors registered in the store), records, metric rules with their levels and
//! policies in dependency order, and the horizon past which evaluations change nothing.

use super::{Buffers, BuildError, Config, Counters, Engine, LevelPlan, MetricRule};
use crate::alert::{Book, Policy};
use crate::events::Events;
use crate::events::raw::RawLayout;
use crate::labels::{LabelId, Labels, Sym};
use crate::metric::rows::Plan;
use crate::metric::store::Store;
use crate::metric::vector::{AccSpec, Compile, LabelSel, VExpr};
use crate::time::{MAX_TIME, ms};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use vigil_compiler::eval::{Frame, RuleSet};
use vigil_compiler::ir::meta::{RuleKind, RuleMeta};
use vigil_compiler::ir::series::{Rows, SeriesExpr, gcd};
use vigil_compiler::ir::{Ir, Node, SlotSource};

/// What compiling the series side produces, before the engine is assembled.
struct Compiled {
    /// Some plan reads `ALERTS{..}`.
    reads_alerts: bool,
    labels: Labels,
    store: Store,
    slots: Vec<Option<VExpr>>,
    slot_bool: Vec<bool>,
    time_slot: Option<u32>,
    records: Vec<(Sym, VExpr, i64, LabelId)>,
    accs: Vec<AccSpec>,
    spans: Vec<AccSpec>,
}

impl Engine {
    /// An engine for a rule set (shared: tests build one engine per test from one
    /// compilation).
    pub fn new(rules: impl Into<Arc<RuleSet>>, mut config: Config) -> Result<Engine, BuildError> {
        let rules: Arc<RuleSet> = rules.into();
        // A zero interval would never advance the clock.
        config.interval = config.interval.max(1);
        config.lateness = config.lateness.max(0);
        let ir = rules.ir();
        let rule_index: HashMap<String, usize> = ir
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let mut c = compile_series(ir, &config, &rule_index)?;
        let read = read_rules(ir);
        let metric = metric_rules(ir, &config, &mut c.labels, &read);
        let metric = in_dependency_order(metric, ir, &rule_index);
        let n = ir.layout.len();
        let alerts = c
            .reads_alerts
            .then(|| super::AlertSeries::new(&metric, &mut c.labels));
        let empty = c.labels.intern(Vec::new());
        let horizon = horizon(&c.store, &metric, &config);
        let step = metric
            .iter()
            .map(|r| r.interval)
            .fold(config.interval, gcd)
            .max(1);
        let data_free = metric.iter().any(|r| {
            r.levels.iter().any(|l| {
                matches!(*l.when_rows, Plan::Scalar)
                    || l.recover
                        .as_ref()
                        .is_some_and(|(_, p)| matches!(**p, Plan::Scalar))
            })
        });
        let events = Events::new(&rules, &mut c.labels, config.interval, config.max_keys);
        Ok(Engine {
            events,
            buffered: std::collections::BinaryHeap::new(),
            arrivals: 0,
            event_frame: None,
            raw: RawLayout::new(ir),
            firing: vec![Vec::new(); ir.rules.len()],
            alerts,
            cache: vec![None; n],
            pool: Vec::new(),
            accs: vec![Vec::new(); c.accs.len()],
            acc_specs: c.accs,
            spans: vec![Vec::new(); c.spans.len()],
            buf: Buffers::default(),
            frame: Frame::new(ir),
            labels: c.labels,
            store: c.store,
            slots: c.slots,
            slot_bool: c.slot_bool,
            time_slot: c.time_slot,
            records: c.records,
            metric,
            config,
            next: None,
            evaluated: None,
            newest: None,
            first: None,
            horizon,
            data_free,
            step,
            counters: Counters::default(),
            tracer: Default::default(),
            unescaped: Default::default(),
            spare_event: None,
            series_cache: super::SeriesCache::new(),
            observing: false,
            observed: Vec::new(),
            stopwatch: None,
            scratch: Vec::new(),
            fscratch: Vec::new(),
            empty,
            rules,
        })
    }
}

/// Every series slot's plan compiled to a vector expression (selectors registered in the
/// store, each owned by the rule that first reads it), and every record.
fn compile_series(
    ir: &Ir,
    config: &Config,
    rule_index: &HashMap<String, usize>,
) -> Result<Compiled, BuildError> {
    let mut labels = Labels::default();
    let mut store = Store::new(config.max_series);
    let lateness_s = config.lateness as f64 / 1000.0;
    let n = ir.layout.len();
    let mut slots: Vec<Option<VExpr>> = vec![None; n];
    let mut slot_bool = vec![false; n];
    let mut time_slot = None;
    let mut accs: Vec<AccSpec> = Vec::new();
    let mut spans: Vec<AccSpec> = Vec::new();
    let owner = slot_owners(ir);
    let intervals = slot_intervals(ir, config);
    let mut reads_alerts = false;
    for (i, info) in ir.layout.slots.iter().enumerate() {
        let slot = i as u32;
        if info.source == SlotSource::Time {
            time_slot = Some(slot);
            continue;
        }
        let plan = match (&info.source, ir.series.get(&slot)) {
            (_, Some(p)) => p.clone(),
            (SlotSource::Rule(r), None) => SeriesExpr::RuleState(r.clone()),
            _ => continue,
        };
        slot_bool[i] = matches!(
            plan,
            SeriesExpr::RuleState(_)
                | SeriesExpr::Trend { .. }
                | SeriesExpr::Absent { .. }
                | SeriesExpr::Present(_)
                | SeriesExpr::AbsentOf(_)
                | SeriesExpr::Outside { .. }
                | SeriesExpr::AtLeast(..)
                | SeriesExpr::Anomaly { flag: true, .. }
        );
        let rule = owner.get(&slot).cloned().unwrap_or_default();
        let mut c = Compile {
            store: &mut store,
            labels: &mut labels,
            rule: &rule,
            rule_index,
            lateness_s,
            accs: &mut accs,
            spans: &mut spans,
            interval: intervals.get(&slot).copied().unwrap_or(config.interval),
            calendars: &ir.routing.calendars,
            reads_alerts: false,
        };
        slots[i] = Some(c.expr(&plan).map_err(BuildError)?);
        reads_alerts |= c.reads_alerts;
    }
    let mut records = Vec::new();
    for rec in &ir.records {
        let (name, plan) = (&rec.name, &rec.plan);
        let mut c = Compile {
            store: &mut store,
            labels: &mut labels,
            rule: name,
            rule_index,
            lateness_s,
            accs: &mut accs,
            spans: &mut spans,
            interval: config.interval,
            calendars: &ir.routing.calendars,
            reads_alerts: false,
        };
        let v = c.expr(plan).map_err(BuildError)?;
        reads_alerts |= c.reads_alerts;
        let metric = labels.sym(name);
        let set = labels.intern_strs(rec.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        records.push((metric, v, 0, set));
    }
    // Recorded series are kept as long as their readers need.
    for (metric, _, reach, _) in &mut records {
        *reach = store
            .selectors
            .iter()
            .filter(|s| s.metric == *metric)
            .map(|s| s.reach_ms)
            .max()
            .unwrap_or(0);
    }
    Ok(Compiled {
        reads_alerts,
        labels,
        store,
        slots,
        slot_bool,
        time_slot,
        records,
        accs,
        spans,
    })
}

/// The grid each series slot is evaluated on, ms: the gcd of the intervals (and `delay`s) of
/// the rules that read it (a long window's buckets must land on every one of their
/// evaluation times).
fn slot_intervals(ir: &Ir, config: &Config) -> HashMap<u32, i64> {
    let grid: HashMap<&str, i64> = ir
        .rules
        .iter()
        .map(|m| {
            let every = m.interval.map(ms).unwrap_or(config.interval).max(1);
            (m.id.as_str(), gcd(every, ms(m.delay)))
        })
        .collect();
    let interval = |rule: &str| grid.get(rule).copied().unwrap_or(config.interval);
    let mut out: HashMap<u32, i64> = HashMap::new();
    let mut note = |slot: u32, every: i64| {
        let e = out.entry(slot).or_insert(every);
        *e = gcd(*e, every);
    };
    for p in &ir.programs {
        let every = interval(&p.rule);
        if let Some(r) = &p.rows {
            let mut leaves = Vec::new();
            r.leaves(&mut leaves);
            for l in leaves {
                note(l, every);
            }
        }
        let mut stack = vec![p.root];
        while let Some(id) = stack.pop() {
            let node = ir.node(id);
            if let Node::Slot(r, _) = node
                && r.depth == 0
            {
                note(r.id, every);
            }
            stack.extend(node.children());
        }
    }
    out
}

/// The rule that first reads each slot: it owns the slot's selectors (and their cardinality
/// limit).
fn slot_owners(ir: &Ir) -> HashMap<u32, String> {
    let mut owner: HashMap<u32, String> = HashMap::new();
    for p in &ir.programs {
        if let Some(r) = &p.rows {
            let mut leaves = Vec::new();
            r.leaves(&mut leaves);
            for l in leaves {
                owner.entry(l).or_insert_with(|| p.rule.clone());
            }
        }
    }
    for p in &ir.programs {
        let mut stack = vec![p.root];
        while let Some(id) = stack.pop() {
            let node = ir.node(id);
            if let Node::Slot(r, _) = node
                && r.depth == 0
            {
                owner.entry(r.id).or_insert_with(|| p.rule.clone());
            }
            stack.extend(node.children());
        }
    }
    owner
}

/// Rules whose state some composite or record reads.
fn read_rules(ir: &Ir) -> HashSet<String> {
    let mut read: HashSet<String> = HashSet::new();
    for (slot, info) in ir.layout.slots.iter().enumerate() {
        if let SlotSource::Rule(r) = &info.source {
            read.insert(r.clone());
        }
        if let Some(p) = ir.series.get(&(slot as u32)) {
            read.extend(p.rules().into_iter().map(str::to_string));
        }
    }
    for r in &ir.records {
        read.extend(r.plan.rules().into_iter().map(str::to_string));
    }
    read
}

/// The metric rules, with each level's programs, row plans and alert policy.
fn metric_rules(
    ir: &Ir,
    config: &Config,
    labels: &mut Labels,
    read: &HashSet<String>,
) -> Vec<MetricRule> {
    let mut metric = Vec::new();
    for (index, meta) in ir.rules.iter().enumerate() {
        if meta.kind != RuleKind::Metric {
            continue;
        }
        let interval = meta.interval.map(ms).unwrap_or(config.interval).max(1);
        let levels: Vec<LevelPlan> = meta
            .levels
            .iter()
            .map(|l| level_plan(ir, meta, l, interval, labels))
            .collect();
        let extras = levels
            .iter()
            .map(|l: &LevelPlan| {
                crate::alert::Origin::extra(labels, &meta.labels, l.severity, levels.len())
            })
            .collect();
        metric.push(MetricRule {
            id: meta.id.as_str().into(),
            extras,
            books: vec![Book::default(); levels.len()],
            levels,
            interval,
            delay: ms(meta.delay),
            static_labels: meta.labels.clone(),
            index,
            read: read.contains(&meta.id),
            stat: Default::default(),
        });
    }
    metric
}

fn level_plan(
    ir: &Ir,
    meta: &RuleMeta,
    l: &vigil_compiler::ir::meta::Level,
    interval: i64,
    labels: &mut Labels,
) -> LevelPlan {
    let mut plan_of = |p: usize| {
        compile_rows(
            ir.programs[p].rows.as_ref().unwrap_or(&Rows::Scalar),
            ir,
            labels,
        )
    };
    let when_rows = Arc::new(plan_of(l.when));
    let recover = l.recover.map(|r| (r, Arc::new(plan_of(r))));
    LevelPlan {
        when: l.when,
        when_rows,
        recover,
        value: [l.value, l.value_alt],
        severity: l.severity,
        policy: Policy {
            for_: ms(l.for_),
            keep_firing: ms(meta.keep_firing),
            cooldown: ms(meta.cooldown),
            no_data: meta.no_data.map(|(d, a)| (ms(d), a)),
            flapping: meta.flapping.map(|(lo, hi, over)| (lo, hi, ms(over))),
            interval,
            has_recover: l.recover.is_some(),
        },
    }
}

/// Composites after the rules they read: a stable topological order.
fn in_dependency_order(
    metric: Vec<MetricRule>,
    ir: &Ir,
    rule_index: &HashMap<String, usize>,
) -> Vec<MetricRule> {
    let deps: Vec<Vec<usize>> = metric
        .iter()
        .map(|r| {
            let mut d = Vec::new();
            for l in &r.levels {
                let mut leaves = Vec::new();
                for p in std::iter::once(l.when).chain(l.recover.as_ref().map(|x| x.0)) {
                    if let Some(rows) = &ir.programs[p].rows {
                        rows.leaves(&mut leaves);
                    }
                }
                for s in leaves {
                    if let Some(p) = ir.series.get(&s) {
                        d.extend(
                            p.rules()
                                .into_iter()
                                .filter_map(|x| rule_index.get(x).copied()),
                        );
                    }
                    if let SlotSource::Rule(x) = &ir.layout.slots[s as usize].source
                        && let Some(&i) = rule_index.get(x)
                    {
                        d.push(i);
                    }
                }
            }
            d
        })
        .collect();
    let order = topo(&metric.iter().map(|r| r.index).collect::<Vec<_>>(), &deps);
    let mut ordered: Vec<Option<MetricRule>> = metric.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| ordered[i].take())
        .collect()
}

/// How long after the last sample evaluations can still change anything, ms: the longest
/// reach of a selector plus the longest chain of timers a rule can run.
fn horizon(store: &Store, metric: &[MetricRule], config: &Config) -> i64 {
    let reach = store
        .selectors
        .iter()
        .map(|s| s.reach_ms.max(s.rollup.map_or(0, |r| r.reach)))
        .max()
        .unwrap_or(0);
    let timers = metric
        .iter()
        .flat_map(|r| {
            r.levels.iter().map(move |l| {
                let p = &l.policy;
                p.for_
                    + p.keep_firing
                    + p.cooldown
                    + p.no_data.map_or(0, |n| n.0)
                    + p.flapping.map_or(0, |f| f.2)
                    + r.delay
                    + 2 * r.interval
            })
        })
        .max()
        .unwrap_or(0);
    reach
        .saturating_add(timers)
        .saturating_add(2 * config.interval)
        .min(MAX_TIME)
}

fn compile_rows(r: &Rows, ir: &vigil_compiler::ir::Ir, labels: &mut Labels) -> Plan {
    match r {
        Rows::Scalar => Plan::Scalar,
        Rows::Leaf(s) => {
            let natural = matches!(ir.layout.slots[*s as usize].source, SlotSource::Rule(_))
                || matches!(
                    ir.series.get(s),
                    Some(SeriesExpr::RuleState(_) | SeriesExpr::Score(_) | SeriesExpr::AtLeast(..))
                );
            Plan::Leaf { slot: *s, natural }
        }
        Rows::Join {
            kind,
            arith,
            matching,
            lhs,
            rhs,
        } => Plan::Join {
            kind: *kind,
            arith: *arith,
            matching: matching.as_ref().map(|m| LabelSel::matching(m, labels)),
            lhs: Box::new(compile_rows(lhs, ir, labels)),
            rhs: Box::new(compile_rows(rhs, ir, labels)),
        },
    }
}

/// A stable topological order of rules by their dependencies (indices into `ids`' positions).
fn topo(ids: &[usize], deps: &[Vec<usize>]) -> Vec<usize> {
    let pos: HashMap<usize, usize> = ids.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    let mut done = vec![false; ids.len()];
    let mut order = Vec::new();
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        pos: &HashMap<usize, usize>,
        done: &mut [bool],
        order: &mut Vec<usize>,
        depth: usize,
    ) {
        if done[i] || depth > deps.len() {
            return;
        }
        done[i] = true;
        for d in &deps[i] {
            if let Some(&j) = pos.get(d) {
                visit(j, deps, pos, done, order, depth + 1);
            }
        }
        order.push(i);
    }
    for i in 0..ids.len() {
        visit(i, deps, &pos, &mut done, &mut order, 0);
    }
    order
}

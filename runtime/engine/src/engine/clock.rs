//! The clock: everything due up to `now - lateness` in time order (event timers, held events,
//! then the metric evaluation of each instant: records, then rules in dependency order, each
//! level's rows through its programs into its alert book).

use super::{Engine, Observation, Values};
use crate::alert::Inputs;
use crate::events::Cx;
use crate::labels::LabelId;
use crate::metric::rows::{self, Plan};
use crate::metric::vector::{Eval, VExpr, Vector};
use crate::time::MAX_TIME;
use vigil_compiler::eval::threshold::{RowValue, Threshold};
use vigil_compiler::eval::{Frame, SlotVal};
use vigil_vocab::Transition;

impl Engine {
    /// The clock: runs everything due at or before `now - lateness` in time order: event
    /// timers, then buffered events, then the metric evaluation of that time (which sees the
    /// events at its own time).
    ///
    /// Once no data has arrived for longer than every window, lookback and timer of the rules
    /// (the *horizon*) and one evaluation has run past it, further evaluations cannot change
    /// anything, so the clock jumps to the last due one instead of running each (a gap of years
    /// in the input costs one evaluation). A rule whose condition reads no series at all (only
    /// `time()` and constants) turns this off.
    pub fn advance(&mut self, now: i64, out: &mut Vec<Transition>) {
        let until = now.clamp(-MAX_TIME, MAX_TIME) - self.config.lateness;
        let ticking = !self.metric.is_empty() || !self.records.is_empty();
        loop {
            let timer = self.events.next_timer().filter(|&t| t <= until);
            let event = self.buffered.peek().map(|b| b.0.ts).filter(|&t| t <= until);
            let tick = self.next.filter(|&t| t <= until && ticking);
            let first = [timer, event, tick].into_iter().flatten().min();
            let Some(at) = first else { break };
            if timer == Some(at) {
                let mut cx = Cx {
                    rules: &self.rules,
                    labels: &mut self.labels,
                    out,
                };
                self.events.run_timers(&mut cx, at);
                continue;
            }
            if event == Some(at) {
                let Some(std::cmp::Reverse(b)) = self.buffered.pop() else {
                    break;
                };
                let mut frame = self
                    .event_frame
                    .take()
                    .unwrap_or_else(|| Frame::new(self.rules.ir()))
                    .recycle();
                frame.fill_json(self.rules.ir(), &b.event);
                let mut shared: Option<vigil_vocab::EventJson> = None;
                let ev = &b.event;
                let mut raw = || {
                    shared
                        .get_or_insert_with(|| vigil_vocab::EventJson::from_value(ev))
                        .clone()
                };
                self.event_at(&mut frame, b.ts, &mut raw, out);
                self.event_frame = Some(frame.recycle());
                continue;
            }
            let t = at;
            if !self.data_free
                && let (Some(newest), Some(done)) = (self.newest.or(self.first), self.evaluated)
                && done > newest + self.horizon
                && t > newest + self.horizon
            {
                let last = until - until.rem_euclid(self.step);
                let limit = [
                    self.events.next_timer(),
                    self.buffered.peek().map(|b| b.0.ts),
                ]
                .into_iter()
                .flatten()
                .min()
                .map_or(last, |x| x - x.rem_euclid(self.step) - self.step);
                let last = last.min(limit);
                if last > t {
                    self.counters.skipped += ((last - t) / self.step) as u64;
                    self.next = Some(last);
                    continue;
                }
            }
            self.evaluate(t, out);
            self.first.get_or_insert(t);
            self.evaluated = Some(t);
            self.next = Some(t + self.step);
        }
        if !ticking
            && let Some(n) = self.next
            && n <= until
        {
            self.next = Some(until - until.rem_euclid(self.step) + self.step);
        }
    }

    /// Runs every evaluation up to and including `t` regardless of lateness (end of input).
    pub fn finish(&mut self, t: i64, out: &mut Vec<Transition>) {
        let saved = self.config.lateness;
        self.config.lateness = 0;
        self.advance(t, out);
        self.config.lateness = saved;
    }

    /// Computes series slot `slot` at `at` into the cache (unless `cached` and already there).
    fn vector(&mut self, slot: u32, at: i64, cached: bool) {
        if cached && self.cache[slot as usize].is_some() {
            return;
        }
        let slots = std::mem::take(&mut self.slots);
        if let Some(expr) = slots[slot as usize].as_ref() {
            let mut v = self.cache[slot as usize]
                .take()
                .or_else(|| self.pool.pop())
                .unwrap_or_default();
            self.eval_vector(expr, at, &mut v);
            self.cache[slot as usize] = Some(v);
        }
        self.slots = slots;
    }

    /// Evaluates a series plan at time `t` into `v`.
    fn eval_vector(&mut self, expr: &VExpr, t: i64, v: &mut Vector) {
        self.evaluator(t).eval(expr, v);
    }

    /// The series evaluator at time `t`, over the engine's store and sliding state.
    fn evaluator(&mut self, t: i64) -> Eval<'_> {
        Eval {
            store: &self.store,
            labels: &mut self.labels,
            firing: &self.firing,
            t,
            scratch: &mut self.scratch,
            fscratch: &mut self.fscratch,
            match_conflicts: &mut self.counters.match_conflicts,
            accs: &mut self.accs,
            acc_specs: &self.acc_specs,
            spans: &mut self.spans,
            alerts: self.alerts.as_ref().map_or(&[], |a| a.now.as_slice()),
        }
    }

    /// One evaluation at time `t` (ms): records, then rules in dependency order.
    fn evaluate(&mut self, t: i64, out: &mut Vec<Transition>) {
        for c in &mut self.cache {
            if let Some(v) = c.take() {
                self.pool.push(v);
            }
        }
        if t % self.config.interval == 0 {
            self.record(t);
        }
        // Nothing at or before `t` can arrive any more: long windows' buckets close up to it.
        self.store.seal(t);
        if let Some(ts) = self.time_slot {
            self.frame.set(ts, SlotVal::number(t as f64 / 1000.0));
        }
        self.events.publish(&mut self.firing);
        self.take_alerts();
        for ri in 0..self.metric.len() {
            if t % self.metric[ri].interval == 0 {
                self.evaluate_rule(ri, t, out);
            }
        }
    }

    /// `ALERTS{..}`'s series (when some plan reads it): every firing alert of the metric rules,
    /// its labels with what [`super::AlertSeries::extra`] adds, value 1.
    fn take_alerts(&mut self) {
        let Some(mut a) = self.alerts.take() else {
            return;
        };
        a.now.clear();
        let mut firing = Vec::new();
        for (rule, extra) in self.metric.iter().zip(&a.extra) {
            for (book, extra) in rule.books.iter().zip(extra) {
                firing.clear();
                book.firing(&mut firing);
                for &l in &firing {
                    // The added labels come last: they win over the alert's own.
                    let mut pairs = self.labels.pairs(l).to_vec();
                    pairs.extend_from_slice(extra);
                    a.now.push((self.labels.intern(pairs), 1.0));
                }
            }
        }
        self.alerts = Some(a);
    }

    /// Every `record` at `t`, written back as series.
    fn record(&mut self, t: i64) {
        let records = std::mem::take(&mut self.records);
        for (metric, expr, reach, set) in &records {
            let (metric, reach, set) = (*metric, *reach, *set);
            let mut v = self.pool.pop().unwrap_or_default();
            self.eval_vector(expr, t, &mut v);
            for &(l, x) in &v {
                // Static labels override the plan's own of those names (as Prometheus's).
                let l = if self.labels.pairs(set).is_empty() {
                    l
                } else {
                    self.labels.merge(l, set)
                };
                self.store.record(&self.labels, metric, l, t, x, reach);
            }
            self.pool.push(v);
        }
        self.records = records;
    }

    /// Metric rule `ri` at `t` (its data read `delay` earlier): each level's book steps, its
    /// changes go to `out`, and composites get the label sets it has data for or fires.
    fn evaluate_rule(&mut self, ri: usize, t: i64, out: &mut Vec<Transition>) {
        let start = self.lap();
        let delay = self.metric[ri].delay;
        let at = t - delay;
        if let Some(ts) = self.time_slot {
            self.frame.set(ts, SlotVal::number(at as f64 / 1000.0));
        }
        let mut firing = Vec::new();
        let mut known: Vec<LabelId> = Vec::new();
        let mut changes = Vec::new();
        for li in 0..self.metric[ri].levels.len() {
            changes.clear();
            self.tracer.now = self.tracer.traces(ri).then_some((ri, li, t, false));
            self.level_inputs(ri, li, at, delay == 0);
            self.tracer.now = None;
            if self.metric[ri].read {
                known.extend(self.buf.present.iter().copied());
            }
            let inputs = Inputs {
                hits: &self.buf.hits,
                present: &self.buf.present,
                recovered: &self.buf.recovered,
                empty: self.empty,
            };
            let rule = &mut self.metric[ri];
            let policy = rule.levels[li].policy.clone();
            rule.books[li].step(&policy, t, &inputs, &mut changes);
            if rule.read {
                rule.books[li].firing(&mut firing);
            }
            self.counters.evaluations += 1;
            let origin = rule.origin(li);
            let labels = &mut self.labels;
            let mut lines: Vec<Transition> = changes
                .iter()
                .map(|c| origin.transition(labels, t, c, None))
                .collect();
            // By label set, then state as written (the order the timeline has always had).
            lines.sort_by(|a, b| (&a.labels, a.state.word()).cmp(&(&b.labels, b.state.word())));
            out.extend(lines);
        }
        if self.metric[ri].read {
            let idx = self.metric[ri].index;
            self.firing[idx] = rule_states(firing, known);
        }
        let nanos = self.lap().saturating_sub(start);
        let stat = &mut self.metric[ri].stat;
        stat.nanos = nanos;
        stat.at = Some(t);
        stat.count += 1;
        stat.total_nanos += nanos;
        stat.total_rows += stat.rows as u64;
    }

    /// The first level's rows (`count` of them, the rows themselves when observing), just
    /// evaluated at `t`: counted, and observed when asked.
    fn note(&mut self, ri: usize, t: i64, count: usize, rows: &[(LabelId, bool, f64)]) {
        let rule = &mut self.metric[ri];
        rule.stat.rows = count;
        rule.stat.hits = self.buf.hits.len();
        if self.observing {
            let id = &rule.id;
            self.observed
                .extend(rows.iter().map(|&(labels, holds, value)| Observation {
                    rule: id.clone(),
                    t,
                    labels,
                    value,
                    holds,
                }));
        }
    }

    /// The rows of one level at `at` into `self.buf`: where `when` holds (with values) in
    /// `hits`, every label set with data in `present` (sorted), `recover when` per label set in
    /// `recovered` (sorted).
    fn level_inputs(&mut self, ri: usize, li: usize, at: i64, cached: bool) {
        let level = &self.metric[ri].levels[li];
        let (when, value) = (level.when, level.value);
        let when_plan = level.when_rows.clone();
        let recover = level.recover.clone();
        let mut rows = std::mem::take(&mut self.buf.rows);
        rows.clear();
        let count = match self.threshold_inputs(&when_plan, at, cached, when, value) {
            Some(count) => count,
            None => {
                self.eval_rows(&when_plan, at, cached, when, value, &mut rows);
                self.buf.hits.clear();
                self.buf.present.clear();
                for &(l, ok, v) in &rows {
                    self.buf.present.push(l);
                    if ok {
                        self.buf.hits.push((l, v));
                    }
                }
                rows.len()
            }
        };
        self.buf.present.sort_unstable();
        self.buf.present.dedup();
        if li == 0 {
            let t = at + self.metric[ri].delay;
            self.note(ri, t, count, &rows);
        }
        self.buf.recovered.clear();
        if let Some((rp, plan)) = recover {
            if let Some(now) = &mut self.tracer.now {
                now.3 = true;
            }
            self.eval_rows(&plan, at, cached, rp, [None, None], &mut rows);
            self.buf
                .recovered
                .extend(rows.iter().map(|&(l, ok, _)| (l, ok)));
            self.buf.recovered.sort_unstable_by_key(|x| x.0);
        }
        self.buf.rows = rows;
    }

    /// A level whose condition is a threshold over one instant read or window function,
    /// decided series by series as the read yields them, straight into `self.buf`'s hits and
    /// present (unsorted): no vector, rows or program call in between. The number of rows, or
    /// `None` for any other level, an observed one (its record needs every row), or a slot
    /// another reader already computed this evaluation (its vector is reused).
    fn threshold_inputs(
        &mut self,
        plan: &Plan,
        at: i64,
        cached: bool,
        prog: usize,
        value: Values,
    ) -> Option<usize> {
        let &Plan::Leaf { slot, .. } = plan else {
            return None;
        };
        if self.observing || (cached && self.cache[slot as usize].is_some()) {
            return None;
        }
        let (th, row) = self.threshold(prog, value, slot)?;
        let slots = std::mem::take(&mut self.slots);
        let mut hits = std::mem::take(&mut self.buf.hits);
        let mut present = std::mem::take(&mut self.buf.present);
        hits.clear();
        present.clear();
        let streamed = slots[slot as usize].as_ref().is_some_and(|e| {
            self.evaluator(at).stream(e, &mut |l, x| {
                present.push(l);
                if th.holds(x) {
                    hits.push((l, row.map_or(f64::NAN, |r| r.at(x))));
                }
            })
        });
        let count = present.len();
        self.slots = slots;
        self.buf.hits = hits;
        self.buf.present = present;
        if !streamed {
            return None;
        }
        self.counters.row_evaluations += count as u64;
        Some(count)
    }

    /// Evaluates predicate `prog` (and numeric `value`) for every row of `plan`: `(labels,
    /// holds, value)`. A single series slot (the common case) is read straight from its vector.
    fn eval_rows(
        &mut self,
        plan: &Plan,
        at: i64,
        cached: bool,
        prog: usize,
        value: Values,
        out: &mut Vec<(LabelId, bool, f64)>,
    ) {
        out.clear();
        if let Plan::Leaf { slot, .. } = plan {
            let slot = *slot;
            if !cached {
                self.cache[slot as usize] = None;
            }
            self.vector(slot, at, true);
            let vector = self.cache[slot as usize].take().unwrap_or_default();
            let boolean = self.slot_bool[slot as usize];
            if let Some((th, row)) = self.threshold(prog, value, slot) {
                // One comparison per row instead of a program call; the frame is left
                // unset, as a trace (which reads it) takes the general loop.
                out.extend(vector.iter().map(|&(l, x)| {
                    let ok = th.holds(x);
                    let v = match row {
                        Some(row) if ok || self.observing => row.at(x),
                        _ => f64::NAN,
                    };
                    (l, ok, v)
                }));
            } else {
                for &(l, x) in &vector {
                    let val = if boolean {
                        SlotVal::boolean(x != 0.0)
                    } else {
                        SlotVal::number(x)
                    };
                    self.frame.set(slot, val);
                    let (ok, v) = self.run(prog, value);
                    if self.tracer.now.is_some() {
                        self.trace_row(prog, l, ok);
                    }
                    out.push((l, ok, v));
                }
                self.frame.set(slot, SlotVal::missing());
            }
            self.counters.row_evaluations += vector.len() as u64;
            if cached {
                self.cache[slot as usize] = Some(vector);
            } else {
                self.pool.push(vector);
            }
            return;
        }
        let rows = self.rows_of(plan, at, cached);
        for row in &rows {
            self.fill(row);
            let (ok, v) = self.run(prog, value);
            if self.tracer.now.is_some() {
                self.trace_row(prog, row.labels, ok);
            }
            out.push((row.labels, ok, v));
            self.clear(row);
        }
        rows::settle(&rows, out);
        self.counters.row_evaluations += rows.len() as u64;
    }

    /// Predicate `prog` over single slot `slot` and its value, when the predicate is a
    /// threshold, its value (if any) needs no call either, and no trace reads the frame: rows
    /// then need no program call.
    fn threshold(
        &self,
        prog: usize,
        value: Values,
        slot: u32,
    ) -> Option<(Threshold, Option<RowValue>)> {
        let ir = self.rules.ir();
        let th = Threshold::of(ir, prog).filter(|th| th.slot == slot)?;
        if self.slot_bool[slot as usize] || self.tracer.now.is_some() {
            return None;
        }
        let row = match value {
            [None, None] => None,
            // Such a value always has a number, so the alternative is never read.
            [Some(p), _] => Some(RowValue::of(ir, p, slot)?),
            [None, Some(_)] => return None,
        };
        Some((th, row))
    }

    /// Runs a predicate on the frame and, when it holds, the value program.
    #[inline]
    fn run(&self, prog: usize, value: Values) -> (bool, f64) {
        let ok = self.rules.eval_bool(prog, &self.frame);
        if !ok && !self.observing {
            return (false, f64::NAN);
        }
        let v = value
            .iter()
            .flatten()
            .find_map(|&p| self.rules.eval_num(p, &self.frame))
            .unwrap_or(f64::NAN);
        (ok, v)
    }

    fn rows_of(&mut self, plan: &Plan, at: i64, cached: bool) -> Vec<rows::Row> {
        let mut leaves = Vec::new();
        plan_leaves(plan, &mut leaves);
        if !cached {
            for &l in &leaves {
                self.cache[l as usize] = None;
            }
        }
        for &l in &leaves {
            self.vector(l, at, true);
        }
        let cache = &self.cache;
        let leaf = |s: u32| cache.get(s as usize).and_then(|v| v.as_ref());
        let r = rows::build(
            plan,
            &mut self.labels,
            &leaf,
            &mut self.counters.match_conflicts,
        )
        .rows;
        if !cached {
            for &l in &leaves {
                self.cache[l as usize] = None;
            }
        }
        r
    }

    fn fill(&mut self, row: &rows::Row) {
        for &(s, v) in &row.vals {
            let val = if self.slot_bool[s as usize] {
                SlotVal::boolean(v != 0.0)
            } else {
                SlotVal::number(v)
            };
            self.frame.set(s, val);
        }
    }

    fn clear(&mut self, row: &rows::Row) {
        for &(s, _) in &row.vals {
            self.frame.set(s, SlotVal::missing());
        }
    }
}

fn plan_leaves(p: &Plan, out: &mut Vec<u32>) {
    match p {
        Plan::Scalar => {}
        Plan::Leaf { slot, .. } => {
            if !out.contains(slot) {
                out.push(*slot)
            }
        }
        Plan::Join { lhs, rhs, .. } => {
            plan_leaves(lhs, out);
            plan_leaves(rhs, out);
        }
    }
}

/// What composites read of a rule: every label set it had data for, 1 when firing, else 0.
fn rule_states(mut firing: Vec<LabelId>, mut known: Vec<LabelId>) -> Vec<(LabelId, f64)> {
    firing.sort_unstable();
    firing.dedup();
    known.sort_unstable();
    known.dedup();
    let mut states: Vec<(LabelId, f64)> = known
        .into_iter()
        .filter(|l| firing.binary_search(l).is_err())
        .map(|l| (l, 0.0))
        .collect();
    states.extend(firing.into_iter().map(|l| (l, 1.0)));
    states
}

//! `vigil replay`: backtests rules over recorded data with the live engine. Input records
//! from every file are ordered by time (stably), fed to the engine, and the engine's clock is
//! advanced to each record's time, so evaluation happens exactly as in the daemon; each alert
//! state change is printed as one JSON line (piped) or one human line (on a terminal).

use super::{ReplayArgs, TimelineFormat};
use hdrhistogram::Histogram;
use std::io::{BufRead, BufReader, Write};
use std::time::Instant;
use vigil_compiler::eval::RuleSet;
use vigil_engine::feed::{Fed, Merge};
use vigil_engine::{Config, Engine, Transition};
use vigil_ingest::{Format, LineSource};

/// `1m`, `15s`, `500ms`, `1h` (the language's duration units) to milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    vigil_vocab::duration::parse_ms(s)
}

pub fn run(args: ReplayArgs) -> i32 {
    let rules = match super::load_rules(&args.rules, args.rules_root.clone(), args.engine) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let config = match config(&args, &rules) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut engine = match Engine::new(rules, config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot run these rules: {e}");
            return 1;
        }
    };
    for r in &args.trace {
        if let Err(e) = engine.trace(r) {
            eprintln!("error: --trace: {e}");
            return 2;
        }
    }
    let mut feed = match inputs(&args) {
        Ok(sources) => Merge::new(sources),
        Err(code) => return code,
    };
    feed.max_jump = match args.max_jump.trim() {
        "none" => None,
        s => match parse_duration(s) {
            Some(v) => Some(v),
            None => {
                eprintln!("error: --max-jump `{s}` is not a duration (like 7d, 12h) or `none`");
                return 2;
            }
        },
    };
    let mut stats = Stats::new(args.stats);
    if args.stats {
        // Each metric rule's evaluations are timed, for the costliest rules' report.
        let started = stats.started;
        engine.set_stopwatch(Some(Box::new(move || started.elapsed().as_nanos() as u64)));
    }
    let stdout = std::io::stdout();
    let terminal = std::io::IsTerminal::is_terminal(&stdout);
    let human = args.format.map_or(terminal, |f| f == TimelineFormat::Human);
    // Reading stdin (or writing to a terminal), each change is shown as soon as it is known.
    let live = terminal || args.input.iter().any(|p| p.as_os_str() == "-");
    let printer = Printer::new(human, engine.rules());
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut changes: Vec<Transition> = Vec::new();
    loop {
        // The source whose next record is earliest (files are merged by time).
        let t0 = args.stats.then(Instant::now);
        let next = feed.earliest();
        if let Some(t0) = t0 {
            stats.parse_nanos += t0.elapsed().as_nanos();
        }
        for src in &mut feed.sources {
            for bad in src.take_bad() {
                eprintln!("error: {bad}; line skipped");
            }
        }
        let Some((i, ts)) = next else { break };
        // Everything due strictly before this record's time has all its data.
        stats.tick(&mut engine, ts.saturating_sub(1), &mut changes, false);
        let t0 = args.stats.then(Instant::now);
        if feed.ingest(&mut engine, i, &mut changes) == Fed::Event {
            stats.events += 1;
        }
        if let Some(t0) = t0 {
            stats.ingest_nanos += t0.elapsed().as_nanos();
        }
        let shown = !changes.is_empty();
        let t0 = args.stats.then(Instant::now);
        let emitted = emit(
            &args,
            &printer,
            &mut stats,
            &mut out,
            (&mut changes, &mut engine),
        )
        .and_then(|()| if live && shown { out.flush() } else { Ok(()) });
        if let Some(t0) = t0 {
            stats.emit_nanos += t0.elapsed().as_nanos();
        }
        if let Err(e) = emitted {
            super::output_failed(&e);
        }
    }
    let bad: u64 = feed.sources.iter().map(|s| s.bad_lines).sum();
    if let Some(t) = feed.last {
        stats.tick(&mut engine, t, &mut changes, true);
    }
    if let Err(e) = emit(
        &args,
        &printer,
        &mut stats,
        &mut out,
        (&mut changes, &mut engine),
    )
    .and_then(|()| out.flush())
    {
        super::output_failed(&e);
    }
    let run_time = stats.started.elapsed();
    warnings(&engine, &args);
    if args.stats {
        report(&engine, &stats, bad, run_time.as_secs_f64().max(1e-9));
    }
    i32::from(bad > 0)
}

/// The engine's settings from the flags (the interval defaults to the rules').
fn config(args: &ReplayArgs, rules: &RuleSet) -> Result<Config, i32> {
    let interval = match &args.interval {
        Some(s) => match parse_duration(s) {
            Some(v) => v,
            None => {
                eprintln!("error: --interval `{s}` is not a duration (like 1m, 15s, 500ms)");
                return Err(2);
            }
        },
        None => rules
            .ir()
            .interval
            .map_or(15_000, |s| (s * 1000.0).round() as i64),
    };
    let lateness = match &args.lateness {
        Some(s) if s.trim() == "0" || s.trim() == "0s" => 0,
        Some(s) => match parse_duration(s) {
            Some(v) => v,
            None => {
                eprintln!("error: --lateness `{s}` is not a duration (like 30s, 1m)");
                return Err(2);
            }
        },
        None => 0,
    };
    Ok(Config {
        interval,
        lateness,
        max_series: args.max_series,
        max_keys: args.max_keys,
    })
}

/// Every input, read a line at a time (`-` is stdin); bad lines are reported and skipped,
/// never fatal.
fn inputs(args: &ReplayArgs) -> Result<Vec<LineSource<Box<dyn BufRead>>>, i32> {
    let mut sources = Vec::new();
    if args.input.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        eprintln!("error: `-` (stdin) is named more than once in --input; it can be read once");
        return Err(2);
    }
    for path in &args.input {
        let name = path.display().to_string();
        if path.is_dir() {
            eprintln!("error: cannot read {name}: it is a directory (name the files in it)");
            return Err(2);
        }
        let reader: Box<dyn BufRead> = if name == "-" {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            match std::fs::File::open(path) {
                Ok(f) => Box::new(BufReader::with_capacity(1 << 16, f)),
                Err(e) => {
                    eprintln!("error: cannot read {name}: {e}");
                    return Err(2);
                }
            }
        };
        let fmt = Format::of_path(&name);
        sources.push(
            LineSource::new(name, reader, fmt, true)
                .with_max_line(args.max_line_bytes)
                .with_series_keys(),
        );
    }
    Ok(sources)
}

/// What `--stats` reports, measured on the wall clock here (the engine never reads it).
struct Stats {
    on: bool,
    started: Instant,
    latency: Option<Histogram<u64>>,
    events: u64,
    /// Where the time went: reading and parsing lines, ingesting records (event rules run
    /// here), moving the clock (metric evaluations, timers), printing.
    parse_nanos: u128,
    ingest_nanos: u128,
    tick_nanos: u128,
    emit_nanos: u128,
    transitions: u64,
}

impl Stats {
    fn new(on: bool) -> Stats {
        Stats {
            on,
            started: Instant::now(),
            latency: Histogram::<u64>::new(3).ok(),
            events: 0,
            parse_nanos: 0,
            ingest_nanos: 0,
            tick_nanos: 0,
            emit_nanos: 0,
            transitions: 0,
        }
    }

    /// Moves the engine's clock to `now` (at the end, past any lateness), timing the ticks
    /// that evaluated something.
    fn tick(&mut self, engine: &mut Engine, now: i64, changes: &mut Vec<Transition>, end: bool) {
        let t0 = self.on.then(Instant::now);
        let before = engine.counters.evaluations;
        if end {
            engine.finish(now, changes);
        } else {
            engine.advance(now, changes);
        }
        let Some(t0) = t0 else { return };
        let took = t0.elapsed().as_nanos();
        self.tick_nanos += took;
        if let Some(h) = self.latency.as_mut()
            && engine.counters.evaluations > before
        {
            let _ = h.record(took as u64);
        }
    }
}

/// Prints (or, with `--quiet`, drops) the changes so far, counting them.
fn emit(
    args: &ReplayArgs,
    printer: &Printer,
    stats: &mut Stats,
    out: &mut impl Write,
    (changes, engine): (&mut Vec<Transition>, &mut Engine),
) -> std::io::Result<()> {
    stats.transitions += changes.len() as u64;
    let traces = engine.take_traces();
    if args.quiet {
        changes.clear();
        return Ok(());
    }
    // Each evaluation's trace before the changes it made.
    let mut traces = traces.into_iter().peekable();
    let mut rest = std::mem::take(changes);
    for c in rest.drain(..) {
        while let Some(t) = traces.next_if(|t| t.at <= c.ts) {
            super::trace::write(out, &t, printer.human)?;
        }
        changes.push(c);
        if printer.human {
            printer.print(out, changes)?;
        } else {
            print(out, changes)?;
        }
    }
    for t in traces {
        super::trace::write(out, &t, printer.human)?;
    }
    Ok(())
}

/// The human timeline: RFC 3339 time, state, severity, rule, labels, value and the rendered
/// summary, one line per change (text from rules and data escaped for the terminal).
pub(super) struct Printer {
    human: bool,
    /// Per rule: its summary, and whether it has one event aggregate (whose value, the
    /// alert's, `{{ count }}` and the like read).
    summaries: std::collections::HashMap<String, (String, bool)>,
}

impl Printer {
    pub(super) fn new(human: bool, rules: &RuleSet) -> Printer {
        let summaries = rules
            .ir()
            .rules
            .iter()
            .filter_map(|r| {
                let one_agg = r.events.as_ref().is_some_and(|e| e.aggregates.len() == 1);
                Some((r.id.clone(), (r.summary.clone()?, one_agg)))
            })
            .collect();
        Printer { human, summaries }
    }

    pub(super) fn print(
        &self,
        out: &mut impl Write,
        changes: &mut Vec<Transition>,
    ) -> std::io::Result<()> {
        use vigil_vocab::template::{Value, number, render};
        for c in changes.drain(..) {
            let p = super::printable;
            let severity = c.severity.map_or("-".to_string(), |s| s.to_string());
            let labels = vigil_vocab::render_labels(&c.labels);
            write!(
                out,
                "{}  {:<8} {:<8} {} {}",
                rfc3339(c.ts),
                c.state.word(),
                severity,
                p(&c.rule),
                p(&labels)
            )?;
            if !c.value.is_nan() {
                write!(out, " value {}", number(c.value))?;
            }
            if let Some((t, one_agg)) = self.summaries.get(&*c.rule) {
                let event = c.event.as_ref().map(vigil_vocab::EventJson::value);
                let lookup = |name: &str| -> Option<Value<'_>> {
                    match name {
                        "value" => Some(Value::Num(c.value)),
                        "count" | "sum" | "avg" | "min" | "max" | "distinct" | "share"
                            if *one_agg =>
                        {
                            Some(Value::Num(c.value))
                        }
                        "rule" => Some(Value::Str((*c.rule).into())),
                        "severity" => c.severity.map(|s| Value::Str(s.to_string().into())),
                        n => match n.strip_prefix("event.") {
                            Some(path) => event_field(event.as_ref(), path),
                            None => c.labels.get(n).map(|v| Value::Str(v.as_str().into())),
                        },
                    }
                };
                write!(out, "  \"{}\"", p(&render(t, &lookup)))?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

/// `event.a.b` of an alert's event.
fn event_field<'a>(
    event: Option<&'a serde_json::Value>,
    path: &str,
) -> Option<vigil_vocab::template::Value<'a>> {
    vigil_vocab::template::event_field(event?, path)
}

/// Epoch milliseconds as RFC 3339 UTC (`2026-11-23T10:04:00Z`, milliseconds when present).
pub(super) fn rfc3339(ms: i64) -> String {
    vigil_ingest::format_rfc3339(ms)
}

/// What was refused or dropped, with the flag that changes it.
fn warnings(engine: &Engine, args: &ReplayArgs) {
    let c = &engine.counters;
    for (rule, n) in engine.refusals() {
        eprintln!(
            "warning: rule {rule}: {n} new series refused (the cardinality limit is {} series; raise it with --max-series)",
            args.max_series
        );
    }
    if c.out_of_range > 0 {
        eprintln!(
            "warning: {} samples had timestamps more than 3000 years from 1970 and were dropped (times are epoch milliseconds)",
            c.out_of_range
        );
    }
    if c.too_late > 0 {
        eprintln!(
            "warning: {} samples arrived after their evaluation and were dropped",
            c.too_late
        );
    }
    if engine.traces_dropped() > 0 {
        eprintln!(
            "warning: {} traced evaluations were not printed (more than {} in one step)",
            engine.traces_dropped(),
            vigil_engine::engine::MAX_TRACES
        );
    }
    if engine.store.truncated > 0 {
        eprintln!(
            "warning: {} samples within a window's reach were dropped: a series keeps at most {} samples, so a window longer than that many samples sees only the newest (downsample the input, or shorten the window)",
            engine.store.truncated,
            vigil_engine::metric::store::MAX_SAMPLES
        );
    }
    if c.match_conflicts > 0 {
        eprintln!(
            "warning: {} matching conflicts (several series for one key where one-to-one matching, or the \"one\" side of group_left/group_right, needs one) produced no result; add `on [..]` labels that identify one series, or write group_left/group_right",
            c.match_conflicts
        );
    }
    for (rule, n) in engine.events.refusals() {
        eprintln!(
            "warning: rule {rule}: {n} events of new keys refused (the key limit is {} per rule; raise it with --max-keys)",
            args.max_keys
        );
    }
    let ec = &engine.events.counters;
    if ec.too_late > 0 {
        eprintln!(
            "warning: {} events arrived after the watermark had passed them and were dropped (allow it with --lateness)",
            ec.too_late
        );
    }
    if ec.window_overflow > 0 {
        eprintln!(
            "warning: {} events left a window early: one key held more than {} events in it",
            ec.window_overflow,
            vigil_engine::events::window::MAX_WINDOW_EVENTS
        );
    }
}

/// `--stats`: throughput, evaluation latency, and what the engine holds.
fn report(engine: &Engine, stats: &Stats, bad: u64, secs: f64) {
    let c = &engine.counters;
    let ec = &engine.events.counters;
    eprintln!(
        "replay: {} samples ({} stored, {} unread, {} refused, {} late), {} events, {bad} bad lines, {} alert state changes",
        c.samples, c.stored, c.unread, c.refused, c.too_late, stats.events, stats.transitions
    );
    eprintln!(
        "{:.3}s ({:.3}s reading and parsing): {:.0} samples/s, {} evaluations, {} rule-series evaluations ({:.0}/s)",
        secs,
        stats.parse_nanos as f64 / 1e9,
        c.samples as f64 / secs,
        c.evaluations,
        c.row_evaluations,
        c.row_evaluations as f64 / secs
    );
    let share = |n: u128| 100.0 * n as f64 / 1e9 / secs;
    eprintln!(
        "time: {:.0}% reading and parsing, {:.0}% ingesting (event rules run here), {:.0}% metric evaluations and timers, {:.0}% output",
        share(stats.parse_nanos),
        share(stats.ingest_nanos),
        share(stats.tick_nanos),
        share(stats.emit_nanos)
    );
    costliest(engine);
    if let Some(h) = &stats.latency
        && !h.is_empty()
    {
        eprintln!(
            "evaluation latency per tick: p50 {:.1}µs p90 {:.1}µs p99 {:.1}µs max {:.1}µs",
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.9) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
            h.max() as f64 / 1e3
        );
    }
    eprintln!(
        "series store: {} series, {} KiB",
        engine.store.series.len(),
        engine.store_bytes() / 1024
    );
    let (keys, bytes, partials) = engine.events.memory();
    eprintln!(
        "event state: {} rule matches ({} events read the slow way), {keys} keys, {partials} partial sequences, {} KiB ({} bytes per key), {} throttled, {} timers",
        ec.matched,
        ec.slow_path,
        bytes / 1024,
        bytes.checked_div(keys).unwrap_or(0),
        ec.throttled,
        ec.timers
    );
}

/// The metric rules that took the most evaluation time (at most five, costliest first): each
/// one's share of all rules' evaluation time, rows per evaluation and time per row, so a slow
/// replay names the rules to look at.
fn costliest(engine: &Engine) {
    let mut rules: Vec<_> = engine
        .rule_stats()
        .into_iter()
        .filter(|(_, s)| s.total_nanos > 0)
        .collect();
    if rules.is_empty() {
        return;
    }
    let all: u64 = rules.iter().map(|(_, s)| s.total_nanos).sum();
    rules.sort_by(|a, b| b.1.total_nanos.cmp(&a.1.total_nanos).then(a.0.cmp(&b.0)));
    eprintln!("costliest metric rules (share of rule evaluation time):");
    for (id, s) in rules.iter().take(5) {
        let share = 100.0 * s.total_nanos as f64 / all as f64;
        if s.total_rows == 0 {
            eprintln!("  {id}: {share:.0}%, no rows");
            continue;
        }
        let rows = s.total_rows as f64 / s.count.max(1) as f64;
        let per_row = s.total_nanos as f64 / s.total_rows as f64;
        eprintln!("  {id}: {share:.0}%, {rows:.0} rows/evaluation, {per_row:.0} ns/row");
    }
}

/// One JSON line per change, fields in a fixed order: ts, rule, state, labels, value.
pub(super) fn print(out: &mut impl Write, changes: &mut Vec<Transition>) -> std::io::Result<()> {
    for c in changes.drain(..) {
        let labels = serde_json::to_string(&c.labels).unwrap_or_else(|_| "{}".into());
        let value = serde_json::Number::from_f64(c.value)
            .map_or_else(|| "null".to_string(), |n| n.to_string());
        let rule = serde_json::Value::String(c.rule.to_string());
        write!(
            out,
            "{{\"ts\":{},\"rule\":{rule},\"state\":\"{}\",\"labels\":{labels},\"value\":{value}",
            c.ts, c.state
        )?;
        if c.flapping {
            write!(out, ",\"flapping\":true")?;
        }
        if let Some(e) = &c.event {
            write!(out, ",\"event\":{}", e.as_str())?;
        }
        writeln!(out, "}}")?;
    }
    Ok(())
}

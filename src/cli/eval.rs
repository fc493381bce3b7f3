//! `vigil eval`: runs every event rule's filter (`on event where ...`, with `except` tables)
//! over JSON-lines events and prints, per event, the rules whose filter matched. This is the
//! first stage of event evaluation (aggregations, sequences and throttling come after it) and
//! the CLI's throughput mode for the evaluators (`--stats`).

use super::EvalArgs;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::time::Instant;
use vigil_compiler::eval::Scratch;
use vigil_engine::events::raw::RawLayout;
use vigil_ingest::lines::Line;

pub fn run(args: EvalArgs) -> i32 {
    let started = Instant::now();
    let rules = match super::load_rules(&args.rules, args.rules_root.clone(), args.engine) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let compile_time = started.elapsed();
    let mut input = match open_input(&args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.input.display());
            return 2;
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut frame = rules.frame();
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    let (mut events, mut bad, mut matched, mut eval_nanos) = (0u64, 0u64, 0u64, 0u128);
    let started = Instant::now();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let raw = RawLayout::new(rules.ir());
    let mut bump = bumpalo::Bump::new();
    loop {
        buf.clear();
        let read = vigil_ingest::lines::read_line(&mut input, &mut buf, args.max_line_bytes);
        line_no += 1;
        let skip = |bad: &mut u64, why: &str| {
            *bad += 1;
            eprintln!(
                "warning: {}:{line_no}: skipped: {why}",
                args.input.display()
            );
        };
        match read {
            Ok(Line::End) => break,
            Ok(Line::Full) => {}
            Ok(Line::TooLong(n)) => {
                let max = args.max_line_bytes;
                skip(
                    &mut bad,
                    &format!(
                        "line of {n} bytes is longer than the limit of {max} bytes (--max-line-bytes)"
                    ),
                );
                continue;
            }
            Err(e) => {
                eprintln!("error: {}: line {line_no}: {e}", args.input.display());
                return 2;
            }
        }
        let Ok(line) = std::str::from_utf8(&buf) else {
            skip(&mut bad, "line is not valid UTF-8");
            continue;
        };
        if !line.starts_with('{') && line.trim().is_empty() {
            continue;
        }
        bump.reset();
        // The stored frame is all missing (recycled below), as the direct reader needs; its
        // lifetime shortens to this line's for free.
        let mut f = std::mem::take(&mut frame);
        // Timed only for --stats: two clock reads per event are not free on this hot path.
        let t = args.stats.then(Instant::now);
        // The fields the rules read, straight from the text (as `replay` reads them); serde
        // for what the direct reader declines.
        let direct = direct(&raw, rules.ir(), line, &bump, &mut f);
        let value;
        if !direct {
            value = match event_of(line) {
                Ok(v) => v,
                Err(e) => {
                    skip(&mut bad, &e);
                    frame = f.recycle();
                    continue;
                }
            };
            // The `{"ts": .., "event": {..}}` wrapper only when `ts` says so (as `replay`
            // reads it): a bare ECS document has a top-level `event` object of its own.
            let event = match (value.get("ts"), value.get("event")) {
                (Some(_), Some(e)) if e.is_object() => e,
                _ => &value,
            };
            f.fill_json(rules.ir(), event);
        }
        events += 1;
        if args.no_index {
            rules.matching_all(&f, &mut hits);
        } else {
            rules.matching(&f, &mut scratch, &mut hits);
        }
        if let Some(t) = t {
            eval_nanos += t.elapsed().as_nanos();
        }
        frame = f.recycle();
        if !hits.is_empty() {
            matched += 1;
            if !args.quiet {
                let names: Vec<&str> = hits
                    .iter()
                    .map(|p| rules.ir().programs[*p as usize].rule.as_str())
                    .collect();
                let line = serde_json::json!({"line": line_no, "rules": names});
                if let Err(e) = writeln!(out, "{line}") {
                    super::output_failed(&e);
                }
            }
        }
    }
    if let Err(e) = out.flush() {
        super::output_failed(&e);
    }
    if args.stats {
        let counts = Counts {
            events,
            bad,
            matched,
        };
        report(&rules, counts, compile_time, started.elapsed(), eval_nanos);
    }
    if bad > 0 { 1 } else { 0 }
}

/// The input: a file, or stdin for `-`.
fn open_input(args: &EvalArgs) -> std::io::Result<Box<dyn BufRead>> {
    if args.input.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(&args.input)?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
}

/// Fills `frame`, which must have every slot missing, from the line's event with the direct
/// reader: the `{"ts": .., "event": {..}}` line `replay` reads, or a bare document without
/// `ts`; false when serde must read it.
fn direct<'a>(
    raw: &RawLayout,
    ir: &vigil_compiler::ir::Ir,
    line: &'a str,
    bump: &'a bumpalo::Bump,
    frame: &mut vigil_compiler::eval::Frame<'a>,
) -> bool {
    use vigil_ingest::fast_json::{event_start, trim_ws};
    // JSON's white space only: a line serde refuses is never taken here.
    let line = trim_ws(line);
    if let Some((_, start)) = event_start(line) {
        let object = &line[start..];
        return raw
            .fill_object(ir, object, bump, frame)
            .is_some_and(|end| trim_ws(&object[end..]) == "}");
    }
    // A bare document; one with a `ts` key somewhere may be a wrapper: serde decides.
    !line.contains("\"ts\"") && raw.fill(ir, line, bump, frame)
}

/// A line holding an event: `{"ts": ..., "event": {...}}` as `vigil replay` reads it (the
/// caller takes its `event`), or a bare event object.
fn event_of(line: &str) -> Result<Value, String> {
    let value: Value = vigil_ingest::strict::parse(line).map_err(|e| e.to_string())?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("not an event object".into())
    }
}

/// What the run saw.
struct Counts {
    events: u64,
    bad: u64,
    matched: u64,
}

/// `--stats`: the engine, the index, and throughput end to end and of matching alone.
fn report(
    rules: &vigil_compiler::eval::RuleSet,
    counts: Counts,
    compile_time: std::time::Duration,
    run_time: std::time::Duration,
    eval_nanos: u128,
) {
    let Counts {
        events,
        bad,
        matched,
    } = counts;
    let total = run_time.as_secs_f64();
    let eval = eval_nanos as f64 / 1e9;
    let filters = rules.ir().filters().count() as f64;
    eprintln!(
        "engine: {:?}; {} filters ({} indexed, {} always evaluated); compiled in {:.1} ms",
        rules.engine(),
        filters,
        rules.index().indexed(),
        rules.index().unindexed(),
        compile_time.as_secs_f64() * 1e3
    );
    eprintln!("events: {events} ({bad} bad lines skipped), {matched} matched at least one filter");
    eprintln!(
        "end to end: {:.3} s, {:.0} events/s; filling and matching alone: {:.3} s, {:.0} events/s ({:.0} filter evaluations/s without the index)",
        total,
        events as f64 / total,
        eval,
        events as f64 / eval.max(1e-9),
        events as f64 * filters / eval.max(1e-9),
    );
}

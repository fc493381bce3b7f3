//! `vigil eval`: runs every event rule's filter (`on event where ...`, with `except` tables)
//! over JSON-lines events and prints, per event, the rules whose filter matched. This is the
//! first stage of event evaluation (aggregations, sequences and throttling come after it) and
//! the CLI's throughput mode for the evaluators (`--stats`).

use super::EvalArgs;
use bumpalo::Bump;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::time::Instant;
use vigil_compiler::eval::{Frame, RuleSet, Scratch};
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
    let mut pass = Pass {
        rules: &rules,
        raw: RawLayout::new(rules.ir()),
        args: &args,
        out: &mut out,
        scratch: Scratch::default(),
        hits: Vec::new(),
        slow: rules.frame(),
        counts: Counts::default(),
        eval_nanos: 0,
        line_no: 0,
    };
    let started = Instant::now();
    let mut frame = rules.frame();
    let mut bump = Bump::new();
    let mut buf = Vec::new();
    let max = args.max_line_bytes;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return pass.failed(&e),
        };
        if chunk.is_empty() {
            break;
        }
        let whole = memchr::memrchr(b'\n', chunk).map_or(0, |i| i + 1);
        bump.reset();
        // The stored frame is all missing, as the direct reader needs; its lifetime shortens
        // to the line's or block's for free.
        if whole == 0 {
            // A line running past the read buffer: copied out (up to the limit).
            let mut f = std::mem::take(&mut frame);
            buf.clear();
            let read = match vigil_ingest::lines::read_line(&mut input, &mut buf, max) {
                Ok(read) => read,
                Err(e) => return pass.failed(&e),
            };
            pass.line_no += 1;
            match read {
                Line::End => break,
                Line::Full => pass.bytes(&buf, &bump, &mut f),
                Line::TooLong(n) => pass.too_long(n),
            }
            frame = f.recycle();
        } else {
            // The buffer's whole lines, read in place: one frame serves them all, and is
            // cleared between lines of the slots each one set (recycled once per block).
            let block = &chunk[..whole];
            let mut f = std::mem::take(&mut frame);
            // Checked as UTF-8 once for the block; line by line only when it is not.
            let text = std::str::from_utf8(block).ok();
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', block) {
                let line = std::mem::replace(&mut start, end + 1)..=end;
                pass.line_no += 1;
                // Both ends of a line are next to a newline: character boundaries.
                match (end - line.start(), text.and_then(|t| t.get(line.clone()))) {
                    (n, _) if n > max => pass.too_long(n),
                    (_, Some(text)) => pass.line(text, &bump, &mut f),
                    (_, None) => pass.bytes(&block[line], &bump, &mut f),
                }
                f.clear();
            }
            frame = f.recycle();
            input.consume(whole);
        }
    }
    if let Err(e) = pass.out.flush() {
        super::output_failed(&e);
    }
    let (counts, eval_nanos) = (pass.counts, pass.eval_nanos);
    let bad = counts.bad;
    if args.stats {
        report(&rules, counts, compile_time, started.elapsed(), eval_nanos);
    }
    if bad > 0 { 1 } else { 0 }
}

/// What reading a line needs besides its text, its frame and the arena its strings decode
/// into.
struct Pass<'r, W: Write> {
    rules: &'r RuleSet,
    raw: RawLayout,
    args: &'r EvalArgs,
    out: W,
    scratch: Scratch,
    hits: Vec<u32>,
    /// The frame of lines serde reads (their values live only while the line is read).
    slow: Frame<'static>,
    counts: Counts,
    eval_nanos: u128,
    line_no: usize,
}

impl<W: Write> Pass<'_, W> {
    fn skip(&mut self, why: &str) {
        self.counts.bad += 1;
        eprintln!(
            "warning: {}:{}: skipped: {why}",
            self.args.input.display(),
            self.line_no
        );
    }

    fn too_long(&mut self, n: usize) {
        let max = self.args.max_line_bytes;
        self.skip(&format!(
            "line of {n} bytes is longer than the limit of {max} bytes (--max-line-bytes)"
        ));
    }

    /// A read error in the line after the last one counted: reported, and the run ends (exit
    /// code 2).
    fn failed(&self, e: &std::io::Error) -> i32 {
        let line = self.line_no + 1;
        eprintln!("error: {}: line {line}: {e}", self.args.input.display());
        2
    }

    /// A line's bytes, which may not be UTF-8.
    fn bytes<'a>(&mut self, line: &'a [u8], bump: &'a Bump, frame: &mut Frame<'a>) {
        match std::str::from_utf8(line) {
            Ok(line) => self.line(line, bump, frame),
            Err(_) => self.skip("line is not valid UTF-8"),
        }
    }

    /// One line, into `frame` (every slot missing; the caller clears what this sets).
    fn line<'a>(&mut self, line: &'a str, bump: &'a Bump, frame: &mut Frame<'a>) {
        if !line.starts_with('{') && line.trim().is_empty() {
            return;
        }
        let ir = self.rules.ir();
        // Timed only for --stats: two clock reads per event are not free on this hot path.
        let t = self.args.stats.then(Instant::now);
        // The fields the rules read, straight from the text (as `replay` reads them); serde
        // for what the direct reader declines.
        if direct(&self.raw, ir, line, bump, frame) {
            self.matching(frame);
        } else {
            let value = match event_of(line) {
                Ok(v) => v,
                Err(e) => return self.skip(&e),
            };
            // The `{"ts": .., "event": {..}}` wrapper only when `ts` says so (as `replay`
            // reads it): a bare ECS document has a top-level `event` object of its own.
            let event = match (value.get("ts"), value.get("event")) {
                (Some(_), Some(e)) if e.is_object() => e,
                _ => &value,
            };
            let mut f = std::mem::take(&mut self.slow);
            f.fill_json(ir, event);
            self.matching(&f);
            self.slow = f.recycle();
        }
        self.counts.events += 1;
        if let Some(t) = t {
            self.eval_nanos += t.elapsed().as_nanos();
        }
        if !self.hits.is_empty() {
            self.counts.matched += 1;
            if !self.args.quiet {
                let names: Vec<&str> = (self.hits.iter())
                    .map(|p| ir.programs[*p as usize].rule.as_str())
                    .collect();
                let line = serde_json::json!({"line": self.line_no, "rules": names});
                if let Err(e) = writeln!(self.out, "{line}") {
                    super::output_failed(&e);
                }
            }
        }
    }

    fn matching(&mut self, frame: &Frame) {
        if self.args.no_index {
            self.rules.matching_all(frame, &mut self.hits);
        } else {
            self.rules
                .matching(frame, &mut self.scratch, &mut self.hits);
        }
    }
}

/// The input: a file, or stdin for `-`.
fn open_input(args: &EvalArgs) -> std::io::Result<Box<dyn BufRead>> {
    if args.input.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            std::io::stdin(),
        )));
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
            .is_some_and(|end| trim_ws(&object[end..]).as_bytes() == [b'}']);
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
#[derive(Default)]
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

//! Property tests: arbitrary bytes, and arbitrary mutations of valid files, never make the
//! parser, checker or lowering panic. Runs 256 cases per property by default; more with PROPTEST_CASES.

use proptest::prelude::*;

fn corpus() -> Vec<String> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        "tests/valid",
        "tests/ui",
        "rules/std",
        "rules/trading",
        "rules/security",
        "examples",
    ] {
        for e in std::fs::read_dir(root.join(dir))
            .expect("corpus folder")
            .flatten()
        {
            if let Ok(t) = std::fs::read_to_string(e.path()) {
                out.push(t);
            }
        }
    }
    out
}

/// Checks on a thread with a main thread's stack (8 MiB), where `vigil check`, the language
/// server and the daemon's loader run: a test thread's 2 MiB is less than a debug build needs
/// for a declaration nested just under the limit (`MAX_NESTING`).
fn check(text: &str) {
    let text = text.to_string();
    let run = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || check_on(&text))
        .expect("a thread");
    if let Err(panic) = run.join() {
        std::panic::resume_unwind(panic);
    }
}

fn check_on(text: &str) {
    let checked = vigil_compiler::check_source("fuzz.rules", text, None);
    // Rendering must not panic either (spans stay inside the text).
    let _ = vigil::render::human(&checked.diagnostics, &checked.sources, false);
    let _ = vigil_compiler::diag::to_json(&checked.diagnostics, &checked.sources);
    // A program that checks clean must lower and evaluate without panicking (an empty event
    // through every program).
    if checked.errors() == 0
        && let Ok(rs) = vigil_compiler::eval::RuleSet::from_checked(
            &checked,
            vigil_compiler::eval::Engine::Interp,
        )
    {
        let f = rs.frame();
        for p in 0..rs.ir().programs.len() {
            let _ = rs.eval_bool(p, &f);
        }
        // And the metric engine runs it over a few samples of every metric it reads.
        if let Ok(mut engine) = vigil_engine::Engine::new(rs, vigil_engine::Config::default()) {
            let metrics: Vec<String> = engine
                .rules()
                .ir()
                .series
                .values()
                .flat_map(|p| {
                    let mut v = Vec::new();
                    p.selectors(&mut v);
                    v.into_iter().map(|s| s.metric.clone()).collect::<Vec<_>>()
                })
                .collect();
            let mut out = Vec::new();
            for step in 0..6i64 {
                for (i, m) in metrics.iter().enumerate() {
                    let v =
                        [1.0, f64::NAN, -3.0, 1e308, 0.0, f64::INFINITY][(step as usize + i) % 6];
                    engine.ingest(m, &[("host", "a"), ("le", "+Inf")], step * 15_000, v);
                    engine.ingest(&format!("{m}_bucket"), &[("le", "0.5")], step * 15_000, v);
                }
                engine.advance(step * 15_000, &mut out);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut b: Vec<char> = text.chars().collect();
    for e in edits {
        let n = b.len().max(1);
        match e {
            Edit::Delete(at, len) => {
                let s = at % n;
                let end = (s + len % 16).min(b.len());
                if s < end {
                    b.drain(s..end);
                }
            }
            Edit::Insert(at, s) => {
                let at = (at % n).min(b.len());
                for (i, c) in s.chars().enumerate() {
                    b.insert(at + i, c);
                }
            }
            Edit::Duplicate(at, len) => {
                let s = at % n;
                let end = (s + len % 64).min(b.len());
                let piece: Vec<char> = b[s..end].to_vec();
                for (i, c) in piece.into_iter().enumerate() {
                    b.insert(end + i, c);
                }
            }
        }
    }
    b.into_iter().collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    let tokens = prop::sample::select(vec![
        "{", "}", "(", ")", "[", "]", "\"", "/", "{{", "}}", " and ", " or ", " not ", " by ",
        " over ", " on ", "5m", "80%", "1e999", "\\", "\n", "rule x {", "event.", "..", "->", ":",
        "=~", "é", "\u{0}",
    ]);
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Edit::Delete(a, l)),
        (any::<usize>(), tokens.prop_map(str::to_string)).prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), ".{0,8}").prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Edit::Duplicate(a, l)),
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }

    /// Input lines of every format, arbitrary or mutated from valid ones, never panic the
    /// parsers, and whatever parses never panics the engine (extreme times and values too).
    #[test]
    fn replay_inputs_never_panic(
        text in "\\PC{0,120}",
        pick in 0usize..5,
        edits in prop::collection::vec(edit(), 0..4),
        ts in any::<i64>(),
        value in any::<f64>(),
    ) {
        let valid = [
            r#"{"ts":1795428000000,"metric":"cpu_usage","labels":{"host":"a"},"value":93.5}"#,
            r#"{"ts":"2026-11-23T10:00:00.5+01:00","event":{"type":"login"}}"#,
            r#"cpu_usage{host="a",path="x\"y"} 93.5 1795428000000"#,
            "cpu,host=a usage=93.5,idle=6i 1795428000000000000",
            r#"{"ts":1e300,"metric":"cpu_usage","labels":[1],"value":"NaN"}"#,
        ];
        let lines = [text.clone(), apply(valid[pick], &edits)];
        let checked = vigil_compiler::check_source(
            "q.rules",
            "package q\nrule r { severity warning\n when avg(cpu_usage, 5m) > 80 for 1m\n }\nrule e { severity high\n on event where event.type == \"login\"\n when count() by event.user over 1m >= 2 and sum(event.n) by event.user over 1m > 1\n }\nrule s { severity high\n on event where event.type == \"login\"\n sequence by event.user within 1m {\n a: event.n > 0\n missing b: event.n < 0\n }\n }\n",
            None,
        );
        let rs = vigil_compiler::eval::RuleSet::from_checked(&checked, vigil_compiler::eval::Engine::Interp).unwrap();
        let mut engine = vigil_engine::Engine::new(rs, vigil_engine::Config::default()).unwrap();
        let mut out = Vec::new();
        for line in &lines {
            for fmt in [
                vigil_ingest::Format::Auto,
                vigil_ingest::Format::Json,
                vigil_ingest::Format::Prometheus,
                vigil_ingest::Format::Influx,
            ] {
                if let Ok(records) = vigil_ingest::parse_line(line, fmt) {
                    for r in records {
                        match r {
                            vigil_ingest::Record::Sample { metric, labels, ts, value } => {
                                let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                                engine.ingest(&metric, &pairs, ts, value);
                                engine.advance(ts.saturating_add(60_000), &mut out);
                            }
                            vigil_ingest::Record::Event { ts, event } => {
                                engine.ingest_event(ts, &event, &mut out);
                                engine.ingest_event_text(ts, &event.to_string(), &mut out);
                                engine.advance(ts.saturating_add(120_000), &mut out);
                            }
                            vigil_ingest::Record::Raw { ts, line, start } => {
                                let _ = engine.ingest_event_line(ts, &line, start, &mut out);
                            }
                            other @ (vigil_ingest::Record::Stale { .. }
                            | vigil_ingest::Record::Series { .. }
                            | vigil_ingest::Record::Keyed { .. }) => {
                                engine.ingest_record(&other, &mut out);
                            }
                        }
                    }
                }
                // The replay reader keeps event objects as text, and names series it has read
                // by key (the second reading of a line).
                let mut cx = vigil_ingest::Context {
                    raw_events: true,
                    series_keys: Some(Default::default()),
                    ..Default::default()
                };
                for _ in 0..2 {
                    let (mut q, mut spare) = (std::collections::VecDeque::new(), Vec::new());
                    if vigil_ingest::parse_line_into(line, fmt, &mut cx, &mut q, &mut spare).is_err() {
                        continue;
                    }
                    for r in q {
                        match r {
                            vigil_ingest::Record::Raw { ts, line, start } => {
                                let _ = engine.ingest_event_line(ts, &line, start, &mut out);
                                let _ = engine.ingest_event_line(ts, &line, start + 1, &mut out);
                                let _ = engine.ingest_event_line(ts, &line, line.len() + 7, &mut out);
                                engine.ingest_event_text(ts, "[1, 2", &mut out);
                            }
                            vigil_ingest::Record::Keyed { key, ts, value, line } => {
                                let _ = engine.ingest_keyed(key, &line, ts, value);
                                let _ = engine.ingest_keyed((key.1, key.0), &line[1..], ts, value);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        engine.ingest("cpu_usage", &[("host", "b")], ts, value);
        engine.advance(ts, &mut out);
    }

    #[test]
    fn mutated_valid_files_never_panic(pick in any::<prop::sample::Index>(), edits in prop::collection::vec(edit(), 1..6)) {
        let corpus = corpus();
        let text = &corpus[pick.index(corpus.len())];
        check(&apply(text, &edits));
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let text = format!("const x = {}1{}", "(".repeat(5000), ")".repeat(5000));
    let checked = vigil_compiler::check_source("deep.rules", &text, None);
    assert!(
        checked
            .diagnostics
            .iter()
            .any(|d| d.code.as_str() == "V0002")
    );
}

/// Found by `mutated_valid_files_never_panic`: brackets nested just under the limit, with
/// more closing than opening, overflowed a 2 MiB test thread's stack in a debug build.
#[test]
fn brackets_just_under_the_limit_check_on_a_main_threads_stack() {
    check(&format!(
        "const deep = {}1{}\n",
        "(".repeat(56),
        ")".repeat(108)
    ));
}

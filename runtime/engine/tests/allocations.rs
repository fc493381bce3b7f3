//! The event hot path allocates nothing per event once warm: the direct reader fills the
//! frame from the line's text (escaped strings into a reused arena, arrays into the frame's
//! reused element arena), the rule index and the compiled filters run, and nothing is built
//! for an event no rule fires on. (An alert that fires allocates its change record.)

use vigil_compiler::eval::{Engine as Backend, RuleSet};
use vigil_engine::{Config, Engine};

#[path = "../../../compiler/tests/common/counting.rs"]
mod counting;

const RULES: &str = r#"
# vigil: allow-file(V1013)
package p
rule tool {
  severity warning
  on event where "process" in event.event.category and event.process.name == "tool1.exe" and event.process.parent.name in ["explorer.exe", "winword.exe"]
}
rule rdp {
  severity warning
  on event where "network" in event.event.category and event.destination.port == 3389 and "dmz" in event.tags
}
rule script {
  severity warning
  on event where "file" in event.event.category and event.file.path endswith "\\evil.ps1"
}
"#;

/// ECS-like lines: nested objects, arrays of strings, escaped Windows paths and quotes.
fn lines() -> Vec<String> {
    (0..64)
        .map(|i| {
            let ts = 1_795_428_000_000i64 + i * 1000;
            match i % 3 {
                0 => format!(
                    r#"{{"ts":{ts},"event":{{"event":{{"kind":"event","category":["process"],"type":["start"]}},"host":{{"name":"ws-{i}"}},"process":{{"name":"chrome.exe","pid":{i},"executable":"C:\\Program Files\\chrome.exe","command_line":"\"chrome.exe\" --x {i}","parent":{{"name":"explorer.exe"}}}},"tags":["prod","edr"]}}}}"#
                ),
                1 => format!(
                    r#"{{"ts":{ts},"event":{{"event":{{"category":["network"],"type":["connection","allowed"]}},"source":{{"ip":"10.0.0.{i}","port":{}}},"destination":{{"ip":"10.1.0.1","port":443}},"tags":["dmz","beats"]}}}}"#,
                    1024 + i
                ),
                _ => format!(
                    r#"{{"ts":{ts},"event":{{"event":{{"category":["file"],"type":["creation"]}},"file":{{"path":"C:\\Users\\Public\\{i}.tmp","size":{i}}},"user":{{"name":"u{i}"}}}}}}"#
                ),
            }
        })
        .collect()
}

#[test]
fn reading_and_evaluating_an_event_allocates_nothing_once_warm() {
    for backend in [Backend::Interp, Backend::Jit] {
        let checked = vigil_compiler::check_source("p.rules", RULES, None);
        assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
        let rules = RuleSet::from_checked(&checked, backend).expect("compiles");
        let mut engine = Engine::new(rules, Config::default()).expect("runs");
        let lines = lines();
        let starts: Vec<usize> = lines
            .iter()
            .map(|l| {
                vigil_ingest::fast_json::event_start(l)
                    .expect("an event line")
                    .1
            })
            .collect();
        let mut out = Vec::new();
        let feed = |engine: &mut Engine, out: &mut Vec<_>, round: i64| {
            for (i, (l, &s)) in lines.iter().zip(&starts).enumerate() {
                let ts = 1_795_428_000_000 + round * 100_000 + i as i64;
                engine.ingest_event_line(ts, l, s, out).expect("reads");
            }
        };
        feed(&mut engine, &mut out, 0);
        let slow = engine.events.counters.slow_path;
        let allocated = counting::allocations(|| {
            for round in 1..50 {
                feed(&mut engine, &mut out, round);
            }
        });
        assert_eq!(
            engine.events.counters.slow_path, slow,
            "no event took serde"
        );
        assert!(out.is_empty(), "no rule fires on these events: {out:?}");
        assert_eq!(
            allocated, 0,
            "{backend:?}: allocated while reading and evaluating events"
        );
        // The rules are live: an event they match fires.
        let hit = r#"{"ts":1795500000000,"event":{"event":{"category":["network"]},"destination":{"port":3389},"tags":["dmz"]}}"#;
        let s = vigil_ingest::fast_json::event_start(hit)
            .expect("an event line")
            .1;
        engine
            .ingest_event_line(1_795_500_000_000, hit, s, &mut out)
            .expect("reads");
        assert_eq!(out.len(), 1, "{out:?}");
    }
}

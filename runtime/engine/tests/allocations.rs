//! The event hot path allocates nothing per event once warm: the direct reader fills the
//! frame from the line's text (escaped strings into a reused arena, arrays into the frame's
//! reused element arena), the rule index and the compiled filters run, and nothing is built
//! for an event no rule fires on. An alert that fires allocates nothing either once its label
//! set has been seen: its label map is shared, and its event's text goes into the buffer of
//! the event before, whose alerts the caller has written and dropped.

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

/// An engine for `src`, which must check clean.
fn engine(src: &str, backend: Backend) -> Engine {
    let checked = vigil_compiler::check_source("p.rules", src, None);
    assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
    let rules = RuleSet::from_checked(&checked, backend).expect("compiles");
    Engine::new(rules, Config::default()).expect("runs")
}

/// Where each event line's object starts.
fn starts(lines: &[String]) -> Vec<usize> {
    lines
        .iter()
        .map(|l| {
            vigil_ingest::fast_json::event_start(l)
                .expect("an event line")
                .1
        })
        .collect()
}

#[test]
fn reading_and_evaluating_an_event_allocates_nothing_once_warm() {
    for backend in [Backend::Interp, Backend::Jit] {
        let mut engine = engine(RULES, backend);
        let lines = lines();
        let starts = starts(&lines);
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

/// Rules that fire on most events: one without labels, one keyed by an event field (it fires
/// and resolves in every round), one with static labels and two levels (severity becomes a
/// label).
const FIRING: &str = r#"
package p
rule any_network {
  severity info
  on event where "network" in event.event.category
}
rule by_host {
  severity warning
  on event where "network" in event.event.category
  when count() by event.host over 1s >= 2
}
rule levels {
  labels { team = "sec" }
  on event where "network" in event.event.category
  critical when event.destination.port == 3389
  warning when event.destination.port == 22
}
"#;

#[test]
fn firing_alerts_allocate_nothing_once_warm() {
    for backend in [Backend::Interp, Backend::Jit] {
        let mut engine = engine(FIRING, backend);
        let lines: Vec<String> = (0..32)
            .map(|i| {
                let port = if i % 2 == 0 { 3389 } else { 22 };
                format!(
                    r#"{{"ts":1,"event":{{"event":{{"category":["network"]}},"host":"h{}","destination":{{"port":{port}}},"note":"quote \" {i}"}}}}"#,
                    i % 8
                )
            })
            .collect();
        let starts = starts(&lines);
        let mut out = Vec::new();
        let mut fired = 0;
        // As `vigil replay` does: each event's changes are written, then dropped.
        let mut feed = |engine: &mut Engine, round: i64| {
            for (i, (l, &s)) in lines.iter().zip(&starts).enumerate() {
                let ts = 1_795_428_000_000 + round * 100_000 + i as i64;
                engine.ingest_event_line(ts, l, s, &mut out).expect("reads");
                fired += out.len();
                out.clear();
            }
        };
        for round in 0..5 {
            feed(&mut engine, round);
        }
        let allocated = counting::allocations(|| {
            for round in 5..20 {
                feed(&mut engine, round);
            }
        });
        // Over 20 rounds, every event fires `any_network` and one level of `levels`; each of
        // the 8 hosts fires `by_host` at its second event of a round and resolves as the next
        // round begins.
        assert_eq!(fired, 20 * 32 * 2 + 20 * 8 + 19 * 8, "{backend:?}");
        assert_eq!(
            allocated, 0,
            "{backend:?}: allocated while firing alerts on events"
        );
        // The shared maps and buffers carry what they should.
        let l = &lines[0];
        engine
            .ingest_event_line(1_795_500_000_000, l, starts[0], &mut out)
            .expect("reads");
        engine
            .ingest_event_line(1_795_500_000_001, l, starts[0], &mut out)
            .expect("reads");
        let by_host = out.iter().find(|t| &*t.rule == "p.by_host").expect("fires");
        assert_eq!(by_host.labels.get("host").map(String::as_str), Some("h0"));
        let level = out.iter().find(|t| &*t.rule == "p.levels").expect("fires");
        assert_eq!(level.labels.get("team").map(String::as_str), Some("sec"));
        assert_eq!(
            level.labels.get("severity").map(String::as_str),
            Some("critical")
        );
        let event = out
            .iter()
            .find(|t| &*t.rule == "p.any_network")
            .and_then(|t| t.event.as_ref())
            .expect("carries its event");
        assert_eq!(event.value()["note"], "quote \" 0");
    }
}

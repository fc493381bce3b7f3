//! The event engine's guarantees beyond single cases (those are the `test` blocks of
//! tests/events/*.rules): state survives a snapshot and restore mid-stream, input shuffled
//! within `lateness` gives the same alerts, keys are bounded and expired state is freed, and
//! the JSON-text reader and serde agree. Every case runs on both backends.

use serde_json::{Value, json};
use vigil_compiler::eval::{Engine as Backend, RuleSet};
use vigil_engine::{Config, Engine, Transition};

fn engine(src: &str, backend: Backend, config: Config) -> Engine {
    let checked = vigil_compiler::check_source("t.rules", src, None);
    assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
    let rules = RuleSet::from_checked(&checked, backend).expect("lowers");
    Engine::new(rules, config).expect("runs")
}

const RULES: &str = r#"package t
rule brute { severity high
  on event where event.type == "login" and not event.success
  when count() by event.src over 1m >= 3
  summary "x" }
rule volume { severity warning
  on event where event.type == "flow"
  when sum(event.bytes) by event.src over 2m > 1000 for 30s
  summary "x" }
rule travel { severity high
  on event where event.type == "login" and event.success
  sequence by event.user within 10m {
    home: event.country == "CH"
    missing logout: event.action == "logout"
    abroad: event.country != "CH"
  }
  summary "x" }
rule backup { severity warning
  on event where event.type == "job"
  sequence by event.host within 5m {
    start: event.state == "start"
    missing done: event.state == "done"
  }
  summary "x" }
rule noisy { severity info
  on event where event.type == "proc"
  throttle 2 per 1m by event.host
  keep_firing 30s
  summary "x" }
rule newcomer { severity info
  on event where event.type == "proc"
  when first_seen() by event.host over 20s
  summary "x" }
rule chain { severity info
  on event where event.type == "job"
  sequence {
    start: event.state == "start" key event.host
    done: event.state == "done" key event.host
  }
  summary "x" }
"#;

/// A deterministic stream of events touching every rule, `(ms, event)` in time order.
fn stream() -> Vec<(i64, Value)> {
    let mut v = Vec::new();
    let mut s = 17u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 33
    };
    for i in 0..1500i64 {
        let t = i * 1_000;
        let e = match next() % 5 {
            0 => {
                json!({"type": "login", "success": next() % 3 == 0, "src": format!("ip{}", next() % 4),
                        "user": format!("u{}", next() % 5), "country": if next() % 4 == 0 { "US" } else { "CH" }})
            }
            1 => json!({"type": "flow", "src": format!("ip{}", next() % 3), "bytes": next() % 400}),
            2 => json!({"type": "job", "host": format!("h{}", next() % 3),
                        "state": if next() % 2 == 0 { "start" } else { "done" }}),
            3 => json!({"type": "proc", "host": format!("h{}", next() % 2)}),
            _ => {
                json!({"type": "login", "success": true, "action": "logout", "user": format!("u{}", next() % 5)})
            }
        };
        v.push((t, e));
    }
    v
}

fn lines(out: &[Transition]) -> Vec<String> {
    out.iter()
        .map(|t| format!("{} {} {} {:?}", t.ts, t.rule, t.state, t.labels))
        .collect()
}

/// Feeds events `from..to` of the stream, advancing the clock as replay does.
fn feed(e: &mut Engine, events: &[(i64, Value)], out: &mut Vec<Transition>) {
    for (t, ev) in events {
        e.advance(t - 1, out);
        e.ingest_event(*t, ev, out);
    }
}

#[test]
fn the_stream_exercises_every_rule_identically_on_both_backends() {
    let events = stream();
    let mut timelines = Vec::new();
    for b in [Backend::Interp, Backend::Jit] {
        let mut e = engine(RULES, b, Config::default());
        let mut out = Vec::new();
        feed(&mut e, &events, &mut out);
        e.finish(1_500_000 + 600_000, &mut out);
        timelines.push(lines(&out));
    }
    assert_eq!(timelines[0], timelines[1]);
    for rule in ["brute", "volume", "travel", "backup", "noisy"] {
        assert!(
            timelines[0]
                .iter()
                .any(|l| l.contains(&format!("t.{rule} firing"))),
            "{rule} never fired"
        );
    }
    assert!(timelines[0].iter().any(|l| l.contains("t.brute resolved")));
    assert!(timelines[0].iter().any(|l| l.contains("t.volume pending")));
    assert!(timelines[0].iter().any(|l| l.contains("t.noisy resolved")));
}

#[test]
fn a_snapshot_restores_event_state_mid_stream() {
    let events = stream();
    let cut = 700;
    let mut whole = engine(RULES, Backend::Jit, Config::default());
    let mut expected = Vec::new();
    feed(&mut whole, &events, &mut expected);
    whole.finish(2_100_000, &mut expected);

    let mut first = engine(RULES, Backend::Jit, Config::default());
    let mut got = Vec::new();
    feed(&mut first, &events[..cut], &mut got);
    let json = serde_json::to_string(&first.snapshot()).expect("serialises");
    drop(first);
    let mut second = engine(RULES, Backend::Interp, Config::default());
    second.restore(serde_json::from_str(&json).expect("deserialises"));
    feed(&mut second, &events[cut..], &mut got);
    second.finish(2_100_000, &mut got);
    assert_eq!(lines(&got), lines(&expected));
}

#[test]
fn events_shuffled_within_lateness_give_the_same_alerts() {
    let events = stream();
    let late = Config {
        lateness: 10_000,
        ..Config::default()
    };
    let mut sorted = engine(RULES, Backend::Jit, late.clone());
    let mut expected = Vec::new();
    for (t, ev) in &events {
        sorted.ingest_event(*t, ev, &mut expected);
        sorted.advance(*t, &mut expected);
    }
    sorted.finish(2_100_000, &mut expected);
    // Swap neighbours in blocks: every event arrives at most 5s out of order.
    let mut shuffled = events.clone();
    for chunk in shuffled.chunks_mut(6) {
        chunk.reverse();
    }
    let mut e = engine(RULES, Backend::Interp, late);
    let mut got = Vec::new();
    let mut clock = 0;
    for (t, ev) in &shuffled {
        e.ingest_event(*t, ev, &mut got);
        clock = clock.max(*t);
        e.advance(clock, &mut got);
    }
    e.finish(2_100_000, &mut got);
    assert_eq!(e.events.counters.too_late, 0);
    assert_eq!(lines(&got), lines(&expected));

    // Without lateness the same shuffle drops what arrives behind the watermark, and says so.
    let mut strict = engine(RULES, Backend::Jit, Config::default());
    let mut out = Vec::new();
    for (t, ev) in &shuffled {
        strict.ingest_event(*t, ev, &mut out);
    }
    assert!(strict.events.counters.too_late > 1000);
}

#[test]
fn keys_are_capped_and_expired_state_is_freed() {
    let src = r#"package t
rule per_ip { severity high
  on event where event.type == "login"
  when count() by event.src over 1m >= 100
  summary "x" }
rule scan { severity high
  on event where event.type == "conn"
  when avg(event.port) by event.src over 1m > 1e9
  summary "x" }
rule pairs { severity high
  on event where event.type == "login"
  sequence by event.src within 1m {
    a: event.n == 1
    b: event.n == 2
  }
  summary "x" }
"#;
    for b in [Backend::Interp, Backend::Jit] {
        let mut e = engine(
            src,
            b,
            Config {
                max_keys: 50,
                ..Config::default()
            },
        );
        let mut out = Vec::new();
        for i in 0..200i64 {
            let ev = json!({"type": "login", "src": format!("ip{i}"), "n": 1});
            e.ingest_event(i, &ev, &mut out);
            let ev = json!({"type": "conn", "src": format!("ip{i}"), "port": 22});
            e.ingest_event(i, &ev, &mut out);
        }
        let refused: Vec<(String, u64)> = e.events.refusals();
        assert_eq!(
            refused,
            vec![
                ("t.per_ip".to_string(), 150),
                ("t.scan".to_string(), 150),
                ("t.pairs".to_string(), 150)
            ]
        );
        let (keys, bytes, partials) = e.events.memory();
        assert_eq!((keys, partials), (150, 50));
        assert!(bytes > 0);
        // Two minutes later every window and partial match has expired: the `avg` rule's
        // keys were freed by their expiry timers; the count and sequence rules free theirs
        // when they need the room, so 50 new keys are all admitted.
        e.advance(200_000, &mut out);
        let (keys, ..) = e.events.memory();
        assert_eq!(
            keys, 100,
            "per_ip and pairs keep their lapsed keys until needed"
        );
        for i in 0..50i64 {
            let ev = json!({"type": "login", "src": format!("new{i}"), "n": 1});
            e.ingest_event(200_001 + i, &ev, &mut out);
        }
        assert_eq!(e.events.counters.refused, 450, "no new key refused");
        let (keys, _, partials) = e.events.memory();
        assert_eq!((keys, partials), (100, 50));
        assert!(out.is_empty(), "{out:?}");
    }
}

/// A rule whose keys pile up (no expiry timers: a monotone condition) is swept once its key
/// count doubles, a few keys per event: no event pays for freeing thousands of keys (a stall
/// of milliseconds in the daemon), and the lapsed keys are freed all the same.
#[test]
fn sweeps_free_lapsed_keys_a_few_per_event() {
    let src = r#"package t
rule per_ip { severity high
  on event where event.type == "login"
  when count() by event.src over 1m >= 100
  summary "x" }
"#;
    for b in [Backend::Interp, Backend::Jit] {
        let mut e = engine(src, b, Config::default());
        let mut out = Vec::new();
        for i in 0..2100i64 {
            let ev = json!({"type": "login", "src": format!("old{i}")});
            e.ingest_event(i, &ev, &mut out);
        }
        assert_eq!(e.events.memory().0, 2100, "nothing lapsed yet: all kept");
        // Two minutes on, every old key has lapsed; new keys keep coming.
        let (mut most, mut before) = (0usize, 2100usize);
        for i in 0..2500i64 {
            let ev = json!({"type": "login", "src": format!("new{i}")});
            e.ingest_event(200_000 + i, &ev, &mut out);
            let now = e.events.memory().0;
            most = most.max((before + 1).saturating_sub(now));
            before = now;
        }
        assert!(most <= 4, "{most} keys freed by one event");
        // The 2,500 new keys, none of the 2,100 old ones (a key a sweep lost track of would
        // stay).
        assert_eq!(before, 2500, "lapsed keys were not freed");
        assert!(out.is_empty(), "{out:?}");
    }
}

#[test]
fn reading_event_text_directly_agrees_with_serde() {
    let events = stream();
    for b in [Backend::Interp, Backend::Jit] {
        let mut via_serde = engine(RULES, b, Config::default());
        let mut via_text = engine(RULES, b, Config::default());
        let mut via_line = engine(RULES, b, Config::default());
        // A test's events (`vigil test`) take the direct reader too.
        let mut via_record = engine(RULES, b, Config::default());
        let (mut a, mut c, mut d, mut r) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, (t, ev)) in events.iter().enumerate() {
            via_serde.advance(t - 1, &mut a);
            via_serde.ingest_event(*t, ev, &mut a);
            via_text.advance(t - 1, &mut c);
            via_text.ingest_event_text(*t, &ev.to_string(), &mut c);
            // Whole lines; every tenth has a member after the event (serde reads those).
            let extra = if i % 10 == 0 { r#","note":"}""# } else { "" };
            let line = format!(r#"{{"ts":{t},"event":{ev}{extra}}}"#);
            let start = line.find(r#""event":"#).map_or(0, |p| p + 8);
            via_line.advance(t - 1, &mut d);
            let _ = via_line.ingest_event_line(*t, &line, start, &mut d);
            via_record.advance(t - 1, &mut r);
            let rec = vigil_engine::testing::event_record(*t, ev);
            via_record.ingest_record(&rec, &mut r);
        }
        assert_eq!(lines(&a), lines(&c));
        assert_eq!(lines(&a), lines(&d));
        assert_eq!(lines(&a), lines(&r));
        assert_eq!(via_text.events.counters.slow_path, 0);
        assert_eq!(via_record.events.counters.slow_path, 0);
        assert_eq!(via_line.events.counters.slow_path, 150);
        // Alerts of single-event rules carry the event either way.
        let carried = |o: &[Transition]| o.iter().filter(|t| t.event.is_some()).count();
        assert_eq!(carried(&a), carried(&c));
        assert!(carried(&a) > 0);
    }
}

mod random_streams {
    use super::*;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = (i64, Value)> {
        (
            0i64..20_000,
            0u8..6,
            0u8..3,
            any::<bool>(),
            prop_oneof![Just("CH"), Just("US")],
            -50i64..500,
        )
            .prop_map(|(gap, kind, k, flag, country, n)| {
                let e = match kind {
                    0 => json!({"type": "login", "success": flag, "src": format!("ip{k}"),
                                "user": format!("u{k}"), "country": country}),
                    1 => json!({"type": "flow", "src": format!("ip{k}"), "bytes": n}),
                    2 => json!({"type": "job", "host": format!("h{k}"),
                                "state": if flag { "start" } else { "done" }}),
                    3 => json!({"type": "proc", "host": format!("h{k}")}),
                    4 => json!({"type": "login", "success": true, "action": "logout", "user": format!("u{k}")}),
                    _ => json!({"type": "flow", "src": format!("ip{k}"), "bytes": "not a number"}),
                };
                (gap, e)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Any stream gives the same alerts on both backends, and the same again when the
        /// engine is snapshotted and restored halfway.
        #[test]
        fn backends_and_restores_agree(stream in prop::collection::vec(event(), 1..120)) {
            let mut t = 0;
            let events: Vec<(i64, Value)> = stream
                .into_iter()
                .map(|(gap, e)| {
                    t += gap;
                    (t, e)
                })
                .collect();
            let end = t + 3_600_000;
            let run = |b: Backend| {
                let mut e = engine(RULES, b, Config::default());
                let mut out = Vec::new();
                feed(&mut e, &events, &mut out);
                e.finish(end, &mut out);
                lines(&out)
            };
            let jit = run(Backend::Jit);
            prop_assert_eq!(&run(Backend::Interp), &jit);
            let half = events.len() / 2;
            let mut first = engine(RULES, Backend::Jit, Config::default());
            let mut out = Vec::new();
            feed(&mut first, &events[..half], &mut out);
            let snap = serde_json::to_string(&first.snapshot()).expect("serialises");
            // A reload moves the state instead of copying it: the same snapshot.
            let taken = serde_json::to_string(&first.take_snapshot()).expect("serialises");
            prop_assert_eq!(&taken, &snap);
            let mut second = engine(RULES, Backend::Jit, Config::default());
            second.restore(serde_json::from_str(&snap).expect("deserialises"));
            feed(&mut second, &events[half..], &mut out);
            second.finish(end, &mut out);
            prop_assert_eq!(lines(&out), jit);
        }
    }
}

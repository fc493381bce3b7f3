//! Event rule speed, in one run so the ratios are fair: 200,000 events (logins, flows,
//! processes, file operations, requests; the shape of benches/events_scenario.py) through
//! the 100 rules of benches/events.rules (90 single-event filters, 10 aggregations and
//! sequences), by
//!   (a) the engine with the JIT and (b) with the interpreter, from each event's JSON text
//!       (evaluation alone: no line reading),
//!   (c) reading the JSON lines alone (`ingest::parse_line_into`, as `vigil replay` does),
//! so end to end is about (a) + (c). `vigil replay --stats` reports the full run over the
//! 1,000,000-event file the scenario script writes, with memory per key.

use divan::Bencher;
use std::sync::LazyLock;
use vigil_compiler::eval::{Engine as Backend, RuleSet};
use vigil_engine::{Config, Engine};
use vigil_ingest::{self as ingest, Format};

fn main() {
    divan::main();
}

const N: usize = 200_000;

fn rng(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11
}

/// `(ts, event object text, full line)`.
static EVENTS: LazyLock<Vec<(i64, String, String)>> = LazyLock::new(|| {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(N);
    let countries = ["CH", "DE", "FR", "GB", "US", "BR"];
    let common = ["nginx", "python3", "java", "bash", "sh", "systemd"];
    for i in 0..N {
        let ts = 1_795_428_000_000 + i as i64 * 86;
        let r = rng(&mut s) % 100;
        let ip = format!("10.0.{}.{}", rng(&mut s) % 40, rng(&mut s) % 250);
        let user = format!("user{}", rng(&mut s) % 1000);
        let host = format!("host-{}", rng(&mut s) % 200);
        let e = if r < 30 {
            format!(
                r#"{{"type":"login","success":{},"user":"{user}","src_ip":"{ip}","country":"{}"}}"#,
                rng(&mut s) % 10 < 7,
                if rng(&mut s).is_multiple_of(200) {
                    countries[(rng(&mut s) % 6) as usize]
                } else {
                    "CH"
                }
            )
        } else if r < 50 {
            format!(
                r#"{{"type":"flow","src_ip":"{ip}","user":"{user}","dport":{},"bytes":{}}}"#,
                [80, 443, 1003, 1017, 22][(rng(&mut s) % 5) as usize],
                rng(&mut s) % 120_000
            )
        } else if r < 70 {
            let name = if rng(&mut s).is_multiple_of(20) {
                format!("tool{}", rng(&mut s) % 40)
            } else {
                common[(rng(&mut s) % 6) as usize].to_string()
            };
            format!(
                r#"{{"type":"proc","host":"{host}","proc":{{"name":"{name}","pname":"{}","pid":{}}}}}"#,
                ["bash", "nginx", "systemd", "sshd"][(rng(&mut s) % 4) as usize],
                rng(&mut s) % 65535
            )
        } else if r < 85 {
            format!(
                r#"{{"type":"file","host":"{host}","op":"{}","path":"/etc/app{}/conf"}}"#,
                ["read", "write", "scan", "upload"][(rng(&mut s) % 4) as usize],
                rng(&mut s) % 600
            )
        } else {
            format!(
                r#"{{"type":"request","host":"{host}","latency":{}.{},"path":"/api/v1/orders"}}"#,
                rng(&mut s) % 3,
                rng(&mut s) % 1000
            )
        };
        let line = format!(r#"{{"ts":{ts},"event":{e}}}"#);
        out.push((ts, e, line));
    }
    out
});

fn rules(b: Backend) -> RuleSet {
    let src = include_str!("events.rules");
    let ck = vigil_compiler::check_source("events.rules", src, None);
    assert_eq!(ck.errors(), 0);
    RuleSet::from_checked(&ck, b).expect("compiles")
}

fn run(bencher: Bencher, b: Backend) {
    let events = &*EVENTS;
    bencher
        .with_inputs(|| Engine::new(rules(b), Config::default()).expect("engine"))
        .bench_local_values(|mut engine| {
            let mut out = Vec::new();
            for (ts, text, _) in events {
                engine.advance(ts - 1, &mut out);
                engine.ingest_event_text(*ts, text, &mut out);
                out.clear();
            }
            engine
        });
}

#[divan::bench(sample_count = 5)]
fn engine_jit(b: Bencher) {
    run(b, Backend::Jit);
}

#[divan::bench(sample_count = 5)]
fn engine_interp(b: Bencher) {
    run(b, Backend::Interp);
}

#[divan::bench(sample_count = 5)]
fn parse_lines(b: Bencher) {
    let events = &*EVENTS;
    b.bench_local(|| {
        let mut cx = ingest::Context {
            raw_events: true,
            ..ingest::Context::default()
        };
        let mut out = std::collections::VecDeque::new();
        let mut spare = Vec::new();
        for (_, _, line) in events {
            let _ = ingest::parse_line_into(line, Format::Json, &mut cx, &mut out, &mut spare);
            spare.extend(out.drain(..));
        }
    });
}

//! Evaluation speed, all in one run so the ratios are fair: 100 event predicates (equality,
//! `in` lists, numeric comparisons, contains/startswith, 10% regex) over 1,000,000 events
//! (10,000 distinct generated events, cycled 100 times), evaluated by
//!   (a) hand-written Rust, one closure per rule over a typed event struct (the practical limit),
//!   (b) the interpreter, (c) the JIT, each without and with the rule index;
//! plus JIT compile time for 1,000 rules.

use divan::Bencher;
use regex::Regex;
use serde_json::{Value, json};
use std::sync::LazyLock;
use vigil_compiler::eval::{Engine, Frame, RuleSet, Scratch};

fn main() {
    divan::main();
}

const DISTINCT: usize = 10_000;
const CYCLES: usize = 100;
const RULES: usize = 100;

/// The typed event the hand-written rules read.
struct Ev {
    ty: String,
    user: String,
    port: f64,
    bytes: f64,
    cmd: String,
}

type Hand = Box<dyn Fn(&Ev) -> bool + Sync + Send>;

/// Rule `i` as source text and as a hand-written closure computing the same predicate.
fn rule(i: usize) -> (String, Hand) {
    let ty = format!("t{}", i % 8);
    match i % 10 {
        0 => {
            let re = format!("^curl .*x{}", i % 7);
            let r = Regex::new(&re).unwrap();
            (
                format!("event.type == \"{ty}\" and event.cmd matches /{re}/"),
                Box::new(move |e| e.ty == ty && r.is_match(&e.cmd)),
            )
        }
        1 | 2 => {
            let p = i as f64;
            (
                format!("event.type == \"{ty}\" and event.port == {i}"),
                Box::new(move |e| e.ty == ty && e.port == p),
            )
        }
        3 | 4 => {
            let (a, b) = (format!("u{}", i % 50), format!("u{}", (i + 7) % 50));
            (
                format!("event.type == \"{ty}\" and event.user in [\"{a}\", \"{b}\", \"admin\"]"),
                Box::new(move |e| e.ty == ty && (e.user == a || e.user == b || e.user == "admin")),
            )
        }
        5 | 6 => {
            let lim = (i * 10_000) as f64;
            (
                format!("event.type == \"{ty}\" and event.bytes > {} and event.port < 1024", i * 10_000),
                Box::new(move |e| e.ty == ty && e.bytes > lim && e.port < 1024.0),
            )
        }
        7 => {
            let w = format!("x{}", i % 13);
            (
                format!("event.type == \"{ty}\" and event.cmd contains \"{w}\""),
                Box::new(move |e| e.ty == ty && e.cmd.contains(w.as_str())),
            )
        }
        8 => {
            let w = format!("/usr/bin/w{}", i % 5);
            (
                format!("event.type == \"{ty}\" and event.cmd startswith \"{w}\""),
                Box::new(move |e| e.ty == ty && e.cmd.starts_with(w.as_str())),
            )
        }
        _ => (
            "event.user != \"root\" and event.port > 60000 and event.cmd contains any [\"wget\", \"nc \"]"
                .to_string(),
            Box::new(|e| {
                e.user != "root" && e.port > 60000.0 && (e.cmd.contains("wget") || e.cmd.contains("nc "))
            }),
        ),
    }
}

fn source(n: usize) -> String {
    let mut s = String::from("package bench\n");
    for i in 0..n {
        s.push_str(&format!(
            "rule r{i} {{\n  severity info\n  on event where {}\n}}\n",
            rule(i % RULES).0.replace("r{i}", "")
        ));
    }
    s
}

/// A deterministic pseudo-random stream (xorshift), so every run sees the same events.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Data {
    json: Vec<Value>,
    typed: Vec<Ev>,
    hand: Vec<Hand>,
    interp: RuleSet,
    jit: RuleSet,
}

static DATA: LazyLock<Data> = LazyLock::new(|| {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cmds = [
        "/usr/bin/w1 -x",
        "curl http://x3",
        "ls -la",
        "wget http://e",
        "nc 10.0.0.1 4444",
        "/usr/bin/w4 x7",
    ];
    let mut json = Vec::new();
    let mut typed = Vec::new();
    for _ in 0..DISTINCT {
        let ev = Ev {
            ty: format!("t{}", rng.below(9)),
            user: if rng.below(10) == 0 {
                "root".into()
            } else {
                format!("u{}", rng.below(60))
            },
            port: rng.below(65536) as f64,
            bytes: rng.below(2_000_000) as f64,
            cmd: format!(
                "{} x{}",
                cmds[rng.below(cmds.len() as u64) as usize],
                rng.below(15)
            ),
        };
        json.push(json!({"type": ev.ty, "user": ev.user, "port": ev.port, "bytes": ev.bytes, "cmd": ev.cmd}));
        typed.push(ev);
    }
    let src = source(RULES);
    let checked = vigil_compiler::check_source("bench.rules", &src, None);
    assert_eq!(checked.errors(), 0, "{:#?}", checked.diagnostics);
    let interp = RuleSet::from_checked(&checked, Engine::Interp).unwrap();
    let jit = RuleSet::from_checked(&checked, Engine::Jit).unwrap();
    assert_eq!(jit.engine(), Engine::Jit);
    let hand = (0..RULES).map(|i| rule(i).1).collect();
    Data {
        json,
        typed,
        hand,
        interp,
        jit,
    }
});

fn frames(rs: &RuleSet) -> Vec<Frame<'static>> {
    DATA.json
        .iter()
        .map(|e| {
            let mut f = rs.frame();
            f.fill_json(rs.ir(), e);
            f
        })
        .collect()
}

/// Every engine must find the same matches, or the timings compare different work.
fn check_agreement(frames_i: &[Frame], frames_j: &[Frame]) -> usize {
    let d = &*DATA;
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let mut scratch = Scratch::default();
    let mut total = 0;
    for (k, ev) in d.typed.iter().enumerate() {
        let hand: Vec<u32> = (0..RULES)
            .filter(|&r| (d.hand[r])(ev))
            .map(|r| r as u32)
            .collect();
        d.interp.matching_all(&frames_i[k], &mut a);
        d.jit.matching_all(&frames_j[k], &mut b);
        d.jit.matching(&frames_j[k], &mut scratch, &mut c);
        assert_eq!(hand, a);
        assert_eq!(a, b);
        assert_eq!(b, c);
        total += a.len();
    }
    total
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn a_hand_written(b: Bencher) {
    let d = &*DATA;
    b.counter(divan::counter::ItemsCount::new(DISTINCT * CYCLES))
        .bench(|| {
            let mut n = 0usize;
            for _ in 0..CYCLES {
                for e in &d.typed {
                    for r in &d.hand {
                        n += r(e) as usize;
                    }
                }
            }
            n
        });
}

fn run(b: Bencher, rs: &'static RuleSet, indexed: bool) {
    let fs = frames(rs);
    let fi = frames(&DATA.interp);
    let fj = frames(&DATA.jit);
    check_agreement(&fi, &fj);
    let mut out = Vec::with_capacity(RULES);
    let mut scratch = Scratch::default();
    b.counter(divan::counter::ItemsCount::new(DISTINCT * CYCLES))
        .bench_local(|| {
            let mut n = 0usize;
            for _ in 0..CYCLES {
                for f in &fs {
                    if indexed {
                        rs.matching(f, &mut scratch, &mut out);
                    } else {
                        rs.matching_all(f, &mut out);
                    }
                    n += out.len();
                }
            }
            n
        });
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn b_interp(b: Bencher) {
    run(b, &DATA.interp, false);
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn b_interp_indexed(b: Bencher) {
    run(b, &DATA.interp, true);
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn c_jit(b: Bencher) {
    run(b, &DATA.jit, false);
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn c_jit_indexed(b: Bencher) {
    run(b, &DATA.jit, true);
}

/// Ingest cost, for scale: filling frames from parsed JSON events.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn d_fill_frames(b: Bencher) {
    let rs = &DATA.jit;
    let mut f = rs.frame();
    b.counter(divan::counter::ItemsCount::new(DISTINCT))
        .bench_local(|| {
            for e in &DATA.json {
                f.fill_json(rs.ir(), e);
            }
        });
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn e_jit_compile_1000_rules(b: Bencher) {
    let src = source(1000);
    let checked = vigil_compiler::check_source("bench.rules", &src, None);
    let ir = || vigil_compiler::lower::lower(&checked).unwrap();
    b.with_inputs(ir)
        .bench_local_values(|ir| RuleSet::new(ir, Engine::Jit));
}

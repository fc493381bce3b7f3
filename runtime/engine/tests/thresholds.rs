//! Rules whose condition is one series against a constant skip the predicate program
//! (`vigil_compiler::eval::threshold`). The same conditions written so that they need it
//! (`x * 1 > c`) must give the same alerts, values and observations, bit for bit, with both
//! evaluators, on values where comparisons are delicate: both zeros, NaN, the bounds. Run
//! unobserved, a threshold is decided as its window yields each series (no rows in
//! between): the same alerts again.

use vigil_compiler::eval::threshold::Threshold;
use vigil_compiler::eval::{Engine as Backend, RuleSet};
use vigil_compiler::ir::Kind;
use vigil_engine::feed::Merge;
use vigil_engine::{Config, Engine};
use vigil_ingest::{Format, LineSource};

/// Conditions; `{}` marks where the general form multiplies by one.
const CONDITIONS: [&str; 6] = [
    "avg(cpu, 5m){} > 50 for 2m",
    "20 >= {}min(cpu, 5m)",
    "-5 < {}max(cpu, 5m)",
    "max(cpu, 10m){} != 40",
    "cpu{} == 0",
    "stddev(cpu, 10m){} < 30",
];

/// The rules, each condition either as written or through `* 1` (the same number, NaN and
/// the sign of zero included, but not a threshold's shape).
fn rules(general: bool) -> String {
    let mut src = String::from("package p\n");
    for (i, c) in CONDITIONS.iter().enumerate() {
        // A constant on the left multiplies from the left, so the constant stays first.
        let c = match (general, c.contains("{}m")) {
            (false, _) => c.replace("{}", ""),
            (true, false) => c.replace("{}", " * 1"),
            (true, true) => c.replace("{}", "1 * "),
        };
        src.push_str(&format!(
            "rule r{i} {{\n  severity warning\n  when {c}\n}}\n"
        ));
    }
    src
}

fn rule_set(general: bool, backend: Backend) -> RuleSet {
    let checked = vigil_compiler::check_source("p.rules", &rules(general), None);
    assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
    let set = RuleSet::from_checked(&checked, backend).expect("compiles");
    let ir = set.ir();
    let thresholds = (0..ir.programs.len())
        .filter(|&p| ir.programs[p].kind == Kind::Bool && Threshold::of(ir, p).is_some())
        .count();
    assert_eq!(thresholds, if general { 0 } else { CONDITIONS.len() });
    set
}

fn input() -> String {
    let values = [
        "0", "-0", "\"NaN\"", "50", "20", "40", "51", "19.5", "1e-300", "-7", "99",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut text = String::new();
    for i in 0..240i64 {
        for h in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = values[(state % values.len() as u64) as usize];
            text.push_str(&format!(
                "{{\"ts\": {}, \"metric\": \"cpu\", \"labels\": {{\"host\": \"h{h}\"}}, \"value\": {v}}}\n",
                i * 30_000
            ));
        }
    }
    text
}

/// The alerts and, when `observe`, the observations (rule, time, labels, value bits, held) of
/// one replay.
fn replay(general: bool, backend: Backend, observe: bool) -> (Vec<String>, Vec<String>) {
    let text = input();
    let source = LineSource::new("in.jsonl", text.as_bytes(), Format::Json, true);
    let mut feed = Merge::new(vec![source]);
    let mut e = Engine::new(rule_set(general, backend), Config::default()).expect("runs");
    e.observe(observe);
    let mut alerts = Vec::new();
    feed.run(&mut e, &mut |out| {
        alerts.extend(
            out.drain(..)
                .map(|t| serde_json::to_string(&t).expect("json")),
        );
    });
    let observed = e
        .take_observed()
        .iter()
        .map(|o| {
            format!(
                "{} {} {:?} {:x} {}",
                o.rule,
                o.t,
                e.labels.to_map(o.labels),
                o.value.to_bits(),
                o.holds
            )
        })
        .collect();
    (alerts, observed)
}

#[test]
fn thresholds_decide_as_their_programs_do() {
    let want = replay(true, Backend::Interp, true);
    assert!(want.0.len() > 20, "{:?}", want.0);
    assert!(want.1.len() > 2_000);
    for backend in [Backend::Interp, Backend::Jit] {
        let got = replay(false, backend, true);
        assert_eq!(got.0, want.0, "{backend:?}");
        assert_eq!(got.1, want.1, "{backend:?}");
        let unobserved = replay(false, backend, false);
        assert_eq!(unobserved.0, want.0, "{backend:?} unobserved");
        assert!(unobserved.1.is_empty());
    }
    assert_eq!(replay(true, Backend::Jit, true), want);
}

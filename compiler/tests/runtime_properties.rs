//! Properties of compiled rule sets the runtime relies on: matching allocates nothing once
//! warm, rule sets are shared across threads, and dropping a JIT rule set frees its code (hot
//! reloads must not leak).

use serde_json::json;
use vigil_compiler::eval::{Engine, RuleSet, Scratch};

#[path = "common/counting.rs"]
mod counting;

const RULES: &str = r#"
package p
list shells = ["bash", "sh", "zsh"]
rule a {
  severity info
  on event where event.type == "spawn" and event.proc.name in shells and event.cmd contains any ["curl", "wget"]
}
rule b {
  severity info
  on event where event.type == "open" and event.path under ["/etc"] and event.path matches /passwd$/
}
rule c {
  severity info
  on event where any p in event.procs where p.name startswith "ba"
}
rule d {
  severity info
  on event where event.ip in cidr ["10.0.0.0/8"] and event.bytes / event.secs > 1e6
}
"#;

fn rules(engine: Engine) -> RuleSet {
    let checked = vigil_compiler::check_source("p.rules", RULES, None);
    assert_eq!(checked.errors(), 0, "{:#?}", checked.diagnostics);
    let rs = RuleSet::from_checked(&checked, engine).unwrap();
    assert_eq!(rs.engine(), engine);
    rs
}

fn events() -> Vec<serde_json::Value> {
    vec![
        json!({"type": "spawn", "proc": {"name": "bash"}, "cmd": "curl x", "procs": [{"name": "bash"}]}),
        json!({"type": "open", "path": "/etc/passwd", "ip": "10.1.1.1", "bytes": 9e6, "secs": 2}),
        json!({"type": "other", "procs": [{"name": "x"}, {"name": "bar"}], "ip": "nope"}),
    ]
}

#[test]
fn matching_allocates_nothing_once_warm() {
    for engine in [Engine::Interp, Engine::Jit] {
        let rs = rules(engine);
        let evs = events();
        let mut frames = Vec::new();
        for e in &evs {
            let mut f = rs.frame();
            f.fill_json(rs.ir(), e);
            frames.push(f);
        }
        let (mut scratch, mut out) = (Scratch::default(), Vec::with_capacity(16));
        let mut expected = Vec::new();
        for f in &frames {
            // Warm-up: scratch buffers and the regex crate's per-thread caches.
            rs.matching(f, &mut scratch, &mut out);
            rs.matching_all(f, &mut out);
            expected.push(out.clone());
        }
        let allocated = counting::allocations(|| {
            for _ in 0..100 {
                for (f, want) in frames.iter().zip(&expected) {
                    rs.matching(f, &mut scratch, &mut out);
                    assert_eq!(&out, want);
                    rs.matching_all(f, &mut out);
                }
            }
        });
        assert_eq!(allocated, 0, "{engine:?} allocated while matching");
        assert!(
            expected.iter().any(|m| !m.is_empty()),
            "nothing matched: the test proves nothing"
        );
    }
}

#[test]
fn one_rule_set_serves_many_threads() {
    let rs = rules(Engine::Jit);
    let evs = events();
    let want: Vec<Vec<u32>> = evs
        .iter()
        .map(|e| {
            let mut f = rs.frame();
            f.fill_json(rs.ir(), e);
            let mut out = Vec::new();
            rs.matching(&f, &mut Scratch::default(), &mut out);
            out
        })
        .collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let (mut scratch, mut out) = (Scratch::default(), Vec::new());
                let mut f = rs.frame();
                for _ in 0..1000 {
                    for (e, w) in evs.iter().zip(&want) {
                        f.fill_json(rs.ir(), e);
                        rs.matching(&f, &mut scratch, &mut out);
                        assert_eq!(&out, w);
                    }
                }
            });
        }
    });
}

//! Every program the checker accepts in the corpus (the tour of every construct, the shipped
//! packs, the examples, every `.ok.rules` fixture) lowers and JIT-compiles, with the same
//! programs on both engines, and the metric engine builds from it.

use std::path::{Path, PathBuf};
use vigil_compiler::eval::{Engine, RuleSet};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> Vec<PathBuf> {
    let mut v = vec![
        root().join("tests/valid/tour.rules"),
        root().join("rules"),
        root().join("examples"),
    ];
    for e in std::fs::read_dir(root().join("tests/ui")).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".ok.rules") {
            v.push(p);
        }
    }
    v
}

fn compile(path: &Path) {
    let checked = vigil_compiler::check_paths(&[path.to_path_buf()], Some(&root().join("rules")))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(checked.errors(), 0, "{}", path.display());
    let interp = RuleSet::from_checked(&checked, Engine::Interp)
        .unwrap_or_else(|e| panic!("{}: {e} at {:?}", path.display(), e.span));
    let jit = RuleSet::from_checked(&checked, Engine::Jit).unwrap();
    assert_eq!(
        jit.engine(),
        Engine::Jit,
        "{}: {:?}",
        path.display(),
        jit.fallback
    );
    assert_eq!(interp.ir().programs.len(), jit.ir().programs.len());
    // The metric engine accepts every checked program (plans compile, composites order).
    vigil_engine::Engine::new(jit, vigil_engine::Config::default())
        .unwrap_or_else(|e| panic!("{}: the engine refused it: {e}", path.display()));
}

#[test]
fn the_corpus_compiles_on_both_engines() {
    for p in corpus() {
        compile(&p);
    }
}

#[test]
fn the_tour_has_programs_of_every_role() {
    let checked = vigil_compiler::check_paths(
        &[root().join("tests/valid/tour.rules")],
        Some(&root().join("rules")),
    )
    .unwrap();
    let rs = RuleSet::from_checked(&checked, Engine::Jit).unwrap();
    let roles: std::collections::BTreeSet<String> = rs
        .ir()
        .programs
        .iter()
        .map(|p| {
            format!("{:?}", p.role)
                .split('(')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    for want in ["Filter", "Step", "Until", "When", "Recover"] {
        assert!(
            roles.contains(want),
            "no {want} program in the tour: {roles:?}"
        );
    }
}

/// `env("NAME")` stays a reference in the IR: the value is looked up when the rule set is
/// loaded, so neither the IR, nor the rule set's Debug form, nor an engine snapshot, nor an
/// alert can hold it.
#[test]
fn secrets_stay_references_until_the_rules_load() {
    const SECRET: &str = "s3cret-admin-7f2a";
    let src = r#"
rule admin_login {
  severity high
  on event where event.type == "login" and event.user == env("VIGIL_TEST_ADMIN")
}
rule not_admin {
  severity info
  on event where event.type == "login" and event.user != env("VIGIL_TEST_ADMIN")
  when count() by event.src over 1m > 0
}
"#;
    let checked = vigil_compiler::check_source("secrets.rules", src, None);
    assert_eq!(checked.errors(), 0, "{:?}", checked.diagnostics);
    let ir = || vigil_compiler::lower::lower(&checked).unwrap();
    let dump = format!("{:?}", ir());
    assert!(!dump.contains(SECRET));
    assert!(
        dump.contains("VIGIL_TEST_ADMIN"),
        "the IR names the variable"
    );
    for engine in [Engine::Interp, Engine::Jit] {
        let lookup = |name: &str| (name == "VIGIL_TEST_ADMIN").then(|| SECRET.to_string());
        let rs = RuleSet::load(ir(), engine, &lookup);
        assert!(!format!("{rs:?}").contains(SECRET));
        let mut e = vigil_engine::Engine::new(rs, vigil_engine::Config::default()).unwrap();
        let mut out = Vec::new();
        for (t, user) in [(1_000, SECRET), (2_000, "alice")] {
            let ev = serde_json::json!({"type": "login", "user": user, "src": "10.0.0.1"});
            e.ingest_event(t, &ev, &mut out);
        }
        let fired: Vec<&str> = out.iter().map(|t| &*t.rule).collect();
        assert_eq!(
            fired,
            ["secrets.admin_login", "secrets.not_admin"],
            "{engine:?}"
        );
        let snapshot = serde_json::to_string(&e.snapshot()).unwrap();
        assert!(!snapshot.contains(SECRET));
        // Unset, the secret is the empty string: nothing matches it by accident.
        let rs = RuleSet::new(ir(), engine);
        let mut e = vigil_engine::Engine::new(rs, vigil_engine::Config::default()).unwrap();
        let mut out = Vec::new();
        let ev = serde_json::json!({"type": "login", "user": SECRET, "src": "10.0.0.1"});
        e.ingest_event(1_000, &ev, &mut out);
        assert!(out.iter().all(|t| &*t.rule != "secrets.admin_login"));
    }
}

/// Where a secret cannot be resolved before load (a list, a string operator), check says so.
#[test]
fn a_secret_outside_a_comparison_is_refused_by_check() {
    let src = r#"
rule r {
  severity high
  on event where event.type == "login" and event.user in [env("ADMIN"), "root"]
}
"#;
    let checked = vigil_compiler::check_source("secrets.rules", src, None);
    let codes: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert!(codes.contains(&"V0235"), "{codes:?}");
}

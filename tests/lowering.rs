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

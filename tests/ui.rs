//! UI tests: every `tests/ui/CODE*.rules` fixture produces its code, rendered diagnostics are
//! snapshot-tested, and every `CODE.ok.rules` fix is free of findings.
//! Regenerate snapshots with `INSTA_UPDATE=always cargo test --test ui` (or `cargo insta review`).

use std::path::{Path, PathBuf};
use vigil_compiler::diag::Code;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(path: &Path) -> vigil_compiler::Checked {
    // Names relative to the project so snapshots do not depend on where it is checked out.
    std::env::set_current_dir(root()).expect("project root");
    vigil_compiler::check_paths(&[path.to_path_buf()], Some(&root().join("rules")))
        .expect("fixture loads")
}

fn fixtures(ok: bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/ui"))
        .expect("tests/ui")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .filter(|p| p.to_string_lossy().ends_with(".ok.rules") == ok)
        .collect();
    v.sort();
    v
}

#[test]
fn every_wrong_fixture_reports_its_code_and_matches_its_snapshot() {
    let files = fixtures(false);
    assert!(
        files.len() >= 60,
        "expected at least 60 UI fixtures, found {}",
        files.len()
    );
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let code = &name[..5];
        let checked = check(&path);
        let codes: Vec<&str> = checked
            .diagnostics
            .iter()
            .map(|d| d.code.as_str())
            .collect();
        assert!(
            codes.contains(&code),
            "{name}: expected {code}, got {codes:?}"
        );
        let rendered = vigil::render::human(&checked.diagnostics, &checked.sources, false);
        insta::with_settings!({ snapshot_path => root().join("tests/snapshots"), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name, rendered);
        });
    }
}

#[test]
fn every_fixed_fixture_is_clean() {
    for path in fixtures(true) {
        let checked = check(&path);
        let found: Vec<String> = checked
            .diagnostics
            .iter()
            .map(|d| format!("{} {}", d.code.as_str(), d.message))
            .collect();
        assert!(
            found.is_empty(),
            "{}: expected no findings, got {found:?}",
            path.display()
        );
    }
}

#[test]
fn every_code_has_a_fixture_pair_and_codes_are_unique() {
    let mut seen = std::collections::HashSet::new();
    for c in Code::ALL {
        let i = c.info();
        assert!(seen.insert(i.code), "code {} registered twice", i.code);
        assert!(
            root().join(format!("tests/ui/{}.rules", i.code)).is_file(),
            "{} has no fixture",
            i.code
        );
        assert!(
            !i.help.is_empty() && !i.explanation.is_empty(),
            "{} lacks help or explanation",
            i.code
        );
    }
}

#[test]
fn valid_programs_and_shipped_packs_are_clean() {
    for dir in ["tests/valid", "rules", "examples"] {
        std::env::set_current_dir(root()).expect("root");
        let checked = vigil_compiler::check_paths(&[root().join(dir)], Some(&root().join("rules")))
            .expect("loads");
        let found: Vec<String> = checked
            .diagnostics
            .iter()
            .map(|d| format!("{} {}", d.code.as_str(), d.message))
            .collect();
        assert!(found.is_empty(), "{dir}: {found:?}");
    }
}

#[test]
fn language_reference_lists_every_function_and_code() {
    let doc = std::fs::read_to_string(root().join("docs/language.md")).expect("docs/language.md");
    for b in vigil_compiler::typeck::functions::BUILTINS {
        assert!(
            doc.contains(&format!("`{}", b.name)),
            "docs/language.md lacks function {}",
            b.name
        );
    }
    for c in Code::ALL {
        assert!(
            doc.contains(&format!("| {} |", c.as_str())),
            "docs/language.md lacks code {}",
            c.as_str()
        );
    }
}

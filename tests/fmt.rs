//! `vigil fmt`: the canonical layout of a messy file (snapshot), and over every `.rules` file
//! of the repository: formatting twice changes nothing more, and the formatted files compile
//! to the same program.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_messy_file_gets_the_canonical_layout() {
    let text = std::fs::read_to_string(root().join("tests/fmt/messy.rules")).expect("fixture");
    let out = vigil_compiler::fmt::format(&text).expect("formats");
    insta::assert_snapshot!("messy", out);
    assert_eq!(vigil_compiler::fmt::format(&out).expect("formats"), out);
}

#[test]
fn declarations_with_blocks_get_the_canonical_layout() {
    let text = std::fs::read_to_string(root().join("tests/fmt/blocks.rules")).expect("fixture");
    let out = vigil_compiler::fmt::format(&text).expect("formats");
    insta::assert_snapshot!("blocks", out);
    assert_eq!(vigil_compiler::fmt::format(&out).expect("formats"), out);
}

/// Every file, with the formatted text next to the original.
fn corpus() -> Vec<(PathBuf, String, Option<String>)> {
    let mut out = Vec::new();
    for dir in ["rules", "examples", "tests", "benches"] {
        for f in vigil_compiler::resolve::collect(&root().join(dir)).expect("readable") {
            let text = std::fs::read_to_string(&f).expect("readable");
            let formatted = vigil_compiler::fmt::format(&text).ok();
            out.push((f, text, formatted));
        }
    }
    out
}

#[test]
fn formatting_is_idempotent_and_refuses_only_broken_files() {
    for (f, text, formatted) in corpus() {
        match formatted {
            Some(once) => {
                let twice = vigil_compiler::fmt::format(&once).expect("formatted text formats");
                assert_eq!(once, twice, "{}: not idempotent", f.display());
            }
            None => {
                // Only files with syntax errors (the V000x fixtures) are refused.
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                assert!(
                    name.starts_with("V000"),
                    "{} was not formatted",
                    f.display()
                );
                assert_eq!(
                    vigil_compiler::fmt::format(&text),
                    Err(vigil_compiler::fmt::FmtError::Syntax)
                );
            }
        }
    }
}

/// The lowered program as comparable text (maps in key order).
fn program(paths: &[PathBuf], std_root: &Path) -> Option<String> {
    let checked = vigil_compiler::check_paths(paths, Some(std_root)).ok()?;
    if checked.errors() > 0 {
        return None;
    }
    let ir = vigil_compiler::lower::lower(&checked).ok()?;
    let mut series: Vec<_> = ir
        .series
        .iter()
        .map(|(k, v)| format!("{k}:{v:?}"))
        .collect();
    series.sort();
    let mut aggs: Vec<_> = ir
        .event_aggs
        .iter()
        .map(|(k, v)| format!("{k}:{v:?}"))
        .collect();
    aggs.sort();
    let slots: Vec<_> = ir
        .layout
        .slots
        .iter()
        .map(|s| format!("{:?}", s.source))
        .collect();
    Some(format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{series:?}\n{aggs:?}\n{:?}\n{slots:?}",
        ir.nodes, ir.programs, ir.rules, ir.records, ir.sets, ir.interval
    ))
}

#[test]
fn formatted_packs_compile_to_the_same_program() {
    let tmp = std::env::temp_dir().join(format!("vigil-fmt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for (f, text, formatted) in corpus() {
        let rel = f.strip_prefix(root()).expect("inside the repository");
        let dest = tmp.join(rel);
        std::fs::create_dir_all(dest.parent().expect("a folder")).expect("temp dir");
        std::fs::write(&dest, formatted.unwrap_or(text)).expect("temp file");
    }
    // Files the rules read (`list x = file("lists/...")`, a calendar's holidays) go beside them.
    for dir in ["tests/ui/lists", "tests/valid/holidays"] {
        std::fs::create_dir_all(tmp.join(dir)).expect("temp dir");
        for e in std::fs::read_dir(root().join(dir)).expect(dir).flatten() {
            std::fs::copy(e.path(), tmp.join(dir).join(e.file_name())).expect("copied");
        }
    }
    let mut compared = 0;
    for dir in [
        "rules",
        "examples",
        "tests/events",
        "tests/valid",
        "benches",
    ] {
        let before = program(&[root().join(dir)], &root().join("rules"));
        let after = program(&[tmp.join(dir)], &tmp.join("rules"));
        assert!(before.is_some(), "{dir} compiles");
        assert_eq!(before, after, "{dir}: formatting changed the program");
        compared += 1;
    }
    // Single files that compile on their own (the ui fixtures' fixed versions among them).
    for f in vigil_compiler::resolve::collect(&root().join("tests/ui")).expect("readable") {
        let rel = f.strip_prefix(root()).expect("inside");
        if let Some(before) = program(std::slice::from_ref(&f), &root().join("rules")) {
            let after = program(&[tmp.join(rel)], &tmp.join("rules"));
            assert_eq!(
                Some(before),
                after,
                "{}: formatting changed the program",
                f.display()
            );
            compared += 1;
        }
    }
    assert!(compared > 50, "{compared} programs compared");
    let _ = std::fs::remove_dir_all(&tmp);
}

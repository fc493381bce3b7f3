//! The walls in ARCHITECTURE.md, enforced: which crate may depend on which (from `cargo
//! metadata`), which compiler stage may use which (from the sources), what no file may
//! contain where (`unsafe`, cranelift, the syntax tree in the runtime, the wall clock in the
//! engine), and that every path the code map names exists. The rules are read from
//! ARCHITECTURE.md's tables, so the document and this test cannot disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn architecture() -> String {
    std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md")
}

/// The rows of the first table after `heading`: cells split on `|`, header and rule dropped.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no `{heading}`"));
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The backticked words of a cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() && name != "target" && !name.starts_with('.') {
            rust_files(&p, out);
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// A file's code without comments and string contents (so prose and messages may name
/// anything).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_str, mut in_char_lit) = (false, false);
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    in_str = false;
                    out.push('"');
                }
                '\n' => out.push('\n'),
                _ => {}
            }
            continue;
        }
        if in_char_lit {
            in_char_lit = c != '\'';
            continue;
        }
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                in_str = true;
                out.push('"');
            }
            // A char literal like '"' (a lifetime `'a` has no closing quote two chars on).
            '\'' if {
                let mut look = chars.clone();
                let first = look.next();
                first == Some('\\') || look.next() == Some('\'')
            } =>
            {
                in_char_lit = true;
            }
            _ => out.push(c),
        }
    }
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Whether `needle` occurs in `hay` as a whole word (not inside a longer identifier); a path
/// `a::b` also matches when imported in a group, `use a::{x, b::c}`.
fn has_word(hay: &str, needle: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let plain = hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    });
    if plain {
        return true;
    }
    let Some((head, tail)) = needle.rsplit_once("::") else {
        return false;
    };
    let compact: String = hay.chars().filter(|c| !c.is_whitespace()).collect();
    compact.match_indices(&format!("{head}::{{")).any(|(i, m)| {
        let group = &compact[i + m.len()..];
        let end = group.find('}').unwrap_or(group.len());
        group[..end]
            .split(',')
            .any(|item| item == tail || item.starts_with(&format!("{tail}::")))
    })
}

#[test]
fn crates_depend_only_as_allowed() {
    let doc = architecture();
    let rules = table(&doc, "### Crates");
    assert!(!rules.is_empty(), "the crate table is empty");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only this platform's dependencies: the others need not be downloaded.
    let host = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| {
            v.lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        })
        .expect("rustc -vV names the host");
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let members: BTreeSet<String> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    // Package id -> name, and the normal (non-dev) dependency graph.
    let mut name_of = BTreeMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        name_of.insert(
            p["id"].as_str().unwrap_or("").to_string(),
            p["name"].as_str().unwrap_or("").to_string(),
        );
    }
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let id = n["id"].as_str().unwrap_or("").to_string();
        let normal = n["deps"].as_array().into_iter().flatten().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null())
        });
        deps.insert(
            id,
            normal
                .filter_map(|d| d["pkg"].as_str().map(str::to_string))
                .collect(),
        );
    }
    let ours: BTreeSet<&str> = members.iter().map(|m| name_of[m].as_str()).collect();
    let declared: BTreeSet<String> = rules.iter().flat_map(|r| ticked(&r[0])).collect();
    for m in &ours {
        assert!(
            declared.contains(*m),
            "crate `{m}` is not in ARCHITECTURE.md's crate table: add its rules"
        );
    }
    let mut problems = Vec::new();
    for row in &rules {
        let name = ticked(&row[0]).pop().unwrap_or_default();
        let folder = ticked(&row[1]).pop().unwrap_or_default();
        let may: BTreeSet<String> = ticked(&row[2]).into_iter().collect();
        let never: BTreeSet<String> = ticked(&row[3]).into_iter().collect();
        assert!(
            root().join(&folder).join("Cargo.toml").exists(),
            "`{name}`'s folder `{folder}` has no Cargo.toml"
        );
        let Some(id) = members.iter().find(|m| name_of[*m] == name) else {
            problems.push(format!("`{name}` is in the table but not in the workspace"));
            continue;
        };
        for d in &deps[id] {
            let dn = &name_of[d];
            if ours.contains(dn.as_str()) && !may.contains(dn) {
                problems.push(format!("`{name}` depends on `{dn}`, which it may not"));
            }
        }
        // Transitively: what the crate links.
        let mut seen = BTreeSet::new();
        let mut stack = vec![id.clone()];
        while let Some(p) = stack.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            stack.extend(deps.get(&p).cloned().unwrap_or_default());
        }
        for p in &seen {
            if never.contains(&name_of[p]) {
                problems.push(format!(
                    "`{name}` links `{}`, which it must never",
                    name_of[p]
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The module a file belongs to: its first folder or file stem under `src` (the crate root,
/// `lib.rs` or `main.rs`, has none).
fn stage_of(path: &Path, src: &str) -> Option<String> {
    let r = rel(path);
    let rest = r.strip_prefix(src)?;
    let first = rest.split('/').next()?;
    let stage = first.trim_end_matches(".rs");
    (stage != "lib" && stage != "main").then(|| stage.to_string())
}

#[test]
fn compiler_stages_use_only_earlier_stages() {
    modules_use_only_what_the_table_allows("### Compiler stages", "compiler/src/");
}

#[test]
fn the_command_line_and_the_language_server_stay_apart() {
    modules_use_only_what_the_table_allows("### Binary modules", "src/");
}

fn modules_use_only_what_the_table_allows(heading: &str, src: &str) {
    let doc = architecture();
    let rules = table(&doc, heading);
    let allowed: BTreeMap<String, BTreeSet<String>> = rules
        .iter()
        .map(|r| {
            (
                ticked(&r[0]).pop().unwrap_or_default(),
                ticked(&r[1]).into_iter().collect(),
            )
        })
        .collect();
    let mut files = Vec::new();
    rust_files(&root().join(src), &mut files);
    let mut problems = Vec::new();
    for f in &files {
        let Some(stage) = stage_of(f, src) else {
            continue;
        };
        let Some(may) = allowed.get(&stage) else {
            problems.push(format!(
                "{}: stage `{stage}` is not in the stage table",
                rel(f)
            ));
            continue;
        };
        let text = code(f);
        for (i, _) in text.match_indices("crate::") {
            let module: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            // `crate::Checked` and friends are the pipeline's own items.
            if module.is_empty() || module == stage || !allowed.contains_key(&module) {
                continue;
            }
            if !may.contains(&module) {
                problems.push(format!(
                    "{}: `{stage}` uses `crate::{module}`, which it may not",
                    rel(f)
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_file_contains_what_its_place_forbids() {
    let doc = architecture();
    let rules = table(&doc, "### Forbidden where");
    assert!(!rules.is_empty());
    let mut all = Vec::new();
    for dir in ["src", "compiler", "runtime", "vocab", "tests", "benches"] {
        rust_files(&root().join(dir), &mut all);
    }
    let texts: Vec<(String, String)> = all.iter().map(|f| (rel(f), code(f))).collect();
    let mut problems = Vec::new();
    for row in &rules {
        let places = ticked(&row[0]);
        let except = ticked(row.get(1).map_or("", String::as_str));
        let words = ticked(&row[2]);
        let covered = |path: &str| {
            let inside = places
                .iter()
                .any(|p| p == "*" || path.starts_with(p.as_str()));
            inside && !except.iter().any(|e| path.starts_with(e.as_str()))
        };
        for (path, text) in texts.iter().filter(|(p, _)| covered(p)) {
            if path == "tests/architecture.rs" {
                continue;
            }
            for w in &words {
                if has_word(text, w) {
                    problems.push(format!("{path}: contains `{w}`"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_crate_root_forbids_unsafe_but_the_compiler_and_hint_which_deny_it() {
    for lib in [
        "vocab/src/lib.rs",
        "runtime/engine/src/lib.rs",
        "runtime/ingest/src/lib.rs",
        "runtime/daemon/src/lib.rs",
        "src/lib.rs",
    ] {
        let text = std::fs::read_to_string(root().join(lib)).unwrap_or_default();
        assert!(
            text.contains("#![forbid(unsafe_code)]"),
            "{lib} must forbid unsafe code"
        );
    }
    for (lib, dir, may) in [
        (
            "compiler/src/lib.rs",
            "compiler/src",
            "compiler/src/eval/jit/",
        ),
        (
            "runtime/hint/src/lib.rs",
            "runtime/hint/src",
            "runtime/hint/src/lib.rs",
        ),
    ] {
        let text = std::fs::read_to_string(root().join(lib)).unwrap_or_default();
        assert!(
            text.contains("#![deny(unsafe_code)]"),
            "{lib} must deny unsafe code"
        );
        let mut files = Vec::new();
        rust_files(&root().join(dir), &mut files);
        for f in files {
            let r = rel(&f);
            if code(&f).contains("allow(unsafe_code)") {
                assert!(r.starts_with(may), "{r} allows unsafe code; only {may} may");
            }
        }
    }
}

#[test]
fn the_code_map_names_only_paths_that_exist() {
    let doc = architecture();
    let start = doc.find("## Code map").expect("a code map");
    let end = doc[start + 3..]
        .find("\n## ")
        .map_or(doc.len(), |e| start + 3 + e);
    let mut missing = Vec::new();
    for line in doc[start..end].lines().filter(|l| l.starts_with('|')) {
        let first = line.trim_matches('|').split('|').next().unwrap_or("");
        for p in ticked(first) {
            if p.contains('/') || p.contains('.') {
                let path = p.trim_end_matches('/');
                if !root().join(path).exists() {
                    missing.push(p);
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}

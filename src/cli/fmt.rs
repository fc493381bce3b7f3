//! `vigil fmt`: rewrites `.rules` files in the canonical layout, or with `--check` lists the
//! files that would change (exit 1), for CI.

use super::FmtArgs;
use super::outln;

pub fn run(args: FmtArgs) -> i32 {
    let paths = if args.paths.is_empty() {
        vec![std::path::PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for p in &paths {
        match vigil_compiler::resolve::collect(p) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    let (mut changed, mut failed) = (0, 0);
    for f in &files {
        let name = f.display();
        let text = match vigil_compiler::resolve::read_rules_file(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        let formatted = match vigil_compiler::fmt::format(&text) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {name}: {e}");
                failed += 1;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        changed += 1;
        if args.check {
            outln!("{name}");
        } else if let Err(e) = replace_file(f, &formatted) {
            eprintln!("error: cannot write {name}: {e} (the file is unchanged)");
            return 2;
        }
    }
    if args.check && changed > 0 {
        eprintln!("{changed} file(s) would be reformatted; run `vigil fmt`");
    }
    i32::from(failed > 0 || (args.check && changed > 0))
}

/// Writes `text` beside `path` and renames it over `path`, so a failed write (a full disk, a
/// size limit) leaves the original whole. The original's permissions are kept.
fn replace_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.vigil-fmt-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

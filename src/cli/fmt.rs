//! `vigil fmt`: rewrites `.rules` files in the canonical layout, or with `--check` lists the
//! files that would change (exit 1), for CI.

use super::FmtArgs;

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
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {name}: {e}");
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
            println!("{name}");
        } else if let Err(e) = std::fs::write(f, formatted) {
            eprintln!("error: cannot write {name}: {e}");
            return 2;
        }
    }
    if args.check && changed > 0 {
        eprintln!("{changed} file(s) would be reformatted; run `vigil fmt`");
    }
    i32::from(failed > 0 || (args.check && changed > 0))
}

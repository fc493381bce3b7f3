//! `vigil check`.

use super::outln;
use super::{CheckArgs, Format};
use std::io::IsTerminal;
use vigil_compiler::diag::{to_json, to_sarif};

pub fn run(args: CheckArgs) -> i32 {
    let paths = if args.paths.is_empty() {
        vec![".".into()]
    } else {
        args.paths
    };
    let root = crate::config::rules_root(args.rules_root);
    let checked = match vigil_compiler::check_paths(&paths, root.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let (errors, warnings) = (checked.errors(), checked.warnings());
    match args.format {
        Format::Human => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            super::errout(format_args!(
                "{}",
                crate::render::human(&checked.diagnostics, &checked.sources, colour)
            ));
            let roots = checked.files.iter().filter(|f| f.root).count();
            eprintln!("{}", crate::render::summary(errors, warnings, roots));
        }
        Format::Json => outln!("{}", to_json(&checked.diagnostics, &checked.sources)),
        Format::Sarif => outln!("{:#}", to_sarif(&checked.diagnostics, &checked.sources)),
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        1
    } else {
        0
    }
}

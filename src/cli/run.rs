//! `vigil run`: the daemon. Flags override `vigil.toml`; with neither it runs the shipped
//! packs with its state in `./vigil-data`, listening on 127.0.0.1 only. The rules are checked
//! and compiled here (the daemon's crate never sees the compiler's front end), at start and
//! on every reload; alert changes are printed on stdout, one line each.

use super::{RunArgs, TimelineFormat};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use vigil_daemon::Config;

pub fn run(args: RunArgs) -> i32 {
    let mut config = match &args.config {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
        None => Config::default(),
    };
    if !args.rules.is_empty() {
        config.rules = args.rules.clone();
    }
    if let Some(d) = &args.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(l) = &args.listen {
        config.listen = l.clone();
    }
    config.stdin |= args.stdin;
    let paths = if config.rules.is_empty() {
        // The shipped packs, wherever this binary finds them.
        match crate::config::rules_root(args.rules_root.clone()) {
            Some(root) => vec![root],
            None => {
                eprintln!("error: no rules named and the shipped packs are not available");
                return 2;
            }
        }
    } else {
        config.rules.clone()
    };
    // The daemon watches these for changes.
    config.rules = paths.clone();
    let root = args.rules_root.clone();
    let engine = args.engine;
    // Loaded here first so that errors are shown as `vigil check` shows them.
    let first = match load(&paths, root.clone(), engine) {
        Ok(r) => r,
        Err(d) => {
            eprintln!("{d}\nerror: the rules have errors; the daemon did not start");
            return 1;
        }
    };
    let json = args.format == TimelineFormat::Json;
    let printer = super::replay::Printer::new(!json, &first);
    let first = Mutex::new(Some(first));
    let loader: vigil_daemon::Loader =
        Arc::new(move || match first.lock().ok().and_then(|mut f| f.take()) {
            Some(r) => Ok(r),
            None => load(&paths, root.clone(), engine),
        });
    let sink: vigil_daemon::Sink = Box::new(move |t| {
        let mut one = vec![t.clone()];
        let mut out = std::io::stdout().lock();
        let written = if json {
            super::replay::print(&mut out, &mut one)
        } else {
            printer.print(&mut out, &mut one)
        };
        // Nobody reading stdout any more is no reason to stop: alerts still reach the API.
        let _ = written.and_then(|()| out.flush());
    });
    match vigil_daemon::run(config, loader, sink) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Checks and compiles the rules; the diagnostics as text when they have errors.
fn load(
    paths: &[PathBuf],
    root: Option<PathBuf>,
    engine: vigil_compiler::eval::Engine,
) -> Result<vigil_compiler::eval::RuleSet, String> {
    let root = crate::config::rules_root(root);
    let checked = vigil_compiler::check_paths(paths, root.as_deref()).map_err(|e| e.to_string())?;
    if let Some((text, n)) = super::rendered_errors(&checked, false) {
        return Err(format!("{text}{n} error(s)"));
    }
    vigil_compiler::eval::RuleSet::from_checked_with(&checked, engine, &crate::config::secret)
        .map_err(|e| super::lower_error(&checked, &e))
}

//! `vigil test`: runs the `test` blocks of rule files on the live engine; one line per test,
//! then `N passed, N failed` (and `N not run`: tests with expectations that cannot be checked
//! yet). Exit 1 when a test fails (or the rules do not check).

use super::TestArgs;
use super::{out, outln};
use std::sync::Arc;
use vigil_engine::testing;

pub fn run(args: TestArgs) -> i32 {
    let paths = if args.paths.is_empty() {
        vec![std::path::PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let checked = match super::check_or_report(&paths, args.rules_root.clone(), "no test was run") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let compile_error = |e: vigil_compiler::lower::LowerError| {
        eprintln!("error: {}", super::lower_error(&checked, &e));
        1
    };
    let cases = match vigil_compiler::lower::tests(&checked) {
        Ok(c) => c,
        Err(e) => return compile_error(e),
    };
    let rules = match vigil_compiler::eval::RuleSet::from_checked_with(
        &checked,
        args.engine,
        &crate::config::secret,
    ) {
        Ok(r) => Arc::new(r),
        Err(e) => return compile_error(e),
    };
    if let Some(why) = &rules.fallback {
        eprintln!("note: using the interpreter: {why}");
    }
    let interval = rules
        .ir()
        .interval
        .map_or(60_000, |s| (s * 1000.0).round() as i64);
    let (mut passed, mut failed, mut not_run) = (0, 0, 0);
    let p = super::printable;
    for case in &cases {
        if args
            .filter
            .as_ref()
            .is_some_and(|f| !case.name.contains(f.as_str()))
        {
            continue;
        }
        let o = if args.verbose {
            testing::run_traced(&rules, case, interval)
        } else {
            testing::run(&rules, case, interval)
        };
        let (name, place) = (p(&o.name), p(&o.place));
        if !o.passed() {
            failed += 1;
            outln!("FAIL {name} ({place})");
            for f in &o.failures {
                outln!("       {}", p(f));
            }
        } else if !o.unchecked.is_empty() {
            // Expectations the engine cannot check yet (playbooks): the test
            // did not run in full, so it is not counted as passed.
            not_run += 1;
            outln!("SKIP {name} ({place})");
        } else {
            passed += 1;
            outln!("ok   {name} ({place})");
        }
        for u in &o.unchecked {
            outln!("       not run: cannot be checked yet: {}", p(u));
        }
        if args.verbose || (!o.passed() && !o.timeline.is_empty() && o.timeline.len() <= 40) {
            outln!("       alert changes:");
            for t in &o.timeline {
                outln!(
                    "         {:>8} {} {} {}",
                    testing::duration(t.ts),
                    p(&t.rule),
                    t.state,
                    p(&testing::labels(&t.labels))
                );
            }
        }
        if args.verbose && !o.notifications.is_empty() {
            outln!("       notifications:");
            for n in &o.notifications {
                outln!("         {}", p(&testing::describe(n)));
            }
        }
        if args.verbose && !o.traces.is_empty() {
            outln!("       evaluations (why each rule held or not):");
            for t in &o.traces {
                outln!(
                    "         {:>8} {} {} {}",
                    testing::duration(t.at),
                    p(&t.rule),
                    p(&testing::labels(&t.labels)),
                    super::trace::verdict(t)
                );
                let mut text = Vec::new();
                let _ = super::trace::parts(&mut text, t, 11);
                out!("{}", String::from_utf8_lossy(&text));
            }
            if o.traces_dropped > 0 {
                outln!(
                    "         ({} more evaluations not shown: a trace holds {})",
                    o.traces_dropped,
                    vigil_engine::engine::MAX_TRACES
                );
            }
        }
    }
    if cases.is_empty() {
        eprintln!("note: no `test` blocks found");
    }
    if not_run > 0 {
        outln!("{passed} passed, {failed} failed, {not_run} not run");
    } else {
        outln!("{passed} passed, {failed} failed");
    }
    i32::from(failed > 0)
}

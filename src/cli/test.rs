//! `vigil test`: runs the `test` blocks of rule files on the live engine; one line per test,
//! then `N passed, N failed`. Exit 1 when a test fails (or the rules do not check).

use super::TestArgs;
use super::outln;
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
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        if args
            .filter
            .as_ref()
            .is_some_and(|f| !case.name.contains(f.as_str()))
        {
            continue;
        }
        let o = testing::run(&rules, case, interval);
        if o.passed() {
            passed += 1;
            outln!("ok   {} ({})", o.name, o.place);
        } else {
            failed += 1;
            outln!("FAIL {} ({})", o.name, o.place);
            for f in &o.failures {
                outln!("       {f}");
            }
        }
        for u in &o.unchecked {
            outln!("       not checked yet: {u}");
        }
        if args.verbose || (!o.passed() && !o.timeline.is_empty() && o.timeline.len() <= 40) {
            outln!("       alert changes:");
            for t in &o.timeline {
                outln!(
                    "         {:>8} {} {} {}",
                    testing::duration(t.ts),
                    t.rule,
                    t.state,
                    testing::labels(&t.labels)
                );
            }
        }
    }
    if cases.is_empty() {
        eprintln!("note: no `test` blocks found");
    }
    outln!("{passed} passed, {failed} failed");
    i32::from(failed > 0)
}

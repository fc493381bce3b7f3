//! A dropped JIT rule set gives back every byte of its code, counted by the JIT's own memory
//! provider (exact; resident memory of a process is noise). Alone in its test binary, so no
//! other test's modules are counted alongside.

use vigil_compiler::eval::jit::live_code_bytes;
use vigil_compiler::eval::{Engine, RuleSet};

#[test]
fn dropping_a_jit_rule_set_frees_its_code() {
    let mut src = String::from("package big\n");
    for i in 0..200 {
        src.push_str(&format!(
            "rule r{i} {{\n  severity info\n  on event where event.type == \"t{}\" and event.n > {i} and event.s contains \"x{i}\"\n}}\n",
            i % 9
        ));
    }
    let checked = vigil_compiler::check_source("big.rules", &src, None);
    let ir = || vigil_compiler::lower::lower(&checked).unwrap();
    let before = live_code_bytes();
    let rs = RuleSet::new(ir(), Engine::Jit);
    assert_eq!(rs.engine(), Engine::Jit);
    let one = live_code_bytes() - before;
    assert!(one > 10_000, "200 rules hold {one} bytes of code");
    // The index-free baseline compiles its batch on first use, into a module of its own.
    let mut out = Vec::new();
    rs.matching_all(&rs.frame(), &mut out);
    let with_baseline = live_code_bytes() - before;
    assert!(with_baseline > one, "the baseline's batch is compiled");
    // Filters run in batches; each one's own function is compiled on the first call of one.
    let filter = rs.ir().filters().next().map(|(p, _)| p).unwrap();
    assert!(!rs.eval_bool(filter, &rs.frame()));
    assert!(
        live_code_bytes() - before > with_baseline,
        "the filters' own functions are compiled"
    );
    drop(rs);
    assert_eq!(
        live_code_bytes(),
        before,
        "the code of a dropped rule set is freed"
    );
    for _ in 0..60 {
        drop(RuleSet::new(ir(), Engine::Jit));
    }
    assert_eq!(live_code_bytes(), before, "60 reloads leave nothing behind");
}

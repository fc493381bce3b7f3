//! The language server's latency: diagnostics for a 5,000-line file after a change (the
//! target is 100 ms), against checking the same text with `check_source` alone.

use divan::Bencher;
use std::str::FromStr;

fn main() {
    divan::main();
}

/// ~5,000 lines: metrics, consts and rules of every form, one typo every 100 rules.
fn source() -> String {
    let mut s = String::from(
        "package big\n\nmetric cpu_usage: percent labels [host]\nconst limit = 80%\n\n",
    );
    let mut i = 0;
    while s.lines().count() < 5_000 {
        let name = if i % 100 == 7 { "limt" } else { "limit" };
        s.push_str(&format!(
            "rule r{i} {{\n  severity warning\n  when avg(cpu_usage, 5m) > {name} for 2m\n  summary \"CPU on {{{{ host }}}}\"\n}}\n\nrule e{i} {{\n  severity high\n  on event where event.type == \"login\" and not event.success\n  when count() by event.src_ip over 1m >= {}\n  summary \"{{{{ src_ip }}}}\"\n}}\n\n",
            i % 10 + 2
        ));
        i += 1;
    }
    s
}

#[divan::bench(sample_count = 10)]
fn diagnostics_5000_lines(b: Bencher) {
    let text = source();
    let uri = lsp_types::Uri::from_str("file:///tmp/vigil-bench/big.rules").expect("a uri");
    b.bench(|| vigil::lsp::features::diagnostics(&uri, &text, None));
}

#[divan::bench(sample_count = 10)]
fn check_only_5000_lines(b: Bencher) {
    let text = source();
    b.bench(|| vigil_compiler::check_source("big.rules", &text, None));
}

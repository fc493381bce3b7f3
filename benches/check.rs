//! Checking speed: 10,000 generated rules (~100k lines) through parse, resolve, typecheck and
//! lint, against a baseline of parsing alone, in one run so the ratio is fair.

fn main() {
    divan::main();
}

/// A package of `n` rules in the shapes real packs use (metric thresholds with `for`, ratios
/// across series, event aggregates, templates), about ten lines each.
pub fn generated(n: usize) -> String {
    let mut s = String::from(
        "package bench\n\nmetric cpu_usage: percent\nconst limit = 80%\nnotifier ops = console()\n\n",
    );
    for i in 0..n {
        let body = match i % 4 {
            0 => format!(
                "  let errors = sum(rate(http_requests_total{{code=~\"5..\", svc=\"s{i}\"}}, 5m)) by [service]\n  let total = sum(rate(http_requests_total{{svc=\"s{i}\"}}, 5m)) by [service]\n  when errors / total > 5% and total > 0 for 5m\n  summary \"{{{{ service }}}} fails {{{{ value | percent }}}}\""
            ),
            1 => format!(
                "  when avg(cpu_usage{{host=\"h{i}\"}}, 5m) > limit for 2m\n  recover when avg(cpu_usage, 5m) < 70%\n  summary \"CPU {{{{ value }}}} on {{{{ host }}}}\""
            ),
            2 => format!(
                "  on event where event.type == \"login\" and not event.success and event.user != \"u{i}\"\n  when count() by event.src_ip over 1m >= 5\n  summary \"{{{{ count }}}} failures from {{{{ src_ip }}}}\""
            ),
            _ => format!(
                "  warning when quantile(0.99, api_latency_ms, 5m) > {i}ms for 2m\n  critical when quantile(0.99, api_latency_ms, 5m) > 1s for 1m\n  summary \"latency {{{{ value }}}}\""
            ),
        };
        let sev = if i % 4 == 3 {
            String::new()
        } else {
            "  severity warning\n".into()
        };
        s.push_str(&format!("# rule {i}\nrule r{i} {{\n{sev}  labels {{ team = \"t{}\" }}\n{body}\n  notify ops\n}}\n\n", i % 7));
    }
    s
}

#[divan::bench(sample_count = 5)]
fn parse_only_10k_rules(b: divan::Bencher) {
    let text = generated(10_000);
    b.counter(divan::counter::BytesCount::new(text.len()))
        .bench(|| {
            let mut diags = Vec::new();
            vigil_compiler::syntax::parse(
                vigil_compiler::source::FileId(0),
                divan::black_box(&text),
                &mut diags,
            )
        });
}

#[divan::bench(sample_count = 5)]
fn check_10k_rules(b: divan::Bencher) {
    let text = generated(10_000);
    b.counter(divan::counter::BytesCount::new(text.len()))
        .bench(|| {
            let c = vigil_compiler::check_source("bench.rules", divan::black_box(&text), None);
            assert_eq!(c.errors(), 0, "generated rules must check clean");
            c
        });
}

/// Hostile shapes from the review, each against `check_10k_rules` in the same run: 10,000
/// copies of one typo (one "did you mean" search, memoised), and 10,000 distinct typos among
/// 10,000 names (the edit distance ruled out by cheap bounds first). Both were quadratic.
#[divan::bench(sample_count = 3)]
fn check_10k_repeated_typos(b: divan::Bencher) {
    let text: String = (0..10_000)
        .map(|i| format!("const c{i} = nope\n"))
        .collect();
    b.bench(|| vigil_compiler::check_source("typos.rules", divan::black_box(&text), None));
}

#[divan::bench(sample_count = 3)]
fn check_10k_distinct_typos(b: divan::Bencher) {
    let text: String = (0..10_000)
        .map(|i| format!("const c{i} = nope{i}\n"))
        .collect();
    b.bench(|| vigil_compiler::check_source("typos.rules", divan::black_box(&text), None));
}

/// 50,000 findings on one line: rendered without a scan of the line per finding.
#[divan::bench(sample_count = 3)]
fn render_50k_findings_on_one_line(b: divan::Bencher) {
    let text: String = (0..50_000).map(|i| format!("const c{i} = 1 ")).collect();
    let c = vigil_compiler::check_source("line.rules", &text, None);
    b.bench(|| vigil::render::human(divan::black_box(&c.diagnostics), &c.sources, false));
}

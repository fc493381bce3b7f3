//! Golden evaluation tests: expressions with their expected values, written by hand from the
//! semantics in docs/language.md ("Evaluation"), run on both engines.

use serde_json::{Value, json};
use vigil_compiler::eval::{Engine, RuleSet};
use vigil_compiler::ir::Role;

const PRELUDE: &str = r#"
package g
const limit = 80%
list shells = ["bash", "sh", "zsh"]
list nets: cidr = ["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"]
macro is_login = event.type == "login"
exception known(proc: string, path: string) =
    event.proc == proc and event.path startswith path
  values [("puppet", "/etc/")]
"#;

/// Compiles `rule r { <body> }` (a bare expression becomes `on event where <expr>`).
fn compile(body: &str, engine: Engine) -> RuleSet {
    let body = if body.contains('\n') {
        body.to_string()
    } else {
        format!("on event where {body}")
    };
    let src = format!("{PRELUDE}\nrule r {{\n  severity info\n  {body}\n}}\n");
    let checked = vigil_compiler::check_source("golden.rules", &src, None);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{body}: {errors:#?}");
    let rs = RuleSet::from_checked(&checked, engine).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(rs.engine(), engine, "{:?}", rs.fallback);
    rs
}

fn eval(rs: &RuleSet, event: &Value) -> bool {
    let (p, _) = rs
        .ir()
        .programs
        .iter()
        .enumerate()
        .find(|(_, p)| p.role == Role::Filter)
        .expect("a filter");
    let mut f = rs.frame();
    f.fill_json(rs.ir(), event);
    rs.eval_bool(p, &f)
}

fn cases() -> Vec<(&'static str, Value, bool)> {
    vec![
        // Equality with constants; missing and mistyped fields are false for == and !=.
        (r#"event.type == "login""#, json!({"type": "login"}), true),
        (r#"event.type == "login""#, json!({"type": "logout"}), false),
        (r#"event.type == "login""#, json!({}), false),
        (r#"event.type == "login""#, json!({"type": 5}), false),
        (r#"event.type != "login""#, json!({"type": "x"}), true),
        (r#"event.type != "login""#, json!({}), false),
        (r#"not (event.type == "login")"#, json!({}), true),
        (r#"event.s == """#, json!({"s": ""}), true),
        (
            r#"event.name == "Ünïcödé""#,
            json!({"name": "Ünïcödé"}),
            true,
        ),
        // Numbers: IEEE, division by zero gives infinities or NaN.
        ("event.n > 5", json!({"n": 6}), true),
        ("event.n > 5", json!({"n": "6"}), false),
        ("event.n > 5", json!({"n": null}), false),
        ("event.n <= 5", json!({"n": 5.0}), true),
        ("event.a / event.b > 1", json!({"a": 1, "b": 0}), true),
        ("event.a / event.b > 1", json!({"a": 0, "b": 0}), false),
        ("event.a / event.b != 1", json!({"a": 0, "b": 0}), true),
        (
            "event.a - event.b == 0",
            json!({"a": 1e308, "b": -1e308}),
            false,
        ),
        ("event.amount > 1e6", json!({"amount": 2000000}), true),
        ("event.n > 1e308", json!({"n": 1.7e308}), true),
        ("-event.n == 3", json!({"n": -3}), true),
        ("event.n + 1 > 1", json!({"n": "x"}), false),
        ("abs(event.d) > 5", json!({"d": -6}), true),
        ("round(event.v, 0.5) == 1.5", json!({"v": 1.3}), true),
        ("round(event.v) == 3", json!({"v": 2.5}), true),
        ("min(event.a, event.b) == 1", json!({"a": 1, "b": 2}), true),
        ("max(event.a, event.b) == 2", json!({"a": 1, "b": 2}), true),
        ("clamp(event.v, 0, 10) == 10", json!({"v": 99}), true),
        ("ln(event.v) > 0", json!({"v": 3}), true),
        ("log10(event.v) == 2", json!({"v": 100}), true),
        ("event.port in [22, 23]", json!({"port": 23}), true),
        ("event.port not in [22, 23]", json!({"port": 80}), true),
        ("event.port not in [22, 23]", json!({}), false),
        // Percent literals are ratios unless compared with a percentage.
        ("event.cpu > limit", json!({"cpu": 0.9}), true),
        ("event.cpu > limit", json!({"cpu": 0.7}), false),
        // Booleans.
        ("event.ok", json!({"ok": true}), true),
        ("event.ok", json!({"ok": "true"}), false),
        ("event.ok == false", json!({"ok": false}), true),
        ("event.ok == false", json!({}), false),
        ("not event.ok", json!({}), true),
        ("exists event.user", json!({"user": "a"}), true),
        ("exists event.user", json!({"user": {"id": 1}}), true),
        ("exists event.user", json!({"user": null}), false),
        // Two fields.
        ("event.x == event.y", json!({"x": "a", "y": "a"}), true),
        ("event.x == event.y", json!({"x": 1, "y": "1"}), false),
        ("event.x != event.y", json!({"x": 1, "y": "1"}), false),
        ("event.x < event.y", json!({"x": 1, "y": 2}), true),
        ("event.x < event.y", json!({"x": "a", "y": "b"}), true),
        // Lists, nocase.
        ("event.shell in shells", json!({"shell": "zsh"}), true),
        ("event.shell in shells", json!({"shell": "fish"}), false),
        ("event.shell not in shells", json!({"shell": "fish"}), true),
        ("event.shell not in shells", json!({}), false),
        (
            r#"event.shell in nocase ["BASH"]"#,
            json!({"shell": "Bash"}),
            true,
        ),
        (
            r#"event.shell in [...shells, "fish"]"#,
            json!({"shell": "fish"}),
            true,
        ),
        // String operators.
        (
            r#"event.cmd contains "curl""#,
            json!({"cmd": "x curl y"}),
            true,
        ),
        (
            r#"event.cmd contains any ["wget", "curl"]"#,
            json!({"cmd": "wget"}),
            true,
        ),
        (
            r#"event.cmd contains all ["wget", "curl"]"#,
            json!({"cmd": "wget"}),
            false,
        ),
        (
            r#"event.cmd not contains "curl""#,
            json!({"cmd": "ls"}),
            true,
        ),
        (r#"event.cmd not contains "curl""#, json!({}), false),
        (
            r#"event.cmd startswith "/usr""#,
            json!({"cmd": "/usr/bin"}),
            true,
        ),
        (
            r#"event.img endswith nocase "\\DLLHOST.EXE""#,
            json!({"img": "C:\\w\\dllhost.exe"}),
            true,
        ),
        (
            r#"event.cmd matches /^a.*z$/"#,
            json!({"cmd": "abcz"}),
            true,
        ),
        (
            r#"event.cmd matches any [/^q/, /z$/]"#,
            json!({"cmd": "abcz"}),
            true,
        ),
        (
            r#"event.path glob "/home/*/.ssh/*""#,
            json!({"path": "/home/u/x/.ssh/id"}),
            true,
        ),
        (
            r#"event.path under ["/etc/apt"]"#,
            json!({"path": "/etc/apt/sources.list"}),
            true,
        ),
        (
            r#"event.path under ["/etc/apt"]"#,
            json!({"path": "/etc/aptitude"}),
            false,
        ),
        (
            r#"event.cmd contains any base64offset("/bin/bash")"#,
            json!({"cmd": "echo L2Jpbi9iYXNo|d"}),
            true,
        ),
        (
            r#"event.cmd contains any windash("-enc")"#,
            json!({"cmd": "ps /enc abc"}),
            true,
        ),
        // Arrays: `contains` is membership, string operators test elements.
        (
            r#"event.tags contains "admin""#,
            json!({"tags": ["x", "admin"]}),
            true,
        ),
        (
            r#"event.tags contains "admin""#,
            json!({"tags": ["xadminx"]}),
            false,
        ),
        (
            r#"event.tags contains "admin""#,
            json!({"tags": "xadminx"}),
            true,
        ),
        (r#"event.tags[0] == "a""#, json!({"tags": ["a", "b"]}), true),
        (r#"event.tags[1] == "a""#, json!({"tags": ["a"]}), false),
        (
            "any p in event.procs where p.name in shells",
            json!({"procs": [{"name": "vim"}, {"name": "sh"}]}),
            true,
        ),
        (
            "any p in event.procs where p.name in shells",
            json!({"procs": [{"name": "vim"}]}),
            false,
        ),
        (
            "any p in event.procs where p.name in shells",
            json!({"procs": "sh"}),
            false,
        ),
        (
            "all f in event.files where f.size < 1MiB",
            json!({"files": [{"size": 10}, {"size": 20}]}),
            true,
        ),
        (
            "all f in event.files where f.size < 1MiB",
            json!({"files": [{"size": 10}, {"size": 2e6}]}),
            false,
        ),
        (
            "all f in event.files where f.size < 1MiB",
            json!({"files": []}),
            true,
        ),
        ("all f in event.files where f.size < 1MiB", json!({}), false),
        (
            "any p in event.procs where p.user == event.user",
            json!({"user": "u", "procs": [{"user": "v"}, {"user": "u"}]}),
            true,
        ),
        (
            "any p in event.procs where any a in p.args where a == \"-e\"",
            json!({"procs": [{"args": ["-x"]}, {"args": ["-e"]}]}),
            true,
        ),
        (
            r#"event.user in event.admins"#,
            json!({"user": "a", "admins": ["b", "a"]}),
            true,
        ),
        // Field patterns and ordering against constants.
        (
            "event.cmd contains event.user",
            json!({"cmd": "sudo -u bob", "user": "bob"}),
            true,
        ),
        (
            "event.cmd contains nocase event.user",
            json!({"cmd": "sudo -u BOB", "user": "bob"}),
            true,
        ),
        (
            "event.cmd startswith event.user",
            json!({"cmd": "bob", "user": "bobby"}),
            false,
        ),
        (
            "event.cmd endswith nocase event.user",
            json!({"cmd": "x.EXE", "user": ".exe"}),
            true,
        ),
        (
            "event.path under event.dir",
            json!({"path": "/etc/x", "dir": "/etc/"}),
            true,
        ),
        (
            "event.path under event.dir",
            json!({"path": "/etcx", "dir": "/etc"}),
            false,
        ),
        (
            "event.cmd contains event.user",
            json!({"cmd": "x", "user": 1}),
            false,
        ),
        (r#"event.name < "m""#, json!({"name": "alice"}), true),
        (r#"event.name >= "m""#, json!({"name": "alice"}), false),
        (r#"event.name >= "m""#, json!({"name": 5}), false),
        // CIDR.
        ("event.ip in cidr nets", json!({"ip": "10.1.2.3"}), true),
        ("event.ip in cidr nets", json!({"ip": "11.1.2.3"}), false),
        ("event.ip in cidr nets", json!({"ip": "fd00::1"}), true),
        ("event.ip not in cidr nets", json!({"ip": "8.8.8.8"}), true),
        (
            "event.ip not in cidr nets",
            json!({"ip": "nonsense"}),
            false,
        ),
        // Macros, exceptions, selections.
        ("is_login", json!({"type": "login"}), true),
        (
            "is_login except known",
            json!({"type": "login", "proc": "puppet", "path": "/etc/x"}),
            false,
        ),
        (
            "is_login except known",
            json!({"type": "login", "proc": "chef", "path": "/etc/x"}),
            true,
        ),
        (
            "let sel_a = event.a == 1\n  let sel_b = event.b == 2\n  on event where all of sel_*",
            json!({"a": 1, "b": 2}),
            true,
        ),
        (
            "let sel_a = event.a == 1\n  let sel_b = event.b == 2\n  on event where all of sel_*",
            json!({"a": 1}),
            false,
        ),
        (
            "let sel_a = event.a == 1\n  let sel_b = event.b == 2\n  on event where any of sel_*",
            json!({"a": 1}),
            true,
        ),
    ]
}

#[test]
fn golden_table_on_both_engines() {
    let mut failures = Vec::new();
    for engine in [Engine::Interp, Engine::Jit] {
        for (expr, event, want) in cases() {
            let rs = compile(expr, engine);
            let got = eval(&rs, &event);
            if got != want {
                failures.push(format!(
                    "{engine:?}: {expr} on {event} gave {got}, expected {want}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Metric conditions: window functions and aggregates are slots the metric engine fills;
/// the kernel around them (arithmetic, comparisons, percent scaling) is compiled here.
#[test]
fn metric_kernels_on_both_engines() {
    let src = r#"
package m
metric cpu_usage: percent
const cpu_limit = 80%
rule high_cpu {
  severity warning
  when avg(cpu_usage, 5m) > cpu_limit for 2m
  recover when avg(cpu_usage, 5m) < 70%
}
rule error_ratio {
  severity warning
  let errors = sum(rate(http_requests_total{code=~"5.."}, 5m)) by [service]
  let requests = sum(rate(http_requests_total, 5m)) by [service]
  when errors / requests > 5% and requests > 0
}
rule levels {
  warning when quantile(0.99, api_latency_ms, 5m) > 250ms
  critical when quantile(0.99, api_latency_ms, 5m) > 1s
}
"#;
    let checked = vigil_compiler::check_source("m.rules", src, None);
    assert_eq!(checked.errors(), 0, "{:#?}", checked.diagnostics);
    for engine in [Engine::Interp, Engine::Jit] {
        let rs = RuleSet::from_checked(&checked, engine).unwrap();
        let ir = rs.ir();
        // The series slot whose plan mentions every part (exactly one must).
        let slot = |parts: &[&str]| {
            let found: Vec<u32> = ir
                .series
                .iter()
                .filter(|(_, p)| {
                    let d = format!("{p:?}");
                    parts.iter().all(|x| d.contains(x))
                })
                .map(|(s, _)| *s)
                .collect();
            assert_eq!(found.len(), 1, "{parts:?} in {:#?}", ir.series);
            found[0]
        };
        let prog = |rule: &str, role: Role| {
            ir.programs
                .iter()
                .position(|p| p.rule == rule && p.role == role)
                .unwrap_or_else(|| panic!("no {role:?} program for {rule}"))
        };
        // One slot for the two uses of the same aggregate (shared across clauses).
        let cpu = slot(&["Avg", "\"cpu_usage\""]);
        let eval = |p: usize, vals: &[(u32, f64)]| {
            let mut f = rs.frame();
            for (s, v) in vals {
                f.set(*s, vigil_compiler::eval::SlotVal::number(*v));
            }
            rs.eval_bool(p, &f)
        };
        let when = prog("m.high_cpu", Role::When(None));
        let recover = prog("m.high_cpu", Role::Recover(None));
        // A percentage metric: 80% means 80.
        assert!(eval(when, &[(cpu, 85.0)]), "{engine:?}");
        assert!(!eval(when, &[(cpu, 0.85)]), "{engine:?}");
        assert!(!eval(when, &[]), "{engine:?}: missing data is not firing");
        assert!(eval(recover, &[(cpu, 65.0)]), "{engine:?}");
        // A ratio of plain numbers: 5% means 0.05; division by zero is +inf, guarded.
        let errors = slot(&["Sum", "Rate", "http_requests_total", "5.."]);
        let requests = slot(&["Sum", "Rate", "http_requests_total", "matchers: []"]);
        let ratio = prog("m.error_ratio", Role::When(None));
        assert!(
            eval(ratio, &[(errors, 6.0), (requests, 100.0)]),
            "{engine:?}"
        );
        assert!(
            !eval(ratio, &[(errors, 4.0), (requests, 100.0)]),
            "{engine:?}"
        );
        assert!(
            !eval(ratio, &[(errors, 1.0), (requests, 0.0)]),
            "{engine:?}"
        );
        // Levels: durations in seconds (`_ms` metrics are durations).
        // Read in seconds: the plan scales the millisecond series.
        let q = slot(&["Quantile", "api_latency_ms", "scale: 0.001"]);
        let warn = prog(
            "m.levels",
            Role::When(Some(vigil_compiler::syntax::ast::Severity::Warning)),
        );
        let crit = prog(
            "m.levels",
            Role::When(Some(vigil_compiler::syntax::ast::Severity::Critical)),
        );
        assert!(
            eval(warn, &[(q, 0.3)]) && !eval(crit, &[(q, 0.3)]),
            "{engine:?}"
        );
        assert!(eval(crit, &[(q, 1.5)]), "{engine:?}");
    }
}

/// A macro used by several rules is one node in the arena (common sub-expressions shared).
#[test]
fn shared_sub_expressions_are_one_node() {
    let src = r#"
package s
macro is_login = event.type == "login" and event.user != "root"
rule a {
  severity info
  on event where is_login and event.x == 1
}
rule b {
  severity info
  on event where is_login and event.y == 2
}
"#;
    let checked = vigil_compiler::check_source("s.rules", src, None);
    let rs = RuleSet::from_checked(&checked, Engine::Interp).unwrap();
    let ir = rs.ir();
    let login = ir.strings.resolve(0).map(str::to_string);
    let cmps = ir
        .nodes
        .iter()
        .filter(|n| {
            matches!(
                n,
                vigil_compiler::ir::Node::Cmp(
                    vigil_compiler::ir::CmpOp::Eq,
                    vigil_compiler::ir::CmpKind::Sym,
                    ..
                )
            )
        })
        .count();
    // `type == "login"` once; `x == 1` and `y == 2` are numeric comparisons.
    assert_eq!(cmps, 1, "{login:?} {:#?}", ir.nodes);
    let filters: Vec<_> = ir.filters().map(|(_, p)| p.root).collect();
    assert_eq!(filters.len(), 2);
    assert_ne!(filters[0], filters[1]);
}

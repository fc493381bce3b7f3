//! `vigil routes test` agrees with Alertmanager: generated route trees, written both as
//! `.rules` and as an Alertmanager configuration, and generated label sets give the same
//! receivers in the same order from `vigil routes test` and from `amtool config routes test`
//! (Debian's `prometheus-alertmanager` 0.25, which `.ci/run` installs).

use std::fmt::Write;
use std::process::Command;

/// A small deterministic generator (the cases are the same in every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// One generated route: matchers `(label, op, value)` ANDed, an own receiver or none
/// (inherited), `continue`, children.
struct Node {
    matchers: Vec<(&'static str, &'static str, &'static str)>,
    receiver: Option<usize>,
    cont: bool,
    children: Vec<Node>,
}

const LABELS: [&str; 3] = ["a", "b", "c"];
const VALUES: [&str; 3] = ["x", "y", "z"];
const OPS: [&str; 4] = ["=", "!=", "=~", "!~"];
const PATTERNS: [&str; 3] = ["x|y", "z", "(y|z)"];

fn node(rng: &mut Rng, depth: u32) -> Node {
    let matchers = (0..1 + rng.next(2))
        .map(|_| {
            let op = OPS[rng.next(4) as usize];
            let value = if op.contains('~') {
                PATTERNS[rng.next(3) as usize]
            } else {
                VALUES[rng.next(3) as usize]
            };
            (LABELS[rng.next(3) as usize], op, value)
        })
        .collect();
    let children = if depth < 2 && rng.next(3) == 0 {
        (0..1 + rng.next(3)).map(|_| node(rng, depth + 1)).collect()
    } else {
        Vec::new()
    };
    let receiver = (children.is_empty() || rng.next(2) == 0).then(|| 1 + rng.next(5) as usize);
    Node {
        matchers,
        receiver,
        cont: rng.next(3) == 0,
        children,
    }
}

fn yaml(n: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let ms: Vec<String> = n
        .matchers
        .iter()
        .map(|(l, op, v)| format!("'{l}{op}\"{v}\"'"))
        .collect();
    let _ = writeln!(out, "{pad}- matchers: [{}]", ms.join(", "));
    if let Some(r) = n.receiver {
        let _ = writeln!(out, "{pad}  receiver: r{r}");
    }
    if n.cont {
        let _ = writeln!(out, "{pad}  continue: true");
    }
    if !n.children.is_empty() {
        let _ = writeln!(out, "{pad}  routes:");
        for c in &n.children {
            yaml(c, indent + 4, out);
        }
    }
}

fn rules(n: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let cond: Vec<String> = n
        .matchers
        .iter()
        .map(|(l, op, v)| {
            let op = if *op == "=" { "==" } else { op };
            format!("{l} {op} \"{v}\"")
        })
        .collect();
    let cont = if n.cont { " continue" } else { "" };
    if n.children.is_empty() && n.receiver.is_some() {
        let r = n.receiver.unwrap_or_default();
        let _ = writeln!(out, "{pad}match {} -> r{r}{cont}", cond.join(" and "));
        return;
    }
    let _ = writeln!(out, "{pad}match {} {{", cond.join(" and "));
    for c in &n.children {
        rules(c, indent + 2, out);
    }
    if let Some(r) = n.receiver {
        let _ = writeln!(out, "{pad}  default -> r{r}");
    }
    let _ = writeln!(out, "{pad}}}{cont}");
}

fn amtool() -> Option<&'static str> {
    if Command::new("amtool").arg("--version").output().is_ok() {
        return Some("amtool");
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("amtool is missing; .ci/run installs Debian's `prometheus-alertmanager`");
    }
    eprintln!("note: amtool is not installed; skipping");
    None
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn receivers_agree_with_amtool() {
    let Some(amtool) = amtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed);
    let mut compared = 0;
    let mut distinct = std::collections::HashSet::new();
    for tree in 0..25 {
        let children: Vec<Node> = (0..1 + rng.next(4)).map(|_| node(&mut rng, 0)).collect();
        let mut am = String::from("route:\n  receiver: r0\n  routes:\n");
        let mut vr = format!("package gen{tree}\n\n");
        for r in 0..6 {
            let _ = writeln!(vr, "notifier r{r} = console()");
        }
        vr.push_str("\nroute {\n");
        for c in &children {
            yaml(c, 4, &mut am);
            rules(c, 2, &mut vr);
        }
        vr.push_str("  default -> r0\n}\n");
        am.push_str("receivers:\n");
        for r in 0..6 {
            let _ = writeln!(am, "  - name: r{r}");
        }
        let (am_path, vr_path) = (
            dir.path().join(format!("am{tree}.yml")),
            dir.path().join(format!("t{tree}.rules")),
        );
        std::fs::write(&am_path, &am).unwrap();
        std::fs::write(&vr_path, &vr).unwrap();
        for _ in 0..8 {
            let mut labels = Vec::new();
            for l in LABELS {
                let v = VALUES[rng.next(3) as usize];
                if rng.next(4) != 0 {
                    labels.push(format!("{l}={v}"));
                }
            }
            let want = run(Command::new(amtool)
                .args(["config", "routes", "test"])
                .arg(format!("--config.file={}", am_path.display()))
                .args(&labels));
            let got = run(Command::new(env!("CARGO_BIN_EXE_vigil"))
                .args(["routes", "test", "--rules"])
                .arg(&vr_path)
                .args(&labels));
            assert_eq!(got, want, "labels {labels:?}\n{vr}\n{am}");
            distinct.insert(want);
            compared += 1;
        }
    }
    // The generated cases reach many different receiver lists, repeats included.
    assert!(compared == 200 && distinct.len() >= 10, "{distinct:?}");
    assert!(distinct.iter().any(|d| d.contains(',')), "{distinct:?}");
}

/// `continue` after a nested route lets later siblings match too (and the checker does not
/// call them shadowed); a route after `default` is never reached, as V1011 says.
#[test]
fn continue_on_nested_routes_and_routes_after_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.rules");
    std::fs::write(
        &path,
        "package r\n\nnotifier a = console()\nnotifier b = console()\n\nroute {\n  \
         match team == \"x\" {\n    match sev == \"c\" -> a\n  } continue\n  \
         match team == \"x\" and sev == \"c\" -> b\n  default -> b\n  match team == \"y\" -> a\n}\n",
    )
    .unwrap();
    let vigil = env!("CARGO_BIN_EXE_vigil");
    let test = |labels: &[&str]| {
        run(Command::new(vigil)
            .args(["routes", "test", "--rules"])
            .arg(&path)
            .args(labels))
    };
    assert_eq!(test(&["team=x", "sev=c"]), "a,b");
    assert_eq!(
        test(&["team=x"]),
        "b",
        "the nested route itself, inheriting `default -> b`"
    );
    assert_eq!(test(&["team=y"]), "b");
    let out = Command::new(vigil)
        .args(["check", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("V1011").count(), 1, "{text}");
}

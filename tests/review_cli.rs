//! Findings of the review of the CLI driven with hostile and careless input, each reproduced
//! end to end: never a panic, hang or silent loss; every refusal says where and why.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch folder of this test's own.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("review_cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch folder");
    d
}

/// Runs vigil with `stdin` as its input; (exit code, stdout, stderr).
fn vigil(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(root())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil runs");
    let mut input = child.stdin.take().expect("stdin");
    let _ = input.write_all(stdin);
    drop(input);
    let out = child.wait_with_output().expect("vigil ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file of its own for one test: its path, and the path as an argument.
fn scratch_file(test: &str, name: &str, text: &str) -> (PathBuf, String) {
    let file = scratch(test).join(name);
    std::fs::write(&file, text).expect("scratch file");
    let arg = file.display().to_string();
    (file, arg)
}

const LOGIN_RULE: &str = "rule any_login {\n  severity warning\n  summary \"login\"\n  on event where event.type == \"login\"\n}\n";

/// `vigil replay --rules RULES --input - EXTRA...` on `input`.
fn replay(rules: &str, input: &[u8], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["replay", "--rules", rules, "--input", "-"];
    args.extend_from_slice(extra);
    vigil(&args, input)
}

fn rules_file(dir: &std::path::Path) -> String {
    let p = dir.join("login.rules");
    std::fs::write(&p, LOGIN_RULE).expect("write rules");
    p.display().to_string()
}

#[test]
fn eval_unwraps_an_event_only_when_ts_says_so() {
    let dir = scratch("ecs");
    let rules = rules_file(&dir);
    // A bare ECS document: its top-level `event` object is a field, not a wrapper.
    let input = b"{\"event\":{\"type\":\"login\"},\"user\":\"a\"}\n{\"ts\":1,\"event\":{\"type\":\"login\"}}\n{\"type\":\"login\"}\n";
    let (code, out, err) = vigil(&["eval", "--rules", &rules, "--input", "-"], input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "{\"line\":2,\"rules\":[\"login.any_login\"]}\n{\"line\":3,\"rules\":[\"login.any_login\"]}\n"
    );
}

/// A Unicode space is not JSON white space: the direct reader refuses what serde refuses,
/// around the line and inside the wrapper alike (it once trimmed them away and read the line).
#[test]
fn eval_reads_only_json_white_space_around_an_event() {
    let dir = scratch("nbsp");
    let rules = rules_file(&dir);
    let input = "{\"ts\":1,\"event\":{\"type\":\"login\"}}\u{a0}\n\
                 {\"ts\":1,\"event\":{\"type\":\"login\"} \u{a0}}\n\
                 {\"type\":\"login\"}\u{2028}\n\
                 \t{\"ts\":1,\"event\":{\"type\":\"login\"} }\r\n";
    let (code, out, err) = vigil(
        &["eval", "--rules", &rules, "--input", "-"],
        input.as_bytes(),
    );
    assert_eq!(code, 1, "{err}");
    for n in 1..=3 {
        assert!(err.contains(&format!("-:{n}: skipped:")), "line {n}: {err}");
    }
    assert_eq!(out, "{\"line\":4,\"rules\":[\"login.any_login\"]}\n");
    // `replay` likewise, inside the wrapper and after it.
    let input = "{\"ts\":1,\"event\":{\"type\":\"login\"} \u{a0}}\n\
                 {\"ts\":2,\"event\":{\"type\":\"login\"}}\u{a0}\n\
                 \t{\"ts\":3,\"event\":{\"type\":\"login\"}} \r\n";
    let (code, out, err) = replay(&rules, input.as_bytes(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("-:1: invalid JSON"), "{err}");
    assert!(err.contains("-:2: invalid JSON"), "{err}");
    assert!(
        !out.contains("\"ts\":1,") && !out.contains("\"ts\":2,"),
        "{out}"
    );
    assert!(out.contains("\"ts\":3,"), "{out}");
}

/// `vigil eval` reads lines in place from its read buffer, a block at a time: lines across the
/// buffer's end, a line longer than the buffer, refused lines inside a block (too long, not
/// UTF-8), empty and CRLF lines, and a last line without a newline all read as alone.
#[test]
fn eval_reads_every_line_whatever_the_read_buffer_holds() {
    let dir = scratch("blocks");
    let rules = rules_file(&dir);
    let (mut input, mut want, mut bad) = (Vec::new(), Vec::new(), Vec::new());
    let mut seed = 7u64;
    for n in 1..=700usize {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pad = match n {
            100 => 70_000,
            200 => 100_000,
            _ => (seed >> 33) as usize % 1500,
        };
        let login = n % 3 == 0 && n % 7 != 0;
        let kind = if login { "login" } else { "other" };
        match n {
            150 => input.extend_from_slice(b"{\"type\":\"login\",\"x\":\"\xff\"}\n"),
            151 => input.extend_from_slice(b"\n"),
            _ => {
                // No type at all: what the line before set must not show through.
                let kind = if n % 7 == 0 {
                    String::new()
                } else {
                    format!("\"type\":\"{kind}\",")
                };
                let event = format!("{{{kind}\"pad\":\"{}\"}}", "p".repeat(pad));
                let line = match n % 2 {
                    0 => format!("{{\"ts\":1,\"event\":{event}}}"),
                    _ => event,
                };
                input.extend_from_slice(line.as_bytes());
                input.extend_from_slice(if n % 5 == 0 { b"\r\n" } else { b"\n" });
            }
        }
        match n {
            150 | 200 => bad.push(n),
            151 => {}
            _ if login => want.push(n),
            _ => {}
        }
    }
    input.extend_from_slice(b"{\"type\":\"login\"}");
    want.push(701);
    let expected: String = want
        .iter()
        .map(|n| format!("{{\"line\":{n},\"rules\":[\"login.any_login\"]}}\n"))
        .collect();
    let file = dir.join("events.jsonl");
    std::fs::write(&file, &input).expect("write input");
    let file = file.display().to_string();
    for source in ["-", file.as_str()] {
        let args = [
            "eval",
            "--rules",
            &rules,
            "--input",
            source,
            "--max-line-bytes",
            "80000",
        ];
        let (code, out, err) = vigil(&args, if source == "-" { &input } else { b"" });
        assert_eq!(code, 1, "{err}");
        assert_eq!(out, expected, "{source}");
        let refused: Vec<usize> = err
            .lines()
            .filter_map(|l| l.split(':').nth(2)?.parse().ok())
            .collect();
        assert_eq!(refused, bad, "{source}: {err}");
        assert!(err.contains("line is not valid UTF-8"), "{err}");
        assert!(
            err.contains("line of 100043 bytes is longer than the limit"),
            "{err}"
        );
    }
}

/// A read error ends the run (exit code 2) and names the line it was reading.
#[test]
fn eval_reports_a_read_error_at_its_line() {
    let dir = scratch("read_error");
    let rules = rules_file(&dir);
    let folder = dir.display().to_string();
    let (code, out, err) = vigil(&["eval", "--rules", &rules, "--input", &folder], b"");
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains(&format!("error: {folder}: line 1: ")), "{err}");
}

#[test]
fn eval_skips_an_invalid_utf8_line_and_reads_on() {
    let dir = scratch("utf8");
    let rules = rules_file(&dir);
    let input = b"{\"type\":\"login\"}\n\xff\xfe\n{\"type\":\"login\"}\n";
    let (code, out, err) = vigil(&["eval", "--rules", &rules, "--input", "-"], input);
    assert_eq!(code, 1, "a bad line makes the exit code 1");
    assert!(
        err.contains("-:2: skipped: line is not valid UTF-8"),
        "{err}"
    );
    assert!(
        out.contains("\"line\":3"),
        "the line after it is read: {out}"
    );
}

#[test]
fn lines_over_the_limit_are_refused_not_read_whole() {
    let dir = scratch("long");
    let rules = rules_file(&dir);
    let long = format!(
        "{{\"type\":\"login\",\"pad\":\"{}\"}}\n",
        "x".repeat(10_000)
    );
    let input = format!("{long}{{\"type\":\"login\"}}\n");
    let (code, out, err) = vigil(
        &[
            "eval",
            "--rules",
            &rules,
            "--input",
            "-",
            "--max-line-bytes",
            "1000",
        ],
        input.as_bytes(),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("-:1: skipped: line of 10025 bytes is longer than the limit of 1000 bytes"),
        "{err}"
    );
    assert_eq!(out, "{\"line\":2,\"rules\":[\"login.any_login\"]}\n");
    let input = format!("{{\"ts\":1,\"event\":{long}}}\n");
    let (code, _, err) = vigil(
        &[
            "replay",
            "--rules",
            &rules,
            "--input",
            "-",
            "--max-line-bytes",
            "1000",
        ],
        input.as_bytes(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("-:1: line of"), "{err}");
}

#[test]
fn replay_reports_event_lines_it_cannot_read() {
    let dir = scratch("bad_events");
    let rules = rules_file(&dir);
    let input = b"{\"ts\":1000,\"event\":{\"type\":\"login\",\"u\":\"a\x01b\"}}\n{\"ts\":2000,\"event\":{\"type\":\"login\",\"n\":1e400}}\n{\"ts\":3000,\"event\":{\"type\":\"login\"}}\n{\"ts\":4000,\"event\":{\"type\":\"login\"\n";
    let (code, out, err) = replay(&rules, input, &[]);
    assert_eq!(code, 1, "bad lines make the exit code 1: {err}");
    assert_eq!(out.lines().count(), 1, "only the good event fires: {out}");
    assert!(
        !out.contains("null}"),
        "no alert carries a lost event: {out}"
    );
    for line in [
        "-:1: invalid JSON: control character",
        "-:2: invalid JSON: number out of range",
        "-:4: invalid JSON: EOF",
    ] {
        assert!(err.contains(line), "{line} in {err}");
    }
}

#[test]
fn replay_refuses_a_directory_and_stdin_twice() {
    let dir = scratch("dir_input");
    let rules = rules_file(&dir);
    let d = dir.display().to_string();
    let (code, _, err) = vigil(&["replay", "--rules", &rules, "--input", &d], b"");
    assert_eq!(code, 2);
    assert!(err.contains("it is a directory"), "{err}");
    let (code, _, err) = replay(&rules, b"", &["-"]);
    assert_eq!(code, 2);
    assert!(err.contains("named more than once"), "{err}");
}

#[test]
fn check_walks_a_folder_with_loops_fifos_devices_and_broken_links() {
    let dir = scratch("walk");
    std::fs::write(dir.join("a.rules"), LOGIN_RULE).unwrap();
    let link = |target: &str, name: &str| {
        std::os::unix::fs::symlink(target, dir.join(name)).expect("symlink");
    };
    link(".", "self");
    link("/dev/zero", "z.rules");
    link("/nonexistent/x.rules", "dangling.rules");
    let fifo = Command::new("mkfifo").arg(dir.join("x.rules")).status();
    assert!(fifo.is_ok_and(|s| s.success()), "mkfifo");
    let d = dir.display().to_string();
    let (code, _, err) = vigil(&["check", &d], b"");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("checked 1 file: no problems"), "{err}");
    let (code, _, err) = vigil(&["check", "/dev/zero"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn output_into_a_full_disk_is_an_error_and_a_closed_pipe_is_quiet() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    let Ok(full) = full else {
        assert!(std::env::var_os("CI").is_none(), "/dev/full is missing");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(root())
        .args(["explain", "--list"])
        .stdout(full)
        .output()
        .expect("vigil runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write the output"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // A reader that leaves after the first line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(root())
        .args(["explain", "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("vigil ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn the_language_server_names_a_bad_frame_and_exits_when_stdin_closes() {
    for (body, why) in [
        ("Content-Length: abc\r\n\r\n{}", "is not a length"),
        (
            "Content-Length: 999999999999\r\n\r\n{}",
            "larger than the limit",
        ),
        (
            "Content-Length: 7\r\n\r\n{\"a\":1}",
            "not a JSON-RPC message",
        ),
    ] {
        let (code, _, err) = vigil(&["lsp"], body.as_bytes());
        assert_ne!(code, 0, "{body:?}");
        assert!(err.contains(why), "{body:?}: {err}");
    }
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
    let inited = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
    let frame = |b: &str| format!("Content-Length: {}\r\n\r\n{b}", b.len());
    let (code, out, err) = vigil(
        &["lsp"],
        format!("{}{}", frame(init), frame(inited)).as_bytes(),
    );
    assert_eq!(
        code, 0,
        "stdin closed after initialization: a clean end\n{err}"
    );
    assert!(out.contains("\"capabilities\""), "{out}");
}

#[test]
fn files_with_a_bom_or_cr_line_endings_or_invalid_utf8_say_so() {
    let dir = scratch("encodings");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let bom = write("bom.rules", format!("\u{feff}{LOGIN_RULE}").as_bytes());
    let (code, _, err) = vigil(&["check", &bom], b"");
    assert_eq!(code, 0, "{err}");
    let cr = write("cr.rules", LOGIN_RULE.replace('\n', "\r").as_bytes());
    let (code, _, err) = vigil(&["check", &cr], b"");
    assert_eq!(code, 1);
    assert!(err.contains("lone carriage return"), "{err}");
    let bad = write("bad.rules", b"rule \xff {}\n");
    let (code, _, err) = vigil(&["check", &bad], b"");
    assert_eq!(code, 2);
    assert!(err.contains("not valid UTF-8 (at byte 5)"), "{err}");
}

#[test]
fn equality_and_membership_never_hold_for_an_array_with_or_without_nocase() {
    let dir = scratch("arrays");
    let rules = dir.join("arr.rules");
    std::fs::write(
        &rules,
        "rule in_cs {\n  severity warning\n  on event where event.type == \"x\" and event.tags in [\"a\"]\n}\nrule in_ci {\n  severity warning\n  on event where event.type == \"x\" and event.tags in nocase [\"a\"]\n}\nrule has {\n  severity warning\n  on event where event.type == \"x\" and event.tags contains \"a\"\n}\n",
    )
    .unwrap();
    let nocase = dir.join("nocase.rules");
    std::fs::write(
        &nocase,
        "strings nocase\nrule eq_ci {\n  severity warning\n  on event where event.type == \"x\" and event.tags == \"a\"\n}\n",
    )
    .unwrap();
    let input = b"{\"type\":\"x\",\"tags\":[\"a\",\"b\"]}\n{\"type\":\"x\",\"tags\":[\"A\"]}\n{\"type\":\"x\",\"tags\":\"A\"}\n";
    for engine in ["jit", "interp"] {
        let r = rules.display().to_string();
        let n = nocase.display().to_string();
        let (code, out, err) = vigil(
            &[
                "eval", "--rules", &r, &n, "--input", "-", "--engine", engine,
            ],
            input,
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            "{\"line\":1,\"rules\":[\"arr.has\"]}\n{\"line\":3,\"rules\":[\"arr.in_ci\",\"nocase.eq_ci\"]}\n",
            "{engine}"
        );
    }
}

#[test]
fn an_installed_vigil_finds_its_std_packs_anywhere() {
    let dir = scratch("installed");
    let file = dir.join("mine.rules");
    std::fs::write(
        &file,
        "import \"std/system\"\nrule mine {\n  severity warning\n  when system.high_cpu\n  summary \"down\"\n}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(&dir)
        .args(["check", "mine.rules"])
        .env("VIGIL_RULES", "builtin")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("NO_COLOR", "1")
        .output()
        .expect("vigil runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        dir.join("cache/vigil").is_dir(),
        "the packs were written to the cache"
    );
}

#[test]
fn vigil_test_of_one_file_sees_its_package_and_reports_the_state_at_the_time_asked() {
    let (code, out, err) = vigil(&["test", "rules/security/auth.test.rules"], b"");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with(" passed, 0 failed\n"), "{out}");
    let (_, f) = scratch_file(
        "state_at",
        "ab.rules",
        "rule absent_plain {\n  severity warning\n  when absent(probe_up)\n}\ntest \"wrong time\" {\n  series probe_up every 1m = \"1 1 1 1 1 stale\"\n  advance to 10m\n  expect absent_plain firing at 3m\n}\n",
    );
    let (code, out, _) = vigil(&["test", &f], b"");
    assert_eq!(code, 1);
    assert!(
        out.contains("expected absent_plain firing at 3m; at 3m absent_plain had no alerts"),
        "{out}"
    );
}

#[test]
fn playbook_expectations_run_and_names_cannot_forge_lines() {
    let (_, f) = scratch_file(
        "not_run",
        "nr.rules",
        "notifier ops = console()\nplaybook p {\n  step notify ops\n}\nrule x {\n  severity warning\n  when up == 0\n  summary \"down\"\n  playbook p\n}\ntest \"a\\u{1b}[2K\\nok   forged\" {\n  series up every 1m = \"0 0\"\n  expect playbook p step 1 done\n}\n",
    );
    let (code, out) = {
        let (c, o, _) = vigil(&["test", &f], b"");
        (c, o)
    };
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok   a\\u{1b}[2K\\nok   forged ("), "{out}");
    assert!(!out.contains('\u{1b}'), "{out}");
    assert!(out.ends_with("1 passed, 0 failed\n"), "{out}");
}

#[test]
fn replay_prints_a_human_timeline_with_rendered_summaries() {
    let (code, out, err) = vigil(
        &[
            "replay",
            "--rules",
            "examples/quickstart.rules",
            "--input",
            "examples/metrics.jsonl",
            "examples/logins.jsonl",
            "--format",
            "human",
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let first: Vec<&str> = out.lines().take(2).collect();
    assert_eq!(
        first,
        [
            "2026-11-23T10:24:00Z  pending  warning  quickstart.high_cpu {env=\"prod\", host=\"trade-2\"} value 82.86  \"CPU at 82.9% on trade-2\"",
            "2026-11-23T10:25:20Z  firing   high     quickstart.failed_logins {src_ip=\"203.0.113.7\"} value 5  \"5 failed logins from 203.0.113.7\"",
        ]
    );
}

#[test]
fn replay_from_stdin_shows_each_change_once_the_data_has_passed_it() {
    use std::io::{BufRead, BufReader};
    let dir = scratch("stream");
    let rules = rules_file(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "replay", "--rules", &rules, "--input", "-", "--format", "json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("vigil runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(b"{\"ts\":1000,\"event\":{\"type\":\"login\"}}\n{\"ts\":5000,\"event\":{\"type\":\"login\"}}\n")
        .unwrap();
    input.flush().unwrap();
    // stdin stays open: the first alert must arrive while vigil still waits for input.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(60));
    drop(input);
    let _ = child.wait();
    let first = first.expect("the first change is printed before the input ends");
    assert!(
        first.starts_with("{\"ts\":1000,\"rule\":\"login.any_login\",\"state\":\"firing\""),
        "{first}"
    );
}

#[test]
fn fmt_of_a_crlf_file_leaves_no_stray_carriage_return_after_comments() {
    let (file, f) = scratch_file(
        "crlf",
        "crlf.rules",
        "rule r {\r\n  # a comment\r\n  severity warning\r\n  when up == 0 # trailing\r\n}\r\n",
    );
    let (code, _, err) = vigil(&["fmt", &f], b"");
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains('\r'), "{text:?}");
    assert!(text.contains("  # a comment\n"), "{text:?}");
}

#[test]
fn a_rules_file_cannot_drive_the_terminal_through_diagnostics() {
    let (_, f) = scratch_file(
        "esc_check",
        "esc.rules",
        "rule r {\n  severity warning\n  on event where event.type == \"a\u{1b}[2Kb\" and event.x == nope\n}\n",
    );
    let (code, _, err) = vigil(&["check", &f], b"");
    assert_eq!(code, 1);
    assert!(!err.contains('\u{1b}'), "{err}");
    assert!(err.contains("\"a?[2Kb\""), "{err}");
}

#[test]
fn or_reports_the_side_that_holds_with_its_own_labels_and_value() {
    let (_, rules) = scratch_file(
        "or_labels",
        "or.rules",
        "rule either {\n  severity warning\n  summary \"s\"\n  when (m > 50) or (n > 50) on [instance]\n}\n",
    );
    let mut input = String::new();
    for t in 0..3 {
        let ts = 1_795_428_000_000i64 + t * 60_000;
        input += &format!(
            "{{\"ts\":{ts},\"metric\":\"m\",\"labels\":{{\"instance\":\"i1\",\"job\":\"api\"}},\"value\":10}}\n"
        );
        input += &format!(
            "{{\"ts\":{ts},\"metric\":\"n\",\"labels\":{{\"instance\":\"i1\"}},\"value\":100}}\n"
        );
    }
    let (code, out, err) = replay(&rules, input.as_bytes(), &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let first = out.lines().next().unwrap_or_default();
    assert!(first.contains("\"labels\":{\"instance\":\"i1\"}"), "{out}");
    assert!(first.contains("\"value\":100"), "{out}");
    assert!(
        !out.contains("\"job\""),
        "the alert never takes m's labels while m is below: {out}"
    );
}

#[test]
fn trace_shows_each_part_of_a_condition_with_its_values() {
    let (_, rules) = scratch_file(
        "trace",
        "trace.rules",
        "rule busy {\n  severity warning\n  summary \"s\"\n  when avg(m, 5m) > 50 and last(n) <= 3\n}\n",
    );
    let ts = 1_795_428_000_000i64;
    let input = format!(
        "{{\"ts\":{ts},\"metric\":\"m\",\"labels\":{{\"host\":\"a\"}},\"value\":60}}\n{{\"ts\":{ts},\"metric\":\"n\",\"labels\":{{\"host\":\"a\"}},\"value\":7}}\n"
    );
    let (code, out, err) = replay(
        &rules,
        input.as_bytes(),
        &["--format", "human", "--trace", "busy"],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "2026-11-23T10:00:00Z  trace    trace.busy (warning) {host=\"a\"} when: does not hold",
            "    no   all of",
            "      yes  avg(m, 5m) > 50  (60 > 50)",
            "      no   n <= 3  (7 <= 3)",
        ],
        "{out}"
    );
    // JSON lines carry the same parts; an unknown rule is an error that names the known ones.
    let (_, json, _) = vigil(
        &[
            "replay",
            "--rules",
            &rules,
            "--input",
            "-",
            "--format",
            "json",
            "--trace",
            "trace.busy",
        ],
        input.as_bytes(),
    );
    assert!(json.starts_with("{\"condition\":\"when\""), "{json}");
    assert!(json.contains("\"text\":\"n <= 3  (7 <= 3)\""), "{json}");
    let (code, _, err) = replay(&rules, input.as_bytes(), &["--trace", "bsy"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no metric rule `bsy` to trace (rules evaluated over series: trace.busy)"),
        "{err}"
    );
}

#[test]
fn verbose_tests_show_why_each_evaluation_held_or_not() {
    let (_, file) = scratch_file(
        "test_v",
        "t.rules",
        "rule hot {\n  severity warning\n  summary \"s\"\n  when last(temp) > 30\n}\n\ntest \"hot\" {\n  series temp{room=\"a\"} every 1m = \"20 40\"\n  expect hot firing at 1m\n}\n",
    );
    let (code, out, err) = vigil(&["test", &file, "-v", "--engine", "interp"], b"");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("evaluations (why each rule held or not):"),
        "{out}"
    );
    assert!(out.contains("no   temp > 30  (20 > 30)"), "{out}");
    assert!(out.contains("yes  temp > 30  (40 > 30)"), "{out}");
}

#[test]
fn a_lone_record_far_ahead_is_refused_and_a_real_jump_is_followed() {
    let (_, rules) = scratch_file("jump", "login.rules", LOGIN_RULE);
    let lone = "{\"ts\":\"2026-11-23T10:00:00Z\",\"event\":{\"type\":\"login\"}}\n{\"ts\":\"9999-12-31T23:59:59Z\",\"event\":{\"type\":\"login\"}}\n{\"ts\":\"2026-11-23T10:00:05Z\",\"event\":{\"type\":\"login\"}}\n";
    let (code, out, err) = replay(&rules, lone.as_bytes(), &["--format", "json"]);
    assert_eq!(code, 1, "a refused line is an error: {err}");
    assert_eq!(out.lines().count(), 2, "both on-time events fire: {out}");
    assert!(
        out.lines().all(|l| l.starts_with("{\"ts\":179542800")),
        "{out}"
    );
    assert!(
        err.contains("-:2: its time is 2912116 days ahead of the data before it"),
        "{err}"
    );
    // A month's gap followed by more data is real: every event is fed.
    let jump = "{\"ts\":\"2026-11-23T10:00:00Z\",\"event\":{\"type\":\"login\"}}\n{\"ts\":\"2026-12-23T10:00:00Z\",\"event\":{\"type\":\"login\"}}\n{\"ts\":\"2026-12-23T10:00:05Z\",\"event\":{\"type\":\"login\"}}\n";
    let (code, out, err) = replay(&rules, jump.as_bytes(), &["--format", "json"]);
    assert_eq!((code, out.lines().count()), (0, 3), "{out}{err}");
    // So is the lone record when jumps are allowed.
    let (code, out, _) = vigil(
        &[
            "replay",
            "--rules",
            &rules,
            "--input",
            "-",
            "--format",
            "json",
            "--max-jump",
            "none",
        ],
        lone.as_bytes(),
    );
    assert_eq!((code, out.lines().count()), (0, 2), "{out}");
}

#[test]
fn a_huge_lateness_costs_what_the_data_costs() {
    let (_, rules) = scratch_file(
        "lateness",
        "cpu.rules",
        "rule hot {\n  severity warning\n  summary \"s\"\n  when cpu > 80\n}\n",
    );
    let input = "{\"ts\":1795428000000,\"metric\":\"cpu\",\"labels\":{\"host\":\"a\"},\"value\":90}\n{\"ts\":1795428060000,\"metric\":\"cpu\",\"labels\":{\"host\":\"a\"},\"value\":90}\n";
    let (code, _, err) = vigil(
        &[
            "replay",
            "--rules",
            &rules,
            "--input",
            "-",
            "--lateness",
            "1000w",
            "--stats",
            "--quiet",
        ],
        input.as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    let evaluations: u64 = err
        .split(" evaluations")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("--stats reports evaluations");
    // A minute of data at 15s: 5 evaluations (then nothing can change), not 1000 weeks' 40M.
    assert!(evaluations <= 25, "{evaluations} evaluations:\n{err}");
}

#[test]
fn a_key_given_twice_is_refused_by_eval_and_replay_alike() {
    let (_, rules) = scratch_file("dup", "login.rules", LOGIN_RULE);
    let input = b"{\"ts\":1000,\"event\":{\"type\":\"login\",\"type\":\"logout\"}}\n{\"ts\":3000,\"event\":{\"type\":\"login\"}}\n";
    let (code, out, err) = replay(&rules, input, &["--format", "json"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        err.contains("-:1: key `type` given twice in one object"),
        "{err}"
    );
    let (code, out, err) = vigil(&["eval", "--rules", &rules, "--input", "-"], input);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        err.contains("key `type` given twice in one object"),
        "{err}"
    );
}

#[test]
fn a_window_longer_than_the_per_series_cap_is_reported_not_silent() {
    let mut input = String::new();
    for i in 0..66_000i64 {
        let ts = 1_795_428_000_000 + i * 15_000;
        input +=
            &format!("{{\"ts\":{ts},\"metric\":\"m\",\"labels\":{{\"h\":\"a\"}},\"value\":1}}\n");
    }
    // Replays the input with one rule; its stderr.
    let run = |dir: &str, when: &str| {
        let src = format!("rule long {{\n  severity warning\n  summary \"s\"\n  when {when}\n}}\n");
        let (_, rules) = scratch_file(dir, "long.rules", &src);
        let (code, _, err) = replay(&rules, input.as_bytes(), &["--quiet"]);
        assert_eq!(code, 0, "{err}");
        err
    };
    let err = run("long_window", "quantile(0.5, m, 30d) > 5");
    assert!(
        err.contains("warning: 464 samples within a window's reach were dropped: a series keeps at most 65536 samples"),
        "{err}"
    );
    // An average is served from buckets: nothing is cut, nothing to warn about.
    let err = run("long_window_avg", "avg(m, 30d) > 5");
    assert!(!err.contains("dropped"), "{err}");
}

//! `vigil lsp` over stdio, spoken to as an editor would: initialize, open a file with an
//! error and receive the diagnostic at its range with its code and help, then hover,
//! definition (also across an import), references, completion, outline, formatting and the
//! "did you mean" quick fix, with exact answers.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: i64,
}

impl Client {
    fn start() -> Client {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["lsp", "--rules-root"])
            .arg(root.join("rules"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("vigil lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Client {
            child,
            stdin,
            stdout,
            next: 1,
        }
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("writes");
        self.stdin.flush().expect("flushes");
    }

    fn receive(&mut self) -> Value {
        let mut len = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).expect("reads");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                len = n.parse().expect("a length");
            }
        }
        let mut body = vec![0; len];
        self.stdout.read_exact(&mut body).expect("a body");
        serde_json::from_slice(&body).expect("JSON")
    }

    /// Sends a request and returns its result (skipping notifications in between).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let msg = self.receive();
            if msg.get("id") == Some(&json!(id)) {
                assert!(msg.get("error").is_none(), "{msg}");
                return msg["result"].clone();
            }
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Opens a document and returns the diagnostics published for it.
    fn open(&mut self, uri: &str, text: &str) -> Value {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "vigil", "version": 1, "text": text}}),
        );
        loop {
            let msg = self.receive();
            if msg["method"] == "textDocument/publishDiagnostics" {
                return msg["params"]["diagnostics"].clone();
            }
        }
    }
}

fn file() -> (String, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lsp/main.rules");
    let text = std::fs::read_to_string(&path).expect("fixture");
    (format!("file://{}", path.display()), text)
}

fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

#[test]
fn an_editor_session() {
    let (uri, text) = file();
    let mut c = Client::start();
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lsp");
    let init = c.request(
        "initialize",
        json!({"capabilities": {}, "rootUri": format!("file://{}", folder.display())}),
    );
    assert_eq!(init["capabilities"]["hoverProvider"], json!(true));
    c.notify("initialized", json!({}));
    // The typo's diagnostic, at its place, with its code and help.
    let diags = c.open(&uri, &text);
    let typo = diags
        .as_array()
        .expect("a list")
        .iter()
        .find(|d| d["code"] == "V0101")
        .expect("V0101 reported")
        .clone();
    assert_eq!(
        typo["range"],
        json!({"start": {"line": 9, "character": 28}, "end": {"line": 9, "character": 36}})
    );
    assert_eq!(typo["severity"], json!(1));
    assert_eq!(
        typo["message"],
        json!("unknown name `cpu_limt`\nhelp: did you mean `cpu_limit`?")
    );

    // Hover: a function's signature, a rule's declaration.
    let h = c.request("textDocument/hover", at(&uri, 9, 8));
    assert_eq!(
        h["contents"]["value"],
        json!("```vigil\navg(x, w)\n```\nmean of the samples in the window")
    );
    let h = c.request("textDocument/hover", at(&uri, 15, 8));
    assert_eq!(
        h["contents"]["value"],
        json!(
            "rule `lspdemo.hot`\n```vigil\nrule hot {\n  severity warning\n  when avg(cpu_usage, 5m) > cpu_limt for 2m\n  summary \"CPU hot on {{ host }}\"\n}\n```"
        )
    );

    // Hover on a metric: its declaration and the labels the rules use with it.
    let h = c.request("textDocument/hover", at(&uri, 9, 14));
    assert_eq!(
        h["contents"]["value"],
        json!(
            "metric `lspdemo.cpu_usage`\n```vigil\nmetric cpu_usage: percent labels [host, dc]\n```\n\nlabels the rules use: `dc`, `host`"
        )
    );

    // Definition: in the file, and across the import.
    let d = c.request("textDocument/definition", at(&uri, 15, 8));
    assert_eq!(d["uri"], json!(uri));
    assert_eq!(
        d["range"],
        json!({"start": {"line": 7, "character": 5}, "end": {"line": 7, "character": 8}})
    );
    let d = c.request("textDocument/definition", at(&uri, 15, 20));
    assert!(
        d["uri"]
            .as_str()
            .expect("a uri")
            .ends_with("/rules/std/system.rules"),
        "{d}"
    );

    // References to `hot`: its declaration, its use, and the use in a workspace file that
    // imports this one.
    let r = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": uri}, "position": {"line": 7, "character": 6},
               "context": {"includeDeclaration": true}}),
    );
    let found: Vec<(String, u64)> = r
        .as_array()
        .expect("a list")
        .iter()
        .map(|l| {
            let file = l["uri"]
                .as_str()
                .expect("a uri")
                .rsplit('/')
                .next()
                .unwrap_or("");
            (
                file.to_string(),
                l["range"]["start"]["line"].as_u64().expect("a line"),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("main.rules".to_string(), 7),
            ("main.rules".to_string(), 15),
            ("other.rules".to_string(), 6)
        ]
    );

    // Completion: keywords, functions, names in scope (imported ones qualified), labels.
    let items = c.request("textDocument/completion", at(&uri, 10, 2));
    let labels: Vec<&str> = items
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|i| i["label"].as_str())
        .collect();
    for want in ["when", "avg", "cpu_limit", "hot", "system.high_cpu", "dc"] {
        assert!(labels.contains(&want), "{want} missing");
    }

    // Outline.
    let s = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    let names: Vec<&str> = s
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert_eq!(names, vec!["cpu_usage", "cpu_limit", "hot", "hot_and_busy"]);

    // Formatting through `vigil fmt`: the file is formatted already.
    let f = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(f, json!([]));
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2},
               "contentChanges": [{"text": "rule  r{\n severity  high\n when x>1\n}\n"}]}),
    );
    let f = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(
        f[0]["newText"],
        json!("rule r {\n  severity high\n  when x > 1\n}\n")
    );

    // The quick fix for the typo.
    let a = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": typo["range"],
               "context": {"diagnostics": [typo]}}),
    );
    assert_eq!(a[0]["title"], json!("replace with `cpu_limit`"));
    assert_eq!(
        a[0]["edit"]["changes"][&uri][0]["newText"],
        json!("cpu_limit")
    );

    let _ = c.request("shutdown", Value::Null);
    c.notify("exit", Value::Null);
    let status = c.child.wait().expect("exits");
    assert!(status.success());
}

#[test]
fn a_file_opened_through_a_symlink_gets_its_diagnostics() {
    let (_, text) = file();
    let real = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lsp");
    let dir = std::env::temp_dir().join(format!("vigil-lsp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let link = dir.join("linked");
    std::os::unix::fs::symlink(&real, &link).expect("a symlink");
    let uri = format!("file://{}", link.join("main.rules").display());
    let mut c = Client::start();
    let _ = c.request("initialize", json!({"capabilities": {}}));
    c.notify("initialized", json!({}));
    let diags = c.open(&uri, &text);
    assert!(
        diags
            .as_array()
            .expect("a list")
            .iter()
            .any(|d| d["code"] == "V0101"),
        "{diags}"
    );
    let _ = c.request("shutdown", Value::Null);
    c.notify("exit", Value::Null);
    let _ = c.child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

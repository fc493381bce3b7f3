//! Helpers the daemon's end-to-end tests share: the real binary on 127.0.0.1:0 with a
//! temporary data directory, a raw HTTP client, peers that may be missing, free ports.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    pub addr: String,
    /// Lines the daemon printed on stdout after `listening on`.
    pub lines: mpsc::Receiver<String>,
    /// Stdout, when it is not read past `listening on` ([`Daemon::start_unread`]): held
    /// open, so the pipe fills.
    pub unread: Option<BufReader<std::process::ChildStdout>>,
}

impl Daemon {
    /// With `dir`'s `vigil.toml`, its `rules/` and its `data/`.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(
            dir,
            env,
            &[
                "--format",
                "json",
                "--rules",
                &dir.join("rules").display().to_string(),
            ],
        )
    }

    pub fn start_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Daemon {
        Daemon::spawn(dir, env, args, true)
    }

    /// [`Daemon::start`] with stdout read up to `listening on` and never again.
    pub fn start_unread(dir: &Path) -> Daemon {
        let rules = dir.join("rules").display().to_string();
        Daemon::spawn(dir, &[], &["--format", "json", "--rules", &rules], false)
    }

    fn spawn(dir: &Path, env: &[(&str, &str)], args: &[&str], read: bool) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.args(["run", "--listen", "127.0.0.1:0"])
            .args(args)
            .arg("--config")
            .arg(dir.join("vigil.toml"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env_remove("VIGIL_API_TOKEN")
            .env_remove("VIGIL_INGEST_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("vigil runs");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, rx) = mpsc::channel();
        let unread = if read {
            std::thread::spawn(move || {
                for line in stdout.lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            None
        } else {
            let mut first = String::new();
            stdout.read_line(&mut first).expect("stdout");
            let _ = tx.send(first.trim_end().to_string());
            Some(stdout)
        };
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the daemon printed its address");
        let addr = first
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line: {first}"))
            .to_string();
        Daemon {
            child,
            addr,
            lines: rx,
            unread,
        }
    }

    pub fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        http(&self.addr, method, path, headers, body)
    }

    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let (s, b) = self.req("GET", path, &[], b"");
        (
            s,
            serde_json::from_str(&b).unwrap_or(serde_json::Value::String(b)),
        )
    }

    pub fn ingest(&self, body: &str) -> (u16, serde_json::Value) {
        let (s, b) = self.req("POST", "/api/v1/ingest", &[], body.as_bytes());
        (
            s,
            serde_json::from_str(&b).unwrap_or(serde_json::Value::String(b)),
        )
    }

    /// Polls `GET path` until `ok` holds for the answer (at most 60 s: CI machines are slow).
    pub fn wait_for(
        &self,
        path: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, v) = self.get(path);
            if ok(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting on {path}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything printed so far.
    pub fn printed(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status (bounded wait).
    pub fn terminate(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection; the status and the body (chunked or not).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // A refused body may be answered before it is all read: ignore a broken pipe.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

pub fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n..];
        s = s.strip_prefix("\r\n").unwrap_or(s);
    }
    out
}

/// A temporary folder with `rules/r.rules` and `vigil.toml`.
pub fn setup(rules: &str, toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/r.rules"), rules).unwrap();
    std::fs::write(dir.path().join("vigil.toml"), toml).unwrap();
    dir
}

/// A peer program, or `None` (with a note) when this machine lacks it; under `CI=true` a
/// missing peer fails the test (`.ci/run` installs it).
pub fn peer(name: &str, package: &str) -> Option<String> {
    if Command::new(name).arg("--version").output().is_ok() {
        return Some(name.to_string());
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name} is missing; .ci/run installs Debian's `{package}` package");
    }
    eprintln!("note: {name} is not installed; skipping");
    None
}

/// Debian's Prometheus with the test folder's `prometheus.yml`, on `port`; killed when dropped.
pub struct Prometheus(pub Child);

impl Prometheus {
    pub fn start(bin: &str, dir: &Path, port: u16) -> Prometheus {
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        Prometheus(child)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (bound, then released for the peer to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request a [`Receiver`] took.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How a [`Receiver`] answers the next request: a status and extra headers, or no answer
/// for a while (a receiver that hangs).
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16, Vec<(String, String)>),
    Hang(Duration),
}

/// A loopback HTTP receiver for notifications: records every request and answers from a
/// script (then 200). Stops when dropped.
pub struct Receiver {
    pub addr: String,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    pub script: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Answer>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::on("127.0.0.1:0")
    }

    pub fn on(addr: &str) -> Receiver {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind(addr).expect("receiver binds");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, sc, st) = (got.clone(), script.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (g, sc) = (g.clone(), sc.clone());
                        std::thread::spawn(move || serve_one(conn, &g, &sc));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Receiver {
            addr,
            got,
            script,
            stop,
        }
    }

    pub fn answer(&self, a: Answer) {
        self.script.lock().unwrap().push_back(a);
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (at most 60 s) until `ok` holds for what was received.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.received();
            if ok(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received: {got:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn serve_one(
    mut conn: TcpStream,
    got: &std::sync::Mutex<Vec<Received>>,
    script: &std::sync::Mutex<std::collections::VecDeque<Answer>>,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Status(200, Vec::new()));
        let status = match &answer {
            Answer::Status(s, _) => *s,
            Answer::Hang(_) => 0,
        };
        got.lock().unwrap().push(Received {
            method,
            path,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
            status,
        });
        match answer {
            Answer::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
            Answer::Status(s, extra) => {
                let mut resp = format!("HTTP/1.1 {s} X\r\nContent-Length: 2\r\n");
                for (k, v) in extra {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n{}");
                if conn.write_all(resp.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

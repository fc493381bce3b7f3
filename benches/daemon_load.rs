//! The daemon under load (`cargo bench --bench daemon_load`), in one run on this machine with
//! the load generator in the same run (two sender threads):
//!
//! - events over HTTP NDJSON (batches of 1,000 lines without `ts`, so they take their
//!   arrival time) into `vigil run`: the flat events of `benches/events_scenario.py` with the
//!   100 rules of `benches/events.rules`, and the ECS-like events of `benches/ecs_scenario.py`
//!   with its rare pack; write-ahead log on and off; sustained events/s;
//! - samples over remote_write (1,000 series per request, 100 samples each) into `vigil run`
//!   and, as the baseline, into Prometheus 2.42's own receiver
//!   (`--web.enable-remote-write-receiver`); sustained samples/s;
//! - latency (`lateness = 0s`, so each event is decided as it is applied): from sending an
//!   event to its answer, which the daemon gives once the log's sync covers it, p50/p99 of
//!   single-event requests at a steady rate of half the measured throughput, alone and while
//!   two other senders keep half that load in requests of 100; and the daemon's own view of the
//!   loaded run: from each request's arrival to the engine's decision on it
//!   (`vigil_decision_seconds`, before the sync) and to its answer (`vigil_answer_seconds`);
//! - resident memory per series (RSS after 100,000 series minus before, divided);
//! - a reload of the flat events' rules holding the state of 500,000 events: how long the
//!   reload takes, and the longest answer to single events sent meanwhile against the longest
//!   without a reload (the engine's thread pauses for the swap and the checkpoint's copy).
//!
//! Needs python3 (the generators) and, for the baseline, `prometheus`; a missing one is said
//! and its part skipped. `VIGIL_BIN=path` runs another build; `VIGIL_BENCH_WAL="preallocate =
//! false"` adds settings to the daemons' `[wal]` section (to compare two in one session).

#[path = "common/scenario.rs"]
mod scenario;

use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // `cargo bench --bench daemon_load -- remote_write memory`: only those parts.
    let parts = [
        "events",
        "latency",
        "reload",
        "lists",
        "remote_write",
        "memory",
    ];
    let only = |part: &str| args.is_empty() || args.iter().any(|a| a == part);
    if let Some(a) = args.iter().find(|a| !parts.contains(&a.as_str())) {
        eprintln!("daemon_load: unknown part `{a}` (one of {parts:?})");
        return;
    }
    let dir = std::env::temp_dir().join(format!("vigil-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let n = 500_000;
    let write = |script: &str, out: &Path| scenario::write(script, out, n);
    let flat = dir.join("flat.jsonl");
    let ecs = dir.join("ecs.jsonl");
    if !write("events_scenario.py", &flat) || !write("ecs_scenario.py", &ecs) {
        eprintln!("daemon_load: needs python3 for its input; skipped");
        return;
    }
    println!("events over HTTP NDJSON ({n} events, 1,000 per request, 2 senders)");
    let packs = [
        ("flat", flat.clone(), root.join("benches/events.rules")),
        ("ecs", ecs.clone(), dir.join("ecs_rare.rules")),
    ];
    let mut rates = Vec::new();
    for (name, data, rules) in packs.iter().filter(|_| only("events") || only("latency")) {
        let bodies = bodies(data, 1000);
        for wal in [true, false] {
            let d = Daemon::start(&dir, rules, wal);
            let t0 = Instant::now();
            send_all(&d.addr, "/api/v1/ingest", &bodies, 2);
            let secs = t0.elapsed().as_secs_f64();
            let rate = n as f64 / secs;
            println!(
                "  {name:4} WAL {:3}: {:>9.0} events/s ({secs:.2} s)",
                if wal { "on" } else { "off" },
                rate
            );
            if wal {
                rates.push((name, rules.clone(), data.clone(), rate));
            }
        }
    }
    if only("latency") {
        println!(
            "latency from sending one event to its answer (after the log's sync), at half the rate above, WAL on"
        );
    }
    for (name, rules, data, rate) in rates.iter().filter(|_| only("latency")) {
        let d = Daemon::start(&dir, rules, true);
        let lines = bodies(data, 1);
        let (p50, p99, sent) = latency(&d.addr, &lines, rate / 2.0, Duration::from_secs(5));
        println!(
            "  {name:4}: p50 {:.0} µs, p99 {:.0} µs over {sent} requests at {:.0}/s",
            p50 * 1e6,
            p99 * 1e6,
            (rate / 2.0).min(1.0 / 0.0001)
        );
        // The same single events (1,000/s) while two other senders keep the daemon at half the
        // measured throughput in requests of 100 events.
        let batches = bodies(data, 100);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let before = [
            daemon_buckets(&d.addr, "decision"),
            daemon_buckets(&d.addr, "answer"),
        ];
        // Two paced senders: one connection waits for each answer, so alone it could not
        // carry half the throughput once answers take longer than the gap between requests.
        let (p50, p99, sent, carried) = std::thread::scope(|s| {
            let (first, second) = batches.split_at(batches.len() / 2);
            let (addr, stop) = (&d.addr, &stop);
            let loads = [first, second]
                .map(|part| s.spawn(move || paced(addr, part, 100, rate / 4.0, stop)));
            let (p50, p99, sent) = latency(&d.addr, &lines, 1000.0, Duration::from_secs(5));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let carried: f64 = loads.into_iter().map(|l| l.join().unwrap_or(0.0)).sum();
            (p50, p99, sent, carried)
        });
        println!(
            "  {name:4} under load ({carried:.0} events/s in requests of 100): p50 {:.0} µs, p99 {:.0} µs over {sent} requests",
            p50 * 1e6,
            p99 * 1e6,
        );
        // The daemon's own view of the same run, every request of both senders: from a
        // request's arrival to the engine's decision (`vigil_decision_seconds`), and to its
        // answer once the log is synced (`vigil_answer_seconds`).
        let after = [
            daemon_buckets(&d.addr, "decision"),
            daemon_buckets(&d.addr, "answer"),
        ];
        for ((what, after), before) in ["decision", "answer"].iter().zip(&after).zip(&before) {
            let run: Vec<(f64, f64)> = after
                .iter()
                .zip(before)
                .map(|(&(le, a), &(_, b))| (le, a - b))
                .collect();
            let total = run.last().map_or(0.0, |b| b.1);
            if total == 0.0 {
                continue;
            }
            let within = run.iter().find(|b| b.0 >= 0.001).map_or(0.0, |b| b.1);
            println!(
                "  {name:4} under load, arrival to {what} in the daemon: p50 {:.0} µs, p99 {:.0} µs, {:.2}% within 1 ms, over {total:.0} requests",
                bucket_quantile(&run, 0.5) * 1e6,
                bucket_quantile(&run, 0.99) * 1e6,
                100.0 * within / total.max(1.0),
            );
        }
    }
    if only("reload") {
        reload(&flat, &root.join("benches/events.rules"), &dir);
    }
    if only("lists") {
        lists(&flat, &root.join("benches/events.rules"), &dir);
    }
    if only("remote_write") {
        println!("samples over remote_write (1,000 series x 100 samples per request, 2 senders)");
    }
    let series = 1000;
    let requests = write_requests(series, 100, 200);
    let total = (series * 100 * requests.len()) as f64;
    let prom_rules = dir.join("rw.rules");
    std::fs::write(
        &prom_rules,
        "package load\n\nrule hot {\n  severity warning\n  when load_metric > 0.99\n}\n",
    )
    .unwrap();
    let mut vigil_rate = 0.0;
    for wal in [true, false].into_iter().filter(|_| only("remote_write")) {
        let d = Daemon::start(&dir, &prom_rules, wal);
        let t0 = Instant::now();
        send_all(&d.addr, "/api/v1/write", &requests, 2);
        let rate = total / t0.elapsed().as_secs_f64();
        println!(
            "  vigil run, WAL {:3}: {:>10.0} samples/s",
            if wal { "on" } else { "off" },
            rate
        );
        if wal {
            vigil_rate = rate;
        }
    }
    let baseline = if only("remote_write") {
        Prometheus::start(&dir).ok_or("Prometheus not installed: no baseline")
    } else {
        Err("")
    };
    match baseline {
        Ok(p) => {
            let t0 = Instant::now();
            send_all(&p.addr, "/api/v1/write", &requests, 2);
            let rate = total / t0.elapsed().as_secs_f64();
            println!("  Prometheus 2.42 receiver: {rate:>10.0} samples/s");
            println!("  vigil (WAL on) / Prometheus: {:.2}x", vigil_rate / rate);
        }
        Err(why) if !why.is_empty() => println!("  {why}"),
        Err(_) => {}
    }
    if !only("memory") {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    println!("memory per series (100,000 series by remote_write, WAL on)");
    let d = Daemon::start(&dir, &prom_rules, true);
    std::thread::sleep(Duration::from_millis(500));
    let before = rss(d.child.id());
    let many = write_requests(100_000, 2, 1);
    send_all(&d.addr, "/api/v1/write", &many, 1);
    std::thread::sleep(Duration::from_millis(500));
    let after = rss(d.child.id());
    println!(
        "  RSS {:.1} MiB -> {:.1} MiB: {:.0} bytes per series",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        (after.saturating_sub(before)) as f64 / 100_000.0
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reloads (the same rules) with the state of `data`'s events, while single events are sent
/// one after another: the reload's time and the longest answer meanwhile, against the longest
/// over as long without a reload.
fn reload(data: &Path, rules: &Path, dir: &Path) {
    println!(
        "a reload holding the state of the flat events (500,000), single events sent meanwhile"
    );
    let d = Daemon::start(dir, rules, true);
    send_all(&d.addr, "/api/v1/ingest", &bodies(data, 1000), 2);
    let lines = bodies(data, 1);
    let longest = |during: &dyn Fn() -> Duration| {
        let (took, worst, _) = probing(&d.addr, &lines, during);
        (took, worst)
    };
    for _ in 0..3 {
        let (_, calm) = longest(&|| {
            std::thread::sleep(Duration::from_millis(300));
            Duration::ZERO
        });
        let (took, worst) = longest(&|| {
            let t0 = Instant::now();
            let answer = once(
                &d.addr,
                "POST /api/v1/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bench\r\nContent-Length: 0",
            );
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            t0.elapsed()
        });
        println!(
            "  reload answered in {:.0} ms; longest answer meanwhile {:.1} ms, without a reload {:.1} ms",
            took.as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3,
            calm.as_secs_f64() * 1e3,
        );
    }
}

/// A list file of 100,000 user names rewritten under the state of the flat events: read
/// into the running rules (tested only with `in`), against the same file compiled into the
/// rules (also spread into another list), which reloads them.
fn lists(data: &Path, rules: &Path, dir: &Path) {
    println!(
        "a list file of 100,000 entries rewritten under the state of the flat events (500,000)"
    );
    let lines = bodies(data, 1);
    for compiled in [false, true] {
        let pack = dir.join(format!("lists-{compiled}"));
        let _ = std::fs::remove_dir_all(&pack);
        std::fs::create_dir_all(&pack).unwrap();
        std::fs::copy(rules, pack.join("events.rules")).unwrap();
        let users = |v: u32| -> String { (0..100_000).map(|i| format!("user{v}-{i}\n")).collect() };
        std::fs::write(pack.join("users.txt"), users(0)).unwrap();
        let spread = if compiled {
            "list everyone = [...bad_users, \"nobody\"]\n\
             rule known {\n  severity info\n  on event where event.user in everyone\n}\n"
        } else {
            ""
        };
        std::fs::write(
            pack.join("feeds.rules"),
            format!(
                "package feeds\n\nlist bad_users = file(\"users.txt\")\n{spread}\n\
                 rule bad_user {{\n  severity high\n  on event where event.user in bad_users\n}}\n"
            ),
        )
        .unwrap();
        let d = Daemon::start(dir, &pack, true);
        send_all(&d.addr, "/api/v1/ingest", &bodies(data, 1000), 2);
        let rules_json = || once(&d.addr, "GET /api/v1/rules HTTP/1.1\r\nHost: x");
        for v in 1..=3 {
            let before = rules_json();
            let (took, worst, sent) = probing(&d.addr, &lines, &|| {
                let t0 = Instant::now();
                std::fs::write(pack.join("users.txt"), users(v)).unwrap();
                // Taken: the rules' reload time, or the list's last read, is new.
                let stamp = |text: String| {
                    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                    (
                        v["reload"]["at"].clone(),
                        v["lists"][0]["last_read"]["at"].clone(),
                    )
                };
                let was = stamp(before.clone());
                let deadline = t0 + Duration::from_secs(60);
                while stamp(rules_json()) == was && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                t0.elapsed()
            });
            println!(
                "  {}: in use {:.0} ms after the write (500 ms of it the debounce); longest answer meanwhile {:.1} ms over {sent} single events",
                if compiled {
                    "compiled in, rules reloaded"
                } else {
                    "tested with `in`, list re-read"
                },
                took.as_secs_f64() * 1e3,
                worst.as_secs_f64() * 1e3,
            );
        }
    }
}

/// Runs `during` while single events (`lines`, cycled) are sent one at a time, 1 ms apart,
/// starting 300 ms before it and ending 300 ms after: what it returned, the longest answer,
/// and how many events were sent.
fn probing(
    addr: &str,
    lines: &[Vec<u8>],
    during: &dyn Fn() -> Duration,
) -> (Duration, Duration, usize) {
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let probe = s.spawn(|| {
            let mut conn = Conn::new(addr);
            let (mut worst, mut sent) = (Duration::ZERO, 0);
            for l in lines.iter().cycle() {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let t0 = Instant::now();
                let _ = conn.request("POST", "/api/v1/ingest", l);
                worst = worst.max(t0.elapsed());
                sent += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            (worst, sent)
        });
        std::thread::sleep(Duration::from_millis(300));
        let took = during();
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (worst, sent) = probe.join().unwrap_or_default();
        (took, worst, sent)
    })
}

/// One request (`head`: request line and headers, without the closing blank line) on a
/// connection of its own; the whole answer, head and body.
fn once(addr: &str, head: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "{head}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// Lines of `path` without their `ts` (the daemon stamps their arrival), `per` to a body.
fn bodies(path: &Path, per: usize) -> Vec<Vec<u8>> {
    let f = BufReader::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut k = 0;
    for line in f.lines().map_while(Result::ok) {
        // `{"ts": N, "event": {...}}` -> `{"event": {...}}`
        let Some(at) = line.find("\"event\"") else {
            continue;
        };
        cur.extend_from_slice(b"{");
        cur.extend_from_slice(&line.as_bytes()[at..]);
        cur.push(b'\n');
        k += 1;
        if k == per {
            out.push(std::mem::take(&mut cur));
            k = 0;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct Daemon {
    child: Child,
    addr: String,
}

impl Daemon {
    fn start(dir: &Path, rules: &Path, wal: bool) -> Daemon {
        let data = dir.join(format!("data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let cfg = dir.join("vigil.toml");
        std::fs::write(
            &cfg,
            format!(
                "lateness = \"0s\"\ncheckpoint_every = \"1h\"\n[host]\nenabled = false\n[wal]\nenabled = {wal}\n{}\n[limits]\nqueue = 64\nmax_series = 1000000\nmax_lines = 1000000\n", std::env::var("VIGIL_BENCH_WAL").unwrap_or_default()
            ),
        )
        .unwrap();
        // `VIGIL_BIN` runs another build (to compare two in the same session).
        let bin = std::env::var("VIGIL_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_vigil").into());
        let mut child = Command::new(bin)
            .env("VIGIL_API_TOKEN", "bench")
            .args(["run", "--listen", "127.0.0.1:0", "--format", "json"])
            .arg("--config")
            .arg(&cfg)
            .arg("--rules")
            .arg(rules)
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        // Alerts are printed on stdout: read them so the daemon never waits on the pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{first}"))
            .to_string();
        Daemon { child, addr }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Prometheus {
    child: Child,
    addr: String,
}

impl Prometheus {
    fn start(dir: &Path) -> Option<Prometheus> {
        Command::new("prometheus").arg("--version").output().ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, "global:\n  scrape_interval: 1m\n").ok()?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let p = Prometheus {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if post(&p.addr, "/-/ready", b"", "GET").is_ok_and(|s| s == 200) {
                return Some(p);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends every body (`threads` senders, one keep-alive connection each); panics on a non-2xx.
fn send_all(addr: &str, path: &str, bodies: &[Vec<u8>], threads: usize) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut conn = Conn::new(addr);
                for b in bodies.iter().skip(t).step_by(threads) {
                    loop {
                        match conn.request("POST", path, b) {
                            Ok(200..=299) => break,
                            // The queue is full: back off as a client should.
                            Ok(429) => std::thread::sleep(Duration::from_millis(5)),
                            Ok(s) => panic!("{path}: HTTP {s}"),
                            Err(_) => conn = Conn::new(addr),
                        }
                    }
                }
            });
        }
    });
}

/// Sends `bodies` (of `per` events each) paced to `rate` events/s until `stop`; the rate
/// carried.
fn paced(
    addr: &str,
    bodies: &[Vec<u8>],
    per: usize,
    rate: f64,
    stop: &std::sync::atomic::AtomicBool,
) -> f64 {
    let mut conn = Conn::new(addr);
    let gap = Duration::from_secs_f64(per as f64 / rate.max(1.0));
    let start = Instant::now();
    let mut next = start;
    let mut sent = 0usize;
    for b in bodies.iter().cycle() {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += gap;
        if conn
            .request("POST", "/api/v1/ingest", b)
            .is_ok_and(|s| s == 200)
        {
            sent += per;
        }
    }
    sent as f64 / start.elapsed().as_secs_f64()
}

/// Single-line requests at `rate`/s for `dur`: p50, p99 of the time to the answer (s).
fn latency(addr: &str, lines: &[Vec<u8>], rate: f64, dur: Duration) -> (f64, f64, usize) {
    let mut conn = Conn::new(addr);
    let gap = Duration::from_secs_f64(1.0 / rate.clamp(1.0, 10_000.0));
    let mut times = Vec::new();
    let start = Instant::now();
    let mut next = start;
    for l in lines.iter().cycle() {
        if start.elapsed() > dur {
            break;
        }
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += gap;
        let t0 = Instant::now();
        if conn
            .request("POST", "/api/v1/ingest", l)
            .is_ok_and(|s| s == 200)
        {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    (q(0.5), q(0.99), times.len())
}

/// `vigil_{name}_seconds`' cumulative buckets (upper bound, count), `+Inf` last.
fn daemon_buckets(addr: &str, name: &str) -> Vec<(f64, f64)> {
    let text = once(addr, "GET /metrics HTTP/1.1\r\nHost: x");
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("vigil_{name}_seconds_bucket{{le=\"")))
        .filter_map(|l| {
            let (le, rest) = l.split_once("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.trim().parse().ok()?))
        })
        .collect()
}

/// The `q` quantile of cumulative buckets, interpolated within its bucket as Prometheus's
/// `histogram_quantile` does (the highest finite bound when it falls in `+Inf`).
fn bucket_quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.1);
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return lower.0;
            }
            let share = (rank - lower.1) / (count - lower.1).max(1.0);
            return lower.0 + (le - lower.0) * share;
        }
        lower = (le, count);
    }
    lower.0
}

/// `requests` remote_write bodies of `series` series with `per` samples each, times near now.
fn write_requests(series: usize, per: usize, requests: usize) -> Vec<Vec<u8>> {
    use vigil_ingest::remote_write::{Label, Sample, TimeSeries, WriteRequest};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (0..requests)
        .map(|r| {
            let req = WriteRequest {
                timeseries: (0..series)
                    .map(|i| TimeSeries {
                        labels: vec![
                            Label {
                                name: "__name__".into(),
                                value: "load_metric".into(),
                            },
                            Label {
                                name: "instance".into(),
                                value: format!("host-{i}"),
                            },
                            // Each sender its own series, so each series' samples arrive in
                            // time order (Prometheus refuses out-of-order samples).
                            Label {
                                name: "sender".into(),
                                value: (r % 2).to_string(),
                            },
                        ],
                        samples: (0..per)
                            .map(|k| Sample {
                                value: ((i * 31 + k * 7 + r) % 100) as f64 / 100.0,
                                timestamp: now + ((r * per + k) as i64),
                            })
                            .collect(),
                    })
                    .collect(),
            };
            snap::raw::Encoder::new()
                .compress_vec(&req.encode_to_vec())
                .unwrap()
        })
        .collect()
}

fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    fn new(addr: &str) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Conn {
            stream: BufReader::new(s),
        }
    }

    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<u16> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: {}\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n\r\n",
            body.len(),
            if path == "/api/v1/write" {
                "snappy"
            } else {
                "identity"
            }
        );
        let w = self.stream.get_mut();
        w.write_all(head.as_bytes())?;
        w.write_all(body)?;
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("no status"))?;
        let mut len = 0usize;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            self.stream.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        if chunked {
            loop {
                let mut size = String::new();
                self.stream.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut buf = vec![0u8; n + 2];
                self.stream.read_exact(&mut buf)?;
                if n == 0 {
                    break;
                }
            }
        } else {
            let mut buf = vec![0u8; len];
            self.stream.read_exact(&mut buf)?;
        }
        Ok(status)
    }
}

/// One request on a fresh connection (readiness checks).
fn post(addr: &str, path: &str, body: &[u8], method: &str) -> std::io::Result<u16> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut c = Conn {
        stream: BufReader::new(s),
    };
    c.request(method, path, body)
}

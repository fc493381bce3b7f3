//! The demo source (`[demo]` in vigil.toml): recorded JSON lines replayed into the running
//! daemon, moved to the present and paced `speed` times faster than recorded, so a person
//! sees alerts fire within a minute. The engine's clock follows the recording while it plays
//! (a backfill: exactly `vigil replay`'s semantics, windows and `for` intact), then the wall
//! clock takes over.

use crate::worker::{Cmd, now_ms};
use crossbeam_channel::Sender;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use vigil_ingest::{Format, parse_line};

/// Lines of the recording in time order with their times (stable for equal times).
pub fn load(files: &[PathBuf]) -> Result<Vec<(i64, serde_json::Value)>, String> {
    let mut lines = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("demo file {}: {e}", f.display()))?;
        for (i, line) in text.lines().enumerate() {
            let recs = parse_line(line, Format::Json)
                .map_err(|e| format!("demo file {}:{}: {e}", f.display(), i + 1))?;
            let Some(ts) = recs.first().map(vigil_ingest::Record::ts) else {
                continue;
            };
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("demo file {}:{}: {e}", f.display(), i + 1))?;
            lines.push((ts, v));
        }
    }
    lines.sort_by_key(|l| l.0);
    Ok(lines)
}

/// Plays `lines` into the engine's queue; returns when done or when the daemon stops.
pub fn play(lines: Vec<(i64, serde_json::Value)>, speed: f64, tx: Sender<Cmd>) {
    let (Some(first), Some(last)) = (lines.first().map(|l| l.0), lines.last().map(|l| l.0)) else {
        return;
    };
    let speed = speed.max(1.0);
    let (reply, clock) = oneshot::channel();
    if tx.send(Cmd::Clock { reply }).is_err() {
        return;
    }
    let clock = clock.blocking_recv().unwrap_or(i64::MIN);
    let played = ((last - first) as f64 / speed) as i64;
    // The recording ends when its playing does, and never before the engine's clock.
    let w0 = now_ms();
    let shift = (w0 + played - last).max(clock.saturating_add(1).saturating_sub(first));
    let start = Instant::now();
    let due = |ts: i64| Duration::from_millis(((ts - first) as f64 / speed) as u64);
    let mut i = 0;
    while i < lines.len() {
        let elapsed = start.elapsed();
        let next = due(lines[i].0);
        if next > elapsed {
            std::thread::sleep((next - elapsed).min(Duration::from_millis(200)));
            continue;
        }
        let mut batch = String::new();
        while i < lines.len() && due(lines[i].0) <= elapsed {
            let (ts, mut v) = lines[i].clone();
            v["ts"] = (ts + shift).into();
            batch.push_str(&v.to_string());
            batch.push('\n');
            i += 1;
        }
        let cmd = Cmd::Backfill {
            lines: batch,
            done: false,
        };
        if tx.send(cmd).is_err() {
            return;
        }
    }
    let _ = tx.send(Cmd::Backfill {
        lines: String::new(),
        done: true,
    });
}

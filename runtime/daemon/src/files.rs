//! Files followed as they grow (`[[file]]` in vigil.toml), and standard input (`vigil run
//! --stdin`). A followed file is read from where the daemon last stopped (its position is kept
//! in the data directory), or from its end the first time; a rotation (the path now names
//! another file) is followed after the old file's last lines are read, and a truncation starts
//! it over. Lines are in the `vigil replay` format (`format = "lines"`, the default), or plain
//! text taken as events `{"message": .., "path": ..}` (`format = "text"`).

use crate::api::{AppState, accept};
use crate::worker::now_ms;
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vigil_ingest::Record;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub path: PathBuf,
    /// `lines` (the replay format: samples and events) or `text` (each line an event).
    #[serde(default = "FileConfig::default_format")]
    pub format: String,
}

impl FileConfig {
    fn default_format() -> String {
        "lines".into()
    }
}

/// Bytes read in one round; lines longer than the ingest limit are refused there.
const ROUND: usize = 4 << 20;
const POLL: Duration = Duration::from_millis(200);

/// Where each followed file was left: `(device, inode, offset)` by path.
type Positions = BTreeMap<String, (u64, u64, u64)>;

/// Starts following every file.
pub fn start(state: &Arc<AppState>, files: &[FileConfig], data_dir: &Path) -> Result<(), String> {
    let store = data_dir.join("files.json");
    let positions: Positions = std::fs::read(&store)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let positions = Arc::new(tokio::sync::Mutex::new(positions));
    for f in files {
        let text = match f.format.as_str() {
            "lines" => false,
            "text" => true,
            other => {
                return Err(format!(
                    "file {}: format `{other}` (lines or text)",
                    f.path.display()
                ));
            }
        };
        let (state, path, store, positions) = (
            state.clone(),
            f.path.clone(),
            store.clone(),
            positions.clone(),
        );
        tokio::spawn(async move {
            let key = path.display().to_string();
            let mut follow = Follow {
                file: None,
                at: positions.lock().await.get(&key).copied(),
            };
            loop {
                let path2 = path.clone();
                let round = tokio::task::spawn_blocking(move || {
                    let r = follow.round(&path2);
                    (follow, r)
                })
                .await;
                let Ok((back, result)) = round else {
                    return;
                };
                follow = back;
                let (lines, next) = match result {
                    Ok(x) => x,
                    Err(_) => {
                        // Not there (yet): try again.
                        follow.file = None;
                        tokio::time::sleep(POLL).await;
                        continue;
                    }
                };
                let busy = lines.len() >= ROUND / 2;
                if !lines.is_empty() {
                    let body = if text { as_events(&lines, &key) } else { lines };
                    while let Err(r) = accept(&state, body.as_bytes(), "file").await {
                        if r.status() != axum::http::StatusCode::TOO_MANY_REQUESTS {
                            crate::log::error(&format!("{key}: lines not taken ({})", r.status()));
                            break;
                        }
                        tokio::time::sleep(POLL).await;
                    }
                }
                let mut pos = positions.lock().await;
                if pos.get(&key) != Some(&next) {
                    pos.insert(key.clone(), next);
                    if let Err(e) = save(&store, &pos) {
                        crate::log::error(&format!("cannot keep file positions: {e}"));
                    }
                }
                drop(pos);
                if !busy {
                    tokio::time::sleep(POLL).await;
                }
            }
        });
    }
    Ok(())
}

fn save(store: &Path, pos: &Positions) -> std::io::Result<()> {
    let tmp = store.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(pos).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, store)
}

/// A followed file: the open handle and where it stands `(device, inode, offset)`.
struct Follow {
    file: Option<std::fs::File>,
    at: Option<(u64, u64, u64)>,
}

impl Follow {
    /// One round: the complete lines after the position and the position after them. The
    /// first open resumes a kept position (same file) or starts at the end; after reading an
    /// old file to its end, a rotation (the path names another file) opens the new one from
    /// its start; a truncation starts over.
    fn round(&mut self, path: &Path) -> std::io::Result<(String, (u64, u64, u64))> {
        if self.file.is_none() {
            let f = std::fs::File::open(path)?;
            let m = f.metadata()?;
            let start = match self.at {
                Some((dev, ino, off)) if (dev, ino) == (m.dev(), m.ino()) && off <= m.len() => off,
                // Another file than the one left (rotated while stopped): from its start.
                Some(_) => 0,
                None => m.len(),
            };
            self.at = Some((m.dev(), m.ino(), start));
            self.file = Some(f);
        }
        let (Some(f), Some((dev, ino, mut offset))) = (self.file.as_mut(), self.at) else {
            return Err(std::io::Error::other("not open"));
        };
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        f.take(ROUND as u64).read_to_end(&mut buf)?;
        // Only complete lines; the rest waits for its newline.
        let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        buf.truncate(end);
        offset += end as u64;
        self.at = Some((dev, ino, offset));
        if end == 0 {
            match std::fs::metadata(path) {
                Ok(m) if (m.dev(), m.ino()) != (dev, ino) => {
                    // Rotated, and the old file is read to its end: follow the new one.
                    let f = std::fs::File::open(path)?;
                    let m = f.metadata()?;
                    self.file = Some(f);
                    self.at = Some((m.dev(), m.ino(), 0));
                }
                Ok(m) if m.len() < offset => self.at = Some((dev, ino, 0)),
                _ => {}
            }
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        Ok((text, self.at.unwrap_or((dev, ino, offset))))
    }
}

/// Plain text lines as events at their arrival.
fn as_events(lines: &str, path: &str) -> String {
    let now = now_ms();
    let mut out = String::new();
    for l in lines.lines().filter(|l| !l.trim().is_empty()) {
        Record::Event {
            ts: now,
            event: serde_json::json!({ "message": l, "path": path }),
        }
        .to_json_line(&mut out);
    }
    out
}

/// Reads standard input to its end, a batch of lines at a time.
pub fn stdin(state: Arc<AppState>, rt: tokio::runtime::Handle) {
    std::thread::spawn(move || {
        let mut lines = std::io::stdin().lock().lines();
        loop {
            let mut batch = String::new();
            let mut n = 0;
            let mut done = false;
            while n < 1000 {
                match lines.next() {
                    Some(Ok(l)) => {
                        batch.push_str(&l);
                        batch.push('\n');
                        n += 1;
                    }
                    _ => {
                        done = true;
                        break;
                    }
                }
            }
            if n > 0 {
                loop {
                    let r = rt.block_on(accept(&state, batch.as_bytes(), "stdin"));
                    match r {
                        Ok(_) => break,
                        Err(r) if r.status() == axum::http::StatusCode::TOO_MANY_REQUESTS => {
                            std::thread::sleep(POLL);
                        }
                        Err(_) => break,
                    }
                }
            }
            if done {
                crate::log::info("standard input ended");
                return;
            }
        }
    });
}

//! Checkpoints: the engine's snapshot and the daemon's own state, with the log position they
//! cover, written whole (a temporary file synced, then renamed) so a crash leaves the old one
//! or the new one, never half of either.

use crate::core::Ack;
use crate::wal::{Pos, sync_dir};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use vigil_engine::engine::Snapshot;

const FILE: &str = "checkpoint.json";
/// Bumped when the layout changes incompatibly (an older checkpoint is then refused).
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// The log entries before this are in the snapshot.
    pub wal: Pos,
    /// The clock the engine was advanced to, ms.
    pub clock: i64,
    pub snapshot: Snapshot,
    pub acks: BTreeMap<String, Ack>,
}

impl Checkpoint {
    pub fn new(wal: Pos, clock: i64, snapshot: Snapshot, acks: BTreeMap<String, Ack>) -> Self {
        Checkpoint {
            version: VERSION,
            wal,
            clock,
            snapshot,
            acks,
        }
    }
}

/// Writes `cp` into `dir`, replacing the previous checkpoint atomically; its size in bytes.
pub fn write(dir: &Path, cp: &Checkpoint) -> io::Result<u64> {
    let bytes = serde_json::to_vec(cp).map_err(io::Error::other)?;
    write_atomic(&dir.join(FILE), &bytes)?;
    Ok(bytes.len() as u64)
}

/// `bytes` as the new contents of `path`: written aside, synced, renamed into place, the
/// folder synced, so a crash leaves the old file or the new one (the checkpoint, routing's
/// state, playbook runs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => Ok(()),
    }
}

/// The checkpoint in `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<Checkpoint>, String> {
    let path = dir.join(FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let cp: Checkpoint = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not a checkpoint: {e}", path.display()))?;
    if cp.version != VERSION {
        return Err(format!(
            "{} has layout version {} (this build reads {VERSION})",
            path.display(),
            cp.version
        ));
    }
    Ok(Some(cp))
}

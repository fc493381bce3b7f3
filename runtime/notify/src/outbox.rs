//! The persistent outbox: a notification is written to disk (one file, synced) before
//! anything is sent and removed once delivered, so one accepted before a crash is delivered
//! after the restart. At least once: a crash between the receiver's answer and the removal
//! sends that notification again (at most once more per crash). Notifications that fail for
//! good move to `dead/`, listed by the API and `vigil notifications --failed`.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use vigil_alerting::Notification;

/// One notification waiting (or dead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub notification: Notification,
    /// For an `alertmanager` notifier: when firing alerts end unless sent again (epoch ms).
    pub until: i64,
    pub accepted_at: i64,
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    /// When it was given up (dead letters only).
    #[serde(default)]
    pub failed_at: Option<i64>,
}

/// The outbox's folder: `pending/` and `dead/`, one JSON file per notification.
pub struct Outbox {
    pending: PathBuf,
    dead: PathBuf,
}

/// How many dead letters are kept (the oldest go first).
pub const MAX_DEAD: usize = 10_000;

impl Outbox {
    /// Opens (creating) the folder; the notifications still pending, oldest first.
    pub fn open(dir: &Path) -> std::io::Result<(Outbox, Vec<Entry>)> {
        let pending = dir.join("pending");
        let dead = dir.join("dead");
        std::fs::create_dir_all(&pending)?;
        std::fs::create_dir_all(&dead)?;
        let mut found = Vec::new();
        for e in std::fs::read_dir(&pending)? {
            let path = e?.path();
            if path.extension().is_some_and(|x| x == "json") {
                // A file cut short by a crash before its rename never exists (`.tmp`); an
                // unreadable one is kept aside rather than lost.
                match std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
                {
                    Some(entry) => found.push(entry),
                    None => {
                        let _ = std::fs::rename(&path, path.with_extension("unreadable"));
                    }
                }
            } else if path.extension().is_some_and(|x| x == "tmp") {
                let _ = std::fs::remove_file(&path);
            }
        }
        found.sort_by_key(|e| (e.accepted_at, e.notification.ts));
        Ok((Outbox { pending, dead }, found))
    }

    fn file(dir: &Path, id: &str) -> PathBuf {
        // Ids are hex; anything else is not a file name we write.
        let safe: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
        dir.join(format!("{safe}.json"))
    }

    /// Writes `e` to the pending folder and syncs it: from here it survives a crash.
    pub fn put(&self, e: &Entry) -> std::io::Result<()> {
        write_synced(&Outbox::file(&self.pending, &e.notification.id), e)
    }

    /// Delivered: forgotten.
    pub fn done(&self, id: &str) {
        let _ = std::fs::remove_file(Outbox::file(&self.pending, id));
    }

    /// Failed for good: moved to the dead letters.
    pub fn dead(&self, e: &Entry) -> std::io::Result<()> {
        write_synced(&Outbox::file(&self.dead, &e.notification.id), e)?;
        self.done(&e.notification.id);
        self.trim();
        Ok(())
    }

    /// Pending notifications, as on disk now.
    pub fn pending(&self) -> Vec<Entry> {
        read_all(&self.pending)
    }

    /// Dead letters, newest first.
    pub fn dead_letters(&self) -> Vec<Entry> {
        let mut all = read_all(&self.dead);
        all.sort_by_key(|e| std::cmp::Reverse(e.failed_at.unwrap_or(0)));
        all
    }

    fn trim(&self) {
        let all = self.dead_letters();
        for e in all.iter().skip(MAX_DEAD) {
            let _ = std::fs::remove_file(Outbox::file(&self.dead, &e.notification.id));
        }
    }
}

fn read_all(dir: &Path) -> Vec<Entry> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
        .collect()
}

/// Written aside, synced, renamed into place: a reader sees all of it or nothing.
fn write_synced(path: &Path, e: &Entry) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(e).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

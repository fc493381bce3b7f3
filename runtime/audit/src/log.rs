//! The log on disk: segment files of JSON lines (`segment-<first seq>.log`, each line the
//! canonical entry and its chain hash), and `checkpoints.log` (signed tree heads). Appends
//! are buffered and flushed per batch, synced at each checkpoint; a torn last line (a crash in
//! the middle of an append) is cut off when the log opens, and the cut is itself recorded.

use crate::entry::Entry;
use crate::merkle::{self, Hash};
use crate::{Checkpoint, Keys, chain};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why the log cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("audit log {path}: {why}")]
    Io { path: String, why: String },
    #[error("audit log {path}: line {line} is not an entry ({why}); run `vigil audit verify`")]
    Corrupt {
        path: String,
        line: usize,
        why: String,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> LogError + '_ {
    move |e| LogError::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

/// One line as stored.
#[derive(serde::Deserialize)]
pub struct Line {
    pub entry: Entry,
    pub hash: String,
}

/// The segment files of `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("segment-") && n.ends_with(".log"))
                })
                .collect()
        })
        .unwrap_or_default();
    all.sort();
    all
}

/// An open log, appending.
pub struct AuditLog {
    dir: PathBuf,
    keys: Keys,
    out: BufWriter<File>,
    segment: PathBuf,
    segment_len: u64,
    segment_max: u64,
    seq: u64,
    head: Hash,
    /// The Merkle tree's right edge: perfect subtrees, largest first (enough for its root).
    frontier: Vec<(u64, Hash)>,
    since_checkpoint: u64,
    /// Entries between automatic checkpoints.
    pub checkpoint_every: u64,
}

impl AuditLog {
    /// Opens (creating) the log in `dir`, reading it to its end to continue the chain and the
    /// tree. A torn last line is cut off, and a `recovery` entry says so.
    pub fn open(dir: &Path, keys: Keys, segment_max: u64) -> Result<AuditLog, LogError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let segs = segments(dir);
        // After retention, the chain and the tree continue from what it removed.
        let start = crate::retention::read(dir).map_err(|why| LogError::Io {
            path: dir.display().to_string(),
            why,
        })?;
        let (mut seq, mut head, mut frontier) =
            start.as_ref().and_then(|r| r.start()).unwrap_or_default();
        let mut cut = None;
        for (i, path) in segs.iter().enumerate() {
            let f = File::open(path).map_err(io(path))?;
            let mut r = BufReader::new(f);
            let mut offset = 0u64;
            let mut line = String::new();
            let mut n = 0;
            loop {
                line.clear();
                let got = r.read_line(&mut line).map_err(io(path))?;
                if got == 0 {
                    break;
                }
                n += 1;
                let complete = line.ends_with('\n');
                match serde_json::from_str::<Line>(line.trim_end()) {
                    Ok(l) if complete => {
                        seq = l.entry.seq;
                        head = merkle::unhex(&l.hash).unwrap_or(head);
                        push_leaf(&mut frontier, merkle::leaf(&l.entry.canonical()));
                        offset += got as u64;
                    }
                    // The last line of the newest segment, cut short by a crash.
                    _ if i + 1 == segs.len() && !complete => {
                        cut = Some((path.clone(), offset, got));
                        break;
                    }
                    Ok(_) | Err(_) => {
                        return Err(LogError::Corrupt {
                            path: path.display().to_string(),
                            line: n,
                            why: "it does not parse".into(),
                        });
                    }
                }
            }
        }
        if let Some((path, offset, _)) = &cut {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io(path))?;
            f.set_len(*offset).map_err(io(path))?;
            f.sync_all().map_err(io(path))?;
        }
        let segment = match segs.last() {
            Some(p) => p.clone(),
            None => dir.join(format!("segment-{:012}.log", seq + 1)),
        };
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&segment)
            .map_err(io(&segment))?;
        let segment_len = f.seek(SeekFrom::End(0)).map_err(io(&segment))?;
        let mut log = AuditLog {
            dir: dir.to_path_buf(),
            keys,
            out: BufWriter::new(f),
            segment,
            segment_len,
            segment_max,
            seq,
            head,
            frontier,
            since_checkpoint: 0,
            checkpoint_every: 10_000,
        };
        if let Some((path, offset, bytes)) = cut {
            log.append(
                0,
                "recovery",
                serde_json::json!({
                    "segment": path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
                    "cut_at": offset,
                    "bytes_cut": bytes,
                    "why": "an append was cut short (a crash): the incomplete entry was removed",
                }),
            )?;
            log.flush()?;
        }
        Ok(log)
    }

    /// Deletes the segments older than `before` (all but the one being written), leaving a
    /// signed record (`retention`); records what went as an entry. How many entries went.
    pub fn retain(&mut self, before: i64, now: i64) -> Result<u64, LogError> {
        self.flush()?;
        let n = crate::retention::apply(&self.dir, &self.keys, before, now).map_err(|why| {
            LogError::Io {
                path: self.dir.display().to_string(),
                why,
            }
        })?;
        if n > 0 {
            self.append(
                now,
                "retention",
                serde_json::json!({"entries_deleted": n, "before": before}),
            )?;
        }
        Ok(n)
    }

    /// The last entry's position (0 when empty).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Appends an entry (buffered: [`AuditLog::flush`] after a batch); its position.
    pub fn append(
        &mut self,
        ts: i64,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<u64, LogError> {
        let entry = Entry {
            seq: self.seq + 1,
            ts,
            kind: kind.to_string(),
            data,
        };
        let bytes = entry.canonical();
        let hash = chain(&self.keys, &self.head, &bytes);
        if self.segment_len > 0 && self.segment_len >= self.segment_max {
            self.rotate(entry.seq)?;
        }
        let mut line = Vec::with_capacity(bytes.len() + 90);
        line.extend_from_slice(b"{\"entry\":");
        line.extend_from_slice(&bytes);
        line.extend_from_slice(b",\"hash\":\"");
        line.extend_from_slice(merkle::hex(&hash).as_bytes());
        line.extend_from_slice(b"\"}\n");
        self.out.write_all(&line).map_err(io(&self.segment))?;
        self.segment_len += line.len() as u64;
        self.seq = entry.seq;
        self.head = hash;
        push_leaf(&mut self.frontier, merkle::leaf(&bytes));
        self.since_checkpoint += 1;
        if self.since_checkpoint >= self.checkpoint_every {
            self.checkpoint(ts)?;
        }
        Ok(self.seq)
    }

    fn rotate(&mut self, first: u64) -> Result<(), LogError> {
        self.out.flush().map_err(io(&self.segment))?;
        self.out.get_ref().sync_all().map_err(io(&self.segment))?;
        self.segment = self.dir.join(format!("segment-{first:012}.log"));
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.segment)
            .map_err(io(&self.segment))?;
        self.out = BufWriter::new(f);
        self.segment_len = 0;
        Ok(())
    }

    /// Writes what is buffered (the OS has it; [`AuditLog::checkpoint`] syncs).
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.out.flush().map_err(io(&self.segment))
    }

    /// Syncs the log and appends a signed checkpoint of the tree as it is now.
    pub fn checkpoint(&mut self, ts: i64) -> Result<Option<Checkpoint>, LogError> {
        self.since_checkpoint = 0;
        if self.seq == 0 {
            return Ok(None);
        }
        self.out.flush().map_err(io(&self.segment))?;
        self.out.get_ref().sync_all().map_err(io(&self.segment))?;
        let cp = Checkpoint::sign(&self.keys, self.seq, root_of(&self.frontier), self.head, ts);
        let path = self.dir.join("checkpoints.log");
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let mut line = serde_json::to_vec(&cp).map_err(|e| LogError::Io {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        line.push(b'\n');
        f.write_all(&line).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        Ok(Some(cp))
    }
}

/// Adds a leaf to the right edge, merging equal subtrees.
pub fn push_leaf(frontier: &mut Vec<(u64, Hash)>, h: Hash) {
    frontier.push((1, h));
    while frontier.len() > 1 {
        let n = frontier.len();
        if frontier[n - 1].0 != frontier[n - 2].0 {
            break;
        }
        let (size, r) = frontier.pop().unwrap_or((0, [0; 32]));
        let (_, l) = frontier.pop().unwrap_or((0, [0; 32]));
        frontier.push((size * 2, merkle::node(&l, &r)));
    }
}

/// The tree head of the right edge (equal to [`merkle::root`] of all the leaves).
pub fn root_of(frontier: &[(u64, Hash)]) -> Hash {
    let mut it = frontier.iter().rev();
    let Some((_, mut r)) = it.next().copied() else {
        return merkle::root(&[]);
    };
    for (_, l) in it {
        r = merkle::node(l, &r);
    }
    r
}

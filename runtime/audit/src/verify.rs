//! Reading a log back: every entry's chain hash recomputed, positions checked, every
//! checkpoint's signature and tree head compared. Any change is named by its position and
//! kind: `modified` (an entry's bytes or hash), `deleted` (positions missing), `inserted` (a
//! position given twice), `reordered` (positions out of order), `malformed` (a line that is
//! not an entry), `rewritten` (a chain recomputed after a change: the signed tree head no
//! longer matches). A torn last line (a crash in an append) is not a change: the log verifies
//! up to the last complete entry.

use crate::log::{Line, push_leaf, root_of, segments};
use crate::merkle::{self, Hash, hex};
use crate::{Checkpoint, chain_with};
use serde::Serialize;
use std::io::BufRead;
use std::path::Path;

/// One thing wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The entry's position (its `seq`, or the one expected there).
    pub position: u64,
    pub kind: &'static str,
    pub detail: String,
}

/// What verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub entries: u64,
    pub checkpoints: usize,
    /// Checkpoints whose signature and tree head held.
    pub checkpoints_verified: usize,
    /// Checkpoints of entries retention removed (checked before they went).
    pub checkpoints_removed: usize,
    /// Bytes of an incomplete last line (a torn append), not counted as a problem.
    pub torn_bytes: u64,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Every entry of the log in `dir`, in file order, with its stored hash (unparsable lines as
/// errors with their segment and line), and the torn tail's size.
pub fn read(dir: &Path) -> Result<(Vec<Result<Line, String>>, u64), String> {
    let segs = segments(dir);
    let mut out = Vec::new();
    let mut torn = 0;
    for (si, path) in segs.iter().enumerate() {
        let (lines, t) = read_segment(path)?;
        out.extend(lines);
        if t > 0 {
            if si + 1 == segs.len() {
                torn = t;
            } else {
                let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
                out.push(Err(format!("{name}: its last line is cut short")));
            }
        }
    }
    Ok((out, torn))
}

/// One segment's entries, and the size of an incomplete last line.
pub fn read_segment(path: &Path) -> Result<(Vec<Result<Line, String>>, u64), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = std::io::BufReader::new(f);
    let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
    let (mut out, mut line, mut n) = (Vec::new(), String::new(), 0);
    loop {
        line.clear();
        let got = r
            .read_line(&mut line)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if got == 0 {
            return Ok((out, 0));
        }
        n += 1;
        if !line.ends_with('\n') {
            return Ok((out, got as u64));
        }
        out.push(
            serde_json::from_str::<Line>(line.trim_end())
                .map_err(|e| format!("{name} line {n}: {e}")),
        );
    }
}

/// The signed checkpoints of the log in `dir`, oldest first (unreadable lines as errors).
pub fn checkpoints(dir: &Path) -> Vec<Result<Checkpoint, String>> {
    let Ok(text) = std::fs::read_to_string(dir.join("checkpoints.log")) else {
        return Vec::new();
    };
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("checkpoints.log line {}: {e}", i + 1))
        })
        .collect()
}

/// Verifies the log in `dir`. `public` pins the checkpoints' signing key (hex); without it
/// each checkpoint is checked against the key it names (which proves nothing against someone
/// who could also rewrite the checkpoints: pass the key). `hmac` is the chain key, when the
/// log was written with one.
pub fn verify(dir: &Path, public: Option<&str>, hmac: Option<&[u8]>) -> Result<Report, String> {
    let mut report = Report::default();
    let cps: Vec<Result<Checkpoint, String>> = checkpoints(dir);
    report.checkpoints = cps.len();
    let mut due: Vec<&Checkpoint> = Vec::new();
    for c in &cps {
        match c {
            Ok(c) => {
                let key = public.unwrap_or(&c.key);
                if !c.verify_signature(key) {
                    report.problems.push(Problem {
                        position: c.size,
                        kind: "rewritten",
                        detail: format!(
                            "the checkpoint of {} entries at {} is not signed by {key}",
                            c.size, c.ts
                        ),
                    });
                } else {
                    due.push(c);
                }
            }
            Err(e) => report.problems.push(Problem {
                position: 0,
                kind: "malformed",
                detail: e.clone(),
            }),
        }
    }
    // After retention, the chain and the tree continue from its signed record; checkpoints
    // of the removed part cannot be checked again (they were, before it went).
    let retained = crate::retention::read(dir)?;
    let (start, mut prev, mut frontier) = match &retained {
        Some(r) => {
            let key = public.unwrap_or(&r.key);
            if !r.verify_signature(key) {
                report.problems.push(Problem {
                    position: r.first_seq,
                    kind: "rewritten",
                    detail: format!("retention.json is not signed by {key}"),
                });
            }
            r.start().ok_or("retention.json is damaged")?
        }
        None => (0, [0u8; 32], Vec::new()),
    };
    let signed = due.len();
    due.retain(|c| c.size > start);
    report.checkpoints_removed = signed - due.len();
    due.sort_by_key(|c| c.size);
    let mut due = due.into_iter().peekable();
    let mut expected = start + 1;
    let mut seen = std::collections::HashSet::new();
    let mut leaves = start;
    let mut lines = Raw::open(dir)?;
    let mut next = lines.next();
    let mut i = 0usize;
    while let Some(item) = next.take() {
        next = lines.next();
        i += 1;
        let (bytes, stored, seq) = match item {
            Ok(x) => x,
            Err(e) => {
                report.problems.push(Problem {
                    position: expected,
                    kind: "malformed",
                    detail: e,
                });
                continue;
            }
        };
        if seq == expected {
            if chain_with(hmac, &prev, &bytes) != stored {
                report.problems.push(Problem {
                    position: seq,
                    kind: "modified",
                    detail: format!("entry {seq} does not hash to its chain value"),
                });
            }
        } else if seq < expected {
            let kind = if seen.contains(&seq) {
                "inserted"
            } else {
                "reordered"
            };
            // Reported where it was found: a flipped digit makes an entry claim any
            // earlier number.
            report.problems.push(Problem {
                position: expected,
                kind,
                detail: format!("entry {seq} appears where {expected} belongs (line {i})"),
            });
            continue;
        } else {
            // A swap shows as the next position first, then the one skipped.
            let swapped = matches!(&next, Some(Ok((_, _, n))) if *n == expected);
            report.problems.push(if swapped {
                Problem {
                    position: expected,
                    kind: "reordered",
                    detail: format!("entries {expected} and {seq} are out of order"),
                }
            } else {
                Problem {
                    position: expected,
                    kind: "deleted",
                    detail: if seq == expected + 1 {
                        format!("entry {expected} is missing")
                    } else {
                        format!("entries {expected} to {} are missing", seq - 1)
                    },
                }
            });
        }
        seen.insert(seq);
        prev = stored;
        expected = seq + 1;
        push_leaf(&mut frontier, merkle::leaf(&bytes));
        leaves += 1;
        report.entries = leaves - start;
        while let Some(c) = due.peek() {
            if c.size > leaves {
                break;
            }
            if c.size == leaves {
                if hex(&root_of(&frontier)) == c.root && hex(&stored) == c.head {
                    report.checkpoints_verified += 1;
                } else {
                    report.problems.push(Problem {
                        position: c.size,
                        kind: "rewritten",
                        detail: format!(
                            "the first {} entries are not those the checkpoint signed at {}",
                            c.size, c.ts
                        ),
                    });
                }
            }
            due.next();
        }
    }
    report.torn_bytes = lines.torn;
    for c in due {
        report.problems.push(Problem {
            position: c.size,
            kind: "deleted",
            detail: format!(
                "a checkpoint covers {} entries, the log holds {}",
                c.size, leaves
            ),
        });
    }
    Ok(report)
}

/// The log's lines as stored, read without building a JSON tree: the entry's bytes (what was
/// hashed), the stored hash and the position, or why a line is not an entry.
struct Raw {
    segs: Vec<std::path::PathBuf>,
    at: usize,
    reader: Option<std::io::BufReader<std::fs::File>>,
    name: String,
    line: usize,
    buf: Vec<u8>,
    torn: u64,
}

type RawLine = Result<(Vec<u8>, Hash, u64), String>;

impl Raw {
    fn open(dir: &Path) -> Result<Raw, String> {
        Ok(Raw {
            segs: segments(dir),
            at: 0,
            reader: None,
            name: String::new(),
            line: 0,
            buf: Vec::with_capacity(512),
            torn: 0,
        })
    }

    fn next(&mut self) -> Option<RawLine> {
        loop {
            if self.reader.is_none() {
                let path = self.segs.get(self.at)?.clone();
                self.at += 1;
                self.name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string();
                self.line = 0;
                match std::fs::File::open(&path) {
                    Ok(f) => self.reader = Some(std::io::BufReader::with_capacity(1 << 20, f)),
                    Err(e) => return Some(Err(format!("{}: {e}", path.display()))),
                }
            }
            let r = self.reader.as_mut()?;
            self.buf.clear();
            let got = match r.read_until(b'\n', &mut self.buf) {
                Ok(n) => n,
                Err(e) => return Some(Err(format!("{}: {e}", self.name))),
            };
            if got == 0 {
                self.reader = None;
                continue;
            }
            self.line += 1;
            if self.buf.last() != Some(&b'\n') {
                if self.at == self.segs.len() {
                    self.torn = got as u64;
                    return None;
                }
                return Some(Err(format!("{} line {}: cut short", self.name, self.line)));
            }
            let l = &self.buf[..self.buf.len() - 1];
            return Some(
                split(l).ok_or_else(|| format!("{} line {}: not an entry", self.name, self.line)),
            );
        }
    }
}

/// `{"entry":ENTRY,"hash":"HEX"}`: the entry's bytes, the hash, and the entry's `seq` (its
/// canonical form ends `"seq":N,"ts":N}`).
fn split(l: &[u8]) -> Option<(Vec<u8>, Hash, u64)> {
    const HEAD: &[u8] = b"{\"entry\":";
    const TAIL: usize = b",\"hash\":\"".len() + 64 + 2;
    if !l.starts_with(HEAD) || l.len() < HEAD.len() + TAIL || !l.ends_with(b"\"}") {
        return None;
    }
    let entry = &l[HEAD.len()..l.len() - TAIL];
    let tail = &l[l.len() - TAIL..];
    if !tail.starts_with(b",\"hash\":\"") {
        return None;
    }
    let hash = merkle::unhex(std::str::from_utf8(&tail[9..73]).ok()?)?;
    let text = std::str::from_utf8(entry).ok()?;
    let at = text.rfind(",\"seq\":")?;
    let rest = &text[at + 7..];
    let seq = rest[..rest.find(',')?].parse().ok()?;
    Some((entry.to_vec(), hash, seq))
}

/// The inclusion proof of entry `seq` against the newest checkpoint covering it: the entry,
/// the checkpoint and the audit path (hex), which `merkle::verify_inclusion` checks offline.
pub fn prove(dir: &Path, seq: u64) -> Result<serde_json::Value, String> {
    if let Some(r) = crate::retention::read(dir)? {
        return Err(format!(
            "entries before {} were removed by retention; proofs over a log cut by retention are not built yet",
            r.first_seq
        ));
    }
    let (lines, _) = read(dir)?;
    let entries: Vec<&Line> = lines.iter().filter_map(|l| l.as_ref().ok()).collect();
    let cp = checkpoints(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|c| c.size >= seq)
        .max_by_key(|c| c.size)
        .ok_or_else(|| format!("no checkpoint covers entry {seq} yet"))?;
    let leaves: Vec<Hash> = entries
        .iter()
        .take(cp.size as usize)
        .map(|l| merkle::leaf(&l.entry.canonical()))
        .collect();
    let index = entries
        .iter()
        .position(|l| l.entry.seq == seq)
        .ok_or_else(|| format!("no entry {seq}"))?;
    let path = merkle::inclusion_proof(index, &leaves);
    Ok(serde_json::json!({
        "entry": entries[index].entry,
        "leaf_index": index,
        "tree_size": cp.size,
        "leaf_hash": hex(&leaves[index]),
        "audit_path": path.iter().map(|h| hex(h)).collect::<Vec<_>>(),
        "checkpoint": cp,
    }))
}

/// The consistency proof between the checkpoints of `m` and `n` entries (the newest of each
/// size): the older signed tree is a prefix of the newer, checkable offline with
/// `merkle::verify_consistency` and the two signatures.
pub fn consistency(dir: &Path, m: u64, n: u64) -> Result<serde_json::Value, String> {
    if let Some(r) = crate::retention::read(dir)? {
        return Err(format!(
            "entries before {} were removed by retention; proofs over a log cut by retention are not built yet",
            r.first_seq
        ));
    }
    let cps: Vec<Checkpoint> = checkpoints(dir)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    let find = |size: u64| {
        cps.iter()
            .rev()
            .find(|c| c.size == size)
            .cloned()
            .ok_or_else(|| format!("no checkpoint of {size} entries"))
    };
    let (old, new) = (find(m)?, find(n)?);
    if m > n {
        return Err("the first checkpoint must be the smaller".into());
    }
    let (lines, _) = read(dir)?;
    let leaves: Vec<Hash> = lines
        .iter()
        .filter_map(|l| l.as_ref().ok())
        .take(n as usize)
        .map(|l| merkle::leaf(&l.entry.canonical()))
        .collect();
    if (leaves.len() as u64) < n {
        return Err(format!(
            "the log holds {} entries, fewer than {n}",
            leaves.len()
        ));
    }
    let proof = merkle::consistency_proof(m as usize, &leaves);
    Ok(serde_json::json!({
        "first": old,
        "second": new,
        "proof": proof.iter().map(|h| hex(h)).collect::<Vec<_>>(),
    }))
}

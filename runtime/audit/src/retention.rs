//! Retention by age: whole segments whose newest entry is older than the retention are
//! deleted, oldest first, never the one being written. What they held is summed up in
//! `retention.json`, signed like a checkpoint: the position the log now starts at, the chain
//! hash before it and the Merkle tree's right edge there, so the rest still verifies (its
//! chain continues from that hash, later checkpoints' tree heads from that edge).

use crate::log::{push_leaf, segments};
use crate::merkle::{self, Hash, hex, unhex};
use crate::{Keys, verify};
use ed25519_dalek::{Signer, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where a log continues: the last position before it, that entry's chain hash, and the
/// Merkle right edge over the entries up to it.
pub type Start = (u64, Hash, Vec<(u64, Hash)>);

/// What retention removed, signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retained {
    /// The first entry still held.
    pub first_seq: u64,
    /// The chain hash of the last entry removed.
    pub head: String,
    /// The Merkle right edge over the removed entries: (subtree size, hash), largest first.
    pub frontier: Vec<(u64, String)>,
    /// The newest removed entry's time.
    pub until_ts: i64,
    pub ts: i64,
    pub key: String,
    pub sig: String,
}

impl Retained {
    fn message(&self) -> Vec<u8> {
        let f: Vec<String> = self
            .frontier
            .iter()
            .map(|(n, h)| format!("{n}:{h}"))
            .collect();
        format!(
            "vigil-audit-retention\nfirst {}\nhead {}\nfrontier {}\nuntil {}\nts {}\n",
            self.first_seq,
            self.head,
            f.join(","),
            self.until_ts,
            self.ts
        )
        .into_bytes()
    }

    /// The signature holds for `public` (hex).
    pub fn verify_signature(&self, public: &str) -> bool {
        let Some(pk) = unhex(public).and_then(|b| VerifyingKey::from_bytes(&b).ok()) else {
            return false;
        };
        let Some(sig) = crate::sig_bytes(&self.sig) else {
            return false;
        };
        pk.verify(&self.message(), &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }

    /// The position, chain hash and right edge the remaining log continues from.
    pub fn start(&self) -> Option<Start> {
        let frontier = self
            .frontier
            .iter()
            .map(|(n, h)| Some((*n, unhex(h)?)))
            .collect::<Option<Vec<_>>>()?;
        Some((self.first_seq - 1, unhex(&self.head)?, frontier))
    }
}

/// The retention record of `dir`, if retention ever deleted anything.
pub fn read(dir: &Path) -> Result<Option<Retained>, String> {
    match std::fs::read(dir.join("retention.json")) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("retention.json: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("retention.json: {e}")),
    }
}

/// Deletes the segments (all but the newest) whose entries are all older than `before`
/// (epoch ms); returns how many entries went. The record is written (synced) before any file
/// is deleted, so a crash between leaves extra segments, never a gap.
pub fn apply(dir: &Path, keys: &Keys, before: i64, now: i64) -> Result<u64, String> {
    let segs = segments(dir);
    let prior = read(dir)?;
    let (mut seq, mut head, mut frontier) = match &prior {
        Some(r) => r.start().ok_or("retention.json is damaged")?,
        None => (0, [0u8; 32], Vec::new()),
    };
    let mut doomed = Vec::new();
    let mut until = 0;
    for path in segs.iter().take(segs.len().saturating_sub(1)) {
        let (lines, torn) = verify::read_segment(path)?;
        if torn > 0 {
            break;
        }
        let Some(last) = lines.last().and_then(|l| l.as_ref().ok()) else {
            break;
        };
        if last.entry.ts >= before {
            break;
        }
        for l in &lines {
            let l = l
                .as_ref()
                .map_err(|e| format!("retention stops at a damaged entry: {e}"))?;
            seq = l.entry.seq;
            head = unhex(&l.hash).ok_or("retention stops at a damaged hash")?;
            push_leaf(&mut frontier, merkle::leaf(&l.entry.canonical()));
            until = until.max(l.entry.ts);
        }
        doomed.push(path.clone());
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    let removed = seq - prior.as_ref().map_or(0, |r| r.first_seq - 1);
    let mut rec = Retained {
        first_seq: seq + 1,
        head: hex(&head),
        frontier: frontier.iter().map(|(n, h)| (*n, hex(h))).collect(),
        until_ts: until,
        ts: now,
        key: keys.public_hex(),
        sig: String::new(),
    };
    rec.sig = hex(&keys.signing.sign(&rec.message()).to_bytes());
    let tmp = dir.join("retention.json.tmp");
    let bytes = serde_json::to_vec(&rec).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, bytes).map_err(|e| format!("retention.json: {e}"))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("retention.json: {e}"))?;
    std::fs::rename(&tmp, dir.join("retention.json"))
        .map_err(|e| format!("retention.json: {e}"))?;
    for p in doomed {
        std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(removed)
}

//! The daemon's audit log (`vigil-audit`, in `DATA/audit/`): alert changes, notification
//! outcomes, silences, acknowledgements, reloads and the applications' own events from
//! `POST /api/v1/audit`, chained and checkpointed. The signing key comes from the environment
//! variable `audit.signing_key_env` names; without it a key is made once and kept in
//! `DATA/audit/signing.key` (mode 0600), its public half in `signing.pub`.

use crate::config::AuditConfig;
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vigil_audit::{AuditLog, Keys};

pub struct Audit {
    log: Mutex<AuditLog>,
    /// The checkpoints' public key, hex (what `vigil audit verify --key` takes).
    pub public: String,
    /// A write failed (said once in the log, not per entry).
    failed: AtomicBool,
    checkpoint_every: Duration,
}

fn keys(dir: &Path, c: &AuditConfig) -> Result<Keys, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let hmac = env(&c.hmac_key_env).map(String::into_bytes);
    if let Some(seed) = env(&c.signing_key_env) {
        return Keys::from_seed_hex(&seed, hmac).ok_or_else(|| {
            format!(
                "{} is not an Ed25519 seed (64 hex digits)",
                c.signing_key_env
            )
        });
    }
    let file = dir.join("signing.key");
    match std::fs::read_to_string(&file) {
        Ok(seed) => Keys::from_seed_hex(&seed, hmac)
            .ok_or_else(|| format!("{}: not an Ed25519 seed", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let k = Keys::generate(hmac);
            write_private(&file, &k.seed_hex()).map_err(|e| format!("{}: {e}", file.display()))?;
            std::fs::write(dir.join("signing.pub"), k.public_hex() + "\n")
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            Ok(k)
        }
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

impl Audit {
    pub fn open(data_dir: &Path, c: &AuditConfig) -> Result<Audit, String> {
        let dir = data_dir.join("audit");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let keys = keys(&dir, c)?;
        let public = keys.public_hex();
        let mut log = AuditLog::open(&dir, keys, c.segment_bytes).map_err(|e| e.to_string())?;
        log.checkpoint_every = c.checkpoint_entries.max(1);
        let every = vigil_vocab::duration::parse_ms(&c.checkpoint_interval).ok_or_else(|| {
            format!(
                "audit.checkpoint_interval `{}` is not a duration",
                c.checkpoint_interval
            )
        })?;
        Ok(Audit {
            log: Mutex::new(log),
            public,
            failed: AtomicBool::new(false),
            checkpoint_every: Duration::from_millis(every.max(1) as u64),
        })
    }

    /// Appends one entry (buffered; flushed within a second, synced at checkpoints).
    pub fn record(&self, ts: i64, kind: &str, data: Value) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = log.append(ts, kind, data)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            crate::log::error(&format!("audit log: {e}; entries are being lost"));
        }
    }

    fn with(&self, f: impl FnOnce(&mut AuditLog) -> Result<(), vigil_audit::LogError>) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f(&mut log)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            crate::log::error(&format!("audit log: {e}"));
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&self) {
        self.with(|l| l.flush());
    }

    /// Syncs and signs a checkpoint (on the timer, and on shutdown).
    pub fn checkpoint(&self, now: i64) {
        self.with(|l| l.checkpoint(now).map(|_| ()));
    }

    /// Flushes every second and checkpoints every `audit.checkpoint_interval`.
    pub async fn run(self: std::sync::Arc<Self>) {
        let mut last = std::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if last.elapsed() >= self.checkpoint_every {
                self.checkpoint(crate::worker::now_ms());
                last = std::time::Instant::now();
            } else {
                self.flush();
            }
        }
    }
}

//! `vigil.toml`: the daemon's settings. Every field has a default, so an empty file (or none)
//! runs; unknown keys are refused with their name, so a typo is not silently ignored.
//! Secrets are never here: the file names environment variables that hold them.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; loopback unless the operator says otherwise.
    pub listen: String,
    /// Write-ahead log, checkpoints.
    pub data_dir: PathBuf,
    /// Rule files or folders (empty: the caller's default, the shipped packs).
    pub rules: Vec<PathBuf>,
    /// Default evaluation interval (a rule's own `interval` wins).
    pub interval: Option<String>,
    /// How long after an evaluation time samples for it may still arrive (events wait as long
    /// for the watermark).
    pub lateness: String,
    /// A record dated further ahead of the daemon's clock than this is refused.
    pub max_future: String,
    /// How often the engine state is checkpointed (the log after it is replayed on restart).
    pub checkpoint_every: String,
    /// How often the wall clock moves the engine when no data arrives.
    pub tick: String,
    pub api: Api,
    pub limits: Limits,
    pub wal: WalSettings,
    /// Recorded data played into the daemon (the quickstart's demo source).
    pub demo: Option<Demo>,
    /// Prometheus exposition targets read on an interval.
    pub scrape: Vec<crate::scrape::ScrapeConfig>,
    /// The machine the daemon runs on, as series.
    pub host: crate::host::HostConfig,
    /// Components checked over HTTP or TCP on an interval.
    pub probe: Vec<crate::host::ProbeConfig>,
    /// Syslog listeners (UDP or TCP).
    pub syslog: Vec<crate::syslog::SyslogConfig>,
    /// Files followed as they grow.
    pub file: Vec<crate::files::FileConfig>,
    /// Read standard input to its end (`vigil run --stdin`).
    pub stdin: bool,
    /// Reload when a rules file changes.
    pub watch_rules: bool,
    /// `human` or `json` log lines on stderr.
    pub log_format: String,
    /// Rules' recent condition values, for the API's charts.
    pub history: crate::history::HistoryConfig,
    /// Notifications: where they may go, retries, silences' reminders.
    pub notify: NotifyConfig,
    /// The tamper-evident audit log.
    pub audit: AuditConfig,
    /// Playbook runs.
    pub playbooks: PlaybooksConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlaybooksConfig {
    /// Shell commands a `step shell` may run, each exactly as rendered; any other is skipped.
    pub allow_shell: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    pub enabled: bool,
    /// A signed checkpoint after this many entries ...
    pub checkpoint_entries: u64,
    /// ... and at least this often (and on shutdown).
    pub checkpoint_interval: String,
    pub segment_bytes: u64,
    /// Environment variable holding the Ed25519 signing key (64 hex digits); unset: a key
    /// kept in `DATA/audit/signing.key`.
    pub signing_key_env: String,
    /// Environment variable holding a key that makes the chain HMAC-SHA-256.
    pub hmac_key_env: String,
    /// Segments whose entries are all older are deleted (a signed record keeps the rest
    /// verifiable); checked at start and hourly. Default seven years.
    pub retention: String,
    /// What is recorded, per category (`[[audit.filter]]`); a category without a filter is
    /// recorded whole.
    pub filter: Vec<AuditFilter>,
}

/// `[[audit.filter]]`: entries of `category` are recorded when they pass one of its filters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditFilter {
    /// `alert`, `notification`, `silence`, `ack`, `reload`, `app`.
    pub category: String,
    /// Alerts (and applications' events with a `severity`) at least this severe.
    pub min_severity: Option<String>,
    /// Only these actions: an alert's state, a notification's result, a silence's action, an
    /// application event's `event_type`.
    pub actions: Vec<String>,
    /// Only these resources: an alert's rule, a notification's notifier, an application
    /// event's `project_name` (a trailing `*` matches any rest).
    pub resources: Vec<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            checkpoint_entries: 10_000,
            checkpoint_interval: "1m".into(),
            segment_bytes: 64 << 20,
            signing_key_env: "VIGIL_AUDIT_SIGNING_KEY".into(),
            hmac_key_env: "VIGIL_AUDIT_HMAC_KEY".into(),
            retention: "2557d".into(),
            filter: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Destinations on loopback, private or link-local addresses are refused unless allowed.
    pub allow_loopback: bool,
    pub allow_private: bool,
    pub allow_link_local: bool,
    /// This daemon's address as people reach it (links in notifications).
    pub external_url: String,
    /// Retry delays: the first (before jitter) and the longest.
    pub backoff_base: String,
    pub backoff_cap: String,
    /// Attempts for a notifier that does not set `retries` (the first one included).
    pub attempts: u32,
    /// Notifications being sent at once.
    pub concurrency: usize,
    /// An alert posted to `/api/v2/alerts` without `endsAt` resolves this long after its last
    /// post.
    pub resolve_timeout: String,
    /// A silence's owner is reminded this long before it ends ...
    pub silence_remind_before: String,
    /// ... and when it has hidden a firing alert this long.
    pub silence_forgotten_after: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            allow_loopback: false,
            allow_private: false,
            allow_link_local: false,
            external_url: String::new(),
            backoff_base: "1s".into(),
            backoff_cap: "5m".into(),
            attempts: 12,
            concurrency: 16,
            resolve_timeout: "5m".into(),
            silence_remind_before: "1h".into(),
            silence_forgotten_after: "24h".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    /// JSON-lines files (samples and events, the `vigil replay` format).
    pub files: Vec<PathBuf>,
    /// How many times faster than recorded (an hour at 60 plays in a minute).
    #[serde(default = "Demo::default_speed")]
    pub speed: f64,
}

impl Demo {
    fn default_speed() -> f64 {
        60.0
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Api {
    /// Environment variable holding the bearer token of state-changing routes. Unset: those
    /// routes refuse every request.
    pub token_env: String,
    /// Environment variable holding a separate token for ingest routes. Unset: ingest is open
    /// (the daemon listens on loopback by default).
    pub ingest_token_env: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Request body as sent (compressed), bytes.
    pub max_body_bytes: usize,
    /// Request body once decompressed, bytes (a compression bomb stops here).
    pub max_decoded_bytes: usize,
    pub max_lines: usize,
    pub max_line_bytes: usize,
    /// Batches waiting for the engine; past it, ingest answers 429.
    pub queue: usize,
    /// Series per selector and keys per event rule.
    pub max_series: usize,
    pub max_keys: usize,
    /// Labels of one sample.
    pub max_labels: usize,
    /// Records per second each source may send (0: no limit); past it, 429 with Retry-After.
    pub max_records_per_second: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalSettings {
    /// Off: inputs are not logged (a crash loses what came after the last checkpoint).
    pub enabled: bool,
    /// Off: appends are not synced (an OS crash may lose acknowledged input; a process crash
    /// does not).
    pub sync: bool,
    pub segment_bytes: u64,
    /// Prepare each segment as zeros ahead of use, so a sync writes data without growing the
    /// file (cheaper on ext4 and XFS; no gain on copy-on-write filesystems such as btrfs).
    pub preallocate: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9097".into(),
            data_dir: PathBuf::from("vigil-data"),
            rules: Vec::new(),
            interval: None,
            lateness: "5s".into(),
            max_future: "5m".into(),
            checkpoint_every: "60s".into(),
            tick: "250ms".into(),
            api: Api::default(),
            limits: Limits::default(),
            wal: WalSettings::default(),
            demo: None,
            scrape: Vec::new(),
            host: crate::host::HostConfig::default(),
            probe: Vec::new(),
            syslog: Vec::new(),
            file: Vec::new(),
            stdin: false,
            watch_rules: true,
            log_format: "human".into(),
            history: Default::default(),
            notify: NotifyConfig::default(),
            audit: AuditConfig::default(),
            playbooks: PlaybooksConfig::default(),
        }
    }
}

impl Default for Api {
    fn default() -> Self {
        Api {
            token_env: "VIGIL_API_TOKEN".into(),
            ingest_token_env: "VIGIL_INGEST_TOKEN".into(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_decoded_bytes: 64 << 20,
            max_lines: 100_000,
            max_line_bytes: 1 << 20,
            queue: 256,
            max_series: 100_000,
            max_keys: 1_000_000,
            max_labels: 64,
            max_records_per_second: 0,
        }
    }
}

impl Default for WalSettings {
    fn default() -> Self {
        WalSettings {
            enabled: true,
            sync: true,
            segment_bytes: 64 << 20,
            preallocate: true,
        }
    }
}

/// A setting that does not make sense, named.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {why}")]
    Read { path: String, why: String },
    #[error("{path}: {why}")]
    Parse { path: String, why: String },
    #[error("`{key}` = `{value}` is not a duration (like 500ms, 15s, 1m)")]
    Duration { key: &'static str, value: String },
}

/// Durations in ms, checked once.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub interval: Option<i64>,
    pub lateness: i64,
    pub max_future: i64,
    pub checkpoint_every: i64,
    pub tick: i64,
    /// How long rules' condition values are kept (0: not kept).
    pub history_keep: i64,
}

impl Config {
    /// Reads `path` (TOML). Rule, demo and followed file paths are relative to the file's folder; the data
    /// directory, like any path on the command line, to the current one.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let mut c: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(std::path::Path::new(""));
        for p in &mut c.rules {
            *p = base.join(&*p);
        }
        for f in &mut c.file {
            f.path = base.join(&f.path);
        }
        if let Some(d) = &mut c.demo {
            for p in &mut d.files {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    pub fn times(&self) -> Result<Times, ConfigError> {
        let d = |key: &'static str, value: &str, zero_ok: bool| {
            let v = value.trim();
            if zero_ok && (v == "0" || v == "0s") {
                return Ok(0);
            }
            vigil_vocab::duration::parse_ms(v).ok_or(ConfigError::Duration {
                key,
                value: value.to_string(),
            })
        };
        Ok(Times {
            interval: match &self.interval {
                Some(s) => Some(d("interval", s, false)?),
                None => None,
            },
            lateness: d("lateness", &self.lateness, true)?,
            max_future: d("max_future", &self.max_future, false)?,
            checkpoint_every: d("checkpoint_every", &self.checkpoint_every, false)?,
            tick: d("tick", &self.tick, false)?,
            history_keep: d("history.keep", &self.history.keep, true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults_and_typos_are_named() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.listen, "127.0.0.1:9097");
        assert_eq!(c.times().unwrap().lateness, 5_000);
        let e = toml::from_str::<Config>("lateness = \"1s\"\n[limits]\nmax_bodybytes = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_bodybytes"), "{e}");
        let c: Config = toml::from_str("lateness = \"soon\"").unwrap();
        assert!(c.times().unwrap_err().to_string().contains("lateness"));
    }
}

//! Scraping Prometheus text-exposition targets (`[[scrape]]` in vigil.toml), as Prometheus
//! does: every `interval` each target's page is read with a timeout, its samples are stamped
//! with the scrape's start time and labelled `job` and `instance` (a target's own `job` or
//! `instance` label becomes `exported_job`/`exported_instance`), and `up`,
//! `scrape_duration_seconds` and `scrape_samples_scraped` are written for every attempt. A
//! series that disappears from the page, or every series of a target that fails, gets a
//! staleness marker, so instant reads stop seeing it at once (Prometheus's staleness).

use crate::api::{AppState, accept};
use crate::worker::now_ms;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use vigil_ingest::{Context, Format, Record, parse_line_into};

/// One scrape job.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job: String,
    /// `host:port`, read over http.
    pub targets: Vec<String>,
    #[serde(default = "ScrapeConfig::default_interval")]
    pub interval: String,
    #[serde(default = "ScrapeConfig::default_timeout")]
    pub timeout: String,
    #[serde(default = "ScrapeConfig::default_path")]
    pub path: String,
}

impl ScrapeConfig {
    fn default_interval() -> String {
        "15s".into()
    }
    fn default_timeout() -> String {
        "10s".into()
    }
    fn default_path() -> String {
        "/metrics".into()
    }
}

/// Largest page read (bytes); a larger one fails the scrape.
const MAX_PAGE: usize = 64 << 20;

/// Starts one task per target of every job.
pub fn start(state: &Arc<AppState>, jobs: &[ScrapeConfig]) -> Result<(), String> {
    for job in jobs {
        let interval = vigil_vocab::duration::parse_ms(&job.interval).ok_or_else(|| {
            format!(
                "scrape job {}: interval `{}` is not a duration",
                job.job, job.interval
            )
        })?;
        let timeout = vigil_vocab::duration::parse_ms(&job.timeout)
            .ok_or_else(|| {
                format!(
                    "scrape job {}: timeout `{}` is not a duration",
                    job.job, job.timeout
                )
            })?
            .min(interval);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout as u64))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("scrape job {}: {e}", job.job))?;
        for target in &job.targets {
            let t = Target {
                job: job.job.clone(),
                instance: target.clone(),
                url: format!("http://{target}{}", job.path),
                client: client.clone(),
                seen: BTreeSet::new(),
            };
            let state = state.clone();
            tokio::spawn(t.run(state, Duration::from_millis(interval as u64)));
        }
    }
    Ok(())
}

struct Target {
    job: String,
    instance: String,
    url: String,
    client: reqwest::Client,
    /// The series of the last successful scrape, as `(metric, labels)`, for staleness.
    seen: BTreeSet<(String, Vec<(String, String)>)>,
}

impl Target {
    async fn run(mut self, state: Arc<AppState>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let text = self.scrape().await;
            if let Err(r) = accept(&state, text.as_bytes(), "scrape").await {
                crate::log::error(&format!(
                    "scrape {}: the engine did not take the samples ({})",
                    self.instance,
                    r.status()
                ));
            }
        }
    }

    /// One scrape: its samples, the synthetic series and the staleness markers, as lines.
    async fn scrape(&mut self) -> String {
        let start = now_ms();
        let page = self.fetch().await;
        let took = (now_ms() - start) as f64 / 1000.0;
        let mut out = String::new();
        let mut now_seen = BTreeSet::new();
        let ok = match &page {
            Ok(body) => {
                let mut cx = Context {
                    time: Some(start),
                    raw_events: false,
                    checked: false,
                    series_keys: None,
                };
                let mut recs = std::collections::VecDeque::new();
                for line in body.lines() {
                    recs.clear();
                    if parse_line_into(
                        line,
                        Format::Prometheus,
                        &mut cx,
                        &mut recs,
                        &mut Vec::new(),
                    )
                    .is_err()
                    {
                        continue;
                    }
                    for r in recs.drain(..) {
                        if let Record::Sample {
                            metric,
                            labels,
                            ts,
                            value,
                        } = r
                        {
                            let labels = self.target_labels(labels);
                            Record::Sample {
                                metric: metric.clone(),
                                labels: labels.clone(),
                                ts,
                                value,
                            }
                            .to_json_line(&mut out);
                            now_seen.insert((metric, labels));
                        }
                    }
                }
                true
            }
            Err(e) => {
                crate::log::error(&format!("scrape {} failed: {e}", self.url));
                false
            }
        };
        for (metric, labels) in self.seen.difference(&now_seen) {
            Record::Stale {
                metric: metric.clone(),
                labels: labels.clone(),
                ts: start,
            }
            .to_json_line(&mut out);
        }
        let scraped = now_seen.len() as f64;
        self.seen = now_seen;
        for (metric, value) in [
            ("up", f64::from(u8::from(ok))),
            ("scrape_duration_seconds", took),
            ("scrape_samples_scraped", scraped),
        ] {
            Record::Sample {
                metric: metric.into(),
                labels: self.target_labels(Vec::new()),
                ts: start,
                value,
            }
            .to_json_line(&mut out);
        }
        out
    }

    async fn fetch(&self) -> Result<String, String> {
        let resp = self
            .client
            .get(&self.url)
            .header("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        if resp.content_length().is_some_and(|n| n as usize > MAX_PAGE) {
            return Err(format!("the page is larger than {MAX_PAGE} bytes"));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_PAGE {
            return Err(format!("the page is larger than {MAX_PAGE} bytes"));
        }
        String::from_utf8(body.to_vec()).map_err(|_| "the page is not UTF-8".to_string())
    }

    /// A sample's labels with `job` and `instance` set (the target's own renamed `exported_`).
    fn target_labels(&self, labels: Vec<(String, String)>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = labels
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "job" | "instance" => (format!("exported_{k}"), v),
                _ => (k, v),
            })
            .collect();
        out.push(("instance".into(), self.instance.clone()));
        out.push(("job".into(), self.job.clone()));
        out.sort();
        out
    }
}

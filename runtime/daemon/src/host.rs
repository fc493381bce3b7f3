//! The built-in host collector and health probes: the machine the daemon runs on as series
//! (so the default configuration watches it with `rules/std/`), and named components checked
//! over HTTP or TCP on an interval. Both feed the engine through the same checks and log as
//! any input.
//!
//! Host series (label `host`, the machine's name): `cpu_usage` and `memory_usage` and
//! `swap_usage` (percent), `load1`/`load5`/`load15`, `disk_usage{mount}` (percent used),
//! `network_receive_bytes_total{device}` and `network_transmit_bytes_total{device}`.
//! Probe series (label `probe`): `probe_success` (1 or 0) and `probe_duration_seconds`.

use crate::api::{AppState, accept};
use crate::worker::now_ms;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_ingest::Record;

/// `[host]`: the collector (on by default).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    pub enabled: bool,
    pub interval: String,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            enabled: true,
            interval: "15s".into(),
        }
    }
}

/// `[[probe]]`: one component checked on an interval: `http` (a 2xx or 3xx answer within
/// the timeout succeeds) or `tcp` (`host:port` accepting a connection).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    pub name: String,
    pub http: Option<String>,
    pub tcp: Option<String>,
    #[serde(default = "ProbeConfig::default_interval")]
    pub interval: String,
    #[serde(default = "ProbeConfig::default_timeout")]
    pub timeout: String,
}

impl ProbeConfig {
    fn default_interval() -> String {
        "15s".into()
    }
    fn default_timeout() -> String {
        "5s".into()
    }
}

fn sample(out: &mut String, metric: &str, labels: Vec<(String, String)>, ts: i64, value: f64) {
    Record::Sample {
        metric: metric.into(),
        labels,
        ts,
        value,
    }
    .to_json_line(out);
}

/// Starts the collector (when enabled) and every probe.
pub fn start(
    state: &Arc<AppState>,
    host: &HostConfig,
    probes: &[ProbeConfig],
) -> Result<(), String> {
    if host.enabled {
        let every = vigil_vocab::duration::parse_ms(&host.interval)
            .ok_or_else(|| format!("[host] interval `{}` is not a duration", host.interval))?;
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(every as u64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut c = Collector::new();
            loop {
                tick.tick().await;
                let (back, text) = tokio::task::spawn_blocking(move || {
                    let t = c.collect();
                    (c, t)
                })
                .await
                .unwrap_or_else(|_| (Collector::new(), String::new()));
                c = back;
                let _ = accept(&state, text.as_bytes(), "host").await;
            }
        });
    }
    for p in probes {
        let every = vigil_vocab::duration::parse_ms(&p.interval).ok_or_else(|| {
            format!(
                "probe {}: interval `{}` is not a duration",
                p.name, p.interval
            )
        })?;
        let timeout = vigil_vocab::duration::parse_ms(&p.timeout)
            .ok_or_else(|| {
                format!(
                    "probe {}: timeout `{}` is not a duration",
                    p.name, p.timeout
                )
            })?
            .min(every);
        let target = match (&p.http, &p.tcp) {
            (Some(u), None) => Target::Http(u.clone()),
            (None, Some(a)) => Target::Tcp(a.clone()),
            _ => {
                return Err(format!(
                    "probe {}: give exactly one of `http` or `tcp`",
                    p.name
                ));
            }
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout as u64))
            .build()
            .map_err(|e| format!("probe {}: {e}", p.name))?;
        let (state, name) = (state.clone(), p.name.clone());
        let timeout = Duration::from_millis(timeout as u64);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(every as u64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let ts = now_ms();
                let t0 = Instant::now();
                let ok = target.check(&client, timeout).await;
                let took = t0.elapsed().as_secs_f64();
                let labels = vec![("probe".to_string(), name.clone())];
                let mut out = String::new();
                sample(
                    &mut out,
                    "probe_success",
                    labels.clone(),
                    ts,
                    f64::from(u8::from(ok)),
                );
                sample(&mut out, "probe_duration_seconds", labels, ts, took);
                let _ = accept(&state, out.as_bytes(), "probe").await;
            }
        });
    }
    Ok(())
}

enum Target {
    Http(String),
    Tcp(String),
}

impl Target {
    async fn check(&self, client: &reqwest::Client, timeout: Duration) -> bool {
        match self {
            Target::Http(url) => client
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success() || r.status().is_redirection()),
            Target::Tcp(addr) => {
                tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
                    .await
                    .is_ok_and(|c| c.is_ok())
            }
        }
    }
}

/// Reads the machine; CPU usage is over the time since the previous reading.
pub struct Collector {
    system: sysinfo::System,
    disks: sysinfo::Disks,
    networks: sysinfo::Networks,
    host: String,
}

impl Collector {
    pub fn new() -> Collector {
        let mut system = sysinfo::System::new();
        system.refresh_cpu_usage();
        Collector {
            system,
            disks: sysinfo::Disks::new_with_refreshed_list(),
            networks: sysinfo::Networks::new_with_refreshed_list(),
            host: sysinfo::System::host_name().unwrap_or_else(|| "localhost".into()),
        }
    }

    /// One reading as JSON sample lines, stamped now.
    pub fn collect(&mut self) -> String {
        let ts = now_ms();
        let s = &mut self.system;
        s.refresh_cpu_usage();
        s.refresh_memory();
        self.disks.refresh(true);
        self.networks.refresh(true);
        let host = || vec![("host".to_string(), self.host.clone())];
        let with = |k: &str, v: &str| {
            let mut l = vec![
                ("host".to_string(), self.host.clone()),
                (k.to_string(), v.to_string()),
            ];
            l.sort();
            l
        };
        let pct = |used: u64, total: u64| {
            if total == 0 {
                0.0
            } else {
                100.0 * used as f64 / total as f64
            }
        };
        let mut out = String::new();
        sample(
            &mut out,
            "cpu_usage",
            host(),
            ts,
            f64::from(s.global_cpu_usage()),
        );
        sample(
            &mut out,
            "memory_usage",
            host(),
            ts,
            pct(s.used_memory(), s.total_memory()),
        );
        sample(
            &mut out,
            "swap_usage",
            host(),
            ts,
            pct(s.used_swap(), s.total_swap()),
        );
        let load = sysinfo::System::load_average();
        sample(&mut out, "load1", host(), ts, load.one);
        sample(&mut out, "load5", host(), ts, load.five);
        sample(&mut out, "load15", host(), ts, load.fifteen);
        for d in self.disks.list() {
            let used = d.total_space().saturating_sub(d.available_space());
            let mount = d.mount_point().display().to_string();
            sample(
                &mut out,
                "disk_usage",
                with("mount", &mount),
                ts,
                pct(used, d.total_space()),
            );
        }
        for (dev, n) in self.networks.list() {
            for (metric, bytes) in [
                ("network_receive_bytes_total", n.total_received()),
                ("network_transmit_bytes_total", n.total_transmitted()),
            ] {
                sample(&mut out, metric, with("device", dev), ts, bytes as f64);
            }
        }
        out
    }
}

impl Default for Collector {
    fn default() -> Self {
        Collector::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading has the series `rules/std/system.rules` reads, in range.
    #[test]
    fn the_machine_reads_as_series() {
        let mut c = Collector::new();
        std::thread::sleep(Duration::from_millis(200));
        let text = c.collect();
        let mut seen = std::collections::BTreeMap::new();
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            seen.insert(v["metric"].as_str().unwrap().to_string(), v);
        }
        for m in [
            "cpu_usage",
            "memory_usage",
            "load1",
            "network_receive_bytes_total",
        ] {
            assert!(seen.contains_key(m), "{m} missing from {text}");
        }
        for m in ["cpu_usage", "memory_usage"] {
            let v = seen[m]["value"].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&v), "{m} = {v}");
            assert!(!seen[m]["labels"]["host"].as_str().unwrap().is_empty());
        }
        assert!(seen["memory_usage"]["value"].as_f64().unwrap() > 0.0);
    }
}

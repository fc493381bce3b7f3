//! Playbooks in the daemon: a firing alert of a rule with `playbook p` starts a run of `p`'s
//! steps, in order: notify (through the outbox), HTTP requests (destinations checked,
//! retried), an approval gate (`POST /api/v1/playbooks/{id}/approve`), `wait D [unless
//! acknowledged]` (an acknowledgement during the wait ends the run: escalation), and shell
//! commands only when `playbooks.allow_shell` lists that exact command. Each run is saved in
//! `DATA/playbooks/<id>.json` before and after every step, so a restart resumes where it was:
//! a step that was under way when the daemon died is not run again unless it is idempotent
//! (notify, approve, wait); every step's outcome goes to the audit log.

use crate::audit::Audit;
use crate::checkpoint::write_atomic;
use crate::worker::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_alerting::dispatch::Reason;
use vigil_alerting::{Alert, Notification};
use vigil_notify::{Delivery, Entry, Outcome};
use vigil_vocab::playbook::{PlaybookPlan, Rendered, Step, Subject, render_step};

/// Whether a step may run again after a restart during it: notify (the outbox dedups),
/// approvals and waits, and HTTP steps declared `idempotent`.
fn idempotent(s: &Step) -> bool {
    match s {
        Step::Http { idempotent, .. } => *idempotent,
        Step::Shell { .. } => false,
        Step::When { step, .. } => idempotent(step),
        Step::Notify { .. } | Step::Approve { .. } | Step::Wait { .. } => true,
    }
}

/// Runs kept (the oldest finished ones are forgotten past it).
const MAX_RUNS: usize = 10_000;

/// One step's outcome, as the run records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    pub step: usize,
    pub at: i64,
    /// `done`, `failed`, `skipped`, `interrupted`.
    pub outcome: String,
    pub detail: String,
}

/// A playbook run for one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub playbook: String,
    pub rule: String,
    /// The alert's id (as `GET /api/v1/alerts` and acknowledgements name it).
    pub alert: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub value: Option<f64>,
    /// When the alert fired (its episode: one run per episode).
    pub episode: i64,
    /// The next step (0-based).
    pub step: usize,
    /// `running`, `waiting_approval`, `waiting`, `done`, `failed`, `stopped`.
    pub state: String,
    /// The step under way (saved before it starts).
    pub in_flight: Option<usize>,
    pub approved_by: Option<String>,
    pub started_at: i64,
    pub log: Vec<StepLog>,
}

/// The runs, their folder, what they need to act.
pub struct Playbooks {
    dir: PathBuf,
    /// The running rules' playbooks and what each rule's alerts carry (shared with routing).
    rules: Mutex<Arc<vigil_vocab::notify::Routing>>,
    /// Runs are spawned from the engine's thread too.
    rt: tokio::runtime::Handle,
    runs: Mutex<BTreeMap<String, Run>>,
    /// Alert ids acknowledged (for `wait ... unless acknowledged`).
    pub acked: Mutex<HashSet<String>>,
    changed: tokio::sync::Notify,
    delivery: Delivery,
    audit: Option<Arc<Audit>>,
    allow_shell: Vec<String>,
}

impl Playbooks {
    /// Opens `DATA/playbooks`, keeping the runs found there (resumed by [`Playbooks::resume`]).
    pub fn open(
        data_dir: &std::path::Path,
        routing: Arc<vigil_vocab::notify::Routing>,
        delivery: Delivery,
        audit: Option<Arc<Audit>>,
        allow_shell: Vec<String>,
        acked: HashSet<String>,
    ) -> Result<Playbooks, String> {
        let dir = data_dir.join("playbooks");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut runs = BTreeMap::new();
        for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Ok(r) = serde_json::from_slice::<Run>(&std::fs::read(&p).unwrap_or_default())
            {
                runs.insert(r.id.clone(), r);
            }
        }
        Ok(Playbooks {
            dir,
            rules: Mutex::new(routing),
            rt: tokio::runtime::Handle::try_current()
                .map_err(|_| "playbooks need the runtime".to_string())?,
            runs: Mutex::new(runs),
            acked: Mutex::new(acked),
            changed: tokio::sync::Notify::new(),
            delivery,
            audit,
            allow_shell,
        })
    }

    /// The plans of newly loaded rules.
    pub fn set_rules(&self, routing: Arc<vigil_vocab::notify::Routing>) {
        *self.rules.lock().unwrap_or_else(|p| p.into_inner()) = routing;
    }

    /// An engine change: a firing alert of a rule with a playbook starts a run (once per
    /// firing episode: a change seen again after a restart does not start another).
    pub fn transition(self: &Arc<Self>, t: &vigil_vocab::Transition) {
        if t.state != vigil_vocab::AlertState::Firing {
            return;
        }
        let rules = self.rules();
        let Some(notes) = rules.rules.get(&*t.rule) else {
            return;
        };
        let Some(p) = notes.playbook.clone() else {
            return;
        };
        let id = crate::core::alert_id(&t.rule, &t.labels);
        let seen = self
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|r| r.alert == id && r.playbook == p && r.episode == t.ts);
        if seen {
            return;
        }
        if let Some(a) = Alert::of_transition(t, Some(notes)) {
            self.start(&p, &a, id, t.ts);
        }
    }

    fn rules(&self) -> Arc<vigil_vocab::notify::Routing> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every run, newest first.
    pub fn list(&self) -> Vec<Run> {
        let mut all: Vec<Run> = self
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        all
    }

    fn save(&self, r: &Run) {
        let path = self.dir.join(format!("{}.json", r.id));
        match serde_json::to_vec(r) {
            Ok(b) => {
                if let Err(e) = write_atomic(&path, &b) {
                    crate::log::error(&format!("playbook run {}: {e}", r.id));
                }
            }
            Err(e) => crate::log::error(&format!("playbook run {}: {e}", r.id)),
        }
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.insert(r.id.clone(), r.clone());
        if runs.len() > MAX_RUNS {
            // The oldest finished runs go first (their steps are in the audit log).
            let mut finished: Vec<(i64, String)> = runs
                .values()
                .filter(|x| !matches!(x.state.as_str(), "running" | "waiting" | "waiting_approval"))
                .map(|x| (x.started_at, x.id.clone()))
                .collect();
            finished.sort();
            let excess = runs.len() - MAX_RUNS;
            for (_, id) in finished.into_iter().take(excess) {
                runs.remove(&id);
                let _ = std::fs::remove_file(self.dir.join(format!("{id}.json")));
            }
        }
    }

    fn audit(&self, r: &Run, what: &str, detail: serde_json::Value) {
        if let Some(a) = &self.audit {
            a.record(
                now_ms(),
                "playbook",
                serde_json::json!({
                    "run": r.id, "playbook": r.playbook, "rule": r.rule, "alert": r.alert,
                    "event": what, "detail": detail,
                }),
            );
        }
    }

    /// A firing alert of a rule with `playbook p`: starts a run unless the playbook's rate
    /// limit is reached (recorded either way).
    pub fn start(self: &Arc<Self>, playbook: &str, alert: &Alert, alert_id: String, episode: i64) {
        let Some(plan) = self.rules().playbooks.get(playbook).cloned() else {
            return;
        };
        let now = now_ms();
        let mut run = Run {
            id: format!(
                "{:016x}",
                vigil_vocab::hash::fnv1a([
                    alert_id.as_bytes(),
                    now.to_string().as_bytes(),
                    playbook.as_bytes()
                ])
            ),
            playbook: playbook.to_string(),
            rule: alert.labels.get("rule").cloned().unwrap_or_default(),
            alert: alert_id,
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            value: alert.annotations.get("value").and_then(|v| v.parse().ok()),
            episode,
            step: 0,
            state: "running".into(),
            in_flight: None,
            approved_by: None,
            started_at: now,
            log: Vec::new(),
        };
        if let Some((n, per)) = plan.rate_limit {
            let since = now - (per * 1000.0) as i64;
            let recent = self
                .runs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .filter(|r| {
                    r.playbook == playbook && r.started_at > since && r.state != "rate_limited"
                })
                .count();
            if recent >= n as usize {
                run.state = "rate_limited".into();
                self.save(&run);
                self.audit(
                    &run,
                    "rate_limited",
                    serde_json::json!({"limit": n, "per_seconds": per}),
                );
                return;
            }
        }
        self.save(&run);
        self.audit(
            &run,
            "started",
            serde_json::json!({"steps": plan.steps.len()}),
        );
        let me = self.clone();
        self.rt.spawn(async move { me.execute(run, plan).await });
    }

    /// After a restart: unfinished runs continue; a step that was under way is not run again
    /// unless it is idempotent.
    pub fn resume(self: &Arc<Self>) {
        let open: Vec<Run> = self
            .list()
            .into_iter()
            .filter(|r| matches!(r.state.as_str(), "running" | "waiting" | "waiting_approval"))
            .collect();
        for mut run in open {
            let Some(plan) = self.rules().playbooks.get(&run.playbook).cloned() else {
                run.state = "failed".into();
                self.save(&run);
                continue;
            };
            if let Some(k) = run.in_flight.take()
                && plan.steps.get(k).is_some_and(|s| !idempotent(s))
            {
                run.log.push(StepLog {
                    step: k + 1,
                    at: now_ms(),
                    outcome: "interrupted".into(),
                    detail: "the daemon stopped during this step; it is not run twice".into(),
                });
                run.step = k + 1;
                self.audit(&run, "interrupted", serde_json::json!({"step": k + 1}));
            }
            run.state = "running".into();
            self.save(&run);
            let me = self.clone();
            self.rt.spawn(async move { me.execute(run, plan).await });
        }
    }

    /// Approves a run waiting at an approval step.
    pub fn approve(&self, id: &str, by: &str) -> Result<(), String> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let r = runs
            .get_mut(id)
            .ok_or_else(|| format!("no playbook run `{id}`"))?;
        if r.state != "waiting_approval" {
            return Err(format!(
                "run `{id}` is {}, not waiting for an approval",
                r.state
            ));
        }
        r.approved_by = Some(by.to_string());
        drop(runs);
        self.changed.notify_waiters();
        Ok(())
    }

    fn subject(r: &Run) -> Subject {
        Subject {
            labels: r.labels.clone(),
            annotations: r.annotations.clone(),
            value: r.value.unwrap_or(f64::NAN),
        }
    }

    async fn execute(self: Arc<Self>, mut run: Run, plan: PlaybookPlan) {
        while run.step < plan.steps.len() {
            let k = run.step;
            let rendered = render_step(&plan.steps[k], &Self::subject(&run));
            run.in_flight = Some(k);
            self.save(&run);
            let (outcome, detail, stop) = self.step(&mut run, &rendered).await;
            run.in_flight = None;
            run.log.push(StepLog {
                step: k + 1,
                at: now_ms(),
                outcome: outcome.to_string(),
                detail: detail.clone(),
            });
            self.audit(
                &run,
                "step",
                serde_json::json!({"step": k + 1, "outcome": outcome, "detail": detail, "request": rendered}),
            );
            run.step = k + 1;
            if outcome == "failed" {
                run.state = "failed".into();
                self.save(&run);
                return;
            }
            if stop {
                run.state = "stopped".into();
                self.save(&run);
                self.audit(&run, "stopped", serde_json::json!({"why": detail}));
                return;
            }
            run.state = "running".into();
            self.save(&run);
        }
        run.state = "done".into();
        self.save(&run);
        self.audit(&run, "done", serde_json::Value::Null);
    }

    /// Runs one step: its outcome, a detail, and whether the run ends here.
    async fn step(&self, run: &mut Run, s: &Rendered) -> (&'static str, String, bool) {
        match s {
            Rendered::Notify { notifier, message } => {
                let mut annotations = run.annotations.clone();
                if let Some(m) = message {
                    annotations.insert("summary".into(), m.clone());
                }
                let alert = Alert {
                    labels: run.labels.clone(),
                    annotations,
                    starts_at: run.started_at,
                    ends_at: None,
                    updated_at: now_ms(),
                    generator_url: String::new(),
                    flapping: false,
                    external: false,
                };
                let n = Notification::new(
                    notifier,
                    &format!("playbook/{}/{}", run.id, run.step + 1),
                    &BTreeMap::new(),
                    now_ms(),
                    Reason::First,
                    vec![alert],
                );
                let entry = Entry {
                    until: n.ts + 3_600_000,
                    notification: n,
                    accepted_at: now_ms(),
                    attempts: 0,
                    last_error: None,
                    failed_at: None,
                };
                match self.delivery.submit(entry) {
                    Ok(()) => ("done", format!("queued for `{notifier}`"), false),
                    Err(e) => ("failed", format!("outbox: {e}"), false),
                }
            }
            Rendered::Http {
                method,
                url,
                body,
                timeout_seconds,
                retries,
            } => {
                let mut last = String::new();
                for attempt in 0..=*retries {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(500 << attempt.min(6))).await;
                    }
                    let timeout = Duration::from_secs_f64(timeout_seconds.max(0.1));
                    match self
                        .delivery
                        .sender()
                        .request(method, url, body, timeout, &[])
                        .await
                    {
                        Outcome::Sent => return ("done", format!("{method} answered 2xx"), false),
                        Outcome::Failed(why) => return ("failed", why, false),
                        Outcome::Retry { why, .. } => last = why,
                    }
                }
                (
                    "failed",
                    format!("{last} (after {} attempts)", retries + 1),
                    false,
                )
            }
            Rendered::Approve { by } => {
                run.state = "waiting_approval".into();
                self.save(run);
                loop {
                    let notified = self.changed.notified();
                    let approved = self
                        .runs
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&run.id)
                        .and_then(|r| r.approved_by.clone());
                    if let Some(who) = approved {
                        run.approved_by = Some(who.clone());
                        return ("done", format!("approved by {who} (asked of {by})"), false);
                    }
                    notified.await;
                }
            }
            Rendered::Wait {
                seconds,
                unless_acknowledged,
            } => {
                run.state = "waiting".into();
                self.save(run);
                let until = tokio::time::Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
                loop {
                    let acked = self
                        .acked
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .contains(&run.alert);
                    if *unless_acknowledged && acked {
                        return ("done", "the alert was acknowledged".into(), true);
                    }
                    if tokio::time::Instant::now() >= until {
                        return ("done", "waited".into(), false);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Rendered::Skipped { reason } => ("skipped", reason.clone(), false),
            Rendered::Shell {
                command,
                timeout_seconds,
            } => {
                if !self.allow_shell.iter().any(|c| c == command) {
                    return (
                        "skipped",
                        "not in playbooks.allow_shell: not run".into(),
                        false,
                    );
                }
                let child = tokio::process::Command::new("sh")
                    .args(["-c", command])
                    .kill_on_drop(true)
                    .output();
                let limit = Duration::from_secs_f64(timeout_seconds.max(0.1));
                match tokio::time::timeout(limit, child).await {
                    Ok(Ok(o)) if o.status.success() => ("done", "exit 0".into(), false),
                    Ok(Ok(o)) => ("failed", format!("exit {:?}", o.status.code()), false),
                    Ok(Err(e)) => ("failed", e.to_string(), false),
                    Err(_) => (
                        "failed",
                        format!("timed out after {timeout_seconds}s"),
                        false,
                    ),
                }
            }
        }
    }
}

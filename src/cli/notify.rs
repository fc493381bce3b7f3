//! `vigil notify test NOTIFIER --rules PATH [--alert JSON]`: one sample notification,
//! rendered as the daemon renders it and sent through the notifier as the daemon sends it
//! (secrets from the environment, destinations checked), so a receiver and its texts can be
//! tried without a real alert.

use super::{NotifyArgs, NotifyCommand, check_or_report};
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_alerting::dispatch::Reason;
use vigil_alerting::{Alert, Notification};

pub fn run(args: NotifyArgs) -> i32 {
    let NotifyCommand::Test {
        notifier,
        rules,
        rules_root,
        alert,
        config,
    } = args.command;
    let notify_config = match &config {
        Some(p) => match vigil_daemon::Config::load(p) {
            Ok(c) => c.notify,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
        None => vigil_daemon::config::NotifyConfig::default(),
    };
    let parts = match vigil_daemon::routing::Parts::of(&notify_config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let checked = match check_or_report(&rules, rules_root, "nothing was sent") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let routing = vigil_compiler::lower::routing(&checked);
    let Some(plan) = routing.notifiers.get(&notifier).cloned() else {
        let known: Vec<&str> = routing.notifiers.keys().map(String::as_str).collect();
        eprintln!(
            "error: no notifier `{notifier}` in the rules (they declare: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
        return 2;
    };
    let now = vigil_daemon::worker::now_ms();
    let mut sample = Alert {
        labels: [("alertname", "VigilTest"), ("severity", "info")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: [(
            "summary".to_string(),
            format!("a test notification for `{notifier}` from vigil notify test"),
        )]
        .into(),
        starts_at: now,
        ends_at: None,
        updated_at: now,
        generator_url: String::new(),
        flapping: false,
        external: true,
    };
    if let Some(text) = &alert {
        #[derive(serde::Deserialize)]
        struct Given {
            #[serde(default)]
            labels: BTreeMap<String, String>,
            #[serde(default)]
            annotations: BTreeMap<String, String>,
        }
        match serde_json::from_str::<Given>(text) {
            Ok(g) => {
                if !g.labels.is_empty() {
                    sample.labels = g.labels;
                }
                sample.annotations.extend(g.annotations);
            }
            Err(e) => {
                eprintln!(
                    "error: --alert is not {{\"labels\": {{..}}, \"annotations\": {{..}}}}: {e}"
                );
                return 2;
            }
        }
    }
    let group: BTreeMap<String, String> = sample
        .labels
        .get("alertname")
        .map(|a| ("alertname".to_string(), a.clone()))
        .into_iter()
        .collect();
    let mut n = Notification::new(&notifier, "test", &group, now, Reason::First, vec![sample]);
    n.reason = "test".into();
    let secret: vigil_notify::SecretFn =
        Arc::new(|name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()));
    let console: vigil_notify::ConsoleFn = Arc::new(|t: &str| println!("{t}"));
    let sender = match vigil_notify::Sender::new(
        parts.policy,
        notify_config.external_url,
        secret,
        console,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 2;
        }
    };
    match rt.block_on(sender.send(&plan, &n, now + 3_600_000)) {
        vigil_notify::Outcome::Sent => {
            println!(
                "sent a test notification through `{notifier}` ({})",
                plan.kind
            );
            0
        }
        vigil_notify::Outcome::Retry { why, .. } | vigil_notify::Outcome::Failed(why) => {
            eprintln!("error: `{notifier}`: {}", super::printable(&why));
            1
        }
    }
}

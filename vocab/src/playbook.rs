//! Playbooks as plain data (lowered from `playbook` declarations): the steps a firing alert
//! starts, and each step rendered for one alert (what `vigil playbook run --dry-run` shows and
//! the runner sends). Rendering is pure: templates and `alert.x` fields read from the alert.

#![allow(missing_docs)]

use crate::LabelSet;
use crate::template::{Value, render};
use std::collections::BTreeMap;

/// A body value: a text template (`"{{ host }} isolated"`) or an alert field (`alert.user`).
#[derive(Debug, Clone, PartialEq)]
pub enum BodyValue {
    /// A string or number as written; `{{ label }}` and `{{ value }}` filled in.
    Text(String),
    /// `alert.a.b`: the alert's label `a.b` (or annotation), as text.
    Alert(String),
}

/// One step.
#[derive(Debug, Clone)]
pub enum Step {
    /// `step notify N ["message"]`.
    Notify {
        notifier: String,
        message: Option<String>,
    },
    /// `step http post "URL" body {..} timeout 5s retries 3`.
    Http {
        method: String,
        url: String,
        body: Vec<(String, BodyValue)>,
        timeout: Option<f64>,
        retries: u32,
        /// `idempotent`: a restart during the request sends it again.
        idempotent: bool,
    },
    /// `step approve by "oncall"`: waits for an approval.
    Approve { by: String },
    /// `step shell "..." [timeout D]`: runs only if the daemon's configuration allow-lists the
    /// command.
    Shell {
        command: String,
        timeout: Option<f64>,
    },
    /// `step ... if COND`: runs only for alerts whose labels hold `cond`.
    When {
        cond: crate::route::Cond,
        step: Box<Step>,
    },
    /// `wait 15m [unless acknowledged]`.
    Wait {
        seconds: f64,
        unless_acknowledged: bool,
    },
}

/// `playbook NAME { ... }`.
#[derive(Debug, Clone, Default)]
pub struct PlaybookPlan {
    pub name: String,
    pub steps: Vec<Step>,
    /// `rate_limit N per D`: at most N runs per D seconds.
    pub rate_limit: Option<(u32, f64)>,
}

impl Step {
    /// The step's texts that are templates (URL, body texts, message, command), to fill in.
    pub fn templates_mut(&mut self) -> Vec<&mut String> {
        match self {
            Step::Notify { message, .. } => message.iter_mut().collect(),
            Step::Http { url, body, .. } => std::iter::once(url)
                .chain(body.iter_mut().filter_map(|(_, v)| match v {
                    BodyValue::Text(t) => Some(t),
                    BodyValue::Alert(_) => None,
                }))
                .collect(),
            Step::Shell { command, .. } => vec![command],
            Step::When { step, .. } => step.templates_mut(),
            Step::Approve { .. } | Step::Wait { .. } => Vec::new(),
        }
    }
}

/// The names of a template's `{{ name }}` placeholders.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let Some(j) = rest[i..].find("}}") else { break };
        out.push(rest[i + 2..i + j].trim());
        rest = &rest[i + j + 2..];
    }
    out
}

/// A step as it would run for one alert.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "step", rename_all = "lowercase")]
pub enum Rendered {
    Notify {
        notifier: String,
        message: Option<String>,
    },
    Http {
        method: String,
        url: String,
        body: serde_json::Value,
        timeout_seconds: f64,
        retries: u32,
    },
    Approve {
        by: String,
    },
    Shell {
        command: String,
        timeout_seconds: f64,
    },
    Wait {
        seconds: f64,
        unless_acknowledged: bool,
    },
    /// A conditional step whose condition does not hold for this alert.
    Skipped {
        reason: String,
    },
}

/// The alert a playbook runs for: its labels, annotations and value.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub labels: LabelSet,
    pub annotations: BTreeMap<String, String>,
    pub value: f64,
}

impl Subject {
    fn lookup(&self, k: &str) -> Option<Value<'_>> {
        // `{{ alert.user }}` and `{{ user }}` both read the alert's label.
        let k = k.strip_prefix("alert.").unwrap_or(k);
        match k {
            "value" => Some(Value::Num(self.value)),
            k => self
                .labels
                .get(k)
                .or_else(|| self.annotations.get(k))
                .map(|v| Value::Str(v.as_str().into())),
        }
    }

    fn text(&self, template: &str) -> String {
        render(template, &|k| self.lookup(k))
    }
}

/// A step rendered for `alert` (URL and body templates filled in; nothing is sent).
pub fn render_step(step: &Step, alert: &Subject) -> Rendered {
    match step {
        Step::Notify { notifier, message } => Rendered::Notify {
            notifier: notifier.clone(),
            message: message.as_deref().map(|m| alert.text(m)),
        },
        Step::Http {
            method,
            url,
            body,
            timeout,
            retries,
            ..
        } => Rendered::Http {
            method: method.to_uppercase(),
            url: alert.text(url),
            body: serde_json::Value::Object(
                body.iter()
                    .map(|(k, v)| {
                        let text = match v {
                            BodyValue::Text(t) => alert.text(t),
                            BodyValue::Alert(path) => alert
                                .labels
                                .get(path)
                                .or_else(|| alert.annotations.get(path))
                                .cloned()
                                .unwrap_or_default(),
                        };
                        (k.clone(), serde_json::Value::String(text))
                    })
                    .collect(),
            ),
            timeout_seconds: timeout.unwrap_or(10.0),
            retries: *retries,
        },
        Step::Approve { by } => Rendered::Approve { by: by.clone() },
        Step::Shell { command, timeout } => Rendered::Shell {
            command: alert.text(command),
            timeout_seconds: timeout.unwrap_or(60.0),
        },
        Step::When { cond, step } => {
            if cond.holds(&|k| alert.labels.get(k).cloned()) {
                render_step(step, alert)
            } else {
                Rendered::Skipped {
                    reason: "its condition does not hold for this alert".into(),
                }
            }
        }
        Step::Wait {
            seconds,
            unless_acknowledged,
        } => Rendered::Wait {
            seconds: *seconds,
            unless_acknowledged: *unless_acknowledged,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_render_with_the_alert() {
        let alert = Subject {
            labels: [("host", "web-1"), ("user", "mallory")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: BTreeMap::new(),
            value: 42.0,
        };
        let http = Step::Http {
            method: "post".into(),
            url: "https://soar.example.com/isolate/{{ host }}".into(),
            body: vec![
                ("user".into(), BodyValue::Alert("user".into())),
                ("why".into(), BodyValue::Text("value {{ value }}".into())),
            ],
            timeout: Some(5.0),
            retries: 3,
            idempotent: false,
        };
        let r = serde_json::to_value(render_step(&http, &alert)).unwrap();
        assert_eq!(r["step"], "http");
        assert_eq!(r["method"], "POST");
        assert_eq!(r["url"], "https://soar.example.com/isolate/web-1");
        assert_eq!(r["body"]["user"], "mallory");
        assert_eq!(r["body"]["why"], "value 42");
    }
}

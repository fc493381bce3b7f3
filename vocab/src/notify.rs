//! What a rule set says about notifying, as plain data: its notifiers with their settings
//! (secrets as references, looked up when a notification is sent), its inhibitions and route
//! tree, and per rule the texts and direct notifiers its alerts carry. The compiler lowers
//! `notifier`, `inhibit`, `route` and rule clauses into this; routing and the notifiers read
//! it without linking the compiler.

use crate::SecretRef;
use crate::route::{Cond, Route};
use std::collections::BTreeMap;

/// One setting of a notifier as written: `url = "..."`, `timeout = 5s`, `to = [..]`,
/// `webhook = env("SLACK_URL")`.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// A string literal.
    Str(String),
    /// A number.
    Num(f64),
    /// A duration, in seconds.
    Seconds(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `env("NAME")`: read from the environment when used, never stored or shown.
    Secret(SecretRef),
    /// A list of settings.
    List(Vec<Setting>),
}

/// `notifier NAME = KIND(settings)`.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierPlan {
    /// The notifier's name, as routes write it.
    pub name: String,
    /// `console`, `file`, `webhook`, `slack`, `pagerduty`, `email`, `telegram`, `teams`,
    /// `alertmanager`.
    pub kind: String,
    /// Its settings by name.
    pub settings: BTreeMap<String, Setting>,
}

impl NotifierPlan {
    /// A setting's text: a literal, or a secret looked up with `secret`.
    pub fn text(&self, key: &str, secret: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        match self.settings.get(key)? {
            Setting::Str(s) => Some(s.clone()),
            Setting::Secret(r) => secret(r.name()),
            Setting::Num(n) => Some(crate::template::number(*n)),
            _ => None,
        }
    }

    /// A list setting's texts (a single text counts as a list of one).
    pub fn texts(&self, key: &str, secret: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        match self.settings.get(key) {
            Some(Setting::List(items)) => items
                .iter()
                .filter_map(|s| match s {
                    Setting::Str(s) => Some(s.clone()),
                    Setting::Secret(r) => secret(r.name()),
                    _ => None,
                })
                .collect(),
            Some(_) => self.text(key, secret).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// A duration setting, seconds.
    pub fn seconds(&self, key: &str) -> Option<f64> {
        match self.settings.get(key)? {
            Setting::Seconds(s) | Setting::Num(s) => Some(*s),
            _ => None,
        }
    }

    /// A boolean setting.
    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.settings.get(key)? {
            Setting::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// `inhibit TARGET when SOURCE equal [labels]`: a firing alert matching `source` mutes the
/// alerts matching `target` that have the same values of `equal`.
#[derive(Debug, Clone)]
pub struct InhibitPlan {
    /// The alerts muted.
    pub target: Cond,
    /// The alerts that mute them while firing.
    pub source: Cond,
    /// Labels both must have equal (absent counts as equal to absent).
    pub equal: Vec<String>,
    /// `inhibit TARGET unless SOURCE`: the target is muted while no such source fires.
    pub unless: bool,
}

/// What a rule's alerts carry to routing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleNotes {
    /// `summary "..."` (a template over the labels and `value`).
    pub summary: Option<String>,
    /// `description "..."` (a template).
    pub description: Option<String>,
    /// `annotations { k = "..." }` (templates), in the order written.
    pub annotations: Vec<(String, String)>,
    /// `notify a, b`: sent to these besides what the route tree chooses.
    pub notify: Vec<String>,
    /// `playbook p`: started when an alert of the rule fires.
    pub playbook: Option<String>,
}

/// Everything a rule set says about notifying.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// The route tree (its root's notifiers are the fallback).
    pub tree: Route,
    /// Notifiers by name.
    pub notifiers: BTreeMap<String, NotifierPlan>,
    /// Inhibitions, in load order.
    pub inhibits: Vec<InhibitPlan>,
    /// Per rule (`package.name`).
    pub rules: BTreeMap<String, RuleNotes>,
    /// Calendars routes name in `during`, by name.
    pub calendars: BTreeMap<String, crate::calendar::Calendar>,
    /// Playbooks by name.
    pub playbooks: BTreeMap<String, crate::playbook::PlaybookPlan>,
}

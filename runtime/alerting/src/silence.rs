//! Silences: matchers over alert labels, a start, a mandatory end and an owner. An active
//! silence mutes the alerts it matches in every notification; expiring one ends it now and
//! keeps it for the record (five days, as Alertmanager keeps them).

use crate::alert::Alert;
use regex::Regex;
use serde::{Deserialize, Serialize};
use vigil_vocab::LabelSet;

/// How long an expired silence stays listed.
pub const RETENTION_MS: i64 = 120 * 3_600_000;

/// One matcher, as Alertmanager's API writes it (`isEqual` absent means `true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl Matcher {
    /// Whether `labels` satisfy it (a missing label is the empty string; regexes match the
    /// whole value).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        let hit = if self.is_regex {
            anchored(&self.value).is_some_and(|r| r.is_match(v))
        } else {
            v == self.value
        };
        hit == self.is_equal
    }
}

fn anchored(re: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{re})$")).ok()
}

/// Where a silence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

/// A silence. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
    pub updated_at: i64,
    /// When it first hid a firing alert (for the "forgotten silence" reminder).
    #[serde(default)]
    pub hid_since: Option<i64>,
    /// Reminders already sent: `ending`, `forgotten`.
    #[serde(default)]
    pub reminded: Vec<String>,
}

impl Silence {
    pub fn state(&self, now: i64) -> SilenceState {
        if now >= self.ends_at {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Every matcher holds.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// Why a silence was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SilenceError {
    #[error("a silence needs at least one matcher")]
    NoMatchers,
    #[error("matcher `{0}`: the regex does not compile")]
    BadRegex(String),
    #[error("every matcher matches the empty string: the silence would hide every alert")]
    MatchesEverything,
    #[error("the end must be after the start")]
    EndBeforeStart,
    #[error("the end is in the past")]
    EndInPast,
    #[error("a silence needs an owner (createdBy)")]
    NoOwner,
    #[error("no silence with id `{0}`")]
    NotFound(String),
    #[error("silence `{0}` has already expired")]
    AlreadyExpired(String),
}

/// All silences, by id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Silences {
    pub all: Vec<Silence>,
}

impl Silences {
    /// Adds `s` (its `id` chosen by the caller) or, when a silence with its id exists and has
    /// not expired, updates it in place (Alertmanager replaces it; the id stays). Checks
    /// what Alertmanager checks, and that an owner is named.
    pub fn set(&mut self, mut s: Silence, now: i64) -> Result<String, SilenceError> {
        if s.matchers.is_empty() {
            return Err(SilenceError::NoMatchers);
        }
        for m in &s.matchers {
            if m.is_regex && anchored(&m.value).is_none() {
                return Err(SilenceError::BadRegex(format!("{}=~{}", m.name, m.value)));
            }
        }
        let empty = LabelSet::new();
        if s.matchers.iter().all(|m| m.matches(&empty)) {
            return Err(SilenceError::MatchesEverything);
        }
        if s.ends_at <= s.starts_at {
            return Err(SilenceError::EndBeforeStart);
        }
        if s.ends_at <= now {
            return Err(SilenceError::EndInPast);
        }
        if s.created_by.trim().is_empty() {
            return Err(SilenceError::NoOwner);
        }
        s.updated_at = now;
        match self.all.iter_mut().find(|o| o.id == s.id) {
            Some(old) if old.state(now) == SilenceState::Expired => {
                return Err(SilenceError::AlreadyExpired(s.id));
            }
            Some(old) => {
                s.hid_since = old.hid_since;
                *old = s.clone();
            }
            None => self.all.push(s.clone()),
        }
        Ok(s.id)
    }

    /// Ends a silence now.
    pub fn expire(&mut self, id: &str, now: i64) -> Result<(), SilenceError> {
        let s = self
            .all
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| SilenceError::NotFound(id.into()))?;
        if s.state(now) == SilenceState::Expired {
            return Err(SilenceError::AlreadyExpired(id.into()));
        }
        s.ends_at = now;
        if s.starts_at > now {
            s.starts_at = now;
        }
        s.updated_at = now;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.all.iter().find(|s| s.id == id)
    }

    /// The ids of the active silences that mute `a`.
    pub fn muting(&self, a: &Alert, now: i64) -> Vec<String> {
        self.all
            .iter()
            .filter(|s| s.state(now) == SilenceState::Active && s.matches(&a.labels))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Forgets silences expired longer than the retention.
    pub fn gc(&mut self, now: i64) {
        self.all.retain(|s| now - s.ends_at < RETENTION_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: &str, is_regex: bool, is_equal: bool) -> Matcher {
        Matcher {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
        }
    }

    fn silence(matchers: Vec<Matcher>) -> Silence {
        Silence {
            id: "s1".into(),
            matchers,
            starts_at: 0,
            ends_at: 1000,
            created_by: "alice".into(),
            comment: "maintenance".into(),
            updated_at: 0,
            hid_since: None,
            reminded: Vec::new(),
        }
    }

    fn labels(kv: &[(&str, &str)]) -> LabelSet {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matchers_follow_alertmanager() {
        let l = labels(&[("host", "web-1"), ("env", "prod")]);
        assert!(m("host", "web-.*", true, true).matches(&l));
        assert!(!m("host", "web", true, true).matches(&l), "anchored");
        assert!(m("env", "dev", false, false).matches(&l));
        assert!(m("team", "", false, true).matches(&l), "missing is empty");
    }

    #[test]
    fn silences_are_checked_and_expire() {
        let mut s = Silences::default();
        assert_eq!(s.set(silence(vec![]), 0), Err(SilenceError::NoMatchers));
        assert_eq!(
            s.set(silence(vec![m("host", ".*", true, true)]), 0),
            Err(SilenceError::MatchesEverything)
        );
        let mut no_owner = silence(vec![m("host", "a", false, true)]);
        no_owner.created_by = " ".into();
        assert_eq!(s.set(no_owner, 0), Err(SilenceError::NoOwner));
        assert_eq!(
            s.set(silence(vec![m("host", "a", false, true)]), 2000),
            Err(SilenceError::EndInPast)
        );
        s.set(silence(vec![m("host", "a", false, true)]), 0)
            .unwrap();
        assert_eq!(s.get("s1").unwrap().state(10), SilenceState::Active);
        s.expire("s1", 500).unwrap();
        assert_eq!(s.get("s1").unwrap().state(500), SilenceState::Expired);
        assert!(s.expire("s1", 600).is_err());
        s.gc(500 + RETENTION_MS);
        assert!(s.all.is_empty());
    }
}

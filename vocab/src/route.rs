//! The notification route tree (lowered from `route` declarations by the compiler's
//! `lower/routes.rs`) and which routes a label set reaches: Alertmanager's semantics (`dispatch/route.go`), so `vigil routes test` and
//! `amtool config routes test` agree. A route matches when its condition holds; its children
//! are tried in order and the first that matches ends the search unless it says `continue`;
//! a matching route none of whose children matches is itself the result. A nested route
//! without its own `default` inherits its parent's notifiers (and settings).

use crate::MatchOp;
use regex::Regex;

/// One route: the root (no condition) or a `match`.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)]
pub struct Route {
    /// `None` for the root, which every label set matches.
    pub cond: Option<Cond>,
    /// Its notifiers: its `-> a, b` or `default -> ...`, else its parent's.
    pub notifiers: Vec<String>,
    /// `continue`: siblings after it are tried even when it matched.
    pub cont: bool,
    /// Grouping and timing, seconds, inherited unless set here.
    pub group_by: Option<Vec<String>>,
    pub group_wait: Option<f64>,
    pub group_interval: Option<f64>,
    pub repeat: Option<f64>,
    /// `during CALENDAR`: the route sends only while the calendar is open.
    pub during: Option<String>,
    /// `muted during CALENDAR`: the route sends nothing while the calendar is open.
    pub muted: Option<String>,
    pub routes: Vec<Route>,
}

/// A condition over alert labels. A label an alert lacks reads as the empty string, and
/// regexes match the whole value, as Alertmanager's matchers do.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum Cond {
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Not(Box<Cond>),
    Match {
        label: String,
        op: MatchOp,
        value: String,
        /// For `=~`/`!~`: the value anchored at both ends.
        re: Option<Regex>,
    },
}

impl Cond {
    /// Whether the labels (`label(name)`, `None` when absent) satisfy the condition.
    pub fn holds(&self, label: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Cond::Or(cs) => cs.iter().any(|c| c.holds(label)),
            Cond::And(cs) => cs.iter().all(|c| c.holds(label)),
            Cond::Not(c) => !c.holds(label),
            Cond::Match {
                label: name,
                op,
                value,
                re,
            } => {
                let v = label(name).unwrap_or_default();
                match op {
                    MatchOp::Eq => v == *value,
                    MatchOp::Ne => v != *value,
                    MatchOp::Re => re.as_ref().is_some_and(|r| r.is_match(&v)),
                    MatchOp::NotRe => !re.as_ref().is_some_and(|r| r.is_match(&v)),
                }
            }
        }
    }
}

impl Route {
    /// The routes `labels` reaches, in tree order (a route reached twice is listed twice).
    pub fn matches<'a>(&'a self, label: &dyn Fn(&str) -> Option<String>) -> Vec<&'a Route> {
        self.reached(label).into_iter().map(|(_, r)| r).collect()
    }

    /// [`Route::matches`] with each route's position in the tree (`/`, `/0`, `/0/2`): the
    /// identity of the notification groups it forms.
    pub fn reached<'a>(
        &'a self,
        label: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(String, &'a Route)> {
        let mut all = Vec::new();
        self.walk("", label, &mut all);
        all
    }

    fn walk<'a>(
        &'a self,
        path: &str,
        label: &dyn Fn(&str) -> Option<String>,
        all: &mut Vec<(String, &'a Route)>,
    ) -> bool {
        if self.cond.as_ref().is_some_and(|c| !c.holds(label)) {
            return false;
        }
        let before = all.len();
        for (i, child) in self.routes.iter().enumerate() {
            let matched = child.walk(&format!("{path}/{i}"), label, all);
            if matched && !child.cont {
                break;
            }
        }
        if all.len() == before {
            all.push((
                if path.is_empty() {
                    "/".into()
                } else {
                    path.into()
                },
                self,
            ));
        }
        true
    }

    /// What a route does not set it takes from its parent.
    pub fn inherit(&mut self, parent: &Route) {
        if self.notifiers.is_empty() {
            self.notifiers = parent.notifiers.clone();
        }
        if self.group_by.is_none() {
            self.group_by = parent.group_by.clone();
        }
        self.group_wait = self.group_wait.or(parent.group_wait);
        self.group_interval = self.group_interval.or(parent.group_interval);
        self.repeat = self.repeat.or(parent.repeat);
        let me = Route {
            routes: Vec::new(),
            ..self.clone()
        };
        for c in &mut self.routes {
            c.inherit(&me);
        }
    }
}

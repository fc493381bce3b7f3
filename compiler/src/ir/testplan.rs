//! `test` blocks lowered to plain data: inputs at times (ms from 0), expectations, and the
//! checks not possible yet. The runtime's test runner drives the engine with them.

use crate::series_notation::Point;
use std::path::PathBuf;
use vigil_vocab::AlertState;

/// One `test "..." { ... }`.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    /// Where it is written: `file:line`.
    pub place: String,
    /// The evaluation interval for the test, ms (`interval` in the test, else the package's).
    pub interval: Option<i64>,
    pub inputs: Vec<Input>,
    pub expects: Vec<Expect>,
    /// `expect nothing else fires`.
    pub nothing_else: bool,
    /// The latest `advance to`, ms.
    pub advance: Option<i64>,
    /// Packages whose rules the test sees: its own and those it imports (transitively).
    /// Alerts of other rules loaded alongside are not the test's business.
    pub packages: Vec<String>,
    /// `expect [no] notification ...`, checked through routing (groups, timers, inhibitions,
    /// silences) on the alert changes the test produced.
    pub notifications: Vec<ExpectNotification>,
    /// `silence {labels} from T to T`.
    pub silences: Vec<TestSilence>,
    /// `expect playbook P step N OUTCOME [at T]`.
    pub playbooks: Vec<ExpectPlaybook>,
    /// Expectations on playbooks: written, not checkable until playbooks run (shown as not
    /// checked, never as passed).
    pub unchecked: Vec<String>,
}

/// `expect [no] notification N [at T] [with {labels}]`: some notification to `notifier` sent
/// at `T` (any time, for `no` without `at`) carries an alert whose labels include these.
#[derive(Debug, Clone)]
pub struct ExpectNotification {
    pub notifier: String,
    pub at: Option<i64>,
    pub labels: Vec<(String, String)>,
    pub negated: bool,
    pub text: String,
}

/// `expect playbook P step N OUTCOME [at T]`: in some run of playbook `P`, step `N` (the
/// first is 1) is `done`, `waiting`, `skipped`, `failed` or `pending` at `T` (without `at`,
/// when the test ends).
#[derive(Debug, Clone)]
pub struct ExpectPlaybook {
    pub playbook: String,
    pub step: usize,
    pub outcome: String,
    pub at: Option<i64>,
    pub text: String,
}

/// A silence a test declares: equality matchers, from and to (ms).
#[derive(Debug, Clone)]
pub struct TestSilence {
    pub labels: Vec<(String, String)>,
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, Clone)]
pub enum Input {
    /// `series m{..} every D = "..."`: point `i` at `i * every`.
    Series {
        metric: String,
        labels: Vec<(String, String)>,
        every: i64,
        points: Vec<Point>,
    },
    /// One event at a time.
    Event { at: i64, event: serde_json::Value },
    /// `events from "file"`: JSON lines (samples and events), resolved next to the test file.
    File(PathBuf),
}

/// `expect [no] RULE STATE [at T] [with|for {labels}]`.
#[derive(Debug, Clone)]
pub struct Expect {
    /// `pkg.name`.
    pub rule: String,
    pub state: AlertState,
    pub at: Option<i64>,
    pub labels: Vec<(String, String)>,
    pub negated: bool,
    /// The latest `advance to` written before it: the expectation is checked once the clock
    /// got there (a trailing `missing` step at `at` is known only when the watermark passes).
    pub after: Option<i64>,
    /// The expectation as written, for messages.
    pub text: String,
}

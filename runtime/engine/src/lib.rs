//! Vigil's engine: one deterministic evaluator of compiled rules over samples and events,
//! driven by an injected clock. The series store, windows and vector evaluation (metric
//! rules), per-key event state (aggregates, sequences, throttles), the alert state machine,
//! the feed that merges inputs by time, and the rule test runner. No sockets, no threads of
//! its own, no environment, no wall clock: the daemon, `vigil replay` and `vigil test` move the
//! clock, and the state is data (`Snapshot`).

#![forbid(unsafe_code)]

pub mod alert;
pub mod engine;
pub mod events;
pub mod feed;
pub mod labels;
pub mod metric;
mod nan;
pub mod testing;
pub mod time;

pub use engine::{ActiveAlert, Config, Engine};
pub use vigil_vocab::Transition;

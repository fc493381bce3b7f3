//! Vigil's runtime: the series store, the vector evaluator, row joins, the alert state machine
//! and the engine that drives them on an injected clock; ingest parsers for the formats
//! `vigil replay` reads. Routing, notifiers, playbooks, the audit log and the HTTP API come
//! with later issues.

pub mod alert;
pub mod engine;
pub mod events;
pub mod feed;
pub mod incremental;
pub mod labels;
mod nan;
pub mod rows;
pub mod stats;
pub mod store;
pub mod testing;
pub mod vector;
pub mod window;

pub use engine::{Config, Engine};
pub use vigil_vocab::Transition;

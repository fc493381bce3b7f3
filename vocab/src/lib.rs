//! The words every part of Vigil shares: what an alert is (severity, state, a transition),
//! label sets and matchers, and references to secrets. Plain data with serde and nothing
//! else, so the compiler, the engine and (later) routing, notifiers and the audit log agree on
//! one vocabulary without linking each other.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alert;
pub mod calendar;
pub mod duration;
mod event;
pub mod hash;
mod labels;
pub mod notify;
pub mod playbook;
mod printable;
pub mod route;
mod secret;
pub mod template;
pub mod time;

pub use alert::{AlertState, NoDataAction, Severity, Transition};
pub use event::EventJson;
pub use labels::{LabelSet, MatchOp, render_labels};
pub use printable::printable;
pub use secret::SecretRef;
pub use template::render as render_template;

//! An event as the JSON text it arrived as. Alerts of single-event rules and sequences carry
//! their event; sharing the input's text costs one copy per event, where building a
//! `serde_json::Value` tree cost more than evaluating every rule (issue "Hot path").

use serde::{Serialize, Serializer};
use std::sync::Arc;

/// A JSON object's text, shared. Equal when the JSON values are equal (key order and
/// white space aside).
#[derive(Debug, Clone)]
pub struct EventJson(Arc<str>);

impl EventJson {
    /// Text the caller has checked is one JSON object (the direct reader validates it).
    pub fn from_text(text: &str) -> EventJson {
        EventJson(Arc::from(text))
    }
    /// A parsed event's text (compact, keys in the value's order).
    pub fn from_value(v: &serde_json::Value) -> EventJson {
        EventJson(Arc::from(v.to_string()))
    }
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The parsed value (for templates and tests; `Null` if the text is not JSON).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

impl PartialEq for EventJson {
    fn eq(&self, other: &EventJson) -> bool {
        self.0 == other.0 || self.value() == other.value()
    }
}

impl Serialize for EventJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

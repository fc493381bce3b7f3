//! An event as the JSON text it arrived as. Alerts of single-event rules and sequences carry
//! their event; sharing the input's text costs one copy per event, where building a
//! `serde_json::Value` tree cost more than evaluating every rule (issue "Hot path"), and the
//! copy goes into the previous event's buffer once nothing holds it any more
//! ([`EventJson::refill`]), so a warm engine allocates nothing for it.

use serde::{Serialize, Serializer};
use std::sync::Arc;

/// A JSON object's text, shared. Equal when the JSON values are equal (key order and
/// white space aside).
#[derive(Debug, Clone)]
pub struct EventJson(Arc<String>);

/// Buffers up to this size are reused by [`EventJson::refill`]; a larger one is let go, so one
/// huge event does not stay in memory.
const REUSE_MAX: usize = 64 << 10;

impl EventJson {
    /// Text the caller has checked is one JSON object (the direct reader validates it).
    pub fn from_text(text: &str) -> EventJson {
        EventJson(Arc::new(text.to_string()))
    }
    /// [`EventJson::from_text`] into `spare`'s buffer when nothing else holds it any more (the
    /// alerts of the event before were written and dropped), else into a new one that becomes
    /// the spare.
    pub fn refill(spare: &mut Option<EventJson>, text: &str) -> EventJson {
        if let Some(e) = spare
            && let Some(buf) = Arc::get_mut(&mut e.0)
            && buf.capacity() <= REUSE_MAX
        {
            buf.clear();
            buf.push_str(text);
            return e.clone();
        }
        let e = EventJson::from_text(text);
        *spare = Some(e.clone());
        e
    }
    /// A parsed event's text (compact, keys in the value's order).
    pub fn from_value(v: &serde_json::Value) -> EventJson {
        EventJson(Arc::new(v.to_string()))
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

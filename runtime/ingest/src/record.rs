//! What decoders produce: samples and events with their times.

use serde_json::Value;

/// One parsed input record. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Sample {
        metric: String,
        labels: Vec<(String, String)>,
        ts: i64,
        value: f64,
    },
    /// A staleness marker: the series ended at `ts` (instant reads stop seeing it), as
    /// Prometheus marks a target that disappeared.
    Stale {
        metric: String,
        labels: Vec<(String, String)>,
        ts: i64,
    },
    Event {
        ts: i64,
        event: Value,
    },
    /// An event line kept as text (only with [`crate::Context::raw_events`]): the engine reads the
    /// fields its rules use straight from the object at `start`, and parses the rest only for
    /// alerts.
    Raw {
        ts: i64,
        line: String,
        start: usize,
    },
}

impl Record {
    pub fn ts(&self) -> i64 {
        match self {
            Record::Sample { ts, .. }
            | Record::Stale { ts, .. }
            | Record::Event { ts, .. }
            | Record::Raw { ts, .. } => *ts,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Decided per line.
    Auto,
    Json,
    Prometheus,
    Influx,
}

impl Format {
    /// From a file name's extension.
    pub fn of_path(p: &str) -> Format {
        let ext = p.rsplit('.').next().unwrap_or("");
        match ext {
            "jsonl" | "json" | "ndjson" => Format::Json,
            "prom" => Format::Prometheus,
            "influx" | "lp" => Format::Influx,
            _ => Format::Auto,
        }
    }
}

//! Vigil's input decoders: bytes to samples and events. JSON lines (samples and events),
//! Prometheus text exposition and Influx line protocol, one line at a time; later
//! remote_write, syslog, CEF and Falco. No IO: callers hand in the bytes (`vigil replay` reads
//! files, the daemon sockets) and report bad lines, which come back as messages.

#![forbid(unsafe_code)]

pub mod binary;
pub mod fast_json;
pub mod influx;
mod json;
mod line;
pub mod lines;
mod prometheus;
mod record;
pub mod remote_write;
mod seen;
pub mod series_keys;
pub mod strict;
pub mod syslog;

pub use line::{Context, parse_line, parse_line_into};
pub use lines::{BadLine, LineSource};
pub use prometheus::float;
pub use record::{Format, Record};
pub use vigil_vocab::time::{format_rfc3339, rfc3339, timestamp};

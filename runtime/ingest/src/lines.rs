//! An input stream read a line at a time into records, in its own order. The caller opens the
//! stream (a file, stdin, a request body); bad lines are kept with their numbers and reasons
//! for the caller to report, and never stop the stream.

use crate::{Context, Format, Record, parse_line_into};
use std::collections::VecDeque;
use std::fmt;
use std::io::BufRead;

/// A line that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The stream's name (a path, `-` for stdin).
    pub source: String,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.message)
    }
}

/// Records from one stream, read ahead one line at a time.
pub struct LineSource<R> {
    name: String,
    fmt: Format,
    reader: R,
    line: Vec<u8>,
    line_no: usize,
    /// Records parsed but not yet taken (an Influx line may hold several).
    queue: VecDeque<Record>,
    /// Taken records handed back, reused for parsing (no allocation per line once warm).
    spare: Vec<Record>,
    cx: Context,
    bad: Vec<BadLine>,
    /// Bad lines seen so far.
    pub bad_lines: u64,
    max_line: usize,
    /// A read failed: nothing more comes from this reader.
    ended: bool,
}

/// The longest line read by default (4 MiB): events are hundreds of bytes, and a line without
/// an end must not be read into memory whole.
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line (with its newline, if it had one) is in the buffer.
    Full,
    /// A line of this many bytes (newline excluded) was longer than the limit and skipped; the
    /// buffer holds its first bytes only.
    TooLong(usize),
    End,
}

impl<R: BufRead> LineSource<R> {
    /// A stream called `name` (for messages) in format `fmt`; with `raw_events`, event lines
    /// stay text ([`Record::Raw`]) for the engine's direct reader.
    pub fn new(name: impl Into<String>, reader: R, fmt: Format, raw_events: bool) -> Self {
        LineSource {
            name: name.into(),
            fmt,
            reader,
            line: Vec::new(),
            line_no: 0,
            queue: VecDeque::new(),
            spare: Vec::new(),
            cx: Context {
                raw_events,
                ..Context::default()
            },
            bad: Vec::new(),
            bad_lines: 0,
            max_line: MAX_LINE_BYTES,
            ended: false,
        }
    }

    /// The time of the next record, reading on past blank and bad lines; `None` at the end.
    /// A read error ends the stream (it is reported once as a bad line): retrying a reader
    /// that failed, such as a directory, would fail forever.
    pub fn peek(&mut self) -> Option<i64> {
        while self.queue.is_empty() {
            if self.ended {
                return None;
            }
            self.line.clear();
            match read_line(&mut self.reader, &mut self.line, self.max_line) {
                Ok(Line::End) => return None,
                Ok(Line::Full) => self.line_no += 1,
                Ok(Line::TooLong(n)) => {
                    self.line_no += 1;
                    let max = self.max_line;
                    self.refuse(format!(
                        "line of {n} bytes is longer than the limit of {max} bytes; skipped"
                    ));
                    continue;
                }
                Err(e) => {
                    self.line_no += 1;
                    self.ended = true;
                    self.refuse(format!("read failed, stream ends here: {e}"));
                    continue;
                }
            }
            let Ok(line) = std::str::from_utf8(&self.line) else {
                self.refuse("line is not valid UTF-8".into());
                continue;
            };
            if let Err(e) = parse_line_into(
                line,
                self.fmt,
                &mut self.cx,
                &mut self.queue,
                &mut self.spare,
            ) {
                self.refuse(e);
            }
        }
        self.queue.front().map(Record::ts)
    }

    /// Sample lines of a series read before come as [`Record::Keyed`], their labels unread
    /// (see [`crate::series_keys`]).
    pub fn with_series_keys(mut self) -> Self {
        self.cx.series_keys = Some(Default::default());
        self
    }

    /// Lines longer than `max` bytes are refused (and skipped without being held in memory).
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// The next record (call [`LineSource::peek`] first to read ahead).
    pub fn pop(&mut self) -> Option<Record> {
        self.queue.pop_front()
    }

    /// Hands a taken record back for its buffers.
    pub fn recycle(&mut self, r: Record) {
        if self.spare.len() < 64 {
            self.spare.push(r);
        }
    }

    /// The bad lines met since the last call.
    pub fn take_bad(&mut self) -> Vec<BadLine> {
        std::mem::take(&mut self.bad)
    }

    /// Reports the line of the record last taken as bad (a later stage could not read it).
    pub fn refuse_current(&mut self, message: String) {
        self.refuse(message)
    }

    /// The number of the line last read (1-based; 0 before the first).
    pub fn line_no(&self) -> usize {
        self.line_no
    }

    /// Reports line `line` as bad (a record taken earlier was refused later).
    pub fn refuse_line(&mut self, line: usize, message: String) {
        self.bad_lines += 1;
        self.bad.push(BadLine {
            source: self.name.clone(),
            line,
            message,
        });
    }

    fn refuse(&mut self, message: String) {
        self.bad_lines += 1;
        self.bad.push(BadLine {
            source: self.name.clone(),
            line: self.line_no,
            message,
        });
    }
}

/// One line's bytes (with its newline) appended to `buf`, holding at most `max` bytes of it:
/// the rest of a longer line is read and dropped.
pub fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    let mut n = 0usize;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match n {
                0 => Line::End,
                n if n > max => Line::TooLong(n),
                _ => Line::Full,
            });
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (max + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        reader.consume(take);
        n += take;
        if done {
            let len = n - 1;
            return Ok(if len > max {
                Line::TooLong(len)
            } else {
                Line::Full
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_numbered_and_skipped() {
        let text = "{\"ts\":1,\"metric\":\"a\",\"value\":1}\nnot json\n\n{\"ts\":2,\"metric\":\"a\",\"value\":2}";
        let mut s = LineSource::new("x.jsonl", text.as_bytes(), Format::Json, false);
        assert_eq!(s.peek(), Some(1));
        let first = s.pop();
        assert!(matches!(first, Some(Record::Sample { ts: 1, .. })));
        assert_eq!(s.peek(), Some(2));
        let bad = s.take_bad();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
        assert!(bad[0].to_string().starts_with("x.jsonl:2: "), "{}", bad[0]);
        assert!(s.pop().is_some());
        assert_eq!(s.peek(), None);
        assert_eq!(s.bad_lines, 1);
    }

    #[test]
    fn long_lines_are_refused_without_being_held() {
        let long = format!(
            "{{\"ts\":1,\"metric\":\"a\",\"value\":1,\"pad\":\"{}\"}}",
            "x".repeat(5000)
        );
        let text = format!("{long}\n{{\"ts\":2,\"metric\":\"a\",\"value\":2}}\n");
        let mut s = LineSource::new("x", text.as_bytes(), Format::Json, false).with_max_line(100);
        assert_eq!(s.peek(), Some(2));
        let bad = s.take_bad();
        assert_eq!(bad.len(), 1);
        assert!(
            bad[0].message.contains("longer than the limit of 100"),
            "{}",
            bad[0]
        );
        assert!(s.line.capacity() < 1000);
    }

    /// A reader that always fails, as a directory opened for reading does.
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("Is a directory"))
        }
    }

    #[test]
    fn a_failing_reader_ends_the_stream_once() {
        let mut s = LineSource::new("dir", std::io::BufReader::new(Failing), Format::Json, false);
        assert_eq!(s.peek(), None);
        assert_eq!(s.peek(), None);
        assert_eq!(s.bad_lines, 1);
    }
}

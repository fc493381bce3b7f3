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
        }
    }

    /// The time of the next record, reading on past blank and bad lines; `None` at the end.
    pub fn peek(&mut self) -> Option<i64> {
        while self.queue.is_empty() {
            self.line.clear();
            match read_line(&mut self.reader, &mut self.line) {
                Ok(0) => return None,
                Ok(_) => self.line_no += 1,
                Err(e) => {
                    self.line_no += 1;
                    self.refuse(e.to_string());
                    continue;
                }
            }
            let Ok(line) = std::str::from_utf8(&self.line) else {
                self.refuse("stream did not contain valid UTF-8".into());
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

    fn refuse(&mut self, message: String) {
        self.bad_lines += 1;
        self.bad.push(BadLine {
            source: self.name.clone(),
            line: self.line_no,
            message,
        });
    }
}

/// One line's bytes (with its newline) appended to `buf`; 0 at the end of input.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(n);
        }
        match memchr::memchr(b'\n', chunk) {
            Some(i) => {
                buf.extend_from_slice(&chunk[..=i]);
                reader.consume(i + 1);
                return Ok(n + i + 1);
            }
            None => {
                let len = chunk.len();
                buf.extend_from_slice(chunk);
                reader.consume(len);
                n += len;
            }
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
}

//! The language server's stdio framing (`Content-Length` headers and JSON-RPC bodies), read
//! with limits: a body larger than [`MAX_BODY`], a header that is not a number, or a body that
//! is not a JSON-RPC message ends the server with an error naming it, never an abort. When
//! the client closes stdin the server ends (an editor that died leaves no server behind).

use crossbeam_channel::Sender;
use lsp_server::{Connection, Message};
use std::io::BufRead;

/// The largest message body read (64 MiB): a whole rules file is far smaller.
pub const MAX_BODY: usize = 64 << 20;

/// A connection over stdin/stdout, and the threads moving its messages.
pub fn stdio() -> (Connection, Threads) {
    let (server, client) = Connection::memory();
    let Connection { sender, receiver } = client;
    let reader = std::thread::spawn(move || {
        let stdin = std::io::stdin();
        read_all(&mut stdin.lock(), &sender)
    });
    let writer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for msg in receiver {
            msg.write(&mut out)?;
        }
        Ok(())
    });
    (server, Threads { reader, writer })
}

/// The threads of [`stdio`]; joined to learn how the transport ended.
pub struct Threads {
    reader: std::thread::JoinHandle<std::io::Result<()>>,
    writer: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Threads {
    /// The first error either thread met (a malformed message, a closed stdout).
    pub fn join(self) -> std::io::Result<()> {
        let read = self
            .reader
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the reader stopped")));
        let write = self
            .writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the writer stopped")));
        read.and(write)
    }
}

/// Reads messages until the end of input, handing each to `to`.
pub fn read_all(input: &mut impl BufRead, to: &Sender<Message>) -> std::io::Result<()> {
    while let Some(msg) = read_message(input)? {
        let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
        if to.send(msg).is_err() || exit {
            break;
        }
    }
    Ok(())
}

/// One message; `None` at the end of input.
pub fn read_message(input: &mut impl BufRead) -> std::io::Result<Option<Message>> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut length: Option<usize> = None;
    let mut line = String::new();
    loop {
        line.clear();
        // Header lines are short: one longer than 1 KiB is not a header.
        let n = std::io::Read::take(&mut *input, 1024).read_line(&mut line)?;
        if n == 0 {
            return match length {
                None => Ok(None),
                Some(_) => Err(bad("the input ended inside a message's headers".into())),
            };
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(": ") else {
            return Err(bad(format!("malformed header `{header}`")));
        };
        if name.eq_ignore_ascii_case("Content-Length") {
            let v: usize = value
                .trim()
                .parse()
                .map_err(|_| bad(format!("`Content-Length: {value}` is not a length")))?;
            if v > MAX_BODY {
                return Err(bad(format!(
                    "a message of {v} bytes is larger than the limit of {MAX_BODY}"
                )));
            }
            length = Some(v);
        }
    }
    let length = length.ok_or_else(|| bad("a message without `Content-Length`".into()))?;
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| bad(format!("not a JSON-RPC message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> std::io::Result<Option<Message>> {
        read_message(&mut text.as_bytes())
    }

    #[test]
    fn refuses_bad_frames_with_a_reason() {
        for (text, why) in [
            ("Content-Length: abc\r\n\r\n{}", "is not a length"),
            (
                "Content-Length: 999999999999\r\n\r\n{}",
                "larger than the limit",
            ),
            (
                "Content-Length: 7\r\n\r\n{\"a\":1}",
                "not a JSON-RPC message",
            ),
            ("Content-Length: 5\r\n\r\n{nope", "not a JSON-RPC message"),
            ("Nonsense\r\n\r\n", "malformed header"),
            ("Content-Type: x\r\n\r\n", "without `Content-Length`"),
        ] {
            let err = read(text).expect_err(text);
            assert!(err.to_string().contains(why), "{text:?}: {err}");
        }
        assert!(read("").unwrap().is_none());
        let ok = "Content-Length: 40\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"initialized\"}";
        assert!(
            matches!(read(ok), Ok(Some(Message::Notification(_)))),
            "{:?}",
            read(ok)
        );
    }
}

//! Syslog listeners (`[[syslog]]` in vigil.toml): RFC 5424 and RFC 3164 messages over UDP
//! (one per datagram) or TCP (RFC 6587: octet counting, or one per line), CEF payloads
//! included, as events (`vigil_ingest::syslog`). Messages are gathered for a few milliseconds
//! and go to the engine together, through the same checks and log as any input.

use crate::api::{AppState, accept};
use crate::worker::now_ms;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc;
use vigil_ingest::Record;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `host:port` (loopback unless you say otherwise).
    pub listen: String,
    /// `udp` or `tcp`.
    #[serde(default = "SyslogConfig::default_protocol")]
    pub protocol: String,
}

impl SyslogConfig {
    fn default_protocol() -> String {
        "udp".into()
    }
}

/// Largest message taken (bytes); a longer one is refused (TCP) or cut (UDP datagrams).
const MAX_MESSAGE: usize = 64 << 10;
/// Messages gathered before they go to the engine, and for how long at most.
const BATCH: usize = 1000;
const GATHER: Duration = Duration::from_millis(20);

/// Binds every listener (an address in use is an error at start) and starts serving.
pub async fn start(state: &Arc<AppState>, listeners: &[SyslogConfig]) -> Result<(), String> {
    for l in listeners {
        let (tx, rx) = mpsc::channel::<(String, i64)>(10_000);
        tokio::spawn(forward(state.clone(), rx));
        match l.protocol.as_str() {
            "udp" => {
                let sock = tokio::net::UdpSocket::bind(&l.listen)
                    .await
                    .map_err(|e| format!("syslog udp {}: {e}", l.listen))?;
                tokio::spawn(udp(sock, tx));
            }
            "tcp" => {
                let lis = tokio::net::TcpListener::bind(&l.listen)
                    .await
                    .map_err(|e| format!("syslog tcp {}: {e}", l.listen))?;
                tokio::spawn(tcp(lis, tx, state.clone()));
            }
            p => return Err(format!("syslog {}: protocol `{p}` (udp or tcp)", l.listen)),
        }
        crate::log::info(&format!("syslog over {} on {}", l.protocol, l.listen));
    }
    Ok(())
}

async fn udp(sock: tokio::net::UdpSocket, tx: mpsc::Sender<(String, i64)>) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    while let Ok((n, _)) = sock.recv_from(&mut buf).await {
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if tx.send((msg, now_ms())).await.is_err() {
            return;
        }
    }
}

async fn tcp(lis: tokio::net::TcpListener, tx: mpsc::Sender<(String, i64)>, state: Arc<AppState>) {
    while let Ok((conn, _)) = lis.accept().await {
        let (tx, state) = (tx.clone(), state.clone());
        tokio::spawn(async move {
            let mut r = BufReader::new(conn);
            loop {
                let msg = match frame(&mut r).await {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(why) => {
                        state.metrics.refuse("syslog_framing");
                        crate::log::error(&format!("syslog tcp: {why}; connection closed"));
                        return;
                    }
                };
                if tx.send((msg, now_ms())).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The next message of a TCP stream: `LEN SP MSG` (octet counting) when it starts with a
/// digit, else up to a newline. `None` at the end of the stream.
async fn frame<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Result<Option<String>, String> {
    let first = match r.fill_buf().await {
        Ok([]) => return Ok(None),
        Ok(b) => b[0],
        Err(e) => return Err(e.to_string()),
    };
    if first.is_ascii_digit() {
        let mut len = Vec::new();
        r.read_until(b' ', &mut len)
            .await
            .map_err(|e| e.to_string())?;
        let n: usize = std::str::from_utf8(&len)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or("bad octet count")?;
        if n > MAX_MESSAGE {
            return Err(format!("a {n}-byte message (at most {MAX_MESSAGE})"));
        }
        let mut msg = vec![0u8; n];
        r.read_exact(&mut msg).await.map_err(|e| e.to_string())?;
        return Ok(Some(String::from_utf8_lossy(&msg).into_owned()));
    }
    let mut line = Vec::new();
    let mut limited = r.take(MAX_MESSAGE as u64 + 1);
    limited
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| e.to_string())?;
    if line.len() > MAX_MESSAGE {
        return Err(format!("a line longer than {MAX_MESSAGE} bytes"));
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Gathers messages for a moment, parses them into event lines and hands them on.
async fn forward(state: Arc<AppState>, mut rx: mpsc::Receiver<(String, i64)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + GATHER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => batch.push(m),
                _ => break,
            }
        }
        let mut text = String::new();
        for (msg, at) in &batch {
            if msg.trim().is_empty() {
                continue;
            }
            match vigil_ingest::syslog::parse(msg, *at) {
                Ok((ts, event)) => Record::Event { ts, event }.to_json_line(&mut text),
                Err(_) => state.metrics.refuse("syslog_parse"),
            }
        }
        let n = batch.len() as u64;
        state
            .metrics
            .lines
            .get_or_create(&vec![
                ("source", "syslog".to_string()),
                ("result", "received".to_string()),
            ])
            .inc_by(n);
        if !text.is_empty()
            && let Err(r) = accept(&state, text.as_bytes(), "syslog").await
        {
            crate::log::error(&format!(
                "syslog: the engine did not take {n} messages ({})",
                r.status()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_framing() {
        let data = b"17 <13>1 - - - - - -<13>plain line\n5 <13>x".to_vec();
        let mut r = BufReader::new(&data[..]);
        assert_eq!(frame(&mut r).await.unwrap().unwrap(), "<13>1 - - - - - -");
        assert_eq!(frame(&mut r).await.unwrap().unwrap(), "<13>plain line\n");
        assert_eq!(frame(&mut r).await.unwrap().unwrap(), "<13>x");
        assert_eq!(frame(&mut r).await.unwrap(), None);
        let big = format!("{} x", MAX_MESSAGE + 1);
        let mut r = BufReader::new(big.as_bytes());
        assert!(frame(&mut r).await.is_err());
    }
}

//! HTTP/1.1 by hand over TCP, for clients no library would be (one that declares a huge body
//! and sends a little of it, one that stops midway through its body or its headers) and for
//! the scripted webhook receivers, which must answer in ways no server library would.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::API_KEY;

/// Longest message head read, in bytes.
const HEAD_MAX_BYTES: usize = 64 * 1024;

pub async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the gateway accepts a connection")
}

/// The head of a `POST` of JSON with the test API key and `Content-Length: length`.
pub fn post_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {API_KEY}\r\n\
         content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    )
}

pub async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .await
        .expect("the gateway takes the bytes");
}

/// An answer as read off the wire.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header(&self.headers, name)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// Reads one answer (its head and a `Content-Length` body); `None` when the connection ends
/// first or nothing complete arrives within `limit`.
pub async fn read_answer(stream: &mut TcpStream, limit: Duration) -> Option<RawAnswer> {
    let message = tokio::time::timeout(limit, read_message(stream))
        .await
        .ok()??;
    let status = message.start_line.split(' ').nth(1)?.parse().ok()?;
    Some(RawAnswer {
        status,
        headers: message.headers,
        body: message.body,
    })
}

/// One HTTP/1.1 message, request or answer, as read off the wire.
pub struct RawMessage {
    /// The request line or the status line.
    pub start_line: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Reads one message: its head, then as many body bytes as `Content-Length` says. `None` when
/// the connection ends first or the head outgrows `HEAD_MAX_BYTES`.
pub async fn read_message(stream: &mut TcpStream) -> Option<RawMessage> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > HEAD_MAX_BYTES {
            return None;
        }
        let mut chunk = [0u8; 8192];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let start_line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    if body.len() < length {
        let mut rest = vec![0u8; length - body.len()];
        stream.read_exact(&mut rest).await.ok()?;
        body.extend_from_slice(&rest);
    }
    Some(RawMessage {
        start_line,
        headers,
        body,
    })
}

/// Waits until the server closes the connection, reading and dropping whatever it sends;
/// true when it closed within `limit`.
pub async fn closes_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = [0u8; 8192];
    let closed = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    tokio::time::timeout(limit, closed).await.is_ok()
}

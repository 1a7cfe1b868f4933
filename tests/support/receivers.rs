//! Webhook receivers on loopback: real HTTP/1.1 servers that answer each delivery as a script
//! says and record what arrived and when.
//!
//! They are written on bare TCP rather than on an HTTP framework so that a script can answer
//! as no well-behaved server would: hang, hang up midway through a body, send 50 MB.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orderflow_schemas::clock::now_ms;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::raw_http::read_message;

/// Longest a hanging answer holds its connection, so that no test leaves one behind.
const HANG_MAX: Duration = Duration::from_secs(120);
/// What a cut-off answer promises as `Content-Length`, and how much of it it sends, in bytes.
const CUT_OFF_PROMISED_BYTES: usize = 1024;
const CUT_OFF_SENT_BYTES: usize = 100;
/// Bytes a huge answer writes at a time.
const HUGE_CHUNK_BYTES: usize = 64 * 1024;

/// How a receiver answers one delivery.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status, with a short text body (none for 204).
    Status(u16),
    /// This status (429 or 503) with `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
    /// `302 Found` to this location.
    Redirect(String),
    /// `200 OK` with a body of this many bytes of `x`, written as fast as the client reads.
    Huge(usize),
    /// `200 OK` that promises a 1 KiB body and hangs up after 100 bytes of it.
    CutOff,
    /// No answer: the connection stays open until the client gives up.
    Hang,
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// When the request was complete, in epoch ms.
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header(&self.headers, name)
    }

    pub fn webhook_id(&self) -> &str {
        self.header("webhook-id").unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Decides the answer to the `n`th request (from 0).
pub type Script = Arc<dyn Fn(usize) -> Answer + Send + Sync>;

#[derive(Default)]
struct Log {
    received: Mutex<Vec<Received>>,
    connections: AtomicUsize,
    open: AtomicUsize,
    most_open: AtomicUsize,
    body_bytes_sent: AtomicUsize,
}

/// A receiver listening on `127.0.0.1:<port>`; it stops, connections and all, when dropped.
pub struct Receiver {
    pub port: u16,
    log: Arc<Log>,
    accept: JoinHandle<()>,
}

impl Receiver {
    /// Answers every request alike.
    pub async fn answering(answer: Answer) -> Receiver {
        Self::start(Arc::new(move |_| answer.clone())).await
    }

    /// Answers the first `failures` requests with `failure`, then every one with `success`.
    pub async fn failing_first(failures: usize, failure: Answer, success: Answer) -> Receiver {
        let script = move |n| {
            if n < failures {
                failure.clone()
            } else {
                success.clone()
            }
        };
        Self::start(Arc::new(script)).await
    }

    pub async fn start(script: Script) -> Receiver {
        Self::start_on(0, script).await
    }

    /// Listens on a given port, for a receiver that was down and comes back.
    pub async fn start_on(port: u16, script: Script) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("a receiver binds on loopback");
        let port = listener.local_addr().expect("a local address").port();
        let log = Arc::new(Log::default());
        let accept = tokio::spawn(accept(listener, script, log.clone()));
        Receiver { port, log, accept }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.log
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// TCP connections accepted, whether or not a request followed.
    pub fn connections(&self) -> usize {
        self.log.connections.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn most_open(&self) -> usize {
        self.log.most_open.load(Ordering::SeqCst)
    }

    /// Body bytes the receiver managed to write, over all answers.
    pub fn body_bytes_sent(&self) -> usize {
        self.log.body_bytes_sent.load(Ordering::SeqCst)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Accepts connections until aborted; the connections' tasks end with it.
async fn accept(listener: TcpListener, script: Script, log: Arc<Log>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        log.connections.fetch_add(1, Ordering::SeqCst);
        let open = log.open.fetch_add(1, Ordering::SeqCst) + 1;
        log.most_open.fetch_max(open, Ordering::SeqCst);
        let (script, log) = (script.clone(), log.clone());
        connections.spawn(async move {
            serve(stream, &script, &log).await;
            log.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Reads one request, records it and answers it; every answer closes the connection.
async fn serve(mut stream: TcpStream, script: &Script, log: &Log) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let n = {
        let mut received = log.received.lock().unwrap_or_else(|e| e.into_inner());
        received.push(request);
        received.len() - 1
    };
    let sent = answer(&mut stream, script(n)).await;
    log.body_bytes_sent.fetch_add(sent, Ordering::SeqCst);
}

async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let message = read_message(stream).await?;
    let mut request_line = message.start_line.split(' ');
    let (method, path) = (
        request_line.next()?.to_owned(),
        request_line.next()?.to_owned(),
    );
    Some(Received {
        at_ms: now_ms(),
        method,
        path,
        headers: message.headers,
        body: message.body,
    })
}

fn status_line(code: u16) -> String {
    let reason = StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    format!("HTTP/1.1 {code} {reason}\r\nconnection: close\r\n")
}

/// Writes the answer; returns how many body bytes went out before the client hung up.
async fn answer(stream: &mut TcpStream, answer: Answer) -> usize {
    match answer {
        Answer::Status(204) => write_all(stream, format!("{}\r\n", status_line(204))).await,
        Answer::Status(code) => {
            let body = format!("receiver answered {code}");
            let head = format!(
                "{}content-length: {}\r\n\r\n",
                status_line(code),
                body.len()
            );
            write_all(stream, head + &body).await
        }
        Answer::RetryAfter(code, seconds) => {
            let head = format!("{}retry-after: {seconds}\r\n", status_line(code));
            write_all(stream, head + "content-length: 0\r\n\r\n").await
        }
        Answer::Redirect(location) => {
            let head = format!("{}location: {location}\r\n", status_line(302));
            write_all(stream, head + "content-length: 0\r\n\r\n").await
        }
        Answer::Huge(bytes) => huge(stream, bytes).await,
        Answer::CutOff => {
            let head = format!(
                "{}content-length: {CUT_OFF_PROMISED_BYTES}\r\n\r\n",
                status_line(200)
            );
            write_all(stream, head + &"x".repeat(CUT_OFF_SENT_BYTES)).await
        }
        Answer::Hang => {
            // Waits for the client to close; anything it sends meanwhile is ignored.
            let mut sink = [0u8; 1024];
            let _ = tokio::time::timeout(HANG_MAX, async {
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            })
            .await;
            0
        }
    }
}

/// Writes `text` and counts what followed the head as body.
async fn write_all(stream: &mut TcpStream, text: String) -> usize {
    let body = text.find("\r\n\r\n").map_or(0, |end| text.len() - end - 4);
    match stream.write_all(text.as_bytes()).await {
        Ok(()) => {
            let _ = stream.flush().await;
            body
        }
        Err(_) => 0,
    }
}

async fn huge(stream: &mut TcpStream, bytes: usize) -> usize {
    let head = format!(
        "{}content-type: text/plain\r\ncontent-length: {bytes}\r\n\r\n",
        status_line(200)
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let chunk = vec![b'x'; HUGE_CHUNK_BYTES];
    let mut sent = 0;
    while sent < bytes {
        let size = HUGE_CHUNK_BYTES.min(bytes - sent);
        if stream.write_all(&chunk[..size]).await.is_err() {
            break;
        }
        sent += size;
    }
    sent
}

//! A small HTTP/1.1 server for the exporter: GET and HEAD, one request per
//! connection, bounded everywhere. Hand-written on std because a metrics
//! endpoint on every node needs limits tiny_http does not offer upstream
//! (read and write timeouts, a cap on connections): a stalled or slow
//! client times out on its own thread and never blocks the other scrapes,
//! a flood gets 503, and bad requests get 4xx, never a crash.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Limits of one connection.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    /// For the request to arrive, and between writes of the response.
    pub timeout: Duration,
    /// Request line and headers together.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            timeout: Duration::from_secs(10),
            max_head: 8 * 1024,
        }
    }
}

/// A response to send.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn write_response(stream: &mut TcpStream, r: &Response, head_only: bool) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}

/// Reads the request head; returns (method, path) or the status to answer.
fn read_head(stream: &TcpStream, limits: &Limits) -> Result<(String, String), u16> {
    let mut reader = BufReader::new(stream.take_ref(limits.max_head as u64 + 1));
    let mut line = String::new();
    let mut total = 0usize;
    let mut first = String::new();
    loop {
        line.clear();
        let n = match reader.read_line(&mut line) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(408);
            }
            Err(_) => return Err(400),
        };
        total += n;
        if total > limits.max_head {
            // Read the rest of the head (up to a hard cap) before answering,
            // so that no request bytes are left unread when we close: that
            // would reset the connection and lose the 431.
            let mut rest = BufReader::new(io::Read::take(stream, 64 * 1024));
            let mut seen_end = line.ends_with('\n');
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match rest.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if seen_end && (buf == b"\r\n" || buf == b"\n") => break,
                    Ok(_) => seen_end = buf.ends_with(b"\n"),
                }
            }
            return Err(431);
        }
        if n == 0 {
            return Err(400);
        }
        if first.is_empty() {
            first = line.trim_end().to_string();
            if first.is_empty() {
                return Err(400);
            }
            continue;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = first.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(p), Some(v)) if v.starts_with("HTTP/1.") && p.starts_with('/') => {
            Ok((m.to_string(), p.to_string()))
        }
        _ => Err(400),
    }
}

/// `Read` over a `&TcpStream` with a byte cap.
trait TakeRef {
    fn take_ref(&self, n: u64) -> io::Take<&TcpStream>;
}

impl TakeRef for TcpStream {
    fn take_ref(&self, n: u64) -> io::Take<&TcpStream> {
        io::Read::take(self, n)
    }
}

/// Serves until the listener fails. `handle` maps a path to a response.
pub fn serve<H>(listener: TcpListener, limits: Limits, handle: Arc<H>) -> io::Result<()>
where
    H: Fn(&str) -> Response + Send + Sync + 'static,
{
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(mut stream) = conn else { continue };
        let _ = stream.set_read_timeout(Some(limits.timeout));
        let _ = stream.set_write_timeout(Some(limits.timeout));
        if active.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = write_response(
                &mut stream,
                &Response::text(503, "too many connections\n"),
                false,
            );
            continue;
        }
        let counter = Arc::clone(&active);
        let handle = Arc::clone(&handle);
        let spawned = std::thread::Builder::new()
            .name("tcpdoctor-http".into())
            .spawn(move || {
                let response = match read_head(&stream, &limits) {
                    Ok((method, path)) if method == "GET" || method == "HEAD" => {
                        let path = path.split('?').next().unwrap_or("/").to_string();
                        Some((handle(&path), method == "HEAD"))
                    }
                    Ok(_) => Some((Response::text(405, "only GET and HEAD\n"), false)),
                    Err(408) => None,
                    Err(status) => Some((
                        Response::text(status, format!("{}\n", reason(status))),
                        false,
                    )),
                };
                if let Some((r, head_only)) = response {
                    let _ = write_response(&mut stream, &r, head_only);
                }
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // Out of threads: the connection is dropped, its slot freed.
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
    Ok(())
}

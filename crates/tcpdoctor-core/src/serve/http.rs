//! A small HTTP/1.1 server for the exporter: GET and HEAD, one request per
//! connection, bounded everywhere. Hand-written on std because a metrics
//! endpoint on every node needs limits tiny_http does not offer upstream:
//!
//! - a request must arrive whole within `request_deadline` (not per read:
//!   a client trickling one byte every few seconds is cut off too);
//! - at most `max_connections` at once and `max_per_peer` from one address;
//!   a newcomer makes room by evicting the oldest connection still sending
//!   its request: among its own address's when that address holds its
//!   share, among all when every slot is taken. So idle or slow clients
//!   can never lock real scrapes out, not even from the scraper's own
//!   address. A connection being answered is never evicted; only when all
//!   the slots it could take are busy answering is a client told 503;
//! - a slot is released by a guard when its thread ends, also by a panic;
//! - when accept() fails (EMFILE, ENFILE: the very condition `fd-exhaustion`
//!   diagnoses) the loop backs off, 5 ms doubling to 1 s as Go's net/http
//!   does, instead of spinning a core;
//! - bad requests get 4xx, never a crash.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Limits of the server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections at once.
    pub max_connections: usize,
    /// Connections at once from one peer address.
    pub max_per_peer: usize,
    /// For the whole request head to arrive.
    pub request_deadline: Duration,
    /// For each write of the response.
    pub write_timeout: Duration,
    /// Request line and headers together.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            max_per_peer: 8,
            request_deadline: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
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
    pub(crate) fn text(status: u16, body: impl Into<String>) -> Response {
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

fn write_response(mut stream: &TcpStream, r: &Response, head_only: bool) -> io::Result<()> {
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

/// Reads from a stream until a fixed deadline: each read waits only for
/// what is left of it.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut s = self.stream;
        s.read(buf)
    }
}

/// Reads the request head; returns (method, path) or the status to answer.
fn read_head(stream: &TcpStream, limits: &Limits) -> Result<(String, String), u16> {
    let deadline = Instant::now() + limits.request_deadline;
    let input = DeadlineReader { stream, deadline };
    let mut reader = BufReader::new(input.take(limits.max_head as u64 + 1));
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
            // Read the rest of the head (up to a hard cap, within the
            // deadline) before answering, so that no request bytes are left
            // unread when we close: that would reset the connection and
            // lose the 431.
            let rest = DeadlineReader { stream, deadline };
            let mut rest = BufReader::new(rest.take(64 * 1024));
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

/// One connection holding a slot.
struct Slot {
    /// Counts up in the order of admission: the smallest is the oldest
    /// (an Instant could tie).
    id: u64,
    peer: IpAddr,
    /// Still reading its request: it may be evicted for a newer client.
    reading: bool,
    /// The connection, shared with its thread, to shut it down when it is
    /// evicted (shared, not duplicated: a connection costs one fd).
    stream: Arc<TcpStream>,
}

/// The connections being served.
#[derive(Default)]
struct Slots {
    list: Vec<Slot>,
    next_id: u64,
}

impl Slots {
    /// Evicts the oldest connection of `whose` still reading its request;
    /// false when there is none (all of them are being answered).
    fn evict_oldest_reading(&mut self, whose: impl Fn(&Slot) -> bool) -> bool {
        let oldest = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, c)| c.reading && whose(c))
            .min_by_key(|(_, c)| c.id)
            .map(|(i, _)| i);
        let Some(i) = oldest else {
            return false;
        };
        let evicted = self.list.swap_remove(i);
        // Its thread's read fails now; its guard finds nothing to remove.
        let _ = evicted.stream.shutdown(Shutdown::Both);
        true
    }
}

/// Why a connection got no slot.
enum Refused {
    /// Every slot is busy answering a request.
    Busy,
    /// This peer already holds its share, every one busy answering.
    PeerCap,
}

/// A connection and its slot. Dropping it (when its thread ends, also by
/// a panic) releases the slot first and then closes the connection, so a
/// client that sees the close finds the slot free.
struct SlotGuard {
    slots: Arc<Mutex<Slots>>,
    id: u64,
    stream: Arc<TcpStream>,
}

impl SlotGuard {
    /// The request has arrived: the connection may no longer be evicted.
    /// False when it was already, between its last read and now: its
    /// stream is shut down, there is nobody to answer. Both under the
    /// lock, so an answer is never cut off by an eviction.
    fn answering(&self) -> bool {
        let mut slots = lock(&self.slots);
        let me = slots.list.iter_mut().find(|s| s.id == self.id);
        me.map(|s| s.reading = false).is_some()
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        lock(&self.slots).list.retain(|s| s.id != self.id);
    }
}

/// The slots' lock; a panic while holding it leaves consistent data (every
/// change is one Vec operation), so a poisoned lock is used as it is.
fn lock(slots: &Mutex<Slots>) -> MutexGuard<'_, Slots> {
    slots.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes a slot for `stream`. When its peer holds its share, the peer's
/// own oldest connection still reading its request is evicted; when every
/// slot is taken, the oldest of all still reading is.
fn admit(
    slots: &Arc<Mutex<Slots>>,
    stream: TcpStream,
    peer: IpAddr,
    limits: &Limits,
) -> Result<SlotGuard, (Refused, TcpStream)> {
    let mut s = lock(slots);
    if s.list.iter().filter(|c| c.peer == peer).count() >= limits.max_per_peer {
        // Refusing the newcomer let slow clients on the scraper's own
        // address (the same host, a NAT) take its place: 8 of them made
        // most scrapes 503. The newest connection is the likeliest to be a
        // scrape, one stuck for seconds the likeliest to be a slow client;
        // and the peer pays with its own slot, never another's. This frees
        // a slot of all too, so the total cap holds.
        if !s.evict_oldest_reading(|c| c.peer == peer) {
            return Err((Refused::PeerCap, stream));
        }
    } else if s.list.len() >= limits.max_connections && !s.evict_oldest_reading(|_| true) {
        return Err((Refused::Busy, stream));
    }
    s.next_id += 1;
    let id = s.next_id;
    let stream = Arc::new(stream);
    s.list.push(Slot {
        id,
        peer,
        reading: true,
        stream: Arc::clone(&stream),
    });
    Ok(SlotGuard {
        slots: Arc::clone(slots),
        id,
        stream,
    })
}

/// Waits between failed accept()s: 5 ms doubling to 1 s, as Go's
/// net/http does, reset by the next success.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    fn next(&mut self) -> Duration {
        self.0 = if self.0.is_zero() {
            Backoff::FIRST
        } else {
            (self.0 * 2).min(Backoff::MAX)
        };
        self.0
    }

    fn reset(&mut self) {
        self.0 = Duration::ZERO;
    }
}

/// Serves until the listener fails for good. `handle` maps a path to a
/// response.
pub fn serve<H>(listener: TcpListener, limits: Limits, handle: Arc<H>) -> io::Result<()>
where
    H: Fn(&str) -> Response + Send + Sync + 'static,
{
    serve_slots(listener, limits, handle, Arc::default())
}

/// `serve` with the slots given: the tests watch them to know which
/// connections the server holds, instead of sleeping.
fn serve_slots<H>(
    listener: TcpListener,
    limits: Limits,
    handle: Arc<H>,
    slots: Arc<Mutex<Slots>>,
) -> io::Result<()>
where
    H: Fn(&str) -> Response + Send + Sync + 'static,
{
    let mut backoff = Backoff(Duration::ZERO);
    let mut last_error: Option<io::ErrorKind> = None;
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(c) => {
                backoff.reset();
                last_error = None;
                c
            }
            Err(e) => {
                // EMFILE/ENFILE, ENOBUFS, ECONNABORTED...: none is fixed by
                // trying again at once. Say it once per kind of error.
                if last_error != Some(e.kind()) {
                    eprintln!("tcpdoctor: accept failed: {e}; backing off");
                    last_error = Some(e.kind());
                }
                std::thread::sleep(backoff.next());
                continue;
            }
        };
        let _ = stream.set_write_timeout(Some(limits.write_timeout));
        let guard = match admit(&slots, stream, peer.ip(), &limits) {
            Ok(g) => g,
            Err((why, stream)) => {
                let text = match why {
                    Refused::Busy => "too many connections\n",
                    Refused::PeerCap => "too many connections from this address\n",
                };
                let _ = write_response(&stream, &Response::text(503, text), false);
                continue;
            }
        };
        let handle = Arc::clone(&handle);
        // Out of threads: the closure (and the guard) is dropped, the slot
        // freed and the connection closed.
        let _ = std::thread::Builder::new()
            .name("tcpdoctor-http".into())
            .spawn(move || {
                let head = read_head(&guard.stream, &limits);
                // Too slow: closed unanswered. Otherwise answered from here
                // on, evicted no more (unless it was before this point).
                if matches!(head, Err(408)) || !guard.answering() {
                    return;
                }
                let (r, head_only) = match head {
                    Ok((method, path)) if method == "GET" || method == "HEAD" => {
                        let path = path.split('?').next().unwrap_or("/").to_string();
                        (handle(&path), method == "HEAD")
                    }
                    Ok(_) => (Response::text(405, "only GET and HEAD\n"), false),
                    Err(status) => (
                        Response::text(status, format!("{}\n", reason(status))),
                        false,
                    ),
                };
                let _ = write_response(&guard.stream, &r, head_only);
            });
    }
}

#[cfg(test)]
mod tests;

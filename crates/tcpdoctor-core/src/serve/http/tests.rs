use super::*;
use crate::collect::netns::wait_until;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc;

/// A server on a loopback port with `limits`, answering "ok" (or
/// panicking for /panic); returns its address.
fn start(limits: Limits) -> SocketAddr {
    let handle = |path: &str| {
        assert!(path != "/panic", "a handler bug");
        Response::text(200, "ok\n")
    };
    start_watched(limits, handle).0
}

/// A server on a loopback port with `limits` and `handle`; returns its
/// address and its slots, to wait for the connections it holds.
fn start_watched<H>(limits: Limits, handle: H) -> (SocketAddr, Arc<Mutex<Slots>>)
where
    H: Fn(&str) -> Response + Send + Sync + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = l.local_addr().expect("addr");
    let slots = Arc::new(Mutex::new(Slots::default()));
    let watched = Arc::clone(&slots);
    std::thread::spawn(move || serve_slots(l, limits, Arc::new(handle), watched));
    (addr, slots)
}

/// Limits under which no client of a test is cut off by the deadline: a
/// connection the server closes was evicted.
fn patient(max_connections: usize, max_per_peer: usize) -> Limits {
    Limits {
        max_connections,
        max_per_peer,
        request_deadline: Duration::from_secs(600),
        ..Limits::default()
    }
}

/// Waits until the server holds `n` connections from 127.0.0.`peer` still
/// reading their request (`reading`) or being answered.
fn wait_held(slots: &Mutex<Slots>, peer: u8, reading: bool, n: usize) {
    let ip = IpAddr::from(Ipv4Addr::new(127, 0, 0, peer));
    let what = format!("{n} connections from {ip}, reading {reading}");
    wait_until(&what, || {
        let s = lock(slots);
        Ok(s.list
            .iter()
            .filter(|c| c.peer == ip && c.reading == reading)
            .count()
            == n)
    })
    .expect("the server holds them");
}

/// Whether the server closed `s` without an answer: the read sees the end
/// or a reset. The read timeout only bounds a failing test.
fn closed_unanswered(s: &mut TcpStream) -> Result<(), String> {
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(()),
        Ok(n) => Err(format!("answered: {}", String::from_utf8_lossy(&buf[..n]))),
        Err(e) => Err(format!("still open: {e}")),
    }
}

/// A client connected from 127.0.0.`n` (all of 127/8 is loopback).
fn client_from(n: u8, to: SocketAddr) -> TcpStream {
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let from = SocketAddr::from((Ipv4Addr::new(127, 0, 0, n), 0));
    s.bind(&from.into()).expect("binds a loopback source");
    s.connect(&to.into()).expect("connects");
    s.into()
}

fn get(mut s: TcpStream, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(req.as_bytes()).expect("sends");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A client that starts a request and never finishes it. The server
/// accepts connections in order, so it holds a slot before any client
/// that connects later is admitted.
fn hold_slot(n: u8, to: SocketAddr) -> TcpStream {
    let mut s = client_from(n, to);
    s.write_all(b"G").expect("sends one byte");
    s
}

#[test]
fn idle_clients_cannot_lock_out_a_scrape() {
    let addr = start(Limits {
        max_connections: 4,
        max_per_peer: 4,
        ..Limits::default()
    });
    // Every slot taken by a client that never finishes its request.
    let idle: Vec<TcpStream> = (10..14).map(|n| hold_slot(n, addr)).collect();
    // Each new scrape evicts the oldest idle one and is answered.
    for n in 20..26 {
        let reply = get(client_from(n, addr), "/metrics");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
    drop(idle);
}

#[test]
fn one_address_gets_at_most_its_share() {
    let (addr, slots) = start_watched(patient(16, 2), |_: &str| Response::text(200, "ok\n"));
    let mut a = hold_slot(30, addr);
    let _b = hold_slot(30, addr);
    wait_held(&slots, 30, true, 2);
    // Another address is not affected.
    let reply = get(client_from(31, addr), "/");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // A third one from the same address takes the place of its oldest
    // slow one: the address still holds 2 at most.
    let third = get(client_from(30, addr), "/");
    assert!(third.starts_with("HTTP/1.1 200"), "{third}");
    closed_unanswered(&mut a).expect("the oldest slow one was evicted");
    wait_held(&slots, 30, true, 1);
}

/// 8 slow connections from the scraper's own address (its share) made 23
/// of 28 scrapes 503: a newcomer was refused instead of the slow ones
/// being evicted.
#[test]
fn slow_clients_on_the_scrapers_address_cannot_take_its_place() {
    let (addr, slots) = start_watched(patient(64, 8), |_: &str| Response::text(200, "ok\n"));
    let slow_batch = || -> Vec<TcpStream> {
        (0..8)
            .map(|_| {
                let mut s = client_from(60, addr);
                s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                    .expect("sends half a head");
                s
            })
            .collect()
    };
    let mut slow = slow_batch();
    wait_held(&slots, 60, true, 8);
    for i in 0..12 {
        let path = if i % 2 == 0 { "/metrics" } else { "/healthz" };
        let reply = get(client_from(60, addr), path);
        assert!(reply.starts_with("HTTP/1.1 200"), "scrape {i}: {reply}");
    }
    // The first scrape took the oldest one's place; the next ones found
    // its slot free.
    closed_unanswered(&mut slow[0]).expect("the oldest slow client was evicted");
    wait_held(&slots, 60, true, 7);
    // Slow newcomers push out the oldest ones in turn: a slow client holds
    // its slot only until its address has opened 8 newer connections.
    let newer = slow_batch();
    for (i, s) in slow.iter_mut().enumerate().skip(1) {
        closed_unanswered(s).unwrap_or_else(|e| panic!("slow client {i}: {e}"));
    }
    wait_held(&slots, 60, true, 8);
    let reply = get(client_from(60, addr), "/metrics");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    drop(newer);
}

/// A connection being answered keeps its slot even when it is the
/// address's oldest: a newcomer evicts a slow one instead, and when all of
/// the address's connections are being answered it is told 503.
#[test]
fn a_connection_being_answered_is_never_evicted() {
    let (entered, answering) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let handle = move |path: &str| {
        if path == "/wait" {
            let _ = entered.send(());
            let r = released.lock().unwrap_or_else(|p| p.into_inner());
            // A bound for a failing test only.
            let _ = r.recv_timeout(Duration::from_secs(120));
        }
        Response::text(200, format!("{path}\n"))
    };
    let (addr, slots) = start_watched(patient(64, 2), handle);
    let bound = Duration::from_secs(60);
    let first = std::thread::spawn(move || get(client_from(70, addr), "/wait"));
    answering
        .recv_timeout(bound)
        .expect("the first is being answered");
    let mut slow = hold_slot(70, addr);
    wait_held(&slots, 70, true, 1);
    // The address holds its share: the slow one goes, not the older one.
    let reply = get(client_from(70, addr), "/");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    closed_unanswered(&mut slow).expect("the slow one was evicted");
    // Both of its slots being answered: nothing to evict.
    let second = std::thread::spawn(move || get(client_from(70, addr), "/wait"));
    answering
        .recv_timeout(bound)
        .expect("the second is being answered");
    wait_held(&slots, 70, false, 2);
    let refused = get(client_from(70, addr), "/");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    for _ in 0..2 {
        release.send(()).expect("the handler waits");
    }
    for t in [first, second] {
        let reply = t.join().expect("the client thread");
        assert!(
            reply.starts_with("HTTP/1.1 200") && reply.ends_with("/wait\n"),
            "{reply}"
        );
    }
}

#[test]
fn a_trickling_client_is_cut_off_at_the_request_deadline() {
    let addr = start(Limits {
        request_deadline: Duration::from_millis(300),
        ..Limits::default()
    });
    let mut s = client_from(40, addr);
    // One byte every 50 ms would take 20 s for this request; each byte
    // arrives well within any per-read timeout.
    let request = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(400));
    let mut cut_off = false;
    for b in request.bytes() {
        if s.write_all(&[b]).is_err() {
            cut_off = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut probe = [0u8; 64];
        s.set_nonblocking(true).expect("nonblocking");
        let r = s.read(&mut probe);
        s.set_nonblocking(false).expect("blocking");
        if matches!(r, Ok(0)) || r.is_err_and(|e| e.kind() != io::ErrorKind::WouldBlock) {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "the server waited for the whole trickled request");
}

#[test]
fn a_panicking_handler_releases_its_slot() {
    let addr = start(Limits {
        max_connections: 1,
        max_per_peer: 1,
        ..Limits::default()
    });
    for _ in 0..3 {
        let reply = get(client_from(50, addr), "/panic");
        assert!(reply.is_empty(), "no answer from a panicked handler");
    }
    let reply = get(client_from(50, addr), "/");
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "the slot came back: {reply}"
    );
}

#[test]
fn accept_failures_back_off_from_5_ms_to_1_s() {
    let mut b = Backoff(Duration::ZERO);
    let steps: Vec<u128> = (0..10).map(|_| b.next().as_millis()).collect();
    assert_eq!(steps, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    b.reset();
    assert_eq!(b.next(), Duration::from_millis(5));
}

//! Slow clients on the scraper's own address cannot take its place: 8 of
//! them (the `--max-per-peer` share) made 23 of 28 scrapes 503. In the
//! host's namespace, on a port the kernel picks; needs no root.

use crate::support::{EXE, Kill, serving, wait_until};
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The exporter's accepted connections on `port`: an established socket
/// there has an inode once accept() gave it a file, none while queued.
fn accepted(port: u16) -> std::io::Result<usize> {
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let local = format!(":{port:04X}");
    Ok(table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1].ends_with(&local) && f[3] == "01" && f[9] != "0")
        .count())
}

#[test]
fn slow_clients_on_the_scrapers_address_cannot_take_its_place() {
    let mut serve = Kill(
        Command::new(EXE)
            .args(["serve", "--listen", "127.0.0.1:0", "--max-per-peer", "8"])
            // Longer than the test: a slow client the exporter closes was
            // evicted, not timed out.
            .args(["--client-timeout", "600", "--full-interval", "3600"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let mut err = BufReader::new(serve.0.stderr.take().expect("stderr"));
    let (port, _) = serving(&mut err);
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let mut slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connects");
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .expect("sends half a head");
            s
        })
        .collect();
    wait_until("the exporter holds the 8 slow clients", || {
        Ok(accepted(port)? == 8)
    })
    .expect("accepted");
    for i in 0..12 {
        let path = if i % 3 == 0 { "/metrics" } else { "/healthz" };
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        c.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .expect("asks");
        let mut reply = String::new();
        let _ = c.read_to_string(&mut reply);
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "scrape {i} {path}: {reply}"
        );
    }
    // The first scrape took the oldest one's place (the next ones found
    // its slot free): closed by the exporter, unanswered.
    // The timeout only bounds a failing test.
    slow[0]
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    match slow[0].read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the oldest slow client was not evicted: {other:?}"),
    }
    wait_until("the exporter holds the 7 others", || {
        Ok(accepted(port)? == 7)
    })
    .expect("7 left");
}

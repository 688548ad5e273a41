//! `serve` under duress, in the host's namespace: out of fds, and a
//! collector that keeps failing. Each listens on a port the kernel picks
//! (`--listen 127.0.0.1:0`) and reads it back from what serve says.

use crate::support::{EXE, Kill, TempDir, read_until, serving, wait_until};
use std::io::{BufReader, Read, Write};
use std::process::{Command, Stdio};

/// When accept() fails with EMFILE (the very condition fd-exhaustion
/// diagnoses) the exporter backs off instead of spinning, says so once, and
/// serves again once fds are free.
#[test]
fn the_exporter_survives_running_out_of_fds() {
    let mut serve = Kill(
        Command::new("prlimit")
            // 24 for the exporter itself and 10 for its eBPF objects (BTF,
            // programs, links and maps of the census and owners iterators).
            .arg("--nofile=34")
            .arg(EXE)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--max-per-peer",
                "64",
                "--full-interval",
                "3600",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .expect("prlimit runs (util-linux)"),
    );
    let mut err = BufReader::new(serve.0.stderr.take().expect("stderr"));
    let (port, _) = serving(&mut err);
    // Idle connections until the exporter cannot accept any more.
    let mut idle = Vec::new();
    for _ in 0..40 {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = c.write_all(b"G");
            idle.push(c);
        }
    }
    let said = read_until(&mut err, "accept failed");
    assert!(said.contains("backing off"), "{said}");
    drop(idle);
    // Once fds are free, scrapes are served again.
    wait_until("a scrape is served again", || {
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return Ok(false);
        };
        c.write_all(b"GET /healthz HTTP/1.1\r\n\r\n")?;
        let mut reply = String::new();
        let _ = c.read_to_string(&mut reply);
        Ok(reply.starts_with("HTTP/1.1 200"))
    })
    .expect("served again");
    drop(serve);
    // Said once per kind of failure, not once per retry.
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    assert!(rest.matches("accept failed").count() <= 1, "{rest}");
}

/// A failing collector was only `success 0`: its error is logged when it
/// changes (as node_exporter does), not on every scrape.
#[test]
fn a_failing_collector_is_logged_once_not_per_scrape() {
    let empty = TempDir::new("empty-proc");
    let mut serve = Kill(
        Command::new(EXE)
            .args(["--proc-root", empty.path().to_str().expect("utf-8")])
            .args(["serve", "--listen", "127.0.0.1:0", "--census-cache", "0"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let mut err = BufReader::new(serve.0.stderr.take().expect("stderr"));
    let (port, mut seen) = serving(&mut err);
    let scrape = || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
        c.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").expect("asks");
        let mut body = String::new();
        let _ = c.read_to_string(&mut body);
        body
    };
    for _ in 0..3 {
        let body = scrape();
        assert!(
            body.contains("tcpdoctor_scrape_collector_success{collector=\"census\"} 0"),
            "{body}"
        );
    }
    drop(serve);
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    seen.push_str(&rest);
    assert_eq!(
        seen.matches("collector census failed").count(),
        1,
        "logged once for three failing scrapes: {seen}"
    );
    assert!(seen.contains("nothing could be read"), "{seen}");
}

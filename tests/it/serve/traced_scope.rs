//! `serve --trace` counts the connection ends of the namespaces it serves
//! only: it once exported another namespace's ends as its own, with no
//! namespace label.

use crate::support::{EXE, Kill, serving, wait_until};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use tcpdoctor_testkit::netns::run_in_private_netns;

/// A python3 named `name` that makes and ends three loopback connections
/// in the namespace of the calling thread, and exits.
fn three_connections(name: &str) {
    let script = format!(
        "import ctypes, socket\n\
         ctypes.CDLL(None).prctl(15, b'{name}', 0, 0, 0)\n\
         srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen()\n\
         for _ in range(3):\n\
         \x20   c = socket.create_connection(srv.getsockname()); a, _ = srv.accept()\n\
         \x20   c.close(); a.close()\n"
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3 runs");
    assert!(status.success());
}

fn metrics(port: u16) -> std::io::Result<String> {
    let mut c = TcpStream::connect(("127.0.0.1", port))?;
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut reply = String::new();
    c.read_to_string(&mut reply)?;
    Ok(reply)
}

#[test]
#[ignore = "needs root"]
fn serve_trace_counts_only_the_namespaces_it_serves() {
    let mut serve = Kill(
        Command::new(EXE)
            .args(["serve", "--trace", "--listen", "127.0.0.1:0"])
            .args(["--full-interval", "3600"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let mut err = BufReader::new(serve.0.stderr.take().expect("stderr"));
    let (port, said) = serving(&mut err);
    assert!(!said.contains("cannot trace"), "{said}");
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    // Another namespace's ends first, then the served one's: once the
    // latter are counted, the former were drained too (the ring is in
    // order).
    run_in_private_netns(|| three_connections("tdscope-other")).expect("a private namespace");
    three_connections("tdscope-here");
    let mut text = String::new();
    wait_until("the served namespace's ends are counted", || {
        text = metrics(port)?;
        Ok(text.contains("process=\"tdscope-here\""))
    })
    .expect("counted");
    assert!(
        text.contains(
            "tcpdoctor_connection_ends_total{process=\"tdscope-here\",end=\"closed_first\"} 3"
        ),
        "{text}"
    );
    assert!(
        !text.contains("tdscope-other"),
        "another namespace's ends: {text}"
    );
}

//! Bad input: named by file and line (or skipped with --lenient), and
//! gzip bombs refused in bounded memory.

use super::{fixture, json};
use crate::support::{EXE, TempDir, run, stderr};
use std::path::{Path, PathBuf};

/// An `ss -tap` paste (service and host names: no `-n`) read with
/// --lenient skips every line: no verdict ("OK" once came out, exit 0),
/// but exit 3 saying how much was skipped and why; a dump with no TCP
/// socket at all gets none either.
#[test]
fn a_dump_whose_lines_were_mostly_skipped_gets_no_verdict() {
    let dir = TempDir::new("unread");
    let paste = dir.write(
        "ss-tap.txt",
        "State     Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\n\
         LISTEN 0 511 0.0.0.0:http 0.0.0.0:* users:((\"nginx\",pid=1,fd=6))\n\
         ESTAB     0      0          10.0.0.1:ssh        10.0.0.2:52000\n\
         TIME-WAIT 0      0          localhost:44312   localhost:http\n",
    );
    let name = paste.display().to_string();
    let o = run(&["analyze", "--lenient", &name]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "no verdict printed");
    let err = stderr(&o);
    assert!(err.contains("no verdict: 3 of 3 socket lines"), "{err}");
    assert!(err.contains("with -n"), "why: {err}");
    let empty = dir.write(
        "header-only.txt",
        "State Recv-Q Send-Q Local Address:Port Peer Address:Port\n",
    );
    let o = run(&["analyze", empty.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds no TCP socket line"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_input_is_named_by_file_and_line_or_skipped_with_lenient() {
    let mut text = std::fs::read_to_string(fixture("ss-tan.txt")).expect("fixture");
    text.insert_str(
        text.find('\n').expect("a line") + 1,
        "ESTAB 0 0 127.0.0.1:http 10.0.0.1:80\n",
    );
    let dir = TempDir::new("bad-input");
    let f = dir.write("bad-ss.txt", text);
    let name = f.display().to_string();
    let o = run(&["analyze", "--view", "census", &name]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{name}:2: expected an ss -tan line")),
        "{err}"
    );
    let o = run(&["analyze", "--view", "census", "--lenient", "--json", &name]);
    assert!(o.status.success());
    let v = json(&o);
    assert_eq!(v["total"], 40);
    assert!(
        v["notes"].as_array().expect("notes").iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.contains("skipped 1 malformed"))),
        "{v}"
    );
    // A netstat line in an ss dump: mixed formats.
    let mut mixed = std::fs::read_to_string(fixture("ss-tan.txt")).expect("fixture");
    mixed.push_str("tcp        0      0 127.0.0.1:8000          0.0.0.0:*               LISTEN\n");
    let m = dir.write("mixed.txt", mixed);
    let o = run(&["analyze", "--view", "census", m.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(":42: expected more ss lines"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Binary garbage, empty input, a truncated last line.
    for (name, bytes, want) in [
        ("garbage.bin", &b"\x00\x01\x02\xff\xfe"[..], "binary data"),
        ("empty.txt", &b""[..], "empty input"),
        (
            "cut.txt",
            &b"State Recv-Q Send-Q Local Address:Port Peer Address:Port\nESTAB 0 0 \
            127.0.0.1:5000 127.0.0.1:80\nESTAB 0 0 127.0.0.1:50"[..],
            ":3: expected an ss -tan line",
        ),
    ] {
        let p = dir.write(name, bytes);
        let o = run(&["analyze", "--view", "census", p.to_str().expect("utf-8")]);
        assert_eq!(o.status.code(), Some(3), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(want) && !err.contains("panicked"),
            "{name}: {err}"
        );
    }
}

/// A gzip bomb (a `{` and gigabytes of spaces, or one endless line) took
/// all memory. A snapshot is read as it streams: 300 MB of it fits in a
/// 256 MiB address space (reading it whole did not); a line is bounded.
#[test]
fn gzip_bombs_are_errors_in_bounded_memory() {
    let dir = TempDir::new("bomb");
    let make = |name: &str, shell: &str| -> PathBuf {
        let p = dir.join(name);
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{shell} | gzip -1 > {}", p.display()))
            .status()
            .expect("sh runs");
        assert!(ok.success(), "{shell}");
        p
    };
    let spaces = make(
        "spaces.json.gz",
        "{ printf '{'; head -c 300000000 /dev/zero | tr '\\0' ' '; }",
    );
    let line = make(
        "line.txt.gz",
        "{ printf 'State Recv-Q\\n'; head -c 10000000 /dev/zero | tr '\\0' 'a'; }",
    );
    let limited = |file: &Path, view: &str| {
        std::process::Command::new("prlimit")
            .arg("--as=268435456")
            .arg(EXE)
            .args(["analyze", "--view", view, file.to_str().expect("utf-8")])
            .output()
            .expect("prlimit runs (util-linux)")
    };
    let o = limited(&spaces, "diagnose");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // Whitespace and then the end: a syntax error, not an allocation failure.
    assert!(
        stderr(&o).contains("EOF while parsing an object"),
        "{}",
        stderr(&o)
    );
    for view in ["census", "diagnose"] {
        let o = limited(&line, view);
        assert_eq!(o.status.code(), Some(3), "{view}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("line.txt.gz:2: expected a line of at most 65536 bytes"),
            "{view}: {}",
            stderr(&o)
        );
    }
}

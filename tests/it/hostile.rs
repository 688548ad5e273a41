//! Names chosen to attack the terminal, from a pasted dump: tcpdoctor
//! shows them escaped and never passes their control bytes on.

use crate::support::{Kill, TempDir, bin, read_until, run, stdout};
use std::io::BufReader;
use std::process::{Command, Stdio};
use tcpdoctor_testkit::netns::run_in_private_netns;

/// Sets the window title, then clears the screen.
const COMM: &str = "\x1b]0;owned\x07\x1b[2J";
/// How tcpdoctor shows it.
const SHOWN: &str = "\\x1b]0;owned\\x07\\x1b[2J";

/// `ss -tanp` of a server on 8080 holding 150 CLOSE_WAIT, named `COMM`.
fn dump() -> String {
    let owner = format!("users:((\"{COMM}\",pid=123,fd=4))");
    let mut d =
        String::from("State      Recv-Q Send-Q  Local Address:Port  Peer Address:Port Process\n");
    d.push_str(&format!(
        "LISTEN     0      128        10.0.0.1:8080       0.0.0.0:*     {owner}\n"
    ));
    for i in 0..150 {
        d.push_str(&format!(
            "CLOSE-WAIT 0      0          10.0.0.1:8080      10.0.0.2:{}  {owner}\n",
            40000 + i
        ));
    }
    d
}

/// No byte a terminal obeys (ESC, BEL, CR, C1 CSI), only the escapes.
fn assert_harmless(what: &str, out: &str) {
    for bad in ['\x1b', '\x07', '\r', '\u{9b}'] {
        assert!(!out.contains(bad), "{what}: {bad:?} in\n{out}");
    }
    assert!(out.contains(SHOWN), "{what}: shows {SHOWN}:\n{out}");
}

#[test]
fn analyze_of_a_pasted_dump_shows_hostile_names_escaped() {
    let dir = TempDir::new("hostile");
    let file = dir.write("ss-tanp.txt", dump());
    let file = file.to_str().expect("utf-8 path");
    for args in [
        &["analyze", file][..],
        &["analyze", "--view", "census", "--by", "process", file],
        &["analyze", "--view", "sockets", file],
        &["analyze", "--view", "sockets", "--limit", "3", file],
    ] {
        let o = run(args);
        assert!(o.status.code().is_some_and(|c| c < 3), "{args:?}: {o:?}");
        assert_harmless(&args.join(" "), &stdout(&o));
        assert!(!o.stderr.contains(&0x1b), "{args:?}: ESC on stderr");
    }
    // JSON stays JSON: the name round-trips through its own escapes.
    let o = run(&["analyze", "--view", "sockets", "--json", file]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(rows[0]["owners"][0]["comm"], COMM);
}

/// A process that names itself with an escape sequence (prctl
/// PR_SET_NAME) and holds a CLOSE_WAIT: its peer closed, it does not.
const SELF_NAMING: &str = "import ctypes, socket, time\n\
    ctypes.CDLL(None).prctl(15, b'\\x1b]0;pwned\\x07', 0, 0, 0)\n\
    l = socket.socket(); l.bind(('127.0.0.1', 8090)); l.listen(8)\n\
    c = socket.create_connection(('127.0.0.1', 8090)); s, _ = l.accept()\n\
    c.close()\n\
    print('ready', flush=True)\n\
    time.sleep(60)\n";

#[test]
#[ignore = "needs root"]
fn a_live_process_named_with_an_escape_is_shown_escaped() {
    run_in_private_netns(|| {
        let mut child = Command::new("python3")
            .args(["-c", SELF_NAMING])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let out = child.stdout.take().expect("stdout");
        let _server = Kill(child);
        let said = read_until(&mut BufReader::new(out), "ready");
        assert_eq!(said.trim(), "ready");
        for args in [
            &["census", "--by", "process"][..],
            &["sockets"],
            &["sockets", "--wide"],
            &["diagnose"],
        ] {
            let o = bin().args(args).output().expect("runs tcpdoctor");
            let text = stdout(&o);
            assert!(!o.stdout.contains(&0x1b), "{args:?}: ESC in\n{text}");
            assert!(!o.stdout.contains(&0x07), "{args:?}: BEL in\n{text}");
            assert!(!o.stderr.contains(&0x1b), "{args:?}: ESC on stderr");
            if args[0] != "diagnose" {
                assert!(text.contains("\\x1b]0;pwned\\x07"), "{args:?}:\n{text}");
            }
        }
    })
    .expect("a private namespace");
}

//! Every JSON key a command prints is in its `--help`, and every key named there is printed.

use super::layout::*;
use super::*;

/// A CLOSE_WAIT this process holds (the peer closed; we do not), with its
/// listener: a process for `watch` and `sockets` to show. The port.
fn hold_close_wait() -> (u16, TcpListener, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    drop(client);
    std::thread::sleep(Duration::from_millis(100));
    (port, listener, server)
}

#[test]
fn every_command_with_json_documents_its_layout() {
    let layouts = layouts();
    let mut with_json = BTreeSet::new();
    for path in every_command() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.contains(" --json Print JSON") {
            continue;
        }
        let name = path.join(" ");
        with_json.insert(name.clone());
        if let Some((_, reference)) = LAYOUT_OF_ANOTHER.iter().find(|(c, _)| *c == name) {
            assert!(
                text.contains(reference),
                "`tcpdoctor {name} --help` no longer says its JSON is {reference}"
            );
        } else {
            assert!(
                layouts.contains_key(name.as_str()),
                "`tcpdoctor {name}` has --json: list its fields in its --help and check them \
                 here (layouts())"
            );
        }
    }
    let known: BTreeSet<String> = layouts
        .keys()
        .map(|s| s.to_string())
        .chain(LAYOUT_OF_ANOTHER.iter().map(|(c, _)| c.to_string()))
        .collect();
    assert_eq!(with_json, known, "commands with --json");
}

#[test]
fn the_help_names_every_json_key_on_the_fixture_and_this_host() {
    let mut l = layouts();
    let proc = fixture("proc");
    let p = proc.as_str();
    let sysctl_file = root_dir()
        .join("tests/fixtures/sysctl/99-blog-advice.conf")
        .to_string_lossy()
        .into_owned();
    let s = sysctl_file.as_str();
    let (ss, netstat) = (fixture("ss-tanpoie.txt"), fixture("netstat-antp.txt"));

    // The captured tree.
    check_run(
        &mut l,
        "diagnose",
        &["--proc-root", p, "diagnose", "--json"],
    );
    check_run(
        &mut l,
        "diagnose",
        &["--proc-root", p, "diagnose", "--json", "--sysctl-file", s],
    );
    check_run(
        &mut l,
        "sysctl",
        &["--proc-root", p, "sysctl", "--json", "--sysctl-file", s],
    );
    check_run(&mut l, "census", &["--proc-root", p, "census", "--json"]);
    check_run(
        &mut l,
        "census",
        &["--proc-root", p, "census", "--json", "--by", "remote"],
    );
    check_run(&mut l, "sockets", &["--proc-root", p, "sockets", "--json"]);
    check_run(&mut l, "host", &["--proc-root", p, "host", "--json"]);
    let args = [
        "--proc-root",
        p,
        "watch",
        "--json",
        "--count",
        "2",
        "--interval",
        "0.2",
    ];
    check_run(&mut l, "watch", &args);

    // Dumps (analyze): the layouts of diagnose, census and sockets.
    for dump in [ss.as_str(), netstat.as_str()] {
        check_run(&mut l, "diagnose", &["analyze", "--json", dump]);
        let by_process = [
            "analyze", "--json", "--view", "census", "--by", "process", dump,
        ];
        check_run(&mut l, "census", &by_process);
        check_run(
            &mut l,
            "sockets",
            &["analyze", "--json", "--view", "sockets", dump],
        );
    }

    // A recording replayed: watch's layout.
    let dir = TempDir::new("replay");
    let rec = dir.join("rec.gz").to_string_lossy().into_owned();
    let o = output(&[
        "--proc-root",
        p,
        "watch",
        "--json",
        "--count",
        "2",
        "--interval",
        "0.2",
        "--record",
        &rec,
    ]);
    assert!(
        o.status.success(),
        "watch --record: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let from = "tcpdoctor replay --json";
    for v in ndjson(&stdout_of(&["replay", "--json", &rec]), from) {
        l.get_mut("watch").expect("watch").check(&v, 0, from);
    }

    // This host, for what the tree cannot show: processes (this one, with
    // a CLOSE_WAIT), owners' processes and tcp_info (--wide).
    let (port, _listener, _held) = hold_close_wait();
    let port = port.to_string();
    let watch = [
        "watch",
        "--json",
        "--count",
        "2",
        "--interval",
        "0.3",
        "--top",
        "10000",
    ];
    check_run(&mut l, "watch", &watch);
    check_run(
        &mut l,
        "sockets",
        &["sockets", "--json", "--wide", "--port", &port],
    );

    let mut found = problems(&l);
    let unseen: Vec<String> = l
        .values()
        .flat_map(Layout::unseen)
        .filter(|k| !NEEDS_ROOT.iter().any(|a| covers(a, k)))
        .collect();
    found.extend(
        unseen
            .iter()
            .map(|k| format!("{k} is in the help but was never printed")),
    );
    assert!(
        found.is_empty(),
        "--help JSON field lists disagree with the JSON printed (fix the after_help text of the \
         command, src/cli/COMMAND.rs):\n  {}",
        found.join("\n  ")
    );
}

/// Waits until `child`'s stderr says the tracer started, then returns the
/// rest of its stderr as a thread.
fn wait_started(child: &mut std::process::Child) -> std::thread::JoinHandle<String> {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("started") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let _ = rx.recv_timeout(Duration::from_secs(60));
    h
}

/// Connections to `port` that this process closes first (TIME_WAIT here),
/// while the tracer runs.
fn churn(listener: &TcpListener, port: u16, n: usize) {
    for _ in 0..n {
        let client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        drop(client);
        std::thread::sleep(Duration::from_millis(20));
        drop(server);
    }
}

#[test]
#[ignore = "needs root"]
fn the_help_names_the_json_keys_that_need_root() {
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI must run this as root");
        eprintln!("skipped: needs root (eBPF, namespaces, the lab)");
        return;
    }
    let mut l = layouts();

    // A tracer runs: trace's own lines, and every other command names
    // closers exactly meanwhile.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut trace = bin()
        .args(["trace", "--json", "--for", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs tcpdoctor trace");
    let stderr = wait_started(&mut trace);
    churn(&listener, port, 3);
    std::thread::sleep(Duration::from_millis(300));
    let p = port.to_string();
    check_run(
        &mut l,
        "sockets",
        &["sockets", "--json", "-s", "time-wait", "--port", &p],
    );
    let args = ["census", "--json", "-s", "time-wait", "--by", "process"];
    check_run(&mut l, "census", &args);
    // Ctrl-C ends it with the summary.
    // SAFETY: kill(2) on the pid of a child this test started and has not
    // yet reaped.
    unsafe {
        libc::kill(trace.id() as libc::pid_t, libc::SIGINT);
    }
    let started = Instant::now();
    let out = trace.wait_with_output().expect("trace ends");
    assert!(started.elapsed() < Duration::from_secs(30));
    let err = stderr.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.lines().count() >= 2, "trace printed: {text}\n{err}");
    let lt = l.get_mut("trace").expect("trace");
    for v in ndjson(&text, "tcpdoctor trace --json") {
        let root = usize::from(v.get("summary").is_some());
        lt.check(&v, root, "tcpdoctor trace --json");
    }

    // Several namespaces: one more, held by a process of this test.
    let mut ns = Command::new("unshare")
        .args(["--net", "sleep", "60"])
        .spawn()
        .expect("unshare runs");
    std::thread::sleep(Duration::from_millis(300));
    let (_cw_port, _cw_listener, _held) = hold_close_wait();
    check_run(&mut l, "census", &["census", "--json", "--netns", "all"]);
    let args = ["census", "--json", "--netns", "all", "--by", "process"];
    check_run(&mut l, "census", &args);
    let args = ["sockets", "--json", "--netns", "all", "-s", "close-wait"];
    check_run(&mut l, "sockets", &args);
    let args = [
        "diagnose",
        "--json",
        "--netns",
        "all",
        "--interval",
        "0.2",
        "--close-wait-info",
        "1",
    ];
    check_run(&mut l, "diagnose", &args);
    let _ = ns.kill();
    let _ = ns.wait();

    // The lab.
    let args = [
        "lab",
        "run",
        "close-wait-leak",
        "--scale",
        "5",
        "--json",
        "--name",
        "docs-json",
    ];
    check_run(&mut l, "lab run", &args);

    let mut found = problems(&l);
    for a in NEEDS_ROOT {
        let layout = l
            .values()
            .find(|x| {
                covers(&x.command, a)
                    || a.starts_with(&format!("{}:", x.command))
                    || a.starts_with(&format!("{}#", x.command))
            })
            .unwrap_or_else(|| panic!("NEEDS_ROOT names no command: {a}"));
        let missing: Vec<String> = layout
            .unseen()
            .into_iter()
            .filter(|k| covers(a, k))
            .collect();
        if !layout.seen(a) && missing.is_empty() {
            found.push(format!("{a}: nothing of it was printed"));
        }
        found.extend(
            missing
                .into_iter()
                .map(|k| format!("{k} is in the help but was never printed")),
        );
    }
    assert!(
        found.is_empty(),
        "--help JSON field lists disagree with the JSON printed as root:\n  {}",
        found.join("\n  ")
    );
}

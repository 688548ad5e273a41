//! Real servers and clients from Debian packages and PyPI (nginx,
//! redis-server, Python's http.server; ApacheBench, wrk, curl, redis-py),
//! each situation in a private network namespace, diagnosed as an expert
//! would: the finding, its severity, the process by pid and name, the
//! service ip:port, and the words of the remedy. One busy, healthy setup
//! must stay silent. Needs root; test.sh installs the programs.
//!
//! The services listen on their usual fixed ports (8000, 8080, 6379): each
//! test runs in a private namespace of its own, where nothing else does.

mod closers;

use crate::support::{Kill, TempDir, bin, one_tracer_at_a_time};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::{set_netns_sysctl, wait_until};

fn spawn(cmd: &mut Command) -> Kill {
    Kill(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e} (test.sh installs it)")),
    )
}

/// Waits for a line starting with `prefix` on the child's stdout.
fn wait_line(out: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("reads the child");
        assert!(n > 0, "the child ended before printing {prefix:?}");
        if line.starts_with(prefix) {
            return line;
        }
    }
}

fn listening(port: u16) {
    wait_until("the server listens", || {
        Ok(TcpStream::connect(("127.0.0.1", port)).is_ok())
    })
    .expect("the server starts");
}

/// Python's http.server on 127.0.0.1:8000 (HTTP/1.0: it closes first),
/// listening when this returns.
fn http_server() -> Kill {
    let server =
        spawn(Command::new("python3").args(["-m", "http.server", "8000", "--bind", "127.0.0.1"]));
    listening(8000);
    server
}

/// nginx answering 200 on 127.0.0.1:8080, one process (no master, no
/// daemon) so that the test holds its pid; `keepalive` 0 makes it close
/// first.
fn nginx(dir: &Path, keepalive: u32) -> Kill {
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  keepalive_timeout {keepalive};\n\
               client_body_temp_path {d};\n  proxy_temp_path {d};\n  fastcgi_temp_path {d};\n\
               uwsgi_temp_path {d};\n  scgi_temp_path {d};\n\
               server {{ listen 127.0.0.1:8080; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n",
            d = dir.display()
        ),
    )
    .expect("writes nginx.conf");
    let p = spawn(
        Command::new("nginx")
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf),
    );
    listening(8080);
    p
}

fn redis(timeout_s: u32) -> Kill {
    let p = spawn(Command::new("redis-server").args([
        "--port",
        "6379",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--timeout",
        &timeout_s.to_string(),
    ]));
    listening(6379);
    p
}

/// A Python program (redis-py); it prints `ready` and then holds what it
/// made until its stdin closes.
fn python(code: &str) -> (Kill, BufReader<ChildStdout>) {
    let mut p = spawn(Command::new("python3").arg("-c").arg(code));
    let out = BufReader::new(p.0.stdout.take().expect("stdout"));
    (p, out)
}

/// `tcpdoctor diagnose --json` of the calling thread's namespace.
fn diagnose() -> serde_json::Value {
    let o = bin()
        .args([
            "diagnose",
            "--json",
            "--interval",
            "0",
            "--sysctl-file",
            "/dev/null",
        ])
        .output()
        .expect("runs tcpdoctor");
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)))
}

/// Whether a TIME_WAIT finding's title names `pid` (`comm`) as the
/// closer: likely (no tracer ran) or exact (one did; diagnose traces while
/// it waits, and a test beside this one may be tracing).
fn names(title: &str, pid: u32, comm: &str) -> bool {
    title.contains(&format!("likely pid {pid} ({comm})"))
        || title.contains(&format!("closed by {pid}/{comm}"))
}

/// The findings of `d` with `id`.
fn findings<'a>(d: &'a serde_json::Value, id: &str) -> Vec<&'a serde_json::Value> {
    d["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

fn text(f: &serde_json::Value, field: &str) -> String {
    f[field].as_str().unwrap_or("").to_string()
}

/// A count of this namespace's sockets in `state` toward or on `port`.
fn count(state: &str, port: u16) -> usize {
    let o = bin()
        .args([
            "sockets",
            "--json",
            "--no-owners",
            "--port",
            &port.to_string(),
        ])
        .output()
        .expect("runs tcpdoctor");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v.as_array().map_or(0, |rows| {
        rows.iter().filter(|r| r["state"] == state).count()
    })
}

/// Python's http.server answers HTTP/1.0 and closes first; ApacheBench
/// makes 1500 requests: the TIME_WAIT piles on the server's port, and the
/// server is its likely closer. Harmless: info.
#[test]
#[ignore = "needs root"]
fn a_server_that_closes_first_collects_time_wait_on_its_port() {
    let _turn = one_tracer_at_a_time();
    run_in_private_netns(|| {
        let server = http_server();
        let ab = Command::new("ab")
            .args(["-q", "-n", "1500", "-c", "8", "http://127.0.0.1:8000/"])
            .output()
            .expect("ab runs (apache2-utils)");
        assert!(
            ab.status.success(),
            "{}",
            String::from_utf8_lossy(&ab.stderr)
        );
        let d = diagnose();
        let f = findings(&d, "time-wait-server-close");
        assert_eq!(f.len(), 1, "{d:#}");
        assert_eq!(f[0]["severity"], "info");
        assert_eq!(f[0]["subject"], "port 8000");
        let title = text(f[0], "title");
        assert!(names(&title, server.pid(), "python3"), "{title}");
        assert!(findings(&d, "time-wait-client-churn").is_empty(), "{d:#}");
    })
    .expect("a private namespace");
}

/// redis-py opening a connection per command and closing it first: the
/// TIME_WAIT piles on ephemeral ports toward Redis, the Python process is
/// the likely owner, and the remedy is Redis's (a shared pool).
#[test]
#[ignore = "needs root"]
fn a_client_opening_a_connection_per_request_churns_toward_its_upstream() {
    let _turn = one_tracer_at_a_time();
    run_in_private_netns(|| {
        let _redis = redis(0);
        let (client, mut out) = python(
            "import redis, sys\n\
             for i in range(1200):\n\
             \x20   r = redis.Redis(port=6379)\n\
             \x20   r.set('k', i)\n\
             \x20   r.close()\n\
             keep = redis.Redis(port=6379); keep.ping()\n\
             print('ready', flush=True)\n\
             sys.stdin.read()\n",
        );
        wait_line(&mut out, "ready");
        let d = diagnose();
        let f = findings(&d, "time-wait-client-churn");
        assert_eq!(f.len(), 1, "{d:#}");
        assert_eq!(f[0]["subject"], "127.0.0.1:6379");
        assert_eq!(f[0]["severity"], "warning", "1200 toward one upstream");
        let title = text(f[0], "title");
        assert!(names(&title, client.pid(), "python3"), "{title}");
        let remedy = text(f[0], "remedy");
        assert!(
            remedy.contains("Redis") && remedy.contains("pool"),
            "{remedy}"
        );
        assert!(!remedy.contains("nginx"), "{remedy}");
    })
    .expect("a private namespace");
}

/// A redis-py pool keeps 20 idle connections; Redis closes idle clients
/// after `timeout 1`: the pool's sockets sit in CLOSE_WAIT with Recv-Q 1
/// (the FIN, unread). Client side: the remedy is the pool's idle timeout.
#[test]
#[ignore = "needs root"]
fn a_pool_keeps_connections_the_server_closed() {
    let _turn = one_tracer_at_a_time();
    run_in_private_netns(|| {
        let _redis = redis(1);
        let (client, mut out) = python(
            "import redis, sys\n\
             pool = redis.ConnectionPool(port=6379, max_connections=40)\n\
             conns = [pool.get_connection('PING') for _ in range(20)]\n\
             for c in conns:\n\
             \x20   c.send_command('PING'); c.read_response()\n\
             for c in conns:\n\
             \x20   pool.release(c)\n\
             print('ready', flush=True)\n\
             sys.stdin.read()\n",
        );
        wait_line(&mut out, "ready");
        wait_until("Redis closes the idle connections", || {
            Ok(count("CLOSE_WAIT", 6379) == 20)
        })
        .expect("closed after its timeout");
        let d = diagnose();
        let f = findings(&d, "close-wait-leak");
        assert_eq!(f.len(), 1, "{d:#}");
        let title = text(f[0], "title");
        assert!(
            title.contains(&format!("pid {} (python3)", client.pid())),
            "{title}"
        );
        assert!(title.contains("toward 127.0.0.1:6379"), "{title}");
        assert_eq!(f[0]["evidence"]["side"], "client");
        assert_eq!(f[0]["evidence"]["recv_q_1_unread_fin"], 20);
        let remedy = text(f[0], "remedy");
        for words in ["idle timeout", "keepalive", "Redis"] {
            assert!(remedy.contains(words), "{words}: {remedy}");
        }
    })
    .expect("a private namespace");
}

/// The same churning client with 200 ephemeral ports (and no TIME_WAIT
/// reuse, as toward a remote host) runs out: redis-py gets EADDRNOTAVAIL,
/// and port-exhaustion is critical for 127.0.0.1 -> 127.0.0.1:6379.
#[test]
#[ignore = "needs root"]
fn a_churning_client_exhausts_its_ephemeral_ports() {
    let _turn = one_tracer_at_a_time();
    run_in_private_netns(|| {
        set_netns_sysctl("net.ipv4.ip_local_port_range", "40000 40199").expect("sysctl");
        set_netns_sysctl("net.ipv4.tcp_tw_reuse", "0").expect("sysctl");
        let _redis = redis(0);
        let (_client, mut out) = python(
            "import redis, sys\n\
             err = ''\n\
             for i in range(5000):\n\
             \x20   try:\n\
             \x20       r = redis.Redis(port=6379); r.set('k', i); r.close()\n\
             \x20   except Exception as e:\n\
             \x20       err = str(e); break\n\
             print('ready', err, flush=True)\n\
             sys.stdin.read()\n",
        );
        let line = wait_line(&mut out, "ready");
        assert!(
            line.contains("99") || line.contains("Cannot assign requested address"),
            "EADDRNOTAVAIL: {line}"
        );
        let d = diagnose();
        let f = findings(&d, "port-exhaustion");
        assert_eq!(f.len(), 1, "{d:#}");
        assert_eq!(f[0]["severity"], "critical");
        assert_eq!(f[0]["subject"], "127.0.0.1 -> 127.0.0.1:6379");
        assert!(
            text(f[0], "remedy").contains("Redis"),
            "{}",
            text(f[0], "remedy")
        );
        let e = bin()
            .args(["explain", "Cannot assign requested address"])
            .output()
            .expect("runs");
        assert!(String::from_utf8_lossy(&e.stdout).contains("connect()"));
    })
    .expect("a private namespace");
}

/// nginx with keep-alive under wrk (20 connections, HTTP/1.1): busy and
/// healthy. Nothing to say.
#[test]
#[ignore = "needs root"]
fn a_busy_healthy_server_stays_silent() {
    let _turn = one_tracer_at_a_time();
    run_in_private_netns(|| {
        let dir = TempDir::new("real-healthy");
        let _nginx = nginx(dir.path(), 75);
        let _wrk = spawn(Command::new("wrk").args([
            "-t",
            "2",
            "-c",
            "20",
            "-d",
            "60s",
            "http://127.0.0.1:8080/",
        ]));
        wait_until("wrk's connections are up", || {
            Ok(count("ESTABLISHED", 8080) >= 40)
        })
        .expect("wrk connects");
        let d = diagnose();
        assert_eq!(
            d["findings"].as_array().map(Vec::len),
            Some(0),
            "a busy, healthy server: {d:#}"
        );
        assert_eq!(d["summary"]["critical"], 0);
    })
    .expect("a private namespace");
}

/// nginx stops accepting (SIGSTOP: stuck, as a server whose workers are
/// all blocked); 15 curl clients connect, time out after a second and
/// give up. Their connections sit in nginx's accept queue in CLOSE_WAIT,
/// with no fd: they belong to nginx, which is not accepting.
#[test]
#[ignore = "needs root"]
fn connections_abandoned_in_the_accept_queue_belong_to_the_listener() {
    let _turn = one_tracer_at_a_time();
    run_in_private_netns(|| {
        let dir = TempDir::new("real-stuck");
        let nginx = nginx(dir.path(), 75);
        let pid = nginx.pid();
        // SAFETY: stopping our own child, which we hold.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) };
        let curls: Vec<Child> = (0..15)
            .map(|_| {
                Command::new("curl")
                    .args(["-s", "--max-time", "1", "http://127.0.0.1:8080/"])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("curl runs")
            })
            .collect();
        for mut c in curls {
            let _ = c.wait();
        }
        // 15, and the readiness probe's connection if nginx had not
        // accepted it yet.
        wait_until("the clients' FINs arrive", || {
            Ok(count("CLOSE_WAIT", 8080) >= 15)
        })
        .expect("15 CLOSE_WAIT");
        let d = diagnose();
        // SAFETY: our own child again.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGCONT) };
        let f = findings(&d, "close-wait-leak");
        assert_eq!(f.len(), 1, "{d:#}");
        let title = text(f[0], "title");
        assert!(
            title.contains("abandoned in the accept queue of port 8080"),
            "{title}"
        );
        assert!(title.contains(&format!("pid {pid} (nginx)")), "{title}");
        assert!(
            text(f[0], "remedy").contains("accept()"),
            "{}",
            text(f[0], "remedy")
        );
        drop(nginx);
        let _ = std::io::stdout().flush();
    })
    .expect("a private namespace");
}

/// `tcpdoctor trace` while curl fetches from Python's http.server
/// (HTTP/1.0: both sides close once the response is sent, whichever is
/// first makes the TIME_WAIT). Every end on port 8000 is closed by python3,
/// every end on curl's side by curl, exactly, though curl has exited; and
/// while the trace runs, `sockets` names the exact closer of each TIME_WAIT.
#[test]
#[ignore = "needs root"]
fn trace_names_who_closed_each_connection_between_curl_and_a_server() {
    let _turn = one_tracer_at_a_time();
    run_in_private_netns(|| {
        let server = http_server();
        let mut trace = Kill(
            bin()
                .args(["trace", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starts tcpdoctor trace"),
        );
        let mut err = BufReader::new(trace.0.stderr.take().expect("stderr"));
        let mut line = String::new();
        err.read_line(&mut line)
            .expect("reads the trace's first line");
        assert!(line.starts_with("tcpdoctor trace: started"), "{line}");
        for _ in 0..3 {
            let curl = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "http://127.0.0.1:8000/"])
                .status()
                .expect("curl runs");
            assert!(curl.success());
        }
        // Both sides finished closing: only the listener and TIME_WAIT left.
        let census = || {
            let o = bin().args(["census", "--json"]).output().expect("census");
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
            v["states"].clone()
        };
        let mut last = serde_json::Value::Null;
        wait_until("only LISTEN and TIME_WAIT", || {
            last = census();
            let m = last.as_object().cloned().unwrap_or_default();
            Ok(m.len() == 2 && m.get("TIME_WAIT").is_some_and(|n| n.as_u64() >= Some(3)))
        })
        .unwrap_or_else(|e| panic!("{e}: {last}"));
        let o = bin()
            .args(["sockets", "--json", "-s", "time-wait"])
            .output()
            .expect("sockets");
        let rows: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        // SAFETY: the pid is our own child's, not yet reaped.
        unsafe { libc::kill(trace.0.id() as libc::pid_t, libc::SIGINT) };
        let mut out = String::new();
        std::io::Read::read_to_string(trace.0.stdout.as_mut().expect("stdout"), &mut out)
            .expect("reads the trace");
        assert!(trace.0.wait().expect("trace ends").success());
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        let (summary, ends) = lines.split_last().expect("a summary line");
        let on = |side: &str| -> Vec<&serde_json::Value> {
            ends.iter()
                .filter(|e| e[side] == "127.0.0.1:8000")
                .collect()
        };
        assert_eq!(on("local").len(), 3, "{out}");
        for e in on("local") {
            assert_eq!(e["closer"]["pid"], server.pid(), "{e}");
            assert_eq!(e["closer"]["comm"], "python3");
            assert_eq!(e["opened"], "accepted");
            assert_ne!(e["end"], "reset");
        }
        assert_eq!(on("remote").len(), 3, "{out}");
        for e in on("remote") {
            assert_eq!(e["closer"]["comm"], "curl", "{e}");
            assert_eq!(e["opened"], "connected");
        }
        // Each TIME_WAIT made while tracing names its closer exactly (curl's
        // too, though curl has exited); the one the test's readiness probe
        // made before the trace began has none.
        let made_here: Vec<&serde_json::Value> =
            ends.iter().filter(|e| e["end"] == "closed_first").collect();
        let rows = rows.as_array().expect("an array");
        assert_eq!(rows.len(), made_here.len() + 1, "{rows:?}\n{out}");
        for r in rows {
            match made_here.iter().find(|e| e["cookie"] == r["cookie"]) {
                Some(e) => {
                    assert_eq!(r["closed_by"]["pid"], e["closer"]["pid"], "{r}");
                    let want = if r["local"] == "127.0.0.1:8000" {
                        "python3"
                    } else {
                        "curl"
                    };
                    assert_eq!(r["closed_by"]["comm"], want, "{r}");
                    assert_eq!(r["likely_owners"], serde_json::json!([]));
                }
                None => assert!(r["closed_by"].is_null(), "closed before tracing: {r}"),
            }
        }
        let port = &summary["summary"]["listening_ports"][0];
        assert_eq!(
            port["endpoint"], "127.0.0.1:8000",
            "the listener's own address: {summary}"
        );
        assert_eq!(
            (port["opened"].as_u64(), port["ended"].as_u64()),
            (Some(3), Some(3))
        );
        let by_server = |key: &str| -> u64 {
            port[key]
                .as_array()
                .map_or(0, |v| v.iter().filter_map(|p| p[1].as_u64()).sum())
        };
        assert_eq!(
            by_server("time_wait_made_by") + by_server("closed_after_peer_by"),
            3
        );
        assert_eq!(
            summary["summary"]["upstreams"][0]["endpoint"],
            "127.0.0.1:8000"
        );
    })
    .expect("a private namespace");
}

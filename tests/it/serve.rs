//! `tcpdoctor serve` end to end, in a private network namespace with a
//! real CLOSE_WAIT leak (the lab's server and client roles): the metrics
//! carry the right values, promtool accepts them, a real Prometheus scrapes
//! them, bad requests get 4xx, a stalled client blocks nobody, and 16
//! scrapers x 500 scrapes leave memory flat. Needs root; skipped otherwise.
//!
//! The ports (8080 for the lab's server, 19753 and 19754 for the exporter,
//! 19090 for Prometheus) are fixed: each test runs in a private namespace
//! of its own, where nothing else listens.

mod own_address;
mod traced_scope;

use crate::support::{Kill, TempDir, bin};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tcpdoctor_testkit::netns::run_in_private_netns;

const LEAKS: u64 = 20;

fn tcpdoctor(args: &[&str]) -> Child {
    bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("runs tcpdoctor")
}

fn wait_line(child: &mut Child, prefix: &str) {
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        if line.expect("line").starts_with(prefix) {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
}

/// GET (or another request) over a fresh connection: (status, body).
fn request(port: u16, raw: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(raw.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn get(port: u16, path: &str) -> (u16, String) {
    request(port, &format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")).expect("request")
}

/// Polls `f` until it is Some, for at most `limit`.
fn poll<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn vm_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "needs root"]
fn serve_exports_real_values_to_a_real_prometheus_and_survives_bad_and_many_clients() {
    run_in_private_netns(|| {
        let mut server = tcpdoctor(&[
            "lab",
            "role",
            "server",
            "--addr",
            "127.0.0.1:8080",
            "--mode",
            "leak",
            "--backlog",
            "128",
        ]);
        wait_line(&mut server, "ready");
        let _server = Kill(server);
        let mut client = tcpdoctor(&[
            "lab",
            "role",
            "client",
            "--addr",
            "127.0.0.1:8080",
            "--mode",
            "send-and-close",
            "--count",
            &LEAKS.to_string(),
        ]);
        wait_line(&mut client, "done");
        let _client = Kill(client);

        let port = 19753;
        let serve = Kill(tcpdoctor(&[
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--full-interval",
            "1",
            "--client-timeout",
            "1",
            // 16 concurrent scrapers below, all from 127.0.0.1.
            "--max-per-peer",
            "32",
        ]));
        let metrics = poll(
            "the exporter serves the leak",
            Duration::from_secs(30),
            || {
                let (status, body) = request(port, "GET /metrics HTTP/1.1\r\n\r\n").ok()?;
                let leaked = r#"tcpdoctor_close_wait_sockets{netns="",process="lab-server"}"#;
                (status == 200 && value(&body, leaked) == Some(LEAKS as f64)).then_some(body)
            },
        );
        assert_eq!(
            value(
                &metrics,
                "tcpdoctor_sockets{netns=\"\",state=\"CLOSE_WAIT\"}"
            ),
            Some(LEAKS as f64),
            "{metrics}"
        );
        assert!(
            metrics.contains("tcpdoctor_finding{id=\"close-wait-leak\""),
            "{metrics}"
        );
        assert_eq!(
            value(
                &metrics,
                "tcpdoctor_scrape_collector_success{collector=\"census\"}"
            ),
            Some(1.0)
        );
        // Every tuple's port use is exported, finding or not: the leaking
        // client's orphaned FIN_WAIT2 hold ports toward the server.
        let ratio = value(
            &metrics,
            concat!(
                r#"tcpdoctor_port_utilization_ratio{netns="","#,
                r#"local_ip="127.0.0.1",remote="127.0.0.1:8080"}"#
            ),
        );
        assert!(ratio.is_some_and(|r| r > 0.0 && r < 0.01), "{metrics}");

        // promtool accepts the exposition (CI installs Debian's prometheus).
        if let Ok(mut check) = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            check
                .stdin
                .take()
                .expect("stdin")
                .write_all(metrics.as_bytes())
                .expect("write");
            let out = check.wait_with_output().expect("promtool runs");
            assert!(
                out.status.success(),
                "promtool: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have promtool (test.sh installs \
                prometheus)"
            );
        }

        // The findings page names the leaking process but not its arguments
        // (they may hold secrets): comm and argv[0]'s base name only.
        let (status, page) = get(port, "/");
        assert_eq!(status, 200);
        assert!(page.contains("close-wait-leak"), "{page}");
        assert!(page.contains("lab-server"), "{page}");
        assert!(
            !page.contains("--mode"),
            "arguments served over HTTP: {page}"
        );

        // With --netns all, each namespace is a label: this one by its inode.
        let ino = std::fs::metadata("/proc/thread-self/ns/net")
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .expect("netns");
        let all_port = port + 1;
        let _all = Kill(tcpdoctor(&[
            "serve",
            "--listen",
            &format!("127.0.0.1:{all_port}"),
            "--netns",
            "all",
        ]));
        let series = format!("tcpdoctor_sockets{{netns=\"net:[{ino}]\",state=\"CLOSE_WAIT\"}}");
        poll(
            "--netns all labels each namespace",
            Duration::from_secs(30),
            || {
                let (status, body) = request(all_port, "GET /metrics HTTP/1.1\r\n\r\n").ok()?;
                (status == 200 && value(&body, &series) == Some(LEAKS as f64)).then_some(())
            },
        );

        // Bad requests: 4xx, and the server lives on.
        assert_eq!(get(port, "/nope").0, 404);
        assert_eq!(
            request(port, "POST /metrics HTTP/1.1\r\n\r\n")
                .expect("request")
                .0,
            405
        );
        assert_eq!(request(port, "garbage\r\n\r\n").expect("request").0, 400);
        assert_eq!(
            request(
                port,
                &format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000))
            )
            .expect("request")
            .0,
            431
        );
        assert_eq!(get(port, "/healthz"), (200, "ok\n".to_string()));
        assert!(get(port, "/").1.contains("close-wait-leak"));

        // A stalled client (connected, silent) blocks no other scrape, and
        // is disconnected after --client-timeout.
        let mut stalled = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        assert_eq!(get(port, "/metrics").0, 200);
        stalled
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut byte = [0u8; 1];
        assert_eq!(
            stalled.read(&mut byte).expect("the server closes it"),
            0,
            "closed without a response"
        );
        // Closed by the server first, our end would now sit in CLOSE_WAIT.
        drop(stalled);

        // 16 scrapers x 500 scrapes: no error, flat memory.
        let pid = serve.0.id();
        for _ in 0..100 {
            assert_eq!(get(port, "/metrics").0, 200);
        }
        let warm = vm_rss_kb(pid);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..500 {
                        let (status, body) = get(port, "/metrics");
                        assert_eq!(status, 200);
                        assert!(body.contains("tcpdoctor_sockets"));
                    }
                });
            }
        });
        let after = vm_rss_kb(pid);
        assert!(
            after <= warm + 16 * 1024,
            "RSS grew from {warm} kB to {after} kB over 8000 \
            scrapes"
        );

        // A real Prometheus scrapes it.
        let dir = TempDir::new("prom");
        std::fs::create_dir_all(dir.join("data")).expect("mkdir");
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: \
                tcpdoctor\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            ),
        )
        .expect("config");
        let prom = match Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:19090")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => Kill(c),
            Err(_) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must have prometheus (test.sh \
                    installs it)"
                );
                eprintln!("prometheus not installed: skipped the scrape by a real Prometheus");
                return;
            }
        };
        let query = |q: &str| -> Option<f64> {
            let enc: String = q
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b == b'_' {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            let (status, body) = request(
                19090,
                &format!(
                    "GET /api/v1/query?query={enc} \
                HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                ),
            )
            .ok()?;
            if status != 200 {
                return None;
            }
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
        };
        let cw = poll(
            "Prometheus has the CLOSE_WAIT count",
            Duration::from_secs(90),
            || query("tcpdoctor_sockets{state=\"CLOSE_WAIT\"}"),
        );
        assert_eq!(cw, LEAKS as f64);
        let by_process = poll("Prometheus has the owner", Duration::from_secs(30), || {
            query("tcpdoctor_close_wait_sockets{process=\"lab-server\"}")
        });
        assert_eq!(by_process, LEAKS as f64);
        drop(prom);
        drop(dir);
    })
    .expect("namespace");
}

/// At hundreds of new connections a second the owner scan comes after the
/// connections are gone: every short connection showed "no owner". A
/// socket that had a file at the dump gets a likely owner from the
/// evidence (the listener, or the process talking to the same peer): under
/// four churning clients fewer than 1% stay without one, and the churning
/// client is named.
#[test]
#[ignore = "needs root"]
fn owners_of_short_connections_survive_churn() {
    run_in_private_netns(|| {
        let mut server = tcpdoctor(&[
            "lab",
            "role",
            "server",
            "--addr",
            "127.0.0.1:8080",
            "--mode",
            "http-close",
        ]);
        wait_line(&mut server, "ready");
        let _server = Kill(server);
        let _clients: Vec<Kill> = (0..4)
            .map(|_| {
                Kill(tcpdoctor(&[
                    "lab",
                    "role",
                    "client",
                    "--addr",
                    "127.0.0.1:8080",
                    "--mode",
                    "churn",
                    "--count",
                    "10000000",
                ]))
            })
            .collect();
        let rows = || -> Vec<serde_json::Value> {
            let o = bin().args(["sockets", "--json"]).output().expect("runs");
            serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
        };
        // Churning: connections closed first by the server pile up.
        poll("the clients churn", Duration::from_secs(60), || {
            (rows().iter().filter(|r| r["state"] == "TIME_WAIT").count() > 500).then_some(())
        });
        // The churn rate, from the TIME_WAIT ages (each says when its
        // connection closed): reported, not asserted.
        let sample = rows();
        let ages: Vec<f64> = sample
            .iter()
            .filter(|r| r["state"] == "TIME_WAIT")
            .filter_map(|r| r["age_s"].as_f64())
            .collect();
        let oldest = ages.iter().copied().fold(1.0f64, f64::max);
        eprintln!(
            "churn: {} TIME_WAIT over {oldest:.1} s = {:.0} connections/s",
            ages.len(),
            ages.len() as f64 / oldest
        );
        let (mut had_file, mut orphaned, mut client_named) = (0u64, 0u64, false);
        for _ in 0..20 {
            for r in rows() {
                if r["inode"].as_u64().unwrap_or(0) == 0 || r["state"] == "LISTEN" {
                    continue;
                }
                had_file += 1;
                let named = |k: &str| {
                    r[k].as_array()
                        .is_some_and(|v| v.iter().any(|o| o["comm"] == "lab-client"))
                };
                client_named |= named("owners") || named("likely_owners");
                let owned = !r["owners"].as_array().is_none_or(|v| v.is_empty())
                    || !r["likely_owners"].as_array().is_none_or(|v| v.is_empty());
                if !owned {
                    orphaned += 1;
                }
            }
        }
        assert!(had_file > 0, "sockets with files were seen");
        eprintln!("owners: {orphaned} of {had_file} sockets with a file had no owner");
        assert!(
            orphaned * 100 < had_file,
            "{orphaned} of {had_file} sockets with a file had no owner"
        );
        assert!(client_named, "the churning client is named");
    })
    .expect("a private namespace");
}

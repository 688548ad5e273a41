//! The exporter's `/` page in a real browser: `tcpdoctor serve` reads the
//! namespace of a real lab scenario (a server that leaks CLOSE_WAIT), and
//! headless Chromium (Debian's chromium, installed by test.sh) loads the
//! page: it renders, logs nothing to the console, and shows the finding
//! with its process, evidence and remedy. Needs root.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A kept lab scenario, torn down on drop (also when the test fails).
struct Lab(String);

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_tcpdoctor"))
            .args(["lab", "down", &self.0])
            .output();
    }
}

#[test]
#[ignore = "needs root"]
fn the_page_renders_in_chromium_with_a_lab_scenarios_finding() {
    let bin = env!("CARGO_BIN_EXE_tcpdoctor");
    let name = format!("page{}", std::process::id());
    let lab = Command::new(bin)
        .args(["lab", "run", "close-wait-leak", "--keep", "--name", &name])
        .output()
        .expect("runs the lab");
    assert!(
        lab.status.success(),
        "{}",
        String::from_utf8_lossy(&lab.stderr)
    );
    let lab = Lab(format!("tdlab-{name}"));
    let mut serve = Kill(
        Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--netns", &lab.0])
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts serve"),
    );
    // "tcpdoctor: serving http://127.0.0.1:PORT/metrics", after the first
    // refresh: the page has its findings from the start.
    let mut line = String::new();
    let mut err = BufReader::new(serve.0.stderr.take().expect("stderr"));
    while !line.contains("serving http://") {
        line.clear();
        assert!(
            err.read_line(&mut line).expect("reads serve") > 0,
            "serve ended"
        );
    }
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the address")
        .replace("/metrics", "/");
    let profile = std::env::temp_dir().join(format!("tcpdoctor-chromium-{}", std::process::id()));
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("chromium runs (test.sh installs it)");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&o.stdout);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(dom.contains("<h1>tcpdoctor</h1>"), "{dom}");
    assert!(
        dom.contains("id=\"close-wait-leak\""),
        "the lab's finding: {dom}"
    );
    assert!(
        dom.contains("<dt>close_wait</dt>"),
        "with its evidence: {dom}"
    );
    assert!(
        dom.contains("Remedy:") && dom.contains("close"),
        "and its remedy: {dom}"
    );
    assert!(dom.contains(&lab.0), "the namespace read: {dom}");
    assert!(dom.contains("last refresh: 20"), "when: {dom}");
}

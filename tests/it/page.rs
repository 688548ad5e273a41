//! The exporter's `/` page in a real browser: `tcpdoctor serve` reads the
//! namespace of a real lab scenario (a server that leaks CLOSE_WAIT), and
//! headless Chromium (Debian's chromium, installed by test.sh) loads the
//! page: it renders, logs nothing to the console, and shows the finding
//! with its process, evidence and remedy. Needs root.

use crate::support::{Kill, TempDir, bin, serving};
use std::io::BufReader;
use std::process::{Command, Stdio};

/// A kept lab scenario, torn down on drop (also when the test fails).
struct Lab(String);

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = bin().args(["lab", "down", &self.0]).output();
    }
}

#[test]
#[ignore = "needs root"]
fn the_page_renders_in_chromium_with_a_lab_scenarios_finding() {
    let name = format!("page{}", std::process::id());
    let lab = bin()
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
        bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--netns", &lab.0])
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts serve"),
    );
    // "tcpdoctor: serving http://127.0.0.1:PORT/metrics", after the first
    // refresh: the page has its findings from the start.
    let mut err = BufReader::new(serve.0.stderr.take().expect("stderr"));
    let (port, _) = serving(&mut err);
    let url = format!("http://127.0.0.1:{port}/");
    let profile = TempDir::new("chromium");
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
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("chromium runs (test.sh installs it)");
    drop(profile);
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

//! What the TUI's tests share: a sample with a leak growing, an app fed 30
//! of them, the screen as text, and the golden screens.

use super::{App, Mode, draw};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::Path;
use tcpdoctor_core::model::{FindingRow, ListenerRow, ProcessRow, Sample, Severity, UpstreamRow};

pub fn sample(i: u64) -> Sample {
    let mut s = Sample {
        at_unix_s: 1_795_999_000.0 + i as f64,
        elapsed_s: i as f64,
        interval_s: 1.0,
        window_s: i.min(60) as f64,
        tables_fresh: true,
        ..Sample::default()
    };
    s.states.insert("ESTABLISHED".into(), 1200 + i);
    s.states.insert("CLOSE_WAIT".into(), 10 * i);
    s.states.insert("TIME_WAIT".into(), 300);
    s.states.insert("LISTEN".into(), 3);
    s.total = s.states.values().sum();
    s.rates.insert("ListenOverflows".into(), 2.0);
    s.processes = vec![
        ProcessRow {
            pid: 4242,
            comm: "leaky-app".into(),
            established: 20,
            close_wait: 10 * i,
            close_wait_growth_per_min: Some(600.0),
            fds: Some(30 + 10 * i as u32),
            nofile: Some(1024),
            fd_growth_per_min: Some(600.0),
            time_to_fd_limit_s: Some(90.0),
            sockets: vec!["CLOSE_WAIT 10.0.0.1:8080 > 10.0.0.7:51234, 29s".into()],
            ..ProcessRow::default()
        },
        ProcessRow {
            pid: 17,
            comm: "nginx".into(),
            established: 1180,
            time_wait: 300,
            close_wait_growth_per_min: Some(0.0),
            fds: Some(1300),
            nofile: Some(65536),
            ..ProcessRow::default()
        },
    ];
    s.upstreams = vec![UpstreamRow {
        netns: 1,
        local_ip: "10.0.0.1".parse().expect("ip"),
        remote: "10.0.0.9:5432".parse().expect("ep"),
        in_use: 21000,
        usable: 28232,
        new_per_s: Some(350.0),
        growth_per_min: Some(120.0),
        time_to_exhaustion_s: Some(3616.0),
    }];
    s.listeners = vec![ListenerRow {
        netns: 1,
        local: "0.0.0.0:8080".parse().expect("ep"),
        pid: Some(4242),
        comm: "leaky-app".into(),
        accept_queue: 128,
        backlog: 128,
        time_wait: 0,
    }];
    s.findings = vec![FindingRow {
        severity: Severity::Critical,
        id: "close-wait-growing".into(),
        subject: "pid 4242 (leaky-app)".into(),
        title: "pid 4242 (leaky-app): CLOSE_WAIT growing by 600.0/min over the last 60 s".into(),
    }];
    s
}

pub fn app() -> App {
    let mut a = App::new(
        Mode::Live,
        "web-1 · kernel 6.18 · current netns · every 1.0s".into(),
    );
    a.explain = |id| Some(format!("{id}: what it means, in a few lines."));
    for i in 1..=30 {
        a.push(sample(i));
    }
    a
}

/// The screen drawn at `w` x `h`, each line's trailing blanks cut.
pub fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    t.draw(|f| draw(f, app)).expect("draws");
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Compares with tests/golden/`name`; TCPDOCTOR_BLESS=1 rewrites it.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("TCPDOCTOR_BLESS").is_some() {
        std::fs::write(&path, actual).expect("writes the golden file");
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (TCPDOCTOR_BLESS=1 creates it)", path.display()));
    assert_eq!(actual, want, "screen differs from {}", path.display());
}

pub fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

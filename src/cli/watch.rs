//! `tcpdoctor watch`: the host over time, in a terminal UI or as NDJSON,
//! optionally recorded for `tcpdoctor replay`.

use super::args::{JsonArg, NetnsArg, ThresholdArgs, seconds, stdout};
use crate::tui::{self, Action, App, Mode};
use anyhow::{Context, Result};
use crossterm::event::{self, Event, KeyEventKind};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tcpdoctor_core::model::{NetnsSelector, OwnerSource, Sample, Snapshot};
use tcpdoctor_core::ops::recording::{RECORDING_VERSION, Recorder, RecordingHeader};
use tcpdoctor_core::ops::{Observer, ObserverOptions, ProcRoot};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
The screen: a header (host, kernel, namespaces, the owner source, the interval), the TCP \
states with their counts and a sparkline of the samples kept, and one table:\n  \
1 processes   sockets per state, CLOSE_WAIT growth per minute (by socket cookie: new minus \
gone), fds of RLIMIT_NOFILE and the time left at the current fd growth;\n  \
2 upstreams   ephemeral ports per (local IP, remote ip:port) of the usable range, new \
connections per second, growth and the time until the range runs out;\n  \
3 listeners   accept queue of backlog, TIME_WAIT on the port (server-side closes), \
listen overflows per second (host-wide);\n  \
4 findings    the diagnosis of the latest owner scan, by severity.\n\
Keys: Tab or 1-4 switch tables, s/S sort column, r reverse, / filter, Up/Down and Enter \
for a row's details and the explanation of its finding, p pause, <- -> step, ? help, q or \
Ctrl-C quit. The terminal is restored on exit, on Ctrl-C and on a panic.\n\n\
Without a terminal, or with --json: one JSON object per sample (NDJSON): {\"at_unix_s\", \
\"elapsed_s\", \"interval_s\", \"window_s\", \"states\": {\"ESTABLISHED\": n, ...}, \"total\", \
\"detail_interval_s\", \"rates\" (per second): {\"ListenOverflows\", \"ListenDrops\", \
\"ActiveOpens\", \"PassiveOpens\"}, \"processes\": [{\"pid\", \"comm\", \"established\", \
\"close_wait\", \"time_wait\", \"other\", \"close_wait_new\", \"close_wait_gone\", \
\"close_wait_growth_per_min\", \"fds\", \"nofile\", \"fd_growth_per_min\", \"time_to_fd_limit_s\", \
\"sockets\" (a few of its sockets, as text)}], \"upstreams\": [{\"netns\", \"local_ip\", \
\"remote\", \
\"in_use\", \"usable\", \"new_per_s\", \"growth_per_min\", \"time_to_exhaustion_s\"}], \
\"listeners\": [{\"netns\", \"local\", \"pid\", \"comm\", \"accept_queue\", \"backlog\", \
\"time_wait\"}], \"findings\": [{\"severity\", \"id\", \"subject\", \"title\"}], \"owners_fresh\", \
\"tables_fresh\", \"tables_age_s\", \"notes\"}.\n\n\
The states are counted every interval (in the kernel where eBPF allows); the tables come \
from a detailed snapshot (sockets, owners, counters) taken every interval while that costs \
under a tenth of it, else less often: samples in between carry the last tables \
(\"tables_fresh\": false), and rates are over \"detail_interval_s\".")]
pub struct Args {
    /// Seconds between samples.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = seconds(0.1, 3600.0))]
    pub interval: Duration,

    /// Stop after N samples (default: until q or Ctrl-C).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Seconds of samples that growth rates and predictions are taken over.
    #[arg(long, value_name = "SECONDS", default_value = "60",
        value_parser = seconds(1.0, 86_400.0))]
    pub window: Duration,

    /// Rows kept per table in each sample.
    #[arg(long, value_name = "N", default_value_t = 50,
        value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub top: u32,

    /// Also write every sample to FILE (gzip NDJSON, mode 0600) for
    /// `tcpdoctor replay`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Do not trace who closes connections. By default watch traces for its
    /// whole run (eBPF, root), so that TIME_WAIT closers are exact, also for
    /// processes that exited; without it they are likely ones, labelled as
    /// guesses. Nothing stays loaded after watch ends.
    #[arg(long)]
    pub no_trace: bool,

    #[command(flatten)]
    pub netns: NetnsArg,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,

    #[command(flatten)]
    pub output: JsonArg,
}

/// The observer of the host, as the flags say.
fn observer(root: &ProcRoot, a: &Args) -> Observer {
    Observer::new(
        root,
        ObserverOptions {
            netns: a.netns.selector.clone(),
            interval: a.interval,
            window: a.window,
            thresholds: a.thresholds.0.clone(),
            top: a.top as usize,
            hide_arguments: false,
            trace_closers: !a.no_trace,
        },
    )
}

/// The next sample.
fn sample(observer: &mut Observer) -> Result<Sample> {
    Ok(observer.step().context("sampling the host")?.sample)
}

/// "host web-1, kernel 6.18, current netns, owners eBPF, every 1.0 s".
fn header(snap: &Snapshot, sel: &NetnsSelector, interval: Duration) -> String {
    let kernel = snap
        .namespaces
        .first()
        .and_then(|n| n.host.kernel_release.clone())
        .unwrap_or_else(|| "?".into());
    let ns = match sel {
        NetnsSelector::Current => "current netns".to_string(),
        NetnsSelector::All => format!("{} netns", snap.namespaces.len()),
        _ => format!("{} netns", snap.namespaces.len()),
    };
    let owners = snap.owners.source.map_or("none", OwnerSource::name);
    format!(
        "{} · kernel {kernel} · {ns} · owners {owners} · every {:.1}s",
        snap.hostname,
        interval.as_secs_f64()
    )
}

fn recorder(path: &Option<PathBuf>, header: &str, interval: Duration) -> Result<Tape> {
    let Some(path) = path else {
        return Ok(Tape::default());
    };
    let h = RecordingHeader {
        tcpdoctor_recording: RECORDING_VERSION,
        header: header.to_string(),
        interval_s: interval.as_secs_f64(),
        started_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    };
    Ok(Tape {
        rec: Some(Recorder::create(path, &h)?),
        failed: None,
    })
}

/// The recording of a watch, if any. A write error (a full disk) stops
/// it, and watching goes on: what was written reads with replay (the
/// samples are flushed one by one), and the watch's exit says the
/// recording failed. Dropped on any way out, it ends the gzip stream.
#[derive(Default)]
struct Tape {
    rec: Option<Recorder>,
    failed: Option<String>,
}

impl Tape {
    /// Records `s`; the message, the first time the recording fails.
    fn sample(&mut self, s: &Sample) -> Option<String> {
        let r = self.rec.as_mut()?;
        let e = r.sample(s).err()?;
        let msg = format!(
            "{e}: the recording stopped after sample {} (`tcpdoctor replay {}` reads them)",
            r.samples,
            r.path().display()
        );
        // Dropping it tries to end the stream; the disk may refuse.
        self.rec = None;
        self.failed = Some(msg.clone());
        Some(msg)
    }

    /// Ends the file; an error if the recording failed.
    fn finish(&mut self) -> Result<()> {
        if let Some(r) = self.rec.take() {
            r.finish()?;
        }
        match self.failed.take() {
            Some(msg) => Err(anyhow::anyhow!(msg)),
            None => Ok(()),
        }
    }
}

impl Drop for Tape {
    fn drop(&mut self) {
        if let Some(r) = self.rec.take() {
            let _ = r.finish();
        }
    }
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    // SIGHUP too: an SSH session that drops ends the watch as Ctrl-C
    // does, with the recording finished.
    let stop = super::args::stop_on_signals(true)?;
    let mut sampler = observer(root, a);
    let first = sampler.step().context("sampling the host")?;
    let head = first.detail.as_ref().map_or_else(String::new, |d| {
        header(&d.snapshot, &a.netns.selector, a.interval)
    });
    let first = first.sample;
    let mut rec = recorder(&a.record, &head, a.interval)?;
    let tui = !a.output.json && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !tui {
        return ndjson(sampler, first, rec, a, &stop);
    }
    // Sampling runs on its own thread: at scale a snapshot takes a good
    // part of a second, and keys must not wait for it.
    let (tx, rx) = mpsc::channel::<Sample>();
    let sampling = Arc::clone(&stop);
    let (interval, count) = (a.interval, a.count);
    // In the terminal UI, a failed recording is said once the terminal is
    // restored: the worker's result.
    rec.sample(&first);
    let worker = std::thread::spawn(move || -> Result<()> {
        let mut taken = 1;
        let mut next_at = Instant::now() + interval;
        while !sampling.load(Ordering::Relaxed) && count.is_none_or(|c| taken < c) {
            wait_until(next_at, &sampling);
            if sampling.load(Ordering::Relaxed) {
                break;
            }
            next_at += interval;
            let s = sample(&mut sampler)?;
            rec.sample(&s);
            taken += 1;
            if tx.send(s).is_err() {
                break;
            }
        }
        rec.finish()
    });
    let mut app = App::new(Mode::Live, head);
    app.push(first);
    let shown = run_ui(&mut app, &stop, |app| {
        while let Ok(s) = rx.try_recv() {
            app.push(s);
        }
    });
    stop.store(true, Ordering::Relaxed);
    let sampled = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the sampling thread panicked"))?;
    shown?;
    sampled?;
    Ok(ExitCode::SUCCESS)
}

/// Sleeps until `t`, waking early when `stop` is set.
fn wait_until(t: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= t {
            return;
        }
        std::thread::sleep((t - now).min(Duration::from_millis(100)));
    }
}

/// One JSON object per sample.
fn ndjson(
    mut sampler: Observer,
    first: Sample,
    mut rec: Tape,
    a: &Args,
    stop: &AtomicBool,
) -> Result<ExitCode> {
    let mut out = stdout();
    let mut s = first;
    let mut taken = 1u64;
    let mut next_at = Instant::now() + a.interval;
    loop {
        if let Some(msg) = rec.sample(&s) {
            let _ = writeln!(std::io::stderr(), "tcpdoctor: {msg}; watching goes on");
        }
        serde_json::to_writer(&mut out, &s)?;
        out.write_all(b"\n")?;
        out.flush()?;
        if a.count.is_some_and(|c| taken >= c) {
            break;
        }
        wait_until(next_at, stop);
        if stop.load(Ordering::Relaxed) {
            break;
        }
        next_at += a.interval;
        s = sample(&mut sampler)?;
        taken += 1;
    }
    rec.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the terminal UI until q, Ctrl-C or a signal; `tick` feeds new
/// samples in. The terminal is restored on every way out (ratatui's init
/// also restores it on a panic).
pub fn run_ui(app: &mut App, stop: &AtomicBool, mut tick: impl FnMut(&mut App)) -> Result<()> {
    let mut terminal = ratatui::init();
    let result = (|| -> Result<()> {
        loop {
            tick(app);
            terminal.draw(|f| tui::draw(f, app))?;
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if event::poll(Duration::from_millis(100))?
                && let Event::Key(k) = event::read()?
                && k.kind == KeyEventKind::Press
                && app.on_key(k) == Action::Quit
            {
                return Ok(());
            }
        }
    })();
    ratatui::restore();
    result
}

//! Argument groups shared by several commands, each defined once and
//! flattened where it is used, and the value parsers behind them.

use clap::builder::TypedValueParser as _;
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches};
use std::io::IsTerminal;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tcpdoctor_core::model::{GroupBy, NetnsSelector, StateSet, TcpState};
use tcpdoctor_core::ops::{
    CloseTrace, Progress, SnapshotOptions, Threshold, Thresholds, thresholds,
};
use tcpdoctor_core::render::text::Shown;

/// `--json`.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct JsonArg {
    /// Print JSON instead of text (the layout is in the command's help).
    #[arg(long)]
    pub json: bool,
}

/// `--state`, repeatable.
#[derive(Args, Debug, Clone, Default)]
pub struct StatesArg {
    /// Only sockets in this state (repeatable). Takes netstat or ss names in
    /// any case: TIME_WAIT, time-wait, close-wait, ESTAB, listen...
    #[arg(long = "state", short = 's', value_name = "STATE", value_parser = parse_state)]
    pub states: Vec<TcpState>,
}

impl StatesArg {
    /// The states asked for; None for all.
    pub fn set(&self) -> Option<StateSet> {
        (!self.states.is_empty()).then(|| self.states.iter().copied().collect())
    }
}

/// `--netns`, shared by every command that reads sockets.
#[derive(Args, Debug, Clone, Default)]
pub struct NetnsArg {
    /// Which network namespaces: current (default), all, an `ip netns`
    /// name, a namespace file (/proc/PID/ns/net), or a pid. Entering another
    /// namespace needs root.
    #[arg(
        long = "netns",
        value_name = "NETNS",
        default_value = "current",
        value_parser = parse_netns
    )]
    pub selector: NetnsSelector,
}

/// `-4` / `-6`.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct FamilyArg {
    /// Only IPv4 sockets.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6_only")]
    pub ipv4_only: bool,
    /// Only IPv6 sockets.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6_only: bool,
}

impl FamilyArg {
    pub fn ipv4(self) -> bool {
        !self.ipv6_only
    }
    pub fn ipv6(self) -> bool {
        !self.ipv4_only
    }
}

/// `--sysctl-file`, repeatable.
#[derive(Args, Debug, Clone, Default)]
pub struct SysctlFilesArg {
    /// A sysctl.conf file to audit (repeatable); default /etc/sysctl.d/*.conf
    /// and /etc/sysctl.conf.
    #[arg(long = "sysctl-file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `--interval`: the time between the two counter samples.
#[derive(Args, Debug, Clone, Copy)]
pub struct IntervalArg {
    /// Seconds between the two counter samples that rates are measured
    /// over (the measured length is reported with the rates).
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = seconds(0.0, 3600.0))]
    pub interval: Duration,
}

impl Default for IntervalArg {
    fn default() -> Self {
        IntervalArg {
            interval: Duration::from_secs(1),
        }
    }
}

/// `--trace`: watch closes with the eBPF tracer before collecting.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct TraceArg {
    /// Trace closes for this many seconds before collecting, so that the
    /// TIME_WAIT made meanwhile is named by the process that closed it,
    /// exactly, instead of a likely one (eBPF: needs root; without it, a
    /// note and the likely owners as before). Not needed while `tcpdoctor
    /// trace` or `serve --trace` runs on the host.
    #[arg(long, value_name = "SECONDS", value_parser = seconds(0.1, 3600.0))]
    pub trace: Option<Duration>,
}

/// `--trace` and `--no-trace` of the commands that wait anyway (diagnose,
/// snapshot): closes are traced while they wait, unless told not to.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct CloseTraceArgs {
    /// Trace closes for at least this many seconds in all (the counter
    /// interval and --for count toward it), so that more of the TIME_WAIT
    /// is named by the process that closed it. Without it, closes are
    /// traced while the command waits anyway (the 1 s interval, --for).
    #[arg(long, value_name = "SECONDS", value_parser = seconds(0.1, 3600.0))]
    pub trace: Option<Duration>,
    /// Do not trace closes: TIME_WAIT closers are then only likely ones
    /// (the processes that talk to that peer now), labelled as guesses.
    /// Tracing needs eBPF (root); where it cannot run, the findings say so.
    #[arg(long, conflicts_with = "trace")]
    pub no_trace: bool,
}

impl CloseTraceArgs {
    pub fn choice(&self) -> CloseTrace {
        match (self.no_trace, self.trace) {
            (true, _) => CloseTrace::Off,
            (false, Some(t)) => CloseTrace::AtLeast(t),
            (false, None) => CloseTrace::WhileWaiting,
        }
    }
}

/// `--for`: observe the host over time before judging.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct ObserveArg {
    /// Observe for this many seconds first (a sample a second), so that
    /// findings gain trends measured over that time: CLOSE_WAIT growth per
    /// process by socket cookie (close-wait-growing), fd growth and the
    /// time until RLIMIT_NOFILE, ephemeral-port growth and the time until
    /// the range runs out.
    #[arg(long = "for", value_name = "SECONDS", value_parser = seconds(1.0, 86_400.0))]
    pub span: Option<Duration>,
}

/// What a snapshot of this host reads: `--interval`, `--netns`,
/// `--sysctl-file`, `--trace`, `--for` (diagnose and snapshot).
#[derive(Args, Debug, Clone, Default)]
pub struct HostSnapshotArgs {
    #[command(flatten)]
    pub interval: IntervalArg,
    #[command(flatten)]
    pub observe: ObserveArg,
    #[command(flatten)]
    pub trace: CloseTraceArgs,
    #[command(flatten)]
    pub netns: NetnsArg,
    #[command(flatten)]
    pub sysctl_files: SysctlFilesArg,
}

impl HostSnapshotArgs {
    /// These flags as the application layer takes them.
    pub fn options(&self) -> SnapshotOptions {
        SnapshotOptions {
            netns: self.netns.selector.clone(),
            sysctl_files: self.sysctl_files.files.clone(),
            interval: self.interval.interval,
            trace: self.trace.choice(),
            observe: self.observe.span,
            fresh_namespace: false,
            hide_arguments: false,
        }
    }
}

/// Shows what a long operation reports on stderr: the tracer starting
/// (or why it cannot), and the seconds observed, on one line rewritten in
/// place on a terminal, every ten seconds elsewhere.
pub struct StderrProgress {
    tty: bool,
    said_at: f64,
    /// A progress line is open on the terminal (ended on drop).
    open_line: bool,
}

impl StderrProgress {
    pub fn new() -> StderrProgress {
        StderrProgress {
            tty: io::stderr().is_terminal(),
            said_at: -10.0,
            open_line: false,
        }
    }

    pub fn show(&mut self, p: Progress) {
        match p {
            Progress::Tracing { for_s } => {
                eprintln!("tcpdoctor: tracing closes for {for_s:.1} s before collecting");
            }
            Progress::Note(n) => eprintln!("note: {}", Shown(&n)),
            Progress::Observing { at_s, total_s } if self.tty => {
                eprint!("\rtcpdoctor: observing {at_s:.0}/{total_s:.0} s ");
                self.open_line = true;
            }
            Progress::Observing { at_s, total_s } => {
                if at_s - self.said_at >= 10.0 {
                    eprintln!("tcpdoctor: observing {at_s:.0}/{total_s:.0} s");
                    self.said_at = at_s;
                }
            }
        }
    }
}

impl Drop for StderrProgress {
    fn drop(&mut self) {
        if self.open_line {
            eprintln!();
        }
    }
}

/// Runs `f` with a progress sink that shows on stderr.
pub fn with_progress<T>(f: impl FnOnce(&mut dyn FnMut(Progress)) -> T) -> T {
    let mut shown = StderrProgress::new();
    f(&mut |p| shown.show(p))
}

/// The thresholds of every rule, one flag each, generated from the rules'
/// declarations (`Threshold`): adding a threshold to a rule adds its flag.
#[derive(Debug, Clone, Default)]
pub struct ThresholdArgs(pub Thresholds);

impl FromArgMatches for ThresholdArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut th = ThresholdArgs::default();
        th.update_from_arg_matches(m)?;
        Ok(th)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for t in thresholds::all() {
            if let Some(v) = m.get_one::<f64>(t.flag) {
                // The parser checked the unit already.
                self.0
                    .set(t.flag, *v)
                    .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, e))?;
            }
        }
        Ok(())
    }
}

impl Args for ThresholdArgs {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for t in thresholds::all() {
            cmd = cmd.arg(threshold_arg(t));
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

fn threshold_arg(t: &'static Threshold) -> Arg {
    Arg::new(t.flag)
        .long(t.flag)
        .value_name(t.unit.value_name())
        .help(format!("{} [default: {}]", t.help, t.unit.show(t.default)))
        .help_heading("Thresholds (docs/rules.md)")
        .action(ArgAction::Set)
        .value_parser(clap::builder::StringValueParser::new().try_map(move |s| {
            let v: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("'{s}' is not a number"))?;
            t.unit.check(v).map(|()| v)
        }))
}

/// A parser of seconds between `min` and `max`: a bad value is a usage
/// error with a message, never a panic in `Duration::from_secs_f64`.
pub fn seconds(min: f64, max: f64) -> impl clap::builder::TypedValueParser<Value = Duration> {
    clap::builder::StringValueParser::new().try_map(move |s| parse_seconds(&s, min, max))
}

fn parse_seconds(s: &str, min: f64, max: f64) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !v.is_finite() || v < min || v > max {
        return Err(format!("expected seconds from {min} to {max}, found {s}"));
    }
    Duration::try_from_secs_f64(v).map_err(|e| format!("{s}: {e}"))
}

pub fn parse_state(s: &str) -> Result<TcpState, String> {
    s.parse::<TcpState>().map_err(|e| e.to_string())
}

pub fn parse_group_by(s: &str) -> Result<GroupBy, String> {
    s.parse()
}

pub fn parse_netns(s: &str) -> Result<NetnsSelector, String> {
    s.parse()
}

/// "10.0.0.1", "10.0.0.1:5432", "::1", "[::1]:80".
pub fn parse_remote(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Ok((sa.ip(), Some(sa.port())));
    }
    Err(format!("'{s}' is not IP, IP:PORT or [IPv6]:PORT"))
}

/// Ctrl-C and `kill` (SIGINT, SIGTERM) ask a long command to stop: the
/// flag it polls, so that it ends cleanly (a summary printed, a recording
/// finished). `and_hangup` adds SIGHUP, for commands that keep a terminal
/// or a file (an SSH session that drops ends them the same way).
pub fn stop_on_signals(and_hangup: bool) -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = vec![signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM];
    if and_hangup {
        signals.push(signal_hook::consts::SIGHUP);
    }
    for sig in signals {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| anyhow::anyhow!("installing the signal handler: {e}"))?;
    }
    Ok(stop)
}

/// Buffered stdout: it is line-buffered, and one write per line would
/// dominate big listings.
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// Notes (what could not be read, what was left out) go to stderr, so
/// that stdout stays parseable, each shown escaped (`render::untrusted`).
pub fn print_notes(notes: &[String]) {
    for n in notes {
        let _ = writeln!(io::stderr(), "note: {}", Shown(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_reject_what_a_duration_cannot_hold() {
        for bad in ["inf", "-1", "NaN", "1e300", "abc", "3601"] {
            assert!(parse_seconds(bad, 0.0, 3600.0).is_err(), "{bad}");
        }
        assert_eq!(
            parse_seconds("0.5", 0.0, 3600.0),
            Ok(Duration::from_millis(500))
        );
        assert!(
            parse_seconds("0.05", 0.1, 60.0).is_err(),
            "below the minimum"
        );
    }
}

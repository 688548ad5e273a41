//! Argument parsing and dispatch. No logic worth testing on its own lives
//! here: every command is a call into tcpdoctor-core plus a renderer.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use tcpdoctor_core::census::GroupBy;
use tcpdoctor_core::collect::netns::NetnsSelector;
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::diagnose::Thresholds;
use tcpdoctor_core::gather::{self, CensusOutcome};
use tcpdoctor_core::listing::RowFilter;
use tcpdoctor_core::model::{StateSet, TcpState};
use tcpdoctor_core::render;

/// Exit code when the command could not run (as Nagios plugins' UNKNOWN).
const EXIT_CANNOT_RUN: i32 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "tcpdoctor",
    version,
    about = "Find, explain and fix TCP connection-state trouble on Linux",
    long_about = "tcpdoctor counts and explains the TCP sockets of this host: piles of TIME_WAIT and \
CLOSE_WAIT, ephemeral-port exhaustion, backlog overflows and badly tuned net.ipv4 sysctls.\n\n\
It reads the kernel's socket table over netlink (sock_diag, as ss does), falling back to \
/proc/net/tcp, and never changes anything on the host.\n\n\
Run without a command, it diagnoses this host (`tcpdoctor diagnose`).",
    after_help = "EXAMPLES:\n  \
tcpdoctor                              diagnose: findings, evidence, remedies\n  \
tcpdoctor diagnose --json --netns all  every namespace, for scripts and monitoring\n  \
tcpdoctor sysctl --emit                sysctl audit as a sysctl.d snippet to review\n  \
tcpdoctor explain time-wait            what a state, finding or sysctl means\n  \
tcpdoctor census                       count TCP states, largest first\n  \
tcpdoctor census --by remote --top 5   which peers hold each state\n  \
tcpdoctor census --state time-wait --by local-port\n  \
tcpdoctor census --json                {\"total\": N, \"states\": {...}}\n  \
tcpdoctor census --by process          which processes hold each state\n  \
tcpdoctor census --netns all           every network namespace (container) on the host\n  \
tcpdoctor sockets --state close-wait   who leaks CLOSE_WAIT: pid, fd, peer, age\n  \
tcpdoctor sockets -s time-wait --dport 5432   who churns connections to an upstream\n  \
tcpdoctor host                         kernel, counters, limits and TCP sysctls\n  \
tcpdoctor lab list                     problems the lab reproduces for real\n  \
sudo tcpdoctor lab run close-wait-leak watch one happen in a private namespace\n\n\
EXIT STATUS:\n  diagnose and sysctl: 0 nothing above info, 1 warning, 2 critical, 3 could not run.\n  other commands: 0 success, 1 a lab check failed, 2 usage error, 3 could not run (the\n  message says what failed), 130 interrupted."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Read /proc from this directory instead of /proc (a captured tree).
    /// Sockets then come from its net/tcp and net/tcp6.
    #[arg(long, global = true, value_name = "DIR", default_value = "/proc")]
    proc_root: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Diagnose TCP connection-state trouble: findings with evidence,
    /// explanation and remedy, most severe first, and a verdict. This is
    /// what plain `tcpdoctor` runs.
    ///
    /// Takes a snapshot (sockets with owners and ages, counters, sysctls),
    /// a second counter sample after --interval for rates, and runs every
    /// rule (see docs/rules.md, or `tcpdoctor explain RULE`). Exit status as
    /// a Nagios plugin: 0 nothing above info, 1 warning, 2 critical, 3 could
    /// not run.
    Diagnose(DiagnoseArgs),
    /// Audit the TCP sysctls, live (per namespace) and in sysctl.conf files,
    /// against what they really do: tcp_tw_recycle, tcp_fin_timeout lowered
    /// for TIME_WAIT, tcp_max_tw_buckets lowered, tw_reuse without
    /// timestamps, a narrow port range, syncookies off. Never applies
    /// anything; --emit prints a sysctl.d snippet to review.
    Sysctl(SysctlArgs),
    /// Explain a TCP state (TIME_WAIT, close-wait...), a finding id
    /// (close-wait-leak...) or a sysctl (tcp_fin_timeout...): what it is,
    /// who ends up in it, the TCP sequence with its place marked, what to do.
    Explain {
        /// The topic; `tcpdoctor explain list` lists them.
        topic: String,
    },
    /// Count TCP sockets per state: the replacement for
    /// `netstat -n | awk '/^tcp/ {++S[$NF]} END {for(a in S) print a, S[a]}'`.
    ///
    /// Prints one line per state with its count, largest first, and the
    /// total. It streams the kernel's socket table and keeps only counters,
    /// so memory stays flat with millions of sockets.
    Census(CensusArgs),
    /// List TCP sockets with their owners and ages, like `ss -tanp` but
    /// with answers: which process and fd holds each socket, how long a
    /// CLOSE_WAIT has waited for close() and a TIME_WAIT has left, and for
    /// TIME_WAIT (which no process owns) the process that likely closed it.
    ///
    /// Sorted by state, oldest first. Owners come from one scan of
    /// /proc/*/fd; without root, other users' processes stay hidden and a
    /// note says so.
    Sockets(SocketsArgs),
    /// Reproduce TCP state problems for real, in a private network
    /// namespace: TIME_WAIT piles, port exhaustion, CLOSE_WAIT leaks, fd
    /// exhaustion, orphans, backlog and bucket overflows, and the fix.
    ///
    /// Each scenario runs a server and a client process on loopback inside a
    /// namespace of its own, prints what it built and the errors the
    /// applications hit, checks it, and cleans everything up (also on Ctrl-C
    /// or if a process dies). Needs root; exits 3 without it.
    Lab(LabArgs),
    /// Analyze dumps from machines tcpdoctor cannot reach: `netstat -ant[p]`,
    /// `ss -tan[p][oie]`, /proc/net/tcp{,6}, `STATE COUNT` lines of the awk
    /// census, or a tcpdoctor snapshot (gzip too). `-` reads stdin.
    ///
    /// The format is detected (or forced with --format). It says what the
    /// input cannot tell (no owners in plain netstat, no counters or sysctls
    /// in any dump). A malformed line is an error naming file and line, or,
    /// with --lenient, skipped and counted.
    Analyze(AnalyzeArgs),
    /// Write a snapshot of this host (sockets, owners, ages, counters,
    /// sysctls, kernel, hostname, namespaces) to one file, gzip when it ends
    /// in .gz, for `tcpdoctor analyze` elsewhere.
    Snapshot(SnapshotArgs),
    /// Run a Prometheus exporter: /metrics (sockets per state, owners of
    /// CLOSE_WAIT and TIME_WAIT, port utilisation, TcpExt counters, every
    /// finding, per-collector success), /healthz, and / (the findings).
    ///
    /// Each scrape takes a census and reads the counters (shared by scrapes
    /// within a second); owners and findings are recomputed every
    /// --full-interval in the background. Listens on loopback unless told
    /// otherwise. Alert rules, a dashboard, a systemd unit and a DaemonSet
    /// are in deploy/.
    Serve(ServeArgs),
    /// Show the kernel release, socket totals, TCP counters, file-handle
    /// limits and the TCP sysctls of this network namespace.
    Host(HostArgs),
}

#[derive(Args, Debug, Default)]
struct CensusArgs {
    /// Count only sockets in this state (repeatable). Takes netstat or ss
    /// names in any case: TIME_WAIT, time-wait, close-wait, ESTAB, listen...
    /// The filter runs in the kernel.
    #[arg(long = "state", short = 's', value_name = "STATE", value_parser = parse_state)]
    states: Vec<TcpState>,

    /// Also count each state per group: remote (ip:port of the peer),
    /// local-port, local-ip, or process (the owning process; TIME_WAIT
    /// under the process that likely closed it, marked "likely").
    #[arg(long, value_name = "KEY", value_parser = parse_group_by)]
    by: Option<GroupBy>,

    #[command(flatten)]
    netns: NetnsArg,

    /// With --by: how many groups to show per state.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,

    /// Only IPv4 sockets.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,

    /// Only IPv6 sockets.
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,

    /// Where to read sockets from: auto (netlink, falling back to /proc),
    /// netlink, or proc.
    #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
    source: SourceArg,

    /// Print JSON: {"total": N, "states": {"ESTABLISHED": n, ...}, ...}.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct SocketsArgs {
    /// Only sockets in this state (repeatable; netstat or ss names, any
    /// case: close-wait, CLOSE_WAIT, time-wait, ESTAB...).
    #[arg(long = "state", short = 's', value_name = "STATE", value_parser = parse_state)]
    states: Vec<TcpState>,

    /// Only sockets with this local port.
    #[arg(long, value_name = "PORT")]
    sport: Option<u16>,

    /// Only sockets with this remote port.
    #[arg(long, value_name = "PORT")]
    dport: Option<u16>,

    /// Only sockets with this local or remote port.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,

    /// Only sockets held (or, for TIME_WAIT, likely closed) by this pid
    /// (repeatable).
    #[arg(long, value_name = "PID")]
    pid: Vec<u32>,

    /// Only sockets held (or likely closed) by a process of this name, as
    /// /proc/PID/comm shows it (repeatable).
    #[arg(long, value_name = "NAME")]
    comm: Vec<String>,

    /// Only sockets to this peer: IP, IP:PORT or [IPv6]:PORT.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_remote)]
    remote: Option<(IpAddr, Option<u16>)>,

    /// Show at most N sockets (after sorting).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Skip the owner scan (faster; no OWNER column).
    #[arg(long)]
    no_owners: bool,

    /// Wide layout: uid, inode, timer, socket cookie and the owner's
    /// command line; with --json, each owner's process details and tcp_info.
    #[arg(long, short = 'w')]
    wide: bool,

    #[command(flatten)]
    netns: NetnsArg,

    /// Only IPv4 sockets.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,

    /// Only IPv6 sockets.
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,

    /// Print a JSON array of sockets: state, local, remote, recv_q, send_q,
    /// age_s, owners [{pid, comm, fd}], likely_owners [{pid, comm}], ...
    #[arg(long)]
    json: bool,
}

/// `--netns`, shared by every command that reads sockets.
#[derive(Args, Debug, Clone, Default)]
struct NetnsArg {
    /// Which network namespaces: current (default), all, an `ip netns`
    /// name, a namespace file (/proc/PID/ns/net), or a pid. Entering another
    /// namespace needs root.
    #[arg(long = "netns", value_name = "NETNS", default_value = "current", value_parser = parse_netns)]
    selector: NetnsSelector,
}

/// The numbers at which rules speak up.
#[derive(Args, Debug, Clone)]
struct ThresholdArgs {
    /// CLOSE_WAIT sockets per process for a warning (10x: critical).
    #[arg(long, value_name = "N", default_value_t = Thresholds::default().close_wait_count)]
    close_wait_count: u64,
    /// Seconds since the peer's FIN, for the oldest CLOSE_WAIT of a
    /// process, for a warning (60x: critical).
    #[arg(long, value_name = "SECONDS", default_value_t = Thresholds::default().close_wait_age_s)]
    close_wait_age: f64,
    /// Share of RLIMIT_NOFILE (or fs.file-max) in use for a warning.
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::default().fd_warn)]
    fd_warn: f64,
    /// ... and for critical.
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::default().fd_crit)]
    fd_crit: f64,
    /// Share of the usable ephemeral ports one (local IP, remote IP, remote
    /// port) holds, for a warning.
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::default().port_warn)]
    port_warn: f64,
    /// ... and for critical.
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::default().port_crit)]
    port_crit: f64,
    /// Outbound TIME_WAIT toward one upstream for a warning.
    #[arg(long, value_name = "N", default_value_t = Thresholds::default().time_wait_churn)]
    time_wait_churn: u64,
    /// TIME_WAIT per listening port or upstream worth an info finding.
    #[arg(long, value_name = "N", default_value_t = Thresholds::default().time_wait_info)]
    time_wait_info: u64,
    /// Orphaned FIN_WAIT2 sockets for a warning.
    #[arg(long, value_name = "N", default_value_t = Thresholds::default().fin_wait2_count)]
    fin_wait2_count: u64,
    /// Share of tcp_max_orphans in use for a warning.
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::default().orphan_warn)]
    orphan_warn: f64,
    /// Share of tcp_max_syn_backlog in SYN_RECV for a warning.
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::default().syn_backlog_warn)]
    syn_backlog_warn: f64,
    /// Share of tcp_max_tw_buckets in TIME_WAIT for a warning.
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::default().tw_bucket_warn)]
    tw_bucket_warn: f64,
}

impl ThresholdArgs {
    fn thresholds(&self) -> Thresholds {
        Thresholds {
            close_wait_count: self.close_wait_count,
            close_wait_age_s: self.close_wait_age,
            fd_warn: self.fd_warn,
            fd_crit: self.fd_crit,
            port_warn: self.port_warn,
            port_crit: self.port_crit,
            time_wait_churn: self.time_wait_churn,
            time_wait_info: self.time_wait_info,
            fin_wait2_count: self.fin_wait2_count,
            orphan_warn: self.orphan_warn,
            syn_backlog_warn: self.syn_backlog_warn,
            tw_bucket_warn: self.tw_bucket_warn,
        }
    }
}

#[derive(Args, Debug, Clone)]
struct DiagnoseArgs {
    /// Seconds between the two counter samples (rates need two).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    interval: f64,

    #[command(flatten)]
    netns: NetnsArg,

    /// A sysctl.conf file to audit (repeatable); default /etc/sysctl.d/*.conf
    /// and /etc/sysctl.conf.
    #[arg(long = "sysctl-file", value_name = "FILE")]
    sysctl_files: Vec<PathBuf>,

    #[command(flatten)]
    thresholds: ThresholdArgs,

    /// Print JSON: {"findings": [{"id", "severity", "title", "subject",
    /// "evidence", "explanation", "remedy"}], "summary": {...}}.
    #[arg(long)]
    json: bool,
}

impl Default for DiagnoseArgs {
    fn default() -> Self {
        // The same defaults as the flags: parse an empty command line.
        match Cli::try_parse_from(["tcpdoctor", "diagnose"]) {
            Ok(Cli {
                command: Some(Command::Diagnose(a)),
                ..
            }) => a,
            _ => unreachable!("an empty diagnose command line always parses"),
        }
    }
}

#[derive(Args, Debug)]
struct SysctlArgs {
    /// A sysctl.conf file to audit (repeatable); default /etc/sysctl.d/*.conf
    /// and /etc/sysctl.conf.
    #[arg(long = "sysctl-file", value_name = "FILE")]
    sysctl_files: Vec<PathBuf>,

    /// Print a commented sysctl.d snippet of the recommended changes.
    #[arg(long, conflicts_with = "json")]
    emit: bool,

    #[command(flatten)]
    netns: NetnsArg,

    /// Print JSON, as `diagnose --json`.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum ViewArg {
    #[default]
    Diagnose,
    Census,
    Sockets,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Netstat,
    Ss,
    Proc,
    Aggregate,
    Snapshot,
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    /// Dump or snapshot files; `-` for stdin. Several are read as one host
    /// (for example /proc/net/tcp and tcp6).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// What to show: diagnose (findings), census (counts per state) or
    /// sockets (the listing).
    #[arg(long, value_enum, default_value_t = ViewArg::Diagnose)]
    view: ViewArg,

    /// The input format, when detection is not wanted.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,

    /// Skip malformed lines (and count them) instead of failing.
    #[arg(long)]
    lenient: bool,

    /// Census view: also count per remote, local-port, local-ip or process.
    #[arg(long, value_name = "KEY", value_parser = parse_group_by)]
    by: Option<GroupBy>,

    /// Census view with --by: groups per state.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,

    /// Sockets view: only this state (repeatable).
    #[arg(long = "state", short = 's', value_name = "STATE", value_parser = parse_state)]
    states: Vec<TcpState>,

    /// Sockets view: at most N sockets.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    #[command(flatten)]
    thresholds: ThresholdArgs,

    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct SnapshotArgs {
    /// The file to write; gzip-compressed when it ends in .gz.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,

    /// Seconds between the two counter samples.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    interval: f64,

    #[command(flatten)]
    netns: NetnsArg,

    /// A sysctl.conf file to include (repeatable); default /etc/sysctl.d/*.conf
    /// and /etc/sysctl.conf.
    #[arg(long = "sysctl-file", value_name = "FILE")]
    sysctl_files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on. The default is loopback only; use
    /// 0.0.0.0:9753 (or a node address) for a Prometheus elsewhere.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9753")]
    listen: std::net::SocketAddr,

    /// Seconds between full refreshes (owners, ages, findings).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    full_interval: f64,

    /// Label values kept per family (processes, tuples) before "other".
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,

    /// Seconds a client may take to send its request, and each write of the
    /// response may wait; a stalled client is then disconnected.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    client_timeout: f64,

    /// Scrapes within this many seconds of each other share one census
    /// (0: every scrape takes its own).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    census_cache: f64,

    #[command(flatten)]
    netns: NetnsArg,

    #[command(flatten)]
    thresholds: ThresholdArgs,
}

#[derive(Args, Debug)]
struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Subcommand, Debug)]
enum LabCommand {
    /// Describe the scenarios, and list labs that are running or kept.
    List,
    /// Run a scenario, print what it built, check it, clean up.
    Run(LabRunArgs),
    /// Stop a kept (or abandoned) lab: its processes and its namespace.
    Down {
        /// The lab's namespace name, as `lab run --keep` printed it
        /// (tdlab-SCENARIO).
        name: String,
    },
    /// A scenario's server or client process (started by `lab run`).
    #[command(hide = true)]
    Role(RoleArgs),
}

#[derive(Args, Debug)]
struct LabRunArgs {
    /// The scenario (see `tcpdoctor lab list`).
    scenario: String,

    /// How many requests or connections the client makes (each scenario
    /// has a default).
    #[arg(long, value_name = "N")]
    scale: Option<u64>,

    /// Leave it running, and print how to inspect it and tear it down.
    #[arg(long)]
    keep: bool,

    /// Keep the problem in place for SECONDS before cleaning up, to watch it
    /// from another terminal.
    #[arg(long, value_name = "SECONDS", conflicts_with = "keep")]
    hold: Option<u64>,

    /// Name the lab's network namespace (always prefixed tdlab-); the
    /// default is tdlab-SCENARIO. Lets two runs of one scenario coexist.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct RoleArgs {
    /// server or client.
    role: String,
    #[arg(long)]
    addr: std::net::SocketAddr,
    #[arg(long)]
    mode: String,
    #[arg(long, default_value_t = 128)]
    backlog: i32,
    #[arg(long)]
    nofile: Option<u64>,
    #[arg(long, default_value_t = 1)]
    count: u64,
    #[arg(long, default_value_t = 1)]
    conns: u64,
    #[arg(long)]
    detached: bool,
}

#[derive(Args, Debug)]
struct HostArgs {
    /// Print every Tcp and TcpExt counter, not just the ones that matter here.
    #[arg(long)]
    all: bool,

    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum SourceArg {
    #[default]
    Auto,
    Netlink,
    Proc,
}

fn parse_state(s: &str) -> Result<TcpState, String> {
    s.parse::<TcpState>().map_err(|e| e.to_string())
}

fn parse_group_by(s: &str) -> Result<GroupBy, String> {
    s.parse()
}

fn parse_netns(s: &str) -> Result<NetnsSelector, String> {
    s.parse()
}

/// "10.0.0.1", "10.0.0.1:5432", "::1", "[::1]:80".
fn parse_remote(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Ok((sa.ip(), Some(sa.port())));
    }
    Err(format!("'{s}' is not IP, IP:PORT or [IPv6]:PORT"))
}

/// Runs the command line and returns the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let root = ProcRoot::new(&cli.proc_root);
    let result = match cli.command {
        None => return diagnose(&root, &DiagnoseArgs::default()),
        Some(Command::Diagnose(a)) => return diagnose(&root, &a),
        Some(Command::Sysctl(a)) => return sysctl(&root, &a),
        Some(Command::Explain { topic }) => return explain(&topic),
        Some(Command::Analyze(a)) => return analyze(&a),
        Some(Command::Serve(a)) => serve(&root, &a),
        Some(Command::Snapshot(a)) => snapshot(&root, &a),
        Some(Command::Census(a)) => census(&root, &a),
        Some(Command::Sockets(a)) => sockets(&root, &a),
        Some(Command::Lab(a)) => return lab(&a),
        Some(Command::Host(a)) => host(&root, &a),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            // A closed pipe (`tcpdoctor | head`) is not an error worth a message.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            {
                return 0;
            }
            eprintln!("tcpdoctor: {e:#}");
            EXIT_CANNOT_RUN
        }
    }
}

fn census(root: &ProcRoot, a: &CensusArgs) -> Result<()> {
    let states = if a.states.is_empty() {
        StateSet::all()
    } else {
        a.states.iter().copied().collect()
    };
    let query = SocketQuery {
        states,
        ipv4: !a.ipv6,
        ipv6: !a.ipv4,
        tcp_info: StateSet::empty(),
    };
    let choice = match a.source {
        SourceArg::Auto => SourceChoice::Auto,
        SourceArg::Netlink => SourceChoice::Netlink,
        SourceArg::Proc => SourceChoice::Proc,
    };
    let outcome = gather::census(root, &a.netns.selector, &query, choice, a.by, a.top)
        .context("counting TCP sockets")?;
    // Stdout is line-buffered: one write per line would dominate big listings.
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    match &outcome {
        CensusOutcome::Single(r) if a.json => render::json(r, &mut out)?,
        CensusOutcome::Multi(m) if a.json => render::json(m, &mut out)?,
        CensusOutcome::Single(r) => {
            print_notes(&r.notes);
            render::census::text(r, &mut out)?;
        }
        CensusOutcome::Multi(m) => {
            print_notes(&m.notes);
            for r in &m.namespaces {
                print_notes(&r.notes);
            }
            render::census::multi_text(m, &mut out)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn print_notes(notes: &[String]) {
    for n in notes {
        eprintln!("note: {n}");
    }
}

fn sockets(root: &ProcRoot, a: &SocketsArgs) -> Result<()> {
    let filter = RowFilter {
        states: (!a.states.is_empty()).then(|| a.states.iter().copied().collect()),
        sport: a.sport,
        dport: a.dport,
        port: a.port,
        pids: a.pid.clone(),
        comms: a.comm.clone(),
        remote_ip: a.remote.map(|r| r.0),
        remote_port: a.remote.and_then(|r| r.1),
    };
    let query = gather::query_for(&filter, !a.ipv6, !a.ipv4);
    let mut listing = gather::listing(root, &a.netns.selector, &filter, &query, !a.no_owners)
        .context("listing TCP sockets")?;
    if let Some(n) = a.limit {
        listing.rows.truncate(n);
    }
    // The JSON is a plain array, so notes go to stderr in both layouts.
    print_notes(&listing.notes);
    // Stdout is line-buffered: one write per line would dominate big listings.
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    if a.json {
        render::sockets::json(&listing, a.wide, &mut out)?;
    } else {
        render::sockets::text(&listing, a.wide, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

/// Exit code of an interrupted lab run (128 + SIGINT), as shells report it.
const EXIT_INTERRUPTED: i32 = 130;
/// Exit code of a lab run whose checks did not all pass.
const EXIT_CHECK_FAILED: i32 = 1;

fn lab(a: &LabArgs) -> i32 {
    let result = match &a.command {
        LabCommand::List => lab_list(),
        LabCommand::Down { name } => lab_down(name),
        LabCommand::Run(r) => return lab_run(r),
        LabCommand::Role(r) => lab_role(r),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tcpdoctor: {e:#}");
            EXIT_CANNOT_RUN
        }
    }
}

fn lab_list() -> Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    render::lab::list(&tcpdoctor_core::lab::run::records(), &mut out)?;
    out.flush()?;
    Ok(())
}

fn lab_down(name: &str) -> Result<()> {
    require_lab_privileges()?;
    for line in tcpdoctor_core::lab::run::teardown(name)? {
        println!("{line}");
    }
    Ok(())
}

fn require_lab_privileges() -> Result<()> {
    if !tcpdoctor_core::lab::netns::have_privileges() {
        anyhow::bail!(
            "the lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces; run it with sudo"
        );
    }
    Ok(())
}

fn lab_run(a: &LabRunArgs) -> i32 {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use tcpdoctor_core::lab::{run, scenarios};
    let fail = |e: anyhow::Error| {
        eprintln!("tcpdoctor: {e:#}");
        EXIT_CANNOT_RUN
    };
    if let Err(e) = require_lab_privileges() {
        return fail(e);
    }
    let Some(scenario) = scenarios::find(&a.scenario) else {
        let names: Vec<&str> = scenarios::SCENARIOS.iter().map(|s| s.name).collect();
        return fail(anyhow::anyhow!(
            "unknown scenario '{}': expected one of {}",
            a.scenario,
            names.join(", ")
        ));
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&interrupted)) {
            return fail(anyhow::anyhow!("installing the signal handler: {e}"));
        }
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return fail(anyhow::anyhow!("finding the tcpdoctor executable: {e}")),
    };
    let opts = run::LabOptions {
        scenario,
        scale: a.scale.unwrap_or(scenario.default_scale),
        keep: a.keep,
        hold: a.hold.map(std::time::Duration::from_secs),
        exe,
        name: a.name.clone(),
        progress: !a.json,
        interrupted: Arc::clone(&interrupted),
    };
    if !a.json {
        eprintln!("lab {}: {}", scenario.name, scenario.summary);
    }
    match run::run(&opts) {
        Ok(outcome) => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            let written = if a.json {
                render::json(&outcome, &mut out)
            } else {
                render::lab::outcome(&outcome, &mut out)
            };
            if let Err(e) = written.and_then(|_| out.flush()) {
                return fail(e.into());
            }
            if outcome.passed() {
                0
            } else {
                EXIT_CHECK_FAILED
            }
        }
        Err(e) if interrupted.load(std::sync::atomic::Ordering::Relaxed) => {
            eprintln!(
                "tcpdoctor: lab {} interrupted; cleaned up ({e})",
                scenario.name
            );
            EXIT_INTERRUPTED
        }
        Err(e) => {
            eprintln!(
                "tcpdoctor: lab {} failed and was cleaned up: {e}",
                scenario.name
            );
            EXIT_CANNOT_RUN
        }
    }
}

fn lab_role(a: &RoleArgs) -> Result<()> {
    use tcpdoctor_core::lab::roles;
    let quoted = serde_json::Value::String(a.mode.clone());
    if let Some(n) = a.nofile {
        roles::limit_open_files(n)?;
    }
    roles::set_process_name(&format!("lab-{}", a.role));
    match a.role.as_str() {
        "server" => {
            let mode: roles::ServerMode = serde_json::from_value(quoted).context("--mode")?;
            roles::server(a.addr, mode, a.backlog, a.detached)?;
        }
        "client" => {
            let mode: roles::ClientMode = serde_json::from_value(quoted).context("--mode")?;
            roles::client(a.addr, mode, a.count, a.conns, a.detached)?;
        }
        other => anyhow::bail!("unknown role {other}: expected server or client"),
    }
    Ok(())
}

fn fail(e: anyhow::Error) -> i32 {
    eprintln!("tcpdoctor: {e:#}");
    EXIT_CANNOT_RUN
}

fn print_diagnosis(d: &tcpdoctor_core::diagnose::Diagnosis, json: bool) -> Result<()> {
    print_notes(&d.summary.notes);
    let mut out = io::BufWriter::new(io::stdout().lock());
    if json {
        render::json(d, &mut out)?;
    } else {
        render::diagnose::text(d, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

fn diagnose_options(
    files: &[PathBuf],
    thresholds: Thresholds,
    interval: f64,
) -> gather::DiagnoseOptions {
    let mut o = gather::DiagnoseOptions {
        thresholds,
        interval: std::time::Duration::from_secs_f64(interval.max(0.0)),
        ..gather::DiagnoseOptions::default()
    };
    if !files.is_empty() {
        o.sysctl_files = files.to_vec();
        o.files_explicit = true;
    }
    o
}

fn diagnose(root: &ProcRoot, a: &DiagnoseArgs) -> i32 {
    let opts = diagnose_options(&a.sysctl_files, a.thresholds.thresholds(), a.interval);
    match gather::diagnose(root, &a.netns.selector, &opts).context("diagnosing") {
        Ok(d) => match print_diagnosis(&d, a.json) {
            Ok(()) => d.summary.exit_code(),
            Err(e) => fail(e),
        },
        Err(e) => fail(e),
    }
}

fn sysctl(root: &ProcRoot, a: &SysctlArgs) -> i32 {
    let mut opts = diagnose_options(&a.sysctl_files, Thresholds::default(), 0.0);
    opts.only = Some("sysctl-".into());
    let d = match gather::diagnose(root, &a.netns.selector, &opts).context("auditing sysctls") {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if a.emit {
        print_notes(&d.summary.notes);
        let mut out = io::BufWriter::new(io::stdout().lock());
        if let Err(e) = render::diagnose::emit(&d, &mut out).and_then(|_| out.flush()) {
            return fail(e.into());
        }
        return d.summary.exit_code();
    }
    match print_diagnosis(&d, a.json) {
        Ok(()) => d.summary.exit_code(),
        Err(e) => fail(e),
    }
}

fn analyze(a: &AnalyzeArgs) -> i32 {
    use tcpdoctor_core::offline::{Format, analyze};
    let format = a.format.map(|f| match f {
        FormatArg::Netstat => Format::Netstat,
        FormatArg::Ss => Format::Ss,
        FormatArg::Proc => Format::Proc,
        FormatArg::Aggregate => Format::Aggregate,
        FormatArg::Snapshot => Format::Snapshot,
    });
    let result = (|| -> Result<i32> {
        let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        let code = match a.view {
            ViewArg::Census => {
                let (r, _) = analyze::census(&a.files, format, a.lenient, a.by, a.top)?;
                if a.json {
                    render::json(&r, &mut out)?;
                } else {
                    print_notes(&r.notes);
                    render::census::text(&r, &mut out)?;
                }
                0
            }
            ViewArg::Sockets => {
                let (snap, _) = analyze::snapshot(&a.files, format, a.lenient)?;
                let filter = RowFilter {
                    states: (!a.states.is_empty()).then(|| a.states.iter().copied().collect()),
                    ..RowFilter::default()
                };
                let mut l = analyze::listing(&snap, &filter);
                if let Some(n) = a.limit {
                    l.rows.truncate(n);
                }
                print_notes(&l.notes);
                if a.json {
                    render::sockets::json(&l, false, &mut out)?;
                } else {
                    render::sockets::text(&l, false, &mut out)?;
                }
                0
            }
            ViewArg::Diagnose => {
                let (snap, _) = analyze::snapshot(&a.files, format, a.lenient)?;
                let d = gather::diagnose_snapshot(&snap, &a.thresholds.thresholds(), None);
                print_notes(&d.summary.notes);
                if a.json {
                    render::json(&d, &mut out)?;
                } else {
                    render::diagnose::text(&d, &mut out)?;
                }
                d.summary.exit_code()
            }
        };
        out.flush()?;
        Ok(code)
    })();
    match result {
        Ok(code) => code,
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe) =>
        {
            0
        }
        Err(e) => fail(e),
    }
}

fn serve(root: &ProcRoot, a: &ServeArgs) -> Result<()> {
    use tcpdoctor_core::exporter::{Exporter, ExporterOptions, http};
    let listener = std::net::TcpListener::bind(a.listen)
        .with_context(|| format!("listening on {}", a.listen))?;
    let opts = ExporterOptions {
        netns: a.netns.selector.clone(),
        full_interval: std::time::Duration::from_secs_f64(a.full_interval.max(1.0)),
        top: a.top.max(1),
        thresholds: a.thresholds.thresholds(),
        census_max_age: std::time::Duration::from_secs_f64(a.census_cache.max(0.0)),
    };
    let exporter = Exporter::new(root.clone(), opts);
    exporter.refresh_full();
    exporter.start_refresher();
    eprintln!(
        "tcpdoctor: serving http://{}/metrics",
        listener.local_addr()?
    );
    let handler = std::sync::Arc::new(move |path: &str| exporter.handle(path));
    let limits = http::Limits {
        timeout: std::time::Duration::from_secs_f64(a.client_timeout.max(0.1)),
        ..http::Limits::default()
    };
    http::serve(listener, limits, handler)?;
    Ok(())
}

fn snapshot(root: &ProcRoot, a: &SnapshotArgs) -> Result<()> {
    let opts = diagnose_options(&a.sysctl_files, Thresholds::default(), a.interval);
    let snap = gather::snapshot(root, &a.netns.selector, &opts).context("taking the snapshot")?;
    snap.write(&a.output)?;
    let sockets: usize = snap.namespaces.iter().map(|n| n.sockets.len()).sum();
    eprintln!(
        "wrote {}: {} socket(s) in {} namespace(s), {} owning process(es)",
        a.output.display(),
        sockets,
        snap.namespaces.len(),
        snap.processes.len()
    );
    Ok(())
}

fn explain(topic: &str) -> i32 {
    if topic == "list" {
        println!("{}", tcpdoctor_core::explain::topics());
        return 0;
    }
    match tcpdoctor_core::explain::explain(topic) {
        Some(text) => {
            print!("{text}");
            0
        }
        None => {
            eprintln!(
                "tcpdoctor: no topic '{topic}'. Topics:\n{}",
                tcpdoctor_core::explain::topics()
            );
            2
        }
    }
}

fn host(root: &ProcRoot, a: &HostArgs) -> Result<()> {
    let info = collect::host::read_host_info(root);
    // Stdout is line-buffered: one write per line would dominate big listings.
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    if a.json {
        render::json(&info, &mut out)?;
    } else {
        print_notes(&info.notes);
        render::host::text(&info, a.all, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

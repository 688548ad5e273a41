//! Argument parsing and dispatch. No logic worth testing on its own lives
//! here: every command is a call into tcpdoctor-core plus a renderer.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{self, Write};
use std::path::PathBuf;
use tcpdoctor_core::census::{Census, CensusReport, GroupBy};
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
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
Run without a command, it prints the census of TCP states.",
    after_help = "EXAMPLES:\n  \
tcpdoctor                              census of TCP states, largest first\n  \
tcpdoctor census --by remote --top 5   which peers hold each state\n  \
tcpdoctor census --state time-wait --by local-port\n  \
tcpdoctor census --json                {\"total\": N, \"states\": {...}}\n  \
tcpdoctor host                         kernel, counters, limits and TCP sysctls\n\n\
EXIT STATUS:\n  0 success, 2 usage error, 3 could not run (the message says what failed)."
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
    /// Count TCP sockets per state: the replacement for
    /// `netstat -n | awk '/^tcp/ {++S[$NF]} END {for(a in S) print a, S[a]}'`.
    ///
    /// Prints one line per state with its count, largest first, and the
    /// total. It streams the kernel's socket table and keeps only counters,
    /// so memory stays flat with millions of sockets.
    Census(CensusArgs),
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
    /// local-port, or local-ip.
    #[arg(long, value_name = "KEY", value_parser = parse_group_by)]
    by: Option<GroupBy>,

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

/// Runs the command line and returns the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let root = ProcRoot::new(&cli.proc_root);
    let result = match cli.command {
        None => census(&root, &CensusArgs::default()),
        Some(Command::Census(a)) => census(&root, &a),
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
        tcp_info: false,
    };
    let choice = match a.source {
        SourceArg::Auto => SourceChoice::Auto,
        SourceArg::Netlink => SourceChoice::Netlink,
        SourceArg::Proc => SourceChoice::Proc,
    };
    let mut c = Census::new(a.by);
    let collected =
        collect::collect_sockets(root, &query, choice, &mut c).context("collecting TCP sockets")?;
    let report = CensusReport::new(&c, a.top, collected);
    let mut out = io::stdout().lock();
    if a.json {
        render::json(&report, &mut out)?;
    } else {
        for n in &report.notes {
            eprintln!("note: {n}");
        }
        render::census::text(&report, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

fn host(root: &ProcRoot, a: &HostArgs) -> Result<()> {
    let info = collect::host::read_host_info(root);
    let mut out = io::stdout().lock();
    if a.json {
        render::json(&info, &mut out)?;
    } else {
        for n in &info.notes {
            eprintln!("note: {n}");
        }
        render::host::text(&info, a.all, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

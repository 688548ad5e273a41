//! The command line: one file per subcommand (its arguments and `run`),
//! shared argument groups in `args`, exit codes in `exit`. No policy lives
//! here: a command turns its flags into a library call and a renderer.

mod analyze;
pub mod args;
mod census;
mod completions;
mod config;
mod diagnose;
pub mod exit;
mod explain;
mod host;
mod lab;
mod man;
mod replay;
mod serve;
mod snapshot;
mod sockets;
mod sysctl;
mod trace;
mod version;
mod watch;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tcpdoctor_core::ops::ProcRoot;

/// `tcpdoctor --help`: what it is.
const LONG_ABOUT: &str = "\
tcpdoctor counts and explains the TCP sockets of this host: piles of TIME_WAIT and \
CLOSE_WAIT, ephemeral-port exhaustion, backlog overflows and badly tuned net.ipv4 sysctls.\n\n\
It reads the kernel's socket table over netlink (sock_diag, as ss does), falling back to \
/proc/net/tcp; where the host allows eBPF (root, kernel BTF) it counts in the kernel, finds \
owners in the kernel's fd tables and traces who closes each connection. It never changes \
anything on the host; /etc/tcpdoctor/config.toml (or --config) sets its defaults.\n\n\
Run without a command, it diagnoses this host (`tcpdoctor diagnose`).";

/// `tcpdoctor --help`: examples and exit statuses.
const AFTER_HELP: &str = "EXAMPLES:\n  \
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
sudo tcpdoctor trace --for 30          who closes each connection, live; summary at the end\n  \
sudo tcpdoctor watch                   live: CLOSE_WAIT growth, fds and ports running out\n  \
sudo tcpdoctor watch --record x.gz     ... kept for `tcpdoctor replay x.gz` elsewhere\n  \
sudo tcpdoctor sockets -s time-wait --trace 10   exact TIME_WAIT closers, not likely ones\n  \
tcpdoctor lab list                     problems the lab reproduces for real\n  \
sudo tcpdoctor lab run close-wait-leak watch one happen in a private namespace\n\n\
EXIT STATUS:\n  \
diagnose, sysctl and analyze: 0 nothing above info, 1 warning, 2 critical, 3 could not\n  \
run. Other commands: 0 success, 1 a lab check failed, 2 usage error (a bad flag or\n  \
value, an unknown topic or scenario), 3 could not run (the message says what failed),\n  \
130 interrupted. Writing to a closed pipe (`tcpdoctor ... | head`) ends quietly with 0.\n\n\
ENVIRONMENT:\n  \
TCPDOCTOR_NO_BPF=1       use no eBPF: netlink and /proc only, as on a host without it\n  \
TCPDOCTOR_NO_BPF_WALK=1  count in the kernel with iter/tcp rather than the hash walk";

#[derive(Parser, Debug)]
#[command(
    name = "tcpdoctor",
    disable_version_flag = true,
    about = "Find, explain and fix TCP connection-state trouble on Linux",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Read /proc from this directory instead of /proc (a captured tree).
    /// Sockets then come from its net/tcp and net/tcp6.
    #[arg(long, global = true, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,

    /// Read the configuration from FILE instead of
    /// /etc/tcpdoctor/config.toml: rule thresholds and the exporter's
    /// settings, as defaults that flags override (`tcpdoctor config
    /// --default` prints the keys).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the version, the commit it was built from, and which sources
    /// are usable on this host right now (eBPF, netlink, /proc).
    #[arg(short = 'V', long)]
    pub version: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Diagnose TCP connection-state trouble: findings with evidence,
    /// explanation and remedy, most severe first, and a verdict. This is
    /// what plain `tcpdoctor` runs.
    ///
    /// Takes a snapshot (sockets with owners and ages, counters, sysctls),
    /// a second counter sample after --interval for rates, and runs every
    /// rule (see docs/rules.md, or `tcpdoctor explain RULE`). Exit status as
    /// a Nagios plugin: 0 nothing above info, 1 warning, 2 critical, 3 could
    /// not run.
    Diagnose(diagnose::Args),
    /// Audit the TCP sysctls, live (per namespace) and in sysctl.conf files,
    /// against what they really do: tcp_tw_recycle, tcp_fin_timeout lowered
    /// for TIME_WAIT, tcp_max_tw_buckets lowered, tw_reuse without
    /// timestamps, a narrow port range, syncookies off. Never applies
    /// anything; --emit prints a sysctl.d snippet to review.
    Sysctl(sysctl::Args),
    /// Explain a TCP state (TIME_WAIT, close-wait...), a finding id
    /// (close-wait-leak...) or a sysctl (tcp_fin_timeout...): what it is,
    /// who ends up in it, the TCP sequence with its place marked, what to do.
    Explain(explain::Args),
    /// Count TCP sockets per state: the replacement for
    /// `netstat -n | awk '/^tcp/ {++S[$NF]} END {for(a in S) print a, S[a]}'`.
    ///
    /// Prints one line per state with its count, largest first, and the
    /// total. It streams the kernel's socket table and keeps only counters,
    /// so memory stays flat with millions of sockets.
    Census(census::Args),
    /// List TCP sockets with their owners and ages, like `ss -tanp` but
    /// with answers: which process and fd holds each socket, how long a
    /// CLOSE_WAIT has waited for close() and a TIME_WAIT has left, and for
    /// TIME_WAIT (which no process owns) the process that closed it: exactly
    /// while a tracer runs (`--trace`, `tcpdoctor trace`), else the likely one.
    ///
    /// Sorted by state, oldest first. Owners come from the kernel's fd tables
    /// (eBPF, as root) or one scan of /proc/*/fd; without root, other users'
    /// processes stay hidden and a note says so.
    Sockets(sockets::Args),
    /// Reproduce TCP state problems for real, in a private network
    /// namespace: TIME_WAIT piles, port exhaustion, CLOSE_WAIT leaks, fd
    /// exhaustion, orphans, backlog and bucket overflows, and the fix.
    ///
    /// Each scenario runs a server and a client process on loopback inside a
    /// namespace of its own, prints what it built and the errors the
    /// applications hit, checks it, and cleans everything up (also on Ctrl-C
    /// or if a process dies). Needs root; exits 3 without it.
    Lab(lab::Args),
    /// Analyze dumps from machines tcpdoctor cannot reach: `netstat -ant[p]`,
    /// `ss -tan[p][oie]`, /proc/net/tcp{,6}, `STATE COUNT` lines of the awk
    /// census, or a tcpdoctor snapshot (gzip too). `-` reads stdin.
    ///
    /// The format is detected (or forced with --format). It says what the
    /// input cannot tell (no owners in plain netstat, no counters or sysctls
    /// in any dump). A malformed line is an error naming file and line, or,
    /// with --lenient, skipped and counted.
    Analyze(analyze::Args),
    /// Write a snapshot of this host (sockets, owners, ages, counters,
    /// sysctls, kernel, hostname, namespaces) to one file, gzip when it ends
    /// in .gz, for `tcpdoctor analyze` elsewhere.
    Snapshot(snapshot::Args),
    /// Run a Prometheus exporter: /metrics (sockets per state, owners of
    /// CLOSE_WAIT and TIME_WAIT, port utilisation, TcpExt counters, every
    /// finding, per-collector success), /healthz, and / (the findings).
    ///
    /// Each scrape takes a census and reads the counters (shared by scrapes
    /// within a second); owners and findings are recomputed every
    /// --full-interval in the background. Listens on loopback unless told
    /// otherwise. Alert rules, a dashboard, a systemd unit and a DaemonSet
    /// are in deploy/.
    Serve(serve::Args),
    /// Show the kernel release, socket totals, TCP counters, file-handle
    /// limits and the TCP sysctls of this network namespace.
    Host(host::Args),
    /// Trace connection ends live: for each, the process that closed it
    /// (first, making TIME_WAIT here, or last), its cgroup, the addresses
    /// and the lifetime; on exit, per upstream and listening port, opens
    /// per second and who made the TIME_WAIT.
    ///
    /// Exact where `sockets` and `census` can only say "likely": the kernel
    /// reports the closing process (eBPF; needs root). While it runs, every
    /// other tcpdoctor on the host names TIME_WAIT closers exactly too.
    Trace(trace::Args),
    /// Watch the host over time: TCP states with sparklines, and tables of
    /// processes (CLOSE_WAIT growth, fds and the time until their limit),
    /// upstreams (ephemeral ports and the time until they run out),
    /// listeners (accept queues) and findings, live.
    ///
    /// A terminal UI (usable at 80x24 over SSH); NDJSON without a terminal
    /// or with --json. Growth is measured by socket cookie over a measured
    /// window. --record FILE keeps the samples for `tcpdoctor replay`.
    Watch(watch::Args),
    /// Replay a `watch --record` file: the same UI, with seek, or NDJSON.
    Replay(replay::Args),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::Args),
    /// Print the manual page, or write every page into a directory.
    Man(man::Args),
    /// Show the configuration file in use, or print the default one
    /// (--default), every key commented.
    Config(config::Args),
}

/// Parses the command line and runs it.
pub fn run() -> Result<ExitCode> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let Parsed {
        cli,
        loaded,
        broken,
    } = parse(argv)?;
    let root = ProcRoot::new(&cli.proc_root);
    if cli.version {
        return version::run(&root);
    }
    match cli.command {
        // `parse` made plain `tcpdoctor` into `tcpdoctor diagnose`.
        None => Err(anyhow::anyhow!("no command")),
        Some(Command::Diagnose(a)) => diagnose::run(&root, &a),
        Some(Command::Sysctl(a)) => sysctl::run(&root, &a),
        Some(Command::Explain(a)) => explain::run(&root, &a),
        Some(Command::Census(a)) => census::run(&root, &a),
        Some(Command::Sockets(a)) => sockets::run(&root, &a),
        Some(Command::Lab(a)) => lab::run(&a),
        Some(Command::Analyze(a)) => analyze::run(&a),
        Some(Command::Snapshot(a)) => snapshot::run(&root, &a),
        Some(Command::Serve(a)) => serve::run(&root, &a),
        Some(Command::Host(a)) => host::run(&root, &a),
        Some(Command::Trace(a)) => trace::run(&root, &a),
        Some(Command::Watch(a)) => watch::run(&root, &a),
        Some(Command::Replay(a)) => replay::run(&a),
        Some(Command::Completions(a)) => completions::run(&a),
        Some(Command::Man(a)) => man::run(&a),
        Some(Command::Config(a)) => config::run(&a, loaded.as_ref(), broken.as_deref()),
    }
}

/// The parsed command line, and the configuration file it read.
pub struct Parsed {
    cli: Cli,
    loaded: Option<config::Config>,
    /// Why the file could not be used (only `config` and `--version` run
    /// then).
    broken: Option<String>,
}

/// Parses `argv` with the configuration file's values as the flags'
/// defaults, resolved once here: every command (plain `tcpdoctor`, which
/// is `tcpdoctor diagnose`, included) sees flags over the file over the
/// built-in defaults. A first, lenient pass finds `--config`, the command
/// and `--version`; a broken file then stops every command but `config`
/// and `--version`, which are how it is mended (they say so and use the
/// defaults).
pub fn parse(mut argv: Vec<std::ffi::OsString>) -> Result<Parsed> {
    let first = Cli::command()
        .ignore_errors(true)
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .try_get_matches_from(&argv)
        .ok();
    let path = first
        .as_ref()
        .and_then(|m| m.get_one::<PathBuf>("config").cloned());
    let command = first
        .as_ref()
        .and_then(|m| m.subcommand_name().map(str::to_string));
    let version = first
        .as_ref()
        .is_some_and(|m| m.get_one::<bool>("version") == Some(&true));
    let mut broken = None;
    let loaded = match config::Config::load(path.as_deref()) {
        Ok(c) => c,
        Err(e) if version || command.as_deref() == Some("config") => {
            eprintln!("note: {e:#}; the built-in defaults are used");
            broken = Some(format!("{e:#}"));
            None
        }
        Err(e) => return Err(exit::usage(format!("{e:#}"))),
    };
    let mut cmd = Cli::command();
    if let Some(c) = &loaded {
        cmd = c.apply(cmd);
    }
    let mut cli = parse_with(&cmd, &argv);
    if cli.command.is_none() && !cli.version {
        // Only global flags: plain `tcpdoctor` is `tcpdoctor diagnose`,
        // parsed as such so that the file's thresholds apply to it too.
        argv.insert(1.min(argv.len()), "diagnose".into());
        cli = parse_with(&cmd, &argv);
    }
    Ok(Parsed {
        cli,
        loaded,
        broken,
    })
}

/// `argv` parsed by `cmd`; a usage error (or --help) exits as clap does.
fn parse_with(cmd: &clap::Command, argv: &[std::ffi::OsString]) -> Cli {
    let matches = cmd.clone().get_matches_from(argv);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn argv(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(Into::into).collect()
    }

    /// Plain `tcpdoctor` is `tcpdoctor diagnose`, parsed with the
    /// configuration file's defaults (it ignored them once).
    #[test]
    fn plain_tcpdoctor_is_diagnose_with_the_configured_thresholds() {
        let dir = std::env::temp_dir().join(format!("tcpdoctor-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("config.toml");
        std::fs::write(&file, "[thresholds]\nclose-wait-count = 3\n").expect("write");
        let f = file.to_string_lossy().into_owned();
        let plain = parse(argv(&["tcpdoctor", "--config", &f])).expect("parses");
        let named = parse(argv(&["tcpdoctor", "--config", &f, "diagnose"])).expect("parses");
        let _ = std::fs::remove_dir_all(&dir);
        let (Some(Command::Diagnose(plain)), Some(Command::Diagnose(named))) =
            (&plain.cli.command, &named.cli.command)
        else {
            panic!("plain tcpdoctor did not parse as diagnose")
        };
        assert_eq!(format!("{plain:?}"), format!("{named:?}"));
        let t = tcpdoctor_core::ops::thresholds::find("close-wait-count").expect("a threshold");
        assert_eq!(plain.thresholds.0.get(t), 3.0);
    }
}

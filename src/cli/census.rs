//! `tcpdoctor census`: counts per state, optionally per group.

use super::args::{
    FamilyArg, JsonArg, NetnsArg, StatesArg, TraceArg, parse_group_by, print_notes, stdout,
    with_progress,
};
use anyhow::{Context, Result};
use clap::ValueEnum;
use std::io::Write;
use std::process::ExitCode;
use tcpdoctor_core::model::{CensusOutcome, GroupBy, StateSet};
use tcpdoctor_core::ops::{self, CensusOptions, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::render;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "JSON: {\"total\": N, \"states\": {\"ESTABLISHED\": n, ...}, \"by\" (with --by), \
\"groups\" (with --by): {STATE: {\"distinct\", \"top\": [{\"key\", \"count\", \"pid\" (by \
process), \
\"likely\" (by process), \"exact\" (seen by a tracer)}]}}, \"processes\" (by process: the ones \
named), \
\"source\", \"notes\"}; with several namespaces, their sum and each: {\"total\", \"states\", \
\"namespaces\": [{\"total\", \"states\", \"netns\": {\"inode\", \"name\", \"pid\", \"comm\", \
\"cgroup\", \"current\"}, \"by\", \"groups\", \"processes\", \"source\", \"notes\"}], \"notes\"}"
)]
pub struct Args {
    #[command(flatten)]
    pub states: StatesArg,

    /// Also count each state per group: remote (ip:port of the peer),
    /// local-port, local-ip, or process (the owning process; TIME_WAIT
    /// under the process that closed it: exact while a tracer runs,
    /// otherwise the likely one, marked "likely").
    #[arg(long, value_name = "KEY", value_parser = parse_group_by)]
    pub by: Option<GroupBy>,

    #[command(flatten)]
    pub netns: NetnsArg,

    #[command(flatten)]
    pub trace: TraceArg,

    /// With --by: how many groups to show per state.
    #[arg(long, value_name = "N", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub top: u32,

    #[command(flatten)]
    pub family: FamilyArg,

    /// Where to read sockets from: auto (for a census of 25,000 sockets or
    /// more, counted in the kernel by eBPF where the host allows it, and by
    /// process from one pass over the fd tables; else netlink, falling
    /// back to /proc), bpf (that, or an error), netlink, or proc.
    #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
    pub source: SourceArg,

    #[command(flatten)]
    pub output: JsonArg,
}

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum SourceArg {
    #[default]
    Auto,
    Bpf,
    Netlink,
    Proc,
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    let query = SocketQuery {
        states: a.states.set().unwrap_or_else(StateSet::all),
        ipv4: a.family.ipv4(),
        ipv6: a.family.ipv6(),
        tcp_info: StateSet::empty(),
    };
    let choice = match a.source {
        SourceArg::Auto => SourceChoice::Auto,
        SourceArg::Netlink => SourceChoice::Netlink,
        SourceArg::Proc => SourceChoice::Proc,
        SourceArg::Bpf => SourceChoice::Bpf,
    };
    if matches!(a.source, SourceArg::Bpf) && a.by.is_some_and(|b| b != GroupBy::Process) {
        return Err(super::exit::usage(
            "--source bpf counts states in the kernel: it groups by process only (--by process)",
        ));
    }
    if a.trace.trace.is_some() && a.by != Some(GroupBy::Process) {
        return Err(super::exit::usage(
            "--trace names the processes that closed TIME_WAIT: it goes with --by process",
        ));
    }
    let opts = CensusOptions {
        netns: a.netns.selector.clone(),
        query,
        source: choice,
        by: a.by,
        top: a.top as usize,
        trace: a.trace.trace,
    };
    let outcome = with_progress(|p| ops::census(root, &opts, p)).context("counting TCP sockets")?;
    let mut out = stdout();
    match &outcome {
        CensusOutcome::Single(r) if a.output.json => render::json(r, &mut out)?,
        CensusOutcome::Multi(m) if a.output.json => render::json(m, &mut out)?,
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
    Ok(ExitCode::SUCCESS)
}

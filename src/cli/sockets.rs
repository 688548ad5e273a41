//! `tcpdoctor sockets`: every socket with its owner and age.

use super::args::{
    FamilyArg, JsonArg, NetnsArg, StatesArg, TraceArg, parse_remote, print_notes, stdout,
    with_progress,
};
use anyhow::{Context, Result};
use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use tcpdoctor_core::model::RowFilter;
use tcpdoctor_core::ops::{self, ListingOptions, ProcRoot};
use tcpdoctor_core::render;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "JSON: an array of sockets: {\"state\", \"local\", \"remote\", \
\"recv_q\", \"send_q\", \"age_s\", \"owners\": [{\"pid\", \"comm\", \"fd\", \"process\" (with \
--wide)}], \"likely_owners\": [{\"pid\", \"comm\"}], \"closed_by\" (when a tracer saw the close): \
{\"pid\", \"comm\", \"cgroup\", \"order\", \"closed_s_ago\"}, \"side\" (TIME_WAIT: \
inbound|outbound), \"inode\", \"uid\", \"timer\", \"timer_ms\", \"cookie\", \"netns\" (with \
several namespaces), \"tcp_info\" (with --wide)}"
)]
pub struct Args {
    #[command(flatten)]
    pub states: StatesArg,

    /// Only sockets with this local port.
    #[arg(long, value_name = "PORT")]
    pub sport: Option<u16>,

    /// Only sockets with this remote port.
    #[arg(long, value_name = "PORT")]
    pub dport: Option<u16>,

    /// Only sockets with this local or remote port.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Only sockets held (or, for TIME_WAIT, likely closed) by this pid
    /// (repeatable).
    #[arg(long, value_name = "PID")]
    pub pid: Vec<u32>,

    /// Only sockets held (or likely closed) by a process of this name, as
    /// /proc/PID/comm shows it (repeatable).
    #[arg(long, value_name = "NAME")]
    pub comm: Vec<String>,

    /// Only sockets to this peer: IP, IP:PORT or [IPv6]:PORT.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_remote)]
    pub remote: Option<(IpAddr, Option<u16>)>,

    /// Show at most N sockets (after sorting).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Skip the owner scan (faster; no OWNER column).
    #[arg(long)]
    pub no_owners: bool,

    /// Wide layout: uid, inode, timer, socket cookie and the owner's
    /// command line; with --json, each owner's process details and tcp_info.
    #[arg(long, short = 'w')]
    pub wide: bool,

    #[command(flatten)]
    pub netns: NetnsArg,

    #[command(flatten)]
    pub trace: TraceArg,

    #[command(flatten)]
    pub family: FamilyArg,

    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    let filter = RowFilter {
        states: a.states.set(),
        sport: a.sport,
        dport: a.dport,
        port: a.port,
        pids: a.pid.clone(),
        comms: a.comm.clone(),
        remote_ip: a.remote.map(|r| r.0),
        remote_port: a.remote.and_then(|r| r.1),
    };
    let opts = ListingOptions {
        netns: a.netns.selector.clone(),
        filter,
        ipv4: a.family.ipv4(),
        ipv6: a.family.ipv6(),
        owners: !a.no_owners,
        trace: a.trace.trace,
        limit: a.limit,
    };
    let sockets = with_progress(|p| ops::listing(root, &opts, p)).context("listing TCP sockets")?;
    let listing = sockets.listing();
    // The JSON is a plain array, so notes go to stderr in both layouts.
    print_notes(&sockets.snapshot.notes);
    let mut out = stdout();
    if a.output.json {
        render::sockets::json(&listing, a.wide, &mut out)?;
    } else {
        render::sockets::text(&listing, a.wide, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

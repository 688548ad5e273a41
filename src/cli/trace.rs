//! `tcpdoctor trace`: a live stream of connection ends with the process
//! that closed each one, and a summary on exit.

use super::args::{JsonArg, NetnsArg, seconds, stdout};
use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tcpdoctor_core::model::human_bytes;
use tcpdoctor_core::ops::{ProcRoot, TraceSession};
use tcpdoctor_core::render;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Each line: the time (UTC), who closed (pid/comm of the process that called \
close() or shutdown(); '-' when the close came before tracing or was a reset), how it ended \
(closed first -> TIME_WAIT on this host; closed last: the peer holds the TIME_WAIT; reset), \
local and remote ip:port, the lifetime from established to closed, the network namespace and \
the closer's cgroup (container or systemd unit).\n\n\
The summary: per upstream (remote ip:port this host connected to) and per listening port, \
connections opened (counted in the kernel) and per second over the measured trace length, \
ended, and who made the TIME_WAIT (or, where the peer had not closed, a FIN_WAIT2 orphan).\n\n\
While it runs, every tcpdoctor on the host (sockets, census --by process, diagnose, serve) \
names TIME_WAIT closers exactly instead of 'likely'.\n\n\
JSON (--json): one object per line (NDJSON): {\"at_unix_s\", \"netns\", \"local\", \"remote\", \
\"end\": closed_first|closed_first_peer_open|closed_last|reset, \"closer\": {\"pid\", \"comm\", \
\"cgroup\", \"order\", \"closed_s_ago\"} or null, \"opened\": connected|accepted, \"lifetime_s\", \
\"cookie\"}; the last line is {\"summary\": {\"window_s\", \"ends\", \"lost\", \"upstreams\": \
[{\"netns\", \"endpoint\", \"opened\", \"opens_per_s\", \"ended\", \"time_wait_made_by\", \
\"fin_wait2_made_by\", \"closed_after_peer_by\", \"resets\"}], \"listening_ports\": [{\"netns\", \
\"endpoint\", \"opened\", \"opens_per_s\", \"ended\", \"time_wait_made_by\", \
\"fin_wait2_made_by\", \"closed_after_peer_by\", \"resets\"}], \"notes\"}}.\n\n\
Needs eBPF: kernel BTF and CAP_BPF with CAP_PERFMON (root). It uses \
tp_btf/inet_sock_set_state, so no kernel headers, compiler or tracefs are needed."
)]
pub struct Args {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long = "for", value_name = "SECONDS", value_parser = seconds(0.1, 86_400.0))]
    pub duration: Option<Duration>,

    /// How many upstreams and listening ports the summary shows.
    #[arg(long, value_name = "N", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub top: u32,

    /// Print the summary only, not a line per connection.
    #[arg(long)]
    pub summary_only: bool,

    #[command(flatten)]
    pub netns: NetnsArg,

    #[command(flatten)]
    pub output: JsonArg,
}

/// How often the kernel's ring is drained: it does not wake the reader per
/// event (that cost a third of the connection rate in measurements).
const DRAIN_EVERY: Duration = Duration::from_millis(100);

pub fn run(root: &ProcRoot, a: &Args) -> Result<ExitCode> {
    let stop = super::args::stop_on_signals(false)?;
    let mut session = TraceSession::start(root, &a.netns.selector)?;
    super::args::print_notes(&session.notes);
    // On stderr also with --json: a script may wait for this line.
    let held = session.kernel_bytes().map_or_else(String::new, |b| {
        format!(", holding {} of kernel memory", human_bytes(b as f64))
    });
    eprintln!(
        "tcpdoctor trace: started in {} ms{held}; {}",
        session.start_time.as_millis(),
        match a.duration {
            Some(d) => format!(
                "tracing for {:.1} s (Ctrl-C ends it early)",
                d.as_secs_f64()
            ),
            None => "Ctrl-C ends it and prints the summary".into(),
        }
    );
    let mut out = stdout();
    let lines = !a.summary_only;
    if lines && !a.output.json {
        render::trace::header(&mut out)?;
        out.flush()?;
    }
    let deadline = a.duration.map(|d| session.started() + d);
    loop {
        let now = Instant::now();
        let last = stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d);
        if !last {
            let wait = deadline.map_or(DRAIN_EVERY, |d| (d - now).min(DRAIN_EVERY));
            std::thread::sleep(wait);
        }
        let ends = session.drain()?;
        for e in ends.iter().filter(|_| lines) {
            if a.output.json {
                serde_json::to_writer(&mut out, e)?;
                out.write_all(b"\n")?;
            } else {
                render::trace::line(e, &mut out)?;
            }
        }
        out.flush()?;
        if last {
            break;
        }
    }
    let summary = session.summary(a.top as usize)?;
    if a.output.json {
        serde_json::to_writer(&mut out, &serde_json::json!({ "summary": summary }))?;
        out.write_all(b"\n")?;
    } else {
        render::trace::summary(&summary, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

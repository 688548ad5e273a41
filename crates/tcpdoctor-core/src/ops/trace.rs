//! The close tracer, for a front end: started for a while before a
//! collection (exact TIME_WAIT closers), or run as `tcpdoctor trace`; and
//! which sources this host allows now (`--version`).

use super::Progress;
use crate::collect::bpf::Unavailable;
use crate::collect::bpf::census::KernelCensus;
use crate::collect::bpf::closers::Tracer;
use crate::collect::{self, ProcRoot, SocketQuery, SourceChoice, netns};
use crate::error::{Error, Result};
use crate::model::{
    Census, CloseTracing, ConnectionEnd, NetnsSelector, StateSet, TcpState, TraceSummary,
    TraceTally, parse_port_range,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The tracer for a collection, or why it cannot run. It must live until
/// the collection is done: its table is what names the closers.
pub(super) fn start_tracer() -> std::result::Result<Tracer, Unavailable> {
    Tracer::start()
}

/// The note of a run whose closes could not be traced: what that means
/// and the command that would name the closers.
pub(super) fn untraced_note(why: &Unavailable) -> String {
    format!(
        "closers not traced ({why}): TIME_WAIT closers are likely ones; `{}` names them",
        CloseTracing::TRACE_COMMAND
    )
}

/// The tracer running for `wait` before a collection (`sockets --trace`,
/// `census --by process --trace`), or None (with a note) where it cannot
/// run. It must live until the collection is done.
pub(super) fn trace_for(wait: Duration, progress: &mut dyn FnMut(Progress)) -> Option<Tracer> {
    match start_tracer() {
        Ok(t) => {
            progress(Progress::Tracing {
                for_s: wait.as_secs_f64(),
            });
            std::thread::sleep(wait);
            Some(t)
        }
        Err(why) => {
            progress(Progress::Note(format!(
                "--trace: cannot trace ({why}); TIME_WAIT closers stay likely"
            )));
            None
        }
    }
}

/// `tcpdoctor trace`: connection ends as they happen in the namespaces
/// asked for, tallied for the summary.
pub struct TraceSession {
    tracer: Tracer,
    /// None: every namespace (`--netns all`).
    wanted: Option<HashSet<u64>>,
    /// The short label of each namespace read at the start, when more
    /// than one is traced (`--netns all`, or a list).
    labels: Option<HashMap<u64, String>>,
    ephemeral: (u16, u16),
    /// None when no summary is wanted (the exporter, which runs for
    /// days, keeps no per-connection tally).
    tally: Option<TraceTally>,
    /// How long starting the tracer took.
    pub start_time: Duration,
    /// Notes from resolving the namespaces.
    pub notes: Vec<String>,
}

impl TraceSession {
    pub fn start(root: &ProcRoot, sel: &NetnsSelector) -> Result<TraceSession> {
        let (list, notes) = netns::resolve(root, sel)?;
        let wanted = match sel {
            NetnsSelector::All => None,
            _ => Some(list.iter().map(|n| n.inode).collect()),
        };
        let labels = (*sel == NetnsSelector::All || list.len() > 1)
            .then(|| list.iter().map(|n| (n.inode, n.short_label())).collect());
        let ephemeral = std::fs::read_to_string(root.sysctl_path("net.ipv4.ip_local_port_range"))
            .ok()
            .and_then(|v| parse_port_range(&v))
            .unwrap_or((32768, 60999));
        let started = Instant::now();
        let tracer =
            Tracer::start().map_err(|why| Error::Unsupported(format!("cannot trace: {why}")))?;
        Ok(TraceSession {
            tracer,
            wanted,
            labels,
            ephemeral,
            tally: Some(TraceTally::default()),
            start_time: started.elapsed(),
            notes,
        })
    }

    /// The session without a summary: ends are handed over, not tallied.
    pub(crate) fn without_summary(mut self) -> TraceSession {
        self.tally = None;
        self
    }

    /// The label of an end's namespace when several are traced (a
    /// namespace made after the start shows as `net:[INODE]`); None when
    /// one is.
    pub fn netns_label(&self, inode: u64) -> Option<String> {
        let labels = self.labels.as_ref()?;
        Some(
            labels
                .get(&inode)
                .cloned()
                .unwrap_or_else(|| format!("net:[{inode}]")),
        )
    }

    /// Ends the kernel could not hand over (its ring was full).
    pub(crate) fn lost(&self) -> u64 {
        self.tracer.lost()
    }

    /// The kernel memory the tracer holds while it runs (its tables and
    /// ring), as the kernel accounts it.
    pub fn kernel_bytes(&self) -> Option<u64> {
        self.tracer.kernel_bytes()
    }

    /// When tracing began.
    pub fn started(&self) -> Instant {
        self.tracer.started()
    }

    /// The ends since the last call, in the namespaces asked for (also
    /// tallied for the summary).
    pub fn drain(&mut self) -> Result<Vec<ConnectionEnd>> {
        let ends = self
            .tracer
            .drain()
            .map_err(|e| Error::os("reading the tracer's ring", e))?;
        let wanted = &self.wanted;
        let ends: Vec<_> = ends
            .into_iter()
            .filter(|e| wanted.as_ref().is_none_or(|w| w.contains(&e.netns)))
            .collect();
        if let Some(tally) = self.tally.as_mut() {
            for e in &ends {
                tally.add(e, self.ephemeral);
            }
        }
        Ok(ends)
    }

    /// The summary over the measured trace length, `top` rows a table.
    pub fn summary(&self, top: usize) -> Result<TraceSummary> {
        let window_s = self.tracer.started().elapsed().as_secs_f64();
        let opens: Vec<_> = self
            .tracer
            .opens()
            .map_err(|e| Error::os("reading the open counts", e))?
            .into_iter()
            .filter(|o| self.wanted.as_ref().is_none_or(|w| w.contains(&o.netns)))
            .collect();
        let empty = TraceTally::default();
        let tally = self.tally.as_ref().unwrap_or(&empty);
        Ok(tally.summary(&opens, window_s, self.tracer.lost(), top))
    }
}

/// Which sources this host allows now: usable (and how) or why not.
pub struct Sources {
    pub ebpf: std::result::Result<&'static str, String>,
    pub netlink: std::result::Result<&'static str, String>,
    pub proc_net: std::result::Result<&'static str, String>,
}

/// Tries each source once.
pub fn sources(root: &ProcRoot) -> Sources {
    let ebpf = match KernelCensus::shared() {
        Ok(KernelCensus::Walk(_)) => {
            Ok("census by a walk of the kernel's hash tables, owners from fd tables, trace")
        }
        Ok(KernelCensus::Iter(_)) => Ok("census by iter/tcp, owners from fd tables, trace"),
        Err(why) => Err(why.to_string()),
    };
    let listeners = SocketQuery {
        states: StateSet::from_iter([TcpState::Listen]),
        ..SocketQuery::default()
    };
    let netlink = collect::collect_sockets(
        root,
        &listeners,
        SourceChoice::Netlink,
        &mut Census::new(None),
    )
    .map(|_| "sock_diag")
    .map_err(|e| e.to_string());
    let proc_net = std::fs::metadata(root.net_file("tcp"))
        .map(|_| "/proc/net/tcp, tcp6")
        .map_err(|e| e.to_string());
    Sources {
        ebpf,
        netlink,
        proc_net,
    }
}

//! What every scrape of the exporter reads: the states and the host
//! counters of each namespace, cheap enough to take per scrape (in the
//! kernel where eBPF allows, else over netlink).

use crate::collect::plan;
use crate::collect::{ProcRoot, SocketQuery, SourceChoice, host, netns};
use crate::model::{Census, NamespaceCount, NetnsSelector};
use std::time::Instant;

/// The counts of every namespace, and what failed, per source.
#[derive(Default)]
pub(crate) struct StateCounts {
    pub namespaces: Vec<NamespaceCount>,
    /// Why the census (of a namespace, or the namespaces' list) failed.
    pub census_error: Option<String>,
    /// Why a namespace's sockstat or TcpExt could not be read.
    pub counters_error: Option<String>,
    /// Seconds spent reading the counters (the rest was the census).
    pub counters_s: f64,
}

/// Counts the states and reads the counters of every namespace of `sel`.
pub(crate) fn count_states(root: &ProcRoot, sel: &NetnsSelector) -> StateCounts {
    let mut out = StateCounts::default();
    // In the kernel when the eBPF iterator loads (once per process).
    let iter = plan::census_iterator(root, SourceChoice::Auto, None)
        .ok()
        .and_then(|(it, _)| it);
    let list = match netns::resolve(root, sel) {
        Ok((list, _)) => list,
        Err(e) => {
            out.census_error = Some(e.to_string());
            return out;
        }
    };
    let several = list.len() > 1;
    for ns in list {
        let label = if several {
            ns.short_label()
        } else {
            String::new()
        };
        let r = netns::run_in(&ns, || {
            let mut c = Census::new(None);
            let collected = plan::count_into(
                root,
                &SocketQuery::default(),
                SourceChoice::Auto,
                iter,
                &mut c,
            );
            let h = Instant::now();
            let host = host::read_host_info(root);
            (c, collected, host, h.elapsed().as_secs_f64())
        });
        match r {
            Ok((c, collected, host, seconds)) => {
                if let Err(e) = collected {
                    out.census_error = Some(format!("{}: {e}", ns.label()));
                }
                if host.sockstat.is_none() || host.tcp_ext.is_empty() {
                    out.counters_error = Some(format!("{}: {}", ns.label(), host.notes.join("; ")));
                }
                out.counters_s += seconds;
                out.namespaces.push(NamespaceCount {
                    netns: label,
                    states: c.states().into_iter().collect(),
                    host,
                });
            }
            // With several namespaces, one that is gone by now (a container
            // that stopped) is not a failure: it is simply no longer there.
            Err(_) if several => {}
            Err(e) => out.census_error = Some(format!("{}: {e}", ns.label())),
        }
    }
    out
}

//! Observation over time: a `TrendTracker` turns a series of snapshots
//! into `Trends`, the typed and complete (untruncated) growth rates and
//! predictions that the rules read (`diagnose --for`, `watch`, the
//! exporter) and a snapshot file keeps. Growth is measured by socket
//! cookie (the sockets new and gone between two snapshots), not by the
//! difference of two counts, so churn that keeps a count flat is not
//! mistaken for growth and a leak hidden by churn is not missed. Every
//! rate says the measured window it was taken over. What `watch` shows is
//! a `Sample` made from them (`Sample::from_trends`), cut to `--top`.

mod tally;
mod tracker;

pub(crate) use tracker::TrendTracker;

/// A tuple's key: (network namespace inode, local IP, remote endpoint).
type TupleKey = (u64, IpAddr, Endpoint);

use super::{Endpoint, ListenerRow, ProcessRow, SocketRow, TcpState, UpstreamRow, human_age};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Growth and predictions over a measured window, every process, tuple
/// and listener included, the ones that matter first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trends {
    pub at_unix_s: f64,
    /// Seconds since the first observation (monotonic).
    pub elapsed_s: f64,
    /// The measured time since the previous observation of either kind.
    pub interval_s: f64,
    /// The measured time since the previous detailed snapshot (the
    /// rates and "new per second" are over it).
    #[serde(default)]
    pub detail_interval_s: f64,
    /// The measured length of the window the growth rates are over.
    pub window_s: f64,
    /// Sockets per state in the last snapshot, every namespace read.
    #[serde(skip)]
    pub states: BTreeMap<TcpState, u64>,
    /// Host-wide rates over `detail_interval_s` (TcpExt ListenOverflows,
    /// ListenDrops; Tcp ActiveOpens, PassiveOpens), per second.
    pub rates: BTreeMap<String, f64>,
    /// Processes with the most CLOSE_WAIT, then the most sockets, first.
    pub processes: Vec<ProcessRow>,
    /// Tuples using the largest share of their ports first.
    pub upstreams: Vec<UpstreamRow>,
    /// The fullest accept queues first.
    pub listeners: Vec<ListenerRow>,
}

impl Trends {
    /// A process's trends (pids are host-wide: one owner scan serves
    /// every namespace).
    pub(crate) fn process(&self, pid: u32) -> Option<&ProcessRow> {
        self.processes.iter().find(|p| p.pid == pid)
    }

    /// A tuple's trends, in the namespace of that inode.
    pub(crate) fn upstream(
        &self,
        netns: u64,
        local_ip: IpAddr,
        remote: Endpoint,
    ) -> Option<&UpstreamRow> {
        self.upstreams
            .iter()
            .find(|u| u.netns == netns && u.local_ip == local_ip && u.remote == remote)
    }
}

/// One of a process's sockets, as `watch`'s details list it.
struct SocketExample<'a>(pub &'a SocketRow<'a>);

impl fmt::Display for SocketExample<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.socket;
        write!(f, "{} {} > {}", s.state.netstat_name(), s.local, s.remote)?;
        if let Some(a) = self.0.age_s {
            write!(f, ", {}", human_age(a))?;
        }
        Ok(())
    }
}

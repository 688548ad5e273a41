//! What `watch` shows, writes as NDJSON and records for `replay`: a
//! `Sample`, the display side of an observation. Its tables are cut to
//! `--top` rows; the rules never read it (they read the untruncated,
//! typed `Trends` it is made from, `model::trends`).

use super::{Endpoint, Severity, TcpState, Trends};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One process in a sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessRow {
    pub pid: u32,
    pub comm: String,
    pub established: u64,
    pub close_wait: u64,
    /// TIME_WAIT this process closed (exactly, while a tracer runs) or
    /// likely closed.
    pub time_wait: u64,
    pub other: u64,
    /// CLOSE_WAIT sockets new and gone since the previous sample.
    pub close_wait_new: u64,
    pub close_wait_gone: u64,
    /// Net CLOSE_WAIT growth per minute over the trend window.
    pub close_wait_growth_per_min: Option<f64>,
    pub fds: Option<u32>,
    pub nofile: Option<u64>,
    /// Open fds' growth per minute over the trend window.
    pub fd_growth_per_min: Option<f64>,
    /// Seconds until RLIMIT_NOFILE at the current growth.
    pub time_to_fd_limit_s: Option<f64>,
    /// A few of its sockets (`SocketExample`s as text: "STATE local >
    /// remote, age"), CLOSE_WAIT first, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sockets: Vec<String>,
}

/// One (local IP, remote ip:port) tuple's ephemeral ports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpstreamRow {
    pub netns: u64,
    pub local_ip: IpAddr,
    pub remote: Endpoint,
    pub in_use: u64,
    pub usable: u64,
    /// Connections toward it new since the previous sample, per second.
    pub new_per_s: Option<f64>,
    /// Net growth of ports in use per minute over the trend window.
    pub growth_per_min: Option<f64>,
    /// Seconds until every usable port is taken, at the current growth.
    pub time_to_exhaustion_s: Option<f64>,
}

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListenerRow {
    pub netns: u64,
    pub local: Endpoint,
    pub pid: Option<u32>,
    pub comm: String,
    /// Connections waiting for accept() (Recv-Q of a LISTEN socket).
    pub accept_queue: u32,
    /// Its backlog (Send-Q of a LISTEN socket; 0 when unknown).
    pub backlog: u32,
    /// TIME_WAIT on its port: connections its process closed first.
    pub time_wait: u64,
}

/// A finding as a sample carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingRow {
    pub severity: Severity,
    pub id: String,
    pub subject: String,
    pub title: String,
}

/// One observation as shown, with what changed since the one before.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at_unix_s: f64,
    /// Seconds since the first sample (monotonic).
    pub elapsed_s: f64,
    /// The measured time since the previous sample (0 for the first).
    pub interval_s: f64,
    /// The measured length of the window the growth rates are over.
    pub window_s: f64,
    /// Sockets per state (netstat names), every namespace read.
    pub states: BTreeMap<String, u64>,
    pub total: u64,
    /// The measured time between this sample's tables and the previous
    /// tables (the rates and "new per second" are over it).
    #[serde(default)]
    pub detail_interval_s: f64,
    /// Host-wide rates over `detail_interval_s` (TcpExt ListenOverflows,
    /// ListenDrops; Tcp ActiveOpens, PassiveOpens), per second.
    pub rates: BTreeMap<String, f64>,
    pub processes: Vec<ProcessRow>,
    pub upstreams: Vec<UpstreamRow>,
    pub listeners: Vec<ListenerRow>,
    pub findings: Vec<FindingRow>,
    /// Whether the owners are this sample's own (false: reused from an
    /// earlier scan, which is refreshed less often when it is expensive).
    pub owners_fresh: bool,
    /// Whether the tables are this sample's own (false: the states were
    /// counted afresh, the tables are the last detailed sample's, which
    /// is taken less often when a full dump is expensive).
    #[serde(default = "tables_fresh_in_old_recordings")]
    pub tables_fresh: bool,
    /// How old the tables are, in seconds (0 when fresh).
    #[serde(default)]
    pub tables_age_s: f64,
    pub notes: Vec<String>,
}

/// Recordings written before `tables_fresh` existed had fresh tables in
/// every sample.
fn tables_fresh_in_old_recordings() -> bool {
    true
}

/// Counts per state as netstat names, zeros left out.
pub(super) fn state_names(states: &BTreeMap<TcpState, u64>) -> BTreeMap<String, u64> {
    states
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| (s.netstat_name().to_string(), *n))
        .collect()
}

impl Sample {
    /// The sample shown for `trends`: every table cut to its first `top`
    /// rows (they are sorted with the rows that matter first). The
    /// findings are the caller's, judged on the whole trends.
    pub(crate) fn from_trends(
        t: &Trends,
        top: usize,
        owners_fresh: bool,
        notes: &[String],
    ) -> Sample {
        let states = state_names(&t.states);
        Sample {
            at_unix_s: t.at_unix_s,
            elapsed_s: t.elapsed_s,
            interval_s: t.interval_s,
            detail_interval_s: t.detail_interval_s,
            window_s: t.window_s,
            total: states.values().sum(),
            states,
            tables_fresh: true,
            tables_age_s: 0.0,
            rates: t.rates.clone(),
            processes: t.processes.iter().take(top).cloned().collect(),
            upstreams: t.upstreams.iter().take(top).cloned().collect(),
            listeners: t.listeners.iter().take(top).cloned().collect(),
            findings: Vec::new(),
            owners_fresh,
            notes: notes.to_vec(),
        }
    }
}

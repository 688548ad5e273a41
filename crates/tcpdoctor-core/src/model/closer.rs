//! Who closed a connection, as the kernel saw it while a tracer ran: the
//! process that called close() (or shutdown) on it, first or last. Exact,
//! unlike the likely owners inferred for TIME_WAIT without a tracer, and
//! kept after that process exits.

use super::{Endpoint, TcpState};
use serde::{Deserialize, Serialize};

/// Whether the process closed before its peer or after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseOrder {
    /// Closed first: this host's socket goes through TIME_WAIT.
    First,
    /// Closed after the peer's FIN (from CLOSE_WAIT): the peer's socket
    /// goes through TIME_WAIT.
    Last,
}

/// The process that closed a connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Closer {
    /// As this host's /proc numbers it (0 when it is outside the reader's
    /// pid namespace).
    pub pid: u32,
    /// Its comm when it closed.
    pub comm: String,
    /// Its cgroup v2 path (container or systemd unit), when it still exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    pub order: CloseOrder,
    /// How long before it was read the close happened, in seconds.
    pub closed_s_ago: f64,
}

/// How a connection was opened, when the tracer saw it open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Opened {
    /// This host connected (a client).
    Connected,
    /// This host accepted it (a server).
    Accepted,
}

/// How a connection ended, from the state it left for CLOSE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndKind {
    /// This host closed first: its socket is now in TIME_WAIT.
    ClosedFirst,
    /// This host closed first and the peer had not closed: the socket is
    /// a FIN_WAIT2 orphan, waiting tcp_fin_timeout for the peer's FIN.
    ClosedFirstPeerOpen,
    /// The peer closed first and this host followed (LAST_ACK done).
    ClosedLast,
    /// Aborted (a reset sent or received) without the FIN exchange.
    Reset,
}

impl EndKind {
    /// From the state a socket left when it went to CLOSE, and whether the
    /// peer's FIN had arrived by then.
    pub(crate) fn from_last_state(s: TcpState, peer_fin: bool) -> EndKind {
        match s {
            TcpState::FinWait2 if !peer_fin => EndKind::ClosedFirstPeerOpen,
            TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing => EndKind::ClosedFirst,
            TcpState::LastAck => EndKind::ClosedLast,
            _ => EndKind::Reset,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EndKind::ClosedFirst => "closed first -> TIME_WAIT",
            EndKind::ClosedFirstPeerOpen => "closed first -> FIN_WAIT2, the peer had not closed",
            EndKind::ClosedLast => "closed last",
            EndKind::Reset => "reset",
        }
    }
}

/// One connection's end, as `tcpdoctor trace` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionEnd {
    /// Wall-clock time of the end, seconds since the Unix epoch.
    pub at_unix_s: f64,
    /// The network namespace inode (`net:[N]`).
    pub netns: u64,
    pub local: Endpoint,
    pub remote: Endpoint,
    pub end: EndKind,
    /// Who closed it on this host; `None` when the close was not seen
    /// (before tracing began, or a reset).
    pub closer: Option<Closer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened: Option<Opened>,
    /// From established to closed, when the tracer saw both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_s: Option<f64>,
    pub cookie: u64,
}

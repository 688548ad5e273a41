//! How sockets reach the model: the sink a collector or dump reader streams
//! them into, and what a collection reports besides the sockets.

use super::Socket;
use serde::Serialize;

/// Receives sockets as a collector streams them.
pub trait SocketSink {
    fn socket(&mut self, s: &Socket);
    /// Forget everything received so far: the dump is starting again
    /// (it was inconsistent, or the collector fell back to another source).
    fn restart(&mut self);
}

impl SocketSink for Vec<Socket> {
    fn socket(&mut self, s: &Socket) {
        self.push(s.clone());
    }

    fn restart(&mut self) {
        self.clear();
    }
}

/// The source that was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceUsed {
    Netlink,
    Proc,
    /// Counted in the kernel by an eBPF iterator (iter/tcp).
    BpfIter,
    /// Counted in the kernel by an eBPF walk of its TCP hash tables.
    BpfWalk,
}

/// How a collection went, besides the sockets themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CollectReport {
    pub source: SourceUsed,
    /// Things the user should know: fallbacks, skipped files, retries.
    pub notes: Vec<String>,
}

//! Plain data. No I/O here: collectors and offline parsers fill these in,
//! rules and renderers read them.

mod census;
mod closer;
mod collection;
mod format;
mod host;
mod needs;
mod netns;
mod owner;
mod ports;
mod rows;
mod severity;
mod snapshot;
mod socket;
mod state;
mod sysctl;
mod trace;
mod trends;
mod watch;

pub(crate) use census::by_process;
pub use census::{
    Census, CensusOutcome, CensusReport, GroupBy, GroupKey, MultiCensus, StateGroups,
};
pub use closer::{CloseOrder, Closer, ConnectionEnd, EndKind, Opened};
pub use collection::{CollectReport, SocketSink, SourceUsed};
pub use format::human_age;
pub use format::human_bytes;
pub use host::{COUNTERS_THAT_MATTER, FileNr, HostInfo, NamespaceCount, Sockstat};
pub(crate) use host::{TCP_COUNTERS_THAT_MATTER, parse_port_range};
pub use needs::Needs;
pub use netns::{NetnsInfo, NetnsSelector};
pub(crate) use owner::Holders;
pub use owner::{CloseTracing, FdRef, OwnerIndex, OwnerSource, Parent, Process};
pub(crate) use ports::{parse_reserved_ports, tuple_usage};
#[cfg(test)]
pub(crate) use rows::LikelyOwners;
pub(crate) use rows::{
    Listeners, age_seconds, listing_order, rows_by_namespace, rows_of, wanted_inodes,
};
pub use rows::{Listing, RowFilter, Side, SocketRow, rows};
pub use severity::Severity;
pub use snapshot::{NsSnapshot, Snapshot};
pub use socket::{Endpoint, Socket, TcpInfo, Timer};
pub use state::{StateSet, TcpState, UnknownState};
pub use sysctl::SysctlSetting;
pub(crate) use trace::TraceTally;
pub use trace::{GroupSummary, OpenCount, TraceSummary};
pub(crate) use trends::TrendTracker;
pub use trends::Trends;
use watch::state_names as watch_state_names;
pub use watch::{FindingRow, ListenerRow, ProcessRow, Sample, UpstreamRow};

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

pub use census::{
    Census, CensusOutcome, CensusReport, GroupBy, GroupKey, HINT_DOMINANT_SHARE, HINT_MIN_COUNT,
    MultiCensus, StateGroups, by_process, dominance_hint,
};
pub use closer::{CloseOrder, Closer, ConnectionEnd, EndKind, Opened};
pub use collection::{CollectReport, SocketSink, SourceUsed};
pub use format::{human_age, human_bytes};
pub use host::{
    COUNTERS_THAT_MATTER, FileNr, HostInfo, Sockstat, TCP_COUNTERS_THAT_MATTER,
    parse_kernel_version, parse_port_range,
};
pub use needs::Needs;
pub use netns::{NetnsInfo, NetnsSelector};
pub use owner::{FdRef, Holders, OwnerIndex, OwnerSource, Parent, Process};
pub use ports::{TupleUsage, parse_reserved_ports, tuple_usage};
pub use rows::{
    Attribution, LikelyOwners, Listeners, Listing, RowFilter, Side, SocketRow, TIME_WAIT_MS,
    age_seconds, listing_order, rows, rows_by_namespace, rows_of, sort_rows, wanted_inodes,
};
pub use severity::Severity;
pub use snapshot::{NsSnapshot, SNAPSHOT_VERSION, Snapshot};
pub use socket::{Endpoint, Socket, TcpInfo, Timer};
pub use state::{StateSet, TcpState, UnknownState};
pub use sysctl::SysctlSetting;
pub use trace::{GroupSummary, OpenCount, TraceSummary, TraceTally};
pub use trends::{SocketExample, TrendTracker, Trends};
pub(crate) use watch::state_names as watch_state_names;
pub use watch::{FindingRow, ListenerRow, ProcessRow, Sample, UpstreamRow};

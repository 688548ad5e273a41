//! Plain snapshot types. No I/O here: collectors and offline parsers fill
//! these in, rules and renderers read them.

mod host;
mod owner;
mod socket;
mod state;

pub use host::{FileNr, HostInfo, Sockstat, parse_kernel_version};
pub use owner::{FdRef, Process};
pub use socket::{Endpoint, Socket, TcpInfo, Timer};
pub use state::{StateSet, TcpState, UnknownState};

use serde::Serialize;

/// Everything known about one network namespace at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub host: HostInfo,
    pub sockets: Vec<Socket>,
}

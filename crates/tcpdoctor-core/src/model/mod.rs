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

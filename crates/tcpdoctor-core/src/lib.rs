//! tcpdoctor's logic. Data flows one way: `collect` (netlink, /proc, owners,
//! namespaces) or `offline` (dumps, snapshots) -> `model` (plain snapshot
//! types) -> `census`, `listing`, `diagnose` -> `render` (text, JSON) and
//! `exporter` (Prometheus). `gather` holds the commands' collection plans;
//! `lab` builds real sockets and whole scenarios in private network
//! namespaces.

pub mod census;
pub mod collect;
pub mod diagnose;
pub mod error;
pub mod explain;
pub mod exporter;
pub mod gather;
pub mod lab;
pub mod listing;
pub mod model;
pub mod offline;
pub mod render;

pub use error::{Error, Result};

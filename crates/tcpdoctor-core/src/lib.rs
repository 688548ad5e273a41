//! tcpdoctor's logic. Data flows one way: `collect` (netlink, /proc) ->
//! `model` (plain snapshot types) -> `census` and, later, `diagnose` ->
//! `render` (text, JSON). `lab` builds real sockets in private network
//! namespaces for tests and demonstrations.

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

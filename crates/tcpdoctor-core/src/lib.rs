//! tcpdoctor's logic, in layers that depend only downwards:
//!
//! - `model`: plain data (sockets, owners, namespaces, counters, sysctls,
//!   the snapshot, listing rows, census counts). No I/O.
//! - `collect`: every access to the host (netlink, /proc, owners,
//!   namespaces, sysctl.conf files) and the collection plans.
//! - `offline`: dumps and snapshot files into the model.
//! - `diagnose`: the rules (one file each, declaring thresholds, category
//!   and data needs), `run` over a snapshot, and `explain`.
//! - `render`: text, JSON, Prometheus, HTML; a renderer decides nothing.
//! - `ops`: the application layer: resolved options in, a result out (a
//!   diagnosis, an observation over time, a census, a listing, a sysctl
//!   review, a trace). Every front end calls it.
//! - `serve`: the Prometheus exporter, on top of `ops`.
//!
//! `tests/it/layers.rs` fails on an import that points up a layer.

pub mod collect;
pub mod diagnose;
pub mod error;
pub mod model;
pub mod offline;
pub mod ops;
pub mod render;
pub mod serve;

pub use error::{Error, Result};

//! The `tcpdoctor` binary end to end, by command: real sockets in a
//! private namespace, a captured /proc tree with a golden output, and bad
//! input.

mod census;
mod diagnose;
mod ebpf;
mod explain;
mod exporter;
mod sockets;
mod sysctl;
mod usage;

use crate::support::{run, stdout, wait_until};

/// Waits until `tcpdoctor census --json` counts `total` sockets.
fn settle(total: u64) {
    wait_until("the population settles", || {
        let v: serde_json::Value =
            serde_json::from_str(&stdout(&run(&["census", "--json"]))).expect("json");
        Ok(v["total"] == serde_json::json!(total))
    })
    .expect("settles");
}

//! The listeners table: each listening socket's accept queue against its
//! backlog, and the TIME_WAIT on its port.

use super::table::{Column, Listing, SortKey};
use ratatui::layout::Constraint;
use tcpdoctor_core::model::ListenerRow;

pub static LISTENERS: Listing<ListenerRow> = Listing {
    name: "listeners",
    rows: |s| &s.listeners,
    columns: &[
        Column {
            header: "LOCAL",
            width: Constraint::Length(22),
            cell: |l| l.local.to_string(),
            sort: SortKey::Number(|l| f64::from(l.local.port)),
        },
        Column {
            header: "PROCESS",
            width: Constraint::Length(20),
            cell: owner,
            sort: SortKey::Cell,
        },
        Column {
            header: "ACCEPT Q",
            width: Constraint::Length(9),
            cell: |l| l.accept_queue.to_string(),
            sort: SortKey::Number(|l| f64::from(l.accept_queue)),
        },
        Column {
            header: "BACKLOG",
            width: Constraint::Length(8),
            cell: |l| l.backlog.to_string(),
            sort: SortKey::Number(|l| f64::from(l.backlog)),
        },
        Column {
            header: "T_WAIT",
            width: Constraint::Min(6),
            cell: |l| l.time_wait.to_string(),
            sort: SortKey::Number(|l| l.time_wait as f64),
        },
    ],
    subject: owner,
    more: |_| Vec::new(),
};

/// "pid/comm" of the process listening, "-" when not known.
fn owner(l: &ListenerRow) -> String {
    l.pid
        .map_or_else(|| "-".into(), |p| format!("{p}/{}", l.comm))
}

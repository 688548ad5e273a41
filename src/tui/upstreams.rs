//! The upstreams table: ephemeral ports in use per (local IP, remote) and
//! how soon they run out.

use super::format::{decimal, duration};
use super::table::{Column, Listing, SortKey};
use ratatui::layout::Constraint;
use tcpdoctor_core::model::UpstreamRow;

pub static UPSTREAMS: Listing<UpstreamRow> = Listing {
    name: "upstreams",
    rows: |s| &s.upstreams,
    columns: &[
        Column {
            header: "LOCAL IP",
            width: Constraint::Length(15),
            cell: |u| u.local_ip.to_string(),
            sort: SortKey::Cell,
        },
        Column {
            header: "REMOTE",
            width: Constraint::Length(21),
            cell: |u| u.remote.to_string(),
            sort: SortKey::Cell,
        },
        Column {
            header: "PORTS",
            width: Constraint::Length(11),
            cell: |u| format!("{}/{}", u.in_use, u.usable),
            sort: SortKey::Number(|u| u.in_use as f64),
        },
        Column {
            header: "USED",
            width: Constraint::Length(5),
            cell: |u| format!("{:.0}%", used_share(u) * 100.0),
            sort: SortKey::Number(used_share),
        },
        Column {
            header: "NEW/S",
            width: Constraint::Length(6),
            cell: |u| decimal(u.new_per_s, 1),
            sort: SortKey::Number(|u| u.new_per_s.unwrap_or(f64::MIN)),
        },
        Column {
            header: "GROW/MIN",
            width: Constraint::Length(9),
            cell: |u| decimal(u.growth_per_min, 1),
            sort: SortKey::Number(|u| u.growth_per_min.unwrap_or(f64::MIN)),
        },
        Column {
            header: "TO EXHAUST",
            width: Constraint::Min(10),
            cell: |u| duration(u.time_to_exhaustion_s),
            sort: SortKey::Number(|u| u.time_to_exhaustion_s.unwrap_or(f64::MAX)),
        },
    ],
    subject: |u| u.remote.to_string(),
    more: |_| Vec::new(),
};

/// The share of the usable ports in use, 0 to 1.
fn used_share(u: &UpstreamRow) -> f64 {
    u.in_use as f64 / u.usable.max(1) as f64
}

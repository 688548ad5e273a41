//! The processes table: each process's sockets by state, its CLOSE_WAIT
//! growth and its open files against RLIMIT_NOFILE.

use super::format::{decimal, duration};
use super::table::{Column, Listing, SortKey};
use ratatui::layout::Constraint;
use ratatui::style::Stylize;
use ratatui::text::Line;
use tcpdoctor_core::model::ProcessRow;
use tcpdoctor_core::render::text::Shown;

pub static PROCESSES: Listing<ProcessRow> = Listing {
    name: "processes",
    rows: |s| &s.processes,
    columns: &[
        Column {
            header: "PID",
            width: Constraint::Length(7),
            cell: |p| p.pid.to_string(),
            sort: SortKey::Number(|p| f64::from(p.pid)),
        },
        Column {
            header: "COMM",
            width: Constraint::Length(15),
            cell: |p| p.comm.clone(),
            sort: SortKey::Cell,
        },
        Column {
            header: "ESTAB",
            width: Constraint::Length(7),
            cell: |p| p.established.to_string(),
            sort: SortKey::Number(|p| p.established as f64),
        },
        Column {
            header: "CL_WAIT",
            width: Constraint::Length(8),
            cell: |p| p.close_wait.to_string(),
            sort: SortKey::Number(|p| p.close_wait as f64),
        },
        Column {
            header: "CW/MIN",
            width: Constraint::Length(7),
            cell: |p| decimal(p.close_wait_growth_per_min, 1),
            sort: SortKey::Number(|p| p.close_wait_growth_per_min.unwrap_or(f64::MIN)),
        },
        Column {
            header: "T_WAIT",
            width: Constraint::Length(7),
            cell: |p| p.time_wait.to_string(),
            sort: SortKey::Number(|p| p.time_wait as f64),
        },
        Column {
            header: "FDS/LIMIT",
            width: Constraint::Length(12),
            cell: fds_of_limit,
            sort: SortKey::Number(|p| f64::from(p.fds.unwrap_or(0))),
        },
        Column {
            header: "TO LIMIT",
            width: Constraint::Min(8),
            cell: |p| duration(p.time_to_fd_limit_s),
            sort: SortKey::Number(|p| p.time_to_fd_limit_s.unwrap_or(f64::MAX)),
        },
    ],
    subject: |p| format!("pid {}", p.pid),
    more: sockets,
};

/// Open fds over RLIMIT_NOFILE ("330/1024"), "-" for what is not known.
fn fds_of_limit(p: &ProcessRow) -> String {
    match (p.fds, p.nofile) {
        (Some(f), Some(n)) => format!("{f}/{n}"),
        (Some(f), None) => format!("{f}/-"),
        _ => "-".into(),
    }
}

/// The process's sockets, for its details.
fn sockets(p: &ProcessRow) -> Vec<Line<'static>> {
    if p.sockets.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![
        Line::from(""),
        Line::from("sockets (CLOSE_WAIT first, oldest first):").bold(),
    ];
    lines.extend(
        p.sockets
            .iter()
            .map(|l| Line::from(format!("  {}", Shown(l)))),
    );
    lines
}

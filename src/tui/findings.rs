//! The findings table: what the diagnosis found in the sample, worst first.

use super::table::{Column, Listing, SortKey};
use ratatui::layout::Constraint;
use tcpdoctor_core::model::FindingRow;

pub static FINDINGS: Listing<FindingRow> = Listing {
    name: "findings",
    rows: |s| &s.findings,
    columns: &[
        Column {
            header: "SEVERITY",
            width: Constraint::Length(9),
            cell: |f| severity(f).0.to_uppercase(),
            sort: SortKey::Number(|f| f64::from(severity(f).1)),
        },
        Column {
            header: "FINDING",
            width: Constraint::Length(22),
            cell: |f| f.id.clone(),
            sort: SortKey::Cell,
        },
        Column {
            header: "TITLE",
            width: Constraint::Min(20),
            cell: |f| f.title.clone(),
            sort: SortKey::Cell,
        },
    ],
    subject: |f| f.id.clone(),
    more: |_| Vec::new(),
};

/// A finding's severity as the screen uses it: its name ("critical") and
/// its rank, higher for worse.
pub fn severity(f: &FindingRow) -> (&'static str, u8) {
    (f.severity.name(), f.severity.exit_code() as u8)
}

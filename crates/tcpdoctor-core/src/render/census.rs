//! `tcpdoctor census` as text.

use crate::census::CensusReport;
use std::io::{self, Write};

/// One line per state with its count, largest first, then the total; the
/// top groups per state when grouped; then the hint, if any.
pub fn text(r: &CensusReport, out: &mut dyn Write) -> io::Result<()> {
    let width = r.total.to_string().len().max(5);
    for (state, n) in &r.states {
        writeln!(out, "{:<12} {n:>width$}", state.netstat_name())?;
    }
    writeln!(out, "{:<12} {:>width$}", "total", r.total)?;
    if let Some(by) = r.group_by {
        for g in &r.groups {
            writeln!(out)?;
            let shown = g.top.len();
            writeln!(
                out,
                "{} by {} ({} distinct{}):",
                g.state.netstat_name(),
                by.name(),
                g.distinct,
                if shown < g.distinct {
                    format!(", top {shown}")
                } else {
                    String::new()
                }
            )?;
            let kw = g
                .top
                .iter()
                .map(|(k, _)| k.to_string().len())
                .max()
                .unwrap_or(0);
            for (key, n) in &g.top {
                writeln!(out, "  {:<kw$}  {n:>width$}", key.to_string())?;
            }
        }
    }
    if let Some(h) = &r.hint {
        writeln!(out)?;
        writeln!(out, "{h}")?;
    }
    Ok(())
}

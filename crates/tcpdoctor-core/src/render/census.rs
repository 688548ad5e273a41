//! `tcpdoctor census` as text.

use super::text::{Shown, shown};
use crate::model::TcpState;
use crate::model::{CensusReport, MultiCensus};
use std::io::{self, Write};

fn state_table(states: &[(TcpState, u64)], total: u64, out: &mut dyn Write) -> io::Result<usize> {
    let width = total.to_string().len().max(5);
    for (state, n) in states {
        writeln!(out, "{:<12} {n:>width$}", state.netstat_name())?;
    }
    writeln!(out, "{:<12} {:>width$}", "total", total)?;
    Ok(width)
}

/// One line per state with its count, largest first, then the total; the
/// top groups per state when grouped; the owning processes with their fd
/// use when grouped by process; then the hint, if any.
pub fn text(r: &CensusReport, out: &mut dyn Write) -> io::Result<()> {
    if let Some(ns) = &r.netns {
        writeln!(out, "== {}", Shown(&ns.label()))?;
    }
    let width = state_table(&r.states, r.total, out)?;
    let names = r.names();
    if let Some(by) = r.group_by {
        for g in &r.groups {
            writeln!(out)?;
            let listed = g.top.len();
            writeln!(
                out,
                "{} by {} ({} distinct{}):",
                g.state.netstat_name(),
                by.name(),
                g.distinct,
                if listed < g.distinct {
                    format!(", top {listed}")
                } else {
                    String::new()
                }
            )?;
            let labels: Vec<String> = g
                .top
                .iter()
                .map(|(k, _)| shown(&k.label(&names)).into_owned())
                .collect();
            let kw = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            for (label, (_, n)) in labels.iter().zip(&g.top) {
                writeln!(out, "  {label:<kw$}  {n:>width$}")?;
            }
        }
    }
    if !r.processes.is_empty() {
        writeln!(out)?;
        writeln!(out, "processes:")?;
        for p in &r.processes {
            let limit = match (p.fds_open(), p.nofile_soft) {
                (Some(n), Some(soft)) => format!("{n} of {soft} fds"),
                (Some(n), None) => format!("{n} fds"),
                (None, _) => "fds unknown".to_string(),
            };
            let cgroup = p.cgroup.as_deref().unwrap_or("-");
            writeln!(
                out,
                "  {}/{}  {limit}  cgroup {}  {}",
                p.pid,
                Shown(&p.comm),
                Shown(cgroup),
                Shown(&p.cmdline)
            )?;
        }
    }
    if let Some(h) = &r.hint {
        writeln!(out)?;
        writeln!(out, "{}", Shown(h))?;
    }
    Ok(())
}

/// Several namespaces: each in turn, then their sum.
pub fn multi_text(m: &MultiCensus, out: &mut dyn Write) -> io::Result<()> {
    for r in &m.namespaces {
        text(r, out)?;
        writeln!(out)?;
    }
    writeln!(out, "== all {} namespaces", m.namespaces.len())?;
    state_table(&m.states, m.total, out)?;
    Ok(())
}

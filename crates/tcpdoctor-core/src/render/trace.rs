//! `tcpdoctor trace`: one line per connection end, and the summary.

use super::text::Shown;
use crate::model::{ConnectionEnd, GroupSummary, TraceSummary, human_age};
use std::io::{self, Write};

/// "HH:MM:SS.mmm" of a Unix time, in UTC.
fn utc_time(unix_s: f64) -> String {
    let ms = (unix_s.max(0.0) * 1000.0).round() as u64;
    let day_ms = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        (day_ms / 60_000) % 60,
        (day_ms / 1000) % 60,
        day_ms % 1000
    )
}

/// A lifetime as people read it: 850us, 12.3ms, 4.2s, 5m03s.
fn lifetime(s: Option<f64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 0.001 => format!("{:.0}us", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.1}ms", s * 1e3),
        Some(s) if s < 60.0 => format!("{s:.1}s"),
        Some(s) => human_age(s),
    }
}

/// The column heads of `line`.
pub fn header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<12}  {:<22} {:<26} {:<22} {:<22} {:>8}  {:<12} CGROUP",
        "TIME(UTC)", "CLOSED BY", "END", "LOCAL", "REMOTE", "LIFETIME", "NETNS"
    )
}

/// One connection end.
pub fn line(e: &ConnectionEnd, out: &mut dyn Write) -> io::Result<()> {
    let who = e.closer.as_ref().map_or_else(
        || "-".to_string(),
        |c| format!("{}/{}", c.pid, Shown(&c.comm)),
    );
    let cgroup = e
        .closer
        .as_ref()
        .and_then(|c| c.cgroup.as_deref())
        .unwrap_or("-");
    writeln!(
        out,
        "{:<12}  {:<22} {:<26} {:<22} {:<22} {:>8}  {:<12} {}",
        utc_time(e.at_unix_s),
        who,
        e.end.label(),
        e.local.to_string(),
        e.remote.to_string(),
        lifetime(e.lifetime_s),
        e.netns,
        Shown(cgroup),
    )
}

fn pairs(v: &[(String, u64)]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.iter()
        .take(3)
        .map(|(who, n)| format!("{} ({n})", Shown(who)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One group per line: how many were opened (`verb`: connected or
/// accepted) and ended while tracing, and how many of those opened did
/// not end: a listener whose connections all wait in CLOSE_WAIT reads
/// "accepted 20, ended 0, 20 still open".
fn groups(title: &str, verb: &str, v: &[GroupSummary], out: &mut dyn Write) -> io::Result<()> {
    if v.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n{title}")?;
    for g in v {
        let open = g.opened.saturating_sub(g.ended);
        let still = if open > 0 {
            format!(", {open} still open")
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {}  {verb} {} ({:.1}/s), ended {}{still}, resets {}  [netns {}]",
            g.endpoint, g.opened, g.opens_per_s, g.ended, g.resets, g.netns
        )?;
        writeln!(
            out,
            "    TIME_WAIT here, closed first by: {}",
            pairs(&g.time_wait_made_by)
        )?;
        // Only where there were some: most hosts never have any.
        if !g.fin_wait2_made_by.is_empty() {
            writeln!(
                out,
                "    FIN_WAIT2 here, closed first by: {} (the peer had not closed)",
                pairs(&g.fin_wait2_made_by)
            )?;
        }
        writeln!(
            out,
            "    closed after the peer by:        {}",
            pairs(&g.closed_after_peer_by)
        )?;
    }
    Ok(())
}

/// The summary printed when a trace ends.
pub fn summary(s: &TraceSummary, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "\ntraced {:.1} s: {} connection end(s), {:.1}/s; {} lost",
        s.window_s,
        s.ends,
        if s.window_s > 0.0 {
            s.ends as f64 / s.window_s
        } else {
            0.0
        },
        s.lost
    )?;
    groups(
        "per upstream (this host connected):",
        "connected",
        &s.upstreams,
        out,
    )?;
    groups(
        "per listening port (this host accepted):",
        "accepted",
        &s.listening_ports,
        out,
    )?;
    for n in &s.notes {
        writeln!(out, "note: {}", Shown(n))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener whose connections all stay in CLOSE_WAIT: the summary
    /// once said "opened 20, ended 0" and left the reader to subtract.
    #[test]
    fn the_summary_says_what_did_not_end() {
        let g = GroupSummary {
            netns: 1,
            endpoint: "0.0.0.0:8000".parse().expect("endpoint"),
            opened: 20,
            opens_per_s: 2.0,
            ended: 0,
            time_wait_made_by: Vec::new(),
            fin_wait2_made_by: Vec::new(),
            closed_after_peer_by: Vec::new(),
            resets: 0,
        };
        let mut out = Vec::new();
        groups("per listening port:", "accepted", &[g], &mut out).expect("writes");
        let text = String::from_utf8(out).expect("UTF-8");
        assert!(
            text.contains("0.0.0.0:8000  accepted 20 (2.0/s), ended 0, 20 still open"),
            "{text}"
        );
    }

    #[test]
    fn times_and_lifetimes_read_as_people_write_them() {
        assert_eq!(utc_time(86_400.0 * 3.0 + 3723.5), "01:02:03.500");
        assert_eq!(lifetime(Some(0.00085)), "850us");
        assert_eq!(lifetime(Some(0.0123)), "12.3ms");
        assert_eq!(lifetime(Some(4.21)), "4.2s");
        assert_eq!(lifetime(Some(303.0)), "5m03s");
        assert_eq!(lifetime(None), "-");
    }
}

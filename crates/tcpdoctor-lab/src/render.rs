//! `tcpdoctor lab` as text.

use crate::roles::RoleReport;
use crate::run::{LabOutcome, LabRecord};
use crate::scenarios::{SCENARIOS, find};
use std::io::{self, Write};
use tcpdoctor_core::render::text::{Shown, wrap};

/// The scenarios, and the labs that are running or kept.
pub fn list(running: &[LabRecord], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "scenarios (tcpdoctor lab run NAME [--scale N] [--keep]):"
    )?;
    for s in SCENARIOS {
        writeln!(out, "\n  {}  (default scale {})", s.name, s.default_scale)?;
        wrap(s.summary, 76, "    ", out)?;
    }
    if !running.is_empty() {
        writeln!(out, "\nlabs present (tcpdoctor lab down NAME removes one):")?;
        for r in running {
            let how = if r.keep { "kept" } else { "running" };
            let pids: Vec<String> = r.pids.iter().map(|p| p.to_string()).collect();
            writeln!(
                out,
                "  {}  {}  {how}, pids {}",
                Shown(&r.name),
                Shown(&r.scenario),
                pids.join(" ")
            )?;
        }
    }
    Ok(())
}

fn role_line(what: &str, pid: u32, r: &RoleReport) -> String {
    let errors = if r.errors.is_empty() {
        "no errors".to_string()
    } else {
        r.errors
            .iter()
            .map(|(k, n)| format!("{} x{n}", Shown(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let leaked = if r.leaked > 0 {
        format!(", {} fds leaked", r.leaked)
    } else {
        String::new()
    };
    format!(
        "{what:<7} pid {pid:<7} {} ok, {} connections{leaked}, {errors}",
        r.ok, r.connections
    )
}

/// What a TcpExt counter the lab prints counts.
fn counter_meaning(name: &str) -> &'static str {
    match name {
        "TW" => "connections that entered TIME_WAIT",
        "TWRecycled" => "TIME_WAIT ports reused by connect() (tcp_tw_reuse)",
        "TCPTimeWaitOverflow" => "TIME_WAIT destroyed at once: tcp_max_tw_buckets was full",
        "ListenOverflows" => "handshakes dropped: an accept queue was full",
        "ListenDrops" => "SYNs dropped by a listener (overflows included)",
        "TCPAbortOnClose" => "resets sent: closed with unread data",
        "TCPAbortOnData" => "resets sent: data arrived after close",
        "TCPAbortOnMemory" => "orphans reset: too many, or out of memory",
        "TCPAbortOnTimeout" => "connections dropped after retransmission timeouts",
        "TCPAbortOnLinger" => "resets at close with SO_LINGER 0",
        "TCPReqQFullDrop" => "SYNs dropped: the SYN queue was full",
        "TCPReqQFullDoCookies" => "SYNs answered with syncookies: the SYN queue was full",
        "SyncookiesSent" => "syncookies sent",
        _ => "",
    }
}

/// What a run built and whether it proved what it should.
pub fn outcome(o: &LabOutcome, out: &mut dyn Write) -> io::Result<()> {
    let sc = find(o.scenario);
    writeln!(
        out,
        "lab {} (scale {}): done in {:.1} s",
        o.scenario, o.scale, o.seconds
    )?;
    writeln!(out, "  {}", role_line("client", o.client_pid, &o.client))?;
    writeln!(out, "  {}", role_line("server", o.server_pid, &o.server))?;
    let netns = Shown(&o.netns);
    writeln!(out, "\ncensus of namespace {netns}:")?;
    let mut states: Vec<(&String, &u64)> = o.states.iter().collect();
    states.sort_by(|a, b| b.1.cmp(a.1));
    for (s, n) in states {
        writeln!(out, "  {:<12} {n:>6}", Shown(s))?;
    }
    let counters: Vec<(&String, &i64)> = o.tcp_ext.iter().filter(|(_, v)| **v != 0).collect();
    if !counters.is_empty() {
        writeln!(
            out,
            "\nkernel counters of the namespace (TcpExt, counted since it was made):"
        )?;
        for (k, v) in counters {
            writeln!(out, "  {:<20} {v:>6}  {}", Shown(k), counter_meaning(k))?;
        }
    }
    writeln!(out, "\nchecks:")?;
    for c in &o.checks {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        writeln!(out, "  {mark}  {}", Shown(&c.what))?;
    }
    if let Some(sc) = sc {
        writeln!(out, "\nwhat it shows:")?;
        wrap(sc.lesson, 76, "  ", out)?;
    }
    writeln!(
        out,
        "\nwhat `tcpdoctor diagnose` says about the namespace:\n"
    )?;
    tcpdoctor_core::render::diagnose::text(&o.diagnosis, out)?;
    if o.kept {
        writeln!(out, "\nkept running. Inspect it:")?;
        writeln!(out, "  tcpdoctor census --netns {netns} --by process")?;
        writeln!(out, "  tcpdoctor sockets --netns {netns}")?;
        writeln!(out, "  ip netns exec {netns} ss -tan")?;
        writeln!(out, "tear it down:\n  tcpdoctor lab down {netns}")?;
    } else {
        writeln!(
            out,
            "\ncleaned up: namespace {netns} deleted, processes {} and {} stopped",
            o.server_pid, o.client_pid
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpdoctor_core::render::untrusted::escaped;

    const HOSTILE: &str = "\x1b]0;pwned\x07\n\u{9b}2J\u{202e}";
    const SHOWN: &str = "\\x1b]0;pwned\\x07\\n\\u{9b}2J\\u{202e}";

    fn assert_harmless(out: &[u8]) {
        let text = std::str::from_utf8(out).expect("utf-8");
        for line in text.split('\n') {
            assert!(!line.chars().any(escaped), "raw control in {line:?}");
        }
        assert!(text.contains(SHOWN), "shown escaped:\n{text}");
    }

    #[test]
    fn a_kept_lab_with_a_hostile_name_is_listed_escaped() {
        let record = LabRecord {
            name: HOSTILE.into(),
            scenario: HOSTILE.into(),
            runner_pid: 1,
            runner_start: None,
            pids: vec![2, 3],
            procs: Vec::new(),
            keep: true,
        };
        let mut out = Vec::new();
        list(&[record], &mut out).expect("render");
        assert_harmless(&out);
    }

    #[test]
    fn role_errors_with_a_hostile_name_are_escaped() {
        let mut r = RoleReport::default();
        r.errors.insert(HOSTILE.into(), 2);
        assert_harmless(role_line("client", 7, &r).as_bytes());
    }
}

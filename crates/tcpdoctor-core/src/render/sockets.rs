//! `tcpdoctor sockets` as a table or as JSON.

use super::text::Shown;
use crate::model::{
    Closer, Endpoint, FdRef, Listing, Process, Side, SocketRow, TcpInfo, Timer, human_age,
};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, Write};

fn comm<'a>(l: &'a Listing<'_>, pid: u32) -> &'a str {
    l.process(pid).map_or("?", |p| p.comm.as_str())
}

fn write_owner(out: &mut String, l: &Listing<'_>, r: &SocketRow) {
    if !r.owners.is_empty() {
        for (i, o) in r.owners.iter().enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            let _ = write!(out, "{sep}{}/{}", o.pid, Shown(comm(l, o.pid)));
            if o.fd != FdRef::UNKNOWN_FD {
                let _ = write!(out, " fd {}", o.fd);
            }
        }
        return;
    }
    if let Some(c) = r.closed_by {
        let _ = write!(out, "closed by {}/{}", c.pid, Shown(&c.comm));
        return;
    }
    if !r.likely_owners.is_empty() {
        out.push_str("likely ");
        for (i, pid) in r.likely_owners.iter().enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            let _ = write!(out, "{sep}{pid}/{}", Shown(comm(l, *pid)));
        }
        return;
    }
    out.push_str(match r.side {
        Some(Side::Inbound) => "- (closed by us as server)",
        Some(Side::Outbound) => "- (closed by us as client)",
        None => "-",
    });
}

fn write_remote(out: &mut String, e: &Endpoint) {
    if e.port == 0 && e.ip.is_unspecified() {
        out.push('*');
    } else {
        let _ = write!(out, "{e}");
    }
}

fn write_timer(out: &mut String, r: &SocketRow) {
    let t = match r.socket.timer {
        Timer::None => {
            out.push('-');
            return;
        }
        Timer::Retransmit => "on",
        Timer::KeepAlive => "keepalive",
        Timer::TimeWait => "timewait",
        Timer::ZeroWindowProbe => "persist",
        Timer::Other(_) => "other",
    };
    let _ = write!(out, "{t},{:.1}s", f64::from(r.socket.timer_ms) / 1000.0);
}

/// Pads `cell` to `width` (left-aligned) into `line`.
fn pad(line: &mut String, cell: &str, width: usize) {
    line.push_str(cell);
    for _ in cell.chars().count()..width {
        line.push(' ');
    }
}

/// The table: narrow by default, `wide` adds uid, inode, timer, cookie and
/// the owners' command lines; names are shown escaped (`untrusted`). A
/// NETNS column appears when several namespaces were read. One reused
/// line buffer: no allocation per row.
pub fn text(l: &Listing<'_>, wide: bool, out: &mut dyn Write) -> io::Result<()> {
    let several = l.several_namespaces;
    let mut cell = String::with_capacity(64);
    let (mut lw, mut rw) = (5, 6);
    for r in &l.rows {
        cell.clear();
        let _ = write!(cell, "{}", r.socket.local);
        lw = lw.max(cell.len());
        cell.clear();
        write_remote(&mut cell, &r.socket.remote);
        rw = rw.max(cell.len());
    }
    let mut line = String::with_capacity(256);
    if several {
        pad(&mut line, "NETNS", 12);
        line.push(' ');
    }
    let _ = write!(
        line,
        "{:<11} {:<lw$} {:<rw$} {:>7} {:>7} {:>7}",
        "STATE", "LOCAL", "REMOTE", "RECV-Q", "SEND-Q", "AGE"
    );
    if wide {
        let _ = write!(
            line,
            " {:>6} {:>10} {:<16} {:<18}",
            "UID", "INODE", "TIMER", "COOKIE"
        );
    }
    line.push_str(" OWNER\n");
    out.write_all(line.as_bytes())?;
    for r in &l.rows {
        line.clear();
        if several {
            cell.clear();
            match r.netns {
                Some(n) => {
                    let _ = write!(cell, "{n}");
                }
                None => cell.push('-'),
            }
            pad(&mut line, &cell, 12);
            line.push(' ');
        }
        pad(&mut line, r.socket.state.netstat_name(), 11);
        line.push(' ');
        cell.clear();
        let _ = write!(cell, "{}", r.socket.local);
        pad(&mut line, &cell, lw);
        line.push(' ');
        cell.clear();
        write_remote(&mut cell, &r.socket.remote);
        pad(&mut line, &cell, rw);
        let _ = write!(
            line,
            " {:>7} {:>7} {:>7} ",
            r.socket.recv_q,
            r.socket.send_q,
            r.age_s.map_or_else(|| "-".to_string(), human_age)
        );
        if wide {
            cell.clear();
            write_timer(&mut cell, r);
            let _ = write!(
                line,
                "{:>6} {:>10} {:<16} ",
                r.socket.uid, r.socket.inode, cell
            );
            match r.socket.cookie {
                Some(c) => {
                    let _ = write!(line, "{c:<18x} ");
                }
                None => line.push_str("-                  "),
            }
        }
        write_owner(&mut line, l, r);
        if wide
            && let Some(p) = r.owners.first().and_then(|o| l.process(o.pid))
            && !p.cmdline.is_empty()
        {
            let _ = write!(line, "  [{}]", Shown(&p.cmdline));
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

#[derive(Serialize)]
struct OwnerJson<'a> {
    pid: u32,
    comm: &'a str,
    /// null when the source named no fd (netstat -p).
    fd: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<&'a Process>,
}

#[derive(Serialize)]
struct LikelyJson<'a> {
    pid: u32,
    comm: &'a str,
}

#[derive(Serialize)]
struct RowJson<'a> {
    state: &'static str,
    local: Endpoint,
    remote: Endpoint,
    recv_q: u32,
    send_q: u32,
    age_s: Option<f64>,
    owners: Vec<OwnerJson<'a>>,
    likely_owners: Vec<LikelyJson<'a>>,
    /// The process that closed it, seen by a tracer (exact).
    #[serde(skip_serializing_if = "Option::is_none")]
    closed_by: Option<&'a Closer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    side: Option<Side>,
    inode: u64,
    uid: u32,
    timer: Timer,
    timer_ms: u32,
    cookie: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    netns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_info: Option<&'a TcpInfo>,
}

/// A JSON array of rows, written one row at a time. `wide` adds each
/// owner's process details and the socket's tcp_info.
pub fn json(l: &Listing<'_>, wide: bool, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, r) in l.rows.iter().enumerate() {
        let row = RowJson {
            state: r.socket.state.netstat_name(),
            local: r.socket.local,
            remote: r.socket.remote,
            recv_q: r.socket.recv_q,
            send_q: r.socket.send_q,
            age_s: r.age_s,
            owners: r
                .owners
                .iter()
                .map(|o| OwnerJson {
                    pid: o.pid,
                    comm: comm(l, o.pid),
                    fd: (o.fd != FdRef::UNKNOWN_FD).then_some(o.fd),
                    process: if wide { l.process(o.pid) } else { None },
                })
                .collect(),
            likely_owners: r
                .likely_owners
                .iter()
                .map(|p| LikelyJson {
                    pid: *p,
                    comm: comm(l, *p),
                })
                .collect(),
            closed_by: r.closed_by,
            side: r.side,
            inode: r.socket.inode,
            uid: r.socket.uid,
            timer: r.socket.timer,
            timer_ms: r.socket.timer_ms,
            cookie: r.socket.cookie,
            netns: r.netns,
            tcp_info: if wide { r.socket.info.as_deref() } else { None },
        };
        out.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        serde_json::to_writer(&mut *out, &row).map_err(io::Error::other)?;
    }
    out.write_all(if l.rows.is_empty() { b"]\n" } else { b"\n]\n" })
}

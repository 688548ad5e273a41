//! `tcpdoctor sockets` as a table or as JSON.

use crate::gather::Listing;
use crate::listing::{LikelyOwner, OwnerRef, Side, SocketRow};
use crate::model::{Endpoint, Process, TcpInfo, Timer};
use serde::Serialize;
use std::io::{self, Write};

/// "41s", "3m12s", "2h05m", "3d04h"; "-" when unknown.
pub fn format_age(age: Option<f64>) -> String {
    let Some(a) = age else { return "-".to_string() };
    let s = a.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

fn owner_cell(r: &SocketRow) -> String {
    if !r.owners.is_empty() {
        return r
            .owners
            .iter()
            .map(|o| format!("{}/{} fd {}", o.pid, o.comm, o.fd))
            .collect::<Vec<_>>()
            .join(", ");
    }
    if !r.likely_owners.is_empty() {
        let who = r
            .likely_owners
            .iter()
            .map(|o| format!("{}/{}", o.pid, o.comm))
            .collect::<Vec<_>>()
            .join(", ");
        return format!("likely {who}");
    }
    match r.side {
        Some(Side::Inbound) => "- (closed by us as server)".to_string(),
        Some(Side::Outbound) => "- (closed by us as client)".to_string(),
        None => "-".to_string(),
    }
}

fn remote_cell(e: &Endpoint) -> String {
    if e.port == 0 && e.ip.is_unspecified() {
        "*".to_string()
    } else {
        e.to_string()
    }
}

fn timer_cell(r: &SocketRow) -> String {
    let t = match r.socket.timer {
        Timer::None => return "-".to_string(),
        Timer::Retransmit => "on",
        Timer::KeepAlive => "keepalive",
        Timer::TimeWait => "timewait",
        Timer::ZeroWindowProbe => "persist",
        Timer::Other(_) => "other",
    };
    format!("{t},{:.1}s", f64::from(r.socket.timer_ms) / 1000.0)
}

/// The table: narrow by default, `wide` adds uid, inode, timer, cookie and
/// the owners' command lines. A NETNS column appears when several
/// namespaces were read.
pub fn text(l: &Listing, wide: bool, out: &mut dyn Write) -> io::Result<()> {
    let several = l.namespaces.len() > 1;
    let cells: Vec<[String; 3]> = l
        .rows
        .iter()
        .map(|r| {
            [
                r.socket.local.to_string(),
                remote_cell(&r.socket.remote),
                format_age(r.age_s),
            ]
        })
        .collect();
    let lw = cells.iter().map(|c| c[0].len()).max().unwrap_or(0).max(5);
    let rw = cells.iter().map(|c| c[1].len()).max().unwrap_or(0).max(6);
    let mut header = String::new();
    if several {
        header.push_str(&format!("{:<12} ", "NETNS"));
    }
    header.push_str(&format!(
        "{:<11} {:<lw$} {:<rw$} {:>7} {:>7} {:>7}",
        "STATE", "LOCAL", "REMOTE", "RECV-Q", "SEND-Q", "AGE"
    ));
    if wide {
        header.push_str(&format!(
            " {:>6} {:>10} {:<16} {:<18}",
            "UID", "INODE", "TIMER", "COOKIE"
        ));
    }
    header.push_str(" OWNER");
    writeln!(out, "{header}")?;
    for (r, c) in l.rows.iter().zip(&cells) {
        let mut line = String::new();
        if several {
            line.push_str(&format!(
                "{:<12} ",
                r.netns.map_or("-".to_string(), |n| n.to_string())
            ));
        }
        line.push_str(&format!(
            "{:<11} {:<lw$} {:<rw$} {:>7} {:>7} {:>7}",
            r.socket.state.netstat_name(),
            c[0],
            c[1],
            r.socket.recv_q,
            r.socket.send_q,
            c[2]
        ));
        if wide {
            let cookie = r
                .socket
                .cookie
                .map_or("-".to_string(), |c| format!("{c:x}"));
            line.push_str(&format!(
                " {:>6} {:>10} {:<16} {:<18}",
                r.socket.uid,
                r.socket.inode,
                timer_cell(r),
                cookie
            ));
        }
        line.push(' ');
        line.push_str(&owner_cell(r));
        if wide {
            let cmd = r
                .owners
                .first()
                .and_then(|o| l.process(o.pid))
                .map(|p| p.cmdline.as_str())
                .unwrap_or("");
            if !cmd.is_empty() {
                line.push_str(&format!("  [{cmd}]"));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[derive(Serialize)]
struct OwnerJson<'a> {
    #[serde(flatten)]
    owner: &'a OwnerRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<&'a Process>,
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
    likely_owners: &'a [LikelyOwner],
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

/// A JSON array of rows. `wide` adds each owner's process details and the
/// socket's tcp_info.
pub fn json(l: &Listing, wide: bool, out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<RowJson> = l
        .rows
        .iter()
        .map(|r| RowJson {
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
                    owner: o,
                    process: if wide { l.process(o.pid) } else { None },
                })
                .collect(),
            likely_owners: &r.likely_owners,
            side: r.side,
            inode: r.socket.inode,
            uid: r.socket.uid,
            timer: r.socket.timer,
            timer_ms: r.socket.timer_ms,
            cookie: r.socket.cookie,
            netns: r.netns,
            tcp_info: if wide { r.socket.info.as_ref() } else { None },
        })
        .collect();
    super::json(&rows, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_person_would_write_them() {
        assert_eq!(format_age(None), "-");
        assert_eq!(format_age(Some(41.4)), "41s");
        assert_eq!(format_age(Some(192.0)), "3m12s");
        assert_eq!(format_age(Some(7500.0)), "2h05m");
        assert_eq!(format_age(Some(273_600.0)), "3d04h");
    }
}

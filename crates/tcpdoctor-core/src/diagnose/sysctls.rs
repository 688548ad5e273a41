//! The sysctls tcpdoctor knows: what each does (the text `explain`
//! prints) and a verdict on a value set in a sysctl file (`tcpdoctor
//! sysctl` says one for every TCP-related line). One table, in one place.

use crate::model::{HostInfo, SysctlSetting};

/// What a knob set in a file does to the problems it is usually set for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A sensible value, or the default.
    Fine,
    /// It does not do what it is usually set for; harmless otherwise.
    NoEffect,
    /// It works, at a cost worth knowing.
    Risky,
    /// It breaks something.
    Harmful,
}

/// The verdict on one line.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LineVerdict {
    pub location: String,
    pub key: String,
    pub value: String,
    pub level: Level,
    pub reason: String,
}

/// What a verdict may look at besides the value: the live host.
pub(crate) struct Review<'a> {
    pub host: &'a HostInfo,
    /// Ports something listens on here.
    pub listening: &'a [u16],
}

type Judge = fn(&str, &Review) -> (Level, String);

/// A sysctl tcpdoctor knows: what it does (for `explain`) and how to judge
/// a value set in a file (for `tcpdoctor sysctl`).
pub(crate) struct Knob {
    pub name: &'static str,
    pub text: &'static str,
    judge: Judge,
}

fn int(v: &str) -> Option<i64> {
    v.trim().parse().ok()
}

fn fin_timeout(v: &str, _: &Review) -> (Level, String) {
    match int(v) {
        Some(n) if n < 60 => (
            Level::NoEffect,
            "shortens only orphaned FIN_WAIT2; TIME_WAIT stays 60 s and CLOSE_WAIT ends only with \
             close() (sysctl-fin-timeout)"
                .into(),
        ),
        _ => (
            Level::Fine,
            "the default bound on orphaned FIN_WAIT2".into(),
        ),
    }
}

fn tw_reuse(v: &str, r: &Review) -> (Level, String) {
    match int(v) {
        Some(0) => (
            Level::Fine,
            "off: clients never reuse ports in TIME_WAIT".into(),
        ),
        Some(_) if r.host.sysctl_i64("net.ipv4.tcp_timestamps") == Some(0) => (
            Level::NoEffect,
            "needs tcp_timestamps, which is off here: nothing is reused".into(),
        ),
        Some(1) => (
            Level::Fine,
            "lets clients reuse TIME_WAIT ports toward the same server (safe with timestamps); \
             it does nothing for a server's TIME_WAIT"
                .into(),
        ),
        _ => (Level::Fine, "loopback-only reuse (the default)".into()),
    }
}

fn tw_recycle(v: &str, r: &Review) -> (Level, String) {
    if r.host.kernel_version().is_none_or(|k| k >= (4, 12)) {
        (
            Level::Harmful,
            "removed in Linux 4.12: the line fails at boot; delete it (sysctl-tw-recycle)".into(),
        )
    } else if int(v) == Some(0) {
        (Level::Fine, "off".into())
    } else {
        (
            Level::Harmful,
            "drops connections from clients behind NAT at random; never enable it \
             (sysctl-tw-recycle)"
                .into(),
        )
    }
}

fn max_tw_buckets(v: &str, r: &Review) -> (Level, String) {
    let default = r
        .host
        .sysctl_i64("net.ipv4.tcp_ehash_entries")
        .map(|e| e.abs() / 2);
    match (int(v), default) {
        (Some(n), Some(d)) if n < d => (
            Level::Risky,
            format!(
                "below the default {d}: TIME_WAIT beyond it is destroyed at once, losing its \
                 protection; it does not make connections faster (sysctl-max-tw-buckets)"
            ),
        ),
        _ => (Level::Fine, "at or above the default".into()),
    }
}

fn port_range(v: &str, r: &Review) -> (Level, String) {
    let Some((lo, hi)) = crate::model::parse_port_range(v) else {
        return (
            Level::Harmful,
            "not two ports: the kernel rejects the line".into(),
        );
    };
    if lo > hi {
        return (
            Level::Harmful,
            "low above high: the kernel rejects the line".into(),
        );
    }
    let reserved = r
        .host
        .sysctls
        .get("net.ipv4.ip_local_reserved_ports")
        .map(|s| crate::model::parse_reserved_ports(s))
        .unwrap_or_default();
    let clash: Vec<String> = r
        .listening
        .iter()
        .filter(|p| (lo..=hi).contains(*p) && !reserved.contains(*p))
        .map(|p| p.to_string())
        .collect();
    let ports = u32::from(hi) - u32::from(lo) + 1;
    if !clash.is_empty() {
        return (
            Level::Risky,
            format!(
                "{ports} ports, but it covers port(s) {} that services listen on here: an \
                 outgoing connection can take one while the service restarts, which then fails \
                 to bind (EADDRINUSE); list them in net.ipv4.ip_local_reserved_ports",
                clash.join(", ")
            ),
        );
    }
    if ports < 28_232 {
        (
            Level::Risky,
            format!("{ports} ports, fewer than the default 28,232 (sysctl-port-range)"),
        )
    } else {
        (
            Level::Fine,
            format!("{ports} ephemeral ports per (local IP, remote IP, remote port)"),
        )
    }
}

fn syncookies(v: &str, _: &Review) -> (Level, String) {
    if int(v) == Some(0) {
        (
            Level::Harmful,
            "off: a full SYN queue drops real clients (sysctl-syncookies)".into(),
        )
    } else {
        (Level::Fine, "on: the defence against SYN floods".into())
    }
}

fn timestamps(v: &str, _: &Review) -> (Level, String) {
    if int(v) == Some(0) {
        (
            Level::Risky,
            "off: tcp_tw_reuse stops working and PAWS and RTT estimates are lost".into(),
        )
    } else {
        (Level::Fine, "on (the default)".into())
    }
}

fn syn_backlog(_: &str, _: &Review) -> (Level, String) {
    (
        Level::Fine,
        "raises the half-open (SYN_RECV) queue; useful under real load, with syncookies on; no \
         effect on TIME_WAIT or CLOSE_WAIT"
            .into(),
    )
}

fn somaxconn(_: &str, _: &Review) -> (Level, String) {
    (
        Level::Fine,
        "caps listen() backlogs; raise it with the application's own backlog when accept queues \
         overflow"
            .into(),
    )
}

fn max_orphans(_: &str, _: &Review) -> (Level, String) {
    (
        Level::Fine,
        "the orphan limit; each orphan may pin ~64 KB, so raise it only with the memory".into(),
    )
}

fn fine_reserved(_: &str, _: &Review) -> (Level, String) {
    (
        Level::Fine,
        "keeps these ports out of the ephemeral range".into(),
    )
}

fn syn_retries(v: &str, _: &Review) -> (Level, String) {
    match int(v) {
        Some(n) if n < 3 => (
            Level::Risky,
            format!(
                "{n}: connect() gives up after a few seconds, so a lossy path or a busy server \
                 looks dead; no effect on TIME_WAIT or CLOSE_WAIT"
            ),
        ),
        _ => (
            Level::Fine,
            "how long connect() waits for a SYN-ACK; no effect on TIME_WAIT or CLOSE_WAIT".into(),
        ),
    }
}

fn synack_retries(_: &str, _: &Review) -> (Level, String) {
    (
        Level::Fine,
        "how long a SYN_RECV slot waits; syncookies are the defence against floods".into(),
    )
}

fn keepalive(_: &str, _: &Review) -> (Level, String) {
    (
        Level::NoEffect,
        "only for sockets that enable SO_KEEPALIVE; finds dead peers, but does not end \
         CLOSE_WAIT (only close() does) or TIME_WAIT"
            .into(),
    )
}

fn orphan_retries(v: &str, _: &Review) -> (Level, String) {
    (
        Level::Fine,
        format!(
            "{v}: frees unacknowledged FIN_WAIT1 orphans sooner toward dead peers; no effect on \
             TIME_WAIT or CLOSE_WAIT"
        ),
    )
}

fn retries2(v: &str, _: &Review) -> (Level, String) {
    match int(v) {
        Some(n) if n < 8 => (
            Level::Risky,
            format!("{n}: established connections drop after a short outage"),
        ),
        _ => (Level::Fine, "how long a dead connection is retried".into()),
    }
}

fn netdev(_: &str, _: &Review) -> (Level, String) {
    (
        Level::NoEffect,
        "the NIC-to-stack packet queue; unrelated to TCP states, accept queues or SYN floods"
            .into(),
    )
}

/// The verdicts on the sysctl files of a snapshot, judged against the
/// host's own namespace (the one the files configure).
pub(crate) fn review(snap: &crate::model::Snapshot) -> Vec<LineVerdict> {
    let Some(ns) = snap.namespaces.iter().find(|n| n.netns.current) else {
        return Vec::new();
    };
    let mut listening: Vec<u16> = ns
        .sockets
        .iter()
        .filter(|s| s.state == crate::model::TcpState::Listen)
        .map(|s| s.local.port)
        .collect();
    listening.sort_unstable();
    listening.dedup();
    review_lines(
        &snap.sysctl_settings,
        &Review {
            host: &ns.host,
            listening: &listening,
        },
    )
}

/// The verdict on every TCP-related line of the sysctl files: known knobs
/// judged, other net.* and tcp lines said to be unreviewed.
fn review_lines(settings: &[SysctlSetting], review: &Review) -> Vec<LineVerdict> {
    settings
        .iter()
        .filter(|s| {
            s.key.starts_with("net.ipv4.tcp")
                || s.key.starts_with("net.ipv4.ip_local")
                || s.key.starts_with("net.core.")
        })
        .map(|s| {
            let (level, reason) = match KNOBS.iter().find(|k| k.name == s.key) {
                Some(k) => (k.judge)(&s.value, review),
                None => (
                    Level::Fine,
                    "not one tcpdoctor reviews; nothing here says it matters for TCP states".into(),
                ),
            };
            LineVerdict {
                location: s.location(),
                key: s.key.clone(),
                value: s.value.clone(),
                level,
                reason,
            }
        })
        .collect()
}

/// Every knob, in the order `explain list` shows them.
pub(crate) static KNOBS: &[Knob] = &[
    Knob {
        name: "net.ipv4.tcp_fin_timeout",
        text: "How long an orphaned FIN_WAIT2 socket (closed here, the peer has not closed) is \
            kept: default 60 s. It does NOT change TIME_WAIT (a fixed 60 s) and does NOT end \
            CLOSE_WAIT (only close() does): lowering it \"to reduce TIME_WAIT\" is a myth. Rule: \
            sysctl-fin-timeout.",
        judge: fin_timeout,
    },
    Knob {
        name: "net.ipv4.tcp_tw_reuse",
        text: "0 off, 1 on, 2 loopback only (the default). Lets connect() reuse a local port in \
            TIME_WAIT toward the same peer after tcp_tw_reuse_delay (1 s); needs tcp_timestamps. \
            Only outgoing connections: it does nothing for a server's TIME_WAIT. Each reuse \
            counts TcpExt TWRecycled. Rules: sysctl-tw-reuse-inbound, \
            sysctl-tw-reuse-no-timestamps.",
        judge: tw_reuse,
    },
    Knob {
        name: "net.ipv4.tcp_tw_recycle",
        text: "Removed in Linux 4.12. It dropped SYNs whose timestamps went backwards per source \
            IP, which broke clients behind NAT, and since 4.10 (randomised timestamp offsets) \
            everyone. Never enable it; delete it from sysctl.conf files. Rule: sysctl-tw-recycle.",
        judge: tw_recycle,
    },
    Knob {
        name: "net.ipv4.tcp_max_tw_buckets",
        text: "The most TIME_WAIT sockets a namespace keeps; default half the established hash. \
            Beyond it new ones are destroyed at once (TCPTimeWaitOverflow, \"time wait bucket \
            table overflow\"). Do not lower it to cut TIME_WAIT. Rules: tw-bucket-overflow, \
            sysctl-max-tw-buckets.",
        judge: max_tw_buckets,
    },
    Knob {
        name: "net.ipv4.ip_local_port_range",
        text: "The ephemeral ports connect() picks from; default 32768-60999 (28,232). Ports are \
            per (local IP, remote IP, remote port), TIME_WAIT included: at 60 s each that is ~470 \
            new connections per second per upstream. Exhausted, connect() fails with \
            EADDRNOTAVAIL. Rules: port-exhaustion, sysctl-port-range.",
        judge: port_range,
    },
    Knob {
        name: "net.ipv4.ip_local_reserved_ports",
        text: "Ports inside ip_local_port_range that connect() must not pick (keep listening ports \
            there when widening the range). tcpdoctor subtracts them from the usable range.",
        judge: fine_reserved,
    },
    Knob {
        name: "net.ipv4.tcp_max_orphans",
        text: "The most orphaned sockets (closed by their process, TCP still finishing) before the \
            kernel resets them (TCPAbortOnMemory, \"too many orphaned sockets\"). Each may pin \
            ~64 KB of memory. Global, not per namespace. Rule: orphan-limit.",
        judge: max_orphans,
    },
    Knob {
        name: "net.ipv4.tcp_max_syn_backlog",
        text: "How many half-open (SYN_RECV) connections a listener keeps before syncookies or \
            drops take over. Rule: syn-backlog.",
        judge: syn_backlog,
    },
    Knob {
        name: "net.core.somaxconn",
        text: "The cap on the backlog any listen() may ask for: the length of an accept queue. \
            Rule: accept-queue-overflow.",
        judge: somaxconn,
    },
    Knob {
        name: "net.ipv4.tcp_syncookies",
        text: "1 (default): answer SYNs statelessly when the SYN queue is full, so a SYN flood \
            does not lock out real clients. Keep it on. Rule: sysctl-syncookies.",
        judge: syncookies,
    },
    Knob {
        name: "net.ipv4.tcp_timestamps",
        text: "TCP timestamps (default 1): needed by tcp_tw_reuse, PAWS and good RTT estimates. \
            Turning them off silently disables tcp_tw_reuse. Rule: sysctl-tw-reuse-no-timestamps.",
        judge: timestamps,
    },
    Knob {
        name: "net.ipv4.tcp_syn_retries",
        text: "How many times connect() resends an unanswered SYN (default 6: about 127 s before \
            ETIMEDOUT). Lower fails faster toward a dead server; too low (1-2) makes a lossy \
            path or a server with a full SYN queue look dead. It does nothing for TIME_WAIT, \
            CLOSE_WAIT or SYN floods aimed at this host.",
        judge: syn_retries,
    },
    Knob {
        name: "net.ipv4.tcp_synack_retries",
        text: "How many times a listener resends its SYN-ACK to a client that does not answer \
            (default 5). Lower frees SYN_RECV slots sooner under a SYN flood (syncookies are the \
            real defence); it does nothing for TIME_WAIT or CLOSE_WAIT.",
        judge: synack_retries,
    },
    Knob {
        name: "net.ipv4.tcp_keepalive_time",
        text: "Idle seconds before TCP keepalive probes start, for sockets that enable \
            SO_KEEPALIVE (default 7200). Lower finds dead peers sooner and keeps NAT and \
            firewall state alive. It does not end CLOSE_WAIT (the peer already closed; only \
            close() ends it) and does nothing for TIME_WAIT.",
        judge: keepalive,
    },
    Knob {
        name: "net.ipv4.tcp_keepalive_intvl",
        text: "Seconds between keepalive probes (default 75), for sockets with SO_KEEPALIVE. \
            With tcp_keepalive_time and tcp_keepalive_probes it sets how long a dead peer goes \
            unnoticed. No effect on TIME_WAIT or CLOSE_WAIT.",
        judge: keepalive,
    },
    Knob {
        name: "net.ipv4.tcp_keepalive_probes",
        text: "Unanswered keepalive probes before a connection is dropped (default 9), for \
            sockets with SO_KEEPALIVE. No effect on TIME_WAIT or CLOSE_WAIT.",
        judge: keepalive,
    },
    Knob {
        name: "net.ipv4.tcp_orphan_retries",
        text: "How many times an orphaned socket (closed by its process, FIN not acknowledged) \
            resends before it is dropped; 0 means the kernel default of 8. Lower frees FIN_WAIT1 \
            orphans sooner toward dead peers; it does nothing for TIME_WAIT or CLOSE_WAIT.",
        judge: orphan_retries,
    },
    Knob {
        name: "net.ipv4.tcp_retries2",
        text: "How many retransmissions of data before an established connection is dropped \
            (default 15: about 15 minutes). Lower detects dead peers sooner but drops \
            connections over a briefly broken path. Unrelated to TIME_WAIT or CLOSE_WAIT.",
        judge: retries2,
    },
    Knob {
        name: "net.core.netdev_max_backlog",
        text: "Packets queued per CPU between the network card and the TCP stack (default \
            1000). Raising it helps when a fast NIC overflows that queue (softnet_stat drops); \
            it has nothing to do with TCP states, accept queues or SYN floods.",
        judge: netdev,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn line(n: usize, key: &str, value: &str) -> SysctlSetting {
        SysctlSetting {
            file: PathBuf::from("/etc/sysctl.conf"),
            line: n,
            key: key.into(),
            value: value.into(),
        }
    }

    /// The block copied from a popular post about TIME_WAIT and CLOSE_WAIT:
    /// every line gets a verdict, and the ones that do nothing for what they
    /// are set for say so.
    #[test]
    fn a_blog_block_gets_a_verdict_per_line() {
        let block = [
            ("net.ipv4.tcp_syn_retries", "2"),
            ("net.ipv4.tcp_keepalive_time", "1200"),
            ("net.ipv4.tcp_orphan_retries", "3"),
            ("net.ipv4.tcp_fin_timeout", "30"),
            ("net.ipv4.tcp_max_syn_backlog", "4096"),
            ("net.ipv4.tcp_syncookies", "1"),
            ("net.ipv4.tcp_tw_reuse", "1"),
            ("net.ipv4.tcp_tw_recycle", "1"),
            ("net.ipv4.tcp_keepalive_probes", "5"),
            ("net.core.netdev_max_backlog", "3000"),
        ];
        let settings: Vec<SysctlSetting> = block
            .iter()
            .enumerate()
            .map(|(i, (k, v))| line(i + 1, k, v))
            .collect();
        let host = HostInfo {
            kernel_release: Some("6.18.0".into()),
            ..HostInfo::default()
        };
        let v = review_lines(
            &settings,
            &Review {
                host: &host,
                listening: &[],
            },
        );
        assert_eq!(v.len(), block.len(), "every line");
        let level = |k: &str| v.iter().find(|l| l.key == k).map(|l| l.level);
        assert_eq!(level("net.ipv4.tcp_tw_recycle"), Some(Level::Harmful));
        assert_eq!(level("net.ipv4.tcp_fin_timeout"), Some(Level::NoEffect));
        assert_eq!(level("net.ipv4.tcp_keepalive_time"), Some(Level::NoEffect));
        assert_eq!(level("net.core.netdev_max_backlog"), Some(Level::NoEffect));
        assert_eq!(level("net.ipv4.tcp_syn_retries"), Some(Level::Risky));
        assert_eq!(level("net.ipv4.tcp_syncookies"), Some(Level::Fine));
        assert!(v.iter().all(|l| !l.reason.is_empty()));
    }

    #[test]
    fn a_port_range_over_listening_ports_names_them() {
        let host = HostInfo::default();
        let v = review_lines(
            &[line(1, "net.ipv4.ip_local_port_range", "1024 65000")],
            &Review {
                host: &host,
                listening: &[22, 5432, 8080],
            },
        );
        assert_eq!(v[0].level, Level::Risky);
        assert!(v[0].reason.contains("5432, 8080"), "{}", v[0].reason);
        assert!(
            v[0].reason.contains("ip_local_reserved_ports"),
            "{}",
            v[0].reason
        );
    }

    #[test]
    fn every_knob_has_an_explanation() {
        for k in KNOBS {
            assert!(!k.text.is_empty(), "{}", k.name);
        }
    }
}

//! The host's own counters, per namespace: sockstat, the TcpExt and Tcp
//! counters the rules read, and the numeric sysctls they use.

use super::{Collector, Input, Writer};
use crate::model::{COUNTERS_THAT_MATTER, TCP_COUNTERS_THAT_MATTER};

/// The sysctls exported: the ones the rules compare against.
const SYSCTLS: &[&str] = &[
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_max_syn_backlog",
    "net.core.somaxconn",
    "net.ipv4.tcp_syncookies",
];

/// `tcpdoctor_sockstat`, `tcpdoctor_netstat_tcpext_total`,
/// `tcpdoctor_snmp_tcp_total` and `tcpdoctor_sysctl`: what could be read
/// (a figure the kernel lacks is left out, not written as 0).
pub(super) struct HostCounters;

impl Collector for HostCounters {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        let fast = input.fast;
        {
            let mut f = out.gauge(
                "tcpdoctor_sockstat",
                "/proc/net/sockstat TCP figures: inuse, orphan, tw, alloc, mem (pages).",
            );
            for s in fast {
                if let Some(ss) = s.host.sockstat {
                    for (k, v) in [
                        ("inuse", ss.inuse),
                        ("orphan", ss.orphan),
                        ("tw", ss.tw),
                        ("alloc", ss.alloc),
                        ("mem", ss.mem_pages),
                    ] {
                        f.sample(&[("netns", &s.netns), ("field", k)], v as f64);
                    }
                }
            }
        }
        {
            let mut f = out.counter(
                "tcpdoctor_netstat_tcpext_total",
                "Selected /proc/net/netstat TcpExt counters.",
            );
            for s in fast {
                for c in COUNTERS_THAT_MATTER {
                    if let Some(v) = s.host.tcp_ext.get(*c) {
                        f.sample(&[("netns", &s.netns), ("counter", c)], *v as f64);
                    }
                }
            }
        }
        {
            let mut f = out.counter(
                "tcpdoctor_snmp_tcp_total",
                "Selected /proc/net/snmp Tcp counters.",
            );
            for s in fast {
                for c in TCP_COUNTERS_THAT_MATTER {
                    if let Some(v) = s.host.tcp.get(*c) {
                        f.sample(&[("netns", &s.netns), ("counter", c)], *v as f64);
                    }
                }
            }
        }
        let mut f = out.gauge(
            "tcpdoctor_sysctl",
            "Numeric TCP sysctls that the rules use.",
        );
        for s in fast {
            for k in SYSCTLS {
                if let Some(v) = s.host.sysctl_i64(k) {
                    f.sample(&[("netns", &s.netns), ("name", k)], v as f64);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::FullMetrics;
    use super::super::tests::{input_of, written};
    use super::*;
    use crate::model::NamespaceCount;
    use crate::model::Sockstat;

    #[test]
    fn what_was_read_is_written_and_what_was_not_is_left_out() {
        let mut s = NamespaceCount::default();
        s.host.sockstat = Some(Sockstat {
            tw: 12,
            ..Sockstat::default()
        });
        s.host.tcp_ext.insert("ListenOverflows".into(), 3);
        s.host.tcp_ext.insert("NotOneThatMatters".into(), 9);
        s.host.tcp.insert("ActiveOpens".into(), 40);
        s.host
            .sysctls
            .insert("net.ipv4.tcp_fin_timeout".into(), "60\n".into());
        s.host
            .sysctls
            .insert("net.ipv4.tcp_tw_reuse".into(), "not a number".into());
        let full = FullMetrics::default();
        let fast = [s];
        let input = Input {
            fast: &fast,
            ..input_of(&full)
        };
        let text = written(&HostCounters, &input);
        for line in [
            "tcpdoctor_sockstat{netns=\"\",field=\"tw\"} 12\n",
            "# TYPE tcpdoctor_netstat_tcpext_total counter\n",
            "tcpdoctor_netstat_tcpext_total{netns=\"\",counter=\"ListenOverflows\"} 3\n",
            "tcpdoctor_snmp_tcp_total{netns=\"\",counter=\"ActiveOpens\"} 40\n",
            "tcpdoctor_sysctl{netns=\"\",name=\"net.ipv4.tcp_fin_timeout\"} 60\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!text.contains("NotOneThatMatters"));
        assert!(!text.contains("tcp_tw_reuse"));
        assert_eq!(text.matches("tcpdoctor_sockstat{").count(), 5);
    }
}

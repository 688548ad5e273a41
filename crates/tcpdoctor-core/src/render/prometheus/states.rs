//! The census: sockets per state, per namespace.

use super::{Collector, Input, Writer};
use crate::model::TcpState;

/// `tcpdoctor_sockets`, every state of every namespace (0s included, so a
/// state that empties reads 0 rather than vanishing).
pub(super) struct Sockets;

impl Collector for Sockets {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        let mut f = out.gauge(
            "tcpdoctor_sockets",
            "TCP sockets per state (sock_diag census), per network namespace.",
        );
        for s in input.fast {
            for st in TcpState::ALL {
                let n = s.states.get(&st).copied().unwrap_or(0);
                f.sample(
                    &[("netns", &s.netns), ("state", st.netstat_name())],
                    n as f64,
                );
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

    #[test]
    fn every_state_is_written_and_missing_ones_are_zero() {
        let full = FullMetrics::default();
        let fast = [NamespaceCount {
            netns: "web".into(),
            states: [(TcpState::TimeWait, 7)].into_iter().collect(),
            ..NamespaceCount::default()
        }];
        let input = Input {
            fast: &fast,
            ..input_of(&full)
        };
        let text = written(&Sockets, &input);
        assert_eq!(text.lines().count(), 2 + TcpState::ALL.len());
        assert!(text.contains("tcpdoctor_sockets{netns=\"web\",state=\"TIME_WAIT\"} 7\n"));
        assert!(text.contains("tcpdoctor_sockets{netns=\"web\",state=\"LISTEN\"} 0\n"));
    }
}

//! A narrow ip_local_port_range.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Recommendation, Rule, RuleDoc, Severity, Threshold, Unit,
};
use crate::model::Needs;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "sysctl-port-range",
    category: Category::Sysctl,
    needs: Needs::HOST,
    diagram: None,
    trigger: "net.ipv4.ip_local_port_range is narrower than the default 32768-60999 (28,232 \
        ports): fewer outgoing connections per upstream.",
    levels: "warning under --port-range-warn ports; info under the default (28,232)",
    thresholds: &[&PORT_RANGE_WARN],
    remedy: "Widen it (the default, or e.g. 10000-65000 with service ports in \
        ip_local_reserved_ports).",
};

static PORT_RANGE_WARN: Threshold = Threshold {
    flag: "port-range-warn",
    default: 10000.0,
    unit: Unit::Count,
    help: "Ephemeral ports in ip_local_port_range under which a narrow range is a warning.",
};

pub(super) struct SysctlPortRange;

const KEY: &str = "net.ipv4.ip_local_port_range";
const DEFAULT_PORTS: u32 = 60999 - 32768 + 1;

impl Rule for SysctlPortRange {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let Some((lo, hi)) = cx.host.local_port_range() else {
            return Vec::new();
        };
        let ports = u32::from(hi).saturating_sub(u32::from(lo)) + 1;
        let severity = if f64::from(ports) < cx.thresholds.get(&PORT_RANGE_WARN) {
            Severity::Warning
        } else if ports < DEFAULT_PORTS {
            Severity::Info
        } else {
            return Vec::new();
        };
        vec![
            Finding::new(
                DOC.id,
                severity,
                KEY.into(),
                format!(
                    "{KEY} = {lo} {hi}: {ports} \
                ephemeral ports (default {DEFAULT_PORTS})"
                ),
            )
            .evidence(
                Evidence::default()
                    .with("low", lo)
                    .with("high", hi)
                    .with("ports", ports)
                    .with(
                        "sustainable_new_connections_per_s_per_upstream",
                        (f64::from(ports) / 60.0).round(),
                    ),
            )
            .explain(format!(
                "Each (local IP, remote IP, remote port) can have at most {ports} \
                    connections at once, TIME_WAIT included, which sustains about {:.0} new \
                    connections per second to one upstream.",
                f64::from(ports) / 60.0
            ))
            .remedy(
                "Widen the range: net.ipv4.ip_local_port_range = 32768 60999 (the default) \
                    or wider, keeping listening ports out of it with \
                    net.ipv4.ip_local_reserved_ports."
                    .into(),
            )
            .with_recommend(Recommendation {
                key: KEY.into(),
                value: Some("32768 60999".into()),
                location: None,
            }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities};

    fn range(r: &str) -> Vec<Finding> {
        Host::new().sysctl(KEY, r).findings(&SysctlPortRange)
    }

    #[test]
    fn width_edges() {
        assert!(range("32768 60999").is_empty());
        assert_eq!(severities(&range("32769 60999")), [Severity::Info]);
        assert_eq!(severities(&range("50000 59999")), [Severity::Info]);
        assert_eq!(severities(&range("50000 59998")), [Severity::Warning]);
    }
}

//! The exporter about itself: when the full refresh last ran and how long
//! it took, each collector's outcome in this scrape, and its version.

use super::{Collector, Input, Writer};

/// `tcpdoctor_full_refresh_*`, `tcpdoctor_scrape_collector_*` (as
/// node_exporter names them) and `tcpdoctor_build_info`.
pub(super) struct Status;

impl Collector for Status {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        let full = input.full;
        out.gauge(
            "tcpdoctor_full_refresh_timestamp_seconds",
            "When owners and findings were last computed (they are cached between \
                --full-interval refreshes).",
        )
        .sample(&[], full.refreshed_unix as f64);
        out.gauge(
            "tcpdoctor_full_refresh_duration_seconds",
            "How long the last full refresh took.",
        )
        .sample(&[], full.duration_s);
        {
            let mut f = out.gauge(
                "tcpdoctor_scrape_collector_success",
                "Whether a collector succeeded in this scrape.",
            );
            for (c, ok, _) in input.collectors {
                f.sample(&[("collector", c)], if *ok { 1.0 } else { 0.0 });
            }
        }
        {
            let mut f = out.gauge(
                "tcpdoctor_scrape_collector_duration_seconds",
                "How long a collector took in this scrape.",
            );
            for (c, _, d) in input.collectors {
                f.sample(&[("collector", c)], *d);
            }
        }
        out.gauge("tcpdoctor_build_info", "tcpdoctor's version.")
            .sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::super::FullMetrics;
    use super::super::tests::{input_of, written};
    use super::*;

    #[test]
    fn the_refresh_each_collector_and_the_version_are_reported() {
        let full = FullMetrics {
            refreshed_unix: 1_790_000_000,
            duration_s: 0.25,
            ..FullMetrics::default()
        };
        let collectors = [("census", true, 0.125), ("full", false, 2.0)];
        let input = Input {
            collectors: &collectors,
            ..input_of(&full)
        };
        let text = written(&Status, &input);
        for line in [
            "tcpdoctor_full_refresh_timestamp_seconds 1790000000\n",
            "tcpdoctor_full_refresh_duration_seconds 0.25\n",
            "tcpdoctor_scrape_collector_success{collector=\"census\"} 1\n",
            "tcpdoctor_scrape_collector_success{collector=\"full\"} 0\n",
            "tcpdoctor_scrape_collector_duration_seconds{collector=\"full\"} 2\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        let version = format!(
            "tcpdoctor_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.ends_with(&version));
    }
}

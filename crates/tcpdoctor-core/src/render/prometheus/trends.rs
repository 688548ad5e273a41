//! Growth over the exporter's refreshes and when limits break at that
//! growth: CLOSE_WAIT growth per process, time until RLIMIT_NOFILE, time
//! until a tuple's ephemeral ports run out.

use super::{Collector, FullMetrics, Input, Writer};
use crate::model::Trends as Observed;

/// Fills the trend figures of `m` from the observed trends, each the `top` most
/// urgent first: fastest growth, soonest exhaustion (ties by pid).
pub(super) fn add(m: &mut FullMetrics, t: &Observed, top: usize) {
    m.trend_window_s = t.window_s;
    let mut growth: Vec<(String, u32, f64)> = t
        .processes
        .iter()
        .filter_map(|p| Some((p.comm.clone(), p.pid, p.close_wait_growth_per_min?)))
        .filter(|(_, _, g)| *g != 0.0)
        .collect();
    growth.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
    growth.truncate(top);
    m.close_wait_growth = growth;
    let mut fd_left: Vec<(String, u32, f64)> = t
        .processes
        .iter()
        .filter_map(|p| Some((p.comm.clone(), p.pid, p.time_to_fd_limit_s?)))
        .collect();
    fd_left.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)));
    fd_left.truncate(top);
    m.fd_exhaustion_s = fd_left;
    let mut ports_left: Vec<(String, String, f64)> = t
        .upstreams
        .iter()
        .filter_map(|u| {
            Some((
                u.local_ip.to_string(),
                u.remote.to_string(),
                u.time_to_exhaustion_s?,
            ))
        })
        .collect();
    ports_left.sort_by(|a, b| a.2.total_cmp(&b.2));
    ports_left.truncate(top);
    m.port_exhaustion_s = ports_left;
}

/// `tcpdoctor_close_wait_growth_per_minute`, `tcpdoctor_fd_exhaustion_seconds`,
/// `tcpdoctor_port_exhaustion_seconds` and `tcpdoctor_trend_window_seconds`
/// (0 until a second refresh gives a window).
pub(super) struct Trends;

impl Collector for Trends {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        let full = input.full;
        out.process_gauge(
            "tcpdoctor_close_wait_growth_per_minute",
            "Net CLOSE_WAIT growth of a process per minute, by socket cookie (new minus gone) \
                over tcpdoctor_trend_window_seconds of the exporter's refreshes (top N).",
            &full.close_wait_growth,
            |g| g,
        );
        out.process_gauge(
            "tcpdoctor_fd_exhaustion_seconds",
            "Seconds until a process's open fds reach RLIMIT_NOFILE at their growth over the \
                trend window (only processes whose fds grow).",
            &full.fd_exhaustion_s,
            f64::round,
        );
        {
            let mut f = out.gauge(
                "tcpdoctor_port_exhaustion_seconds",
                "Seconds until a (local IP, remote) tuple uses every usable ephemeral port at \
                    its growth over the trend window (only growing ones).",
            );
            for (lip, remote, s) in &full.port_exhaustion_s {
                f.sample(&[("local_ip", lip), ("remote", remote)], s.round());
            }
        }
        out.gauge(
            "tcpdoctor_trend_window_seconds",
            "The measured window the growth and exhaustion figures are over (0 before the \
                exporter's second refresh).",
        )
        .sample(&[], full.trend_window_s);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{input_of, written};
    use super::*;
    use crate::model::{ProcessRow, UpstreamRow};

    #[test]
    fn the_most_urgent_come_first_and_flat_growth_is_left_out() {
        let proc_row = |pid, growth, left| ProcessRow {
            pid,
            comm: format!("p{pid}"),
            close_wait_growth_per_min: growth,
            time_to_fd_limit_s: left,
            ..ProcessRow::default()
        };
        let upstream = |port, left| UpstreamRow {
            netns: 0,
            local_ip: "10.0.0.1".parse().expect("ip"),
            remote: format!("10.0.0.9:{port}").parse().expect("endpoint"),
            in_use: 0,
            usable: 0,
            new_per_s: None,
            growth_per_min: None,
            time_to_exhaustion_s: left,
        };
        let t = Observed {
            window_s: 120.0,
            processes: vec![
                proc_row(1, Some(2.0), Some(900.4)),
                proc_row(2, Some(6.0), None),
                proc_row(3, Some(0.0), Some(30.6)),
                proc_row(4, None, None),
            ],
            upstreams: vec![
                upstream(1, Some(50.0)),
                upstream(2, Some(7.5)),
                upstream(3, None),
            ],
            ..Observed::default()
        };
        let mut m = FullMetrics::default();
        add(&mut m, &t, 10);
        assert_eq!(m.trend_window_s, 120.0);
        assert_eq!(
            m.close_wait_growth,
            vec![("p2".into(), 2, 6.0), ("p1".into(), 1, 2.0)]
        );
        assert_eq!(
            m.fd_exhaustion_s,
            vec![("p3".into(), 3, 30.6), ("p1".into(), 1, 900.4)]
        );
        assert_eq!(m.port_exhaustion_s[0].1, "10.0.0.9:2");
        assert_eq!(m.port_exhaustion_s.len(), 2);
        let text = written(&Trends, &input_of(&m));
        for line in [
            "tcpdoctor_close_wait_growth_per_minute{process=\"p2\",pid=\"2\"} 6\n",
            "tcpdoctor_fd_exhaustion_seconds{process=\"p3\",pid=\"3\"} 31\n",
            "tcpdoctor_port_exhaustion_seconds{local_ip=\"10.0.0.1\",remote=\"10.0.0.9:2\"} 8\n",
            "tcpdoctor_trend_window_seconds 120\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn without_trends_the_families_are_empty_and_the_window_is_zero() {
        let text = written(&Trends, &input_of(&FullMetrics::default()));
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 1);
        assert!(text.ends_with("tcpdoctor_trend_window_seconds 0\n"));
    }
}

//! A live snapshot written and read back: the same census and findings.

use super::json;
use crate::support::{TempDir, run};
use std::collections::BTreeMap;

#[test]
#[ignore = "needs root"]
fn a_snapshot_reads_back_to_the_same_census_and_findings() {
    use tcpdoctor_core::collect::ProcRoot;
    use tcpdoctor_core::collect::plan::{self, SnapshotPlan};
    use tcpdoctor_core::diagnose::{self, Selection, Thresholds};
    use tcpdoctor_core::model::NetnsSelector;
    use tcpdoctor_core::offline::{self, analyze};
    use tcpdoctor_testkit::netns::run_in_private_netns;
    use tcpdoctor_testkit::states::build_every_state;
    use tcpdoctor_testkit::wait_until;
    let dir = TempDir::new("snapshot");
    run_in_private_netns(|| {
        let pop = build_every_state(9600, 1).expect("builds");
        let plan = SnapshotPlan {
            interval: std::time::Duration::ZERO,
            sysctl_files: Vec::new(),
            ..SnapshotPlan::new(Selection::All.needs())
        };
        let th = Thresholds::default();
        let mut snap = None;
        wait_until("a settled snapshot", || {
            let s = plan::snapshot(&ProcRoot::live(), &NetnsSelector::Current, &plan)
                .map_err(std::io::Error::other)?;
            let n = s.namespaces[0].sockets.len() as u64;
            snap = Some(s);
            Ok(n == pop.total())
        })
        .expect("settles");
        let snap = snap.expect("taken");
        let live = diagnose::run(&snap, &th, Selection::All);
        for name in ["snap.json", "snap.json.gz"] {
            let path = dir.join(name);
            offline::snapshot::write(&snap, &path).expect("writes");
            let (back, _) =
                analyze::snapshot(std::slice::from_ref(&path), None, false).expect("reads back");
            assert!(back == snap, "{name}: the file holds the snapshot exactly");
            let d = diagnose::run(&back, &th, Selection::All);
            assert_eq!(d.findings, live.findings, "{name}");
            let o = run(&[
                "analyze",
                "--view",
                "census",
                "--json",
                path.to_str().expect("utf-8"),
            ]);
            let states: BTreeMap<String, u64> =
                serde_json::from_value(json(&o)["states"].clone()).expect("states");
            let want: BTreeMap<String, u64> = pop
                .expected
                .iter()
                .map(|(s, n)| (s.netstat_name().to_string(), *n))
                .collect();
            assert_eq!(states, want, "{name}");
            let o = run(&["analyze", "--json", path.to_str().expect("utf-8")]);
            let ids: Vec<String> = json(&o)["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .filter_map(|f| f["id"].as_str().map(String::from))
                .collect();
            let live_ids: Vec<String> = live.findings.iter().map(|f| f.id.to_string()).collect();
            assert_eq!(ids, live_ids, "{name}: the CLI reads it the same way");
        }
        // The snapshot command writes the same kind of file.
        let path = dir.join("cli.json.gz");
        let o = run(&[
            "snapshot",
            "-o",
            path.to_str().expect("utf-8"),
            "--interval",
            "0",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (back, _) =
            analyze::snapshot(std::slice::from_ref(&path), None, false).expect("reads back");
        assert_eq!(back.namespaces[0].sockets.len() as u64, pop.total());
        assert!(
            !back.namespaces[0].host.sysctls.is_empty()
                && back.namespaces[0].host.kernel_release.is_some()
        );
    })
    .expect("namespace");
}

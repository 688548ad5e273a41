//! Without the privileges eBPF needs: the same results, and a note.

use crate::support::{EXE, bin, run, stderr, wait_until};
use std::process::Command;
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::build_every_state;

/// Runs the binary as root without the capabilities eBPF needs (CAP_BPF,
/// CAP_PERFMON, CAP_SYS_ADMIN): what a container or a hardened host gives.
fn run_without_bpf(args: &[&str]) -> std::process::Output {
    let drop = "-bpf,-perfmon,-sys_admin";
    Command::new("setpriv")
        .args([
            &format!("--bounding-set={drop}"),
            &format!("--inh-caps={drop}"),
        ])
        .arg(EXE)
        .args(args)
        .output()
        .expect("setpriv runs")
}

/// Without the privileges eBPF needs, the census, owners and trace fall
/// back (or refuse, for trace) with one note saying why, and the results
/// are those the eBPF sources give.
#[test]
#[ignore = "needs root"]
fn with_ebpf_privileges_dropped_results_are_the_same_and_a_note_says_why() {
    run_in_private_netns(|| {
        let pop = build_every_state(9300, 2).expect("builds");
        let json = |o: &std::process::Output| -> serde_json::Value {
            assert!(o.status.success(), "{}", stderr(o));
            serde_json::from_slice(&o.stdout).expect("JSON")
        };
        let mut pair = (serde_json::Value::Null, serde_json::Value::Null);
        wait_until("both censuses see the population", || {
            pair = (
                json(&run(&["census", "--json", "--source", "bpf"])),
                json(&run_without_bpf(&["census", "--json"])),
            );
            Ok(pair.0["total"] == serde_json::json!(pop.total())
                && pair.0["states"] == pair.1["states"])
        })
        .unwrap_or_else(|e| panic!("{e}: {pair:?}"));
        let (with, without) = pair;
        assert_eq!(with["source"], "bpf_walk", "{with}");
        assert_eq!(with["notes"], serde_json::json!([]));
        assert_eq!(without["source"], "netlink");
        // With the hash walk turned off, iter/tcp counts the same.
        let iter = bin()
            .args(["census", "--json", "--source", "bpf"])
            .env("TCPDOCTOR_NO_BPF_WALK", "1")
            .output()
            .expect("runs tcpdoctor");
        let iter = json(&iter);
        assert_eq!(iter["source"], "bpf_iter", "{iter}");
        assert_eq!(
            iter["states"], with["states"],
            "iter/tcp and the walk agree"
        );
        // Asked for by name, the eBPF census refuses and says why; left to
        // choose (every namespace: one load serves them all), it falls back
        // with a note.
        let o = run_without_bpf(&["census", "--source", "bpf"]);
        assert_eq!(o.status.code(), Some(3));
        assert!(stderr(&o).contains("CAP_BPF"), "{}", stderr(&o));
        let all = json(&run_without_bpf(&["census", "--json", "--netns", "all"]));
        let notes = all["notes"].as_array().cloned().unwrap_or_default();
        assert!(
            notes
                .iter()
                .filter_map(|n| n.as_str())
                .any(|n| { n.contains("eBPF census is unavailable") && n.contains("CAP_BPF") }),
            "{all}"
        );

        // Owners: the fd iterator and the /proc scan name the same holders.
        let owners = |o: std::process::Output| -> Vec<String> {
            let rows = json(&o);
            let mut v: Vec<String> = rows
                .as_array()
                .expect("rows")
                .iter()
                .filter(|r| r["state"] != "TIME_WAIT")
                .map(|r| {
                    format!(
                        "{} {} {} {}",
                        r["state"], r["local"], r["remote"], r["owners"]
                    )
                })
                .collect();
            v.sort();
            v
        };
        let dropped = run_without_bpf(&["sockets", "--json"]);
        assert!(
            stderr(&dropped).contains("owners read from /proc/*/fd"),
            "{}",
            stderr(&dropped)
        );
        assert_eq!(owners(run(&["sockets", "--json"])), owners(dropped));

        // Tracing cannot fall back: it says what is missing and exits 3.
        let o = run_without_bpf(&["trace", "--for", "0.1"]);
        assert_eq!(o.status.code(), Some(3));
        assert!(
            stderr(&o).contains("cannot trace") && stderr(&o).contains("CAP_BPF"),
            "{}",
            stderr(&o)
        );
    })
    .expect("private namespace");
}

/// The tracer holds kernel memory for its tables and ring (~35 MB) while
/// it runs: its start line says how much, as the kernel accounts it.
#[test]
#[ignore = "needs root"]
fn the_tracer_says_how_much_kernel_memory_it_holds() {
    let o = run(&["trace", "--for", "0.1", "--summary-only"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let start = stderr(&o);
    let start = start.lines().next().unwrap_or_default();
    assert!(
        start.contains("holding ") && start.contains("of kernel memory"),
        "{start}"
    );
}

/// Where eBPF cannot run, diagnose cannot trace closers while it waits:
/// the TIME_WAIT finding says its closer is a guess and names the command
/// that would know, and a note says why.
#[test]
#[ignore = "needs root"]
fn without_ebpf_a_time_wait_finding_says_its_closer_is_a_guess_and_how_to_know() {
    run_in_private_netns(|| {
        let pop = build_every_state(9400, 2).expect("builds");
        assert!(pop.total() > 0);
        let o = run_without_bpf(&[
            "diagnose",
            "--json",
            "--time-wait-info",
            "1",
            "--sysctl-file",
            "/dev/null",
        ]);
        let d: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
        let churn = d["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["id"] == "time-wait-client-churn")
            .unwrap_or_else(|| panic!("a churn finding in {d:#}"));
        let title = churn["title"].as_str().expect("title");
        assert!(
            title.contains("a guess: `sudo tcpdoctor trace --for 10` names the closer"),
            "{title}"
        );
        assert!(
            d.to_string()
                .contains("closers not traced (loading eBPF programs was refused"),
            "a note says why: {d:#}"
        );
    })
    .expect("a private namespace");
}

/// `census --by process` from the owner pass (no full dump: owned sockets
/// as the pass saw them, TIME_WAIT from a dump of that state, the rest
/// counted in the kernel) equals the full dump joined with the /proc scan,
/// on a population of every state.
#[test]
#[ignore = "needs root"]
fn census_by_process_in_one_pass_equals_the_full_dump_joined_with_proc() {
    run_in_private_netns(|| {
        let pop = build_every_state(9500, 2).expect("builds");
        let args = ["census", "--by", "process", "--json", "--top", "1000"];
        let one_pass = ["census", "--by", "process", "--json", "--top", "1000", "--source", "bpf"];
        let counts = |v: &serde_json::Value| {
            serde_json::json!({"total": v["total"], "states": v["states"], "groups": v["groups"]})
        };
        let mut pair = (serde_json::Value::Null, serde_json::Value::Null);
        wait_until("both see the whole population", || {
            let one: serde_json::Value = serde_json::from_slice(&run(&one_pass).stdout)?;
            let joined: serde_json::Value = serde_json::from_slice(&run_without_bpf(&args).stdout)?;
            pair = (counts(&one), counts(&joined));
            Ok(one["total"] == serde_json::json!(pop.total()) && pair.0 == pair.1)
        })
        .unwrap_or_else(|e| panic!("{e}: {pair:#?}"));
        let groups = pair.0["groups"].to_string();
        assert!(groups.contains("TIME_WAIT"), "TIME_WAIT is attributed: {groups}");
    })
    .expect("a private namespace");
}

//! `watch --record` files that were not closed cleanly: cut short (a
//! watch killed, a disk that filled), with a corrupt line, or ended by
//! SIGHUP (an SSH session that drops). `replay` reads every complete
//! sample, says how the file ends, and refuses only a file without any.

use crate::support::{Kill, TempDir, bin, fixture, run, stderr, stdout, wait_until};
use std::path::Path;
use std::process::{Output, Stdio};

fn proc_root() -> String {
    fixture("every-state/proc").display().to_string()
}

/// Records `count` samples of the fixture host to `file`.
fn record(file: &Path, count: &str) {
    let o = run(&[
        "--proc-root",
        &proc_root(),
        "watch",
        "--json",
        "--interval",
        "0.1",
        "--count",
        count,
        "--record",
        &file.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn replay(file: &Path) -> Output {
    run(&["replay", &file.display().to_string(), "--json"])
}

fn lines(o: &Output) -> Vec<String> {
    stdout(o).lines().map(str::to_string).collect()
}

#[test]
fn a_recording_cut_short_replays_its_complete_samples_with_a_note() {
    let dir = TempDir::new("rec-cut");
    let whole = dir.join("whole.gz");
    record(&whole, "3");
    let full = replay(&whole);
    assert!(full.status.success(), "{}", stderr(&full));
    assert_eq!(lines(&full).len(), 3, "{}", stdout(&full));
    assert_eq!(stderr(&full), "", "a finished recording has no note");
    let bytes = std::fs::read(&whole).expect("reads");
    // Without its last 10 bytes (the end of the stream, the trailer):
    // every sample, and a note that the recorder did not finish.
    let tail = dir.write("tail.gz", &bytes[..bytes.len() - 10]);
    let o = replay(&tail);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines(&o), lines(&full));
    assert!(
        stderr(&o).contains("tail.gz: truncated after sample 3: the recorder did not finish"),
        "{}",
        stderr(&o)
    );
    // Cut anywhere further in (every 7 bytes back to the middle): the
    // samples before the cut and the note, or, cut inside the first
    // sample, an error naming the file.
    let mut fewer = false;
    for cut in (bytes.len() / 2..bytes.len() - 10).step_by(7) {
        let name = format!("cut-{cut}.gz");
        let f = dir.write(&name, &bytes[..cut]);
        let o = replay(&f);
        let got = lines(&o);
        assert_eq!(got[..], lines(&full)[..got.len()], "{name}");
        fewer |= got.len() < 3;
        if got.is_empty() {
            assert_eq!(o.status.code(), Some(3), "{name}");
            assert!(stderr(&o).contains(&name), "{name}: {}", stderr(&o));
            continue;
        }
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("{name}: truncated after sample {}", got.len())),
            "{name}: {}",
            stderr(&o)
        );
    }
    assert!(fewer, "some cut falls before the last sample");
}

#[test]
fn a_corrupt_line_is_skipped_and_garbage_is_refused_by_name() {
    let dir = TempDir::new("rec-corrupt");
    let whole = dir.join("whole.gz");
    record(&whole, "2");
    let samples = lines(&replay(&whole));
    assert_eq!(samples.len(), 2);
    let header = "{\"tcpdoctor_recording\":1,\"header\":\"h\",\"interval_s\":0.1,\
                  \"started_unix_s\":0.0}";
    let text = format!(
        "{header}\n{}\n{{\"states\": oops\n{}\n",
        samples[0], samples[1]
    );
    let f = dir.write("corrupt.ndjson", text);
    let o = replay(&f);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines(&o), samples);
    assert!(
        stderr(&o).contains("corrupt.ndjson:3: skipped a corrupt line"),
        "{}",
        stderr(&o)
    );
    for (name, text) in [
        ("garbage.gz", "\x1f\u{8b}garbage".to_string()),
        ("garbage.ndjson", "garbage\n".repeat(5)),
        (
            "no-sample.ndjson",
            format!("{header}\n{}", "garbage\n".repeat(5)),
        ),
    ] {
        let f = dir.write(name, text);
        let o = replay(&f);
        assert_eq!(o.status.code(), Some(3), "{name}: {}", stdout(&o));
        assert!(stderr(&o).contains(name), "{name}: {}", stderr(&o));
    }
}

#[test]
fn a_watch_ended_by_sighup_leaves_a_finished_recording() {
    let dir = TempDir::new("rec-hup");
    let file = dir.join("hup.gz");
    let watch = Kill(
        bin()
            .args([
                "--proc-root",
                &proc_root(),
                "watch",
                "--json",
                "--interval",
                "0.1",
            ])
            .arg("--record")
            .arg(&file)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawns"),
    );
    wait_until("a sample in the recording", || {
        Ok(file.exists() && !lines(&replay(&file)).is_empty())
    })
    .expect("the watch records");
    let pid = libc::pid_t::try_from(watch.pid()).expect("a pid");
    // SAFETY: kill(2) with a valid signal number on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let mut watch = watch;
    let status = watch.0.wait().expect("waits");
    assert!(status.success(), "{status:?}");
    let o = replay(&file);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!lines(&o).is_empty());
    assert_eq!(stderr(&o), "", "finished cleanly: no truncation note");
}

#[test]
#[ignore = "needs root"]
fn a_full_disk_stops_the_recording_and_leaves_it_readable() {
    let dir = TempDir::new("rec-full");
    let (mnt, out) = (dir.join("mnt"), dir.join("copy.gz"));
    std::fs::create_dir(&mnt).expect("mkdir");
    // A one-page tmpfs in a private mount namespace fills after some
    // tens of samples; the watch goes on, then exits 3 saying so.
    let script = format!(
        "mount -t tmpfs -o size=4k none {m} || exit 99\n\
         {exe} --proc-root {root} watch --json --interval 0.1 --count 70 --record {m}/r.gz\n\
         rc=$?; cp {m}/r.gz {out}; exit $rc",
        m = mnt.display(),
        exe = crate::support::EXE,
        root = proc_root(),
        out = out.display()
    );
    let o = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare runs");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 70, "watching went on");
    let said = stderr(&o);
    assert!(said.contains("r.gz: No space left on device"), "{said}");
    assert!(
        said.contains("the recording stopped after sample"),
        "{said}"
    );
    let r = replay(&out);
    assert!(r.status.success(), "{}", stderr(&r));
    let n = lines(&r).len();
    assert!(n > 0 && n < 70, "{n}");
}

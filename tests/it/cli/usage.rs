//! The command line itself: help, usage errors, OS errors, the manual
//! pages and the configuration file.

use crate::support::{TempDir, fixture, run, stderr, stdout};

#[test]
fn help_documents_examples_and_exit_codes() {
    let o = run(&["--help"]);
    let h = stdout(&o);
    assert!(h.contains("EXAMPLES") && h.contains("EXIT STATUS"), "{h}");
    let o = run(&["census", "--help"]);
    assert!(stdout(&o).contains("--by"));
}

/// Non-finite, negative or absurd durations used to panic in
/// `Duration::from_secs_f64` (`diagnose --interval inf`, `serve
/// --client-timeout inf`); they are usage errors, exit 2, with a message.
#[test]
fn bad_durations_and_thresholds_are_usage_errors_not_panics() {
    for args in [
        &["diagnose", "--interval", "inf"][..],
        &["diagnose", "--interval", "-1"],
        &["diagnose", "--interval", "1e300"],
        &["snapshot", "-o", "/dev/null", "--interval", "NaN"],
        &["serve", "--client-timeout", "inf"],
        &["serve", "--full-interval", "0"],
        &["serve", "--top", "0"],
        &["diagnose", "--fd-warn", "1.5"],
        &["diagnose", "--close-wait-count", "2.5"],
        &["analyze", "--port-warn", "inf", "x"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error:"), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
}

/// The same kind of mistake gets the same exit code everywhere: an unknown
/// name is a usage error (2) for explain and for the lab alike.
#[test]
fn unknown_names_are_usage_errors_everywhere() {
    for args in [
        &["explain", "no-such-topic"][..],
        &["lab", "run", "no-such-scenario"],
        &[
            "lab",
            "role",
            "server",
            "--addr",
            "127.0.0.1:1",
            "--mode",
            "nope",
        ],
        &["census", "--by", "nope"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

/// Every threshold a rule declares is a flag of diagnose, analyze and
/// serve, with its default in the help.
#[test]
fn threshold_flags_come_from_the_rules_declarations() {
    for cmd in ["diagnose", "analyze", "serve"] {
        let help = stdout(&run(&[cmd, "--help"]));
        for t in tcpdoctor_core::diagnose::thresholds::all() {
            let flag = format!("--{} <{}>", t.flag, t.unit.value_name());
            assert!(help.contains(&flag), "{cmd} --help lacks {flag}");
        }
    }
    let o = run(&["diagnose", "--help"]);
    assert!(stdout(&o).contains("[default: 100]"), "{}", stdout(&o));
}

/// OS errors used to be printed twice ("...: No such file or directory (os
/// error 2): No such file or directory (os error 2)"), and a failed write of
/// a snapshot said "reading".
#[test]
fn an_os_error_is_said_once_and_a_failed_write_says_writing() {
    let o = run(&["analyze", "/nonexistent/dump.txt"]);
    assert_eq!(o.status.code(), Some(3));
    let e = stderr(&o);
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    assert!(e.contains("reading /nonexistent/dump.txt"), "{e}");
    let root = fixture("every-state/proc");
    let o = run(&[
        "--proc-root",
        root.to_str().expect("utf-8"),
        "snapshot",
        "--interval",
        "0",
        "-o",
        "/nonexistent/dir/snap.json",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let e = stderr(&o);
    assert!(e.contains("writing /nonexistent/dir/snap.json"), "{e}");
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
}

/// A snapshot holds every owner's command line: only its owner may read it.
#[test]
fn snapshot_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let root = fixture("every-state/proc");
    let dir = TempDir::new("mode");
    let out = dir.join("snap.json.gz");
    let o = run(&[
        "--proc-root",
        root.to_str().expect("utf-8"),
        "snapshot",
        "--interval",
        "0",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mode = std::fs::metadata(&out)
        .expect("written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// The manual pages are generated from the command line, so they are in
/// step with it: a page for every command `--help` lists, every long flag
/// of a command on its page, and the examples and exit statuses on
/// tcpdoctor(1).
#[test]
fn man_pages_follow_the_command_line() {
    // A directory that does not exist yet: `man` makes it.
    let tmp = TempDir::new("man");
    let dir = tmp.join("man1");
    let o = run(&["man", "--out-dir", dir.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let top = page("tcpdoctor.1");
    assert!(
        top.contains("EXIT STATUS") && top.contains("EXAMPLES"),
        "{top}"
    );
    let help = stdout(&run(&["--help"]));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("  "))
        // A command starts a line; its description's lines are indented more.
        .filter(|l| l.len() > 2 && !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 15, "{help}");
    for c in commands {
        let text = page(&format!("tcpdoctor-{c}.1"));
        let flags = stdout(&run(&[c, "--help"]));
        for flag in flags.split_whitespace().filter(|w| w.starts_with("--")) {
            let flag = flag.trim_end_matches([',', '.', ')', ':']);
            let flag = flag.split(['=', '<', '[']).next().unwrap_or(flag);
            if flag.len() > 2
                && flag
                    .chars()
                    .skip(2)
                    .all(|c| c.is_ascii_lowercase() || c == '-')
            {
                // roff escapes the hyphens of a flag: --top-n is \-\-top\-n.
                let roff = flag.replace('-', "\\-");
                assert!(text.contains(&roff), "tcpdoctor-{c}.1 lacks {flag}");
            }
        }
    }
}

/// The configuration file sets the defaults that flags override, and a bad
/// one is an error naming the file and line, except for the commands that
/// help mend it.
#[test]
fn the_config_file_sets_defaults_and_a_bad_one_names_its_line() {
    let dir = TempDir::new("config");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[serve]\ntop = 3\n\n[thresholds]\nclose-wait-count = 7\n",
    )
    .expect("writes");
    let o = run(&["--config", good.to_str().expect("utf-8"), "serve", "--help"]);
    assert!(stdout(&o).contains("[default: 3]"), "{}", stdout(&o));
    let o = run(&["--config", good.to_str().expect("utf-8"), "config"]);
    assert!(
        stdout(&o).contains("close-wait-count = 7  # line 5"),
        "{}",
        stdout(&o)
    );
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[thresholds]\nclose-wait-count = 7\nport-warn = 2\n").expect("writes");
    let o = run(&["--config", bad.to_str().expect("utf-8"), "census"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.toml:3: port-warn:"),
        "file, line and key: {}",
        stderr(&o)
    );
    let o = run(&[
        "--config",
        bad.to_str().expect("utf-8"),
        "config",
        "--default",
    ]);
    assert!(o.status.success() && stdout(&o).contains("# port-warn = "));
    // `config` and `--version` are how a broken file is mended: they run,
    // and say that the file was not used.
    for args in [&["config"][..], &["--version"][..], &["-V"][..]] {
        let mut argv = vec!["--config", bad.to_str().expect("utf-8")];
        argv.extend_from_slice(args);
        let o = run(&argv);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("bad.toml:3: port-warn:")
                && stderr(&o).contains("the built-in defaults are used"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

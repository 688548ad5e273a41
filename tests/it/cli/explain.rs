//! `explain`: states, findings, sysctls and error messages.

use crate::support::{run, stderr, stdout};

#[test]
fn explain_knows_states_findings_and_sysctls() {
    let o = run(&["explain", "time-wait"]);
    assert!(o.status.success());
    let t = stdout(&o);
    assert!(t.contains("> ") && t.contains("[TIME_WAIT]"), "{t}");
    assert!(t.contains("60 s"));
    assert!(stdout(&run(&["explain", "close-wait-leak"])).contains("When it fires"));
    assert!(stdout(&run(&["explain", "tcp_fin_timeout"])).contains("does NOT change TIME_WAIT"));
    let o = run(&["explain", "nonsense"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("states:"));
}

/// Users arrive with the message their program printed: explain knows the
/// messages and errno names, says which call fails, corrects the mix-up,
/// and with --port shows what holds that port here now.
#[test]
fn explain_knows_error_messages_and_shows_who_holds_a_port() {
    let o = run(&["explain", "Cannot assign requested address (os error 99)"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("EADDRNOTAVAIL"), "{text}");
    assert!(
        text.contains("connect()") && text.contains("ephemeral port"),
        "{text}"
    );
    for topic in [
        "EMFILE",
        "too many open files in system",
        "Connection refused",
        "ECONNRESET",
    ] {
        let o = run(&["explain", topic]);
        assert!(o.status.success(), "{topic}: {}", stderr(&o));
        assert!(stdout(&o).contains("Which call"), "{topic}");
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = l.local_addr().expect("addr").port().to_string();
    let o = run(&["explain", "Address already in use", "--port", &port]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("bind()"), "{text}");
    assert!(
        text.contains(&format!("{}/", std::process::id())) && text.contains("LISTEN"),
        "the listener and its process: {text}"
    );
    let o = run(&["explain", "time-wait", "--port", &port]);
    assert_eq!(o.status.code(), Some(2), "--port is for error topics");
}

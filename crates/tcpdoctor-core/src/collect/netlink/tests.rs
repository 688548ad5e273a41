use super::*;

/// One reply message, annotated field by field: an IPv4 TIME_WAIT
/// socket 127.0.0.1:40000 -> 127.0.0.2:8080 with 41.5 s left, followed
/// by the two attributes 6.18 adds unasked (INET_DIAG_SHUTDOWN and
/// INET_DIAG_SOCKOPT) and then NLMSG_DONE.
fn time_wait_reply() -> Vec<u8> {
    let mut m: Vec<u8> = Vec::new();
    let body_len = 16 + 72 + 8 + 8;
    m.extend((body_len as u32).to_ne_bytes()); // nlmsg_len
    m.extend(20u16.to_ne_bytes()); // nlmsg_type SOCK_DIAG_BY_FAMILY
    m.extend(0x2u16.to_ne_bytes()); // nlmsg_flags NLM_F_MULTI
    m.extend(7u32.to_ne_bytes()); // nlmsg_seq
    m.extend(1234u32.to_ne_bytes()); // nlmsg_pid
    m.push(2); // idiag_family AF_INET
    m.push(6); // idiag_state TCP_TIME_WAIT
    m.push(3); // idiag_timer 3 = TIME_WAIT
    m.push(0); // idiag_retrans
    m.extend(40000u16.to_be_bytes()); // id.sport (network order)
    m.extend(8080u16.to_be_bytes()); // id.dport
    m.extend([127, 0, 0, 1]); // id.src[0]
    m.extend([0; 12]); // id.src[1..4]
    m.extend([127, 0, 0, 2]); // id.dst[0]
    m.extend([0; 12]); // id.dst[1..4]
    m.extend(0u32.to_ne_bytes()); // id.if
    m.extend(0xdead_beefu32.to_ne_bytes()); // id.cookie[0]
    m.extend(0x1u32.to_ne_bytes()); // id.cookie[1]
    m.extend(41_500u32.to_ne_bytes()); // idiag_expires (ms)
    m.extend(0u32.to_ne_bytes()); // idiag_rqueue
    m.extend(0u32.to_ne_bytes()); // idiag_wqueue
    m.extend(0u32.to_ne_bytes()); // idiag_uid
    m.extend(0u32.to_ne_bytes()); // idiag_inode (none: no file)
    m.extend(5u16.to_ne_bytes()); // rta_len: INET_DIAG_SHUTDOWN, 1 byte
    m.extend(8u16.to_ne_bytes()); // rta_type 8
    m.extend([0, 0, 0, 0]); // the byte and 3 bytes of padding
    m.extend(6u16.to_ne_bytes()); // rta_len: INET_DIAG_SOCKOPT, 2 bytes
    m.extend(22u16.to_ne_bytes()); // rta_type 22 (unknown to us)
    m.extend([0, 0, 0, 0]); // 2 bytes and 2 of padding
    m.extend(20u32.to_ne_bytes()); // NLMSG_DONE: nlmsg_len
    m.extend(3u16.to_ne_bytes()); // nlmsg_type NLMSG_DONE
    m.extend(0x2u16.to_ne_bytes()); // NLM_F_MULTI
    m.extend(7u32.to_ne_bytes()); // seq
    m.extend(1234u32.to_ne_bytes()); // pid
    m.extend(0i32.to_ne_bytes()); // status 0: success
    m
}

#[test]
fn parses_an_annotated_time_wait_reply_and_skips_unknown_attributes() {
    let buf = time_wait_reply();
    let mut got = Vec::new();
    let out = parse_chunk(&buf, Family::V4, Some(7), &mut |s: &Socket| {
        got.push(s.clone())
    })
    .expect("parses");
    assert!(out.done);
    assert!(!out.interrupted);
    assert_eq!(got.len(), 1);
    let s = &got[0];
    assert_eq!(s.state, TcpState::TimeWait);
    assert_eq!(s.local.to_string(), "127.0.0.1:40000");
    assert_eq!(s.remote.to_string(), "127.0.0.2:8080");
    assert_eq!(s.timer, Timer::TimeWait);
    assert_eq!(s.timer_ms, 41_500);
    assert_eq!(s.inode, 0);
    assert_eq!(s.cookie, Some(0x1_dead_beef));
    assert_eq!(s.info, None);
}

#[test]
fn the_oracle_crate_reads_the_annotated_reply_the_same_way() {
    use netlink_packet_core::Parseable;
    use netlink_packet_sock_diag::inet::InetResponse;
    let buf = time_wait_reply();
    let oracle = InetResponse::parse(&buf[16..16 + 88]).expect("oracle parses");
    assert_eq!(oracle.header.state, 6);
    assert_eq!(oracle.header.socket_id.source_port, 40000);
    assert_eq!(
        oracle.header.socket_id.destination_address.to_string(),
        "127.0.0.2"
    );
}

#[test]
fn replies_to_the_one_walk_request_type_parse_too() {
    let mut buf = time_wait_reply();
    buf[4..6].copy_from_slice(&18u16.to_ne_bytes()); // TCPDIAG_GETSOCK
    let mut n = 0;
    let out = parse_chunk(&buf, Family::Both, Some(7), &mut |_: &Socket| n += 1).expect("parses");
    assert!(out.done);
    assert_eq!(n, 1);
}

#[test]
fn other_sequence_numbers_are_skipped() {
    let buf = time_wait_reply();
    let mut n = 0;
    let out = parse_chunk(&buf, Family::V4, Some(8), &mut |_: &Socket| n += 1).expect("parses");
    assert_eq!(n, 0);
    assert!(!out.done);
}

#[test]
fn dump_intr_is_reported() {
    let mut buf = time_wait_reply();
    buf[6] |= 0x10; // NLM_F_DUMP_INTR on the first message
    let out = parse_chunk(&buf, Family::V4, None, &mut |_: &Socket| {}).expect("parses");
    assert!(out.interrupted);
}

#[test]
fn nlmsg_error_becomes_a_kernel_error_with_its_errno() {
    let mut m = Vec::new();
    m.extend(36u32.to_ne_bytes());
    m.extend(2u16.to_ne_bytes()); // NLMSG_ERROR
    m.extend(0u16.to_ne_bytes());
    m.extend(1u32.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    m.extend((-libc::ENOENT).to_ne_bytes());
    m.extend([0u8; 16]); // the echoed request header
    let err =
        parse_chunk(&m, Family::V6, Some(1), &mut |_: &Socket| {}).expect_err("an error reply");
    let text = err.to_string();
    assert!(text.contains("IPv6"), "{text}");
    assert!(text.contains("No such file"), "{text}");
}

/// Regression: NLMSG_DONE carrying i32::MIN as its status overflowed
/// the negation into an errno and panicked (cargo fuzz, netlink_chunk).
#[test]
fn a_done_status_of_i32_min_is_an_error_not_a_panic() {
    let mut m = Vec::new();
    m.extend(21u32.to_ne_bytes());
    m.extend(3u16.to_ne_bytes()); // NLMSG_DONE
    m.extend(0u16.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    m.extend(i32::MIN.to_ne_bytes());
    m.push(0);
    assert!(parse_chunk(&m, Family::Both, None, &mut |_: &Socket| {}).is_err());
}

#[test]
fn a_failed_done_status_is_an_error() {
    let mut buf = time_wait_reply();
    let done_at = buf.len() - 4;
    buf[done_at..].copy_from_slice(&(-libc::EINTR).to_ne_bytes());
    assert!(parse_chunk(&buf, Family::V4, None, &mut |_: &Socket| {}).is_err());
}

#[test]
fn truncated_and_lying_lengths_are_errors_not_panics() {
    let buf = time_wait_reply();
    for cut in 0..buf.len() {
        let _ = parse_chunk(&buf[..cut], Family::V4, None, &mut |_: &Socket| {});
    }
    let mut bad = buf.clone();
    bad[0..4].copy_from_slice(&9999u32.to_ne_bytes());
    assert!(parse_chunk(&bad, Family::V4, None, &mut |_: &Socket| {}).is_err());
    let mut bad_attr = buf;
    bad_attr[16 + 72..16 + 74].copy_from_slice(&2u16.to_ne_bytes());
    assert!(parse_chunk(&bad_attr, Family::V4, None, &mut |_: &Socket| {}).is_err());
}

#[test]
fn short_tcp_info_from_old_kernels_zero_fills() {
    let mut b = vec![0u8; 104];
    b[0] = 8; // CLOSE_WAIT
    b[56..60].copy_from_slice(&1500u32.to_ne_bytes()); // last_ack_recv
    let info = parse_tcp_info(&b);
    assert_eq!(info.state, 8);
    assert_eq!(info.last_ack_recv_ms, 1500);
    assert_eq!(info.bytes_received, 0);
    assert!(!info.has_field(TcpInfo::END_BYTES_RECEIVED));
    let tiny = parse_tcp_info(&b[..10]);
    assert_eq!(tiny.len, 10);
    assert_eq!(tiny.last_ack_recv_ms, 0);
}

#[test]
fn request_layouts_match_inet_diag_req_and_req_v2() {
    let set: StateSet = [TcpState::TimeWait].into_iter().collect();
    let c = build_request(Family::Both, set, true, 9);
    assert_eq!(c.len(), 76);
    assert_eq!(u16::from_ne_bytes([c[4], c[5]]), 18);
    assert_eq!(c[16 + 3], 2);
    assert_eq!(u32::from_ne_bytes([c[68], c[69], c[70], c[71]]), 1 << 6);
    let r = build_request(Family::V6, set, true, 9);
    assert_eq!(u32::from_ne_bytes([r[0], r[1], r[2], r[3]]), 72);
    assert_eq!(u16::from_ne_bytes([r[4], r[5]]), 20);
    assert_eq!(r[16], libc::AF_INET6 as u8);
    assert_eq!(r[17], 6);
    assert_eq!(r[18], 2);
    assert_eq!(u32::from_ne_bytes([r[20], r[21], r[22], r[23]]), 1 << 6);
}

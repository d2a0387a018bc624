//! HTTP/1.x exchanges: pairing, pipelining, body framings, interim responses, lone halves,
//! hostile input.

use spider_processor_session::sequence;

use crate::track;
use crate::wire::{ACK, Conn, FIN, PSH};

/// A connection carrying `client` then `server` bytes (each in one segment), closed by FIN.
fn exchange(client: &[&[u8]], server: &[&[u8]]) -> crate::Outcome {
    let mut conn = Conn::new(41_000, 10, 20);
    let mut packets = conn.handshake();
    for bytes in client {
        packets.push(conn.send(true, ACK | PSH, bytes));
    }
    for bytes in server {
        packets.push(conn.send(false, ACK | PSH, bytes));
    }
    packets.extend(conn.close());
    track(packets)
}

#[test]
fn a_request_and_its_response_make_one_record_with_sizes_types_and_latency() {
    let outcome = exchange(
        &[b"POST /api/items?page=2 HTTP/1.1\r\nHost: shop.local:8080\r\nUser-Agent: curl/8\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"name\":\"a\"}\n"],
        &[b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ncreated"],
    );
    let http = &outcome.http[..];
    assert_eq!(http.len(), 1);
    let record = &http[0];
    assert_eq!(record.method.as_deref(), Some("POST"));
    assert_eq!(record.path.as_deref(), Some("/api/items"));
    assert_eq!(record.query.as_deref(), Some("page=2"));
    assert_eq!(record.host.as_deref(), Some("shop.local:8080"));
    assert_eq!(record.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(
        record.request_content_type.as_deref(),
        Some("application/json")
    );
    assert_eq!(record.response_content_type.as_deref(), Some("text/plain"));
    assert_eq!(record.version.as_deref(), Some("HTTP/1.1"));
    assert_eq!(
        (
            record.status,
            record.request_body_size,
            record.response_body_size
        ),
        (Some(201), Some(13), Some(7))
    );
    assert_eq!(record.latency_us, Some(1_000));
    assert_eq!(sequence(record.session_id), 0);
}

#[test]
fn pipelined_requests_pair_in_order_across_every_body_framing() {
    let requests: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\nGET /d HTTP/1.0\r\n\r\n";
    let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
    // HEAD: a Content-Length that announces no body on the wire.
    let head: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n";
    let not_modified: &[u8] = b"HTTP/1.1 304 Not Modified\r\n\r\n";
    let until_close: &[u8] = b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nthe rest of the stream";
    let outcome = exchange(&[requests], &[chunked, head, not_modified, until_close]);
    let seen: Vec<(String, u16, u64)> = outcome
        .http
        .iter()
        .map(|r| {
            (
                r.path.clone().unwrap(),
                r.status.unwrap(),
                r.response_body_size.unwrap(),
            )
        })
        .collect();
    let expected = [
        ("/a", 200, 12),
        ("/b", 200, 0),
        ("/c", 304, 0),
        ("/d", 200, 22),
    ];
    let expected: Vec<(String, u16, u64)> = expected
        .iter()
        .map(|(p, s, b)| (p.to_string(), *s, *b))
        .collect();
    assert_eq!(seen, expected);
    assert!(
        outcome.http.iter().all(|r| r.anomalies.is_none()),
        "{:?}",
        outcome.http
    );
}

#[test]
fn an_interim_100_continue_is_not_the_answer() {
    let outcome = exchange(
        &[
            b"PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
            b"abc",
        ],
        &[
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ],
    );
    assert_eq!(outcome.http.len(), 1);
    assert_eq!(outcome.http[0].status, Some(204));
    assert_eq!(outcome.http[0].request_body_size, Some(3));
}

#[test]
fn lone_requests_and_responses_are_records_too() {
    let unanswered = exchange(&[b"GET /lost HTTP/1.1\r\n\r\n"], &[]);
    assert_eq!(unanswered.http.len(), 1);
    assert_eq!(unanswered.http[0].path.as_deref(), Some("/lost"));
    assert_eq!(
        (unanswered.http[0].status, unanswered.http[0].response_time),
        (None, None)
    );

    let mut conn = Conn::new(41_001, 1, 2);
    let mut packets = conn.handshake();
    packets.push(conn.send(true, ACK | PSH, b"GET /x HTTP/1.1\r\n\r\n"));
    packets.push(conn.send(
        false,
        ACK | PSH,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ));
    packets.push(conn.send(
        false,
        ACK | PSH,
        b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
    ));
    let outcome = track(packets);
    assert_eq!(outcome.http.len(), 2);
    let orphan = &outcome.http[1];
    assert_eq!((orphan.method.as_deref(), orphan.status), (None, Some(500)));
    assert_eq!(
        orphan.anomalies.as_deref(),
        Some("response_without_request")
    );
}

#[test]
fn a_response_cut_by_the_end_of_the_capture_is_marked_truncated() {
    let mut conn = Conn::new(41_002, 1, 2);
    let mut packets = conn.handshake();
    packets.push(conn.send(true, ACK | PSH, b"GET /big HTTP/1.1\r\n\r\n"));
    packets.push(conn.send(
        false,
        ACK | PSH,
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial",
    ));
    let outcome = track(packets);
    let record = &outcome.http[0];
    assert_eq!(
        (record.status, record.response_body_size),
        (Some(200), Some(7))
    );
    assert_eq!(record.anomalies.as_deref(), Some("truncated"));
}

#[test]
fn a_lost_segment_inside_a_body_is_skipped_by_its_length_and_marked() {
    let mut conn = Conn::new(41_003, 1, 2);
    let mut packets = conn.handshake();
    packets.push(conn.send(
        true,
        ACK | PSH,
        b"GET /g HTTP/1.1\r\n\r\nGET /h HTTP/1.1\r\n\r\n",
    ));
    packets.push(conn.send(
        false,
        ACK | PSH,
        b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n0123456789",
    ));
    conn.server_seq = conn.server_seq.wrapping_add(10); // ten body bytes never captured
    packets.push(conn.send(
        false,
        ACK | PSH,
        b"0123456789HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    ));
    packets.extend(conn.close());
    let outcome = track(packets);
    let seen: Vec<_> = outcome
        .http
        .iter()
        .map(|r| (r.status, r.response_body_size, r.anomalies.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some(200), Some(30), Some("gap".into())),
            (Some(404), Some(0), None)
        ]
    );
}

#[test]
fn streams_that_are_not_http_make_no_records_and_hostile_heads_are_contained() {
    let ssh = exchange(&[b"SSH-2.0-OpenSSH_9.2\r\n"], &[b"SSH-2.0-OpenSSH_9.2\r\n"]);
    assert!(ssh.http.is_empty());
    assert_eq!(ssh.sessions.len(), 1);

    let mut conn = Conn::new(41_004, 1, 2);
    let mut packets = conn.handshake();
    packets.push(conn.send(true, ACK | PSH, b"GET /ok HTTP/1.1\r\n\r\n"));
    packets.push(conn.send(
        false,
        ACK | PSH,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ));
    // Then endless header lines: the head is given up past its cap, never held whole.
    packets.push(conn.send(true, ACK | PSH, b"GET /flood HTTP/1.1\r\n"));
    let line =
        b"X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(20);
    for _ in 0..60 {
        packets.push(conn.send(true, ACK | PSH, &line));
    }
    packets.push(conn.send(true, FIN | ACK, b""));
    let outcome = track(packets);
    let anomalies: Vec<_> = outcome.http.iter().map(|r| r.anomalies.clone()).collect();
    assert_eq!(anomalies, [None, Some("head_too_large".into())]);
}

#[test]
fn a_long_head_sent_a_byte_at_a_time_reads_as_sent_whole() {
    let long = "a".repeat(30_000);
    let head = format!("GET /{long}?q=1 HTTP/1.1\r\nHost: shop\r\nX-Pad: {long}\n\r\n");
    let response = b"HTTP/1.1 204 No Content\r\n\r\n";
    let whole = exchange(&[head.as_bytes()], &[response]);
    let bytes: Vec<&[u8]> = head.as_bytes().chunks(1).collect();
    let trickled = exchange(&bytes, &[response]);
    let fields = |outcome: &crate::Outcome| {
        let record = &outcome.http[0];
        (
            outcome.http.len(),
            record.path.clone(),
            record.query.clone(),
            record.host.clone(),
            record.status,
        )
    };
    assert_eq!(fields(&trickled), fields(&whole));
    assert_eq!(
        fields(&whole),
        (
            1,
            Some(format!("/{long}")),
            Some("q=1".into()),
            Some("shop".into()),
            Some(204)
        )
    );
}

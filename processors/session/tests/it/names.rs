//! Host names: DNS answers over UDP and TCP, TLS SNI (also split over two segments), HTTP Host;
//! and the server names they give sessions.

use std::net::{IpAddr, Ipv4Addr};

use spider_collector::records::NameSource;
use spider_testkit::payloads::{dns_answer, tls_client_hello};

use crate::track;
use crate::wire::{ACK, Conn, PSH, record, udp_frame};

fn names(outcome: &crate::Outcome) -> Vec<(IpAddr, String, NameSource)> {
    let mut names: Vec<_> = outcome
        .hosts
        .iter()
        .map(|h| (h.ip, h.name.clone(), h.source))
        .collect();
    names.sort_by(|a, b| (a.0, &a.1, a.2.as_str()).cmp(&(b.0, &b.1, b.2.as_str())));
    names
}

#[test]
fn dns_answers_name_addresses_and_the_sessions_that_follow() {
    let resolver = (Ipv4Addr::new(10, 0, 0, 53), 53);
    let client = (Ipv4Addr::new(10, 0, 0, 1), 5353);
    let server = Ipv4Addr::new(10, 0, 0, 2);
    let answer = dns_answer("Shop.Example.", &[server, Ipv4Addr::new(10, 0, 0, 3)]);
    let mut packets = vec![record(
        &udp_frame(resolver, client, &answer),
        1_700_000_000_000_000,
    )];
    let mut conn = Conn::new(42_000, 1, 2);
    packets.extend(conn.handshake());
    let outcome = track(packets);
    assert_eq!(
        names(&outcome),
        [
            (IpAddr::V4(server), "shop.example".into(), NameSource::Dns),
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)),
                "shop.example".into(),
                NameSource::Dns
            ),
        ]
    );
    assert_eq!(
        outcome.sessions[0].server_host.as_deref(),
        Some("shop.example")
    );
}

#[test]
fn a_dns_answer_cut_by_the_snap_length_gives_the_answers_that_are_whole() {
    let addresses = [
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(198, 51, 100, 2),
        Ipv4Addr::new(198, 51, 100, 3),
    ];
    let message = dns_answer("cut.example", &addresses);
    // The last answer is 16 bytes (compressed name, type, class, ttl, length, address): cut in it.
    let cut = &message[..message.len() - 6];
    let frame = udp_frame(
        (Ipv4Addr::new(10, 0, 0, 53), 53),
        (Ipv4Addr::new(10, 0, 0, 2), 5_353),
        cut,
    );
    assert_eq!(
        names(&track(vec![record(&frame, 1_700_000_000_000_000)])),
        addresses[..2]
            .iter()
            .map(|a| (IpAddr::V4(*a), "cut.example".to_owned(), NameSource::Dns))
            .collect::<Vec<_>>()
    );
}

#[test]
fn dns_over_tcp_answers_are_read_through_their_length_prefix() {
    let answer = dns_answer("tcp.example", &[Ipv4Addr::new(10, 9, 9, 9)]);
    let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&answer);
    let mut conn = Conn::new(42_001, 1, 2);
    conn.server.1 = 53;
    let mut packets = conn.handshake();
    packets.push(conn.send(true, ACK | PSH, &[0, 2, 0, 0]));
    // The answer arrives in two segments.
    let (head, tail) = framed.split_at(9);
    packets.push(conn.send(false, ACK | PSH, head));
    packets.push(conn.send(false, ACK | PSH, tail));
    let outcome = track(packets);
    assert_eq!(
        names(&outcome),
        [(
            IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)),
            "tcp.example".into(),
            NameSource::Dns
        )]
    );
}

#[test]
fn the_tls_server_name_is_read_even_when_the_client_hello_spans_segments() {
    let hello = tls_client_hello("secure.example");
    let mut conn = Conn::new(42_002, 1, 2);
    conn.server.1 = 443;
    let mut packets = conn.handshake();
    let (first, second) = hello.split_at(20);
    packets.push(conn.send(true, ACK | PSH, first));
    packets.push(conn.send(true, ACK | PSH, second));
    let outcome = track(packets);
    let server = IpAddr::V4(conn.server.0);
    assert_eq!(
        names(&outcome),
        [(server, "secure.example".into(), NameSource::Sni)]
    );
    assert_eq!(
        outcome.sessions[0].server_host.as_deref(),
        Some("secure.example")
    );
    assert!(outcome.http.is_empty());
}

#[test]
fn http_host_headers_name_the_server_without_port_and_never_as_an_address() {
    let mut conn = Conn::new(42_003, 1, 2);
    let mut packets = conn.handshake();
    packets.push(conn.send(
        true,
        ACK | PSH,
        b"GET / HTTP/1.1\r\nHost: api.example:8080\r\n\r\n",
    ));
    packets.push(conn.send(true, ACK | PSH, b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n"));
    let outcome = track(packets);
    assert_eq!(
        names(&outcome),
        [(
            IpAddr::V4(conn.server.0),
            "api.example".into(),
            NameSource::Host
        )]
    );
}

//! Fuzzing the parsers of captured streams (proptest): HTTP heads and whole conversations cut at
//! random, DNS messages over UDP and TCP, and TLS ClientHellos — well-formed ones mutated, and
//! noise. Nothing panics and nothing holds more than its bound. `PROPTEST_CASES` sets the number
//! of inputs (256 in CI; the long run in the README sets millions).

use proptest::prelude::*;
use spider_collector::records::Timestamp;
use spider_testkit::payloads::{dns_answer, tls_client_hello};

use crate::http::Conversation;
use crate::http::head::{parse_request, parse_response};
use crate::names::dns::{TcpMessages, answers};
use crate::names::tls::{SniSniffer, server_name};

/// Cuts, overwrites and noise applied to well-formed bytes.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>, tail: &[u8]) -> Vec<u8> {
    for &(at, value) in edits {
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] = value;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes.extend_from_slice(tail);
    bytes
}

/// Splits `bytes` into segments at the given offsets.
fn segments<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// An HTTP/1.1 message stream: requests (pipelined) or responses, some chunked.
fn http_stream(requests: bool, count: usize, body: &[u8], chunked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for n in 0..count {
        let start = if requests {
            format!("POST /items/{n}?page={n} HTTP/1.1\r\nHost: shop\r\nUser-Agent: t\r\n")
        } else {
            // Statuses that carry a body (a 204 or 304 has none, whatever its headers say).
            let status = [200, 201, 202, 404, 500][n % 5];
            format!("HTTP/1.1 {status} OK\r\nContent-Type: text/plain\r\n")
        };
        out.extend(start.as_bytes());
        if chunked {
            out.extend(b"Transfer-Encoding: chunked\r\n\r\n");
            if !body.is_empty() {
                out.extend(format!("{:x}\r\n", body.len()).as_bytes());
                out.extend(body);
                out.extend(b"\r\n");
            }
            out.extend(b"0\r\n\r\n");
        } else {
            out.extend(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend(body);
        }
    }
    out
}

fn noise() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..400)
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>()), 0..5)
}

proptest! {
    #[test]
    fn http_heads_of_noise_or_mutated_messages_parse_or_are_refused(
        requests in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        edits in edits(),
        cut in prop::option::of(any::<usize>()),
        tail in noise(),
    ) {
        let bytes = mutate(http_stream(requests, 1, &body, false), &edits, cut, &tail);
        for bytes in [&bytes[..], &tail[..]] {
            if let Ok((length, _)) = parse_request(bytes) {
                prop_assert!(length <= bytes.len());
            }
            if let Ok((length, _)) = parse_response(bytes) {
                prop_assert!(length <= bytes.len());
            }
        }
    }

    #[test]
    fn http_conversations_cut_anywhere_stay_bounded_and_pair_what_they_read(
        count in 1usize..6,
        body in prop::collection::vec(any::<u8>(), 0..200),
        chunked in any::<bool>(),
        client_edits in edits(),
        server_edits in edits(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        gap in prop::option::of((any::<bool>(), 0u64..5_000)),
    ) {
        let client = mutate(http_stream(true, count, &body, chunked), &client_edits, None, &[]);
        let server = mutate(http_stream(false, count, &body, chunked), &server_edits, None, &[]);
        let mut conversation = Conversation::default();
        let time = Timestamp::from_micros(1_700_000_000_000_000);
        let mut exchanges = 0;
        // Pipelined: every request, then every response, each stream cut at the same offsets.
        let parts = segments(&client, &cuts).into_iter().map(|part| (true, part));
        for (from_client, part) in parts.chain(segments(&server, &cuts).into_iter().map(|part| (false, part))) {
            if from_client {
                conversation.client_data(time, part);
            } else {
                conversation.server_data(time, part);
            }
            prop_assert!(conversation.buffered() < 200 * 1024);
            exchanges += conversation.take_done().len();
        }
        if let Some((from_client, length)) = gap {
            conversation.gap(from_client, length);
        }
        conversation.finish();
        exchanges += conversation.take_done().len();
        if client_edits.is_empty() && server_edits.is_empty() && gap.is_none() {
            prop_assert_eq!(exchanges, count, "unbroken streams pair every request");
        }
    }

    #[test]
    fn dns_messages_over_udp_and_tcp_never_panic(
        name in "[a-z]{1,12}(\\.[a-z]{1,12}){0,3}",
        address in any::<[u8; 4]>(),
        edits in edits(),
        cut in prop::option::of(any::<usize>()),
        tail in noise(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let message = dns_answer(&name, &[address.into()]);
        let expected = vec![(std::net::IpAddr::from(address), name.clone())];
        prop_assert_eq!(answers(&message), expected, "the well-formed message reads");
        let mutated = mutate(message, &edits, cut, &tail);
        let _ = answers(&mutated);
        let _ = answers(&tail);
        let mut framed = (mutated.len() as u16).to_be_bytes().to_vec();
        framed.extend(&mutated);
        let mut stream = TcpMessages::default();
        for part in segments(&framed, &cuts) {
            let _ = stream.feed(part);
            prop_assert!(stream.buffered() <= framed.len());
        }
    }

    #[test]
    fn tls_client_hellos_mutated_or_cut_never_panic(
        name in "[a-z]{1,20}(\\.[a-z]{1,10}){0,3}",
        edits in edits(),
        cut in prop::option::of(any::<usize>()),
        tail in noise(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let hello = tls_client_hello(&name);
        prop_assert_eq!(server_name(&hello), Some(name.clone()), "the well-formed hello reads");
        let mutated = mutate(hello, &edits, cut, &tail);
        let _ = server_name(&mutated);
        let _ = server_name(&tail);
        let mut sniffer = SniSniffer::default();
        for part in segments(&mutated, &cuts) {
            let _ = sniffer.feed(part);
            prop_assert!(sniffer.buffered() <= 5 + 16_384 + 256);
        }
    }
}

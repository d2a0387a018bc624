//! Application payloads that tests put into frames: DNS answers and TLS ClientHellos, the two
//! places besides HTTP that host names are learnt from.

use std::net::Ipv4Addr;

use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Name, Packet as Dns, QCLASS, QTYPE, Question, ResourceRecord, TYPE};

/// A DNS reply to an A query for `name`, answering each of `addresses`.
pub fn dns_answer(name: &str, addresses: &[Ipv4Addr]) -> Vec<u8> {
    let mut reply = Dns::new_reply(7);
    reply.questions.push(Question::new(
        Name::new(name).expect("a DNS name"),
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    for address in addresses {
        reply.answers.push(ResourceRecord::new(
            Name::new(name).expect("a DNS name"),
            CLASS::IN,
            60,
            RData::A(A::from(*address)),
        ));
    }
    reply.build_bytes_vec().expect("a DNS message")
}

/// A minimal TLS 1.2 record holding a ClientHello that asks for `name` (server_name extension).
pub fn tls_client_hello(name: &str) -> Vec<u8> {
    let name = name.as_bytes();
    let mut sni = Vec::new();
    sni.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    let mut extensions = vec![0, 0];
    extensions.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    extensions.extend_from_slice(&sni);
    let mut hello = vec![3, 3];
    hello.extend_from_slice(&[7; 32]);
    hello.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(&extensions);
    let mut handshake = vec![1, 0];
    handshake.extend_from_slice(&(hello.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

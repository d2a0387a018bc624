//! The kernel's connection tracking, read over netlink in the agent's network namespace (the
//! node's, where kube-proxy's rules translate pods' Service connections): a dump of the
//! translated connections, then the events of new and destroyed ones.
//!
//! Why conntrack: kube-proxy translates a pod's connection in the node's namespace, after the
//! packet left the pod, so no hook on the client's socket or in its namespace ever sees the
//! backend; conntrack is where the kernel keeps both views of the connection.

use std::io;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Tuple as CtTuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{AsyncSocket, AsyncSocketExt, Socket, SocketAddr, TokioSocket};

use crate::nat::{Translation, Tuple};

/// `NFNLGRP_CONNTRACK_NEW`.
const GROUP_NEW: u32 = 1;
/// `NFNLGRP_CONNTRACK_DESTROY`.
const GROUP_DESTROY: u32 = 3;
/// The socket buffer asked for the event stream: bursts of new connections between reads.
const EVENT_BUFFER_BYTES: usize = 8 << 20;

/// What conntrack said about one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A connection (new, or listed by a dump) with both its views.
    New(Translation),
    /// A connection ended; its original tuple.
    Destroyed(Tuple),
}

fn tuple(parts: &[CtTuple]) -> Option<Tuple> {
    let (mut src, mut dst, mut protocol, mut sport, mut dport) = (None, None, None, None, None);
    for part in parts {
        match part {
            CtTuple::Ip(addresses) => {
                for address in addresses {
                    match address {
                        IPTuple::SourceAddress(ip) => src = Some(ip.to_canonical()),
                        IPTuple::DestinationAddress(ip) => dst = Some(ip.to_canonical()),
                        _ => {}
                    }
                }
            }
            CtTuple::Proto(fields) => {
                for field in fields {
                    match field {
                        ProtoTuple::Protocol(p) => protocol = Some(u8::from(*p)),
                        ProtoTuple::SourcePort(port) => sport = Some(*port),
                        ProtoTuple::DestinationPort(port) => dport = Some(*port),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let protocol = protocol.filter(|p| *p == 6 || *p == 17)?;
    Some(Tuple {
        src: (src?, sport?),
        dst: (dst?, dport?),
        protocol,
    })
}

/// The event a conntrack message carries, for TCP and UDP connections.
fn event(message: &ConntrackMessage) -> Option<Event> {
    let (attributes, destroyed) = match message {
        ConntrackMessage::New(attributes) => (attributes, false),
        ConntrackMessage::Delete(attributes) => (attributes, true),
        _ => return None,
    };
    let (mut original, mut reply) = (None, None);
    for attribute in attributes {
        match attribute {
            ConntrackAttribute::CtaTupleOrig(parts) => original = tuple(parts),
            ConntrackAttribute::CtaTupleReply(parts) => reply = tuple(parts),
            _ => {}
        }
    }
    let original = original?;
    if destroyed {
        return Some(Event::Destroyed(original));
    }
    Some(Event::New(Translation {
        original,
        reply: reply?,
    }))
}

/// What one netlink read held: its events, and whether a dump ended in it.
fn parse(mut bytes: &[u8], events: &mut Vec<Event>) -> io::Result<bool> {
    while !bytes.is_empty() {
        let message = NetlinkMessage::<NetfilterMessage>::deserialize(bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let length = message.header.length as usize;
        match message.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(error) => {
                return Err(io::Error::other(format!("conntrack: {error:?}")));
            }
            NetlinkPayload::InnerMessage(NetfilterMessage {
                inner: NetfilterMessageInner::Conntrack(conntrack),
                ..
            }) => events.extend(event(&conntrack)),
            _ => {}
        }
        // Messages are 4-byte aligned within a read.
        let step = length.div_ceil(4) * 4;
        if length == 0 || step > bytes.len() {
            break;
        }
        bytes = &bytes[step..];
    }
    Ok(false)
}

/// Every TCP and UDP connection conntrack holds now, in the agent's network namespace.
pub fn dump() -> io::Result<Vec<Translation>> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request = NetlinkMessage::new(
        header,
        NetlinkPayload::from(NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, 0),
            ConntrackMessage::Get(vec![]),
        )),
    );
    request.finalize();
    let mut buffer = vec![0; request.buffer_len()];
    request.serialize(&mut buffer);
    socket.send(&buffer, 0)?;
    let mut events = Vec::new();
    loop {
        let (bytes, _) = socket.recv_from_full()?;
        if bytes.is_empty() || parse(&bytes, &mut events)? {
            break;
        }
    }
    Ok(events
        .into_iter()
        .filter_map(|event| match event {
            Event::New(translation) => Some(translation),
            Event::Destroyed(_) => None,
        })
        .collect())
}

/// The stream of new and destroyed connections.
pub struct Events {
    socket: TokioSocket,
}

impl Events {
    /// Subscribes to conntrack's events (needs CAP_NET_ADMIN).
    pub fn subscribe() -> io::Result<Self> {
        let mut socket = TokioSocket::new(NETLINK_NETFILTER)?;
        let inner = socket.socket_mut();
        inner.bind_auto()?;
        // A larger buffer than the default (which the kernel may cap) absorbs bursts; what is
        // still lost shows as ENOBUFS, and the caller resyncs from a dump.
        let _ = inner.set_rx_buf_sz(EVENT_BUFFER_BYTES);
        inner.add_membership(GROUP_NEW)?;
        inner.add_membership(GROUP_DESTROY)?;
        Ok(Self { socket })
    }

    /// The events of the next read; an error of kind `OutOfMemory` (ENOBUFS) means events
    /// were lost.
    pub async fn next(&mut self) -> io::Result<Vec<Event>> {
        let (bytes, _) = self.socket.recv_from_full().await?;
        let mut events = Vec::new();
        parse(&bytes, &mut events)?;
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_netfilter::conntrack::Protocol;

    fn ct_tuple(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<CtTuple> {
        vec![
            CtTuple::Ip(vec![
                IPTuple::SourceAddress(src.parse().unwrap()),
                IPTuple::DestinationAddress(dst.parse().unwrap()),
            ]),
            CtTuple::Proto(vec![
                ProtoTuple::Protocol(Protocol::Tcp),
                ProtoTuple::SourcePort(sport),
                ProtoTuple::DestinationPort(dport),
            ]),
        ]
    }

    fn encoded(message: ConntrackMessage) -> Vec<u8> {
        let mut packet = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::from(NetfilterMessage::new(
                NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0),
                message,
            )),
        );
        packet.finalize();
        let mut buffer = vec![0; packet.buffer_len()];
        packet.serialize(&mut buffer);
        buffer
    }

    #[test]
    fn new_and_destroy_messages_become_events_and_garbage_is_an_error() {
        let orig = ct_tuple("10.0.1.5", "10.96.0.10", 40000, 80);
        let reply = ct_tuple("10.0.2.7", "10.0.1.5", 7777, 40000);
        let mut bytes = encoded(ConntrackMessage::New(vec![
            ConntrackAttribute::CtaTupleOrig(orig.clone()),
            ConntrackAttribute::CtaTupleReply(reply),
        ]));
        bytes.extend(encoded(ConntrackMessage::Delete(vec![
            ConntrackAttribute::CtaTupleOrig(orig),
        ])));
        let mut events = Vec::new();
        assert!(!parse(&bytes, &mut events).unwrap());
        let original = Tuple {
            src: ("10.0.1.5".parse().unwrap(), 40000),
            dst: ("10.96.0.10".parse().unwrap(), 80),
            protocol: 6,
        };
        assert_eq!(events.len(), 2);
        let Event::New(translation) = events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(translation.original, original);
        assert_eq!(translation.reply.src, ("10.0.2.7".parse().unwrap(), 7777));
        assert_eq!(events[1], Event::Destroyed(original));
        assert!(parse(&[0xff; 7], &mut Vec::new()).is_err());
    }
}

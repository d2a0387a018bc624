//! The key/value layout shared with the kernel programs (`ebpf/usage.h`). Both sides assert the
//! same sizes, so a change on one side that is not made on the other fails to build.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which hook counted a flow entry (`enum flow_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A packet leaving a local socket.
    Egress,
    /// A packet reaching a local socket.
    Ingress,
    /// A send call of the local socket at `src`.
    SocketSend,
    /// A receive call of the local socket at `dst`.
    SocketRecv,
}

/// `FLOW_SYN`: a SYN without ACK went src → dst.
pub const FLOW_SYN: u32 = 1;

/// `struct flow_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Source address (IPv4 in the first 4 bytes).
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Source port, host order.
    pub src_port: u16,
    /// Destination port, host order.
    pub dst_port: u16,
    /// 4 or 6.
    pub family: u8,
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    /// `enum flow_source`.
    pub source: u8,
    /// The drain generation it was counted in (`control.generation`).
    pub generation: u8,
}

/// `struct flow_value`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowValue {
    /// Wire packets.
    pub packets: u64,
    /// Transport payload bytes.
    pub bytes: u64,
    /// Send or receive calls.
    pub calls: u64,
    /// First sighting, monotonic nanoseconds.
    pub first_ns: u64,
    /// `enum flow_flags`.
    pub flags: u32,
    /// Padding.
    pub pad: u32,
}

/// `struct control`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Control {
    /// The flows map programs write to.
    pub generation: u32,
}

const _: () = assert!(size_of::<FlowKey>() == 40, "FLOW_KEY_SIZE in ebpf/usage.h");
const _: () = assert!(
    size_of::<FlowValue>() == 40,
    "FLOW_VALUE_SIZE in ebpf/usage.h"
);

// SAFETY: plain `repr(C)` structs of integers with explicit padding fields: every bit pattern is
// valid and there are no implicit padding bytes, which is what `Pod` requires.
#[allow(unsafe_code)]
mod pod {
    unsafe impl aya::Pod for super::FlowKey {}
    unsafe impl aya::Pod for super::FlowValue {}
    unsafe impl aya::Pod for super::Control {}
}

fn address(bytes: &[u8; 16], family: u8) -> IpAddr {
    if family == 4 {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        // Dual-stack sockets talk to IPv4 peers through v4-mapped addresses: fold them to IPv4
        // so that both hooks name the same endpoint.
        Ipv6Addr::from(*bytes).to_canonical()
    }
}

impl FlowKey {
    /// The source address.
    pub fn src_ip(&self) -> IpAddr {
        address(&self.src, self.family)
    }

    /// The destination address.
    pub fn dst_ip(&self) -> IpAddr {
        address(&self.dst, self.family)
    }

    /// The hook that counted it, if the value is known.
    pub fn source(&self) -> Option<Source> {
        match self.source {
            0 => Some(Source::Egress),
            1 => Some(Source::Ingress),
            2 => Some(Source::SocketSend),
            3 => Some(Source::SocketRecv),
            _ => None,
        }
    }

    /// A key as the kernel would write it (for tests of the aggregation).
    pub fn new(src: (IpAddr, u16), dst: (IpAddr, u16), protocol: u8, source: Source) -> Self {
        let bytes = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => {
                let mut out = [0; 16];
                out[..4].copy_from_slice(&v4.octets());
                out
            }
            IpAddr::V6(v6) => v6.octets(),
        };
        Self {
            src: bytes(src.0),
            dst: bytes(dst.0),
            src_port: src.1,
            dst_port: dst.1,
            family: if src.0.is_ipv4() { 4 } else { 6 },
            protocol,
            source: source as u8,
            generation: 0,
        }
    }
}

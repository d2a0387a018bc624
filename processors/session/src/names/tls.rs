//! The server name of a TLS ClientHello (SNI), read from the first bytes a client sends.

use tls_parser::{
    TlsExtension, TlsMessage, TlsMessageHandshake, parse_tls_extensions, parse_tls_plaintext,
};

/// A TLS record header: type, version, length.
const RECORD_HEADER: usize = 5;
const HANDSHAKE: u8 = 0x16;
/// The largest TLS plaintext record.
const MAX_RECORD: usize = 16_384 + 256;

/// Collects a client's first TLS record (a ClientHello often spans two segments).
#[derive(Debug, Default)]
pub struct SniSniffer {
    held: Vec<u8>,
    done: bool,
}

/// What the sniffer has decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// Needs more bytes.
    More,
    /// Not TLS, no SNI, or already answered.
    Nothing,
    /// The server name asked for.
    Name(String),
}

impl SniSniffer {
    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.held.len()
    }

    /// Whether it still wants bytes.
    pub fn wants(&self) -> bool {
        !self.done
    }

    /// Takes in-order client bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Sniffed {
        if self.done {
            return Sniffed::Nothing;
        }
        let first = if self.held.is_empty() {
            bytes.first()
        } else {
            self.held.first()
        };
        if first != Some(&HANDSHAKE) {
            return self.give_up();
        }
        let header_missing = RECORD_HEADER
            .saturating_sub(self.held.len())
            .min(bytes.len());
        self.held.extend_from_slice(&bytes[..header_missing]);
        let bytes = &bytes[header_missing..];
        if self.held.len() < RECORD_HEADER {
            return Sniffed::More;
        }
        let needed = self.needed();
        if needed > RECORD_HEADER + MAX_RECORD {
            return self.give_up();
        }
        let body_missing = (needed - self.held.len()).min(bytes.len());
        self.held.extend_from_slice(&bytes[..body_missing]);
        if self.held.len() < needed {
            return Sniffed::More;
        }
        let name = server_name(&self.held[..needed]);
        self.give_up();
        name.map_or(Sniffed::Nothing, Sniffed::Name)
    }

    fn needed(&self) -> usize {
        if self.held.len() < RECORD_HEADER {
            return RECORD_HEADER;
        }
        RECORD_HEADER + usize::from(u16::from_be_bytes([self.held[3], self.held[4]]))
    }

    fn give_up(&mut self) -> Sniffed {
        self.done = true;
        self.held = Vec::new();
        Sniffed::Nothing
    }
}

/// The host name in a ClientHello record, if any.
pub fn server_name(record: &[u8]) -> Option<String> {
    let (_, plaintext) = parse_tls_plaintext(record).ok()?;
    plaintext.msg.iter().find_map(|message| {
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) = message else {
            return None;
        };
        let (_, extensions) = parse_tls_extensions(hello.ext?).ok()?;
        extensions.iter().find_map(|extension| match extension {
            TlsExtension::SNI(names) => names
                .iter()
                .find_map(|(_, name)| std::str::from_utf8(name).ok())
                .map(|name| name.to_ascii_lowercase()),
            _ => None,
        })
    })
}

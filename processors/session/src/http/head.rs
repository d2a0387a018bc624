//! Parsing HTTP/1.x request and response heads with httparse, keeping the fields Spider records.

use super::body::Framing;

/// Header lines accepted per message.
const MAX_HEADERS: usize = 128;

/// A parsed request line and the headers kept of it.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    /// Method.
    pub method: String,
    /// Path (the target before `?`).
    pub path: String,
    /// Query string after `?`.
    pub query: Option<String>,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Host header.
    pub host: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Content-Type header.
    pub content_type: Option<String>,
    /// How its body is framed.
    pub framing: Framing,
}

/// A parsed status line and the headers kept of it.
#[derive(Debug, Clone, Default)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Content-Type header.
    pub content_type: Option<String>,
    /// Transfer-Encoding says chunked.
    pub chunked: bool,
    /// Content-Length, when given and valid.
    pub content_length: Option<u64>,
}

/// A head is not complete yet, or cannot be one.
pub enum HeadError {
    /// More bytes are needed.
    Partial,
    /// Not HTTP, or broken.
    Invalid,
    /// More header lines than a message may have.
    TooLarge,
}

/// What the framing headers of a message say.
struct Framings {
    chunked: bool,
    content_length: Option<u64>,
    content_type: Option<String>,
}

fn framings(headers: &[httparse::Header<'_>]) -> Framings {
    let mut framings = Framings {
        chunked: false,
        content_length: None,
        content_type: None,
    };
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            framings.chunked |= text(header.value)
                .to_ascii_lowercase()
                .split(',')
                .any(|coding| coding.trim() == "chunked");
        } else if header.name.eq_ignore_ascii_case("content-length") {
            framings.content_length = text(header.value).trim().parse().ok();
        } else if header.name.eq_ignore_ascii_case("content-type") {
            framings.content_type = Some(text(header.value));
        }
    }
    framings
}

fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

fn header(headers: &[httparse::Header<'_>], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| text(h.value))
}

fn version(minor: Option<u8>) -> String {
    format!("HTTP/1.{}", minor.unwrap_or(1))
}

impl RequestHead {
    /// Heap bytes its fields hold.
    pub fn held_bytes(&self) -> usize {
        let optional = [
            &self.query,
            &self.host,
            &self.user_agent,
            &self.content_type,
        ];
        self.method.len()
            + self.path.len()
            + self.version.len()
            + optional
                .iter()
                .map(|o| o.as_ref().map_or(0, String::len))
                .sum::<usize>()
    }
}

impl ResponseHead {
    /// Heap bytes its fields hold.
    pub fn held_bytes(&self) -> usize {
        self.version.len() + self.content_type.as_ref().map_or(0, String::len)
    }
}

/// Parses a request head at the start of `bytes`: its length and fields.
pub fn parse_request(bytes: &[u8]) -> Result<(usize, RequestHead), HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let length = match request.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Err(HeadError::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Invalid),
    };
    let target = request.path.unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    };
    let found = framings(request.headers);
    let framing = if found.chunked {
        Framing::Chunked
    } else {
        found.content_length.map_or(Framing::None, Framing::Length)
    };
    Ok((
        length,
        RequestHead {
            method: request.method.unwrap_or_default().to_owned(),
            path,
            query,
            version: version(request.version),
            host: header(request.headers, "host"),
            user_agent: header(request.headers, "user-agent"),
            content_type: found.content_type,
            framing,
        },
    ))
}

/// Parses a response head at the start of `bytes`: its length and fields.
pub fn parse_response(bytes: &[u8]) -> Result<(usize, ResponseHead), HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Err(HeadError::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Invalid),
    };
    let found = framings(response.headers);
    Ok((
        length,
        ResponseHead {
            status: response.code.unwrap_or_default(),
            version: version(response.version),
            content_type: found.content_type,
            chunked: found.chunked,
            content_length: found.content_length,
        },
    ))
}

impl ResponseHead {
    /// How the body is framed, given the request it answers (RFC 9112 §6.3).
    pub fn framing(&self, request_method: Option<&str>) -> Framing {
        if request_method == Some("HEAD")
            || (100..200).contains(&self.status)
            || self.status == 204
            || self.status == 304
        {
            Framing::None
        } else if self.chunked {
            Framing::Chunked
        } else if let Some(length) = self.content_length {
            Framing::Length(length)
        } else {
            Framing::UntilClose
        }
    }
}

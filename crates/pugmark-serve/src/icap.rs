//! ICAP (RFC 3507), the protocol web proxies (Squid, commercial gateways)
//! hand HTTP messages to scanners with: request heads, the encapsulated
//! HTTP headers, chunked bodies with previews, and the responses pugmark
//! gives — `204` (unchanged), the message echoed when `204` is not
//! allowed, or an HTTP `403` page that blocks it.
//!
//! This module owns the wire format; the connection loop that scans is in
//! [`server`](crate::server).

use std::io::{self, BufRead, Read, Write};

pub use crate::spool::Spool;

/// The path of pugmark's one ICAP service (`icap://HOST:PORT/pugmark`); it
/// answers `REQMOD` (uploads: the DLP case) and `RESPMOD` (downloads).
pub const SERVICE_PATH: &str = "/pugmark";

/// Bytes of preview the `OPTIONS` answer asks clients for.
pub const PREVIEW_BYTES: u64 = 4096;

/// Longest ICAP head, and longest encapsulated HTTP head, accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Longest single line of a head or a chunk-size line.
const MAX_LINE: usize = 8 * 1024;

/// An ICAP method.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `OPTIONS`: what the service supports.
    Options,
    /// `REQMOD`: an HTTP request (an upload) to adapt.
    Reqmod,
    /// `RESPMOD`: an HTTP response (a download) to adapt.
    Respmod,
    /// Any other method (answered `501`).
    Other(String),
}

/// A part named in the `Encapsulated` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// The HTTP request's head.
    ReqHdr,
    /// The HTTP response's head.
    ResHdr,
    /// The HTTP request's body (chunked).
    ReqBody,
    /// The HTTP response's body (chunked).
    ResBody,
    /// No body follows.
    NullBody,
    /// An `OPTIONS` body (chunked).
    OptBody,
}

impl Section {
    fn parse(name: &str) -> Option<Section> {
        Some(match name {
            "req-hdr" => Section::ReqHdr,
            "res-hdr" => Section::ResHdr,
            "req-body" => Section::ReqBody,
            "res-body" => Section::ResBody,
            "null-body" => Section::NullBody,
            "opt-body" => Section::OptBody,
            _ => return None,
        })
    }

    /// Whether a chunked body follows at this offset.
    pub fn is_body(self) -> bool {
        matches!(self, Section::ReqBody | Section::ResBody | Section::OptBody)
    }
}

/// An ICAP request's head and the HTTP heads it encapsulates.
#[derive(Clone, Debug)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request URI as sent.
    pub uri: String,
    /// The service path of the URI (`/pugmark`), without its query.
    pub service: String,
    /// ICAP header fields in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// The encapsulated HTTP request head (`req-hdr`), if any.
    pub http_request: Option<Vec<u8>>,
    /// The encapsulated HTTP response head (`res-hdr`), if any.
    pub http_response: Option<Vec<u8>>,
    /// Which body follows the heads (`None`: no body).
    pub body: Option<Section>,
}

/// Why a request could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum IcapError {
    /// The connection failed or ended inside the request.
    Io(io::Error),
    /// The request is malformed (answered `400`).
    BadRequest(String),
    /// Not ICAP/1.0 (answered `505`).
    Version(String),
}

impl std::fmt::Display for IcapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IcapError::Io(e) => write!(f, "reading the request: {e}"),
            IcapError::BadRequest(why) => write!(f, "bad request: {why}"),
            IcapError::Version(v) => write!(f, "unsupported version {v}"),
        }
    }
}

impl std::error::Error for IcapError {}

impl From<io::Error> for IcapError {
    fn from(e: io::Error) -> Self {
        IcapError::Io(e)
    }
}

fn bad(why: impl Into<String>) -> IcapError {
    IcapError::BadRequest(why.into())
}

/// Reads one line ending in LF (CR LF expected) of at most [`MAX_LINE`]
/// bytes; `None` at a clean end of input before any byte.
fn read_line<R: BufRead>(reader: &mut R) -> Result<Option<String>, IcapError> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if n > MAX_LINE {
            bad("a line is too long")
        } else {
            IcapError::Io(io::ErrorKind::UnexpectedEof.into())
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| bad("a head line is not UTF-8"))
}

impl Request {
    /// The value of ICAP header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The preview size the client announced (`Preview: n`), if any.
    pub fn preview(&self) -> Option<u64> {
        self.header("Preview").and_then(|v| v.trim().parse().ok())
    }

    /// Whether the client allows response `code` outside a preview
    /// (`Allow: 204`).
    pub fn allows(&self, code: &str) -> bool {
        self.header("Allow")
            .is_some_and(|v| v.split(',').any(|c| c.trim() == code))
    }

    /// Whether the client asked to close the connection after this request.
    pub fn wants_close(&self) -> bool {
        self.header("Connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    /// The encapsulated HTTP message's head this request adapts (the
    /// response's for `RESPMOD`, else the request's).
    pub fn adapted_head(&self) -> Option<&[u8]> {
        match self.method {
            Method::Respmod => self.http_response.as_deref(),
            _ => self.http_request.as_deref(),
        }
    }
}

/// Reads a request's head and its encapsulated HTTP heads, leaving the
/// reader at the start of the chunked body, if any. `Ok(None)` when the
/// connection ends cleanly before a request.
pub fn read_request<R: BufRead>(reader: &mut R) -> Result<Option<Request>, IcapError> {
    // Blank lines between requests are tolerated.
    let first = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = first.split_whitespace();
    let (Some(method), Some(uri), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("request line {first:?}")));
    };
    if parts.next().is_some() {
        return Err(bad(format!("request line {first:?}")));
    }
    if version != "ICAP/1.0" {
        return Err(IcapError::Version(version.to_string()));
    }
    let method = match method {
        "OPTIONS" => Method::Options,
        "REQMOD" => Method::Reqmod,
        "RESPMOD" => Method::Respmod,
        other => Method::Other(other.to_string()),
    };
    let service = service_path(uri).ok_or_else(|| bad(format!("URI {uri:?}")))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut head_bytes = first.len();
    loop {
        let line =
            read_line(reader)?.ok_or_else(|| IcapError::Io(io::ErrorKind::UnexpectedEof.into()))?;
        if line.is_empty() {
            break;
        }
        head_bytes += line.len() + 2;
        if head_bytes > MAX_HEAD_BYTES {
            return Err(bad("the ICAP head is too long"));
        }
        if line.starts_with([' ', '\t']) {
            // An obsolete folded line continues the previous field.
            let Some((_, value)) = headers.last_mut() else {
                return Err(bad("a folded line before any field"));
            };
            value.push(' ');
            value.push_str(line.trim());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad(format!("header line {line:?}")));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut request = Request {
        method,
        uri: uri.to_string(),
        service,
        headers,
        http_request: None,
        http_response: None,
        body: None,
    };
    let encapsulated = match request.header("Encapsulated") {
        Some(v) => parse_encapsulated(v)?,
        None if matches!(request.method, Method::Reqmod | Method::Respmod) => {
            return Err(bad("no Encapsulated header"))
        }
        None => Vec::new(),
    };
    if request.header("Preview").is_some() && request.preview().is_none() {
        // Taken as no preview, its end would be taken for the body's.
        return Err(bad("Preview is not a number"));
    }
    read_http_heads(reader, &mut request, &encapsulated)?;
    if request.method == Method::Respmod
        && request.body.is_some()
        && request.http_response.is_none()
    {
        return Err(bad("RESPMOD body without res-hdr"));
    }
    Ok(Some(request))
}

/// The path of an ICAP URI (`icap://host:port/path?query` or `/path`),
/// without the query.
fn service_path(uri: &str) -> Option<String> {
    let path = if let Some(rest) = uri
        .strip_prefix("icap://")
        .or_else(|| uri.strip_prefix("icaps://"))
    {
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        }
    } else if uri.starts_with('/') {
        uri
    } else {
        return None;
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    Some(path.to_string())
}

/// The `Encapsulated` header: sections and their offsets, in order, a body
/// section (or `null-body`) last.
fn parse_encapsulated(value: &str) -> Result<Vec<(Section, usize)>, IcapError> {
    let mut sections: Vec<(Section, usize)> = Vec::new();
    for item in value.split(',') {
        let (name, offset) = item
            .trim()
            .split_once('=')
            .ok_or_else(|| bad(format!("Encapsulated {value:?}")))?;
        let section =
            Section::parse(name.trim()).ok_or_else(|| bad(format!("Encapsulated {value:?}")))?;
        let offset: usize = offset
            .trim()
            .parse()
            .map_err(|_| bad(format!("Encapsulated {value:?}")))?;
        if sections
            .last()
            .is_some_and(|&(last, at)| offset < at || last.is_body() || last == Section::NullBody)
        {
            return Err(bad(format!(
                "Encapsulated {value:?}: sections out of order"
            )));
        }
        sections.push((section, offset));
    }
    Ok(sections)
}

/// Reads the encapsulated HTTP heads (their lengths are the distances
/// between offsets) and notes which body follows.
fn read_http_heads<R: BufRead>(
    reader: &mut R,
    request: &mut Request,
    sections: &[(Section, usize)],
) -> Result<(), IcapError> {
    if sections.first().is_some_and(|&(_, at)| at != 0) {
        return Err(bad("the first encapsulated section must start at 0"));
    }
    for (i, &(section, offset)) in sections.iter().enumerate() {
        match section {
            Section::ReqHdr | Section::ResHdr => {
                let Some(&(_, next)) = sections.get(i + 1) else {
                    return Err(bad("a head must be followed by a body or null-body"));
                };
                let len = next - offset;
                if len > MAX_HEAD_BYTES {
                    return Err(bad("an encapsulated HTTP head is too long"));
                }
                let mut head = vec![0u8; len];
                reader.read_exact(&mut head)?;
                // The offsets must agree with the heads: a head that does
                // not end where the next section starts would swallow body
                // bytes unscanned (or lose head bytes).
                let end = head.windows(4).position(|w| w == b"\r\n\r\n");
                if end != Some(len.saturating_sub(4)) {
                    return Err(bad(
                        "an encapsulated HTTP head does not end at the next offset",
                    ));
                }
                if section == Section::ReqHdr {
                    request.http_request = Some(head);
                } else {
                    request.http_response = Some(head);
                }
            }
            Section::NullBody => {}
            body => request.body = Some(body),
        }
    }
    Ok(())
}

/// Every value of header `name` in an HTTP head (request or status line
/// first), in order; bytes that are not UTF-8 are replaced, never a reason
/// to see no header at all.
pub fn http_headers(head: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(head);
    text.split("\r\n")
        .skip(1)
        .filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .collect()
}

/// The first value of header `name` in an HTTP head, if present.
pub fn http_header(head: &[u8], name: &str) -> Option<String> {
    http_headers(head, name).into_iter().next()
}

/// The method of an HTTP request head (`PUT`).
pub fn http_method(head: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(head.split(|&b| b == b'\r').next()?).ok()?;
    text.split_whitespace().next()
}

/// An encoding a message body can carry, as this server undoes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// gzip (`gzip`, `x-gzip`): decoded here.
    Gzip,
    /// `deflate`: a zlib stream, or raw deflate as some servers send it;
    /// decoded here.
    Deflate,
    /// `br`: decoded here (brotli has no magic number to sniff).
    Brotli,
    /// `zstd`, `xz`, `compress`: left to the scanner, which knows them by
    /// their magic numbers.
    Sniffed,
}

/// What an HTTP message's head says about reading its body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyView {
    /// The Content-Encodings in the order they were applied.
    pub encodings: Vec<Encoding>,
    /// Why the body cannot be read as the head describes it (an unknown
    /// encoding, a head too ambiguous to trust); the scan is then
    /// `incomplete`.
    pub doubt: Option<String>,
    /// A multipart body's boundary: its parts are examined one by one.
    pub form_boundary: Option<String>,
}

impl BodyView {
    /// The view of the message with this head.
    pub fn of(head: &[u8]) -> BodyView {
        let mut view = BodyView::default();
        let mut doubt = |why: String| {
            view.doubt.get_or_insert(why);
        };
        let text = String::from_utf8_lossy(head);
        if text
            .split("\r\n")
            .skip(1)
            .any(|l| l.starts_with([' ', '\t']))
        {
            doubt("the HTTP head has folded lines".to_string());
        }
        // A list header: every occurrence counts, in order.
        let mut encodings = Vec::new();
        for value in http_headers(head, "Content-Encoding") {
            for e in value.split(',').map(|e| e.trim().to_ascii_lowercase()) {
                match e.as_str() {
                    "" | "identity" => {}
                    "gzip" | "x-gzip" => encodings.push(Encoding::Gzip),
                    "deflate" => encodings.push(Encoding::Deflate),
                    "br" => encodings.push(Encoding::Brotli),
                    "zstd" | "xz" | "compress" | "x-compress" => encodings.push(Encoding::Sniffed),
                    other => doubt(format!("Content-Encoding {other} is not opened")),
                }
            }
        }
        let types = http_headers(head, "Content-Type");
        if types.len() > 1 {
            doubt("more than one Content-Type".to_string());
        }
        if let Some(kind) = types.first() {
            let lower = kind.to_ascii_lowercase();
            if lower.trim_start().starts_with("multipart/") {
                if lower.matches("boundary=").count() != 1 {
                    doubt("a multipart Content-Type without exactly one boundary".to_string());
                }
                let boundary = lower
                    .find("boundary=")
                    .map(|at| {
                        let value = &kind[at + "boundary=".len()..];
                        match value.strip_prefix('"') {
                            Some(quoted) => quoted.split('"').next().unwrap_or_default(),
                            None => value.split(';').next().unwrap_or_default().trim(),
                        }
                        .to_string()
                    })
                    .unwrap_or_default();
                view.form_boundary = Some(boundary);
            }
        }
        view.encodings = encodings;
        view
    }
}

/// Most parts a form is split into; a form with more is not split (and the
/// scan says so).
pub const MAX_FORM_PARTS: usize = 10_000;

/// One part of a multipart body: its file name (or field name) and where
/// its content lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormPart {
    /// The part's `filename` (or `name`) parameter, made safe, or
    /// `part-N`.
    pub name: String,
    /// Its content's bytes in the body.
    pub range: std::ops::Range<usize>,
}

/// The parts of a multipart body with `boundary` (RFC 2046, RFC 7578): the
/// raw bytes of each, whatever its part headers claim (form parsers keep
/// the bytes as sent). `None` when the body is not delimited as it must be
/// (no first or closing delimiter, a part without a head).
pub fn form_parts(body: &[u8], boundary: &str) -> Option<Vec<FormPart>> {
    if boundary.is_empty() || boundary.len() > 200 {
        return None;
    }
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // Some form parsers (PHP's) also split on a bare LF before the dashes:
    // such a body has two readings, and is not split here.
    let bare = format!("\n--{boundary}");
    let ambiguous = body
        .windows(bare.len())
        .enumerate()
        .any(|(i, w)| w == bare.as_bytes() && (i == 0 || body[i - 1] != b'\r'));
    if ambiguous {
        return None;
    }
    let find = |from: usize, what: &[u8]| {
        body.get(from..)?
            .windows(what.len())
            .position(|w| w == what)
            .map(|i| from + i)
    };
    // The first delimiter: at the start, or after a preamble line.
    let mut at = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        find(0, delimiter.as_bytes())? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Some(parts);
        }
        // Transport padding, then the line break that ends the delimiter.
        while matches!(body.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if body.get(at..at + 2) != Some(b"\r\n") {
            return None;
        }
        at += 2;
        let head_end = if body.get(at..at + 2) == Some(b"\r\n") {
            at
        } else {
            find(at, b"\r\n\r\n")?
        };
        let head = std::str::from_utf8(&body[at..head_end]).unwrap_or_default();
        let content = if head_end == at { at + 2 } else { head_end + 4 };
        let next = find(content, delimiter.as_bytes())?;
        let param = |key: &str| {
            head.split("\r\n")
                .filter(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
                .flat_map(|l| l.split(';'))
                .find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case(key)
                        .then(|| v.trim().trim_matches('"').to_string())
                })
        };
        let n = parts.len() + 1;
        if n > MAX_FORM_PARTS {
            return None;
        }
        let name: String = param("filename")
            .or_else(|| param("name"))
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .take(100)
            .collect();
        parts.push(FormPart {
            name: if name.trim_matches('.').is_empty() {
                format!("part-{n}")
            } else {
                format!("{n}-{name}")
            },
            range: content..next,
        });
        at = next + delimiter.len();
    }
}

/// What an outgoing HTTP request's head carries, to be examined: the head
/// as sent, then its target with percent-escapes (and a query's `+`)
/// undone, as the receiving server reads it. Data can leave in a URL's
/// query or a header as well as in a body.
pub fn outgoing_head_text(head: &[u8]) -> Vec<u8> {
    let mut out = head.to_vec();
    if let Some(target) = http_target_bytes(head) {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&percent_decoded(target));
    }
    out
}

/// `text` with `%XX` escapes undone and `+` read as a space after a `?`
/// (form-encoded queries); a `%` not followed by two hex digits stays.
pub fn percent_decoded(text: &[u8]) -> Vec<u8> {
    let bytes = text;
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_query = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let hex = |j: usize| bytes.get(j).and_then(|&c| (c as char).to_digit(16));
        match b {
            b'%' => {
                if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                out.push(b);
            }
            b'+' if in_query => out.push(b' '),
            b'?' => {
                in_query = true;
                out.push(b);
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// The target of an HTTP request head (`POST http://host/path HTTP/1.1`).
pub fn http_target(head: &[u8]) -> Option<&str> {
    std::str::from_utf8(http_target_bytes(head)?).ok()
}

/// The target of an HTTP request head as sent, whatever bytes it and the
/// other header lines hold (only the request line is read).
fn http_target_bytes(head: &[u8]) -> Option<&[u8]> {
    let line = head.split(|&b| b == b'\r' || b == b'\n').next()?;
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
        .nth(1)
}

/// How a chunked ICAP body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyEnd {
    /// Not yet at its end.
    Open,
    /// The last chunk arrived: the body is whole.
    Complete,
    /// More than the limit was sent.
    TooLarge,
    /// The chunking was malformed.
    Malformed,
    /// The connection ended, failed or timed out inside the body.
    Truncated,
}

/// An ICAP body as a stream: the chunked encoding decoded, the preview's
/// end answered with `100 Continue` when more is to come.
pub struct ChunkedBody<'a, R> {
    inner: &'a mut R,
    /// Where `100 Continue` is written at the end of a preview.
    continue_to: &'a mut dyn Write,
    /// Whether the client sent a preview.
    previewed: bool,
    /// Still inside the preview (`Preview:` was sent, its end not reached).
    in_preview: bool,
    /// Whether `100 Continue` was sent.
    continued: bool,
    /// Bytes of the current chunk not yet read.
    left: u64,
    total: u64,
    max: u64,
    end: BodyEnd,
    /// When the body must have arrived, however steadily it trickles.
    deadline: Option<std::time::Instant>,
}

impl<R> std::fmt::Debug for ChunkedBody<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedBody")
            .field("in_preview", &self.in_preview)
            .field("total", &self.total)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl<'a, R: BufRead> ChunkedBody<'a, R> {
    /// The body on `inner`, in a preview when `preview` (the client sent a
    /// `Preview` header), refused past `max` bytes; `100 Continue` goes to
    /// `continue_to`.
    pub fn new(inner: &'a mut R, preview: bool, max: u64, continue_to: &'a mut dyn Write) -> Self {
        ChunkedBody {
            inner,
            continue_to,
            previewed: preview,
            in_preview: preview,
            continued: false,
            left: 0,
            total: 0,
            max,
            end: BodyEnd::Open,
            deadline: None,
        }
    }

    /// Cuts the body (as [`BodyEnd::Truncated`]) if it has not arrived
    /// whole by `at`.
    #[must_use]
    pub fn with_deadline(mut self, at: std::time::Instant) -> Self {
        self.deadline = Some(at);
        self
    }

    /// How the body ended (`Open` while it is being read).
    pub fn end(&self) -> BodyEnd {
        self.end
    }

    /// Body bytes read so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether no body byte was read.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Whether the whole body came within the preview (`ieof`): the server
    /// may then answer `204` whether or not the client allows it.
    pub fn ended_in_preview(&self) -> bool {
        self.previewed && self.end == BodyEnd::Complete && !self.continued
    }

    fn fail(&mut self, end: BodyEnd, error: io::Error) -> io::Error {
        self.end = end;
        error
    }

    /// Reads a chunk-size line; the size and whether it carries `ieof`.
    fn chunk_head(&mut self) -> io::Result<(u64, bool)> {
        let line = match read_line(self.inner) {
            Ok(Some(line)) => line,
            Ok(None) => {
                return Err(self.fail(BodyEnd::Truncated, io::ErrorKind::UnexpectedEof.into()))
            }
            Err(IcapError::Io(e)) => return Err(self.fail(BodyEnd::Truncated, e)),
            Err(e) => return Err(self.fail(BodyEnd::Malformed, io::Error::other(e.to_string()))),
        };
        let mut fields = line.split(';');
        let size = fields.next().unwrap_or_default().trim();
        let ieof = fields.any(|ext| ext.trim() == "ieof");
        match u64::from_str_radix(size, 16) {
            Ok(n) if !size.is_empty() && size.len() <= 16 => Ok((n, ieof)),
            _ => Err(self.fail(
                BodyEnd::Malformed,
                io::Error::other(format!("chunk size {size:?}")),
            )),
        }
    }

    /// Reads the CR LF that ends a chunk's data.
    fn chunk_end(&mut self) -> io::Result<()> {
        match read_line(self.inner) {
            Ok(Some(line)) if line.is_empty() => Ok(()),
            Ok(Some(_)) => Err(self.fail(
                BodyEnd::Malformed,
                io::Error::other("chunk longer than its size"),
            )),
            Ok(None) => Err(self.fail(BodyEnd::Truncated, io::ErrorKind::UnexpectedEof.into())),
            Err(IcapError::Io(e)) => Err(self.fail(BodyEnd::Truncated, e)),
            Err(e) => Err(self.fail(BodyEnd::Malformed, io::Error::other(e.to_string()))),
        }
    }

    /// Reads the trailer after the last chunk, up to its blank line.
    fn trailer(&mut self) -> io::Result<()> {
        let mut bytes = 0;
        loop {
            match read_line(self.inner) {
                Ok(Some(line)) if line.is_empty() => return Ok(()),
                Ok(Some(line)) => {
                    bytes += line.len();
                    if bytes > MAX_HEAD_BYTES {
                        return Err(
                            self.fail(BodyEnd::Malformed, io::Error::other("trailer too long"))
                        );
                    }
                }
                Ok(None) => {
                    return Err(self.fail(BodyEnd::Truncated, io::ErrorKind::UnexpectedEof.into()))
                }
                Err(IcapError::Io(e)) => return Err(self.fail(BodyEnd::Truncated, e)),
                Err(e) => {
                    return Err(self.fail(BodyEnd::Malformed, io::Error::other(e.to_string())))
                }
            }
        }
    }
}

impl<R: BufRead> Read for ChunkedBody<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.end {
                BodyEnd::Complete => return Ok(0),
                BodyEnd::TooLarge => return Err(io::Error::other("ICAP body over the size limit")),
                BodyEnd::Malformed => return Err(io::Error::other("malformed ICAP chunking")),
                BodyEnd::Truncated => return Err(io::ErrorKind::UnexpectedEof.into()),
                BodyEnd::Open => {}
            }
            if buf.is_empty() {
                return Ok(0);
            }
            if self
                .deadline
                .is_some_and(|at| std::time::Instant::now() >= at)
            {
                return Err(self.fail(BodyEnd::Truncated, io::ErrorKind::TimedOut.into()));
            }
            if self.left > 0 {
                break;
            }
            let (size, ieof) = self.chunk_head()?;
            if size > 0 {
                self.total = self.total.saturating_add(size);
                if self.total > self.max {
                    return Err(self.fail(
                        BodyEnd::TooLarge,
                        io::Error::other("ICAP body over the size limit"),
                    ));
                }
                self.left = size;
                continue;
            }
            self.trailer()?;
            if self.in_preview && !ieof {
                // The preview is over and more is to come: ask for it.
                self.in_preview = false;
                self.continued = true;
                let asked = self
                    .continue_to
                    .write_all(b"ICAP/1.0 100 Continue\r\n\r\n")
                    .and_then(|()| self.continue_to.flush());
                if let Err(e) = asked {
                    return Err(self.fail(BodyEnd::Truncated, e));
                }
                continue;
            }
            self.end = BodyEnd::Complete;
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(0) => return Err(self.fail(BodyEnd::Truncated, io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => return Err(self.fail(BodyEnd::Truncated, e)),
        };
        self.left -= n as u64;
        if self.left == 0 {
            self.chunk_end()?;
        }
        Ok(n)
    }
}

/// Writes an ICAP response head: status, `ISTag`, extra fields, a blank
/// line.
pub fn write_head<W: Write>(
    out: &mut W,
    status: &str,
    istag: &str,
    fields: &[(&str, String)],
) -> io::Result<()> {
    let mut head = format!(
        "ICAP/1.0 {status}\r\nServer: pugmark/{}\r\nISTag: \"{istag}\"\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in fields {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())
}

/// The `OPTIONS` answer's fields for pugmark's service.
pub fn options_fields(max_connections: usize, ttl_secs: u64) -> Vec<(&'static str, String)> {
    vec![
        ("Methods", "REQMOD, RESPMOD".to_string()),
        ("Service", "pugmark protected-data scanner".to_string()),
        ("Allow", "204".to_string()),
        ("Preview", PREVIEW_BYTES.to_string()),
        ("Transfer-Preview", "*".to_string()),
        ("Max-Connections", max_connections.to_string()),
        ("Options-TTL", ttl_secs.to_string()),
        ("Encapsulated", "null-body=0".to_string()),
    ]
}

/// The HTTP 403 response that blocks a message: a short page naming the
/// verdict, what was found and the evidence id the server logged.
pub fn block_response(verdict: &str, detail: &str, evidence_id: &str) -> (Vec<u8>, Vec<u8>) {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Blocked: protected data</title></head>\n<body><h1>Blocked by pugmark</h1>\n<p>This transfer was stopped: verdict <b>{}</b> ({}).</p>\n<p>Evidence id: <code>{}</code>. Quote it to your data steward if you believe this is a mistake.</p>\n</body></html>\n",
        escape(verdict),
        escape(detail),
        escape(evidence_id),
    );
    let head = format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Pugmark-Verdict: {}\r\nX-Pugmark-Evidence: {}\r\nConnection: close\r\n\r\n",
        page.len(),
        header_safe(verdict),
        header_safe(evidence_id),
    );
    (head.into_bytes(), page.into_bytes())
}

/// A value safe in a header field (printable ASCII, no CR/LF).
fn header_safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_as_their_server_reads_them() {
        assert_eq!(
            percent_decoded(b"/a+b/x%2Cy?q=1%2C2+3%0A%zz%4"),
            b"/a+b/x,y?q=1,2 3\n%zz%4"
        );
        let head = b"GET /s?rows=a%2Cb%0Ac%2Cd HTTP/1.1\r\nHost: x\r\n\r\n";
        let text = outgoing_head_text(head);
        assert!(text.starts_with(head));
        assert!(text.ends_with(b"\r\n/s?rows=a,b\nc,d"));
        // A byte that is not UTF-8 in another header hides nothing.
        let head = b"GET /s?rows=a%2Cb HTTP/1.1\r\nX-Name: caf\xe9\r\n\r\n";
        assert!(outgoing_head_text(head).ends_with(b"\r\n/s?rows=a,b"));
        assert_eq!(http_target(head), Some("/s?rows=a%2Cb"));
    }

    fn request(text: &str) -> Result<Option<Request>, IcapError> {
        read_request(&mut io::Cursor::new(text.as_bytes().to_vec()))
    }

    #[test]
    fn reads_a_reqmod_head_and_its_http_head() {
        let http = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\r\n";
        let text = format!(
            "REQMOD icap://127.0.0.1:1344/pugmark?mode=1 ICAP/1.0\r\nHost: 127.0.0.1\r\nEncapsulated: req-hdr=0, req-body={}\r\nPreview: 0\r\nAllow: 204, trailers\r\n\r\n{http}0\r\n\r\n",
            http.len()
        );
        let r = request(&text).unwrap().unwrap();
        assert_eq!(r.method, Method::Reqmod);
        assert_eq!(r.service, "/pugmark");
        assert_eq!(r.preview(), Some(0));
        assert!(r.allows("204"));
        assert!(!r.allows("206"));
        assert_eq!(r.body, Some(Section::ReqBody));
        assert_eq!(r.http_request.as_deref(), Some(http.as_bytes()));
        assert_eq!(
            http_header(r.adapted_head().unwrap(), "content-type").as_deref(),
            Some("text/plain")
        );
        assert_eq!(http_target(r.adapted_head().unwrap()), Some("/up"));
    }

    #[test]
    fn refuses_malformed_heads() {
        assert!(matches!(
            request("REQMOD /pugmark ICAP/2.0\r\n\r\n"),
            Err(IcapError::Version(_))
        ));
        assert!(matches!(
            request("REQMOD /pugmark ICAP/1.0\r\n\r\n"),
            Err(IcapError::BadRequest(_))
        ));
        assert!(matches!(
            request("REQMOD /pugmark ICAP/1.0\r\nEncapsulated: req-body=0, req-hdr=5\r\n\r\n"),
            Err(IcapError::BadRequest(_))
        ));
        assert!(matches!(
            request("REQMOD /pugmark ICAP/1.0\r\nEncapsulated: req-hdr=9, null-body=3\r\n\r\n"),
            Err(IcapError::BadRequest(_))
        ));
        assert!(matches!(
            request("REQMOD /pugmark ICAP/1.0\r\nHost"),
            Err(IcapError::Io(_))
        ));
        assert!(request("").unwrap().is_none());
        let long = format!(
            "OPTIONS /pugmark ICAP/1.0\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_LINE + 10)
        );
        assert!(matches!(request(&long), Err(IcapError::BadRequest(_))));
    }

    fn body(wire: &str, preview: bool, max: u64) -> (Vec<u8>, BodyEnd, Vec<u8>, bool) {
        let mut input = io::Cursor::new(wire.as_bytes().to_vec());
        let mut sent = Vec::new();
        let mut b = ChunkedBody::new(&mut input, preview, max, &mut sent);
        let mut out = Vec::new();
        let _ = b.read_to_end(&mut out);
        let (end, in_preview) = (b.end(), b.ended_in_preview());
        (out, end, sent, in_preview)
    }

    #[test]
    fn decodes_chunks_previews_and_continues() {
        let (out, end, sent, in_preview) = body("5\r\nhello\r\n0; ieof\r\n\r\n", true, 100);
        assert_eq!(
            (out.as_slice(), end, sent.is_empty(), in_preview),
            (&b"hello"[..], BodyEnd::Complete, true, true)
        );
        let (out, end, sent, in_preview) =
            body("3\r\nabc\r\n0\r\n\r\n2;x=y\r\nde\r\n0\r\n\r\n", true, 100);
        assert_eq!(out, b"abcde");
        assert_eq!(end, BodyEnd::Complete);
        assert_eq!(sent, b"ICAP/1.0 100 Continue\r\n\r\n");
        assert!(!in_preview);
        // Without a preview the first last-chunk ends the body, and the
        // body did not come in a preview.
        let (out, end, sent, in_preview) = body("3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", false, 100);
        assert_eq!(
            (out.as_slice(), end, sent.is_empty(), in_preview),
            (&b"abc"[..], BodyEnd::Complete, true, false)
        );
    }

    #[test]
    fn malformed_short_and_oversized_bodies_say_so() {
        assert_eq!(
            body("zz\r\nabc\r\n0\r\n\r\n", false, 100).1,
            BodyEnd::Malformed
        );
        assert_eq!(
            body("3\r\nabcd\r\n0\r\n\r\n", false, 100).1,
            BodyEnd::Malformed
        );
        assert_eq!(body("3\r\nab", false, 100).1, BodyEnd::Truncated);
        assert_eq!(body("3\r\nabc\r\n", false, 100).1, BodyEnd::Truncated);
        assert_eq!(
            body("ffffffffffffffff\r\n", false, 100).1,
            BodyEnd::TooLarge
        );
        assert_eq!(
            body("3\r\nabc\r\n3\r\nabc\r\n0\r\n\r\n", false, 5).1,
            BodyEnd::TooLarge
        );
    }

    #[test]
    fn spools_to_a_file_past_its_memory_and_echoes_in_chunks() {
        let mut spool = Spool::default();
        let data: Vec<u8> = (0..Spool::MEMORY + 70_000)
            .map(|i| (i % 251) as u8)
            .collect();
        spool.write_all(&data[..1000]).unwrap();
        spool.write_all(&data[1000..]).unwrap();
        assert!(spool.in_file());
        assert_eq!(spool.len(), data.len() as u64);
        let mut wire = Vec::new();
        spool.write_chunked(&mut wire).unwrap();
        let mut input = io::Cursor::new(wire);
        let mut sink = Vec::new();
        let mut back = Vec::new();
        ChunkedBody::new(&mut input, false, u64::MAX, &mut sink)
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn forms_split_into_raw_parts() {
        let body = b"preamble\r\n--xy\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\nhello\r\n--xy \r\nContent-Disposition: form-data; name=\"f\"; filename=\"../a b.tif\"\r\nContent-Type: text/plain; charset=utf-16le\r\n\r\n\x00\x01\r\n--x\r\n--xy--\r\n";
        let parts = form_parts(body, "xy").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "1-c");
        assert_eq!(&body[parts[0].range.clone()], b"hello");
        assert_eq!(parts[1].name, "2-..ab.tif");
        assert_eq!(&body[parts[1].range.clone()], b"\x00\x01\r\n--x");
        // No closing delimiter, no delimiter at all, a wrong boundary.
        assert!(form_parts(b"--xy\r\n\r\nabc", "xy").is_none());
        assert!(form_parts(b"just text", "xy").is_none());
        // A bare LF before the dashes: two readings, no split.
        assert!(form_parts(b"--xy\r\n\r\nbenign\n--xy\r\n\r\nfile\r\n--xy--", "xy").is_none());
        assert!(form_parts(body, "").is_none());
        assert_eq!(form_parts(b"--xy--\r\n", "xy"), Some(Vec::new()));
    }

    #[test]
    fn heads_say_how_to_read_bodies() {
        let view = |h: &[u8]| BodyView::of(h);
        let v = view(b"POST / HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=\"ab;c\"\r\nContent-Encoding: gzip, br\r\n\r\n");
        assert_eq!(v.encodings, [Encoding::Gzip, Encoding::Brotli]);
        assert_eq!((v.doubt, v.form_boundary.as_deref()), (None, Some("ab;c")));
        // Repeated list headers all count; bytes that are not UTF-8 change
        // nothing.
        let v = view(b"HTTP/1.1 200 OK\r\nContent-Disposition: x; filename=\"\xe9t\xe9.txt\"\r\nContent-Encoding: gzip\r\nContent-Encoding: br\r\n\r\n");
        assert_eq!(v.encodings, [Encoding::Gzip, Encoding::Brotli]);
        assert_eq!(
            view(b"HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\n\r\n"),
            BodyView::default()
        );
        for doubtful in [
            &b"HTTP/1.1 200 OK\r\nContent-Encoding: frob\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip,\r\n br\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Type: multipart/form-data; x=\"a;boundary=zz\"; boundary=b\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n",
        ] {
            assert!(view(doubtful).doubt.is_some(), "{}", String::from_utf8_lossy(doubtful));
        }
    }

    #[test]
    fn block_pages_escape_what_they_name() {
        let (head, page) = block_response("match", "<script>", "pm-1\r\nX: y");
        let head = String::from_utf8(head).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(head.contains(&format!("Content-Length: {}\r\n", page.len())));
        assert!(head.contains("X-Pugmark-Evidence: pm-1X: y\r\n"));
        assert!(page.contains("&lt;script&gt;"));
    }
}

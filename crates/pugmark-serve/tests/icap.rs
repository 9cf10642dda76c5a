//! ICAP end to end over real sockets, with a small client written here
//! from RFC 3507: OPTIONS, uploads (REQMOD) and downloads (RESPMOD) with
//! and without previews, `204` or the message echoed unchanged when clean,
//! an HTTP 403 page naming the evidence id when protected data is found,
//! persistent connections, broken clients, and an ISTag that follows the
//! index.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use pugmark_serve::ServeOptions;

mod common;
use common::{root, sample, start, start_over};

/// An ICAP response: status line, ICAP fields, the encapsulated HTTP head
/// and the de-chunked body.
#[derive(Debug, Default)]
struct Response {
    status: String,
    fields: Vec<(String, String)>,
    http_head: String,
    body: Vec<u8>,
}

impl Response {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn line<R: BufRead>(r: &mut R) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l.trim_end_matches(['\r', '\n']).to_string()
}

fn chunked<R: BufRead>(r: &mut R) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let size = usize::from_str_radix(line(r).split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            assert_eq!(line(r), "");
            return out;
        }
        let at = out.len();
        out.resize(at + size, 0);
        r.read_exact(&mut out[at..]).unwrap();
        assert_eq!(line(r), "");
    }
}

/// Reads one response (a `100 Continue` too).
fn response<R: BufRead>(r: &mut R) -> Response {
    let mut resp = Response {
        status: line(r),
        ..Response::default()
    };
    loop {
        let l = line(r);
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        resp.fields
            .push((n.trim().to_string(), v.trim().to_string()));
    }
    if let Some(enc) = resp.field("Encapsulated").map(str::to_string) {
        let parts: Vec<(&str, usize)> = enc
            .split(',')
            .map(|p| {
                let (n, o) = p.trim().split_once('=').unwrap();
                (n, o.parse().unwrap())
            })
            .collect();
        if parts.len() == 2 {
            let mut head = vec![0u8; parts[1].1 - parts[0].1];
            r.read_exact(&mut head).unwrap();
            resp.http_head = String::from_utf8(head).unwrap();
            if parts[1].0.ends_with("-body") && parts[1].0 != "null-body" {
                resp.body = chunked(r);
            }
        }
    }
    resp
}

/// One REQMOD/RESPMOD exchange on `s`: `preview` bytes first (waiting for
/// `100 Continue` when more follow), the final response.
fn exchange(
    s: &TcpStream,
    method: &str,
    http_head: &str,
    body: &[u8],
    preview: Option<usize>,
    allow_204: bool,
) -> Response {
    let mut w = s;
    let mut r = BufReader::new(s);
    let (hdr, body_name) = if method == "RESPMOD" {
        ("res-hdr", "res-body")
    } else {
        ("req-hdr", "req-body")
    };
    let mut head = format!(
        "{method} icap://127.0.0.1/pugmark ICAP/1.0\r\nHost: 127.0.0.1\r\nEncapsulated: {hdr}=0, {body_name}={}\r\n",
        http_head.len()
    );
    if let Some(p) = preview {
        head.push_str(&format!("Preview: {p}\r\n"));
    }
    if allow_204 {
        head.push_str("Allow: 204\r\n");
    }
    head.push_str("\r\n");
    head.push_str(http_head);
    w.write_all(head.as_bytes()).unwrap();
    let send = |mut w: &TcpStream, part: &[u8], last: &str| {
        for c in part.chunks(7000) {
            w.write_all(format!("{:x}\r\n", c.len()).as_bytes())
                .unwrap();
            w.write_all(c).unwrap();
            w.write_all(b"\r\n").unwrap();
        }
        w.write_all(last.as_bytes()).unwrap();
    };
    match preview {
        Some(p) if p >= body.len() => send(w, body, "0; ieof\r\n\r\n"),
        Some(p) => {
            send(w, &body[..p], "0\r\n\r\n");
            let first = response(&mut r);
            if first.status != "ICAP/1.0 100 Continue" {
                return first;
            }
            send(w, &body[p..], "0\r\n\r\n");
        }
        None => send(w, body, "0\r\n\r\n"),
    }
    response(&mut r)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn options(addr: SocketAddr, service: &str) -> Response {
    let s = connect(addr);
    (&s).write_all(
        format!("OPTIONS icap://127.0.0.1{service} ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
    )
    .unwrap();
    response(&mut BufReader::new(&s))
}

const UPLOAD: &str = "PUT /upload/data.bin HTTP/1.1\r\nHost: example.org\r\n\r\n";
const DOWNLOAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n";

#[test]
fn options_name_the_service_and_refuse_what_is_not_it() {
    let r = start(ServeOptions::default().with_max_connections(7));
    let o = options(r.icap, "/pugmark");
    assert_eq!(o.status, "ICAP/1.0 200 OK");
    assert_eq!(o.field("Methods"), Some("REQMOD, RESPMOD"));
    assert_eq!(o.field("Allow"), Some("204"));
    assert_eq!(o.field("Max-Connections"), Some("3"));
    assert!(o.field("Preview").is_some() && o.field("Options-TTL").is_some());
    assert!(o.field("ISTag").unwrap().starts_with("\"pugmark-"));
    assert!(options(r.icap, "/avscan")
        .status
        .starts_with("ICAP/1.0 404"));
    let ask = |text: &str| {
        let s = connect(r.icap);
        (&s).write_all(text.as_bytes()).unwrap();
        response(&mut BufReader::new(&s)).status
    };
    assert!(ask("OPTIONS /pugmark ICAP/2.0\r\n\r\n").starts_with("ICAP/1.0 505"));
    assert!(ask("FROB /pugmark ICAP/1.0\r\n\r\n").starts_with("ICAP/1.0 501"));
    assert!(ask("REQMOD /pugmark ICAP/1.0\r\nHost: x\r\n\r\n").starts_with("ICAP/1.0 400"));
}

#[test]
fn protected_uploads_and_downloads_are_blocked_innocent_ones_pass() {
    let r = start(ServeOptions::default());
    let copy = sample("outgoing/dem-copy.tif");
    let notes = sample("outgoing/patrol-notes.txt");
    for (method, head) in [("REQMOD", UPLOAD), ("RESPMOD", DOWNLOAD)] {
        for preview in [None, Some(0), Some(4096), Some(copy.len())] {
            let s = connect(r.icap);
            let blocked = exchange(&s, method, head, &copy, preview, true);
            assert_eq!(blocked.status, "ICAP/1.0 200 OK", "{method} {preview:?}");
            assert!(blocked.http_head.starts_with("HTTP/1.1 403 Forbidden\r\n"));
            assert!(blocked.http_head.contains("X-Pugmark-Verdict: match"));
            let page = String::from_utf8(blocked.body).unwrap();
            let id = r.log.lock().unwrap().last().unwrap().id.clone();
            assert!(page.contains(&id), "the page names the logged evidence id");
            let passed = exchange(&s, method, head, &notes, preview, true);
            assert!(
                passed.status.starts_with("ICAP/1.0 204"),
                "{method} {preview:?}: {passed:?}"
            );
        }
    }
    let log = r.log.lock().unwrap();
    assert_eq!(log.len(), 16);
    assert!(log
        .iter()
        .all(|l| l.bytes == copy.len() as u64 || l.bytes == notes.len() as u64));
}

#[test]
fn without_204_clean_messages_come_back_unchanged() {
    let r = start(ServeOptions::default());
    // Larger than the in-memory spool: the echo comes from a file.
    let big: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let notes = sample("outgoing/patrol-notes.txt");
    let s = connect(r.icap);
    for (method, head) in [("REQMOD", UPLOAD), ("RESPMOD", DOWNLOAD)] {
        for (body, preview) in [(&notes, None), (&big, Some(4096)), (&notes, Some(100))] {
            let echoed = exchange(&s, method, head, body, preview, false);
            assert_eq!(echoed.status, "ICAP/1.0 200 OK");
            assert_eq!(echoed.http_head, head);
            assert!(
                echoed.body == *body,
                "{method}: the body comes back unchanged"
            );
        }
        // A whole body inside the preview may get 204 whatever Allow says.
        let small = exchange(&s, method, head, b"a short note", Some(4096), false);
        assert!(small.status.starts_with("ICAP/1.0 204"), "{small:?}");
    }
}

#[test]
fn multipart_form_uploads_are_opened() {
    let r = start(ServeOptions::default());
    let copy = sample("outgoing/dem-copy.tif");
    let boundary = "----pugmark-test-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nhere it is\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.tif\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&copy);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let head = format!(
        "POST /form HTTP/1.1\r\nHost: example.org\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        form.len()
    );
    let s = connect(r.icap);
    let blocked = exchange(&s, "REQMOD", &head, &form, Some(4096), true);
    assert!(blocked.http_head.starts_with("HTTP/1.1 403"), "{blocked:?}");
    let log = r.log.lock().unwrap();
    assert!(
        log[0].detail.split(',').any(|s| s == "exact"),
        "the file part itself is recognised: {log:?}"
    );
}

#[test]
fn broken_and_oversized_bodies_are_answered_and_harm_nobody() {
    let r = start(
        ServeOptions::default()
            .with_stream_max_length(20_000)
            .with_idle_timeout(Duration::from_millis(500)),
    );
    // Over the limit: blocked as incomplete, never passed.
    let big = vec![9u8; 50_000];
    let s = connect(r.icap);
    let over = exchange(&s, "REQMOD", UPLOAD, &big, None, true);
    assert!(over.http_head.starts_with("HTTP/1.1 403"), "{over:?}");
    assert!(over.http_head.contains("X-Pugmark-Verdict: incomplete"));
    // A malformed chunk size is a 400.
    let s = connect(r.icap);
    (&s).write_all(
        format!(
            "REQMOD /pugmark ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body={}\r\n\r\n{UPLOAD}zz\r\nabc\r\n0\r\n\r\n",
            UPLOAD.len()
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(response(&mut BufReader::new(&s))
        .status
        .starts_with("ICAP/1.0 400"));
    // A client that stops mid-body and goes away; one that stalls.
    {
        let s = connect(r.icap);
        (&s).write_all(
            format!("REQMOD /pugmark ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body={}\r\n\r\n{UPLOAD}10\r\nabc", UPLOAD.len())
                .as_bytes(),
        )
        .unwrap();
    }
    let stalled = connect(r.icap);
    (&stalled)
        .write_all(b"REQMOD /pugmark ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=10\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = (&stalled).read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "nothing is answered to a request that never came whole"
    );
    // Everyone else is still served, and nothing was scanned as clean.
    let s = connect(r.icap);
    assert!(exchange(&s, "REQMOD", UPLOAD, b"fine", None, true)
        .status
        .starts_with("ICAP/1.0 204"));
    let log = r.log.lock().unwrap();
    assert!(
        log.iter()
            .filter(|l| l.verdict == pugmark::Verdict::Clean)
            .count()
            == 1,
        "{log:?}"
    );
}

#[test]
fn the_istag_follows_the_index() {
    let r = start(ServeOptions::default().with_watch_interval(Some(Duration::from_millis(100))));
    let before = options(r.icap, "/pugmark")
        .field("ISTag")
        .unwrap()
        .to_string();
    let notes = sample("outgoing/patrol-notes.txt");
    let s = connect(r.icap);
    assert!(exchange(&s, "REQMOD", UPLOAD, &notes, Some(4096), true)
        .status
        .starts_with("ICAP/1.0 204"));
    let mut w = pugmark::IndexWriter::open(&r.index, pugmark::IndexOptions::default()).unwrap();
    w.add_paths(&[root().join("data-samples/outgoing/patrol-notes.txt")])
        .unwrap();
    drop(w);
    let started = std::time::Instant::now();
    let mut after = before.clone();
    while after == before && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
        after = options(r.icap, "/pugmark")
            .field("ISTag")
            .unwrap()
            .to_string();
    }
    assert_ne!(after, before);
    // The same connection now gets the new index's answer.
    let blocked = exchange(&s, "REQMOD", UPLOAD, &notes, Some(4096), true);
    assert!(blocked.http_head.starts_with("HTTP/1.1 403"), "{blocked:?}");
    assert_eq!(blocked.field("ISTag"), Some(after.as_str()));
}

#[test]
fn past_the_connection_limit_clients_are_answered_busy() {
    let r = start(ServeOptions::default().with_max_connections(2));
    let held = [connect(r.icap), connect(r.tcp)];
    std::thread::sleep(Duration::from_millis(400));
    assert!(options(r.icap, "/pugmark")
        .status
        .starts_with("ICAP/1.0 503"));
    let mut busy = String::new();
    let _ = connect(r.tcp).read_to_string(&mut busy);
    assert!(
        busy.ends_with(" ERROR\n") && busy.contains("busy"),
        "{busy:?}"
    );
    // A client that sends its whole body before reading still gets the
    // busy answer (it is not lost to a reset from unread input).
    for _ in 0..5 {
        let mut s = TcpStream::connect(r.tcp).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut request = b"zINSTREAM\0".to_vec();
        let body = vec![b'x'; 60_000];
        request.extend_from_slice(&(body.len() as u32).to_be_bytes());
        request.extend_from_slice(&body);
        request.extend_from_slice(&[0, 0, 0, 0]);
        let _ = s.write_all(&request);
        let mut busy = String::new();
        s.read_to_string(&mut busy)
            .expect("the busy answer arrives whole");
        assert!(busy.contains("busy"), "{busy:?}");
    }
    drop(held);
    let started = std::time::Instant::now();
    let mut status = String::new();
    while started.elapsed() < Duration::from_secs(10) {
        status = options(r.icap, "/pugmark").status;
        if status == "ICAP/1.0 200 OK" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        status, "ICAP/1.0 200 OK",
        "slots come back when clients leave"
    );
}

#[test]
fn what_cannot_be_read_as_sent_is_blocked_and_names_do_not_mislead() {
    let r = start(ServeOptions::default());
    let copy = sample("outgoing/dem-copy.tif");
    let s = connect(r.icap);
    // A form part whose headers lie about its charset: its raw bytes are
    // still what is examined.
    let boundary = "b0undary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.tif\"\r\nContent-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&copy);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let head = format!(
        "POST /f HTTP/1.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    );
    let got = exchange(&s, "REQMOD", &head, &form, Some(4096), true);
    assert!(
        got.http_head.contains("X-Pugmark-Verdict: match"),
        "{got:?}"
    );
    // A form that is not delimited as its head says: not passed.
    let head = "POST /f HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=nope\r\n\r\n";
    let got = exchange(&s, "REQMOD", head, b"plain words", None, true);
    assert!(
        got.http_head.contains("X-Pugmark-Verdict: incomplete"),
        "{got:?}"
    );
    // An encoding nothing here opens: not passed.
    let head = "HTTP/1.1 200 OK\r\nContent-Encoding: frob\r\n\r\n";
    let got = exchange(&s, "RESPMOD", head, b"plain words", None, true);
    assert!(
        got.http_head.contains("X-Pugmark-Verdict: incomplete"),
        "{got:?}"
    );
    // A brotli body that does not decode: not passed.
    let head = "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n";
    let got = exchange(
        &s,
        "RESPMOD",
        head,
        b"\xff\xff\xff\xff not brotli",
        None,
        true,
    );
    assert!(got.http_head.starts_with("HTTP/1.1 403"), "{got:?}");
    // A POST to a name that claims an archive: the text body is text.
    let head = "POST /api/upload.zip HTTP/1.1\r\n\r\n";
    let got = exchange(&s, "REQMOD", head, b"{\"just\": \"json\"}", None, true);
    assert!(got.status.starts_with("ICAP/1.0 204"), "{got:?}");
    // Offsets that disagree with the heads, and a Preview that is not a
    // number, are refused.
    for text in [
        format!("REQMOD /pugmark ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body={}\r\n\r\n{UPLOAD}3\r\nabc\r\n0\r\n\r\n", UPLOAD.len() + 5),
        format!("REQMOD /pugmark ICAP/1.0\r\nPreview: 10x\r\nEncapsulated: req-hdr=0, req-body={}\r\n\r\n{UPLOAD}0\r\n\r\n", UPLOAD.len()),
    ] {
        let s = connect(r.icap);
        (&s).write_all(text.as_bytes()).unwrap();
        assert!(response(&mut BufReader::new(&s)).status.starts_with("ICAP/1.0 400"));
    }
}

#[test]
fn a_trickled_head_is_cut_at_the_idle_timeout() {
    let r = start(ServeOptions::default().with_idle_timeout(Duration::from_millis(600)));
    let s = connect(r.icap);
    let started = std::time::Instant::now();
    // A header byte every 100 ms: never idle, never done.
    while started.elapsed() < Duration::from_secs(10) {
        if (&s).write_all(b"X").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut probe = [0u8; 1];
        s.set_nonblocking(true).unwrap();
        let closed = matches!((&s).read(&mut probe), Ok(0));
        s.set_nonblocking(false).unwrap();
        if closed {
            break;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the server closed the connection"
    );
}

#[test]
fn encoded_bodies_are_decoded_before_they_are_judged() {
    use flate2::write::{DeflateEncoder, GzEncoder};
    let r = start(ServeOptions::default());
    let copy = sample("outgoing/dem-copy.tif");
    let s = connect(r.icap);
    // Raw deflate has no magic number: only the head says what it is.
    let mut raw = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw.write_all(&copy).unwrap();
    let raw = raw.finish().unwrap();
    let head = "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n";
    let got = exchange(&s, "RESPMOD", head, &raw, Some(4096), true);
    assert!(
        got.http_head.contains("X-Pugmark-Verdict: match"),
        "{got:?}"
    );
    // An innocent gzip-encoded form passes: its parts are split after
    // decoding.
    let boundary = "zz";
    let form = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nall quiet at the waterhole\r\n--{boundary}--\r\n");
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(form.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let head = format!("POST /f HTTP/1.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Encoding: gzip\r\n\r\n");
    let got = exchange(&s, "REQMOD", &head, &gz, Some(4096), true);
    assert!(got.status.starts_with("ICAP/1.0 204"), "{got:?}");
    // An empty brotli body is empty, not broken.
    let head = "HTTP/1.1 204 No Content\r\nContent-Encoding: br\r\n\r\n";
    let got = exchange(&s, "RESPMOD", head, b"", Some(4096), true);
    assert!(got.status.starts_with("ICAP/1.0 204"), "{got:?}");
}

#[test]
fn bytes_after_the_end_of_an_encoded_stream_are_examined() {
    use flate2::write::{DeflateEncoder, GzEncoder};
    let r = start(ServeOptions::default());
    let copy = sample("outgoing/dem-copy.tif");
    let s = connect(r.icap);
    let innocent = b"all quiet at the waterhole";
    // An empty brotli stream (one byte: the last, empty meta-block), found
    // by asking the decoder rather than written down here.
    let empty_brotli = (0u8..=255)
        .find(|&b| {
            let mut out = Vec::new();
            brotli_decompressor::Decompressor::new(&[b][..], 4096)
                .read_to_end(&mut out)
                .is_ok_and(|_| out.is_empty())
        })
        .expect("a one-byte empty brotli stream");
    let mut deflated = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflated.write_all(innocent).unwrap();
    let deflated = deflated.finish().unwrap();
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(innocent).unwrap();
    let zlib = zlib.finish().unwrap();
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(innocent).unwrap();
    let gz = gz.finish().unwrap();
    for (encoding, stream) in [
        ("br", vec![empty_brotli]),
        ("deflate", deflated),
        ("deflate", zlib),
        ("gzip", gz),
    ] {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\n\r\n");
        // The stream alone passes ...
        let got = exchange(&s, "RESPMOD", &head, &stream, Some(4096), true);
        assert!(
            got.status.starts_with("ICAP/1.0 204"),
            "{encoding}: {got:?}"
        );
        // ... but not with a protected file sent after its end.
        let mut body = stream.clone();
        body.extend_from_slice(&copy);
        let got = exchange(&s, "RESPMOD", &head, &body, Some(4096), true);
        assert!(
            got.http_head.starts_with("HTTP/1.1 403"),
            "{encoding}: {got:?} {:?}",
            r.log.lock().unwrap()
        );
    }
}

#[test]
fn bodies_past_the_held_byte_budget_get_503() {
    let r = start(ServeOptions::default().with_max_held_bytes(40_000));
    let copy = sample("outgoing/dem-copy.tif");
    let s = connect(r.icap);
    let head = "PUT /up/dem.tif HTTP/1.1\r\n\r\n";
    let got = exchange(&s, "REQMOD", head, &copy, Some(4096), true);
    assert!(got.status.starts_with("ICAP/1.0 503"), "{got:?}");
    // Small bodies still pass, the budget given back.
    let s = connect(r.icap);
    let got = exchange(&s, "REQMOD", head, b"just a note", Some(4096), true);
    assert!(got.status.starts_with("ICAP/1.0 204"), "{got:?}");
}

#[test]
fn data_in_a_url_is_examined() {
    let r = start_over(ServeOptions::default(), "data-samples/reserve/telemetry");
    let table = std::fs::read_to_string(
        root().join("data-samples/reserve/telemetry/vega_seattle-weather.csv"),
    )
    .unwrap();
    let rows: Vec<&str> = table.lines().skip(40).take(14).collect();
    let escaped: String = rows
        .join("\n")
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let s = connect(r.icap);
    let send = |http: &str| {
        let text = format!(
            "REQMOD icap://127.0.0.1/pugmark ICAP/1.0\r\nAllow: 204\r\nEncapsulated: req-hdr=0, null-body={}\r\n\r\n{http}",
            http.len()
        );
        (&s).write_all(text.as_bytes()).unwrap();
        response(&mut BufReader::new(&s))
    };
    // Protected records in a GET's query: blocked.
    let got = send(&format!(
        "GET /collect?rows={escaped} HTTP/1.1\r\nHost: x\r\n\r\n"
    ));
    assert!(got.http_head.starts_with("HTTP/1.1 403"), "{got:?}");
    // An ordinary request passes.
    let got =
        send("GET /search?q=waterhole+levels&lang=en HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\n\r\n");
    assert!(got.status.starts_with("ICAP/1.0 204"), "{got:?}");
}

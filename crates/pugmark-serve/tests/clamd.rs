//! The clamd protocol end to end over real sockets: a protected sample is
//! FOUND, an innocent one OK, sessions number their replies, limits and
//! broken clients are answered without harming anyone else, RELOAD picks
//! up a grown index, SHUTDOWN stops the server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pugmark::{IndexOptions, IndexWriter, ScanOptions, Scanner, SharedScanner};
use pugmark_serve::{Listen, ServeOptions, Server};

mod common;
use common::{root, sample, start};

/// Sends `request` on a connected socket and reads until the server closes
/// the connection.
fn ask(mut s: impl Read + Write, request: &[u8]) -> String {
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn ask_unix(socket: &Path, request: &[u8]) -> String {
    let s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    ask(s, request)
}

fn ask_tcp(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    ask(s, request)
}

/// `zINSTREAM` with `data` in chunks of `chunk` bytes.
fn instream(data: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = b"zINSTREAM\0".to_vec();
    for c in data.chunks(chunk.max(1)) {
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

#[test]
fn streams_get_clamds_answers_on_both_sockets() {
    let r = start(ServeOptions::default());
    let copy = sample("outgoing/dem-copy.tif");
    let notes = sample("outgoing/patrol-notes.txt");
    assert_eq!(ask_unix(&r.socket, b"zPING\0"), "PONG\0");
    assert_eq!(ask_tcp(r.tcp, b"nPING\n"), "PONG\n");
    assert_eq!(ask_tcp(r.tcp, b"PING\n"), "PONG\n");
    let found = ask_unix(&r.socket, &instream(&copy, 4096));
    assert!(found.starts_with("stream: Pugmark.Match."), "{found:?}");
    assert!(found.ends_with(" FOUND\0"), "{found:?}");
    assert_eq!(ask_tcp(r.tcp, &instream(&notes, 1000)), "stream: OK\0");
    let version = ask_tcp(r.tcp, b"nVERSIONCOMMANDS\n");
    assert!(version.starts_with("pugmark "), "{version}");
    assert!(version.contains("| COMMANDS: ") && version.contains("INSTREAM"));
    let log = r.log.lock().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].bytes, copy.len() as u64);
    assert_eq!(log[0].verdict, pugmark::Verdict::Match);
}

#[test]
fn a_session_numbers_its_replies() {
    let r = start(ServeOptions::default());
    let copy = sample("outgoing/dem-copy.tif");
    let notes = sample("outgoing/patrol-notes.txt");
    let mut request = b"zIDSESSION\0".to_vec();
    request.extend(instream(&notes, 512));
    request.extend(b"zPING\0");
    request.extend(instream(&copy, 65536));
    request.extend(b"zEND\0");
    let replies = ask_unix(&r.socket, &request);
    let lines: Vec<&str> = replies.split_terminator('\0').collect();
    assert_eq!(lines.len(), 3, "{replies:?}");
    assert_eq!(lines[0], "1: stream: OK");
    assert_eq!(lines[1], "2: PONG");
    assert!(
        lines[2].starts_with("3: stream: Pugmark.Match."),
        "{}",
        lines[2]
    );
}

#[test]
fn limits_and_broken_clients_are_answered_and_harm_nobody() {
    let opts = ServeOptions::default()
        .with_stream_max_length(10_000)
        .with_idle_timeout(Duration::from_millis(500));
    let r = start(opts);
    let big = vec![7u8; 20_000];
    assert_eq!(
        ask_unix(&r.socket, &instream(&big, 4096)),
        "INSTREAM size limit exceeded. ERROR\0"
    );
    // A client that stops mid-body and goes away.
    {
        let mut s = UnixStream::connect(&r.socket).unwrap();
        let body = instream(b"half a body", 4);
        s.write_all(&body[..body.len() / 2]).unwrap();
    }
    // One that never sends the terminator is timed out.
    let mut idle = UnixStream::connect(&r.socket).unwrap();
    idle.write_all(b"zINSTREAM\0\0\0\0\x03abc").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    let _ = idle.read_to_end(&mut out);
    assert!(String::from_utf8_lossy(&out).contains("ERROR") || out.is_empty());
    // Malformed: unknown command, INSTREAM without a prefix.
    assert_eq!(ask_tcp(r.tcp, b"zFROB\0"), "UNKNOWN COMMAND\0");
    assert_eq!(ask_tcp(r.tcp, b"INSTREAM\n"), "UNKNOWN COMMAND\n");
    // Everyone else is still served.
    assert_eq!(ask_unix(&r.socket, b"zPING\0"), "PONG\0");
}

#[test]
fn a_trickling_body_is_cut_at_its_deadline() {
    let r = start(
        ServeOptions::default()
            .with_body_timeout(Duration::from_millis(600))
            .with_idle_timeout(Duration::from_millis(300)),
    );
    let mut s = UnixStream::connect(&r.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"zINSTREAM\0").unwrap();
    let started = std::time::Instant::now();
    // One byte chunk every 100 ms: never idle, never done.
    let mut reply = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        if s.write_all(&[0, 0, 0, 1, b'x']).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.contains("ERROR"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ask_unix(&r.socket, b"zPING\0"), "PONG\0");
}

#[test]
fn scan_reads_only_below_allowed_roots() {
    let outgoing = root().join("data-samples/outgoing");
    let opts = ServeOptions::default().with_scan_roots(vec![outgoing.clone()]);
    let r = start(opts);
    let copy = outgoing.join("dem-copy.tif");
    let reply = ask_unix(&r.socket, format!("zSCAN {}\0", copy.display()).as_bytes());
    assert!(
        reply.contains("Pugmark.Match.") && reply.ends_with("FOUND\0"),
        "{reply}"
    );
    let notes = outgoing.join("patrol-notes.txt");
    let reply = ask_unix(&r.socket, format!("zSCAN {}\0", notes.display()).as_bytes());
    assert_eq!(reply, format!("{}: OK\0", notes.display()));
    let outside = root().join("data-samples/reserve/rasters/rmnp-dem.tif");
    let reply = ask_unix(
        &r.socket,
        format!("zSCAN {}\0", outside.display()).as_bytes(),
    );
    assert!(
        reply.ends_with("ERROR\0") && reply.contains("allowed"),
        "{reply}"
    );
    // Through a link out of the root: the real path decides.
    let escape = r._tmp.path().join("escape");
    std::os::unix::fs::symlink(&outside, &escape).unwrap();
    let reply = ask_unix(
        &r.socket,
        format!("zSCAN {}\0", escape.display()).as_bytes(),
    );
    assert!(reply.ends_with("ERROR\0"), "{reply}");
}

#[test]
fn reload_picks_up_a_grown_index_and_shutdown_stops_the_server() {
    let mut r = start(ServeOptions::default());
    let table = root().join("data-samples/outgoing/statsmodels_co2_maunaloa.csv");
    let data = std::fs::read(&table).unwrap();
    assert_eq!(ask_unix(&r.socket, &instream(&data, 8192)), "stream: OK\0");
    let mut w = IndexWriter::open(&r.index, IndexOptions::default()).unwrap();
    w.add_paths(&[table]).unwrap();
    drop(w);
    assert_eq!(ask_unix(&r.socket, b"zRELOAD\0"), "RELOADING\0");
    let reply = ask_unix(&r.socket, &instream(&data, 8192));
    assert!(reply.starts_with("stream: Pugmark.Match."), "{reply}");
    // Over TCP, SHUTDOWN is not taken: anyone on the host could send it.
    assert_eq!(ask_tcp(r.tcp, b"zSHUTDOWN\0"), "UNKNOWN COMMAND\0");
    assert_eq!(ask_tcp(r.tcp, b"zPING\0"), "PONG\0");
    let stats = ask_tcp(r.tcp, b"zSTATS\0");
    assert!(
        stats.contains("RELOADS: 1") && stats.ends_with("END\0"),
        "{stats}"
    );
    assert_eq!(ask_unix(&r.socket, b"zSHUTDOWN\0"), "");
    r.thread.take().unwrap().join().unwrap().unwrap();
    assert!(!r.socket.exists(), "the socket is removed");
    assert!(UnixStream::connect(&r.socket).is_err());
}

#[test]
fn a_changed_index_is_picked_up_without_reload() {
    let r = start(ServeOptions::default().with_watch_interval(Some(Duration::from_millis(50))));
    let table = root().join("data-samples/outgoing/statsmodels_co2_maunaloa.csv");
    let data = std::fs::read(&table).unwrap();
    assert_eq!(ask_unix(&r.socket, &instream(&data, 8192)), "stream: OK\0");
    let mut w = IndexWriter::open(&r.index, IndexOptions::default()).unwrap();
    w.add_paths(&[table]).unwrap();
    drop(w);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = ask_unix(&r.socket, &instream(&data, 8192));
        if reply.starts_with("stream: Pugmark.Match.") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reloaded: {reply}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn remote_addresses_need_an_explicit_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("idx");
    let mut w = IndexWriter::open(&index, IndexOptions::default()).unwrap();
    w.add_bytes("a", &[1u8; 100_000]);
    w.commit().unwrap();
    drop(w);
    let scanner = Scanner::open(&index, ScanOptions::default()).unwrap();
    let server = Server::new(
        Arc::new(SharedScanner::new(scanner)),
        ServeOptions::default(),
    );
    let err = server
        .bind(&Listen::Tcp("0.0.0.0:0".parse().unwrap()))
        .unwrap_err();
    assert!(err.to_string().contains("--allow-remote"), "{err}");
    // A path that is not a socket is never removed.
    let file = tmp.path().join("not-a-socket");
    std::fs::write(&file, b"x").unwrap();
    assert!(server.bind(&Listen::Unix(file.clone())).is_err());
    assert!(file.exists());
}

/// Sends `zFILDES` with `fd` as clamdscan --fdpass does (a dummy byte
/// carrying the descriptor), returns the reply.
fn fildes(socket: &Path, fd: std::os::fd::BorrowedFd<'_>) -> String {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"zFILDES\0").unwrap();
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    sendmsg(
        &s,
        &[std::io::IoSlice::new(b"x")],
        &mut control,
        SendFlags::empty(),
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn passed_descriptors_are_scanned_whole_and_pipes_refused() {
    use std::io::Seek;
    use std::os::fd::AsFd;
    let r = start(ServeOptions::default());
    let copy = root().join("data-samples/outgoing/dem-copy.tif");
    let mut file = std::fs::File::open(&copy).unwrap();
    // Read from a moved offset: the file is still scanned from its start.
    file.seek(std::io::SeekFrom::Start(1000)).unwrap();
    let reply = fildes(&r.socket, file.as_fd());
    assert!(
        reply.starts_with("fd[") && reply.ends_with("FOUND\0"),
        "{reply}"
    );
    let notes = std::fs::File::open(root().join("data-samples/outgoing/patrol-notes.txt")).unwrap();
    assert!(fildes(&r.socket, notes.as_fd()).ends_with(": OK\0"));
    let (read_end, _write_end) = std::io::pipe().unwrap();
    let reply = fildes(&r.socket, read_end.as_fd());
    assert!(
        reply.ends_with("ERROR\0") && reply.contains("regular"),
        "{reply}"
    );
}

#[test]
fn bodies_past_the_held_byte_budget_are_answered_busy_and_the_budget_comes_back() {
    // Room for one 54 KB body at a time, not for a second beside it.
    let r = start(ServeOptions::default().with_max_held_bytes(80_000));
    let copy = sample("outgoing/dem-copy.tif");
    let reply = ask_unix(&r.socket, &instream(&copy, 8192));
    assert!(reply.starts_with("stream: Pugmark.Match."), "{reply}");
    let mut twice = copy.clone();
    twice.extend_from_slice(&copy);
    let reply = ask_unix(&r.socket, &instream(&twice, 8192));
    assert!(
        reply.contains("busy") && reply.ends_with(" ERROR\0"),
        "{reply}"
    );
    // A held body that never ends holds its bytes only while it lasts.
    let mut open = UnixStream::connect(&r.socket).unwrap();
    let mut start_only = instream(&copy, 8192);
    start_only.truncate(start_only.len() - 4);
    open.write_all(&start_only).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let reply = ask_unix(&r.socket, &instream(&copy, 8192));
    assert!(reply.contains("busy"), "two bodies do not fit: {reply}");
    drop(open);
    let started = std::time::Instant::now();
    let mut reply = String::new();
    while started.elapsed() < Duration::from_secs(10) {
        reply = ask_unix(&r.socket, &instream(&copy, 8192));
        if !reply.contains("busy") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(reply.starts_with("stream: Pugmark.Match."), "{reply}");
    let stats = ask_unix(&r.socket, b"zSTATS\0");
    assert!(stats.contains("HELD: 0 bytes"), "{stats}");
}

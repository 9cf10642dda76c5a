//! Load with faults, bounded and on loopback: concurrent clients send the
//! outgoing samples over INSTREAM (Unix socket and TCP) and ICAP REQMOD
//! while others hold idle connections, cut bodies short, send malformed
//! lengths or never finish, and the index is reloaded midway. Every reply
//! must be the verdict the library gives for the same file's path (what
//! `pugmark scan` prints), one reply per request, none lost or doubled.
//!
//! Sizes come from the environment (defaults keep CI to seconds):
//! `PUGMARK_LOAD_CLIENTS` (8), `PUGMARK_LOAD_REQUESTS` per client (30),
//! `PUGMARK_LOAD_IDLE` idle connections (1000).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pugmark::{ScanOptions, Scanner, Verdict};
use pugmark_serve::ServeOptions;

mod common;
use common::{root, start_over};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn instream(data: &[u8]) -> Vec<u8> {
    let mut out = b"zINSTREAM\0".to_vec();
    for c in data.chunks(16 * 1024) {
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

/// The clamd reply a verdict must get.
fn clamd_agrees(reply: &str, verdict: Verdict) -> bool {
    match verdict {
        Verdict::Clean => reply == "stream: OK\0",
        Verdict::Match => {
            reply.starts_with("stream: Pugmark.Match.") && reply.ends_with(" FOUND\0")
        }
        Verdict::Incomplete => {
            reply.starts_with("stream: Pugmark.Incomplete.") && reply.ends_with(" FOUND\0")
        }
        _ => reply.ends_with(" ERROR\0"),
    }
}

/// One ICAP REQMOD of `body` on a kept-open connection; the status line and
/// the verdict header of a block page, if any.
fn icap_reqmod(s: &TcpStream, r: &mut BufReader<&TcpStream>, body: &[u8]) -> (String, String) {
    let http = "PUT /upload/item HTTP/1.1\r\nHost: example.org\r\n\r\n";
    let mut w = s;
    let mut out = format!(
        "REQMOD icap://127.0.0.1/pugmark ICAP/1.0\r\nHost: x\r\nAllow: 204\r\nEncapsulated: req-hdr=0, req-body={}\r\n\r\n{http}",
        http.len()
    )
    .into_bytes();
    for c in body.chunks(16 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    w.write_all(&out).unwrap();
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut verdict = String::new();
    let mut encapsulated = String::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l == "\r\n" {
            break;
        }
        if let Some(v) = l.strip_prefix("Encapsulated: ") {
            encapsulated = v.trim().to_string();
        }
    }
    if let Some(body_at) = encapsulated.strip_prefix("res-hdr=0, res-body=") {
        let mut head = vec![0u8; body_at.parse().unwrap()];
        r.read_exact(&mut head).unwrap();
        let head = String::from_utf8(head).unwrap();
        verdict = head
            .lines()
            .find_map(|l| l.strip_prefix("X-Pugmark-Verdict: "))
            .unwrap_or_default()
            .to_string();
        // The page, chunked.
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut skip = vec![0u8; n + 2];
            r.read_exact(&mut skip).unwrap();
            if n == 0 {
                break;
            }
        }
    }
    (status.trim().to_string(), verdict)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn load_with_faults_and_a_reload_loses_nothing() {
    let clients = env("PUGMARK_LOAD_CLIENTS", 8);
    let requests = env("PUGMARK_LOAD_REQUESTS", 30);
    let limit = pugmark_serve::server::raise_descriptor_limit().unwrap();
    // Both ends of each idle connection live in this process.
    let idle = env("PUGMARK_LOAD_IDLE", 1000).min((limit.saturating_sub(400) / 2) as usize);
    let r = start_over(
        ServeOptions::default().with_watch_interval(Some(Duration::from_millis(200))),
        "data-samples/reserve",
    );
    // What the library says of each file's path: the CLI's verdicts.
    let reference = Scanner::open(&r.index, ScanOptions::default()).unwrap();
    let mut samples = Vec::new();
    for entry in std::fs::read_dir(root().join("data-samples/outgoing")).unwrap() {
        let path = entry.unwrap().path();
        let verdict = reference.scan_path(&path).verdict;
        samples.push((
            path.display().to_string(),
            std::fs::read(&path).unwrap(),
            verdict,
        ));
    }
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    drop(reference);
    let verdicts: Vec<Verdict> = samples.iter().map(|s| s.2).collect();
    assert!(verdicts.contains(&Verdict::Clean) && verdicts.contains(&Verdict::Match));
    let samples = Arc::new(samples);

    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let replies = Arc::new(AtomicU64::new(0));
    // Idle connections, held to the end (half on each protocol).
    let held: Vec<TcpStream> = (0..idle)
        .map(|i| TcpStream::connect(if i % 2 == 0 { r.tcp } else { r.icap }).unwrap())
        .collect();
    // Broken clients, over and over while the load runs.
    let vandal = {
        let (done, socket, tcp, icap) = (done.clone(), r.socket.clone(), r.tcp, r.icap);
        std::thread::spawn(move || {
            let mut stalled = Vec::new();
            let mut rounds = 0;
            while !done.load(Ordering::Relaxed) {
                rounds += 1;
                // Cut short mid-body, and gone.
                if let Ok(mut s) = UnixStream::connect(&socket) {
                    let _ = s.write_all(&instream(&[7u8; 5000])[..3000]);
                }
                // A length no body can have.
                if let Ok(mut s) = TcpStream::connect(tcp) {
                    let _ = s.write_all(b"zINSTREAM\0\xff\xff\xff\xffabc");
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut out = String::new();
                    let _ = s.read_to_string(&mut out);
                    assert!(out.is_empty() || out.contains("ERROR"), "{out:?}");
                }
                // Never finished: held open.
                if stalled.len() < 50 {
                    if let Ok(mut s) = TcpStream::connect(tcp) {
                        let _ = s.write_all(b"zINSTREAM\0\0\0\x10\0partial");
                        stalled.push(s);
                    }
                }
                // Malformed ICAP chunking.
                if let Ok(mut s) = TcpStream::connect(icap) {
                    let _ = s.write_all(b"REQMOD /pugmark ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=4\r\n\r\nX\r\n\r\nzz\r\n");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            rounds
        })
    };
    // A reload midway: an unrelated item joins the index.
    let reloader = {
        let index = r.index.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            let tmp = tempfile::tempdir().unwrap();
            let unrelated = tmp.path().join("unrelated.bin");
            let noise: Vec<u8> = (0..300_000u32)
                .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
                .collect();
            std::fs::write(&unrelated, noise).unwrap();
            let mut w =
                pugmark::IndexWriter::open(&index, pugmark::IndexOptions::default()).unwrap();
            w.add_paths(&[unrelated]).unwrap();
        })
    };
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let (samples, replies, socket, tcp, icap) = (
                samples.clone(),
                replies.clone(),
                r.socket.clone(),
                r.tcp,
                r.icap,
            );
            std::thread::spawn(move || {
                let icap_conn = TcpStream::connect(icap).unwrap();
                icap_conn
                    .set_read_timeout(Some(Duration::from_secs(120)))
                    .unwrap();
                let mut icap_reader = BufReader::new(&icap_conn);
                let mut wrong = Vec::new();
                for k in 0..requests {
                    let (name, data, want) = &samples[(c * 7 + k * 3) % samples.len()];
                    let agrees = match k % 3 {
                        0 | 1 => {
                            let mut reply = String::new();
                            if k % 3 == 0 {
                                let mut s = UnixStream::connect(&socket).unwrap();
                                s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                                s.write_all(&instream(data)).unwrap();
                                s.read_to_string(&mut reply).unwrap();
                            } else {
                                let mut s = TcpStream::connect(tcp).unwrap();
                                s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                                s.write_all(&instream(data)).unwrap();
                                s.read_to_string(&mut reply).unwrap();
                            }
                            let ok = clamd_agrees(&reply, *want);
                            if !ok {
                                wrong.push(format!("{name}: clamd {reply:?}, want {want:?}"));
                            }
                            ok
                        }
                        _ => {
                            let (status, verdict) = icap_reqmod(&icap_conn, &mut icap_reader, data);
                            let ok = match want {
                                Verdict::Clean => status.starts_with("ICAP/1.0 204"),
                                v => status == "ICAP/1.0 200 OK" && verdict == v.name(),
                            };
                            if !ok {
                                wrong.push(format!(
                                    "{name}: ICAP {status} {verdict}, want {want:?}"
                                ));
                            }
                            ok
                        }
                    };
                    let _ = agrees;
                    replies.fetch_add(1, Ordering::Relaxed);
                }
                wrong
            })
        })
        .collect();
    let mut wrong = Vec::new();
    for w in workers {
        wrong.extend(w.join().unwrap());
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let rounds = vandal.join().unwrap();
    reloader.join().unwrap();
    // The reload was picked up while serving.
    let mut stats = String::new();
    let mut s = UnixStream::connect(&r.socket).unwrap();
    s.write_all(b"zSTATS\0").unwrap();
    s.read_to_string(&mut stats).unwrap();
    // The idle connections were never refused.
    for (i, c) in held.iter().enumerate().take(20) {
        c.set_nonblocking(true).unwrap();
        let mut probe = [0u8; 64];
        let refused = matches!((&*c).read(&mut probe), Ok(n) if n > 0);
        assert!(!refused, "idle connection {i} was answered busy");
    }
    let total = (clients * requests) as u64;
    println!(
        "load: {clients} clients x {requests} requests = {total} in {:.2} s ({:.0} requests/s), {idle} idle connections, {rounds} rounds of broken clients, peak RSS {} MiB\n{stats}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        peak_rss_kib() / 1024
    );
    assert!(
        wrong.is_empty(),
        "{} wrong replies: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert_eq!(replies.load(Ordering::Relaxed), total);
    assert!(
        stats.contains("RELOADS: 1") || stats.contains("RELOADS: 2"),
        "{stats}"
    );
    assert!(
        peak_rss_kib() < 2 * 1024 * 1024,
        "peak RSS {} KiB",
        peak_rss_kib()
    );
}

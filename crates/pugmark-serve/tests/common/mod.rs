//! What the protocol tests share: a server over an index of
//! data-samples/reserve/rasters on a Unix socket, a clamd TCP port and an
//! ICAP port, with its log lines kept.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pugmark::{IndexOptions, IndexWriter, ScanOptions, Scanner, SharedScanner};
use pugmark_serve::server::ScanLog;
use pugmark_serve::{Listen, ServeOptions, Server};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn sample(rel: &str) -> Vec<u8> {
    std::fs::read(root().join("data-samples").join(rel)).unwrap()
}

pub struct Running {
    pub server: Arc<Server>,
    pub socket: PathBuf,
    pub tcp: std::net::SocketAddr,
    pub icap: std::net::SocketAddr,
    pub index: PathBuf,
    pub thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    pub log: Arc<Mutex<Vec<ScanLog>>>,
    pub _tmp: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A server over an index of data-samples/reserve/rasters, on a Unix
/// socket, a clamd loopback port and an ICAP loopback port, with `opts`.
pub fn start(opts: ServeOptions) -> Running {
    start_over(opts, "data-samples/reserve/rasters")
}

/// A server over an index of `protected` (relative to the repository),
/// as [`start`].
pub fn start_over(opts: ServeOptions, protected: &str) -> Running {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("idx");
    let mut w = IndexWriter::open(&index, IndexOptions::default()).unwrap();
    w.add_paths(&[root().join(protected)]).unwrap();
    drop(w);
    let scanner = Scanner::open(&index, ScanOptions::default().with_threads(2)).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let opts = opts.with_log(Arc::new(move |l: &ScanLog| {
        sink.lock().unwrap().push(l.clone())
    }));
    let server = Server::new(Arc::new(SharedScanner::new(scanner)), opts);
    let socket = tmp.path().join("clamd.sock");
    let unix = server.bind(&Listen::Unix(socket.clone())).unwrap();
    let tcp = server
        .bind(&Listen::Tcp("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = tcp.tcp_addr().unwrap();
    let icap = server.bind_icap("127.0.0.1:0".parse().unwrap()).unwrap();
    let icap_addr = icap.tcp_addr().unwrap();
    let run = server.clone();
    let thread = std::thread::spawn(move || run.run(vec![unix, tcp, icap]));
    Running {
        server,
        socket,
        tcp: addr,
        icap: icap_addr,
        index,
        thread: Some(thread),
        log,
        _tmp: tmp,
    }
}

//! The listeners and connections of `pugmark serve`: clamd's protocol on
//! Unix sockets and loopback TCP ports, ICAP on loopback TCP ports, one
//! thread per connection (at most [`ServeOptions::max_connections`]; a
//! client past that gets a busy answer), at most
//! [`ServeOptions::max_scans`] scans at once (further scans wait, their
//! bodies held in [`Spool`]s: memory, then unnamed temporary files), every
//! scan on one [`SharedScanner`] that `RELOAD` swaps.
//!
//! Threads, not an async runtime: a connection spends its time in the scan;
//! a blocking thread per connection costs little next to it (an idle one is
//! a parked thread and a small stack) and keeps back-pressure plain.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pugmark::{Report, SharedScanner, Verdict};

use crate::clamd::{
    read_command, verdict_reply, write_reply, Command, IncompleteAs, Instream, ScanMode, StreamEnd,
    COMMANDS, SIZE_LIMIT_REPLY,
};
use crate::decode;
use crate::icap::{self, BodyEnd, IcapError, Method};
use crate::slots::{ScanSlot, ScanSlots};
use crate::spool::{self, HeldBytes, Spool};

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// A Unix socket at this path (made owner- and group-writable).
    Unix(PathBuf),
    /// A TCP address (loopback unless [`ServeOptions::allow_remote`]).
    Tcp(SocketAddr),
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
            Listen::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

impl std::str::FromStr for Listen {
    type Err = String;

    /// `unix:PATH` or `tcp:HOST:PORT`.
    fn from_str(s: &str) -> Result<Listen, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp:") {
            return addr
                .parse()
                .map(Listen::Tcp)
                .map_err(|e| format!("{addr}: {e}"));
        }
        Err(format!("{s}: expected unix:PATH or tcp:HOST:PORT"))
    }
}

/// One scan's log line: who asked, how much, what came of it, how long.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ScanLog {
    /// The evidence id (also on ICAP block pages): unique per server run.
    pub id: String,
    /// The client (`unix` or its address).
    pub client: String,
    /// What was scanned (`stream`, a path).
    pub subject: String,
    /// Bytes scanned (stream bytes; a file's size).
    pub bytes: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// The signals that matched, or the first reason code.
    pub detail: String,
    /// Wall time of the scan.
    pub elapsed: Duration,
}

/// Receives log lines (the server itself never prints).
pub type LogSink = Arc<dyn Fn(&ScanLog) + Send + Sync>;

/// Options of the server.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Connections held open at once (default 4096, idle ones included;
    /// see [`raise_descriptor_limit`]);
    /// a client past it is answered busy (clamd: `... ERROR`; ICAP: `503`)
    /// and closed.
    pub max_connections: usize,
    /// Scans run at once (default twice the cores); more wait for one to
    /// end, their bodies held (each body is read whole before its scan, so
    /// a slow client holds no scan slot).
    pub max_scans: usize,
    /// Largest `INSTREAM` body (clamd's `StreamMaxLength`; default
    /// 100 MiB).
    pub stream_max_length: u64,
    /// Most bytes of bodies held at once, over all connections (default
    /// 2 GiB; in memory up to 256 KiB a body, then in temporary files). A
    /// body that would pass it is answered busy (clamd: `... ERROR`; ICAP:
    /// `503`), never scanned in part. Keep it well above
    /// [`stream_max_length`](Self::stream_max_length), or large bodies are
    /// always busy.
    pub max_held_bytes: u64,
    /// Longest a held body waits for a scan slot (default 60 s); slots are
    /// given in arrival order. Past it the body is answered busy.
    pub max_scan_wait: Duration,
    /// A connection that sends nothing for this long is closed (default
    /// 30 s).
    pub idle_timeout: Duration,
    /// Longest an `INSTREAM` body may take to arrive, however steadily it
    /// trickles (default 5 min): a client sending a byte now and then would
    /// otherwise hold its connection slot for ever. Past it the body is
    /// refused with `ERROR`.
    pub body_timeout: Duration,
    /// Directories `SCAN` may read below (default none: `SCAN` is refused,
    /// since a client could otherwise make the server read any file it
    /// can).
    pub scan_roots: Vec<PathBuf>,
    /// What an `incomplete` verdict is answered with (default `FOUND`).
    pub incomplete_as: IncompleteAs,
    /// Accept a TCP address other than loopback (default no).
    pub allow_remote: bool,
    /// How often the index's manifest is checked for a writer's changes,
    /// which are then picked up as `RELOAD` would (default 2 s; `None`:
    /// only on `RELOAD`).
    pub watch_interval: Option<Duration>,
    /// Where log lines go (default nowhere).
    pub log: LogSink,
}

/// Chainable setters (the struct is `#[non_exhaustive]`).
macro_rules! setters {
    ($($setter:ident: $field:ident: $ty:ty),* $(,)?) => {
        impl ServeOptions {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                #[must_use]
                pub fn $setter(mut self, $field: $ty) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}

setters!(
    with_max_connections: max_connections: usize,
    with_max_scans: max_scans: usize,
    with_stream_max_length: stream_max_length: u64,
    with_max_held_bytes: max_held_bytes: u64,
    with_max_scan_wait: max_scan_wait: Duration,
    with_idle_timeout: idle_timeout: Duration,
    with_body_timeout: body_timeout: Duration,
    with_scan_roots: scan_roots: Vec<PathBuf>,
    with_incomplete_as: incomplete_as: IncompleteAs,
    with_allow_remote: allow_remote: bool,
    with_watch_interval: watch_interval: Option<Duration>,
    with_log: log: LogSink,
);

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 4096,
            max_scans: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            stream_max_length: 100 << 20,
            max_held_bytes: 2 << 30,
            max_scan_wait: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(300),
            scan_roots: Vec::new(),
            incomplete_as: IncompleteAs::Found,
            allow_remote: false,
            watch_interval: Some(Duration::from_secs(2)),
            log: Arc::new(|_| {}),
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("max_connections", &self.max_connections)
            .field("max_scans", &self.max_scans)
            .field("stream_max_length", &self.stream_max_length)
            .field("max_held_bytes", &self.max_held_bytes)
            .field("max_scan_wait", &self.max_scan_wait)
            .field("idle_timeout", &self.idle_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("scan_roots", &self.scan_roots)
            .field("incomplete_as", &self.incomplete_as)
            .field("allow_remote", &self.allow_remote)
            .field("watch_interval", &self.watch_interval)
            .finish_non_exhaustive()
    }
}

/// Counters `STATS` reports.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    scans: AtomicU64,
    clean: AtomicU64,
    matched: AtomicU64,
    incomplete: AtomicU64,
    errors: AtomicU64,
    reloads: AtomicU64,
    busy: AtomicU64,
}

/// A bound listener.
#[derive(Debug)]
pub enum Bound {
    /// A Unix socket (removed when the server stops).
    Unix(UnixListener, PathBuf),
    /// A TCP socket for clamd's protocol.
    Tcp(TcpListener),
    /// A TCP socket for ICAP.
    Icap(TcpListener),
}

impl Bound {
    /// The TCP address actually bound (with the port the system chose for
    /// port 0), if this is a TCP listener.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Bound::Tcp(l) | Bound::Icap(l) => l.local_addr().ok(),
            Bound::Unix(..) => None,
        }
    }
}

/// The clamd-protocol server over one shared scanner.
pub struct Server {
    scanner: Arc<SharedScanner>,
    opts: ServeOptions,
    stopping: AtomicBool,
    /// Connections being served, and a wake-up when one ends.
    active: (Mutex<usize>, Condvar),
    /// Scan slots, given in arrival order.
    slots: ScanSlots,
    /// Bytes of bodies held, over all connections.
    held: Arc<HeldBytes>,
    /// Busy answers being delivered (each on a short-lived thread).
    refusing: AtomicUsize,
    counters: Counters,
    started: Instant,
    /// Start time in seconds since the Unix epoch (the evidence ids' prefix).
    epoch: u64,
    /// The next evidence id's sequence number.
    next_id: AtomicU64,
    /// When the watcher last looked at the manifest.
    last_check: Mutex<Instant>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server answering with `scanner`.
    pub fn new(scanner: Arc<SharedScanner>, opts: ServeOptions) -> Arc<Server> {
        Arc::new(Server {
            scanner,
            stopping: AtomicBool::new(false),
            active: (Mutex::new(0), Condvar::new()),
            slots: ScanSlots::new(opts.max_scans),
            held: HeldBytes::new(opts.max_held_bytes),
            refusing: AtomicUsize::new(0),
            counters: Counters::default(),
            started: Instant::now(),
            epoch: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            next_id: AtomicU64::new(1),
            last_check: Mutex::new(Instant::now()),
            opts,
        })
    }

    /// Binds `listen`. A TCP address off loopback is refused unless
    /// [`ServeOptions::allow_remote`]; a Unix socket path that exists is
    /// replaced only if it is a socket nobody answers on.
    pub fn bind(&self, listen: &Listen) -> io::Result<Bound> {
        match listen {
            Listen::Tcp(addr) => self.bind_tcp(*addr).map(Bound::Tcp),
            Listen::Unix(path) => {
                if let Ok(meta) = std::fs::symlink_metadata(path) {
                    use std::os::unix::fs::FileTypeExt;
                    if !meta.file_type().is_socket() {
                        return Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!("{} exists and is not a socket", path.display()),
                        ));
                    }
                    match UnixStream::connect(path) {
                        // Nobody listens: a stale socket from a server gone.
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                            std::fs::remove_file(path)?;
                        }
                        Ok(_) => {
                            return Err(io::Error::new(
                                io::ErrorKind::AddrInUse,
                                format!("{} is in use by a running server", path.display()),
                            ))
                        }
                        Err(e) => {
                            return Err(io::Error::new(
                                e.kind(),
                                format!("{} exists and cannot be checked: {e}", path.display()),
                            ))
                        }
                    }
                }
                let listener = UnixListener::bind(path)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
                Ok(Bound::Unix(listener, path.clone()))
            }
        }
    }

    /// Binds ICAP's service (`icap://ADDR/pugmark`) on `addr`, loopback
    /// unless [`ServeOptions::allow_remote`].
    pub fn bind_icap(&self, addr: SocketAddr) -> io::Result<Bound> {
        self.bind_tcp(addr).map(Bound::Icap)
    }

    fn bind_tcp(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        if !addr.ip().is_loopback() && !self.opts.allow_remote {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{addr} is not a loopback address (pass --allow-remote to listen on it)"),
            ));
        }
        TcpListener::bind(addr)
    }

    /// Serves every listener until [`shutdown`](Self::shutdown) (or a
    /// client's `SHUTDOWN`); then waits for the connections being served
    /// and removes the Unix sockets.
    pub fn run(self: &Arc<Self>, listeners: Vec<Bound>) -> io::Result<()> {
        let mut accepting = Vec::new();
        let mut started = Ok(());
        for bound in listeners {
            let server = self.clone();
            let spawned = match bound {
                Bound::Tcp(l) => std::thread::Builder::new()
                    .name("pugmark-serve-tcp".into())
                    .spawn(move || server.accept_tcp(l, Protocol::Clamd)),
                Bound::Icap(l) => std::thread::Builder::new()
                    .name("pugmark-serve-icap".into())
                    .spawn(move || server.accept_tcp(l, Protocol::Icap)),
                Bound::Unix(l, path) => std::thread::Builder::new()
                    .name("pugmark-serve-unix".into())
                    .spawn(move || server.accept_unix(l, path)),
            };
            match spawned {
                Ok(thread) => accepting.push(thread),
                Err(e) => {
                    started = Err(e);
                    break;
                }
            }
        }
        if started.is_ok() {
            if let Some(every) = self.opts.watch_interval {
                let server = self.clone();
                let watcher = std::thread::Builder::new()
                    .name("pugmark-serve-watch".into())
                    .spawn(move || server.watch(every.max(Duration::from_millis(50))));
                if let Err(e) = watcher {
                    started = Err(e);
                }
            }
        }
        if started.is_err() {
            // Stop the listeners already started (their sockets removed).
            self.shutdown();
        }
        for thread in accepting {
            let _ = thread.join();
        }
        let (lock, idle) = &self.active;
        let mut active = lock.lock().unwrap_or_else(|e| e.into_inner());
        while *active > 0 {
            active = idle.wait(active).unwrap_or_else(|e| e.into_inner());
        }
        started
    }

    /// Stops accepting connections (within [`ACCEPT_POLL`]); connections
    /// being served finish their current command.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake accept loops waiting for a free connection slot.
        self.active.1.notify_all();
    }

    /// Reloads the index whenever a writer has changed it, until stopping.
    /// A failed reload keeps the current index and is tried again.
    fn watch(&self, every: Duration) {
        while !self.is_stopping() {
            std::thread::sleep(every.min(Duration::from_millis(500)));
            if self
                .last_check
                .lock()
                .map(|t| t.elapsed() < every)
                .unwrap_or(false)
            {
                continue;
            }
            if let Ok(mut t) = self.last_check.lock() {
                *t = Instant::now();
            }
            if let Ok(true) = self.scanner.reload() {
                self.counters.reloads.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether the server is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn accept_tcp(self: Arc<Self>, listener: TcpListener, protocol: Protocol) {
        if listener.set_nonblocking(true).is_err() {
            return;
        }
        while !self.is_stopping() {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if stream.set_nonblocking(false).is_ok() {
                        self.spawn_connection(stream, peer.to_string(), protocol);
                    }
                }
                Err(e) => wait_for_client(&listener, &e),
            }
        }
    }

    fn accept_unix(self: Arc<Self>, listener: UnixListener, path: PathBuf) {
        if listener.set_nonblocking(true).is_ok() {
            while !self.is_stopping() {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if stream.set_nonblocking(false).is_ok() {
                            self.spawn_connection(
                                UnixConnection::new(stream),
                                "unix".to_string(),
                                Protocol::Clamd,
                            );
                        }
                    }
                    Err(e) => wait_for_client(&listener, &e),
                }
            }
        }
        let _ = std::fs::remove_file(path);
    }

    /// Serves one connection on its own thread, or answers it busy when
    /// every connection slot is taken.
    fn spawn_connection<S>(self: &Arc<Self>, stream: S, client: String, protocol: Protocol)
    where
        S: Connection + Send + 'static,
    {
        {
            let mut active = self.active.0.lock().unwrap_or_else(|e| e.into_inner());
            if *active >= self.opts.max_connections.max(1) {
                drop(active);
                self.refuse_busy(stream, protocol);
                return;
            }
            *active += 1;
        }
        // Gives the slot back however the connection ends, a panic included.
        let slot = Slot(self.clone());
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("pugmark-serve-conn".into())
            .spawn(move || {
                let server = &slot.0;
                if stream.set_timeouts(server.opts.idle_timeout).is_ok() {
                    match protocol {
                        Protocol::Clamd => server.serve(&stream, &client),
                        Protocol::Icap => server.serve_icap(&stream, &client),
                    }
                }
            });
        // On a failed spawn the closure, and the slot with it, is dropped.
        drop(spawned);
    }

    /// Answers a client past the connection limit busy (clamd: `ERROR`,
    /// ICAP: `503`), then reads and drops what it sends for a moment, so
    /// the answer is not lost to the reset that closing with unread input
    /// causes. At most [`MAX_REFUSING`] such answers are delivered at once,
    /// each on a short-lived thread; past that a client is answered and
    /// closed at once.
    fn refuse_busy<S>(self: &Arc<Self>, stream: S, protocol: Protocol)
    where
        S: Connection + Send + 'static,
    {
        self.counters.busy.fetch_add(1, Ordering::Relaxed);
        let busy = match protocol {
            Protocol::Clamd => {
                "pugmark is busy (too many connections), try again ERROR\n".to_string()
            }
            Protocol::Icap => icap_busy_head(&self.istag()),
        };
        let refuse = move |drain: bool| {
            let _ = stream.set_timeouts(REFUSE_TIME);
            if stream.writer().write_all(busy.as_bytes()).is_ok() && drain {
                drain_and_close(
                    &stream,
                    &mut stream.reader(),
                    REFUSE_DRAIN,
                    Instant::now() + REFUSE_TIME,
                );
            }
        };
        if self.refusing.fetch_add(1, Ordering::AcqRel) < MAX_REFUSING {
            let server = self.clone();
            let spawned = std::thread::Builder::new()
                .name("pugmark-serve-busy".into())
                .spawn(move || {
                    refuse(true);
                    server.refusing.fetch_sub(1, Ordering::AcqRel);
                });
            if spawned.is_err() {
                self.refusing.fetch_sub(1, Ordering::AcqRel);
            }
        } else {
            self.refusing.fetch_sub(1, Ordering::AcqRel);
            refuse(false);
        }
    }

    /// Answers one connection: one command, or a whole `IDSESSION`.
    fn serve<S: Connection>(&self, stream: &S, client: &str) {
        let mut reader = BufReader::new(Deadline {
            inner: stream.reader(),
            at: Instant::now(),
        });
        let mut writer = stream.writer();
        let mut session: Option<u64> = None;
        loop {
            // A command must arrive whole within the idle timeout, however
            // it trickles; what follows it has deadlines of its own.
            reader.get_mut().at = later(Instant::now(), self.opts.idle_timeout);
            let request = match read_command(&mut reader) {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => return,
            };
            reader.get_mut().at = self.after_head();
            let id = session.map(|n| n + 1);
            if let Some(n) = &mut session {
                *n += 1;
            }
            let delimiter = request.delimiter;
            let mut say = |text: &str| write_reply(&mut writer, delimiter, id, text);
            let answered = match request.command {
                Command::Ping => say("PONG"),
                Command::Version => say(&self.version()),
                Command::VersionCommands => {
                    say(&format!("{} | COMMANDS: {COMMANDS}", self.version()))
                }
                Command::Reload => {
                    let text = match self.scanner.reload() {
                        Ok(reloaded) => {
                            if reloaded {
                                self.counters.reloads.fetch_add(1, Ordering::Relaxed);
                            }
                            "RELOADING".to_string()
                        }
                        Err(e) => format!("RELOAD failed: {e} ERROR"),
                    };
                    say(&text)
                }
                // Only local users who may open the Unix socket can stop the
                // server: over TCP anyone on the host (or network) could.
                Command::Shutdown if client == "unix" => {
                    self.shutdown();
                    return;
                }
                Command::Stats => say(&self.stats()),
                Command::Instream if request.prefixed => {
                    match self.instream(&mut reader, client) {
                        Ok(text) => say(&text),
                        Err(text) => {
                            // The reply, then what the client still sends is
                            // read and dropped for a moment (bounded in bytes
                            // and time): closing with unread input would
                            // reset the connection and lose the reply.
                            if say(&text).is_ok() {
                                self.drain_and_close(stream, &mut reader);
                            }
                            return;
                        }
                    }
                }
                Command::Scan { mode, path } => {
                    let replies = self.scan_path(&path, mode, client);
                    replies.iter().try_for_each(|text| say(text))
                }
                Command::Fildes => {
                    // The descriptor rides on at least one byte sent after
                    // the command: reading that byte receives it.
                    let mut dummy = [0u8; 1];
                    let text = match reader.read(&mut dummy) {
                        Ok(1) => match stream.take_fd() {
                            Some(fd) => self.scan_fd(fd, client),
                            None => "fd: no descriptor was passed ERROR".to_string(),
                        },
                        _ => "fd: the descriptor's message never came ERROR".to_string(),
                    };
                    say(&text)
                }
                Command::IdSession if request.prefixed && session.is_none() => {
                    session = Some(0);
                    Ok(())
                }
                Command::End if session.is_some() => return,
                _ => {
                    let _ = say("UNKNOWN COMMAND");
                    return;
                }
            };
            if answered.is_err() || session.is_none() || self.is_stopping() {
                return;
            }
        }
    }

    /// Answers one ICAP connection: requests until the client closes, asks
    /// to, or the server stops.
    fn serve_icap<S: Connection>(&self, stream: &S, client: &str) {
        let mut reader = BufReader::new(Deadline {
            inner: stream.reader(),
            at: Instant::now(),
        });
        let mut writer = stream.writer();
        loop {
            // A request's heads must arrive whole within the idle timeout,
            // however they trickle; the body has a deadline of its own.
            reader.get_mut().at = later(Instant::now(), self.opts.idle_timeout);
            let request = icap::read_request(&mut reader);
            reader.get_mut().at = self.after_head();
            let request = match request {
                Ok(Some(r)) => r,
                Ok(None) | Err(IcapError::Io(_)) => return,
                Err(e) => {
                    let status = match e {
                        IcapError::Version(_) => "505 ICAP Version Not Supported",
                        _ => "400 Bad Request",
                    };
                    let _ = icap::write_head(&mut writer, status, &self.istag(), &closing());
                    return;
                }
            };
            let istag = self.istag();
            if request.service != icap::SERVICE_PATH {
                // The body (if any) is not read: the connection ends here.
                let _ = icap::write_head(
                    &mut writer,
                    "404 ICAP Service Not Found",
                    &istag,
                    &closing(),
                );
                return;
            }
            let next = match request.method {
                Method::Options if request.body.is_none() => {
                    // Half the slots: one proxy must not take them all.
                    let fields = icap::options_fields(
                        (self.opts.max_connections / 2).max(1),
                        OPTIONS_TTL_SECS,
                    );
                    match icap::write_head(&mut writer, "200 OK", &istag, &fields) {
                        Ok(()) => Next::Keep,
                        Err(_) => Next::Close,
                    }
                }
                Method::Reqmod | Method::Respmod => {
                    self.icap_adapt(&request, &mut reader, stream, client, &istag)
                }
                Method::Options => {
                    let _ = icap::write_head(&mut writer, "400 Bad Request", &istag, &closing());
                    Next::Close
                }
                Method::Other(_) => {
                    let _ = icap::write_head(
                        &mut writer,
                        "501 Method Not Implemented",
                        &istag,
                        &closing(),
                    );
                    Next::Close
                }
            };
            match next {
                Next::Keep if !request.wants_close() && !self.is_stopping() => {}
                Next::Keep | Next::Close => return,
                Next::DrainAndClose => {
                    self.drain_and_close(stream, &mut reader);
                    return;
                }
            }
        }
    }

    /// Scans a `REQMOD` / `RESPMOD` message's body and answers: `204` or
    /// the message echoed when clean, an HTTP 403 page otherwise.
    fn icap_adapt<R: io::BufRead, S: Connection>(
        &self,
        request: &icap::Request,
        reader: &mut R,
        stream: &S,
        client: &str,
        istag: &str,
    ) -> Next {
        let started = Instant::now();
        let writer = &mut stream.writer();
        let target = request
            .http_request
            .as_deref()
            .and_then(icap::http_target)
            .unwrap_or("-");
        let method = if request.method == Method::Respmod {
            "RESPMOD"
        } else {
            "REQMOD"
        };
        let subject: String = format!("{method} {target}").chars().take(300).collect();
        let may_204 = request.allows("204");
        let head = request.adapted_head();
        // An outgoing request's own head (URL query, cookies, fields) is
        // examined with its body.
        let outgoing = match (&request.method, request.http_request.as_deref()) {
            (Method::Reqmod, Some(h)) => Some(icap::outgoing_head_text(h)),
            _ => None,
        };
        if request.body.is_none() {
            // Heads only: a request's head is still examined.
            if let Some(text) = &outgoing {
                // A head is small (at most icap::MAX_HEAD_BYTES): scanned
                // without waiting for a scan slot, so plain GETs are not
                // held behind large bodies.
                let report = self.scanner.current().scan_bytes("request!http-head", text);
                let (id, detail) = self.record(client, &subject, 0, &report, started);
                if report.verdict != Verdict::Clean {
                    return match block(writer, istag, report.verdict.name(), &detail, &id) {
                        Ok(()) => Next::Keep,
                        Err(_) => Next::Close,
                    };
                }
            }
            let answered = if may_204 || request.preview().is_some() {
                icap::write_head(
                    writer,
                    "204 No Content",
                    istag,
                    &[("Encapsulated", "null-body=0".into())],
                )
            } else {
                echo(writer, request, istag, None)
            };
            return if answered.is_ok() {
                Next::Keep
            } else {
                Next::Close
            };
        }
        let mut spool = self.spool();
        // A PUT names the file it stores; other targets (POST /api/x.zip)
        // and downloads say nothing of what the body is, so only a PUT's
        // target or a download's Content-Disposition name it.
        let name = match request.method {
            Method::Respmod => head
                .and_then(|h| icap::http_header(h, "Content-Disposition"))
                .as_deref()
                .and_then(|d| {
                    d.split(';')
                        .find_map(|p| p.trim().strip_prefix("filename="))
                })
                .map_or_else(|| "body".to_string(), |f| scan_name(f.trim_matches('"'))),
            _ if request.http_request.as_deref().and_then(icap::http_method) == Some("PUT") => {
                scan_name(target)
            }
            _ => "body".to_string(),
        };
        let view = head.map(icap::BodyView::of).unwrap_or_default();
        let mut continue_to = stream.writer();
        let mut body = icap::ChunkedBody::new(
            reader,
            request.preview().is_some(),
            self.opts.stream_max_length,
            &mut continue_to,
        )
        .with_deadline(later(started, self.opts.body_timeout));
        // The body is held whole first: a slow client holds no scan slot.
        let spooled = io::copy(&mut body, &mut spool);
        let (end, bytes, in_preview) = (body.end(), body.len(), body.ended_in_preview());
        let (report, next) = match (end, spooled) {
            (BodyEnd::Complete, Ok(_)) => {
                match self.scan_message(&name, &view, &mut spool, outgoing.as_deref()) {
                    Ok(report) => (report, Next::Keep),
                    // Read whole: the connection closes cleanly after the 503.
                    Err(_busy) => {
                        let _ = writer.write_all(icap_busy_head(istag).as_bytes());
                        return Next::Close;
                    }
                }
            }
            // No room to hold the body: busy, never scanned in part.
            (_, Err(e)) if spool::is_over_budget(&e) => {
                let _ = self.busy(e);
                let _ = writer.write_all(icap_busy_head(istag).as_bytes());
                return Next::DrainAndClose;
            }
            (BodyEnd::Malformed, _) => {
                let _ = icap::write_head(writer, "400 Bad Request", istag, &closing());
                return Next::Close;
            }
            // The client is gone, or too slow: nobody to answer.
            (BodyEnd::Truncated, _) => return Next::Close,
            (BodyEnd::TooLarge, _) => (
                Report::not_examined(
                    &name,
                    pugmark::Reason::new(
                        "limits.max_stream",
                        format!(
                            "the body is over the {}-byte limit",
                            self.opts.stream_max_length
                        ),
                    ),
                ),
                Next::DrainAndClose,
            ),
            // Holding the body failed (no room for the spool): still
            // answered, and blocked.
            (BodyEnd::Complete | BodyEnd::Open, result) => {
                let why = result
                    .err()
                    .map_or_else(|| "cut short".to_string(), |e| e.to_string());
                (
                    Report::error(&name, format!("holding the body: {why}")),
                    Next::DrainAndClose,
                )
            }
        };
        let (id, detail) = self.record(client, &subject, bytes, &report, started);
        // Passed only when read whole and found clean.
        let answered = if report.verdict == Verdict::Clean && end == BodyEnd::Complete {
            if in_preview || may_204 {
                icap::write_head(
                    writer,
                    "204 No Content",
                    istag,
                    &[("Encapsulated", "null-body=0".into())],
                )
            } else {
                echo(writer, request, istag, Some(&mut spool))
            }
        } else {
            let verdict = match report.verdict {
                Verdict::Clean => Verdict::Incomplete,
                v => v,
            };
            block(writer, istag, verdict.name(), &detail, &id)
        };
        match answered {
            Ok(()) => next,
            Err(_) => Next::Close,
        }
    }

    /// The `ISTag` of the index answering now: it changes on every reload
    /// that found a new snapshot.
    fn istag(&self) -> String {
        format!("pugmark-{}", self.scanner.current().index().snapshot_id())
    }

    /// After a last answer sent before the request was read whole: see
    /// [`drain_and_close`] (up to [`DRAIN_MAX`] bytes, for at most the idle
    /// timeout).
    fn drain_and_close<S: Connection>(&self, stream: &S, reader: &mut impl Read) {
        drain_and_close(
            stream,
            reader,
            DRAIN_MAX,
            later(Instant::now(), self.opts.idle_timeout),
        );
    }

    /// The connection-level deadline once a command or head has arrived:
    /// past any body's own deadline and the drain after it.
    fn after_head(&self) -> Instant {
        let after_body = later(Instant::now(), self.opts.body_timeout);
        later(after_body, self.opts.idle_timeout.saturating_mul(2))
    }

    /// Waits for a scan slot (its body is already held), after every body
    /// that arrived earlier, for at most [`ServeOptions::max_scan_wait`].
    fn scan_slot(&self) -> Result<ScanSlot<'_>, Busy> {
        self.slots
            .take(self.opts.max_scan_wait)
            .ok_or_else(|| self.busy("no scan slot came free in time"))
    }

    /// Counts a busy answer about to be given, and why.
    fn busy(&self, why: impl std::fmt::Display) -> Busy {
        self.counters.busy.fetch_add(1, Ordering::Relaxed);
        Busy(why.to_string())
    }

    /// A spool whose bytes count against the server's
    /// [`ServeOptions::max_held_bytes`].
    fn spool(&self) -> Spool {
        Spool::within(self.held.clone())
    }

    /// Scans an `INSTREAM` body; the reply, or (`Err`) the last reply
    /// before the connection is closed.
    fn instream<R: Read>(&self, reader: &mut R, client: &str) -> Result<String, String> {
        let started = Instant::now();
        let deadline = Deadline {
            inner: reader,
            at: later(started, self.opts.body_timeout),
        };
        let mut body = Instream::new(deadline, self.opts.stream_max_length);
        // The body is held whole first: a slow client holds no scan slot.
        let mut spool = self.spool();
        let spooled = io::copy(&mut body, &mut spool);
        if let Err(e) = &spooled {
            if spool::is_over_budget(e) {
                return Err(self.busy(e).clamd_reply("stream"));
            }
        }
        match body.end() {
            StreamEnd::TooLarge => Err(SIZE_LIMIT_REPLY.to_string()),
            StreamEnd::Truncated | StreamEnd::Open => Err(
                "stream: the body did not arrive whole in time (cut short, idle or over the body timeout) ERROR"
                    .to_string(),
            ),
            StreamEnd::Complete => {
                let report = match spooled {
                    Ok(_) => match self.scan_spool("stream", &mut spool) {
                        Ok(report) => report,
                        Err(busy) => return Ok(busy.clamd_reply("stream")),
                    },
                    Err(e) => Report::error("stream", format!("holding the body: {e}")),
                };
                self.record(client, "stream", body.len(), &report, started);
                Ok(verdict_reply("stream", &report, self.opts.incomplete_as))
            }
        }
    }

    /// Scans a spooled body once a scan slot is free, on the index current
    /// then.
    fn scan_spool(&self, name: &str, spool: &mut Spool) -> Result<Report, Busy> {
        self.scan_message(name, &icap::BodyView::default(), spool, None)
    }

    /// Scans a spooled HTTP body as its head describes it: decoded when its
    /// Content-Encoding is one sniffing cannot see (brotli), and for a
    /// multipart form, each part's raw bytes as an item of its own besides
    /// the body as a whole; an outgoing request's `http_head` (see
    /// [`icap::outgoing_head_text`]) as one more item. An encoding not
    /// opened, or a form whose parts cannot be delimited, leaves the report
    /// `incomplete`.
    fn scan_message(
        &self,
        name: &str,
        view: &icap::BodyView,
        spool: &mut Spool,
        http_head: Option<&[u8]>,
    ) -> Result<Report, Busy> {
        let _slot = self.scan_slot()?;
        let scanner = self.scanner.current();
        // An empty body has nothing to decode.
        let encodings = if spool.is_empty() {
            &[][..]
        } else {
            &view.encodings[..]
        };
        let mut report = match spool
            .reader()
            .and_then(|body| decode::decoded(body, encodings))
        {
            Ok(body) => scanner.scan_reader(name, body),
            Err(e) => return Ok(Report::error(name, format!("reading the held body: {e}"))),
        };
        if let Some(head) = http_head {
            add_member(
                &mut report,
                scanner.scan_bytes(&format!("{name}!http-head"), head),
            );
        }
        if let Some(doubt) = &view.doubt {
            report
                .reasons
                .push(pugmark::Reason::new("container.unsupported", doubt.clone()));
        }
        if let Some(boundary) = &view.form_boundary {
            // The parts are split from the decoded form, held in memory (at
            // most the stream limit, counted against the held bytes).
            let cap = self.opts.stream_max_length;
            let mut held = spool::HeldVec::within(self.held.clone());
            let read = spool
                .reader()
                .and_then(|body| decode::decoded(body, encodings))
                .and_then(|body| io::copy(&mut body.take(cap + 1), &mut held));
            let bytes = &held.bytes;
            let parts = match read {
                Err(e) if spool::is_over_budget(&e) => return Err(self.busy(e)),
                Err(e) => Err(format!("reading the held form: {e}")),
                Ok(_) if bytes.len() as u64 > cap => Err(format!(
                    "the decoded form is over {cap} bytes; its parts were not split"
                )),
                Ok(_) => icap::form_parts(bytes, boundary).ok_or_else(|| {
                    "multipart form: its parts could not be delimited unambiguously".to_string()
                }),
            };
            match parts {
                Ok(parts) => {
                    for part in parts {
                        let member = scanner
                            .scan_bytes(&format!("{name}!form/{}", part.name), &bytes[part.range]);
                        add_member(&mut report, member);
                    }
                }
                Err(why) => report
                    .reasons
                    .push(pugmark::Reason::new("container.malformed", why)),
            }
        }
        report.settle();
        Ok(report)
    }

    /// Scans what a passed descriptor holds: a regular file whole from its
    /// start (positioned reads), anything else from where it is.
    fn scan_fd(&self, fd: std::os::fd::OwnedFd, client: &str) -> String {
        use std::os::fd::AsRawFd;
        let subject = format!("fd[{}]", fd.as_raw_fd());
        let started = Instant::now();
        let file = std::fs::File::from(fd);
        let meta = file.metadata();
        let (report, bytes) = match meta {
            Ok(m) if m.len() > self.opts.stream_max_length => (
                Report::not_examined(
                    &subject,
                    pugmark::Reason::new(
                        "limits.max_stream",
                        format!(
                            "the file is over the {}-byte limit",
                            self.opts.stream_max_length
                        ),
                    ),
                ),
                m.len(),
            ),
            Ok(m) if m.is_file() => {
                // Copied out first, without a scan slot: a file on a hung
                // mount stalls this connection only.
                let mut spool = self.spool();
                let limited =
                    FromStart { file: &file, at: 0 }.take(self.opts.stream_max_length + 1);
                let report = match io::copy(&mut { limited }, &mut spool) {
                    Ok(n) if n > self.opts.stream_max_length => Report::not_examined(
                        &subject,
                        pugmark::Reason::new(
                            "limits.max_stream",
                            "the file grew past the limit while read",
                        ),
                    ),
                    Ok(_) => match self.scan_spool(&subject, &mut spool) {
                        Ok(report) => report,
                        Err(busy) => return busy.clamd_reply(&subject),
                    },
                    Err(e) if spool::is_over_budget(&e) => {
                        return self.busy(e).clamd_reply(&subject)
                    }
                    Err(e) => Report::error(&subject, format!("reading the descriptor: {e}")),
                };
                (report, m.len())
            }
            // A pipe or socket has no end the server can rely on (no
            // timeout applies to it): refused, not read forever.
            Ok(_) => (
                Report::error(&subject, "not a regular file (pass files, or use INSTREAM)"),
                0,
            ),
            Err(e) => (
                Report::error(&subject, format!("reading the descriptor: {e}")),
                0,
            ),
        };
        self.record(client, &subject, bytes, &report, started);
        verdict_reply(&subject, &report, self.opts.incomplete_as)
    }

    /// Scans a path below an allowed root: a reply per file found or not
    /// examined, else one `OK` for the path.
    fn scan_path(&self, path: &Path, mode: ScanMode, client: &str) -> Vec<String> {
        let shown = path.display().to_string();
        // The real path is checked and then scanned (not the client's, whose
        // links could be changed in between).
        let real = std::fs::canonicalize(path).ok().filter(|real| {
            self.opts
                .scan_roots
                .iter()
                .filter_map(|root| std::fs::canonicalize(root).ok())
                .any(|root| real.starts_with(root))
        });
        let Some(real) = real else {
            return vec![format!("{shown}: not below an allowed scan root ERROR")];
        };
        let started = Instant::now();
        let _slot = match self.scan_slot() {
            Ok(slot) => slot,
            Err(busy) => return vec![busy.clamd_reply(&shown)],
        };
        let scanner = self.scanner.current();
        let reports = match scanner.scan_paths(&[real]) {
            Ok(r) => r,
            Err(e) => return vec![format!("{shown}: {e} ERROR")],
        };
        let mut replies = Vec::new();
        for report in &reports {
            self.record(
                client,
                &report.path,
                report.size.unwrap_or(0),
                report,
                started,
            );
            if report.verdict != Verdict::Clean {
                replies.push(verdict_reply(&report.path, report, self.opts.incomplete_as));
                if mode == ScanMode::Stop && report.verdict == Verdict::Match {
                    break;
                }
            }
        }
        if replies.is_empty() {
            replies.push(format!("{shown}: OK"));
        }
        replies
    }

    /// Counts a verdict and logs it; its evidence id and its detail (the
    /// signals that matched, or the first reason).
    fn record(
        &self,
        client: &str,
        subject: &str,
        bytes: u64,
        report: &Report,
        started: Instant,
    ) -> (String, String) {
        let c = &self.counters;
        c.scans.fetch_add(1, Ordering::Relaxed);
        let counter = match report.verdict {
            Verdict::Clean => &c.clean,
            Verdict::Match => &c.matched,
            Verdict::Error => &c.errors,
            _ => &c.incomplete,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let detail = if report.verdict == Verdict::Match {
            let mut signals: Vec<&str> =
                report.findings().iter().map(|(_, e)| e.signal()).collect();
            signals.sort_unstable();
            signals.dedup();
            signals.join(",")
        } else {
            report
                .all_reasons()
                .first()
                .map(|(_, r)| r.code.clone())
                .or_else(|| report.error.clone())
                .unwrap_or_default()
        };
        let id = format!(
            "pm-{:x}-{}",
            self.epoch,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        (self.opts.log)(&ScanLog {
            id: id.clone(),
            client: client.to_string(),
            subject: subject.to_string(),
            bytes,
            verdict: report.verdict,
            detail: detail.clone(),
            elapsed: started.elapsed(),
        });
        (id, detail)
    }

    /// What `VERSION` answers: the program, the index's live items, and
    /// when it was opened.
    fn version(&self) -> String {
        let scanner = self.scanner.current();
        format!(
            "pugmark {}/{}/{} items",
            env!("CARGO_PKG_VERSION"),
            pugmark::index::FORMAT_VERSION,
            scanner.index().live_items()
        )
    }

    /// What `STATS` answers, ending in `END` as clamd's does.
    fn stats(&self) -> String {
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let active = *self.active.0.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "UPTIME: {} s\nCONNECTIONS: {} active, {} total, {} max, {} refused busy\nSCANS: {} (clean {}, match {}, incomplete {}, error {}), {} running, {} waiting, {} max\nHELD: {} bytes of bodies, {} max\nRELOADS: {}\nINDEX: {} items\nEND",
            self.started.elapsed().as_secs(),
            active,
            n(&c.connections),
            self.opts.max_connections,
            n(&c.busy),
            n(&c.scans),
            n(&c.clean),
            n(&c.matched),
            n(&c.incomplete),
            n(&c.errors),
            self.slots.running(),
            self.slots.waiting(),
            self.opts.max_scans,
            self.held.held(),
            self.held.limit(),
            n(&c.reloads),
            self.scanner.current().index().live_items(),
        )
    }
}

/// Reads a regular file from its start with positioned reads, whatever
/// offset the client left its descriptor at.
struct FromStart<'f> {
    file: &'f std::fs::File,
    at: u64,
}

impl Read for FromStart<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// A reader that fails with `TimedOut` once its deadline has passed (each
/// read is also bounded by the socket's idle timeout, so a body is cut at
/// most one idle timeout after its deadline).
struct Deadline<R> {
    inner: R,
    at: Instant,
}

impl<R: Read> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.at {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.inner.read(buf)
    }
}

/// What an ICAP connection does after a request.
enum Next {
    /// Waits for the next request.
    Keep,
    /// Closes now.
    Close,
    /// Closes once what the client still sends is drained (a body was
    /// answered before it was read whole).
    DrainAndClose,
}

/// Seconds an ICAP client may keep the `OPTIONS` answer (and its `ISTag`).
const OPTIONS_TTL_SECS: u64 = 60;

/// The field that tells an ICAP client the connection ends.
fn closing() -> Vec<(&'static str, String)> {
    vec![
        ("Connection", "close".to_string()),
        ("Encapsulated", "null-body=0".to_string()),
    ]
}

/// The name a body is scanned under: the last segment of the HTTP target's
/// path (its extension helps recognise the format), else `body`.
fn scan_name(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(100)
        .collect();
    if clean.trim_matches('.').is_empty() {
        "body".to_string()
    } else {
        clean
    }
}

/// Answers `200` with the HTTP message unchanged (a client that did not
/// allow `204`): its head, and its body from the spool.
fn echo<W: Write>(
    writer: &mut W,
    request: &icap::Request,
    istag: &str,
    spool: Option<&mut Spool>,
) -> io::Result<()> {
    let mut out = io::BufWriter::new(writer);
    let (head_name, body_name) = if request.method == Method::Respmod {
        ("res-hdr", "res-body")
    } else {
        ("req-hdr", "req-body")
    };
    let head = request.adapted_head().unwrap_or_default();
    let encapsulated = match (&spool, request.body) {
        (Some(_), Some(_)) => format!("{head_name}=0, {body_name}={}", head.len()),
        _ => format!("{head_name}=0, null-body={}", head.len()),
    };
    icap::write_head(&mut out, "200 OK", istag, &[("Encapsulated", encapsulated)])?;
    out.write_all(head)?;
    if let (Some(spool), Some(_)) = (spool, request.body) {
        spool.write_chunked(&mut out)?;
    }
    out.flush()
}

/// Answers `200` with an HTTP 403 page in place of the message.
fn block<W: Write>(
    writer: &mut W,
    istag: &str,
    verdict: &str,
    detail: &str,
    id: &str,
) -> io::Result<()> {
    let (head, page) = icap::block_response(verdict, detail, id);
    let mut out = io::BufWriter::new(writer);
    icap::write_head(
        &mut out,
        "200 OK",
        istag,
        &[(
            "Encapsulated",
            format!("res-hdr=0, res-body={}", head.len()),
        )],
    )?;
    out.write_all(&head)?;
    write!(out, "{:x}\r\n", page.len())?;
    out.write_all(&page)?;
    out.write_all(b"\r\n0\r\n\r\n")?;
    out.flush()
}

/// Raises this process's soft limit on open descriptors to its hard limit
/// (each connection holds one, each spooled body one more; soft limits are
/// often 1024). Returns the soft limit now in force.
pub fn raise_descriptor_limit() -> io::Result<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit).map_err(io::Error::from)?;
    }
    Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

/// Adds a member's report to a body's: counted, and kept unless clean.
fn add_member(report: &mut Report, member: Report) {
    report.members_examined += 1 + member.members_examined;
    if member.verdict != Verdict::Clean {
        report.members.push(member);
    }
}

/// Which protocol a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Clamd,
    Icap,
}

/// After a failed accept: waits until a client connects (or
/// [`ACCEPT_POLL`] passes, to notice a shutdown) when nobody was waiting;
/// backs off for [`ACCEPT_POLL`] on other errors (out of descriptors), which
/// would otherwise make the listener look ready at once, again and again.
fn wait_for_client(listener: &impl std::os::fd::AsFd, error: &io::Error) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    if error.kind() != io::ErrorKind::WouldBlock {
        std::thread::sleep(ACCEPT_POLL);
        return;
    }
    let timeout = Timespec {
        tv_sec: 0,
        tv_nsec: ACCEPT_POLL.as_nanos() as _,
    };
    let mut fds = [PollFd::new(listener, PollFlags::IN)];
    let _ = poll(&mut fds, Some(&timeout));
}

/// How often accept loops look for connections and for a shutdown.
pub const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// A body not scanned because the server is too busy (no scan slot in
/// time, or no room to hold it): answered busy, never clean.
#[derive(Debug)]
struct Busy(String);

impl Busy {
    /// clamd's answer for `subject`: an `ERROR` line asking to try again.
    fn clamd_reply(&self, subject: &str) -> String {
        format!("{subject}: pugmark is busy ({}), try again ERROR", self.0)
    }
}

/// A connection slot, given back when dropped.
struct Slot(Arc<Server>);

impl Drop for Slot {
    fn drop(&mut self) {
        let (lock, freed) = &self.0.active;
        let mut active = lock.lock().unwrap_or_else(|e| e.into_inner());
        *active = active.saturating_sub(1);
        freed.notify_all();
    }
}

/// Most bytes read and dropped after refusing a body, before closing.
const DRAIN_MAX: u64 = 64 << 20;

/// Busy answers past the connection limit delivered at once.
const MAX_REFUSING: usize = 64;

/// How long a busy answer past the connection limit may take, its drain
/// included.
const REFUSE_TIME: Duration = Duration::from_millis(500);

/// Most bytes read and dropped after a busy answer past the connection
/// limit.
const REFUSE_DRAIN: u64 = 1 << 20;

/// `at + wait`, or a day after `at` when the sum cannot be represented (a
/// timeout meant as "for ever").
fn later(at: Instant, wait: Duration) -> Instant {
    at.checked_add(wait)
        .unwrap_or_else(|| at + Duration::from_secs(86_400))
}

/// Ends the writing half after a last answer, then reads and drops what
/// the client still sends (at most `max` bytes, until `until`), so the
/// answer is not lost to the reset that closing with unread input causes.
fn drain_and_close<S: Connection>(stream: &S, reader: &mut impl Read, max: u64, until: Instant) {
    let _ = stream.shutdown_write();
    let mut rest = Deadline {
        inner: reader.take(max),
        at: until,
    };
    let _ = io::copy(&mut rest, &mut io::sink());
}

/// ICAP's busy answer (`503`), closing the connection.
fn icap_busy_head(istag: &str) -> String {
    format!(
        "ICAP/1.0 503 Service Unavailable\r\nISTag: \"{istag}\"\r\nConnection: close\r\nEncapsulated: null-body=0\r\n\r\n"
    )
}

/// A connected client socket: read and write halves, and timeouts.
pub trait Connection {
    /// The half commands and bodies are read from.
    fn reader(&self) -> impl Read + '_;
    /// The half replies are written to.
    fn writer(&self) -> impl Write + '_;
    /// Sets the read and write timeouts.
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()>;
    /// Ends the writing half (the client reads to its end).
    fn shutdown_write(&self) -> io::Result<()>;
    /// A descriptor the client passed along with the bytes read so far
    /// (`FILDES`), oldest first; `None` on sockets that cannot pass them.
    fn take_fd(&self) -> Option<std::os::fd::OwnedFd> {
        None
    }
}

impl Connection for TcpStream {
    fn reader(&self) -> impl Read + '_ {
        self
    }
    fn writer(&self) -> impl Write + '_ {
        self
    }
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// A Unix socket connection that keeps the descriptors clients pass with
/// their bytes (every read is a `recvmsg`, so none is dropped by a read
/// that happens to take the byte it rides on).
pub struct UnixConnection {
    stream: UnixStream,
    fds: Mutex<std::collections::VecDeque<std::os::fd::OwnedFd>>,
}

impl UnixConnection {
    /// Wraps an accepted stream.
    pub fn new(stream: UnixStream) -> UnixConnection {
        UnixConnection {
            stream,
            fds: Mutex::new(std::collections::VecDeque::new()),
        }
    }
}

/// Most descriptors kept per connection; more are closed on arrival.
const MAX_PASSED_FDS: usize = 4;

impl Read for &UnixConnection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        let mut space =
            [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_PASSED_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = recvmsg(
            &self.stream,
            &mut [io::IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        let mut fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(passed) = message {
                for fd in passed {
                    if fds.len() < MAX_PASSED_FDS {
                        fds.push_back(fd);
                    }
                }
            }
        }
        Ok(received.bytes)
    }
}

impl Connection for UnixConnection {
    fn reader(&self) -> impl Read + '_ {
        self
    }
    fn writer(&self) -> impl Write + '_ {
        &self.stream
    }
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))?;
        self.stream.set_write_timeout(Some(timeout))
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }
    fn take_fd(&self) -> Option<std::os::fd::OwnedFd> {
        self.fds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_meant_as_for_ever_do_not_overflow() {
        let now = Instant::now();
        assert!(later(now, Duration::MAX) > now);
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }
}

//! clamd's socket protocol, as clamdscan, clamav-milter, Exim's
//! `av_scanner = clamd` and c-icap's virus_scan module speak it: reading a
//! command with its delimiter, reading an `INSTREAM` body within a size
//! limit, and wording replies in clamd's grammar (`stream: OK`,
//! `stream: NAME FOUND`, `... ERROR`). No sockets here: the listener drives
//! these over whatever stream a client connected on.

use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;

use pugmark::{Report, Verdict};

/// Longest command line read (a `SCAN` path included); a longer one is a
/// protocol error and the connection is closed.
pub const MAX_COMMAND_LEN: usize = 8 * 1024;

/// How a command is terminated; its reply is terminated the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    /// `z` prefix: NUL-terminated.
    Nul,
    /// `n` prefix, or no prefix: newline-terminated.
    Newline,
}

impl Delimiter {
    /// The terminating byte.
    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Nul => 0,
            Delimiter::Newline => b'\n',
        }
    }
}

/// How a path scan goes on after a find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanMode {
    /// `SCAN`: stop at the first file found.
    Stop,
    /// `CONTSCAN`: report every file.
    Continue,
    /// `MULTISCAN`: every file, in parallel.
    Multi,
    /// `ALLMATCHSCAN`: every file (pugmark reports every match anyway).
    AllMatch,
}

/// A clamd command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `PING`: answered `PONG`.
    Ping,
    /// `VERSION`: program and index version.
    Version,
    /// `VERSIONCOMMANDS`: the version and the commands understood.
    VersionCommands,
    /// `RELOAD`: open the index again.
    Reload,
    /// `SHUTDOWN`: stop the server cleanly.
    Shutdown,
    /// `STATS`: counters.
    Stats,
    /// `SCAN`, `CONTSCAN`, `MULTISCAN`, `ALLMATCHSCAN` of a path.
    Scan {
        /// How the scan goes on after a find.
        mode: ScanMode,
        /// The path, as the client sent its bytes.
        path: PathBuf,
    },
    /// `INSTREAM`: length-prefixed chunks follow.
    Instream,
    /// `FILDES`: a descriptor follows as ancillary data (Unix sockets).
    Fildes,
    /// `IDSESSION`: numbered requests on one connection until `END`.
    IdSession,
    /// `END`: ends a session.
    End,
    /// Anything else (the command word as sent, lossily decoded).
    Unknown(String),
}

/// One command as read off a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// How it was terminated (and its reply must be).
    pub delimiter: Delimiter,
    /// Whether it had a `z` or `n` prefix (`INSTREAM` and `IDSESSION`
    /// require one).
    pub prefixed: bool,
    /// What was asked.
    pub command: Command,
}

/// A command that could not be read; the connection is closed after it.
#[derive(Debug)]
pub enum ProtocolError {
    /// Reading failed.
    Io(io::Error),
    /// The command was longer than [`MAX_COMMAND_LEN`].
    TooLong,
    /// The connection ended inside a command.
    Unterminated,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Io(e) => write!(f, "reading a command: {e}"),
            ProtocolError::TooLong => write!(f, "command longer than {MAX_COMMAND_LEN} bytes"),
            ProtocolError::Unterminated => write!(f, "connection ended inside a command"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Reads one command. `Ok(None)` when the connection ended cleanly before
/// a command began.
pub fn read_command<R: BufRead>(reader: &mut R) -> Result<Option<Request>, ProtocolError> {
    let first = match reader.fill_buf().map_err(ProtocolError::Io)?.first() {
        None => return Ok(None),
        Some(&b) => b,
    };
    let (delimiter, prefixed) = match first {
        b'z' => (Delimiter::Nul, true),
        b'n' => (Delimiter::Newline, true),
        _ => (Delimiter::Newline, false),
    };
    if prefixed {
        reader.consume(1);
    }
    let mut line = Vec::new();
    (&mut *reader)
        .take(MAX_COMMAND_LEN as u64 + 1)
        .read_until(delimiter.byte(), &mut line)
        .map_err(ProtocolError::Io)?;
    if line.last() != Some(&delimiter.byte()) {
        return Err(if line.len() > MAX_COMMAND_LEN {
            ProtocolError::TooLong
        } else {
            ProtocolError::Unterminated
        });
    }
    line.pop();
    if delimiter == Delimiter::Newline && line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(Request {
        delimiter,
        prefixed,
        command: parse(&line),
    }))
}

/// The command in a line without its prefix and delimiter.
fn parse(line: &[u8]) -> Command {
    let (word, argument) = match line.iter().position(|&b| b == b' ') {
        Some(at) => (&line[..at], Some(&line[at + 1..])),
        None => (line, None),
    };
    let scan = |mode| match argument.filter(|a| !a.is_empty()) {
        Some(path) => Command::Scan {
            mode,
            path: path_of(path),
        },
        None => Command::Unknown(String::from_utf8_lossy(line).into_owned()),
    };
    match (word, argument) {
        (b"PING", None) => Command::Ping,
        (b"VERSION", None) => Command::Version,
        (b"VERSIONCOMMANDS", None) => Command::VersionCommands,
        (b"RELOAD", None) => Command::Reload,
        (b"SHUTDOWN", None) => Command::Shutdown,
        (b"STATS", None) => Command::Stats,
        (b"INSTREAM", None) => Command::Instream,
        (b"FILDES", None) => Command::Fildes,
        (b"IDSESSION", None) => Command::IdSession,
        (b"END", None) => Command::End,
        (b"SCAN", _) => scan(ScanMode::Stop),
        (b"CONTSCAN", _) => scan(ScanMode::Continue),
        (b"MULTISCAN", _) => scan(ScanMode::Multi),
        (b"ALLMATCHSCAN", _) => scan(ScanMode::AllMatch),
        _ => Command::Unknown(String::from_utf8_lossy(line).into_owned()),
    }
}

/// A path from the bytes a client sent (any encoding on Unix).
#[cfg(unix)]
fn path_of(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_of(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The commands [`Command::VersionCommands`] lists.
pub const COMMANDS: &str = "SCAN CONTSCAN MULTISCAN ALLMATCHSCAN INSTREAM FILDES VERSION \
                            VERSIONCOMMANDS PING RELOAD SHUTDOWN STATS IDSESSION END";

/// How an `INSTREAM` body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Not yet at its end.
    Open,
    /// The zero-length chunk arrived: the body is whole.
    Complete,
    /// The client sent more than the limit allows.
    TooLarge,
    /// The connection ended (or failed) inside the body.
    Truncated,
}

/// An `INSTREAM` body as a stream: chunks of a 4-byte big-endian length
/// and that many bytes, ended by a zero length. Reading past the limit or
/// past the connection's end is an error, and [`end`](Self::end) says which.
#[derive(Debug)]
pub struct Instream<R> {
    inner: R,
    /// Bytes of the current chunk not yet read.
    left: u32,
    /// Body bytes announced so far.
    total: u64,
    max: u64,
    end: StreamEnd,
}

impl<R: Read> Instream<R> {
    /// The body that follows an `INSTREAM` command on `inner`, refused past
    /// `max` bytes (clamd's `StreamMaxLength`).
    pub fn new(inner: R, max: u64) -> Instream<R> {
        Instream {
            inner,
            left: 0,
            total: 0,
            max,
            end: StreamEnd::Open,
        }
    }

    /// How the body ended (`Open` while it is still being read).
    pub fn end(&self) -> StreamEnd {
        self.end
    }

    /// Body bytes announced so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether no body byte was announced.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn fail(&mut self, end: StreamEnd, error: io::Error) -> io::Error {
        self.end = end;
        error
    }
}

impl<R: Read> Read for Instream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.end {
            StreamEnd::Complete => return Ok(0),
            StreamEnd::TooLarge => return Err(size_limit()),
            StreamEnd::Truncated => return Err(io::ErrorKind::UnexpectedEof.into()),
            StreamEnd::Open => {}
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut length = [0u8; 4];
            if let Err(e) = self.inner.read_exact(&mut length) {
                return Err(self.fail(StreamEnd::Truncated, e));
            }
            let length = u32::from_be_bytes(length);
            if length == 0 {
                self.end = StreamEnd::Complete;
                return Ok(0);
            }
            self.total = self.total.saturating_add(u64::from(length));
            if self.total > self.max {
                return Err(self.fail(StreamEnd::TooLarge, size_limit()));
            }
            self.left = length;
        }
        let want = buf.len().min(self.left as usize);
        match self.inner.read(&mut buf[..want]) {
            Ok(0) => Err(self.fail(StreamEnd::Truncated, io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => {
                self.left -= n as u32;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.fail(StreamEnd::Truncated, e)),
        }
    }
}

/// clamd's words for a body over `StreamMaxLength`.
pub const SIZE_LIMIT_REPLY: &str = "INSTREAM size limit exceeded. ERROR";

fn size_limit() -> io::Error {
    io::Error::other("INSTREAM size limit exceeded")
}

/// What an `incomplete` verdict is answered with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncompleteAs {
    /// `FOUND`, named `Pugmark.Incomplete.<reason>` (fail closed: the
    /// platform holds what was not fully examined). The default.
    #[default]
    Found,
    /// `ERROR` with the reason: for platforms that hold errors themselves.
    Error,
}

/// The reply to a scan of `subject` (`stream`, a path, `fd[N]`) in clamd's
/// grammar: `OK`, `NAME FOUND` (`Pugmark.Match.<signal>`, or
/// `Pugmark.Incomplete.<reason>`), or `message ERROR`.
pub fn verdict_reply(subject: &str, report: &Report, incomplete: IncompleteAs) -> String {
    // A name from a directory walk may hold line breaks: one line each.
    let subject = one_line(subject);
    match report.verdict {
        Verdict::Clean => format!("{subject}: OK"),
        Verdict::Match => {
            let signal = report
                .findings()
                .first()
                .map_or("unknown", |(_, e)| e.signal());
            format!("{subject}: Pugmark.Match.{} FOUND", name_part(signal))
        }
        Verdict::Error => {
            let message = report.error.as_deref().unwrap_or("not examined");
            format!("{subject}: {} ERROR", one_line(message))
        }
        // Incomplete, and any verdict newer than this code: fail closed.
        _ => {
            let reasons = report.all_reasons();
            let code = reasons.first().map_or("unknown", |(_, r)| r.code.as_str());
            match incomplete {
                IncompleteAs::Found => {
                    format!("{subject}: Pugmark.Incomplete.{} FOUND", name_part(code))
                }
                IncompleteAs::Error => {
                    format!("{subject}: not fully examined ({}) ERROR", one_line(code))
                }
            }
        }
    }
}

/// A piece of a clamd signature name: no spaces or control characters
/// (clients split replies on them).
fn name_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A message on one line without the delimiters clients split on.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Writes one reply: `<id>: ` inside a session, the text, the delimiter.
pub fn write_reply<W: Write>(
    out: &mut W,
    delimiter: Delimiter,
    session_id: Option<u64>,
    text: &str,
) -> io::Result<()> {
    if let Some(id) = session_id {
        write!(out, "{id}: ")?;
    }
    out.write_all(text.as_bytes())?;
    out.write_all(&[delimiter.byte()])?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> Vec<Result<Request, String>> {
        let mut reader = io::BufReader::new(input);
        let mut out = Vec::new();
        loop {
            match read_command(&mut reader) {
                Ok(Some(r)) => out.push(Ok(r)),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    #[test]
    fn commands_are_read_with_their_delimiter() {
        let got = read_all(b"zPING\0nVERSION\nPING\r\nzSCAN /data/a b.tif\0nIDSESSION\nzEND\0");
        let want = [
            (Delimiter::Nul, true, Command::Ping),
            (Delimiter::Newline, true, Command::Version),
            (Delimiter::Newline, false, Command::Ping),
            (
                Delimiter::Nul,
                true,
                Command::Scan {
                    mode: ScanMode::Stop,
                    path: PathBuf::from("/data/a b.tif"),
                },
            ),
            (Delimiter::Newline, true, Command::IdSession),
            (Delimiter::Nul, true, Command::End),
        ];
        assert_eq!(got.len(), want.len());
        for (g, (delimiter, prefixed, command)) in got.into_iter().zip(want) {
            let g = g.unwrap();
            assert_eq!(
                (g.delimiter, g.prefixed, g.command),
                (delimiter, prefixed, command)
            );
        }
    }

    #[test]
    fn malformed_commands_are_errors_or_unknown() {
        assert!(matches!(
            read_all(b"zPING")[0],
            Err(ref e) if e.contains("inside a command")
        ));
        let long = [b"zSCAN /".as_slice(), &[b'a'; MAX_COMMAND_LEN], b"\0"].concat();
        assert!(matches!(read_all(&long)[0], Err(ref e) if e.contains("longer")));
        for odd in [&b"zSCAN\0"[..], b"zPING extra\0", b"zping\0", b"z\0"] {
            let got = read_all(odd);
            assert!(
                matches!(
                    &got[0],
                    Ok(Request {
                        command: Command::Unknown(_),
                        ..
                    })
                ),
                "{odd:?}: {got:?}"
            );
        }
        assert!(read_all(b"").is_empty());
    }

    /// An INSTREAM body in chunks of the given sizes, then the terminator.
    fn body(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&(c.len() as u32).to_be_bytes());
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&[0, 0, 0, 0]);
        out
    }

    #[test]
    fn an_instream_body_reads_whole_and_stops_at_its_terminator() {
        let wire = [body(&[b"hello ", b"", b"world"]), b"zPING\0".to_vec()].concat();
        let mut reader = io::BufReader::new(&wire[..]);
        let mut stream = Instream::new(&mut reader, 100);
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello ");
        // A zero-length chunk ends the body, as clamd reads it.
        assert_eq!(stream.end(), StreamEnd::Complete);
        let mut reader = io::BufReader::new(&wire[..]);
        let mut stream = Instream::new(&mut reader, 100);
        io::copy(&mut stream, &mut io::sink()).unwrap();
        assert_eq!(stream.len(), 6);
        // What follows the body is the next command.
        let wire = [body(&[b"hello ", b"world"]), b"zPING\0".to_vec()].concat();
        let mut reader = io::BufReader::new(&wire[..]);
        let mut stream = Instream::new(&mut reader, 100);
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello world");
        assert_eq!(
            read_command(&mut reader).unwrap().unwrap().command,
            Command::Ping
        );
    }

    #[test]
    fn an_instream_body_past_its_limit_or_cut_short_is_an_error() {
        let wire = body(&[&[7u8; 60], &[8u8; 60]]);
        let mut stream = Instream::new(&wire[..], 100);
        let mut got = Vec::new();
        assert!(stream.read_to_end(&mut got).is_err());
        assert_eq!(stream.end(), StreamEnd::TooLarge);
        assert!(got.len() <= 100);
        let cut = &wire[..50];
        let mut stream = Instream::new(cut, 1000);
        assert!(stream.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(stream.end(), StreamEnd::Truncated);
        // No terminator at all.
        let cut = &wire[..wire.len() - 4];
        let mut stream = Instream::new(cut, 1000);
        assert!(stream.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(stream.end(), StreamEnd::Truncated);
    }

    #[test]
    fn replies_use_clamds_grammar() {
        let mut out = Vec::new();
        write_reply(&mut out, Delimiter::Nul, None, "PONG").unwrap();
        write_reply(&mut out, Delimiter::Newline, Some(3), "stream: OK").unwrap();
        assert_eq!(out, b"PONG\x003: stream: OK\n");

        let incomplete = Report::not_examined("x", pugmark::Reason::new("a.b", "why"));
        assert_eq!(
            verdict_reply("stream", &incomplete, IncompleteAs::Found),
            "stream: Pugmark.Incomplete.a.b FOUND"
        );
        assert_eq!(
            verdict_reply("stream", &incomplete, IncompleteAs::Error),
            "stream: not fully examined (a.b) ERROR"
        );
        let error = Report::error("x", "cannot\nread");
        assert_eq!(
            verdict_reply("fd[5]", &error, IncompleteAs::Found),
            "fd[5]: cannot read ERROR"
        );
        assert_eq!(name_part("limits.max time!"), "limits.max_time_");
    }
}

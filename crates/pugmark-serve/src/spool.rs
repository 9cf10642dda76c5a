//! Bodies held whole before they are scanned: a client's body is read at
//! its own pace without holding a scan slot, and an ICAP message can be
//! echoed back unchanged.

use std::io::{self, Read, Seek, Write};

/// A body held whole before it is scanned (and echoed, for ICAP clients
/// that do not allow `204`): in memory up to [`Spool::MEMORY`] bytes, then
/// in an unnamed temporary file, removed by the system when closed.
#[derive(Debug, Default)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<std::fs::File>,
    len: u64,
}

impl Spool {
    /// Bytes kept in memory before the spool moves to a temporary file.
    pub const MEMORY: usize = 256 << 10;

    /// Bytes spooled.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was spooled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the body went to a temporary file.
    pub fn in_file(&self) -> bool {
        self.file.is_some()
    }

    /// Reads what was spooled, from its start.
    pub fn reader(&mut self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(match &mut self.file {
            Some(file) => {
                file.seek(io::SeekFrom::Start(0))?;
                Box::new(io::BufReader::with_capacity(64 * 1024, file))
            }
            None => Box::new(&self.memory[..]),
        })
    }

    /// Writes what was spooled to `out` as ICAP chunks and the last chunk.
    pub fn write_chunked<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            file.seek(io::SeekFrom::Start(0))?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                write!(out, "{n:x}\r\n")?;
                out.write_all(&buf[..n])?;
                out.write_all(b"\r\n")?;
            }
        } else if !self.memory.is_empty() {
            write!(out, "{:x}\r\n", self.memory.len())?;
            out.write_all(&self.memory)?;
            out.write_all(b"\r\n")?;
        }
        out.write_all(b"0\r\n\r\n")
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() && self.memory.len() + buf.len() > Self::MEMORY {
            let mut file = tempfile::tempfile()?;
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(buf)?,
            None => self.memory.extend_from_slice(buf),
        }
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

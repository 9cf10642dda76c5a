//! Bodies held whole before they are scanned: a client's body is read at
//! its own pace without holding a scan slot, and an ICAP message can be
//! echoed back unchanged.

use std::io::{self, Read, Seek, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The bytes all of a server's spools hold at once, against a limit: a
/// thousand clients each sending a body just under the stream limit would
/// otherwise fill the disk (or, on a tmpfs, the memory).
#[derive(Debug)]
pub struct HeldBytes {
    held: AtomicU64,
    limit: u64,
}

impl HeldBytes {
    /// A budget of `limit` bytes, none held yet.
    pub fn new(limit: u64) -> Arc<HeldBytes> {
        Arc::new(HeldBytes {
            held: AtomicU64::new(0),
            limit,
        })
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// The most bytes held at once.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Takes `n` bytes of the budget, or none when that would pass it.
    fn take(&self, n: u64) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|&after| after <= self.limit)
            })
            .is_ok()
    }

    /// Gives `n` bytes back.
    fn give(&self, n: u64) {
        self.held.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Bytes taken from a [`HeldBytes`] budget, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<HeldBytes>,
    bytes: u64,
}

impl Reservation {
    /// Nothing taken yet from `budget`.
    pub fn new(budget: Arc<HeldBytes>) -> Reservation {
        Reservation { budget, bytes: 0 }
    }

    /// Takes `n` more bytes, or fails (see [`is_over_budget`]) when that
    /// would pass the budget.
    pub fn grow(&mut self, n: u64) -> io::Result<()> {
        if !self.budget.take(n) {
            return Err(io::Error::new(
                io::ErrorKind::QuotaExceeded,
                format!(
                    "the server holds its limit of {} bytes of bodies already",
                    self.budget.limit()
                ),
            ));
        }
        self.bytes += n;
        Ok(())
    }

    /// Gives `n` of the bytes taken back.
    fn shrink(&mut self, n: u64) {
        let n = n.min(self.bytes);
        self.budget.give(n);
        self.bytes -= n;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

/// Bytes held in memory against a [`HeldBytes`] budget (a decoded form
/// split into its parts).
#[derive(Debug)]
pub struct HeldVec {
    /// The bytes written.
    pub bytes: Vec<u8>,
    held: Reservation,
}

impl HeldVec {
    /// An empty buffer counting against `budget`.
    pub fn within(budget: Arc<HeldBytes>) -> HeldVec {
        HeldVec {
            bytes: Vec::new(),
            held: Reservation::new(budget),
        }
    }
}

impl Write for HeldVec {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.held.grow(buf.len() as u64)?;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether `error` is a spool's refusal to pass its [`HeldBytes`] budget.
pub fn is_over_budget(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::QuotaExceeded
}

/// A body held whole before it is scanned (and echoed, for ICAP clients
/// that do not allow `204`): in memory up to [`Spool::MEMORY`] bytes, then
/// in an unnamed temporary file, removed by the system when closed.
#[derive(Debug, Default)]
pub struct Spool {
    held: Option<Reservation>,
    memory: Vec<u8>,
    file: Option<std::fs::File>,
    len: u64,
}

impl Spool {
    /// Bytes kept in memory before the spool moves to a temporary file.
    pub const MEMORY: usize = 256 << 10;

    /// An empty spool whose bytes count against `budget` until it is
    /// dropped; a write past the budget fails (see [`is_over_budget`]).
    pub fn within(budget: Arc<HeldBytes>) -> Spool {
        Spool {
            held: Some(Reservation::new(budget)),
            ..Spool::default()
        }
    }

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

impl Spool {
    /// Holds `buf` after what is held: in memory, or in the temporary file
    /// (made when the memory part would pass [`Spool::MEMORY`]).
    fn hold(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.memory.len() + buf.len() > Self::MEMORY {
            let mut file = tempfile::tempfile()?;
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(buf),
            None => {
                self.memory.extend_from_slice(buf);
                Ok(())
            }
        }
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len() as u64;
        if let Some(held) = &mut self.held {
            held.grow(n)?;
        }
        if let Err(e) = self.hold(buf) {
            // Not held: not counted (a failed temporary file must not
            // shrink the budget for good).
            if let Some(held) = &mut self.held {
                held.shrink(n);
            }
            return Err(e);
        }
        self.len += n;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spools_share_one_budget_and_give_it_back_when_dropped() {
        let budget = HeldBytes::new(Spool::MEMORY as u64 + 1000);
        let mut a = Spool::within(budget.clone());
        a.write_all(&vec![7u8; Spool::MEMORY + 500]).unwrap();
        assert!(a.in_file());
        let mut b = Spool::within(budget.clone());
        b.write_all(&[1u8; 400]).unwrap();
        let refused = b.write_all(&[1u8; 200]).unwrap_err();
        assert!(is_over_budget(&refused), "{refused}");
        assert_eq!(budget.held(), Spool::MEMORY as u64 + 900);
        let mut back = Vec::new();
        a.reader().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), Spool::MEMORY + 500);
        drop(a);
        assert_eq!(budget.held(), 400);
        b.write_all(&[1u8; 200]).unwrap();
        drop(b);
        assert_eq!(budget.held(), 0);
        // Bytes held in memory count as well.
        let mut form = HeldVec::within(budget.clone());
        form.write_all(&vec![1u8; Spool::MEMORY]).unwrap();
        let mut c = Spool::within(budget.clone());
        assert!(is_over_budget(&c.write_all(&[0u8; 2000]).unwrap_err()));
        drop(form);
        c.write_all(&[0u8; 2000]).unwrap();
        assert_eq!(budget.held(), 2000);
    }
}

//! The lzop file format (`.lzo`): a header (version, method, flags, name,
//! header checksum), then blocks of LZO1X data, each with its sizes and
//! optional Adler-32/CRC-32 checksums of its decompressed and compressed
//! bytes, up to a zero-length block. Blocks are decoded by the `lzo`
//! crate; the container and every check are ours. A block is at most
//! 64 MiB (lzop's own limit), so memory is bounded.

use std::io::{self, BufRead, Read};

/// lzop's magic bytes.
const MAGIC: &[u8; 9] = b"\x89LZO\x00\r\n\x1a\n";
/// Largest block lzop writes.
const MAX_BLOCK: usize = 64 << 20;

const F_ADLER32_D: u32 = 0x0000_0001;
const F_ADLER32_C: u32 = 0x0000_0002;
const F_H_EXTRA_FIELD: u32 = 0x0000_0040;
const F_CRC32_D: u32 = 0x0000_0100;
const F_CRC32_C: u32 = 0x0000_0200;
const F_H_FILTER: u32 = 0x0000_0800;

/// A decoder of one lzop file read from `inner`.
pub(crate) struct LzopDecoder<R> {
    inner: R,
    flags: Option<u32>,
    block: Vec<u8>,
    at: usize,
    done: bool,
}

fn invalid(detail: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail.into())
}

fn u8_of<R: Read>(r: &mut R) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn u16_of<R: Read>(r: &mut R) -> io::Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_be_bytes(b))
}

fn u32_of<R: Read>(r: &mut R) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

/// Adler-32 as lzop computes it.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    b << 16 | a
}

impl<R: BufRead> LzopDecoder<R> {
    /// A decoder that reads the header on first use.
    pub fn new(inner: R) -> Self {
        LzopDecoder {
            inner,
            flags: None,
            block: Vec::new(),
            at: 0,
            done: false,
        }
    }

    /// Reads the file header; returns its flags.
    fn header(&mut self) -> io::Result<u32> {
        let r = &mut self.inner;
        let mut magic = [0u8; 9];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(invalid("not an lzop file"));
        }
        let version = u16_of(r)?;
        let _library = u16_of(r)?;
        if version >= 0x0940 {
            let _needed = u16_of(r)?;
        }
        let method = u8_of(r)?;
        if !matches!(method, 1..=3) {
            return Err(invalid(format!("lzop method {method} is not LZO1X")));
        }
        if version >= 0x0940 {
            let _level = u8_of(r)?;
        }
        let flags = u32_of(r)?;
        if flags & F_H_FILTER != 0 {
            return Err(invalid("lzop filters are not supported"));
        }
        let _mode = u32_of(r)?;
        let _mtime = u32_of(r)?;
        if version >= 0x0940 {
            let _mtime_high = u32_of(r)?;
        }
        let name_len = u8_of(r)?;
        io::copy(&mut r.take(u64::from(name_len)), &mut io::sink())?;
        let _header_checksum = u32_of(r)?;
        if flags & F_H_EXTRA_FIELD != 0 {
            let len = u32_of(r)?;
            if len as usize > MAX_BLOCK {
                return Err(invalid("lzop extra field too large"));
            }
            io::copy(&mut r.take(u64::from(len) + 4), &mut io::sink())?;
        }
        Ok(flags)
    }

    /// Decodes the next block into `self.block`; false at the end.
    fn next_block(&mut self, flags: u32) -> io::Result<bool> {
        let r = &mut self.inner;
        let dst_len = u32_of(r)? as usize;
        if dst_len == 0 {
            return Ok(false);
        }
        let src_len = u32_of(r)? as usize;
        if dst_len > MAX_BLOCK || src_len > dst_len {
            return Err(invalid(format!(
                "lzop block of {src_len} -> {dst_len} bytes is not valid"
            )));
        }
        let d_adler = (flags & F_ADLER32_D != 0).then(|| u32_of(r)).transpose()?;
        let d_crc = (flags & F_CRC32_D != 0).then(|| u32_of(r)).transpose()?;
        if src_len < dst_len {
            if flags & F_ADLER32_C != 0 {
                u32_of(r)?;
            }
            if flags & F_CRC32_C != 0 {
                u32_of(r)?;
            }
        }
        // Grown as bytes arrive, not sized from the header's number.
        let mut src = Vec::new();
        r.take(src_len as u64).read_to_end(&mut src)?;
        if src.len() < src_len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "lzop block cut short",
            ));
        }
        self.block.clear();
        if src_len == dst_len {
            self.block.extend_from_slice(&src);
        } else {
            self.block.resize(dst_len, 0);
            let n = lzo::decompress_into(&src, &mut self.block)
                .map_err(|e| invalid(format!("LZO1X block: {e:?}")))?;
            if n != dst_len {
                return Err(invalid(format!("LZO1X block gave {n} of {dst_len} bytes")));
            }
        }
        if d_adler.is_some_and(|a| a != adler32(&self.block)) {
            return Err(invalid("lzop block Adler-32 mismatch"));
        }
        if d_crc.is_some_and(|c| c != crc32fast::hash(&self.block)) {
            return Err(invalid("lzop block CRC-32 mismatch"));
        }
        self.at = 0;
        Ok(true)
    }
}

impl<R: BufRead> Read for LzopDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let flags = match self.flags {
            Some(f) => f,
            None => {
                let f = self.header()?;
                self.flags = Some(f);
                f
            }
        };
        while self.at == self.block.len() {
            if self.done || !self.next_block(flags)? {
                self.done = true;
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_reference_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }
}

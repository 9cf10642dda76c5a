//! The decoder for Unix `compress` (`.Z`) streams: LZW with codes of 9 up
//! to 9..16 bits, an optional CLEAR code (block mode), and the format's
//! quirk that codes are written in groups of eight, a group being padded
//! out whenever the code width changes or the table is cleared.
//!
//! Memory is fixed (a 64 Ki-entry table and one decoded string at most
//! 64 KiB long); every code is checked against the table before use.

use std::io::{self, Read};

const CLEAR: u16 = 256;

/// A `compress` stream decoder over a reader of the compressed bytes.
pub(crate) struct UnixCompressDecoder<R> {
    inner: R,
    started: bool,
    max_bits: u32,
    block_mode: bool,
    // Bit reader.
    bits: u64,
    nbits: u32,
    eof: bool,
    // Code state.
    width: u32,
    max_code: u32,
    free: u32,
    codes_in_group: u32,
    old: Option<u16>,
    first_byte: u8,
    prefix: Vec<u16>,
    suffix: Vec<u8>,
    // Decoded bytes not yet handed out (reversed: last byte first).
    pending: Vec<u8>,
}

impl<R: Read> UnixCompressDecoder<R> {
    /// A decoder that reads the 3-byte header on first use.
    pub fn new(inner: R) -> Self {
        UnixCompressDecoder {
            inner,
            started: false,
            max_bits: 16,
            block_mode: true,
            bits: 0,
            nbits: 0,
            eof: false,
            width: 9,
            max_code: 511,
            free: 257,
            codes_in_group: 0,
            old: None,
            first_byte: 0,
            prefix: vec![0; 1 << 16],
            suffix: vec![0; 1 << 16],
            pending: Vec::with_capacity(1 << 16),
        }
    }

    fn start(&mut self) -> io::Result<()> {
        let mut header = [0u8; 3];
        self.inner.read_exact(&mut header)?;
        if header[..2] != [0x1F, 0x9D] {
            return Err(invalid("not a compress (.Z) stream"));
        }
        self.max_bits = u32::from(header[2] & 0x1F);
        self.block_mode = header[2] & 0x80 != 0;
        if !(9..=16).contains(&self.max_bits) {
            return Err(invalid(format!(
                "code width {} outside 9..16",
                self.max_bits
            )));
        }
        self.free = if self.block_mode { 257 } else { 256 };
        for (i, s) in self.suffix.iter_mut().take(256).enumerate() {
            *s = i as u8;
        }
        self.started = true;
        Ok(())
    }

    /// The next `width`-bit code, least significant bits first; `None` at
    /// the end of the input.
    fn code(&mut self) -> io::Result<Option<u16>> {
        while self.nbits < self.width {
            if self.eof {
                return Ok(None);
            }
            let mut byte = [0u8; 1];
            match self.inner.read(&mut byte) {
                Ok(0) => self.eof = true,
                Ok(_) => {
                    self.bits |= u64::from(byte[0]) << self.nbits;
                    self.nbits += 8;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let code = (self.bits & ((1 << self.width) - 1)) as u16;
        self.bits >>= self.width;
        self.nbits -= self.width;
        self.codes_in_group = (self.codes_in_group + 1) % 8;
        Ok(Some(code))
    }

    /// Skips the padding codes that finish the current group of eight.
    fn end_group(&mut self) -> io::Result<()> {
        while self.codes_in_group != 0 {
            if self.code()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Decodes codes until some output is pending or the stream ends.
    fn fill(&mut self) -> io::Result<()> {
        while self.pending.is_empty() {
            if self.free > self.max_code && self.width < self.max_bits {
                self.end_group()?;
                self.width += 1;
                self.max_code = if self.width == self.max_bits {
                    1 << self.max_bits
                } else {
                    (1 << self.width) - 1
                };
            }
            let Some(code) = self.code()? else {
                return Ok(());
            };
            let Some(old) = self.old else {
                if code >= 256 {
                    return Err(invalid("first code is not a literal"));
                }
                self.old = Some(code);
                self.first_byte = code as u8;
                self.pending.push(code as u8);
                return Ok(());
            };
            if code == CLEAR && self.block_mode {
                self.end_group()?;
                self.free = 256;
                self.width = 9;
                self.max_code = (1 << 9) - 1;
                continue;
            }
            let mut cur = u32::from(code);
            if cur > self.free || (cur == self.free && cur >= 1 << 16) {
                return Err(invalid(format!("code {code} is not in the table")));
            }
            // The KwKwK case: the code being defined right now.
            if cur == self.free {
                self.pending.push(self.first_byte);
                cur = u32::from(old);
            }
            while cur >= 256 {
                self.pending.push(self.suffix[cur as usize]);
                cur = u32::from(self.prefix[cur as usize]);
                if self.pending.len() > 1 << 17 {
                    return Err(invalid("a code chain loops"));
                }
            }
            self.first_byte = cur as u8;
            self.pending.push(self.first_byte);
            if self.free < 1 << self.max_bits {
                self.prefix[self.free as usize] = old;
                self.suffix[self.free as usize] = self.first_byte;
                self.free += 1;
            }
            self.old = Some(code);
        }
        Ok(())
    }
}

impl<R: Read> Read for UnixCompressDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.started {
            self.start()?;
        }
        let mut n = 0;
        while n < buf.len() {
            if self.pending.is_empty() {
                self.fill()?;
                if self.pending.is_empty() {
                    break;
                }
            }
            while n < buf.len() {
                let Some(b) = self.pending.pop() else { break };
                buf[n] = b;
                n += 1;
            }
        }
        Ok(n)
    }
}

fn invalid(detail: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
    }

    /// ncompress 4.2.4.6 `compress -b 10` of text, then 3,000 bytes of
    /// JPEG data, then text: the table fills, the ratio drops and the
    /// encoder clears the table, so the decoder must follow widths across
    /// CLEAR codes exactly.
    #[test]
    fn decodes_real_compress_output_across_clears() {
        let csv = fixture("tests/fixtures/documents/week-summary.csv");
        let jpg = fixture("tests/fixtures/images/skimage_rocket.jpg");
        let mut expected = csv[..10_000].to_vec();
        expected.extend_from_slice(&jpg[1000..4000]);
        expected.extend_from_slice(&csv[10_000..]);
        for (file, original) in [
            ("tests/fixtures/documents/mixed-b10.csv.Z", &expected),
            ("tests/fixtures/documents/week-summary.csv.Z", &csv),
        ] {
            let mut out = Vec::new();
            UnixCompressDecoder::new(&fixture(file)[..])
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == *original, "{file}");
        }
    }

    #[test]
    fn rejects_codes_outside_the_table() {
        // Header, then a first literal and a code far past the table.
        let data = [0x1F, 0x9D, 0x90, 0x41, 0xFE, 0xFF, 0x01];
        let mut out = Vec::new();
        assert!(UnixCompressDecoder::new(&data[..])
            .read_to_end(&mut out)
            .is_err());
    }
}

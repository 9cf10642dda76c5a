//! Small archive writers for tests: zip (stored or deflated, optional data
//! descriptors), ustar tar and gzip, so tests can pack real sample files in
//! any nesting without tools on the machine.
#![allow(dead_code)]

use std::io::Write;

/// How a zip member is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Method 0.
    Stored,
    /// Method 8, raw deflate.
    Deflated,
}

/// One zip member to write.
pub struct ZipMember<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    pub method: Method,
    /// Sizes and CRC in a trailing data descriptor (bit 3), zeros in the
    /// local header, as streaming zippers write them.
    pub descriptor: bool,
    /// General-purpose flags OR-ed in (bit 0 = encrypted).
    pub extra_flags: u16,
    /// CRC written instead of the real one.
    pub crc_override: Option<u32>,
}

impl<'a> ZipMember<'a> {
    /// A deflated member with no special flags.
    pub fn new(name: &'a str, data: &'a [u8]) -> Self {
        ZipMember {
            name,
            data,
            method: Method::Deflated,
            descriptor: false,
            extra_flags: 0,
            crc_override: None,
        }
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(data);
    h.finalize()
}

/// Raw deflate of `data`.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A zip holding `members`; compressed payloads can be given directly with
/// [`zip_raw`].
pub fn zip(members: &[ZipMember]) -> Vec<u8> {
    let raw: Vec<(Vec<u8>, u64)> = members
        .iter()
        .map(|m| match m.method {
            Method::Stored => (m.data.to_vec(), m.data.len() as u64),
            Method::Deflated => (deflate(m.data), m.data.len() as u64),
        })
        .collect();
    let entries: Vec<RawEntry> = members
        .iter()
        .zip(&raw)
        .map(|(m, (payload, size))| RawEntry {
            name: m.name,
            payload,
            size: *size,
            method: if m.method == Method::Stored { 0 } else { 8 },
            crc: m.crc_override.unwrap_or_else(|| crc32(m.data)),
            flags: m.extra_flags | if m.descriptor { 8 } else { 0 },
        })
        .collect();
    zip_raw(&entries)
}

/// A zip member given as its stored bytes.
pub struct RawEntry<'a> {
    pub name: &'a str,
    pub payload: &'a [u8],
    pub size: u64,
    pub method: u16,
    pub crc: u32,
    pub flags: u16,
}

/// A zip of members whose compressed bytes are given as they are.
pub fn zip_raw(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let descriptor = e.flags & 8 != 0;
        let (crc, csize, usize_) = if descriptor {
            (0, 0, 0)
        } else {
            (e.crc, e.payload.len() as u32, e.size as u32)
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&e.flags.to_le_bytes());
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&csize.to_le_bytes());
        out.extend_from_slice(&usize_.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(e.payload);
        if descriptor {
            out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            out.extend_from_slice(&e.crc.to_le_bytes());
            out.extend_from_slice(&(e.payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&(e.size as u32).to_le_bytes());
        }
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&e.flags.to_le_bytes());
        central.extend_from_slice(&e.method.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0x21, 0]);
        central.extend_from_slice(&e.crc.to_le_bytes());
        central.extend_from_slice(&(e.payload.len() as u32).to_le_bytes());
        central.extend_from_slice(&(e.size as u32).to_le_bytes());
        central.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]); // extra, comment, disk, attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(e.name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A ustar archive of regular files, ended by two zero blocks.
pub fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in members {
        let mut h = [0u8; 512];
        assert!(name.len() <= 100, "name too long for this writer");
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0001750\0");
        h[116..124].copy_from_slice(b"0001750\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"14735102540\0");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A gzip file of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A raw deflate stream that inflates to `len` zero bytes at deflate's best
/// ratio (1:1032): one dynamic-Huffman block whose codes give the length-258
/// match and distance 1 one bit each, so each 258 zeros cost 2 bits. Built
/// bit by bit: a bomb of gigabytes costs megabytes and milliseconds.
pub fn deflate_zeros(len: u64) -> Vec<u8> {
    assert!(len >= 1);
    let mut b = Bits {
        out: Vec::with_capacity((len / 1032 + 64) as usize),
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // final block
    b.put(2, 2); // dynamic Huffman
    b.put(286 - 257, 5); // HLIT: literal/length codes 0..=285
    b.put(0, 5); // HDIST: one distance code
    b.put(18 - 4, 4); // HCLEN: 18 code-length code lengths follow
                      // Code-length code lengths in the format's order 16, 17, 18, 0, 8, 7,
                      // 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1: symbol 18 -> 1 bit, symbols
                      // 1 and 2 -> 2 bits (canonical codes 18 = 0, 1 = 10, 2 = 11).
    for len in [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2] {
        b.put(len, 3);
    }
    // Literal/length code lengths: literal 0 -> 2, end-of-block 256 -> 2,
    // length 285 (258 bytes) -> 1; canonical codes 285 = 0, 0 = 10, 256 = 11.
    b.code(0b11, 2); // literal 0: length 2
    b.code(0, 1); // 18: 138 zeros (literals 1..=138)
    b.put(127, 7);
    b.code(0, 1); // 18: 117 zeros (139..=255)
    b.put(106, 7);
    b.code(0b11, 2); // 256: length 2
    b.code(0, 1); // 18: 28 zeros (257..=284)
    b.put(17, 7);
    b.code(0b10, 2); // 285: length 1
    b.code(0b10, 2); // distance code 0: length 1
    b.code(0b10, 2); // literal 0
    let mut left = len - 1;
    while left >= 258 {
        b.code(0, 1); // length 258
        b.code(0, 1); // distance 1
        left -= 258;
    }
    for _ in 0..left {
        b.code(0b10, 2);
    }
    b.code(0b11, 2); // end of block
    b.put(0, 7);
    b.out
}

struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u64, count: u32) {
        self.acc |= value << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// Huffman codes go most-significant bit first.
    fn code(&mut self, code: u64, count: u32) {
        let reversed = (0..count).fold(0, |r, i| (r << 1) | ((code >> i) & 1));
        self.put(reversed, count);
    }
}

/// Inflates raw deflate (to check the generators above).
pub fn inflate(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

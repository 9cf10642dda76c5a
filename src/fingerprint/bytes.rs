//! The byte signals, computed in one pass: `exact` (BLAKE3-256 of the whole
//! content) and `chunks` (BLAKE3 of each content-defined chunk).
//!
//! Each chunk is hashed on its own and then fed to the whole-content hasher
//! while it is still in cache, so every byte is read from memory once.

use std::io::{self, Read};

use serde::Serialize;

use super::chunker::Chunker;

/// Width of a stored chunk hash (a BLAKE3 prefix).
pub const CHUNK_HASH_LEN: usize = 16;

/// The first 128 bits of a chunk's BLAKE3 hash.
pub type ChunkHash = [u8; CHUNK_HASH_LEN];

/// One content-defined chunk of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkFp {
    /// BLAKE3 of the chunk's bytes, truncated to 128 bits.
    #[serde(serialize_with = "hex_serde")]
    pub hash: ChunkHash,
    /// Offset of the chunk in the item.
    pub offset: u64,
    /// Length of the chunk.
    pub len: u32,
    /// The chunk repeats a short pattern (see
    /// [`FingerprintParams::trivial_period_max`](super::FingerprintParams::trivial_period_max)):
    /// it says nothing about where it came from and is never matched.
    pub trivial: bool,
}

fn hex_serde<S: serde::Serializer>(h: &ChunkHash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex(h))
}

/// The byte signals of one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByteSignals {
    /// Content length.
    pub size: u64,
    /// BLAKE3-256 of the whole content (what `b3sum` prints).
    pub digest: [u8; 32],
    /// Chunks in content order; they tile the content exactly.
    pub chunks: Vec<ChunkFp>,
}

/// Collects chunk fingerprints and the whole-content hash as chunks arrive.
struct Accumulator {
    whole: blake3::Hasher,
    chunks: Vec<ChunkFp>,
    offset: u64,
    trivial_period_max: usize,
}

impl Accumulator {
    fn new(trivial_period_max: u8) -> Self {
        Accumulator {
            whole: blake3::Hasher::new(),
            chunks: Vec::new(),
            offset: 0,
            trivial_period_max: trivial_period_max as usize,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        let full = blake3::hash(chunk);
        let mut hash = [0u8; CHUNK_HASH_LEN];
        hash.copy_from_slice(&full.as_bytes()[..CHUNK_HASH_LEN]);
        self.whole.update(chunk);
        self.chunks.push(ChunkFp {
            hash,
            offset: self.offset,
            len: chunk.len() as u32,
            trivial: is_periodic(chunk, self.trivial_period_max),
        });
        self.offset += chunk.len() as u64;
    }

    fn finish(self) -> ByteSignals {
        ByteSignals {
            size: self.offset,
            digest: *self.whole.finalize().as_bytes(),
            chunks: self.chunks,
        }
    }
}

/// Computes the byte signals of content held whole in memory.
pub fn from_slice(chunker: &Chunker, trivial_period_max: u8, data: &[u8]) -> ByteSignals {
    let mut acc = Accumulator::new(trivial_period_max);
    let mut pos = 0;
    while pos < data.len() {
        let len = chunker.cut(&data[pos..]);
        acc.push(&data[pos..pos + len]);
        pos += len;
    }
    acc.finish()
}

/// Computes the byte signals of a stream with a buffer of a few chunks,
/// giving exactly what [`from_slice`] gives on the same bytes.
pub fn from_reader<R: Read>(
    chunker: &Chunker,
    trivial_period_max: u8,
    mut reader: R,
) -> io::Result<ByteSignals> {
    let mut builder = StreamSignals::new(chunker, trivial_period_max);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(builder.finish()),
            Ok(n) => builder.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Look-ahead windows a [`StreamSignals`] buffers before compacting.
const STREAM_WINDOWS: usize = 16;

/// Byte signals computed from content pushed in pieces of any size (for
/// bytes another parser is reading, e.g. an archive stream). Holds at most
/// a few chunks; the result equals [`from_slice`] on the concatenation.
pub struct StreamSignals<'c> {
    chunker: &'c Chunker,
    acc: Accumulator,
    pending: Vec<u8>,
    start: usize,
}

impl<'c> StreamSignals<'c> {
    /// An empty builder.
    pub fn new(chunker: &'c Chunker, trivial_period_max: u8) -> Self {
        StreamSignals {
            chunker,
            acc: Accumulator::new(trivial_period_max),
            pending: Vec::with_capacity(STREAM_WINDOWS * chunker.max_len()),
            start: 0,
        }
    }

    /// Appends content. Chunks are cut as soon as a whole look-ahead
    /// window is buffered, so cuts never depend on how content was split.
    pub fn update(&mut self, mut data: &[u8]) {
        let window = self.chunker.max_len();
        let capacity = STREAM_WINDOWS * window;
        while !data.is_empty() {
            if self.pending.len() == capacity {
                self.pending.drain(..self.start);
                self.start = 0;
            }
            let take = data.len().min(capacity - self.pending.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            while self.pending.len() - self.start >= window {
                let len = self.chunker.cut(&self.pending[self.start..]);
                self.acc.push(&self.pending[self.start..self.start + len]);
                self.start += len;
            }
        }
    }

    /// Cuts what is left and returns the signals.
    pub fn finish(mut self) -> ByteSignals {
        while self.start < self.pending.len() {
            let len = self.chunker.cut(&self.pending[self.start..]);
            self.acc.push(&self.pending[self.start..self.start + len]);
            self.start += len;
        }
        self.acc.finish()
    }
}

/// Whether `chunk` repeats a pattern of at most `max_period` bytes. The
/// smallest period of a prefix is the only candidate worth a full check (by
/// the Fine-Wilf theorem any shorter full period would show in the prefix).
pub fn is_periodic(chunk: &[u8], max_period: usize) -> bool {
    // The probe reads up to 3 * max_period bytes.
    if max_period == 0 || chunk.len() < 3 * max_period {
        return false;
    }
    let probe = 2 * max_period;
    let candidate = (1..=max_period).find(|&p| chunk[p..p + probe] == chunk[..probe]);
    match candidate {
        Some(p) => chunk[p..] == chunk[..chunk.len() - p],
        None => false,
    }
}

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_detection() {
        assert!(is_periodic(&[0u8; 5000], 64));
        let fill: Vec<u8> = [0xFFu8, 0xFF, 0x7F, 0x00]
            .iter()
            .copied()
            .cycle()
            .take(9000)
            .collect();
        assert!(is_periodic(&fill, 64));
        let mut almost = vec![0u8; 5000];
        almost[4999] = 1;
        assert!(!is_periodic(&almost, 64));
        let ramp: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        assert!(!is_periodic(&ramp, 64));
        assert!(!is_periodic(&[0u8; 100], 64));
        for len in 120..260 {
            let period_50: Vec<u8> = (0..len).map(|i| (i % 50) as u8).collect();
            assert_eq!(is_periodic(&period_50, 64), len >= 192, "len {len}");
            let period_100: Vec<u8> = (0..len).map(|i| (i % 100) as u8).collect();
            assert!(!is_periodic(&period_100, 64), "len {len}");
            assert_eq!(is_periodic(&vec![7u8; len], 64), len >= 192, "len {len}");
        }
    }

    /// Pushing content in pieces of any size gives the one-shot result.
    #[test]
    fn stream_signals_equal_one_shot_for_any_split() {
        let params = crate::FingerprintParams::with_seed(99);
        let chunker = Chunker::new(&params);
        let mut x: u64 = 7;
        let data: Vec<u8> = (0..700_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if (200_000..260_000).contains(&i) {
                    0
                } else {
                    x as u8
                }
            })
            .collect();
        let whole = from_slice(&chunker, 64, &data);
        for step in [1usize, 3, 4096, 65_535, 65_536, 100_000, 1 << 20] {
            let mut s = StreamSignals::new(&chunker, 64);
            let mut at = 0;
            let mut k = 0;
            while at < data.len() {
                // Vary piece sizes around `step`.
                let n = (step + k % 7).min(data.len() - at);
                s.update(&data[at..at + n]);
                at += n;
                k += 1;
                if step == 1 && at > 150_000 {
                    s.update(&data[at..]);
                    at = data.len();
                }
            }
            assert_eq!(s.finish(), whole, "step {step}");
        }
        let empty = StreamSignals::new(&chunker, 64).finish();
        assert_eq!(empty, from_slice(&chunker, 64, &[]));
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}

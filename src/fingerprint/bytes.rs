//! The byte signals, computed in one pass: `exact` (BLAKE3-256 of the whole
//! content) and `chunks` (a keyed 128-bit hash of each content-defined
//! chunk; see [`Chunker::chunk_hash`]).
//!
//! On one thread each chunk is hashed on its own and then fed to the
//! whole-content hasher while it is still in cache, so every byte is read
//! from memory once. Large content is split across the rayon pool's threads
//! ([`from_slice`]): each thread cuts its own stretch as if a chunk started
//! there, and the stretches are stitched by running the sequential cut from
//! the previous stretch's last cut until it lands on one of the next
//! stretch's cuts (content-defined cuts resynchronise within a chunk or
//! two), so the result is exactly the sequential one.

use std::io::{self, Read};

use serde::Serialize;

use super::chunker::Chunker;

/// Width of a stored chunk hash (XXH3-128 keyed by the index's secret).
pub const CHUNK_HASH_LEN: usize = 16;

/// A chunk's keyed 128-bit hash ([`Chunker::chunk_hash`]).
pub type ChunkHash = [u8; CHUNK_HASH_LEN];

/// One content-defined chunk of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkFp {
    /// The chunk's keyed 128-bit hash ([`Chunker::chunk_hash`]).
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

    fn push(&mut self, chunker: &Chunker, chunk: &[u8]) {
        self.chunks.push(chunk_fp(
            chunker,
            chunk,
            self.offset,
            self.trivial_period_max,
        ));
        self.offset += chunk.len() as u64;
    }

    /// Feeds content to the whole-content hash. Callers pass large pieces:
    /// fed chunk by chunk, BLAKE3 would hash each chunk's unaligned edges
    /// one 64-byte block at a time instead of many 1 KiB chunks at once.
    fn feed_whole(&mut self, bytes: &[u8]) {
        self.whole.update(bytes);
    }

    fn finish(self) -> ByteSignals {
        ByteSignals {
            size: self.offset,
            digest: *self.whole.finalize().as_bytes(),
            chunks: self.chunks,
        }
    }
}

/// Content at least this long is split across threads when the pool has
/// more than one.
pub const PARALLEL_MIN_LEN: usize = 8 << 20;

/// Whether the caller runs on a rayon pool of more than one thread (its
/// own, or a scanner's or writer's). Outside any pool the work stays on
/// the calling thread: asking the global pool's size would create it.
fn in_parallel_pool() -> bool {
    rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1
}

/// Computes the byte signals of content held whole in memory, on the
/// current rayon pool's threads when it is large (the result does not
/// depend on the thread count).
pub fn from_slice(chunker: &Chunker, trivial_period_max: u8, data: &[u8]) -> ByteSignals {
    if data.len() >= PARALLEL_MIN_LEN && in_parallel_pool() {
        return from_slice_parallel(chunker, trivial_period_max, data);
    }
    from_slice_sequential(chunker, trivial_period_max, data)
}

/// [`from_slice`] on the calling thread alone.
pub fn from_slice_sequential(
    chunker: &Chunker,
    trivial_period_max: u8,
    data: &[u8],
) -> ByteSignals {
    let mut whole = blake3::Hasher::new();
    let mut chunks = Vec::new();
    let size = settle_in_cache(
        chunker,
        trivial_period_max,
        data,
        true,
        0,
        (&mut whole, &mut chunks),
        data.len(),
        &mut |_| {},
    );
    ByteSignals {
        size: size as u64,
        digest: *whole.finalize().as_bytes(),
        chunks,
    }
}

/// [`from_slice`] split across the pool: cut points found per stretch and
/// stitched, chunks hashed in parallel, the whole-content digest computed
/// with BLAKE3's own parallel tree hashing alongside.
fn from_slice_parallel(chunker: &Chunker, trivial_period_max: u8, data: &[u8]) -> ByteSignals {
    let ends = cut_points(chunker, data);
    let mut whole = blake3::Hasher::new();
    let chunks = hash_parallel(chunker, &mut whole, data, &ends, 0, trivial_period_max);
    ByteSignals {
        size: data.len() as u64,
        digest: *whole.finalize().as_bytes(),
        chunks,
    }
}

/// Hashes the chunks of `data` ending at `ends` (offsets in the item start
/// at `base`) in parallel, while `whole` takes in `data` up to the last end
/// with BLAKE3's parallel tree hashing.
fn hash_parallel(
    chunker: &Chunker,
    whole: &mut blake3::Hasher,
    data: &[u8],
    ends: &[usize],
    base: u64,
    trivial_period_max: u8,
) -> Vec<ChunkFp> {
    use rayon::prelude::*;
    let used = ends.last().copied().unwrap_or(0);
    let trivial = trivial_period_max as usize;
    let (_, chunks) = rayon::join(
        || {
            whole.update_rayon(&data[..used]);
        },
        || {
            (0..ends.len())
                .into_par_iter()
                .with_min_len(64)
                .map(|i| {
                    let start = if i == 0 { 0 } else { ends[i - 1] };
                    chunk_fp(chunker, &data[start..ends[i]], base + start as u64, trivial)
                })
                .collect()
        },
    );
    chunks
}

/// The fingerprint of `chunk`, found at `offset` in its item.
fn chunk_fp(chunker: &Chunker, chunk: &[u8], offset: u64, trivial: usize) -> ChunkFp {
    ChunkFp {
        hash: chunker.chunk_hash(chunk),
        offset,
        len: chunk.len() as u32,
        trivial: is_periodic(chunk, trivial),
    }
}

/// Hashes, with [`hash_parallel`], the chunks of a block `buf` (its cuts
/// `ends`, its offset in the item `base`) whose cuts are final: all at the
/// item's end (`eof`), else those whose chunk's whole look-ahead `window`
/// is in the block. Returns how far they reach (0: none is final yet).
fn hash_settled(
    (whole, chunks): (&mut blake3::Hasher, &mut Vec<ChunkFp>),
    buf: &[u8],
    ends: &[usize],
    eof: bool,
    base: u64,
    chunker: &Chunker,
    trivial_period_max: u8,
) -> usize {
    let window = chunker.max_len();
    let keep = if eof {
        ends.len()
    } else {
        ends.iter()
            .scan(0usize, |start, &end| {
                let ok = *start + window <= buf.len();
                *start = end;
                Some(ok)
            })
            .take_while(|&ok| ok)
            .count()
    };
    let ends = &ends[..keep];
    chunks.extend(hash_parallel(
        chunker,
        whole,
        buf,
        ends,
        base,
        trivial_period_max,
    ));
    ends.last().copied().unwrap_or(0)
}

/// Bytes a file too large to map whole is mapped at a time.
pub const FILE_WINDOW: usize = 64 << 20;

/// Computes the byte signals of the first `len` bytes of `file` by mapping
/// it a window of `window` bytes at a time (at least four maximal chunks),
/// so no byte is copied out of the page cache and memory stays at one
/// window. On the current rayon pool's threads when it has more than one;
/// on one thread, each piece of about [`IN_CACHE`] bytes is cut, hashed,
/// fed to the whole-content hash and searched while it is still in cache.
/// The result equals [`from_slice`] on the file's bytes. `seen` is given
/// every byte once, in order (for checks that search content as it
/// passes); `stopped` is asked before each window, and a `true` ends the
/// work early (the signals then cover a prefix: the caller must say so).
/// `Ok(None)` when the file cannot be mapped at all (its first window
/// fails): the caller streams it instead. A file whose length differs from
/// `len` before a window is mapped is an error (`source.changed`).
pub fn from_file_windows(
    chunker: &Chunker,
    trivial_period_max: u8,
    file: &std::fs::File,
    len: u64,
    window: usize,
    seen: &mut (dyn FnMut(&[u8]) + Send),
    stopped: &dyn Fn() -> bool,
) -> io::Result<Option<ByteSignals>> {
    let lookahead = chunker.max_len();
    let window = window.max(4 * lookahead) as u64;
    let parallel = in_parallel_pool();
    let mut whole = blake3::Hasher::new();
    let mut chunks = Vec::new();
    let mut base = 0u64;
    let mut seen_to = 0u64;
    while base < len && !stopped() {
        let now = file.metadata()?.len();
        if now != len {
            return Err(io::Error::other(format!(
                "source.changed: the file was {len} bytes when opened and is {now} bytes now; it changed while being read"
            )));
        }
        let map_len = (len - base).min(window) as usize;
        let map = match crate::source::mmap::Mapping::of_range(file, base, map_len) {
            Ok(map) => map,
            Err(_) if base == 0 => return Ok(None),
            Err(e) => return Err(e),
        };
        let buf: &[u8] = &map;
        let eof = base + map_len as u64 == len;
        let from = (seen_to - base) as usize;
        let used = if parallel {
            seen_to = base + map_len as u64;
            // The window's new bytes are searched beside the cutting.
            let ends = rayon::join(|| seen(&buf[from..]), || cut_points(chunker, buf)).1;
            let used = hash_settled(
                (&mut whole, &mut chunks),
                buf,
                &ends,
                eof,
                base,
                chunker,
                trivial_period_max,
            );
            Some(used).filter(|&n| n > 0)
        } else {
            let used = settle_in_cache(
                chunker,
                trivial_period_max,
                buf,
                eof,
                base,
                (&mut whole, &mut chunks),
                from,
                seen,
            );
            seen_to = seen_to.max(base + used as u64);
            Some(used).filter(|&n| n > 0)
        };
        // A window of four maximal chunks always settles one.
        let Some(used) = used else {
            return Err(io::Error::other("no chunk settled in a window"));
        };
        base += used as u64;
    }
    Ok(Some(ByteSignals {
        size: base,
        digest: *whole.finalize().as_bytes(),
        chunks,
    }))
}

/// Bytes a one-thread pass takes through every step (cut, chunk hashes,
/// whole-content hash, `seen`) before moving on: small enough to stay in
/// the core's cache.
pub const IN_CACHE: usize = 256 << 10;

/// Cuts the settled chunks of `buf` (all of them at `eof`) on this thread,
/// a piece of about [`IN_CACHE`] bytes at a time through every step;
/// `seen` gets the bytes from `seen_from` on as far as the cut. Returns how
/// far the cut went.
#[allow(clippy::too_many_arguments)]
fn settle_in_cache(
    chunker: &Chunker,
    trivial_period_max: u8,
    buf: &[u8],
    eof: bool,
    base: u64,
    (whole, chunks): (&mut blake3::Hasher, &mut Vec<ChunkFp>),
    seen_from: usize,
    seen: &mut (dyn FnMut(&[u8]) + Send),
) -> usize {
    let lookahead = chunker.max_len();
    let trivial = trivial_period_max as usize;
    let (mut pos, mut piece, mut seen_at) = (0, 0, seen_from);
    let mut flush = |from: usize, to: usize, seen_at: &mut usize| {
        whole.update(&buf[from..to]);
        if to > *seen_at {
            seen(&buf[*seen_at..to]);
            *seen_at = to;
        }
    };
    while pos < buf.len() && (eof || pos + lookahead <= buf.len()) {
        let len = chunker.cut(&buf[pos..]);
        chunks.push(chunk_fp(
            chunker,
            &buf[pos..pos + len],
            base + pos as u64,
            trivial,
        ));
        pos += len;
        if pos - piece >= IN_CACHE {
            flush(piece, pos, &mut seen_at);
            piece = pos;
        }
    }
    flush(piece, pos, &mut seen_at);
    pos
}

/// Bytes a parallel stream reader takes in per step (at least this, and at
/// least four maximal chunks).
const PARALLEL_BLOCK: usize = 32 << 20;

/// [`from_reader`] on several threads: the stream is taken in blocks, each
/// block's cuts are found and its chunks hashed in parallel; chunks whose
/// look-ahead window runs past the block wait for the next one.
fn from_reader_parallel<R: Read>(
    chunker: &Chunker,
    trivial_period_max: u8,
    mut reader: R,
    block: usize,
) -> io::Result<ByteSignals> {
    let window = chunker.max_len();
    let block = block.max(4 * window);
    let mut buf: Vec<u8> = Vec::with_capacity(block + window);
    let mut whole = blake3::Hasher::new();
    let mut chunks = Vec::new();
    let mut base = 0u64;
    let mut eof = false;
    loop {
        while !eof && buf.len() < block {
            let want = (block - buf.len()) as u64;
            let got = (&mut reader).take(want).read_to_end(&mut buf)?;
            eof = (got as u64) < want;
        }
        if buf.is_empty() {
            break;
        }
        let ends = cut_points(chunker, &buf);
        let used = hash_settled(
            (&mut whole, &mut chunks),
            &buf,
            &ends,
            eof,
            base,
            chunker,
            trivial_period_max,
        );
        base += used as u64;
        buf.drain(..used);
        if eof && buf.is_empty() {
            break;
        }
    }
    Ok(ByteSignals {
        size: base,
        digest: *whole.finalize().as_bytes(),
        chunks,
    })
}

/// The end offset of every chunk of `data`, found in parallel stretches and
/// stitched so that they equal the sequential cuts.
pub fn cut_points(chunker: &Chunker, data: &[u8]) -> Vec<usize> {
    use rayon::prelude::*;
    if !in_parallel_pool() {
        let mut ends = Vec::with_capacity(data.len() / 8192 + 1);
        let mut pos = 0;
        while pos < data.len() {
            pos += chunker.cut(&data[pos..]);
            ends.push(pos);
        }
        return ends;
    }
    let stretches = (rayon::current_num_threads() * 4).clamp(1, (data.len() >> 20).max(1));
    let bounds: Vec<usize> = (0..=stretches)
        .map(|k| (data.len() as u128 * k as u128 / stretches as u128) as usize)
        .collect();
    // Each stretch's cuts, as if a chunk started at its first byte; the
    // last chunk may run past the stretch's end.
    let per_stretch: Vec<Vec<usize>> = (0..stretches)
        .into_par_iter()
        .map(|k| {
            let (start, stop) = (bounds[k], bounds[k + 1]);
            let mut ends = Vec::with_capacity((stop - start) / 8192 + 1);
            let mut pos = start;
            while pos < stop || (k + 1 == stretches && pos < data.len()) {
                pos += chunker.cut(&data[pos..]);
                ends.push(pos);
            }
            ends
        })
        .collect();
    let mut ends: Vec<usize> = Vec::with_capacity(data.len() / 8192 + 1);
    for (k, theirs) in per_stretch.into_iter().enumerate() {
        let start = bounds[k];
        let mut pos = ends.last().copied().unwrap_or(0);
        loop {
            // Does the stretch's own sequence pass through `pos`?
            let adopted = if pos == start {
                Some(0)
            } else {
                theirs.binary_search(&pos).ok().map(|i| i + 1)
            };
            if let Some(from) = adopted {
                ends.extend_from_slice(&theirs[from..]);
                break;
            }
            if pos >= data.len() || theirs.last().is_none_or(|&last| pos > last) {
                break;
            }
            pos += chunker.cut(&data[pos..]);
            ends.push(pos);
        }
    }
    // A stretch whose sequence was never met leaves the sequential cut to
    // finish the content.
    let mut pos = ends.last().copied().unwrap_or(0);
    while pos < data.len() {
        pos += chunker.cut(&data[pos..]);
        ends.push(pos);
    }
    ends
}

/// Computes the byte signals of a stream with a buffer of a few chunks,
/// giving exactly what [`from_slice`] gives on the same bytes.
pub fn from_reader<R: Read>(
    chunker: &Chunker,
    trivial_period_max: u8,
    mut reader: R,
) -> io::Result<ByteSignals> {
    if in_parallel_pool() {
        return from_reader_parallel(chunker, trivial_period_max, reader, PARALLEL_BLOCK);
    }
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
        self.acc.feed_whole(data);
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
                self.acc
                    .push(self.chunker, &self.pending[self.start..self.start + len]);
                self.start += len;
            }
        }
    }

    /// Cuts what is left and returns the signals.
    pub fn finish(mut self) -> ByteSignals {
        while self.start < self.pending.len() {
            let len = self.chunker.cut(&self.pending[self.start..]);
            self.acc
                .push(self.chunker, &self.pending[self.start..self.start + len]);
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

    /// `len` bytes of xorshift noise from `seed`.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

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

    /// Cut points found in parallel stretches equal the sequential ones, on
    /// noise, on long runs of one byte (no content cuts: every chunk is
    /// `chunk_max`, so stretches resynchronise late) and on mixtures.
    #[test]
    fn parallel_cuts_equal_sequential_cuts() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (seed, min, avg, max) in [(1u64, 4096, 16384, 65536), (2, 64, 256, 1024)] {
            let mut params = crate::FingerprintParams::with_seed(seed);
            (params.chunk_min, params.chunk_avg, params.chunk_max) = (min, avg, max);
            let chunker = Chunker::new(&params);
            let noise = noise(seed, 5_000_000);
            let mut mixed = noise.clone();
            mixed[1_000_000..3_500_000].fill(0);
            for data in [
                &noise[..],
                &mixed[..],
                &vec![7u8; 4_200_001][..],
                &noise[..1_048_577],
            ] {
                let sequential: Vec<usize> = {
                    let mut ends = Vec::new();
                    let mut pos = 0;
                    while pos < data.len() {
                        pos += chunker.cut(&data[pos..]);
                        ends.push(pos);
                    }
                    ends
                };
                let parallel = pool.install(|| cut_points(&chunker, data));
                assert_eq!(parallel, sequential, "min {min}, len {}", data.len());
                let signals = pool.install(|| from_slice_parallel(&chunker, 64, data));
                let expected = from_slice_sequential(&chunker, 64, data);
                assert_eq!(signals, expected);
                for block in [PARALLEL_BLOCK, 300_001, 1 << 20] {
                    let streamed = pool.install(|| from_reader_parallel(&chunker, 64, data, block));
                    assert_eq!(streamed.unwrap(), expected, "block {block}");
                }
            }
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

    /// A file mapped a window at a time gives the one-shot signals, on one
    /// thread and on a pool, for windows of any size; every byte is seen
    /// once, in order; a stop ends the work early.
    #[test]
    fn windowed_files_equal_one_shot() {
        use std::io::Write;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut params = crate::FingerprintParams::with_seed(5);
        (params.chunk_min, params.chunk_avg, params.chunk_max) = (256, 1024, 4096);
        let chunker = Chunker::new(&params);
        let mut data = noise(11, 3_000_017);
        data[500_000..900_000].fill(3);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let len = data.len() as u64;
        // The streamed path is the reference: code of its own.
        let expected = from_reader(&chunker, 64, &data[..]).unwrap();
        assert_eq!(expected, from_slice_sequential(&chunker, 64, &data));
        let never = || false;
        for window in [1, 16_385, 65_536, 1 << 20, 8 << 20] {
            let mut seen = Vec::new();
            let one = from_file_windows(
                &chunker,
                64,
                &file,
                len,
                window,
                &mut |b| seen.extend_from_slice(b),
                &never,
            )
            .unwrap()
            .unwrap();
            assert_eq!(one, expected, "window {window}");
            assert!(seen == data, "every byte seen once, in order");
            let mut seen = Vec::new();
            let two = pool.install(|| {
                from_file_windows(
                    &chunker,
                    64,
                    &file,
                    len,
                    window,
                    &mut |b| seen.extend_from_slice(b),
                    &never,
                )
            });
            assert_eq!(
                two.unwrap().unwrap(),
                expected,
                "window {window}, 2 threads"
            );
            assert!(seen == data, "every byte seen once, in order, 2 threads");
        }
        // A stop before the second window: a prefix, no more.
        let asked = std::cell::Cell::new(0);
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 1
        };
        let part = from_file_windows(&chunker, 64, &file, len, 1 << 20, &mut |_| {}, &stop)
            .unwrap()
            .unwrap();
        assert!(part.size > 0 && part.size < len, "{}", part.size);
        // A file shorter or longer than announced is an error, not a fault
        // and not a prefix passed off as the whole.
        for announced in [len + 10, len - 10] {
            let err =
                from_file_windows(&chunker, 64, &file, announced, 1 << 20, &mut |_| {}, &never)
                    .unwrap_err();
            assert!(err.to_string().contains("source.changed"), "{err}");
        }
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}

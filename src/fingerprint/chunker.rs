//! Content-defined chunk boundaries: FastCDC v2020 with a seeded gear table.
//!
//! The cut points are those of the `fastcdc` crate (pinned; its masks and
//! seeded gear tables are used as they are), found by our own scan loop:
//! the gear hash after byte `p` is `h(p) = 2 h(p-1) + gear[b(p)]`, so four
//! positions can be computed from `h(p-1)` at once and the loop-carried
//! dependency is one shift and one add per four bytes instead of per byte.
//! Every position is still tested in order, so the first cut is the same
//! (tests compare with the crate on random data, parameters and seeds).
//!
//! A cut only ever looks at the next `chunk_max` bytes, so the same code
//! serves whole slices and bounded streaming buffers.

use std::borrow::Cow;

use fastcdc::v2020::{self as cdc, Normalization};

use super::FingerprintParams;

/// Finds content-defined chunk boundaries for one parameter set.
#[derive(Clone)]
pub struct Chunker {
    min: usize,
    avg: usize,
    max: usize,
    mask_s: u64,
    mask_l: u64,
    gear: Cow<'static, [u64]>,
    hash_seed: u64,
    #[cfg(test)]
    gear_ls: Cow<'static, [u64]>,
}

/// The sizes only: the gear table is derived from the secret seed.
impl std::fmt::Debug for Chunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker")
            .field("min", &self.min)
            .field("avg", &self.avg)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Chunker {
    /// Builds the chunker for validated parameters (see
    /// [`FingerprintParams::validate`]).
    pub fn new(params: &FingerprintParams) -> Chunker {
        let level = match params.chunk_normalization {
            0 => Normalization::Level0,
            1 => Normalization::Level1,
            2 => Normalization::Level2,
            _ => Normalization::Level3,
        };
        let (mask_s, mask_l) = cdc::select_masks(params.chunk_avg as usize, level);
        #[cfg_attr(not(test), allow(unused_variables))]
        let (gear, gear_ls) = cdc::get_gear_with_seed(params.gear_seed);
        Chunker {
            min: params.chunk_min as usize,
            avg: params.chunk_avg as usize,
            max: params.chunk_max as usize,
            mask_s,
            mask_l,
            gear,
            hash_seed: chunk_hash_seed(params.gear_seed),
            #[cfg(test)]
            gear_ls,
        }
    }

    /// The chunk's 128-bit hash: XXH3-128 seeded with a key derived from
    /// the index's secret gear seed. Chunk hashes only find candidates
    /// (a collision can make a false match, never a missed one) and the
    /// content's exact identity stays BLAKE3 (`exact`), so a hash many
    /// times faster than BLAKE3 does here.
    pub fn chunk_hash(&self, chunk: &[u8]) -> [u8; 16] {
        twox_hash::XxHash3_128::oneshot_with_seed(self.hash_seed, chunk).to_le_bytes()
    }

    /// The largest chunk; also the look-ahead one cut needs.
    pub fn max_len(&self) -> usize {
        self.max
    }

    /// Length of the chunk that starts at `window[0]`. `window` must hold
    /// the next [`max_len`](Self::max_len) bytes of content, or all that is
    /// left of it; longer windows are fine. Returns 0 only for an empty
    /// window.
    pub fn cut(&self, window: &[u8]) -> usize {
        let mut remaining = window.len();
        if remaining <= self.min {
            return remaining;
        }
        let mut center = self.avg;
        if remaining > self.max {
            remaining = self.max;
        } else if remaining < center {
            center = remaining;
        }
        let src = &window[..remaining];
        let gear: &[u64; 256] = self.gear[..].try_into().expect("256 gear entries");
        // Positions are tested in pairs, as the crate does: pairs before
        // `center / 2` use the strict mask, later ones the relaxed mask. At
        // the even position of a pair the crate tests `2 h & (mask << 1)`,
        // that is `h & (mask << 1 >> 1)`.
        let start = self.min / 2 * 2;
        let strict_end = (center / 2 * 2).max(start);
        let end = remaining / 2 * 2;
        let mut h = 0u64;
        let strict = Masks {
            even: (self.mask_s << 1) >> 1,
            odd: self.mask_s,
        };
        if let Some(at) = scan(src, start, strict_end, &mut h, strict, gear) {
            return at;
        }
        let relaxed = Masks {
            even: (self.mask_l << 1) >> 1,
            odd: self.mask_l,
        };
        if let Some(at) = scan(src, strict_end, end, &mut h, relaxed, gear) {
            return at;
        }
        remaining
    }

    /// The `fastcdc` crate's own cut, kept to check [`cut`](Self::cut).
    #[cfg(test)]
    fn reference_cut(&self, window: &[u8]) -> usize {
        let (_, len) = cdc::cut_gear(
            window,
            self.min,
            self.avg,
            self.max,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
            &self.gear,
            &self.gear_ls,
        );
        len
    }
}

/// The chunk-hash key of an index: derived from its secret gear seed, so
/// chunk hashes of one index say nothing about another's.
fn chunk_hash_seed(gear_seed: u64) -> u64 {
    let key = blake3::derive_key("pugmark 2026-12 chunk hash seed", &gear_seed.to_le_bytes());
    u64::from_le_bytes(key[..8].try_into().expect("8 bytes"))
}

/// The masks tested at even and odd positions.
#[derive(Clone, Copy)]
struct Masks {
    even: u64,
    odd: u64,
}

/// Tests positions `from..to` (both even) in order, carrying the gear hash
/// in `h`; returns the first position whose hash has no mask bit set.
#[inline(always)]
fn scan(
    src: &[u8],
    from: usize,
    to: usize,
    h: &mut u64,
    m: Masks,
    gear: &[u64; 256],
) -> Option<usize> {
    let mut p = from;
    let mut hash = *h;
    if to > src.len() || from > to {
        return None;
    }
    while p + 4 <= to {
        let b = &src[p..p + 4];
        let (g0, g1, g2, g3) = (
            gear[b[0] as usize],
            gear[b[1] as usize],
            gear[b[2] as usize],
            gear[b[3] as usize],
        );
        // The hashes after each of the four bytes, all from `hash`.
        let y1 = (g0 << 1).wrapping_add(g1);
        let y2 = (y1 << 1).wrapping_add(g2);
        let y3 = (y2 << 1).wrapping_add(g3);
        let h0 = (hash << 1).wrapping_add(g0);
        let h1 = (hash << 2).wrapping_add(y1);
        let h2 = (hash << 3).wrapping_add(y2);
        let h3 = (hash << 4).wrapping_add(y3);
        // Four predictable branches (almost never taken) cost less than
        // combining the tests.
        if h0 & m.even == 0 {
            return Some(p);
        }
        if h1 & m.odd == 0 {
            return Some(p + 1);
        }
        if h2 & m.even == 0 {
            return Some(p + 2);
        }
        if h3 & m.odd == 0 {
            return Some(p + 3);
        }
        hash = h3;
        p += 4;
    }
    while p < to {
        let h0 = (hash << 1).wrapping_add(gear[src[p] as usize]);
        if h0 & m.even == 0 {
            return Some(p);
        }
        let h1 = (h0 << 1).wrapping_add(gear[src[p + 1] as usize]);
        if h1 & m.odd == 0 {
            return Some(p + 1);
        }
        hash = h1;
        p += 2;
    }
    *h = hash;
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// Cut points equal those of the crate's own iterator, with and without
    /// a seed, on pseudo-random data.
    #[test]
    fn same_cuts_as_fastcdc_iterator() {
        let data = noise(0x9E37_79B9_7F4A_7C15, 600_000);
        for seed in [0u64, 0xDEAD_BEEF_1234_5678] {
            let params = FingerprintParams::with_seed(seed);
            let chunker = Chunker::new(&params);
            let mut ours = Vec::new();
            let mut pos = 0;
            while pos < data.len() {
                let n = chunker.cut(&data[pos..]);
                ours.push((pos, n));
                pos += n;
            }
            let theirs: Vec<(usize, usize)> = cdc::FastCDC::with_level_and_seed(
                &data,
                4096,
                16384,
                65536,
                Normalization::Level1,
                seed,
            )
            .map(|c| (c.offset, c.length))
            .collect();
            assert_eq!(ours, theirs);
            assert!(ours.len() > 10);
        }
    }

    /// Chunk hashes are keyed: equal content gives equal hashes under one
    /// seed and different ones under another; every byte and the length
    /// count (one flipped or dropped byte changes the hash).
    #[test]
    fn chunk_hashes_are_keyed_by_the_seed() {
        let data = noise(0x5EED, 70_000);
        let a = Chunker::new(&FingerprintParams::with_seed(1));
        let b = Chunker::new(&FingerprintParams::with_seed(2));
        let mut seen = std::collections::HashSet::new();
        for len in [
            0, 1, 16, 17, 128, 129, 240, 241, 4096, 16_385, 65_536, 70_000,
        ] {
            let chunk = &data[..len];
            assert_eq!(a.chunk_hash(chunk), a.clone().chunk_hash(chunk));
            assert_ne!(a.chunk_hash(chunk), b.chunk_hash(chunk), "len {len}");
            assert!(seen.insert(a.chunk_hash(chunk)), "len {len}");
            if len > 0 {
                let mut flipped = chunk.to_vec();
                flipped[len / 2] ^= 1;
                assert_ne!(a.chunk_hash(chunk), a.chunk_hash(&flipped), "len {len}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Our scan loop cuts where the crate's `cut_gear` cuts, for any
        /// window length, seed, chunk sizes and normalisation, on noise,
        /// on runs of one byte and on short repeating patterns.
        #[test]
        fn cut_equals_fastcdc_cut_gear(
            seed in any::<u64>(),
            data_seed in any::<u64>(),
            min_exp in 6u32..12,
            avg_extra in 1u32..4,
            max_extra in 1u32..3,
            level in 0u8..4,
            len in 0usize..300_000,
            shape in 0u8..3,
        ) {
            let mut params = FingerprintParams::with_seed(seed);
            params.chunk_min = 1 << min_exp;
            params.chunk_avg = 1 << (min_exp + avg_extra);
            params.chunk_max = 1 << (min_exp + avg_extra + max_extra);
            params.chunk_normalization = level;
            let chunker = Chunker::new(&params);
            let data = match shape {
                0 => noise(data_seed, len),
                1 => vec![data_seed as u8; len],
                _ => (0..len).map(|i| (i % 7) as u8 ^ data_seed as u8).collect(),
            };
            let mut pos = 0;
            while pos < data.len() {
                let window = &data[pos..];
                let ours = chunker.cut(window);
                prop_assert_eq!(ours, chunker.reference_cut(window), "at {}", pos);
                pos += ours;
            }
        }
    }
}

//! Vector code, chosen at run time: the chunker's candidate search.
//!
//! This is the one module besides memory mapping and the C ABI that may use
//! `unsafe`: CPU intrinsics behind runtime feature detection, each with a
//! scalar path giving the same answer (a property test checks every path
//! this CPU has against the scalar one).
//!
//! The chunker's gear hash after byte `p`, `h(p) = 2 h(p-1) + gear[b(p)]`
//! (wrapping), forgets a byte after 64 steps, so once a chunk's scan is 64
//! bytes in, `h(p)` is the *window hash* `W(p) = sum of gear[b(p-i)] << i`
//! for `i` in `0..64`, whatever came before. Window hashes of distant
//! positions are independent, so several lanes compute them at once, each
//! on its own stretch after 64 bytes of warm-up; the first lane (in content
//! order) with a hit gives the answer. This is the SS-CDC idea: the cut
//! points are exactly the sequential ones.

#![allow(unsafe_code)]

/// The masks a window hash is tested with: at even and at odd positions
/// (counted from the start of the slice searched).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HitMasks {
    /// Mask for even positions.
    pub even: u64,
    /// Mask for odd positions.
    pub odd: u64,
}

impl HitMasks {
    #[inline(always)]
    fn at(self, p: usize) -> u64 {
        if p.is_multiple_of(2) {
            self.even
        } else {
            self.odd
        }
    }
}

/// Bytes of history a window hash depends on.
pub const WINDOW: usize = 64;

/// The first position `p` in `from..to` whose window hash `W(p)` has no bit
/// of `masks.at(p)` set, on the fastest path this CPU has. `from` must be
/// at least [`WINDOW`] and `to` at most `src.len()`.
pub fn first_window_hit(
    src: &[u8],
    from: usize,
    to: usize,
    gear: &[u64; 256],
    masks: HitMasks,
) -> Option<usize> {
    assert!(
        from >= WINDOW && to <= src.len(),
        "window hit search out of bounds"
    );
    if from >= to {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above), and the
            // bounds the function relies on were asserted on entry.
            return unsafe { x86::first_hit_avx512(src, from, to, gear, masks) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above), and the
            // bounds the function relies on were asserted on entry.
            return unsafe { x86::first_hit_avx2(src, from, to, gear, masks) };
        }
    }
    first_hit_scalar(src, from, to, gear, masks)
}

/// [`first_window_hit`] one position at a time: the reference every vector
/// path must equal.
pub fn first_hit_scalar(
    src: &[u8],
    from: usize,
    to: usize,
    gear: &[u64; 256],
    masks: HitMasks,
) -> Option<usize> {
    assert!(
        from >= WINDOW && to <= src.len(),
        "window hit search out of bounds"
    );
    let mut h = 0u64;
    for &b in &src[from - WINDOW..from] {
        h = (h << 1).wrapping_add(gear[b as usize]);
    }
    (from..to).find(|&p| {
        h = (h << 1).wrapping_add(gear[src[p] as usize]);
        h & masks.at(p) == 0
    })
}

/// A window-hit search: `(src, from, to, gear, masks)`, as
/// [`first_window_hit`] takes them.
pub type HitSearch = fn(&[u8], usize, usize, &[u64; 256], HitMasks) -> Option<usize>;

/// The paths this CPU can run, by name (for tests and benchmarks).
pub fn available_paths() -> Vec<(&'static str, HitSearch)> {
    let mut paths: Vec<(&'static str, HitSearch)> = vec![("scalar", first_hit_scalar)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            paths.push(("avx2", |s, f, t, g, m| {
                assert!(f >= WINDOW && t <= s.len() && f <= t);
                // SAFETY: AVX2 was detected above; bounds asserted.
                unsafe { x86::first_hit_avx2(s, f, t, g, m) }
            }));
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            paths.push(("avx512", |s, f, t, g, m| {
                assert!(f >= WINDOW && t <= s.len() && f <= t);
                // SAFETY: AVX-512F was detected above; bounds asserted.
                unsafe { x86::first_hit_avx512(s, f, t, g, m) }
            }));
        }
    }
    paths
}

/// Positions each lane covers per round at most (a multiple of 8).
const MAX_STRIPE: usize = 256;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{first_hit_scalar, HitMasks, MAX_STRIPE, WINDOW};
    use std::arch::x86_64::*;

    /// The earliest hit of a round: `hits[t]` has bit `k` set when lane
    /// `k`'s position `t` hit; lanes cover consecutive stretches of
    /// `stripe` positions from `b`.
    #[inline(always)]
    fn earliest(hits: &[u8], any: u8, b: usize, stripe: usize) -> usize {
        let lane = any.trailing_zeros() as usize;
        let t = hits
            .iter()
            .position(|&bits| bits & (1 << lane) != 0)
            .expect("a lane with a hit has a position");
        b + lane * stripe + t
    }

    /// Four lanes of AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2; `WINDOW <= from <= to <= src.len()`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn first_hit_avx2(
        src: &[u8],
        from: usize,
        to: usize,
        gear: &[u64; 256],
        masks: HitMasks,
    ) -> Option<usize> {
        const LANES: usize = 4;
        let mut hits = [0u8; MAX_STRIPE];
        let mut b = from;
        let gear_ptr = gear.as_ptr() as *const i64;
        let src_ptr = src.as_ptr() as *const i64;
        let low = _mm256_set1_epi64x(0xFF);
        let zero = _mm256_setzero_si256();
        let eight = _mm256_set1_epi64x(8);
        loop {
            let stripe = ((to - b) / LANES).min(MAX_STRIPE) & !7;
            if stripe == 0 {
                break;
            }
            let s = stripe as i64;
            let start = (b - WINDOW) as i64;
            // Byte offsets of each lane's next 8 bytes, from 64 bytes
            // before its stretch.
            let mut offs = _mm256_setr_epi64x(start, start + s, start + 2 * s, start + 3 * s);
            let mut h = zero;
            // Masks for even and odd steps of a group of 8 (groups start
            // at positions of `b`'s parity, since stripes are multiples of
            // 8).
            let (m0, m1) = if b.is_multiple_of(2) {
                (masks.even, masks.odd)
            } else {
                (masks.odd, masks.even)
            };
            let m0 = _mm256_set1_epi64x(m0 as i64);
            let m1 = _mm256_set1_epi64x(m1 as i64);
            for _ in 0..WINDOW / 8 {
                // SAFETY: every lane reads 8 bytes at offsets from
                // `b - 64 >= 0` up to its stretch's end, which is at most
                // `b + LANES * stripe <= to <= src.len()`.
                let mut bytes = unsafe { _mm256_i64gather_epi64::<1>(src_ptr, offs) };
                for _ in 0..8 {
                    let idx = _mm256_and_si256(bytes, low);
                    // SAFETY: indices are bytes, within the 256 entries.
                    let g = unsafe { _mm256_i64gather_epi64::<8>(gear_ptr, idx) };
                    h = _mm256_add_epi64(_mm256_add_epi64(h, h), g);
                    bytes = _mm256_srli_epi64::<8>(bytes);
                }
                offs = _mm256_add_epi64(offs, eight);
            }
            let mut any = 0u8;
            for group in hits[..stripe].chunks_exact_mut(8) {
                // SAFETY: as above; the last group of a lane ends at its
                // stretch's end.
                let mut bytes = unsafe { _mm256_i64gather_epi64::<1>(src_ptr, offs) };
                for (j, slot) in group.iter_mut().enumerate() {
                    let idx = _mm256_and_si256(bytes, low);
                    // SAFETY: indices are bytes, within the 256 entries.
                    let g = unsafe { _mm256_i64gather_epi64::<8>(gear_ptr, idx) };
                    h = _mm256_add_epi64(_mm256_add_epi64(h, h), g);
                    bytes = _mm256_srli_epi64::<8>(bytes);
                    let m = if j % 2 == 0 { m0 } else { m1 };
                    let hit = _mm256_cmpeq_epi64(_mm256_and_si256(h, m), zero);
                    let bits = _mm256_movemask_pd(_mm256_castsi256_pd(hit)) as u8;
                    *slot = bits;
                    any |= bits;
                }
                offs = _mm256_add_epi64(offs, eight);
            }
            if any != 0 {
                return Some(earliest(&hits[..stripe], any, b, stripe));
            }
            b += LANES * stripe;
        }
        first_hit_scalar(src, b, to, gear, masks)
    }

    /// Eight lanes of AVX-512.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `WINDOW <= from <= to <= src.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn first_hit_avx512(
        src: &[u8],
        from: usize,
        to: usize,
        gear: &[u64; 256],
        masks: HitMasks,
    ) -> Option<usize> {
        const LANES: usize = 8;
        let mut hits = [0u8; MAX_STRIPE];
        let mut b = from;
        let gear_ptr = gear.as_ptr() as *const i64;
        let src_ptr = src.as_ptr() as *const i64;
        let low = _mm512_set1_epi64(0xFF);
        let eight = _mm512_set1_epi64(8);
        loop {
            let stripe = ((to - b) / LANES).min(MAX_STRIPE) & !7;
            if stripe == 0 {
                break;
            }
            let s = stripe as i64;
            let start = (b - WINDOW) as i64;
            let mut offs = _mm512_setr_epi64(
                start,
                start + s,
                start + 2 * s,
                start + 3 * s,
                start + 4 * s,
                start + 5 * s,
                start + 6 * s,
                start + 7 * s,
            );
            let mut h = _mm512_setzero_si512();
            let (m0, m1) = if b.is_multiple_of(2) {
                (masks.even, masks.odd)
            } else {
                (masks.odd, masks.even)
            };
            let m0 = _mm512_set1_epi64(m0 as i64);
            let m1 = _mm512_set1_epi64(m1 as i64);
            for _ in 0..WINDOW / 8 {
                // SAFETY: every lane reads 8 bytes at offsets from
                // `b - 64 >= 0` up to its stretch's end, which is at most
                // `b + LANES * stripe <= to <= src.len()`.
                let mut bytes = unsafe { _mm512_i64gather_epi64::<1>(offs, src_ptr) };
                for _ in 0..8 {
                    let idx = _mm512_and_si512(bytes, low);
                    // SAFETY: indices are bytes, within the 256 entries.
                    let g = unsafe { _mm512_i64gather_epi64::<8>(idx, gear_ptr) };
                    h = _mm512_add_epi64(_mm512_add_epi64(h, h), g);
                    bytes = _mm512_srli_epi64::<8>(bytes);
                }
                offs = _mm512_add_epi64(offs, eight);
            }
            let mut any = 0u8;
            for group in hits[..stripe].chunks_exact_mut(8) {
                // SAFETY: as above; the last group of a lane ends at its
                // stretch's end.
                let mut bytes = unsafe { _mm512_i64gather_epi64::<1>(offs, src_ptr) };
                for (j, slot) in group.iter_mut().enumerate() {
                    let idx = _mm512_and_si512(bytes, low);
                    // SAFETY: indices are bytes, within the 256 entries.
                    let g = unsafe { _mm512_i64gather_epi64::<8>(idx, gear_ptr) };
                    h = _mm512_add_epi64(_mm512_add_epi64(h, h), g);
                    bytes = _mm512_srli_epi64::<8>(bytes);
                    let m = if j % 2 == 0 { m0 } else { m1 };
                    let bits = _mm512_testn_epi64_mask(h, m);
                    *slot = bits;
                    any |= bits;
                }
                offs = _mm512_add_epi64(offs, eight);
            }
            if any != 0 {
                return Some(earliest(&hits[..stripe], any, b, stripe));
            }
            b += LANES * stripe;
        }
        first_hit_scalar(src, b, to, gear, masks)
    }
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

    fn gear(seed: u64) -> [u64; 256] {
        let mut x = seed | 1;
        std::array::from_fn(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        })
    }

    /// The scalar search finds what a plain gear hash from the slice's
    /// start finds once 64 bytes are in.
    #[test]
    fn scalar_equals_plain_gear_hash() {
        let data = noise(3, 20_000);
        let g = gear(5);
        let masks = HitMasks {
            even: 0x0000_0000_0F00_0000 << 1 >> 1,
            odd: 0x0000_0000_0F00_0000,
        };
        let mut h = 0u64;
        let mut plain = None;
        for (p, &b) in data.iter().enumerate() {
            h = (h << 1).wrapping_add(g[b as usize]);
            if p >= WINDOW && h & masks.at(p) == 0 {
                plain = Some(p);
                break;
            }
        }
        assert!(plain.is_some());
        assert_eq!(
            first_hit_scalar(&data, WINDOW, data.len(), &g, masks),
            plain
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Searching on from each hit, every path finds the same sequence
        /// of all hits in the data as the scalar path: hits in every lane
        /// and at every place in a stretch, each one missed or moved would
        /// show.
        #[test]
        fn every_path_finds_every_hit(
            data_seed in any::<u64>(),
            gear_seed in any::<u64>(),
            bits in 6u32..12,
        ) {
            let data = noise(data_seed, 150_000);
            let g = gear(gear_seed);
            let odd = (u64::MAX >> (64 - bits)) << (gear_seed % (64 - bits as u64));
            let masks = HitMasks { even: odd << 1 >> 1, odd };
            let all = |path: HitSearch| {
                let mut found = Vec::new();
                let mut from = WINDOW;
                while let Some(p) = path(&data, from, data.len(), &g, masks) {
                    found.push(p);
                    from = p + 1;
                }
                found
            };
            let want = all(first_hit_scalar);
            prop_assert!(want.len() > 10);
            for (name, path) in available_paths() {
                prop_assert_eq!(&all(path), &want, "{}", name);
            }
        }

        /// Every path this CPU has finds exactly what the scalar path
        /// finds, for any bounds, masks (dense to sparse hits) and data,
        /// including runs of one byte and no hit at all.
        #[test]
        fn every_path_equals_scalar(
            data_seed in any::<u64>(),
            gear_seed in any::<u64>(),
            len in 64usize..12_000,
            from_off in 0usize..3_000,
            to_cut in 0usize..3_000,
            bits in 1u32..16,
            shape in 0u8..3,
        ) {
            let data = match shape {
                0 => noise(data_seed, len),
                1 => vec![data_seed as u8; len],
                _ => (0..len).map(|i| (i % 5) as u8 ^ data_seed as u8).collect(),
            };
            let g = gear(gear_seed);
            let odd = (u64::MAX >> (64 - bits)) << (gear_seed % (64 - bits as u64));
            let masks = HitMasks { even: odd << 1 >> 1, odd };
            let from = (WINDOW + from_off).min(len);
            let to = len - to_cut.min(len - from);
            let want = first_hit_scalar(&data, from, to, &g, masks);
            for (name, path) in available_paths() {
                prop_assert_eq!(path(&data, from, to, &g, masks), want, "{}", name);
            }
        }
    }
}

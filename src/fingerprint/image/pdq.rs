//! PDQ: Meta's 256-bit perceptual image hash, written from the published
//! algorithm description (see `../shared/ANCHORS.md`).
//!
//! Luma (float) -> two passes of a Jarosz box filter with window
//! ceil(dim / 128) along each axis -> 64x64 samples at pixel centres -> the
//! 16x16 low-frequency block of a 2-D DCT (frequencies 1..=16, DC excluded)
//! -> bit k = 16 * i + j is set when coefficient (i, j) exceeds the median.
//! Arithmetic follows the reference's float and integer steps so identical
//! pixels give identical hashes and quality scores.

use std::sync::OnceLock;

/// Images smaller than this in either dimension hash to zero, quality 0.
pub const MIN_HASHABLE_DIM: usize = 5;
/// The reference's match threshold: distance <= 31 bits is "the same image".
pub const MATCH_DISTANCE: u32 = 31;

/// A 256-bit PDQ hash, stored as a big-endian integer (hex prints it the way
/// the reference does: bit 0 is the lowest bit of the last hex digit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PdqHash(pub [u8; 32]);

impl PdqHash {
    /// Whether bit `k` (0..256) is set.
    pub fn bit(&self, k: usize) -> bool {
        self.0[31 - k / 8] >> (k % 8) & 1 == 1
    }

    fn set(&mut self, k: usize) {
        self.0[31 - k / 8] |= 1 << (k % 8);
    }

    /// Number of differing bits.
    pub fn distance(&self, other: &PdqHash) -> u32 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        crate::fingerprint::bytes::hex(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<PdqHash> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(PdqHash(out))
    }

    /// The 32-bit word `slot` (0..8), slot 0 being bits 0..32: the keys of
    /// the index's multi-index.
    pub fn slot(&self, slot: usize) -> u32 {
        let at = 28 - 4 * slot;
        u32::from_be_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }
}

/// The eight dihedral transforms, in the reference's order.
pub const DIHEDRAL_NAMES: [&str; 8] = [
    "orig",
    "rot90",
    "rot180",
    "rot270",
    "flipx",
    "flipy",
    "flipplus1",
    "flipminus1",
];

/// The 16x16 DCT block a hash is cut from (row-major, i = vertical
/// frequency).
#[derive(Clone, Debug, PartialEq)]
pub struct DctBlock(pub [f32; 256]);

/// A hash and its quality (0..=100; below 50 the hash is weak).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pdq {
    /// The hash.
    pub hash: PdqHash,
    /// The reference's gradient-based quality score.
    pub quality: u8,
}

/// Luma as the reference computes it from 8-bit RGB.
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> f32 {
    0.299f32 * r as f32 + 0.587f32 * g as f32 + 0.114f32 * b as f32
}

/// Hashes a `rows` x `cols` luma image. `luma` is overwritten (it is the
/// filter's working buffer). Returns the DCT block (for dihedral variants)
/// and the quality, or `None` for images too small to hash.
pub fn dct_from_luma(luma: &mut [f32], rows: usize, cols: usize) -> Option<(DctBlock, u8)> {
    assert_eq!(luma.len(), rows * cols, "luma buffer size");
    if rows < MIN_HASHABLE_DIM || cols < MIN_HASHABLE_DIM {
        return None;
    }
    filter(luma, rows, cols);
    Some(dct_of_filtered(luma, cols, [0, 0, rows, cols]))
}

/// The box-filter widths PDQ uses for a `rows` x `cols` picture: (along
/// each row, along each column).
pub fn filter_windows(rows: usize, cols: usize) -> (usize, usize) {
    (cols.div_ceil(128), rows.div_ceil(128))
}

/// The reference's Jarosz filter: two passes of a box filter along rows
/// then columns, in place.
pub fn filter(luma: &mut [f32], rows: usize, cols: usize) {
    let n = rows * cols;
    let (window_along_rows, window_along_cols) = filter_windows(rows, cols);
    // Rows are filtered as the columns of the transposed picture, so both
    // passes run over whole rows at a time (vectorised, cache-friendly)
    // with each column's arithmetic in the reference's order.
    let run = |scratch: &mut [f32], transposed: &mut [f32], luma: &mut [f32]| {
        for _ in 0..2 {
            transpose(luma, scratch, rows, cols);
            box_columns(scratch, transposed, cols, rows, window_along_rows);
            transpose(transposed, scratch, cols, rows);
            box_columns(scratch, luma, rows, cols, window_along_cols);
        }
    };
    // Every value of both working buffers is written before it is read,
    // so a thread keeps its buffers from picture to picture (up to a
    // bound) instead of allocating and zeroing them for each filter run.
    if n > FILTER_BUFFERS_KEPT {
        run(&mut vec![0f32; n], &mut vec![0f32; n], luma);
        return;
    }
    FILTER_BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        let (scratch, transposed) = &mut *buffers;
        if scratch.len() < n {
            scratch.resize(n, 0.0);
            transposed.resize(n, 0.0);
        }
        run(&mut scratch[..n], &mut transposed[..n], luma);
    });
}

/// Largest picture (in values) whose filter buffers a thread keeps: 1 Mi
/// values, 8 MiB for both (a 4K photo decoded at 1/4 scale is 0.5 Mi), so
/// a pool of many threads keeps little.
const FILTER_BUFFERS_KEPT: usize = 1 << 20;

thread_local! {
    /// The filter's two working buffers, kept by each thread.
    static FILTER_BUFFERS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Samples 64 x 64 points of the filtered picture `filtered` (`stride`
/// values per row) inside `region` = [top, left, rows, cols] and returns
/// their 16 x 16 DCT block and quality. On the whole picture this is the
/// reference's hash; on a region of a larger filtered picture it
/// approximates the hash of that region cut out (the filter near the
/// region's edges also saw pixels outside it).
pub fn dct_of_filtered(filtered: &[f32], stride: usize, region: [usize; 4]) -> (DctBlock, u8) {
    let [top, left, rows, cols] = region;
    let columns: [usize; 64] = std::array::from_fn(|j| left + sample_place(j, cols));
    let mut samples = [0f32; 64 * 64];
    for (i, out) in samples.chunks_exact_mut(64).enumerate() {
        let row = &filtered[(top + sample_place(i, rows)) * stride..];
        for (o, &c) in out.iter_mut().zip(&columns) {
            *o = row[c];
        }
    }
    let quality = quality(&samples);
    (dct_64_to_16(&samples), quality)
}

/// [`dct_of_filtered`] of the transpose of the whole filtered `rows` x
/// `cols` picture, sampled where it is (no transposed copy is made).
pub fn dct_of_filtered_transposed(filtered: &[f32], rows: usize, cols: usize) -> (DctBlock, u8) {
    // Sample (i, j) of the transpose is the picture's row place(j, rows),
    // column place(i, cols).
    let picture_rows: [usize; 64] = std::array::from_fn(|j| sample_place(j, rows) * cols);
    let mut samples = [0f32; 64 * 64];
    for (i, out) in samples.chunks_exact_mut(64).enumerate() {
        let column = sample_place(i, cols);
        for (o, &row) in out.iter_mut().zip(&picture_rows) {
            *o = filtered[row + column];
        }
    }
    let quality = quality(&samples);
    (dct_64_to_16(&samples), quality)
}

/// The `k`th of 64 sample places along an axis of `len` values (the
/// reference's decimation).
fn sample_place(k: usize, len: usize) -> usize {
    (((k as f64 + 0.5) * len as f64) / 64.0) as usize
}

/// The hash of a DCT block: bits above the block's median.
pub fn hash_from_dct(block: &DctBlock) -> PdqHash {
    let mut sorted = block.0;
    let (_, median, _) = sorted.select_nth_unstable_by(127, f32::total_cmp);
    let median = *median;
    let mut hash = PdqHash::default();
    for (k, v) in block.0.iter().enumerate() {
        if *v > median {
            hash.set(k);
        }
    }
    hash
}

/// The DCT block of the image under each dihedral transform, in
/// [`DIHEDRAL_NAMES`] order, derived by transposing and flipping signs
/// (flipping an axis negates its odd-indexed frequencies 1, 3, 5, ...).
pub fn dihedral_blocks(block: &DctBlock) -> [DctBlock; 8] {
    let a = &block.0;
    let make = |transpose: bool, flip_i: bool, flip_j: bool| {
        let mut out = [0f32; 256];
        for i in 0..16 {
            for j in 0..16 {
                // Frequency index i holds frequency i + 1: odd frequencies
                // (even i) change sign when that axis is mirrored.
                let mut v = a[i * 16 + j];
                if flip_i && i % 2 == 0 {
                    v = -v;
                }
                if flip_j && j % 2 == 0 {
                    v = -v;
                }
                if transpose {
                    out[j * 16 + i] = v;
                } else {
                    out[i * 16 + j] = v;
                }
            }
        }
        DctBlock(out)
    };
    [
        make(false, false, false), // orig
        make(true, false, true),   // rot90
        make(false, true, true),   // rot180
        make(true, true, false),   // rot270
        make(false, true, false),  // flipx (upside down)
        make(false, false, true),  // flipy (mirror)
        make(true, false, false),  // flipplus1 (transpose)
        make(true, true, true),    // flipminus1 (anti-transpose)
    ]
}

/// Hash and quality of a luma image (see [`dct_from_luma`]).
pub fn pdq_from_luma(luma: &mut [f32], rows: usize, cols: usize) -> Pdq {
    match dct_from_luma(luma, rows, cols) {
        Some((block, quality)) => Pdq {
            hash: hash_from_dct(&block),
            quality,
        },
        None => Pdq {
            hash: PdqHash::default(),
            quality: 0,
        },
    }
}

/// One pass of the box filter down every column: the mean over a window
/// centred on each output, shrinking at the ends (the reference's
/// four-phase loop, with each column's additions, subtractions and
/// divisions in the reference's order), computed over whole rows at once.
fn box_columns(input: &[f32], output: &mut [f32], rows: usize, cols: usize, window: usize) {
    crate::simd::box_filter_columns(input, output, rows, cols, window);
}

/// [`box_columns`] as portable code, inlined into each caller so that
/// [`crate::simd`] can compile it for wider registers (the operations and
/// their order stay the same, so the results are the same bits).
#[inline(always)]
pub(crate) fn box_columns_portable(
    input: &[f32],
    output: &mut [f32],
    rows: usize,
    cols: usize,
    window: usize,
) {
    let half = (window + 2) / 2;
    let phase1 = half - 1;
    let phase2 = window - half + 1;
    let phase3 = rows.saturating_sub(window);
    let phase4 = half - 1;
    let row = |i: usize| &input[i * cols..(i + 1) * cols];
    let mut sums = vec![0f32; cols];
    let (mut li, mut ri, mut oi) = (0usize, 0usize, 0usize);
    let mut count = 0usize;
    let write = |out: &mut [f32], oi: usize, sums: &[f32], count: usize| {
        let n = count as f32;
        for (o, s) in out[oi * cols..(oi + 1) * cols].iter_mut().zip(sums) {
            *o = s / n;
        }
    };
    for _ in 0..phase1 {
        sums.iter_mut().zip(row(ri)).for_each(|(s, v)| *s += v);
        count += 1;
        ri += 1;
    }
    for _ in 0..phase2 {
        sums.iter_mut().zip(row(ri)).for_each(|(s, v)| *s += v);
        count += 1;
        write(output, oi, &sums, count);
        ri += 1;
        oi += 1;
    }
    let n = count as f32;
    for _ in 0..phase3 {
        // One pass: add the entering row, take away the leaving one, divide
        // (each column's operations in the same order as three passes).
        let out = &mut output[oi * cols..(oi + 1) * cols];
        for (((s, o), v), w) in sums.iter_mut().zip(out).zip(row(ri)).zip(row(li)) {
            *s += v;
            *s -= w;
            *o = *s / n;
        }
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..phase4 {
        sums.iter_mut().zip(row(li)).for_each(|(s, v)| *s -= v);
        count -= 1;
        write(output, oi, &sums, count);
        li += 1;
        oi += 1;
    }
}

/// `out` (cols x rows) = transpose of `input` (rows x cols), on the
/// fastest path the CPU has (the `simd` module).
pub fn transpose(input: &[f32], out: &mut [f32], rows: usize, cols: usize) {
    crate::simd::transpose_f32(input, out, rows, cols);
}

/// The reference's quality: summed absolute vertical and horizontal
/// differences of the 64x64 samples, scaled to 0..=100.
fn quality(s: &[f32; 4096]) -> u8 {
    let mut sum: i64 = 0;
    for i in 0..63 {
        for j in 0..64 {
            let d = ((s[i * 64 + j] - s[(i + 1) * 64 + j]) * 100.0) / 255.0;
            sum += (d as i32).abs() as i64;
        }
    }
    for i in 0..64 {
        for j in 0..63 {
            let d = ((s[i * 64 + j] - s[i * 64 + j + 1]) * 100.0) / 255.0;
            sum += (d as i32).abs() as i64;
        }
    }
    (sum / 90).min(100) as u8
}

/// The 16x64 DCT-II basis for frequencies 1..=16, in the reference's float
/// precision.
fn dct_matrix() -> &'static [f32; 16 * 64] {
    static MATRIX: OnceLock<[f32; 16 * 64]> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let scale = (2.0f64 / 64.0).sqrt();
        let mut m = [0f32; 16 * 64];
        for i in 0..16 {
            for j in 0..64 {
                let angle =
                    (std::f64::consts::PI / 2.0 / 64.0) * (i + 1) as f64 * (2 * j + 1) as f64;
                m[i * 64 + j] = (scale * angle.cos()) as f32;
            }
        }
        m
    })
}

/// The basis transposed (64 x 16): row `k` holds the 16 functions' values
/// at sample `k`.
fn dct_matrix_transposed() -> &'static [f32; 64 * 16] {
    static MATRIX: OnceLock<[f32; 64 * 16]> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let d = dct_matrix();
        std::array::from_fn(|at| d[(at % 16) * 64 + at / 16])
    })
}

/// D * A * D^T for the 16x64 basis D and the 64x64 samples A. Each output
/// is summed over `k` in increasing order from zero, as the reference
/// sums; the loops run over `k` outside and along whole rows inside, so
/// the compiler computes many outputs at once without reordering any
/// output's sum.
fn dct_64_to_16(a: &[f32; 4096]) -> DctBlock {
    let d = dct_matrix();
    let mut t = [0f32; 16 * 64];
    for (t_row, d_row) in t.chunks_exact_mut(64).zip(d.chunks_exact(64)) {
        for (&weight, a_row) in d_row.iter().zip(a.chunks_exact(64)) {
            for (t, &v) in t_row.iter_mut().zip(a_row) {
                *t += weight * v;
            }
        }
    }
    let d_t = dct_matrix_transposed();
    let mut out = [0f32; 256];
    for (out_row, t_row) in out.chunks_exact_mut(16).zip(t.chunks_exact(64)) {
        for (&v, d_column) in t_row.iter().zip(d_t.chunks_exact(16)) {
            for (o, &weight) in out_row.iter_mut().zip(d_column) {
                *o += v * weight;
            }
        }
    }
    DctBlock(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Window halves as in the reference: 1 -> 1, 2 -> 2, 3 -> 2, 4 -> 3,
    /// 7 -> 4, 8 -> 5 ((window + 2) / 2).
    #[test]
    fn box_filter_means() {
        let input: Vec<f32> = (0..10).map(|x| x as f32).collect();
        let mut out = vec![0f32; 10];
        box_columns(&input, &mut out, 10, 1, 1);
        assert_eq!(out, input);
        box_columns(&input, &mut out, 10, 1, 3);
        assert_eq!(out[0], 0.5);
        assert_eq!(out[1], 1.0);
        assert_eq!(out[9], 8.5);
    }

    /// Sampling the transpose in place gives what sampling a transposed
    /// copy gives, bit for bit.
    #[test]
    fn transposed_sampling_equals_sampling_the_transpose() {
        for (rows, cols) in [(270, 480), (97, 64), (64, 301)] {
            let picture: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 7919) % 251) as f32 * 0.37)
                .collect();
            let mut transposed = vec![0f32; rows * cols];
            transpose(&picture, &mut transposed, rows, cols);
            let (copy, copy_quality) = dct_of_filtered(&transposed, rows, [0, 0, cols, rows]);
            let (in_place, quality) = dct_of_filtered_transposed(&picture, rows, cols);
            assert_eq!(copy.0.map(f32::to_bits), in_place.0.map(f32::to_bits));
            assert_eq!(copy_quality, quality);
        }
    }

    #[test]
    fn hex_round_trip_and_slots() {
        let hex = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22";
        let h = PdqHash::from_hex(hex).unwrap();
        assert_eq!(h.to_hex(), hex);
        assert_eq!(h.slot(0), 0x4e9c_9b22);
        assert_eq!(h.slot(7), 0xf8f8_f0cc);
        assert!(!h.bit(0));
        assert!(h.bit(1));
        assert_eq!(h.distance(&h), 0);
    }
}

//! Vector code, chosen at run time: transposing a picture of `f32` values
//! (the PDQ filter's row passes run as column passes of the transpose), and
//! the filter's box pass compiled for AVX registers.
//!
//! This is the one module besides memory mapping and the C ABI that may use
//! `unsafe`: CPU intrinsics behind runtime feature detection, each with a
//! scalar path giving the same answer (a test checks every path this CPU
//! has against the scalar one). A transpose only moves values, so every
//! path gives the same bits.

#![allow(unsafe_code)]

/// `out` (`cols` x `rows`) = the transpose of `input` (`rows` x `cols`,
/// row-major), on the fastest path this CPU has.
///
/// # Panics
/// If either slice is shorter than `rows * cols`.
pub fn transpose_f32(input: &[f32], out: &mut [f32], rows: usize, cols: usize) {
    let n = rows
        .checked_mul(cols)
        .expect("transpose: rows x cols overflows");
    assert!(
        input.len() >= n && out.len() >= n,
        "transpose: buffers shorter than {rows} x {cols}"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (checked just above), and the buffers
        // hold `rows * cols` values (asserted above).
        unsafe { x86::transpose_avx(input, out, rows, cols) };
        return;
    }
    transpose_scalar(input, out, rows, cols);
}

/// One pass of PDQ's box filter down every column of a `rows` x `cols`
/// picture (the portable code in the PDQ module), compiled for AVX when
/// the CPU has it: the same IEEE operations in the same order on wider
/// registers (Rust never fuses a multiply and an add on its own), so the
/// same bits.
pub fn box_filter_columns(
    input: &[f32],
    output: &mut [f32],
    rows: usize,
    cols: usize,
    window: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (checked just above); the function is
        // safe code otherwise.
        unsafe { x86::box_columns_avx(input, output, rows, cols, window) };
        return;
    }
    crate::fingerprint::image::pdq::box_columns_portable(input, output, rows, cols, window);
}

/// The scalar transpose, in 32 x 32 tiles: the reference every vector path
/// is tested against, and the path on CPUs without one.
pub fn transpose_scalar(input: &[f32], out: &mut [f32], rows: usize, cols: usize) {
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            for c in c0..(c0 + TILE).min(cols) {
                let dst = &mut out[c * rows + r0..c * rows + r1];
                let src = input[r0 * cols + c..].iter().step_by(cols);
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = *s;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Rows and columns of the blocks moved through registers.
    const BLOCK: usize = 8;
    /// Blocks are taken in tiles of this many rows and columns, so the
    /// rows read and the rows written stay in the first-level cache.
    const TILE: usize = 64;

    /// The portable box pass compiled with AVX enabled.
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn box_columns_avx(
        input: &[f32],
        output: &mut [f32],
        rows: usize,
        cols: usize,
        window: usize,
    ) {
        crate::fingerprint::image::pdq::box_columns_portable(input, output, rows, cols, window);
    }

    /// The transpose with 8 x 8 blocks in AVX registers; the strips past
    /// the last whole block are moved one value at a time.
    ///
    /// # Safety
    /// The CPU must have AVX, and both slices must hold at least
    /// `rows * cols` values.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose_avx(input: &[f32], out: &mut [f32], rows: usize, cols: usize) {
        let (block_rows, block_cols) = (rows - rows % BLOCK, cols - cols % BLOCK);
        for r0 in (0..block_rows).step_by(TILE) {
            for c0 in (0..block_cols).step_by(TILE) {
                for r in (r0..(r0 + TILE).min(block_rows)).step_by(BLOCK) {
                    for c in (c0..(c0 + TILE).min(block_cols)).step_by(BLOCK) {
                        // SAFETY: r + 8 <= rows and c + 8 <= cols, so every
                        // row read (r + k) * cols + c .. + 8 lies inside
                        // `input` and every row written (c + k) * rows + r
                        // .. + 8 inside `out` (both hold rows * cols); AVX
                        // is enabled on this function.
                        unsafe { block_8x8(input, out, rows, cols, r, c) };
                    }
                }
            }
        }
        // The columns right of the last whole block, then the rows below.
        for c in block_cols..cols {
            for r in 0..rows {
                out[c * rows + r] = input[r * cols + c];
            }
        }
        for r in block_rows..rows {
            for c in 0..block_cols {
                out[c * rows + r] = input[r * cols + c];
            }
        }
    }

    /// Transposes the 8 x 8 block at row `r`, column `c` of `input` into
    /// `out`.
    ///
    /// # Safety
    /// AVX must be available; `r + 8 <= rows`, `c + 8 <= cols`, and both
    /// slices must hold `rows * cols` values.
    #[target_feature(enable = "avx")]
    #[inline]
    unsafe fn block_8x8(
        input: &[f32],
        out: &mut [f32],
        rows: usize,
        cols: usize,
        r: usize,
        c: usize,
    ) {
        let src = input.as_ptr();
        let dst = out.as_mut_ptr();
        macro_rules! load {
            ($k:expr) => {
                // SAFETY: the caller guarantees row r + k of the block
                // (8 values from column c) lies inside `input`; the load
                // is unaligned.
                unsafe { _mm256_loadu_ps(src.add((r + $k) * cols + c)) }
            };
        }
        let (a0, a1, a2, a3) = (load!(0), load!(1), load!(2), load!(3));
        let (a4, a5, a6, a7) = (load!(4), load!(5), load!(6), load!(7));
        // Pairs of rows interleaved, then pairs of pairs, then the halves.
        let (t0, t1) = (_mm256_unpacklo_ps(a0, a1), _mm256_unpackhi_ps(a0, a1));
        let (t2, t3) = (_mm256_unpacklo_ps(a2, a3), _mm256_unpackhi_ps(a2, a3));
        let (t4, t5) = (_mm256_unpacklo_ps(a4, a5), _mm256_unpackhi_ps(a4, a5));
        let (t6, t7) = (_mm256_unpacklo_ps(a6, a7), _mm256_unpackhi_ps(a6, a7));
        let (u0, u1) = (
            _mm256_shuffle_ps::<0x44>(t0, t2),
            _mm256_shuffle_ps::<0xEE>(t0, t2),
        );
        let (u2, u3) = (
            _mm256_shuffle_ps::<0x44>(t1, t3),
            _mm256_shuffle_ps::<0xEE>(t1, t3),
        );
        let (u4, u5) = (
            _mm256_shuffle_ps::<0x44>(t4, t6),
            _mm256_shuffle_ps::<0xEE>(t4, t6),
        );
        let (u6, u7) = (
            _mm256_shuffle_ps::<0x44>(t5, t7),
            _mm256_shuffle_ps::<0xEE>(t5, t7),
        );
        let columns = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (k, column) in columns.into_iter().enumerate() {
            // SAFETY: as above, column c + k of the block is row c + k of
            // `out`, and r + 8 <= rows.
            unsafe { _mm256_storeu_ps(dst.add((c + k) * rows + r), column) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path this CPU has equals the scalar transpose, on shapes with
    /// and without whole blocks and tiles, and transposing twice gives the
    /// picture back.
    #[test]
    fn every_path_equals_the_scalar_transpose() {
        for (rows, cols) in [
            (1, 1),
            (7, 9),
            (8, 8),
            (16, 24),
            (63, 65),
            (64, 64),
            (130, 71),
            (270, 480),
            (135, 241),
        ] {
            let input: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.5 - 3.0).collect();
            let mut reference = vec![f32::NAN; rows * cols];
            transpose_scalar(&input, &mut reference, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(reference[c * rows + r], input[r * cols + c]);
                }
            }
            let mut fast = vec![f32::NAN; rows * cols];
            transpose_f32(&input, &mut fast, rows, cols);
            assert_eq!(fast, reference, "{rows} x {cols}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx") {
                let mut avx = vec![f32::NAN; rows * cols];
                // SAFETY: AVX is present and both buffers hold rows * cols.
                unsafe { x86::transpose_avx(&input, &mut avx, rows, cols) };
                assert_eq!(avx, reference, "AVX, {rows} x {cols}");
            }
            let mut back = vec![0f32; rows * cols];
            transpose_f32(&fast, &mut back, cols, rows);
            assert_eq!(back, input);
        }
    }

    /// A size whose value count overflows is refused, never transposed
    /// through buffers that are too short.
    #[test]
    #[should_panic(expected = "overflows")]
    fn overflowing_sizes_are_refused() {
        transpose_f32(&[], &mut [], 1 << 61, 8);
    }

    /// The box pass on every path this CPU has gives the portable code's
    /// bits, for windows from 1 to the whole column.
    #[test]
    fn every_box_pass_equals_the_portable_one() {
        use crate::fingerprint::image::pdq::box_columns_portable;
        let mut x: u32 = 0x2545_F491;
        for (rows, cols) in [(1, 1), (5, 3), (64, 17), (270, 480), (97, 33)] {
            let input: Vec<f32> = (0..rows * cols)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x % 25_500) as f32 / 100.0
                })
                .collect();
            // PDQ's windows are at most a 128th of the side, plus one.
            for window in [1, 2, 3, 4, 7, 8, rows].into_iter().filter(|&w| w <= rows) {
                let mut portable = vec![f32::NAN; rows * cols];
                box_columns_portable(&input, &mut portable, rows, cols, window);
                let mut chosen = vec![f32::NAN; rows * cols];
                box_filter_columns(&input, &mut chosen, rows, cols, window);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&chosen),
                    bits(&portable),
                    "{rows} x {cols}, window {window}"
                );
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx") {
                    let mut avx = vec![f32::NAN; rows * cols];
                    // SAFETY: AVX is present.
                    unsafe { x86::box_columns_avx(&input, &mut avx, rows, cols, window) };
                    assert_eq!(
                        bits(&avx),
                        bits(&portable),
                        "AVX, {rows} x {cols}, window {window}"
                    );
                }
            }
        }
    }
}

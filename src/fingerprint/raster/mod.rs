//! The `raster` signal: sample-level fingerprints of GeoTIFFs and ASCII
//! grids that survive re-encoding, retiling, type widening, windows and
//! band subsets, plus a perceptual hash per band for lossy and resampled
//! copies.
//!
//! Every sample becomes its numeric value in one canonical 64-bit form
//! (f64 bits, so a UInt16 200 and a Float32 200.0 agree; -0 is 0; NaN and
//! NoData are one marker). From that:
//! * a digest per band and for the whole raster (identical samples in any
//!   container, compression, tiling or type);
//! * content-defined chunks along every row: a cut follows sample i when a
//!   hash of samples i-3..=i has its low bits zero, so cut points depend on
//!   values, not positions, and a window cut out at any offset shares its
//!   inner chunks with the original; each chunk is hashed with BLAKE3 and
//!   located by band, row and column, which gives the window's offset;
//! * per band, a PDQ hash of the band stretched to 8 bits (2nd to 98th
//!   percentile) and averaged down to at most 512 samples a side.

pub mod grid;

use serde::{Serialize, Serializer};

use super::image::pdq::{self, Pdq};
use super::FingerprintParams;
use crate::sniff::Kind;
pub use grid::{GeoInfo, Grid, GridError};

/// The canonical form of NaN and NoData samples.
pub const CANONICAL_NODATA: u64 = 0x7FF8_0000_0000_0000;
/// Samples in the hash window that decides chunk cuts.
const CUT_WINDOW: usize = 4;
/// Shortest and longest row chunk, in samples.
const CHUNK_MIN: usize = 4;
const CHUNK_MAX: usize = 64;
/// Longest side of the downsampled band a perceptual hash is taken from.
const PERCEPTUAL_SIDE: usize = 512;

/// A content-defined run of samples within one row of one band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowChunk {
    /// BLAKE3 of the canonical samples, 128 bits.
    pub hash: [u8; 16],
    /// Band (0-based).
    pub band: u16,
    /// Row.
    pub row: u32,
    /// First column.
    pub col: u32,
    /// Samples in the chunk.
    pub len: u16,
}

/// One band's fingerprints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BandFp {
    /// Band (0-based).
    pub band: u16,
    /// Digest of the band's canonical samples.
    #[serde(serialize_with = "hex32")]
    pub digest: [u8; 32],
    /// PDQ of the stretched band.
    #[serde(serialize_with = "pdq_hex")]
    pub pdq: Pdq,
}

fn hex32<S: Serializer>(d: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::fingerprint::bytes::hex(d))
}

fn pdq_hex<S: Serializer>(p: &Pdq, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Pdq", 2)?;
    st.serialize_field("hash", &p.hash.to_hex())?;
    st.serialize_field("quality", &p.quality)?;
    st.end()
}

/// The raster signal's fingerprint of one raster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RasterFp {
    /// Samples per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// The stored sample type (`u16`, `f32`, `ascii`, ...).
    pub sample_type: String,
    /// Georeferencing tags.
    pub geo: GeoInfo,
    /// Digest of all bands' canonical samples.
    #[serde(serialize_with = "hex32")]
    pub digest: [u8; 32],
    /// Per-band digests and perceptual hashes.
    pub bands: Vec<BandFp>,
    /// Row chunks used for window matching (count shown in reports).
    #[serde(rename = "row_chunks", serialize_with = "count")]
    pub chunks: Vec<RowChunk>,
}

fn count<S: Serializer>(v: &[RowChunk], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(v.len() as u64)
}

/// Canonical 64-bit form of a sample value.
#[inline]
pub fn canonical(v: f64, nodata: Option<f64>) -> u64 {
    if v.is_nan() || nodata.is_some_and(|n| n == v) {
        CANONICAL_NODATA
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// Decodes a raster of `kind` (TIFF or ASCII grid) and fingerprints it.
pub fn fingerprint(
    data: &[u8],
    kind: Kind,
    params: &FingerprintParams,
    max_samples: u64,
) -> Result<RasterFp, GridError> {
    let grid = match kind {
        Kind::AsciiGrid => grid::decode_ascii_grid(data, max_samples)?,
        _ => grid::decode_tiff(data, max_samples)?,
    };
    Ok(fingerprint_grid(&grid, params.gear_seed))
}

/// Fingerprints a decoded grid.
pub fn fingerprint_grid(grid: &Grid, seed: u64) -> RasterFp {
    let nodata = grid.geo.nodata;
    let mut whole = blake3::Hasher::new();
    whole.update(b"pugmark raster v1");
    for v in [
        grid.width as u64,
        grid.height as u64,
        grid.bands.len() as u64,
    ] {
        whole.update(&v.to_le_bytes());
    }
    let mut bands = Vec::with_capacity(grid.bands.len());
    let mut chunks = Vec::new();
    let mut canon = Vec::with_capacity(grid.width);
    let mut bytes = Vec::with_capacity(grid.width * 8);
    for (b, samples) in grid.bands.iter().enumerate() {
        let mut band = blake3::Hasher::new();
        band.update(b"pugmark raster band v1");
        band.update(&(grid.width as u64).to_le_bytes());
        band.update(&(grid.height as u64).to_le_bytes());
        for (r, row) in samples.chunks_exact(grid.width.max(1)).enumerate() {
            canon.clear();
            canon.extend(row.iter().map(|&v| canonical(v, nodata)));
            bytes.clear();
            canon
                .iter()
                .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
            band.update(&bytes);
            row_chunks(&canon, &bytes, b as u16, r as u32, seed, &mut chunks);
        }
        let digest = *band.finalize().as_bytes();
        whole.update(&digest);
        bands.push(BandFp {
            band: b as u16,
            digest,
            pdq: band_pdq(samples, grid.width, grid.height, nodata),
        });
    }
    RasterFp {
        width: grid.width as u32,
        height: grid.height as u32,
        sample_type: grid.sample_type.clone(),
        geo: grid.geo.clone(),
        digest: *whole.finalize().as_bytes(),
        bands,
        chunks,
    }
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Cuts one row into content-defined chunks; keeps those that carry
/// information (at least [`CHUNK_MIN`] samples, not all equal).
fn row_chunks(row: &[u64], bytes: &[u8], band: u16, r: u32, seed: u64, out: &mut Vec<RowChunk>) {
    let mut start = 0;
    let mut window = [0u64; CUT_WINDOW];
    for (i, &v) in row.iter().enumerate() {
        window[i % CUT_WINDOW] = mix(v ^ seed);
        let len = i + 1 - start;
        let at_cut = i + 1 >= CUT_WINDOW && {
            let h = window.iter().enumerate().fold(0u64, |acc, (k, g)| {
                acc ^ g.rotate_left(((i - k) % CUT_WINDOW) as u32 * 13)
            });
            h & 7 == 0
        };
        if (len >= CHUNK_MIN && at_cut) || len >= CHUNK_MAX || i + 1 == row.len() {
            let samples = &row[start..=i];
            if samples.len() >= CHUNK_MIN && samples.iter().any(|&s| s != samples[0]) {
                let full = blake3::hash(&bytes[start * 8..(i + 1) * 8]);
                let mut hash = [0u8; 16];
                hash.copy_from_slice(&full.as_bytes()[..16]);
                out.push(RowChunk {
                    hash,
                    band,
                    row: r,
                    col: start as u32,
                    len: samples.len() as u16,
                });
            }
            start = i + 1;
        }
    }
}

/// PDQ of a band stretched from its 2nd..98th percentile to 0..255 and
/// averaged down so the longer side is at most [`PERCEPTUAL_SIDE`].
fn band_pdq(samples: &[f64], width: usize, height: usize, nodata: Option<f64>) -> Pdq {
    let valid = |v: f64| v.is_finite() && nodata != Some(v);
    // Percentiles from at most ~64 Ki evenly spread samples.
    let step = (samples.len() / 65_536).max(1);
    let mut picks: Vec<f64> = samples
        .iter()
        .step_by(step)
        .copied()
        .filter(|&v| valid(v))
        .collect();
    if picks.len() < 2 || width < pdq::MIN_HASHABLE_DIM || height < pdq::MIN_HASHABLE_DIM {
        return Pdq {
            hash: pdq::PdqHash::default(),
            quality: 0,
        };
    }
    let n = picks.len();
    let lo = *picks.select_nth_unstable_by(n * 2 / 100, f64::total_cmp).1;
    let hi = *picks.select_nth_unstable_by(n * 98 / 100, f64::total_cmp).1;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let f = width.max(height).div_ceil(PERCEPTUAL_SIDE).max(1);
    let (rows, cols) = (height / f, width / f);
    if rows < pdq::MIN_HASHABLE_DIM || cols < pdq::MIN_HASHABLE_DIM {
        return Pdq {
            hash: pdq::PdqHash::default(),
            quality: 0,
        };
    }
    let mut out = vec![0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            let mut sum = 0f64;
            for dr in 0..f {
                for dc in 0..f {
                    let v = samples[(r * f + dr) * width + c * f + dc];
                    sum += if valid(v) {
                        ((v - lo) / span * 255.0).clamp(0.0, 255.0)
                    } else {
                        0.0
                    };
                }
            }
            out[r * cols + c] = (sum / (f * f) as f64) as f32;
        }
    }
    pdq::pdq_from_luma(&mut out, rows, cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_values_agree_across_types() {
        assert_eq!(
            canonical(f64::from(200u16), None),
            canonical(200.0f32 as f64, None)
        );
        assert_eq!(canonical(-0.0, None), canonical(0.0, None));
        assert_eq!(canonical(f64::NAN, None), CANONICAL_NODATA);
        assert_eq!(canonical(65535.0, Some(65535.0)), CANONICAL_NODATA);
    }

    #[test]
    fn row_cuts_do_not_depend_on_the_start() {
        let row: Vec<u64> = (0..400u64)
            .map(|i| canonical((mix(i) % 1000) as f64, None))
            .collect();
        let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut full = Vec::new();
        row_chunks(&row, &bytes, 0, 0, 9, &mut full);
        let mut part = Vec::new();
        row_chunks(&row[57..300], &bytes[57 * 8..300 * 8], 0, 0, 9, &mut part);
        let full_hashes: std::collections::HashSet<[u8; 16]> =
            full.iter().map(|c| c.hash).collect();
        let shared = part
            .iter()
            .filter(|c| full_hashes.contains(&c.hash))
            .count();
        assert!(shared + 3 >= part.len(), "{shared} of {}", part.len());
        for c in part.iter().filter(|c| full_hashes.contains(&c.hash)) {
            let original = full.iter().find(|f| f.hash == c.hash).unwrap();
            assert_eq!(original.col, c.col + 57);
        }
    }
}

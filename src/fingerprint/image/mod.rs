//! The `image` signal: PDQ perceptual hashes of photos, with border
//! trimming and a few region hashes so that re-encoded, resized, recoloured,
//! mirrored, rotated, framed and cropped copies still match.
//!
//! Per picture: decode to luma ([`decode`]), trim uniform borders (a frame
//! added around a copy disappears), then hash the trimmed picture and
//! centred crops of it (2.5, 5, 7.5 and 10% off each side, by default). The
//! same hashes are computed on both sides, so a copy cropped by c per side
//! lines up with some protected region within about 1.25% per side. Queries
//! try all eight dihedral variants of the whole-picture hash, derived from
//! its DCT block without re-hashing.

pub mod decode;
pub mod pdq;

use serde::{Serialize, Serializer};

use decode::{decode_luma, DecodeError, ImageLimits, LumaImage};
use pdq::{DctBlock, PdqHash};

use super::FingerprintParams;
use crate::sniff::Kind;

/// One hash of a picture or of a region of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionHash {
    /// Per-mille cut from each side of the trimmed picture (0 = whole).
    pub crop_permille: u16,
    /// The PDQ hash.
    #[serde(serialize_with = "hash_hex")]
    pub hash: PdqHash,
    /// PDQ quality, 0..=100.
    pub quality: u8,
}

fn hash_hex<S: Serializer>(h: &PdqHash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&h.to_hex())
}

impl RegionHash {
    /// A short name for reports: `full` or `center-50` (per mille cut).
    pub fn region_name(crop_permille: u16) -> String {
        if crop_permille == 0 {
            "full".to_string()
        } else {
            format!("center-{}pm", crop_permille)
        }
    }
}

/// The image signal's fingerprint of one picture.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageFp {
    /// Full width from the header.
    pub width: u32,
    /// Full height from the header.
    pub height: u32,
    /// Decoded at 1/`decoded_scale` of full size (JPEG fast path).
    pub decoded_scale: u32,
    /// Uniform border trimmed before hashing, in decoded pixels: top,
    /// bottom, left, right.
    pub trimmed: [u32; 4],
    /// The whole (trimmed) picture's hash: `regions[0]`, repeated for
    /// readers of the JSON.
    pub pdq: RegionHash,
    /// Hashes of centred crops, in the order of the index parameters.
    pub regions: Vec<RegionHash>,
    /// The whole picture's DCT block, for dihedral variants.
    #[serde(skip)]
    pub dct: Option<DctBlock>,
}

impl ImageFp {
    /// The whole picture's hash under each dihedral transform (reference
    /// order: orig, rot90, rot180, rot270, flipx, flipy, flipplus1,
    /// flipminus1).
    pub fn dihedral_hashes(&self) -> Vec<PdqHash> {
        match &self.dct {
            Some(block) => pdq::dihedral_blocks(block)
                .iter()
                .map(pdq::hash_from_dct)
                .collect(),
            None => vec![self.pdq.hash],
        }
    }

    /// Every hash: the whole picture first, then the regions.
    pub fn all_hashes(&self) -> impl Iterator<Item = &RegionHash> {
        std::iter::once(&self.pdq).chain(self.regions.iter())
    }
}

/// Whether a TIFF holds a picture rather than a raster: no GeoTIFF tags,
/// 8 bits per sample, 1, 3 or 4 samples per pixel. GeoTIFFs and other
/// sample grids belong to the `raster` signal.
pub fn tiff_is_photo(data: &[u8]) -> bool {
    use tiff::tags::Tag;
    let Ok(mut decoder) = tiff::decoder::Decoder::new(std::io::Cursor::new(data)) else {
        return false;
    };
    for geo in [33550u16, 33922, 34264, 34735] {
        if matches!(decoder.find_tag(Tag::Unknown(geo)), Ok(Some(_)) | Err(_)) {
            return false;
        }
    }
    let bits: Vec<u16> = decoder
        .find_tag_unsigned_vec(Tag::BitsPerSample)
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![1]);
    let samples: u16 = decoder
        .find_tag_unsigned(Tag::SamplesPerPixel)
        .ok()
        .flatten()
        .unwrap_or(1);
    bits.iter().all(|&b| b == 8) && matches!(samples, 1 | 3 | 4)
}

/// Decodes a picture and computes its image fingerprint.
pub fn fingerprint(
    data: &[u8],
    kind: Kind,
    params: &FingerprintParams,
) -> Result<ImageFp, DecodeError> {
    let limits = ImageLimits {
        fast_jpeg_min_side: params.image_fast_jpeg_min_side,
        ..ImageLimits::default()
    };
    let luma = decode_luma(data, kind, &limits)?;
    let (width, height) = luma.full_size;
    let decoded_scale = luma.scale;
    let trimmed = trim_borders(
        &luma,
        params.image_trim_tolerance,
        params.image_trim_max_permille,
    );
    let [top, bottom, left, right] = trimmed;
    let (rows, cols) = (
        luma.rows - (top + bottom) as usize,
        luma.cols - (left + right) as usize,
    );
    let view = Window {
        image: &luma,
        top: top as usize,
        left: left as usize,
        rows,
        cols,
    };
    let mut buf = view.copy();
    let (dct, pdq) = match pdq::dct_from_luma(&mut buf, rows, cols) {
        Some((block, quality)) => {
            let hash = pdq::hash_from_dct(&block);
            (
                Some(block),
                RegionHash {
                    crop_permille: 0,
                    hash,
                    quality,
                },
            )
        }
        None => (
            None,
            RegionHash {
                crop_permille: 0,
                hash: PdqHash::default(),
                quality: 0,
            },
        ),
    };
    let regions = params
        .image_crops_permille
        .iter()
        .map(|&pm| {
            let cut_r = rows * pm as usize / 1000;
            let cut_c = cols * pm as usize / 1000;
            let region = Window {
                image: &luma,
                top: view.top + cut_r,
                left: view.left + cut_c,
                rows: rows - 2 * cut_r.min(rows / 2),
                cols: cols - 2 * cut_c.min(cols / 2),
            };
            let mut buf = region.copy();
            let p = pdq::pdq_from_luma(&mut buf, region.rows, region.cols);
            RegionHash {
                crop_permille: pm,
                hash: p.hash,
                quality: p.quality,
            }
        })
        .collect();
    Ok(ImageFp {
        width,
        height,
        decoded_scale,
        trimmed,
        pdq,
        regions,
        dct,
    })
}

/// A rectangle of a luma image.
struct Window<'a> {
    image: &'a LumaImage,
    top: usize,
    left: usize,
    rows: usize,
    cols: usize,
}

impl Window<'_> {
    fn copy(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in self.top..self.top + self.rows {
            let start = r * self.image.cols + self.left;
            out.extend_from_slice(&self.image.data[start..start + self.cols]);
        }
        out
    }
}

/// Rows and columns at the edges whose values all lie within `tolerance`
/// of the border colour (the corner's value) are trimmed, at most
/// `max_permille` of each dimension per side. Returns top, bottom, left,
/// right counts.
fn trim_borders(img: &LumaImage, tolerance: u8, max_permille: u16) -> [u32; 4] {
    let (rows, cols) = (img.rows, img.cols);
    if rows < 16 || cols < 16 || tolerance == 0 {
        return [0; 4];
    }
    let tol = tolerance as f32;
    let at = |r: usize, c: usize| img.data[r * cols + c];
    let max_r = rows * max_permille as usize / 1000;
    let max_c = cols * max_permille as usize / 1000;
    let row_uniform = |r: usize, c0: usize, c1: usize, reference: f32| {
        (c0..c1).all(|c| (at(r, c) - reference).abs() <= tol)
    };
    let col_uniform = |c: usize, r0: usize, r1: usize, reference: f32| {
        (r0..r1).all(|r| (at(r, c) - reference).abs() <= tol)
    };

    let mut top = 0;
    while top < max_r && row_uniform(top, 0, cols, at(0, 0)) {
        top += 1;
    }
    let mut bottom = 0;
    while bottom < max_r && row_uniform(rows - 1 - bottom, 0, cols, at(rows - 1, 0)) {
        bottom += 1;
    }
    let (r0, r1) = (top, rows - bottom);
    let mut left = 0;
    while left < max_c && col_uniform(left, r0, r1, at(r0, 0)) {
        left += 1;
    }
    let mut right = 0;
    while right < max_c && col_uniform(cols - 1 - right, r0, r1, at(r0, cols - 1)) {
        right += 1;
    }
    // A whole-picture "border" is not a border: keep such pictures as they are.
    if top >= max_r && bottom >= max_r || left >= max_c && right >= max_c {
        return [0; 4];
    }
    [top as u32, bottom as u32, left as u32, right as u32]
}

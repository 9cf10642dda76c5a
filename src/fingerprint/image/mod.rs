//! The `image` signal: PDQ perceptual hashes of photos, with border
//! trimming, region hashes and dihedral variants so that re-encoded,
//! resized, recoloured, mirrored, rotated, framed and cropped copies still
//! match.
//!
//! Per picture: decode to luma ([`decode`]) and hash the whole picture (the
//! reference PDQ hash). If it has a uniform border, also hash it trimmed (a
//! frame added around a copy disappears; hashing both keeps pictures with a
//! flat sky safe from over-trimming). Hash centred crops (2.5, 5, 7.5 and
//! 10% off each side by default): the same crops are hashed on both sides,
//! so a copy cropped by c per side lines up with some protected region.
//! Protected pictures also store crops of one side (5 and 10% by default).
//! Turned copies are found from the outgoing side: a query hashes the
//! outgoing picture (whole and trimmed) under all seven rotations and
//! mirrorings for real (PDQ's even box windows and sampling grid make
//! variants derived from the DCT block only approximate), so a turned copy
//! of a protected picture meets the protected hash itself. Keeping the
//! turning on the query side makes the index a third smaller than if every
//! protected picture stored its turned hashes.

pub mod decode;
pub mod pdq;

use serde::{Serialize, Serializer};

use decode::{decode_luma, DecodeError, ImageLimits, LumaImage};
use pdq::PdqHash;

use super::FingerprintParams;
use crate::sniff::Kind;

/// Which part of a picture a hash covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Region {
    /// The whole decoded picture.
    Whole,
    /// The picture with its uniform border trimmed.
    Trimmed,
    /// A centred crop with this many per mille cut from each side.
    Centre(u16),
    /// This many per mille cut from one side only (0 left, 1 right, 2 top,
    /// 3 bottom).
    Side(u8, u16),
    /// A raster band (0-based) stretched to 8 bits (the raster signal's
    /// perceptual hash).
    RasterBand(u16),
}

impl Region {
    /// Name used in reports: `whole`, `trimmed`, `centre-50pm`.
    pub fn name(self) -> String {
        match self {
            Region::Whole => "whole".to_string(),
            Region::Trimmed => "trimmed".to_string(),
            Region::Centre(pm) => format!("centre-{pm}pm"),
            Region::Side(side, pm) => {
                let name = ["left", "right", "top", "bottom"][side as usize & 3];
                format!("{name}-{pm}pm")
            }
            Region::RasterBand(b) => format!("band-{b}"),
        }
    }

    /// The region a report names (`whole`, `trimmed`, `centre-50pm`,
    /// `left-100pm`, `band-0`), the inverse of [`name`](Self::name).
    pub fn parse(name: &str) -> Option<Region> {
        let permille = |rest: &str| rest.strip_suffix("pm")?.parse::<u16>().ok();
        match name {
            "whole" => return Some(Region::Whole),
            "trimmed" => return Some(Region::Trimmed),
            _ => {}
        }
        let (head, rest) = name.split_once('-')?;
        // A centre crop cuts less than half from each side, a side crop
        // less than all of the picture.
        match head {
            "centre" => Some(Region::Centre(permille(rest).filter(|&p| p < 500)?)),
            "band" => Some(Region::RasterBand(rest.parse().ok()?)),
            _ => {
                let side = ["left", "right", "top", "bottom"]
                    .iter()
                    .position(|s| *s == head)?;
                Some(Region::Side(
                    side as u8,
                    permille(rest).filter(|&p| p < 1000)?,
                ))
            }
        }
    }

    /// (kind code, per mille) as stored in the index.
    pub fn encode(self) -> (u8, u16) {
        match self {
            Region::Whole => (0, 0),
            Region::Trimmed => (1, 0),
            Region::Centre(pm) => (2, pm),
            Region::Side(side, pm) => (3 + (side & 3), pm),
            Region::RasterBand(b) => (7, b),
        }
    }

    /// The region for stored codes, if valid.
    pub fn decode(kind: u8, permille: u16) -> Option<Region> {
        match kind {
            0 => Some(Region::Whole),
            1 => Some(Region::Trimmed),
            2 => Some(Region::Centre(permille)),
            3..=6 => Some(Region::Side(kind - 3, permille)),
            7 => Some(Region::RasterBand(permille)),
            _ => None,
        }
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// One hash of a picture, a region of it, or a turned copy of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionHash {
    /// What part of the picture.
    pub region: Region,
    /// The dihedral transform applied to the picture before hashing, as an
    /// index into [`pdq::DIHEDRAL_NAMES`] (0 = as it is).
    pub variant: u8,
    /// The PDQ hash.
    #[serde(serialize_with = "hash_hex")]
    pub hash: PdqHash,
    /// PDQ quality, 0..=100.
    pub quality: u8,
}

fn hash_hex<S: Serializer>(h: &PdqHash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&h.to_hex())
}

/// A hash to look up, with where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageQuery {
    /// The hash.
    pub hash: PdqHash,
    /// Outgoing region.
    pub region: Region,
    /// Dihedral transform (derived from the DCT block) applied to the
    /// outgoing picture, index into [`pdq::DIHEDRAL_NAMES`].
    pub variant: u8,
    /// Quality of the outgoing hash.
    pub quality: u8,
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
    /// Uniform border found, in decoded pixels: top, bottom, left, right.
    pub border: [u32; 4],
    /// The whole picture's PDQ hash (the reference hash of the decoded
    /// pixels).
    pub pdq: RegionHash,
    /// Further hashes: trimmed (if there is a border), centred crops, and
    /// for protected pictures one-side crops; for outgoing pictures the
    /// true hashes of the seven turned copies.
    pub hashes: Vec<RegionHash>,
}

impl ImageFp {
    /// A fingerprint from PDQ hashes computed elsewhere (for instance a
    /// list of known hashes to watch for): `pdq` is the whole picture's
    /// hash, `hashes` any further ones. Such fingerprints have no DCT block,
    /// so queries use the hashes as they are.
    pub fn from_hashes(
        width: u32,
        height: u32,
        pdq: RegionHash,
        hashes: Vec<RegionHash>,
    ) -> ImageFp {
        ImageFp {
            width,
            height,
            decoded_scale: 1,
            border: [0; 4],
            pdq,
            hashes,
        }
    }

    /// Every stored hash: the whole picture first.
    pub fn all_hashes(&self) -> impl Iterator<Item = &RegionHash> {
        std::iter::once(&self.pdq).chain(self.hashes.iter())
    }

    /// What to look up for an outgoing picture: every hash it has (the
    /// whole and trimmed picture with their turned copies, the centred
    /// crops), each as it is.
    pub fn queries(&self) -> Vec<ImageQuery> {
        self.all_hashes()
            .map(|h| ImageQuery {
                hash: h.hash,
                region: h.region,
                variant: h.variant,
                quality: h.quality,
            })
            .collect()
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

/// Decodes a picture and computes its image fingerprint: for a `protected`
/// picture also its one-side crops (what the index stores), otherwise the
/// true hashes of its seven rotated and mirrored versions (what a query
/// looks up).
pub fn fingerprint(
    data: &[u8],
    kind: Kind,
    params: &FingerprintParams,
    protected: bool,
) -> Result<ImageFp, DecodeError> {
    let limits = ImageLimits {
        fast_jpeg_min_side: params.image_fast_jpeg_min_side,
        ..ImageLimits::default()
    };
    let luma = decode_luma(data, kind, &limits)?;
    let whole = Window {
        image: &luma,
        top: 0,
        left: 0,
        rows: luma.rows,
        cols: luma.cols,
    };
    let mut hashes = Vec::new();
    // A picture is filtered once: its own hash comes from that (the same
    // arithmetic as hashing it alone), and so do, when protected, its side
    // crops (see `sampled_hash`); an outgoing picture's turned copies start
    // from it too.
    let hashable = luma.rows >= pdq::MIN_HASHABLE_DIM && luma.cols >= pdq::MIN_HASHABLE_DIM;
    let filtered = hashable.then(|| {
        let mut pixels = whole.copy();
        pdq::filter(&mut pixels, luma.rows, luma.cols);
        pixels
    });
    let pdq = match (&filtered, protected) {
        (Some(filtered), true) => sampled_hash(filtered, &whole, Region::Whole),
        (filtered, _) => hashes_of(
            &whole,
            Region::Whole,
            !protected,
            filtered.as_deref(),
            &mut hashes,
        ),
    };
    let border = trim_borders(
        &luma,
        params.image_trim_tolerance,
        params.image_trim_max_permille,
    );
    let [top, bottom, left, right] = border;
    if border != [0; 4] {
        let trimmed = Window {
            image: &luma,
            top: top as usize,
            left: left as usize,
            rows: luma.rows - (top + bottom) as usize,
            cols: luma.cols - (left + right) as usize,
        };
        let unturned = hashes_of(&trimmed, Region::Trimmed, !protected, None, &mut hashes);
        hashes.push(unturned);
    }
    for &pm in &params.image_crops_permille {
        let (cut_r, cut_c) = (
            luma.rows * pm as usize / 1000,
            luma.cols * pm as usize / 1000,
        );
        let crop = Window {
            image: &luma,
            top: cut_r,
            left: cut_c,
            rows: luma.rows - 2 * cut_r,
            cols: luma.cols - 2 * cut_c,
        };
        // Cut out and filtered on their own on both sides: sampled from
        // the whole picture's filter they lost a 7% crop in the measured
        // recall (protected side) and drifted up to 26 bits from the
        // cut-out hash on the fixtures (outgoing side).
        hashes.push(hash_window(&crop, Region::Centre(pm)));
    }
    if protected {
        for &pm in &params.image_side_crops_permille {
            for side in 0..4u8 {
                let (cut_r, cut_c) = (
                    luma.rows * pm as usize / 1000,
                    luma.cols * pm as usize / 1000,
                );
                let crop = match side {
                    0 => Window {
                        left: cut_c,
                        cols: luma.cols - cut_c,
                        ..whole
                    },
                    1 => Window {
                        cols: luma.cols - cut_c,
                        ..whole
                    },
                    2 => Window {
                        top: cut_r,
                        rows: luma.rows - cut_r,
                        ..whole
                    },
                    _ => Window {
                        rows: luma.rows - cut_r,
                        ..whole
                    },
                };
                hashes.push(match &filtered {
                    Some(filtered) => sampled_hash(filtered, &crop, Region::Side(side, pm)),
                    None => hash_window(&crop, Region::Side(side, pm)),
                });
            }
        }
    }
    Ok(ImageFp {
        width: luma.full_size.0,
        height: luma.full_size.1,
        decoded_scale: luma.scale,
        border,
        pdq,
        hashes,
    })
}

/// The PDQ hash of `window` sampled from its whole picture filtered once
/// (`filtered`), instead of cut out and filtered on its own. On the whole
/// picture that is the same hash. On a side crop it is within a few bits
/// of the cut-out crop's (near the crop's edge the filter also saw pixels
/// outside it, and its width follows the whole picture's size), for one
/// filter run a picture instead of one a crop; measured recall of cropped
/// copies is unchanged (tests/image.rs). Centre crops, cut on all four
/// sides, drift further and are cut out instead. A window too small to hash hashes
/// as [`hash_window`] says.
fn sampled_hash(filtered: &[f32], window: &Window<'_>, region: Region) -> RegionHash {
    if window.rows < pdq::MIN_HASHABLE_DIM || window.cols < pdq::MIN_HASHABLE_DIM {
        return hash_window(window, region);
    }
    let (block, quality) = pdq::dct_of_filtered(
        filtered,
        window.image.cols,
        [window.top, window.left, window.rows, window.cols],
    );
    RegionHash {
        region,
        variant: 0,
        hash: pdq::hash_from_dct(&block),
        quality,
    }
}

/// The PDQ hash of a window as it is.
fn hash_window(window: &Window<'_>, region: Region) -> RegionHash {
    let p = pdq::pdq_from_luma(&mut window.copy(), window.rows, window.cols);
    RegionHash {
        region,
        variant: 0,
        hash: p.hash,
        quality: p.quality,
    }
}

/// The window's hash; with `turns`, also appends the hashes of its seven
/// rotated and mirrored copies (what an outgoing picture looks up, so a
/// turned copy of a protected picture meets the protected hash), each as
/// the reference computes it on the turned picture.
///
/// Four filter runs serve all eight: the flips that keep the axes (rot180,
/// flipx, flipy) are filtered as turned, and each turn that swaps the axes
/// is the transpose of one of them or of the picture itself (flipplus1 of
/// the picture, rot90 of flipy, rot270 of flipx, flipminus1 of rot180). The
/// box filter's window along each axis depends on that axis's length only,
/// so a transposed filtered picture is the filtered transposed picture; its
/// passes ran in the other axis order, the same sums rounded in another
/// order (a hash bit at the median may differ; the flips are bit-exact).
/// `filtered`, when given, is the window already filtered (it stands for
/// the unturned copy's filter run).
fn hashes_of(
    window: &Window<'_>,
    region: Region,
    turns: bool,
    filtered: Option<&[f32]>,
    hashes: &mut Vec<RegionHash>,
) -> RegionHash {
    let (rows, cols) = (window.rows, window.cols);
    if !turns || rows < pdq::MIN_HASHABLE_DIM || cols < pdq::MIN_HASHABLE_DIM {
        let unturned = hash_window(window, region);
        if turns {
            // Too small to hash: every turn is as unhashable (quality 0).
            hashes.extend((1..8u8).map(|variant| RegionHash {
                variant,
                ..unturned.clone()
            }));
        }
        return unturned;
    }
    let hash_of = |variant: u8, (block, quality): (pdq::DctBlock, u8)| RegionHash {
        region,
        variant,
        hash: pdq::hash_from_dct(&block),
        quality,
    };
    let mut turned = Vec::with_capacity(7);
    for (flip, swapped) in [(0u8, 6u8), (2, 7), (4, 3), (5, 1)] {
        debug_assert!(filtered.is_none_or(|f| f.len() == rows * cols));
        let (pixels, r, c) = match (flip, filtered) {
            (0, Some(filtered)) => (std::borrow::Cow::Borrowed(filtered), rows, cols),
            _ => {
                let (mut pixels, r, c) = window.turned(flip);
                pdq::filter(&mut pixels, r, c);
                (std::borrow::Cow::Owned(pixels), r, c)
            }
        };
        let block = pdq::dct_of_filtered(&pixels, c, [0, 0, r, c]);
        turned.push(hash_of(flip, block));
        let block = pdq::dct_of_filtered_transposed(&pixels, r, c);
        turned.push(hash_of(swapped, block));
    }
    turned.sort_by_key(|h| h.variant);
    let unturned = turned.remove(0);
    hashes.extend(turned);
    unturned
}

/// Where `region` lies in `luma` (a picture as [`decode_luma`] gives it),
/// cut as fingerprinting cuts it: (top, left, rows, columns).
pub fn region_rect(luma: &LumaImage, region: Region, params: &FingerprintParams) -> [usize; 4] {
    let (rows, cols) = (luma.rows, luma.cols);
    match region {
        Region::Whole | Region::RasterBand(_) => [0, 0, rows, cols],
        Region::Trimmed => {
            let [top, bottom, left, right] = trim_borders(
                luma,
                params.image_trim_tolerance,
                params.image_trim_max_permille,
            )
            .map(|n| n as usize);
            [top, left, rows - top - bottom, cols - left - right]
        }
        Region::Centre(pm) => {
            let (cut_r, cut_c) = (rows * pm as usize / 1000, cols * pm as usize / 1000);
            [cut_r, cut_c, rows - 2 * cut_r, cols - 2 * cut_c]
        }
        Region::Side(side, pm) => {
            let (cut_r, cut_c) = (rows * pm as usize / 1000, cols * pm as usize / 1000);
            match side {
                0 => [0, cut_c, rows, cols - cut_c],
                1 => [0, 0, rows, cols - cut_c],
                2 => [cut_r, 0, rows - cut_r, cols],
                _ => [0, 0, rows - cut_r, cols],
            }
        }
    }
}

/// The dihedral transform that undoes `variant` (rotations by a quarter
/// turn undo each other; every other transform undoes itself).
pub fn inverse_variant(variant: u8) -> u8 {
    match variant {
        1 => 3,
        3 => 1,
        v => v,
    }
}

/// The picture under dihedral transform `variant` (reference order and
/// directions: rotations counter-clockwise, flipx upside down, flipy
/// mirrored, flipplus1 transposed, flipminus1 anti-transposed). Returns the
/// pixels and their rows and columns.
pub fn turn(pixels: &[f32], rows: usize, cols: usize, variant: u8) -> (Vec<f32>, usize, usize) {
    turn_with(rows, cols, variant, |r, c| pixels[r * cols + c])
}

/// A `rows` x `cols` picture, read through `at(row, column)`, turned by
/// `variant`: its pixels and their rows and columns.
fn turn_with(
    rows: usize,
    cols: usize,
    variant: u8,
    at: impl Fn(usize, usize) -> f32,
) -> (Vec<f32>, usize, usize) {
    let transposed = matches!(variant, 1 | 3 | 6 | 7);
    let (out_rows, out_cols) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let mut out = Vec::with_capacity(rows * cols);
    for i in 0..out_rows {
        for j in 0..out_cols {
            let (r, c) = match variant {
                1 => (j, cols - 1 - i),
                2 => (rows - 1 - i, cols - 1 - j),
                3 => (rows - 1 - j, i),
                4 => (rows - 1 - i, j),
                5 => (i, cols - 1 - j),
                6 => (j, i),
                7 => (rows - 1 - j, cols - 1 - i),
                _ => (i, j),
            };
            out.push(at(r, c));
        }
    }
    (out, out_rows, out_cols)
}

/// A rectangle of a luma image.
#[derive(Clone, Copy)]
struct Window<'a> {
    image: &'a LumaImage,
    top: usize,
    left: usize,
    rows: usize,
    cols: usize,
}

impl Window<'_> {
    /// The window's pixels under dihedral transform `variant` (as [`turn`]
    /// of its copy, without making the copy first).
    fn turned(&self, variant: u8) -> (Vec<f32>, usize, usize) {
        let stride = self.image.cols;
        let base = self.top * stride + self.left;
        let data = &self.image.data;
        // The turns that keep the axes are whole rows, copied or reversed,
        // in the same or the opposite order.
        if let Some((rows_reversed, cols_reversed)) = match variant {
            0 => Some((false, false)),
            2 => Some((true, true)),
            4 => Some((true, false)),
            5 => Some((false, true)),
            _ => None,
        } {
            let mut out = Vec::with_capacity(self.rows * self.cols);
            for i in 0..self.rows {
                let r = if rows_reversed { self.rows - 1 - i } else { i };
                let row = &data[base + r * stride..][..self.cols];
                if cols_reversed {
                    out.extend(row.iter().rev());
                } else {
                    out.extend_from_slice(row);
                }
            }
            return (out, self.rows, self.cols);
        }
        turn_with(self.rows, self.cols, variant, |r, c| {
            data[base + r * stride + c]
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Region names read back as the regions they name.
    #[test]
    fn region_names_parse_back() {
        for r in [
            Region::Whole,
            Region::Trimmed,
            Region::Centre(25),
            Region::Centre(100),
            Region::Side(0, 50),
            Region::Side(3, 100),
            Region::RasterBand(2),
        ] {
            assert_eq!(Region::parse(&r.name()), Some(r));
        }
        assert_eq!(Region::parse("centre-x"), None);
        assert_eq!(Region::parse("middle-50pm"), None);
        assert_eq!(Region::parse("centre-500pm"), None);
        assert_eq!(Region::parse("left-1000pm"), None);
    }

    /// Turning by a variant and then by its inverse gives the picture back.
    #[test]
    fn inverse_variants_undo_their_variants() {
        let (rows, cols) = (3, 5);
        let pixels: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
        for v in 0..8u8 {
            let (turned, r, c) = turn(&pixels, rows, cols, v);
            let (back, r2, c2) = turn(&turned, r, c, inverse_variant(v));
            assert_eq!((back, r2, c2), (pixels.clone(), rows, cols), "variant {v}");
        }
    }

    /// A window's turned pixels (whole rows copied for the turns that keep
    /// the axes) equal turning its copy, for all eight turns.
    #[test]
    fn turned_windows_equal_turned_copies() {
        let (rows, cols) = (23, 37);
        let image = LumaImage {
            rows,
            cols,
            data: (0..rows * cols).map(|i| i as f32).collect(),
            full_size: (cols as u32, rows as u32),
            scale: 1,
        };
        let window = Window {
            image: &image,
            top: 3,
            left: 5,
            rows: 15,
            cols: 20,
        };
        for variant in 0..8u8 {
            assert_eq!(
                window.turned(variant),
                turn(&window.copy(), 15, 20, variant),
                "variant {variant}"
            );
        }
    }

    /// A picture's own hash taken from its shared filtered copy is the hash
    /// of the picture hashed alone, bit for bit; a side crop's sampled hash
    /// stays close to the cut-out crop's.
    #[test]
    fn sampled_hashes_equal_or_approximate_hashing_alone() {
        let (rows, cols) = (300, 420);
        let mut x: u32 = 9;
        let data: Vec<f32> = (0..rows * cols)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let (r, c) = (i / cols, i % cols);
                ((r * 3 + c) % 256) as f32 * 0.7 + (x % 64) as f32
            })
            .collect();
        let image = LumaImage {
            rows,
            cols,
            data,
            full_size: (cols as u32, rows as u32),
            scale: 1,
        };
        let whole = Window {
            image: &image,
            top: 0,
            left: 0,
            rows,
            cols,
        };
        let mut filtered = whole.copy();
        pdq::filter(&mut filtered, rows, cols);
        let alone = hash_window(&whole, Region::Whole);
        let shared = sampled_hash(&filtered, &whole, Region::Whole);
        assert_eq!(shared.hash, alone.hash);
        assert_eq!(shared.quality, alone.quality);
        let side = Window {
            left: 30,
            cols: cols - 30,
            ..whole
        };
        let cut = hash_window(&side, Region::Side(0, 100));
        let sampled = sampled_hash(&filtered, &side, Region::Side(0, 100));
        let bits = cut.hash.distance(&sampled.hash);
        assert!(bits <= 24, "{bits} bits apart");
        let centre = Window {
            top: 15,
            left: 21,
            rows: rows - 30,
            cols: cols - 42,
            ..whole
        };
        let cut = hash_window(&centre, Region::Centre(50));
        let sampled = sampled_hash(&filtered, &centre, Region::Centre(50));
        let bits = cut.hash.distance(&sampled.hash);
        assert!(bits <= 24, "centre crop: {bits} bits apart");
        // Too small to hash: as hashing alone says.
        let tiny = Window { rows: 10, ..whole };
        assert_eq!(
            sampled_hash(&filtered, &tiny, Region::Whole).quality,
            hash_window(&tiny, Region::Whole).quality
        );
    }
}

//! Fingerprint parameters: the identity of an index.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Every parameter that changes a fingerprint. They are chosen when an index
/// is created, written into its manifest and every segment header, and an
/// index opened with other values is refused: fingerprints made with
/// different parameters never match.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FingerprintParams {
    /// Smallest content-defined chunk, bytes (default 4 KiB).
    pub chunk_min: u32,
    /// Target average chunk, bytes (default 16 KiB).
    pub chunk_avg: u32,
    /// Largest chunk, bytes (default 64 KiB).
    pub chunk_max: u32,
    /// FastCDC v2020 normalisation level, 0..=3 (default 1).
    pub chunk_normalization: u8,
    /// Secret value XORed into the gear table so that chunk boundaries depend
    /// on a per-index key: they leak nothing about content and resist
    /// watermark attacks. Never shown in reports.
    pub gear_seed: u64,
    /// Bytes of each chunk's hash kept in the index (16 = 128 bits): XXH3-128
    /// seeded with a key derived from `gear_seed` (format version 8 on).
    pub chunk_hash_bytes: u8,
    /// Chunks whose content repeats with a period of at most this many bytes
    /// (runs of one byte, fill patterns) are trivial and never indexed.
    pub trivial_period_max: u8,
    /// JPEGs are decoded at reduced scale keeping at least this many pixels
    /// on the longer side (default 256; 0 = always full size).
    pub image_fast_jpeg_min_side: u16,
    /// Edge rows and columns within this many luma levels of the corner
    /// colour are a border and trimmed before hashing (default 16; 0 = off).
    pub image_trim_tolerance: u8,
    /// At most this many per mille of each dimension is trimmed per side
    /// (default 300).
    pub image_trim_max_permille: u16,
    /// Centred crops hashed besides the whole picture, in per mille cut from
    /// each side (default 25, 50, 75, 100: 2.5% to 10%).
    pub image_crops_permille: Vec<u16>,
    /// Crops of a single side stored for protected pictures, per mille
    /// (default 50, 100: 5% and 10% off the left, right, top or bottom).
    pub image_side_crops_permille: Vec<u16>,
    /// Side of the sample blocks raster window anchors hash (default 8).
    pub raster_anchor_block: u8,
    /// Side of the neighbourhoods of block positions that each hold a
    /// stored anchor when they hold an informative block (default 25): any
    /// window of `block + window - 1` samples a side (32 by default) holds
    /// one (see the [`raster`](crate::fingerprint::raster) module).
    pub raster_anchor_window: u16,
}

/// Every field but the secret gear seed, which shows as `"secret"`: a
/// `{:?}` of a pipeline, scanner or index must not leak it into logs.
impl std::fmt::Debug for FingerprintParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FingerprintParams {}", self.redacted())
    }
}

impl FingerprintParams {
    /// Default parameters with the given gear seed.
    pub fn with_seed(gear_seed: u64) -> Self {
        FingerprintParams {
            chunk_min: 4 * 1024,
            chunk_avg: 16 * 1024,
            chunk_max: 64 * 1024,
            chunk_normalization: 1,
            gear_seed,
            chunk_hash_bytes: 16,
            trivial_period_max: 64,
            image_fast_jpeg_min_side: 256,
            image_trim_tolerance: 16,
            image_trim_max_permille: 300,
            image_crops_permille: vec![25, 50, 75, 100],
            image_side_crops_permille: vec![50, 100],
            raster_anchor_block: 8,
            raster_anchor_window: 25,
        }
    }

    /// Default parameters with a fresh random gear seed from the OS.
    pub fn random() -> Result<Self> {
        let seed = getrandom::u64().map_err(|e| {
            Error::InvalidOption(format!("no OS randomness for the gear seed: {e}"))
        })?;
        Ok(Self::with_seed(seed))
    }

    /// Checks that the values are usable by the chunker.
    pub fn validate(&self) -> Result<()> {
        use fastcdc::v2020 as cdc;
        let (min, avg, max) = (
            self.chunk_min as usize,
            self.chunk_avg as usize,
            self.chunk_max as usize,
        );
        let bad = |msg: String| Err(Error::InvalidOption(msg));
        if !(cdc::MINIMUM_MIN..=cdc::MINIMUM_MAX).contains(&min)
            || !(cdc::AVERAGE_MIN..=cdc::AVERAGE_MAX).contains(&avg)
            || !(cdc::MAXIMUM_MIN..=cdc::MAXIMUM_MAX).contains(&max)
        {
            return bad(format!(
                "chunk sizes {min}/{avg}/{max} out of range (min {}..={}, avg {}..={}, max {}..={})",
                cdc::MINIMUM_MIN,
                cdc::MINIMUM_MAX,
                cdc::AVERAGE_MIN,
                cdc::AVERAGE_MAX,
                cdc::MAXIMUM_MIN,
                cdc::MAXIMUM_MAX
            ));
        }
        if !(min < avg && avg < max) {
            return bad(format!(
                "chunk sizes must satisfy min < avg < max, got {min}/{avg}/{max}"
            ));
        }
        if min % 2 != 0 || avg % 2 != 0 || max % 2 != 0 {
            return bad(format!("chunk sizes must be even, got {min}/{avg}/{max}"));
        }
        if self.chunk_normalization > 3 {
            return bad(format!(
                "chunk normalization {} > 3",
                self.chunk_normalization
            ));
        }
        let crops_ok = |c: &[u16]| c.len() <= 8 && c.iter().all(|&c| c > 0 && c < 400);
        if !crops_ok(&self.image_crops_permille) || !crops_ok(&self.image_side_crops_permille) {
            return bad("image crops must be 1..400 per mille, at most 8 of each kind".to_string());
        }
        if self.image_trim_max_permille >= 500 {
            return bad("image trim limit must be below 500 per mille".to_string());
        }
        if !(2..=32).contains(&self.raster_anchor_block)
            || !(1..=1024).contains(&self.raster_anchor_window)
        {
            return bad(format!(
                "raster anchor block {} must be 2..=32 and window {} 1..=1024",
                self.raster_anchor_block, self.raster_anchor_window
            ));
        }
        if self.chunk_hash_bytes != 16 {
            return bad(format!(
                "chunk hash width {} (only 16 is supported)",
                self.chunk_hash_bytes
            ));
        }
        Ok(())
    }

    /// Side in samples of the smallest raster window that is always found
    /// again with its offset.
    pub fn raster_guaranteed_window(&self) -> u32 {
        u32::from(self.raster_anchor_block) + u32::from(self.raster_anchor_window) - 1
    }

    /// The parameters as shown to people: every field, with the secret gear
    /// seed replaced by the word "secret".
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("gear_seed".into(), "secret".into());
        }
        v
    }

    /// The first parameter that differs from `other`, with both values,
    /// for error messages (each caller says which side is which). The gear
    /// seed's value is never given.
    pub fn difference(&self, other: &FingerprintParams) -> Option<ParamDifference> {
        if self == other {
            return None;
        }
        if self.gear_seed != other.gear_seed {
            return Some(ParamDifference {
                name: "gear_seed".to_string(),
                this: "a secret seed".to_string(),
                other: "another".to_string(),
            });
        }
        let (a, b) = (
            serde_json::to_value(self).ok()?,
            serde_json::to_value(other).ok()?,
        );
        let (a, b) = (a.as_object()?, b.as_object()?);
        a.iter()
            .find(|(k, v)| b.get(*k) != Some(v))
            .map(|(k, v)| ParamDifference {
                name: k.clone(),
                this: v.to_string(),
                other: b.get(k).unwrap_or(&serde_json::Value::Null).to_string(),
            })
    }
}

/// A fingerprint parameter two parameter sets disagree on (see
/// [`FingerprintParams::difference`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamDifference {
    /// The parameter's name, as the index header stores it.
    pub name: String,
    /// Its value in the set asked about.
    pub this: String,
    /// Its value in the set compared with.
    pub other: String,
}

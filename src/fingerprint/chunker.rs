//! Content-defined chunk boundaries: FastCDC v2020 with a seeded gear table.
//!
//! The boundary search is the `fastcdc` crate's (pinned), called one chunk
//! at a time so that the same code serves whole slices and bounded streaming
//! buffers: a cut only ever looks at the next `chunk_max` bytes, so feeding
//! it exactly that window gives the same cut points as the whole content.

use std::borrow::Cow;

use fastcdc::v2020::{self as cdc, Normalization};

use super::FingerprintParams;

/// Finds content-defined chunk boundaries for one parameter set.
#[derive(Clone, Debug)]
pub struct Chunker {
    min: usize,
    avg: usize,
    max: usize,
    mask_s: u64,
    mask_l: u64,
    gear: Cow<'static, [u64]>,
    gear_ls: Cow<'static, [u64]>,
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
        let (gear, gear_ls) = cdc::get_gear_with_seed(params.gear_seed);
        Chunker {
            min: params.chunk_min as usize,
            avg: params.chunk_avg as usize,
            max: params.chunk_max as usize,
            mask_s,
            mask_l,
            gear,
            gear_ls,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Cut points equal those of the crate's own iterator, with and without
    /// a seed, on pseudo-random data.
    #[test]
    fn same_cuts_as_fastcdc_iterator() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let data: Vec<u8> = (0..600_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
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
}

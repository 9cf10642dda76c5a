//! Window anchors: the few sample blocks of a band that the index keeps so
//! that any large enough window of it can be found again, with its offset.
//!
//! Every `k x k` block of canonical samples (at every position) gets a
//! 64-bit hash; a block is an *anchor* when its hash is the smallest in
//! some `w x w` neighbourhood of block positions (2-D winnowing; ties go to
//! the lowest row, then the lowest column). Any window of
//! `(w + k - 1) x (w + k - 1)` samples holds a whole `w x w` neighbourhood
//! of blocks, so it holds the anchor that neighbourhood chose, and a copy
//! of the window cut out at any offset chooses the same block: the copy's
//! anchors are found in the index and each one gives the offset. With the
//! default k = 8 and w = 25 that is any 32 x 32 window, for about one
//! anchor per 175 samples (3.5 / w^2, measured on random content).
//!
//! Blocks with few changes between neighbouring samples (flat areas, fill,
//! NoData, a single edge between two classes) are never anchors: a match on
//! them would say nothing about where a window came from. The guarantee
//! above holds for windows whose neighbourhoods hold an informative block.
//!
//! A raster thinner than the window in one direction uses its whole extent
//! that way (block and neighbourhood shrink to fit), so an excerpt that keeps
//! that whole extent is still found.

use std::collections::{HashSet, VecDeque};

/// Per-band memory all interleaved bands of one raster may hold for anchor
/// selection; bands past it get no anchors and the raster is incomplete.
pub const ANCHOR_STATE_BUDGET: usize = 512 << 20;

/// One window anchor: a block's hash and where the block starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Anchor {
    /// The block's keyed 64-bit hash.
    pub hash: u64,
    /// Band (0-based).
    pub band: u16,
    /// Top row of the block.
    pub row: u32,
    /// Left column of the block.
    pub col: u32,
}

/// Block and neighbourhood sizes for one raster, after shrinking to fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnchorShape {
    /// Block height and width in samples.
    pub block: (usize, usize),
    /// Neighbourhood height and width in block positions.
    pub window: (usize, usize),
}

impl AnchorShape {
    /// The shape for a `height x width` raster with block side `k` and
    /// neighbourhood side `w`; `None` when the raster is empty.
    pub fn new(height: usize, width: usize, k: usize, w: usize) -> Option<AnchorShape> {
        if height == 0 || width == 0 || k == 0 || w == 0 {
            return None;
        }
        let (kr, kc) = (k.min(height), k.min(width));
        Some(AnchorShape {
            block: (kr, kc),
            window: (w.min(height - kr + 1), w.min(width - kc + 1)),
        })
    }

    /// Bytes of selection state one band of `width` samples holds.
    pub fn state_bytes(&self, width: usize) -> usize {
        let positions = width + 1 - self.block.1;
        // Row hashes and change counts of the last k rows, the rolling
        // block hash and count, and about six deque entries per column.
        positions * (self.block.0 * 9 + 8 + 2 + 6 * 16 + 32)
    }
}

/// Keys of blocks that are never anchors.
const NOT_ANCHOR: u64 = u64::MAX;
/// Odd multipliers of the two polynomial rolling hashes.
const ALONG: u64 = 0x9E37_79B9_7F4A_7C15;
const DOWN: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// Finds the anchors of one band from its rows, in order.
pub struct BandAnchors {
    band: u16,
    seed: u64,
    shape: AnchorShape,
    width: usize,
    /// Changes between neighbouring samples a block needs to be an anchor.
    min_changes: u16,
    rows_seen: usize,
    row_hashes: Vec<u64>,
    row_changes: Vec<u8>,
    block_hash: Vec<u64>,
    block_changes: Vec<u16>,
    mixed: Vec<u64>,
    keys: Vec<u64>,
    across: VecDeque<usize>,
    down: Vec<VecDeque<(u64, u32, u32)>>,
    emitted: HashSet<(u32, u32)>,
    out: Vec<Anchor>,
}

pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl BandAnchors {
    /// Starts a band of `width` samples per row.
    pub fn new(band: u16, width: usize, shape: AnchorShape, seed: u64) -> BandAnchors {
        let positions = width + 1 - shape.block.1;
        let (kr, kc) = shape.block;
        // Two changes per block row on average, but never more than the
        // block can have.
        let min_changes = (2 * kr).min(kr * (kc - 1)).max(1) as u16;
        BandAnchors {
            band,
            seed,
            shape,
            width,
            min_changes,
            rows_seen: 0,
            row_hashes: vec![0; kr * positions],
            row_changes: vec![0; kr * positions],
            block_hash: vec![0; positions],
            block_changes: vec![0; positions],
            mixed: Vec::with_capacity(width),
            keys: vec![NOT_ANCHOR; positions],
            across: VecDeque::new(),
            down: vec![VecDeque::new(); positions + 1 - shape.window.1],
            emitted: HashSet::new(),
            out: Vec::new(),
        }
    }

    /// Adds the next row of canonical samples (`width` of them).
    pub fn push_row(&mut self, row: &[u64]) {
        debug_assert_eq!(row.len(), self.width);
        let (kr, kc) = self.shape.block;
        let positions = self.block_hash.len();
        let slot = self.rows_seen % kr;
        let seed = self.seed;
        self.mixed.clear();
        self.mixed.extend(row.iter().map(|&v| mix(v ^ seed)));
        // Horizontal hash of samples c..c+kc, rolled along the row, and the
        // count of unequal neighbours inside them.
        let top = ALONG.wrapping_pow(kc as u32 - 1);
        let mut h = self.mixed[..kc]
            .iter()
            .fold(0u64, |acc, &m| acc.wrapping_mul(ALONG).wrapping_add(m));
        let differs = |j: usize| u8::from(row[j] != row[j + 1]);
        let mut changes: u8 = (0..kc - 1).map(differs).sum();
        let drop_k = DOWN.wrapping_pow(kr as u32);
        for c in 0..positions {
            if c > 0 {
                h = h
                    .wrapping_sub(self.mixed[c - 1].wrapping_mul(top))
                    .wrapping_mul(ALONG)
                    .wrapping_add(self.mixed[c + kc - 1]);
                if kc > 1 {
                    changes = changes - differs(c - 1) + differs(c + kc - 2);
                }
            }
            let ring = slot * positions + c;
            // Vertical: the row k rows up leaves the block, this one joins.
            self.block_hash[c] = self.block_hash[c]
                .wrapping_mul(DOWN)
                .wrapping_add(h)
                .wrapping_sub(self.row_hashes[ring].wrapping_mul(drop_k));
            self.block_changes[c] =
                self.block_changes[c] + changes as u16 - self.row_changes[ring] as u16;
            self.row_hashes[ring] = h;
            self.row_changes[ring] = changes;
        }
        self.rows_seen += 1;
        if self.rows_seen < kr {
            return;
        }
        let block_row = (self.rows_seen - kr) as u32;
        for c in 0..positions {
            self.keys[c] = if self.block_changes[c] >= self.min_changes {
                mix(self.block_hash[c] ^ seed.rotate_left(17)).min(NOT_ANCHOR - 1)
            } else {
                NOT_ANCHOR
            };
        }
        self.select(block_row);
    }

    /// Sliding minimum across (each row of block keys) then down (each
    /// column of those minima): the minimum of every `w x w` neighbourhood
    /// whose last block row is `block_row`.
    fn select(&mut self, block_row: u32) {
        let (wr, wc) = self.shape.window;
        let keys = &self.keys;
        self.across.clear();
        for i in 0..keys.len() {
            while self.across.back().is_some_and(|&b| keys[b] > keys[i]) {
                self.across.pop_back();
            }
            self.across.push_back(i);
            if self.across.front().is_some_and(|&f| f + wc <= i) {
                self.across.pop_front();
            }
            if i + 1 < wc {
                continue;
            }
            let best = self.across[0];
            let entry = (keys[best], block_row, best as u32);
            let column = &mut self.down[i + 1 - wc];
            while column.back().is_some_and(|b| b.0 > entry.0) {
                column.pop_back();
            }
            column.push_back(entry);
            while column
                .front()
                .is_some_and(|f| f.1 as usize + wr <= block_row as usize)
            {
                column.pop_front();
            }
            if (block_row as usize) + 1 < wr {
                continue;
            }
            let (key, row, col) = column[0];
            if key != NOT_ANCHOR && self.emitted.insert((row, col)) {
                self.out.push(Anchor {
                    hash: key,
                    band: self.band,
                    row,
                    col,
                });
            }
        }
        // Anchors above the current neighbourhoods cannot be chosen again.
        if (block_row as usize).is_multiple_of(wr) && !self.emitted.is_empty() {
            self.emitted
                .retain(|&(row, _)| row as usize + wr > block_row as usize);
        }
    }

    /// Rows added so far.
    pub fn rows_seen(&self) -> usize {
        self.rows_seen
    }

    /// The anchors found, in the order they were chosen.
    pub fn finish(self) -> Vec<Anchor> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors(samples: &[u64], width: usize, k: usize, w: usize) -> Vec<Anchor> {
        let height = samples.len() / width;
        let shape = AnchorShape::new(height, width, k, w).unwrap();
        let mut band = BandAnchors::new(0, width, shape, 7);
        for row in samples.chunks_exact(width) {
            band.push_row(row);
        }
        let mut out = band.finish();
        out.sort_by_key(|a| (a.row, a.col));
        out
    }

    fn noise(height: usize, width: usize, salt: u64) -> Vec<u64> {
        (0..(height * width) as u64)
            .map(|i| mix(i ^ salt) % 50)
            .collect()
    }

    /// The 2-D selection equals a brute-force minimum over every
    /// neighbourhood, computed straight from the definition.
    #[test]
    fn selection_equals_brute_force() {
        for (h, wd, k, w) in [
            (40, 50, 4, 6),
            (23, 31, 3, 5),
            (10, 70, 8, 25),
            (5, 5, 8, 25),
        ] {
            let samples = noise(h, wd, h as u64);
            let got = anchors(&samples, wd, k, w);
            let shape = AnchorShape::new(h, wd, k, w).unwrap();
            let (kr, kc) = shape.block;
            let (wr, wc) = shape.window;
            let key = |r: usize, c: usize| {
                let mut bh = 0u64;
                let mut changes = 0usize;
                for i in 0..kr {
                    let row = &samples[(r + i) * wd + c..(r + i) * wd + c + kc];
                    let hh = row
                        .iter()
                        .fold(0u64, |a, &v| a.wrapping_mul(ALONG).wrapping_add(mix(v ^ 7)));
                    bh = bh.wrapping_mul(DOWN).wrapping_add(hh);
                    changes += row.windows(2).filter(|p| p[0] != p[1]).count();
                }
                if changes >= (2 * kr).min(kr * (kc - 1)).max(1) {
                    mix(bh ^ 7u64.rotate_left(17)).min(NOT_ANCHOR - 1)
                } else {
                    NOT_ANCHOR
                }
            };
            let mut want = std::collections::BTreeSet::new();
            for r0 in 0..=(h - kr + 1 - wr) {
                for c0 in 0..=(wd - kc + 1 - wc) {
                    let best = (r0..r0 + wr)
                        .flat_map(|r| (c0..c0 + wc).map(move |c| (r, c)))
                        .map(|(r, c)| (key(r, c), r, c))
                        .min()
                        .unwrap();
                    if best.0 != NOT_ANCHOR {
                        want.insert((best.1 as u32, best.2 as u32, best.0));
                    }
                }
            }
            let got: std::collections::BTreeSet<(u32, u32, u64)> =
                got.iter().map(|a| (a.row, a.col, a.hash)).collect();
            assert_eq!(got, want, "{h}x{wd} k={k} w={w}");
        }
    }

    /// Every window of (w + k - 1)^2 samples cut out at any offset holds an
    /// anchor of its own that is also an anchor of the whole band, at the
    /// same place.
    #[test]
    fn every_guaranteed_window_shares_an_anchor() {
        let (h, wd, k, w) = (60, 64, 4, 8);
        let side = w + k - 1;
        let samples = noise(h, wd, 3);
        let whole: HashSet<(u64, u32, u32)> = anchors(&samples, wd, k, w)
            .iter()
            .map(|a| (a.hash, a.row, a.col))
            .collect();
        for r0 in 0..=h - side {
            for c0 in [0, 1, 5, 13, wd - side] {
                let cut: Vec<u64> = (r0..r0 + side)
                    .flat_map(|r| samples[r * wd + c0..r * wd + c0 + side].to_vec())
                    .collect();
                let found = anchors(&cut, side, k, w);
                assert!(!found.is_empty(), "window at {r0},{c0}");
                for a in found {
                    let at = (a.hash, a.row + r0 as u32, a.col + c0 as u32);
                    assert!(whole.contains(&at), "window at {r0},{c0}: {a:?}");
                }
            }
        }
    }

    #[test]
    fn flat_and_two_class_areas_have_no_anchors() {
        let flat = vec![5u64; 40 * 40];
        assert!(anchors(&flat, 40, 4, 8).is_empty());
        let edge: Vec<u64> = (0..40 * 40).map(|i| u64::from(i % 40 < 17)).collect();
        assert!(anchors(&edge, 40, 4, 8).is_empty());
    }

    #[test]
    fn density_is_near_the_estimate() {
        let (h, wd) = (300, 300);
        let samples = noise(h, wd, 11);
        let n = anchors(&samples, wd, 8, 25).len();
        let per = (h * wd) as f64 / n as f64;
        assert!(
            (120.0..260.0).contains(&per),
            "one anchor per {per} samples"
        );
    }
}

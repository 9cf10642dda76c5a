//! Window anchors: the few sample blocks of a band that the index keeps so
//! that any large enough window of it can be found again, with its offset.
//!
//! Every `k x k` block of canonical samples (at every position) gets a
//! 64-bit hash. A block is *informative* when it has at least `2k + 2`
//! changes between neighbouring samples, across and down (flat areas, fill,
//! NoData and a single straight or diagonal edge between two classes have
//! fewer): a match on anything else would say nothing about where a window
//! came from.
//!
//! The two sides choose differently ([`AnchorChoice`]):
//! * **Stored** (protected rasters): the `w x w` neighbourhoods of block
//!   positions are visited in order (by last row, then column), and each
//!   that holds informative blocks but no stored one yet stores its lowest,
//!   then rightmost informative block — the one the most neighbourhoods
//!   still to come hold (in one dimension, stabbing intervals at their
//!   right ends this way is optimal). Any window of `w + k - 1` samples a
//!   side holds a whole neighbourhood of block positions, so
//!   **every such window that holds an informative, unrepeated block holds
//!   a stored one**, at any offset. With the default k = 8 and w = 25 that
//!   is any 32 x 32 window. In informative content the stored blocks fall
//!   on a grid every `w` rows and columns: one per 625 block positions;
//!   flat patches (lakes, fill, integer DEMs on plains) add some.
//! * **Every** (outgoing rasters): every informative block at every
//!   position, optionally only those an [`AnchorFilter`] says the index may
//!   hold. A window cut out at any offset then meets each stored block it
//!   holds, and each meeting gives the offset.
//!
//! A block repeated more than [`MAX_ANCHOR_REPEATS`] times in a band (a
//! pattern, a texture) is kept only that often; a neighbourhood whose
//! choice is such a block takes its next candidate (lowest, then
//! rightmost) instead. So the guarantee holds for every window that holds
//! an informative block whose hash occurs at most that often in the band,
//! unless the band is reported incomplete (more anchors than
//! [`max_anchors`], or so much texture that the bounded search for next
//! candidates gave up).
//!
//! A raster thinner than the window in one direction uses its whole extent
//! that way (block and neighbourhood shrink to fit), so an excerpt that
//! keeps that whole extent is still found.

use std::sync::Arc;

/// Tells the outgoing side which block hashes an index may hold, so that a
/// raster looked up at every block position keeps only those.
pub trait AnchorFilter: Send + Sync {
    /// Whether some stored anchor may have this hash (false positives are
    /// allowed, false negatives are not).
    fn may_hold(&self, hash: u64) -> bool;
}

/// Which blocks of a band become anchors (see the module docs).
#[derive(Clone)]
#[non_exhaustive]
pub enum AnchorChoice {
    /// What an index stores for a protected raster: one informative block
    /// in every neighbourhood that has one (a greedy cover).
    Stored,
    /// Every informative block (the outgoing side); with a filter, only
    /// the blocks it says an index may hold.
    Every(Option<Arc<dyn AnchorFilter>>),
}

impl std::fmt::Debug for AnchorChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnchorChoice::Stored => f.write_str("Stored"),
            AnchorChoice::Every(None) => f.write_str("Every"),
            AnchorChoice::Every(Some(_)) => f.write_str("Every(filtered)"),
        }
    }
}

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
        // Row hashes and change counts of the last k rows; the rolling block
        // hash, change count and mixed sample; keys and the minima across;
        // hashes, minima and their rows for two runs of w block rows; the
        // running minimum.
        // Plus the stored blocks per column and per row.
        positions * (self.block.0 * 10 + 8 + 2 + 8 + 8 + 8 * 3 + 33 * self.window.0 + 24 + 16)
    }
}

/// Hashes of blocks are already well mixed: the maps keyed by them use them
/// as they are.
#[derive(Clone, Copy, Default)]
struct MixedHash(u64);

impl std::hash::Hasher for MixedHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type ByHash = std::hash::BuildHasherDefault<MixedHash>;

/// Key of blocks that are never anchors (see `BandAnchors::keys`).
const NOT_ANCHOR: u64 = u64::MAX;
/// Odd multipliers of the two polynomial rolling hashes.
const ALONG: u64 = 0x9E37_79B9_7F4A_7C15;
const DOWN: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// Finds the anchors of one band from its rows, in order.
pub struct BandAnchors {
    band: u16,
    seed: u64,
    choice: AnchorChoice,
    shape: AnchorShape,
    width: usize,
    /// Changes between neighbouring samples a block needs to be an anchor.
    min_changes: u16,
    rows_seen: usize,
    row_hashes: Vec<u64>,
    row_changes: Vec<u8>,
    block_hash: Vec<u64>,
    block_changes: Vec<u16>,
    /// The previous row, and per position of the last k rows the count of
    /// samples that differ from the sample above (within the block's
    /// columns), with their rolling sum: changes down the columns.
    previous: Vec<u64>,
    down_changes: Vec<u8>,
    down_sum: Vec<u16>,
    differs_down: Vec<u8>,
    total_changes: Vec<u16>,
    /// Anchors kept per hash: a block repeated all over the band (a
    /// pattern, a texture) is kept at most [`MAX_ANCHOR_REPEATS`] times.
    repeats: std::collections::HashMap<u64, u8, ByHash>,
    /// Hashes kept that often: their blocks are no longer candidates for
    /// the cover (a neighbourhood needs a block that can still be kept).
    saturated: std::collections::HashSet<u64, ByHash>,
    /// Whether each block of the last `w` block rows was a candidate when
    /// its row was keyed (informative, hash not saturated; slot = row mod
    /// `w`), for neighbourhoods whose first choice is refused.
    open: Vec<bool>,
    /// The neighbourhood (last block row, first column) whose search for a
    /// second choice last came back empty: the next column's search then
    /// only needs its new column of blocks.
    last_failed: Option<(u32, usize)>,
    /// Blocks the search for a neighbourhood's second choice may still
    /// look at; past it the band is marked incomplete.
    search_budget: usize,
    unsettled: bool,
    /// Most anchors this band may keep (see [`max_anchors`]); past it the
    /// band is marked incomplete instead of growing without bound.
    limit: usize,
    overflowed: bool,
    mixed: Vec<u64>,
    /// Full 64-bit hashes of the last `w` block rows (slot = row mod `w`),
    /// read only for the blocks chosen.
    hashes: Vec<u64>,
    /// The block row's keys: `u64::MAX` for blocks that are not
    /// informative, else `(u32::MAX - 1 - row) << 32 | (u32::MAX - column)`,
    /// so that the smallest key in a neighbourhood is its lowest, then
    /// rightmost informative block.
    keys: Vec<u64>,
    from_start: Vec<u64>,
    to_run_end: Vec<u64>,
    /// Down the columns, a sliding minimum in runs of `w` block rows (van
    /// Herk / Gil-Werman): the row minima of the current run, their running
    /// minimum (with its row), and for the previous run the minimum of each
    /// row to the run's end (with its row). Everything is read in order.
    run: Vec<u64>,
    run_rows: Vec<u32>,
    run_min: Vec<(u64, u32)>,
    to_end: Vec<u64>,
    to_end_rows: Vec<u32>,
    /// Stored blocks per column of block positions within the last `w`
    /// block rows, and the columns stored in each of those rows (slot =
    /// row mod `w`): whether a neighbourhood already holds one is a sum.
    stored_in_column: Vec<u32>,
    stored_rows: Vec<Vec<u32>>,
    out: Vec<Anchor>,
}

/// Blocks the search for neighbourhoods' second choices may look at, per
/// block position of the band (a neighbourhood has `w^2`; second choices
/// are needed only next to repeated blocks).
const SEARCH_PER_POSITION: usize = 64;

/// A hash kept as an anchor more often than this in one band is
/// repetitive content (one more than the matcher's default repeats limit,
/// so the matcher ignores it as such).
pub const MAX_ANCHOR_REPEATS: u8 = 33;

/// Changes between neighbouring samples (across and down) a block needs
/// to be an anchor: k + k + 2 for a full block (one straight or diagonal
/// edge between two classes has fewer), at most every pair it has.
fn min_changes(kr: usize, kc: usize) -> u16 {
    let pairs = kr * (kc - 1) + (kr - 1) * kc;
    (kr + kc + 2).min(pairs).max(1) as u16
}

/// Most anchors one band of `width x height` samples may keep: one per 16
/// samples, plus a constant for small bands. The cover stores about one
/// per 625 (more beside flat patches), and an outgoing band with an index
/// filter keeps only the blocks the index holds; an outgoing band without
/// a filter (every informative block) reaches it from about 256 x 256
/// samples on and is then incomplete.
pub fn max_anchors(width: usize, height: usize) -> usize {
    (width.saturating_mul(height) / 16).saturating_add(4096)
}

pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl BandAnchors {
    /// Starts a band of `width` samples per row, choosing anchors as
    /// `choice` says.
    pub fn new(
        band: u16,
        width: usize,
        height: usize,
        shape: AnchorShape,
        seed: u64,
        choice: AnchorChoice,
    ) -> BandAnchors {
        let positions = width + 1 - shape.block.1;
        let (kr, kc) = shape.block;
        let columns = positions + 1 - shape.window.1;
        // Two changes per block row on average, but never more than the
        // block can have.
        let min_changes = min_changes(kr, kc);
        BandAnchors {
            band,
            seed,
            choice,
            shape,
            width,
            min_changes,
            rows_seen: 0,
            row_hashes: vec![0; kr * positions],
            row_changes: vec![0; kr * positions],
            previous: Vec::with_capacity(width),
            down_changes: vec![0; kr * positions],
            down_sum: vec![0; positions],
            differs_down: Vec::with_capacity(width),
            total_changes: vec![0; positions],
            repeats: std::collections::HashMap::default(),
            saturated: std::collections::HashSet::default(),
            open: vec![false; positions * shape.window.0],
            last_failed: None,
            search_budget: SEARCH_PER_POSITION
                .saturating_mul(positions)
                .saturating_mul(height)
                .max(1 << 20),
            unsettled: false,
            limit: max_anchors(width, height),
            overflowed: false,
            block_hash: vec![0; positions],
            block_changes: vec![0; positions],
            mixed: Vec::with_capacity(width),
            hashes: vec![0; positions * shape.window.0],
            keys: vec![0; positions],
            from_start: vec![0; positions],
            to_run_end: vec![0; positions],
            run: vec![0; columns * shape.window.0],
            run_rows: vec![0; columns * shape.window.0],
            run_min: vec![(u64::MAX, 0); columns],
            to_end: vec![0; columns * shape.window.0],
            to_end_rows: vec![0; columns * shape.window.0],
            stored_in_column: vec![0; positions],
            stored_rows: vec![Vec::new(); shape.window.0],
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
        // Down: which samples differ from the one above, summed over each
        // block's columns.
        self.differs_down.clear();
        if self.previous.len() == row.len() {
            let pairs = row.iter().zip(&self.previous);
            self.differs_down
                .extend(pairs.map(|(a, b)| u8::from(a != b)));
        } else {
            self.differs_down.resize(row.len(), 0);
        }
        self.previous.clear();
        self.previous.extend_from_slice(row);
        let mut down: u8 = self.differs_down[..kc].iter().sum();
        for c in 0..positions {
            if c > 0 {
                down = down - self.differs_down[c - 1] + self.differs_down[c + kc - 1];
            }
            let ring = slot * positions + c;
            self.down_sum[c] = self.down_sum[c] + down as u16 - self.down_changes[ring] as u16;
            self.down_changes[ring] = down;
        }
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
        // The block's top row was compared with the row above the block:
        // its changes down do not count.
        let top = (self.rows_seen - kr) % kr * positions;
        for (c, changes) in self.block_changes.iter().enumerate() {
            let down = self.down_sum[c] - self.down_changes[top + c] as u16;
            self.total_changes[c] = changes + down;
        }
        let wr = self.shape.window.0;
        let slot = block_row as usize % wr;
        let hashes = &mut self.hashes[slot * positions..(slot + 1) * positions];
        // Keys order the blocks a neighbourhood may store: the lowest
        // row first, then the rightmost column (see `select`).
        let row_key = u64::from((u32::MAX - 1).saturating_sub(block_row)) << 32;
        let saturated = (!self.saturated.is_empty()).then_some(&self.saturated);
        let open = &mut self.open[slot * positions..(slot + 1) * positions];
        for (c, ((key, (full, open)), (&bh, &changes))) in self
            .keys
            .iter_mut()
            .zip(hashes.iter_mut().zip(open))
            .zip(self.block_hash.iter().zip(&self.total_changes))
            .enumerate()
        {
            *full = mix(bh ^ seed.rotate_left(17));
            *open = changes >= self.min_changes && saturated.is_none_or(|s| !s.contains(full));
            *key = if *open {
                row_key | u64::from(u32::MAX - c as u32)
            } else {
                NOT_ANCHOR
            };
        }
        match self.choice.clone() {
            AnchorChoice::Every(filter) => {
                for c in 0..positions {
                    if self.keys[c] == NOT_ANCHOR {
                        continue;
                    }
                    let hash = self.hashes[slot * positions + c];
                    if filter.as_ref().is_none_or(|f| f.may_hold(hash)) {
                        self.keep(hash, block_row, c as u32);
                    }
                }
            }
            AnchorChoice::Stored => self.select(block_row),
        }
    }

    /// Keeps a block as an anchor unless its hash was kept
    /// [`MAX_ANCHOR_REPEATS`] times already or the band is full; says
    /// whether it was kept.
    fn keep(&mut self, hash: u64, row: u32, col: u32) -> bool {
        if self.out.len() >= self.limit {
            self.overflowed = true;
            return false;
        }
        let seen = self.repeats.entry(hash).or_insert(0);
        if *seen >= MAX_ANCHOR_REPEATS {
            return false;
        }
        *seen += 1;
        if *seen == MAX_ANCHOR_REPEATS {
            self.saturated.insert(hash);
        }
        self.out.push(Anchor {
            hash,
            band: self.band,
            row,
            col,
        });
        true
    }

    /// Stores a block for every `w x w` neighbourhood whose last block row
    /// is `block_row` and that holds informative blocks but no stored one
    /// yet: its lowest, then rightmost informative block (the one the most
    /// neighbourhoods still to come hold, as stabbing intervals at their
    /// right ends does in one dimension). Found as the minimum key by a
    /// sliding minimum across (each row of block keys) then down (each
    /// column of those minima).
    fn select(&mut self, block_row: u32) {
        let (wr, wc) = self.shape.window;
        let positions = self.keys.len();
        let columns = self.run_min.len();
        // Across: per run of `w` positions, the minimum from the run's
        // start and to its end; a window is at most two runs' pieces.
        // (Runs are walked with chunks, not `%`: a division per position
        // cost more than everything else here.)
        let keys = self.keys.chunks(wc);
        for (run, out) in keys.clone().zip(self.from_start.chunks_mut(wc)) {
            let mut carry = u64::MAX;
            for (&key, o) in run.iter().zip(out) {
                carry = carry.min(key);
                *o = carry;
            }
        }
        for (run, out) in keys.zip(self.to_run_end.chunks_mut(wc)) {
            let mut carry = u64::MAX;
            for (&key, o) in run.iter().zip(out).rev() {
                carry = carry.min(key);
                *o = carry;
            }
        }
        let slot = block_row as usize % wr;
        let run_start = block_row - slot as u32;
        // The block row `w` rows up leaves the neighbourhoods.
        for c in self.stored_rows[slot].drain(..) {
            self.stored_in_column[c as usize] -= 1;
        }
        let mut stored_in_window: u32 = self.stored_in_column[..wc].iter().sum();
        for c0 in 0..columns {
            // The window c0..c0+w is the end of one run and the start of the
            // next (or exactly one run, where both give its minimum).
            let across = self.to_run_end[c0].min(self.from_start[c0 + wc - 1]);
            self.run[slot * columns + c0] = across;
            let run_min = &mut self.run_min[c0];
            // Ties keep the earlier row.
            let fresh = slot == 0 || across < run_min.0;
            *run_min = if fresh { (across, block_row) } else { *run_min };
            if c0 > 0 {
                stored_in_window = stored_in_window + self.stored_in_column[c0 + wc - 1]
                    - self.stored_in_column[c0 - 1];
            }
            if (block_row as usize) + 1 < wr || stored_in_window > 0 {
                continue;
            }
            let (packed, row) = if slot + 1 == wr {
                *run_min
            } else {
                let at = (slot + 1) * columns + c0;
                if self.to_end[at] <= run_min.0 {
                    (self.to_end[at], self.to_end_rows[at])
                } else {
                    *run_min
                }
            };
            if packed == NOT_ANCHOR {
                continue; // nothing informative
            }
            let col = u32::MAX - packed as u32;
            let hash = self.hashes[(row as usize % wr) * positions + col as usize];
            // Refused: its hash is kept as often as a block may be.
            if self.cover(hash, row, col) || self.second_choice(block_row, c0) {
                stored_in_window += 1;
            }
        }
        // A run of w block rows is complete: each row's minimum to the
        // run's end, for the neighbourhoods that start inside it.
        if slot + 1 == wr {
            let (run, rows) = (&mut self.run, &mut self.run_rows);
            rows[(wr - 1) * columns..].fill(run_start + wr as u32 - 1);
            for r in (0..wr - 1).rev() {
                let (upper, lower) = run.split_at_mut((r + 1) * columns);
                let (upper_rows, lower_rows) = rows.split_at_mut((r + 1) * columns);
                let here = upper[r * columns..]
                    .iter_mut()
                    .zip(&mut upper_rows[r * columns..]);
                let own = run_start + r as u32;
                for ((a, a_row), (&b, &b_row)) in here.zip(lower.iter().zip(lower_rows.iter())) {
                    let later = b < *a;
                    *a_row = if later { b_row } else { own };
                    *a = (*a).min(b);
                }
            }
            std::mem::swap(&mut self.run, &mut self.to_end);
            std::mem::swap(&mut self.run_rows, &mut self.to_end_rows);
        }
    }

    /// Keeps a block for the cover (see [`keep`](Self::keep)) and notes it
    /// for the neighbourhoods that hold it; says whether it was kept.
    fn cover(&mut self, hash: u64, row: u32, col: u32) -> bool {
        if !self.keep(hash, row, col) {
            return false;
        }
        let wr = self.shape.window.0;
        self.stored_in_column[col as usize] += 1;
        self.stored_rows[row as usize % wr].push(col);
        true
    }

    /// The neighbourhood ending at `block_row`, starting at column `c0`,
    /// whose first choice was refused: keeps its lowest, then rightmost
    /// informative block whose hash can still be kept, if any (says
    /// whether one was). Looks at most [`SEARCH_PER_POSITION`] blocks per
    /// block position of the band in all; past that the band is
    /// unsettled.
    fn second_choice(&mut self, block_row: u32, c0: usize) -> bool {
        if self.overflowed {
            return false; // the band is incomplete already
        }
        let (wr, wc) = self.shape.window;
        let positions = self.keys.len();
        // The neighbourhood one column left found nothing: only the new
        // column can hold a candidate (saturation only removes them).
        let first = if c0 > 0 && self.last_failed == Some((block_row, c0 - 1)) {
            c0 + wc - 1
        } else {
            c0
        };
        for row in (block_row + 1 - wr as u32..=block_row).rev() {
            let slot = row as usize % wr;
            for col in (first..c0 + wc).rev() {
                if self.search_budget == 0 {
                    self.unsettled = true;
                    return false;
                }
                self.search_budget -= 1;
                let at = slot * positions + col;
                if !self.open[at] || self.saturated.contains(&self.hashes[at]) {
                    continue;
                }
                if self.cover(self.hashes[at], row, col as u32) {
                    self.last_failed = None;
                    return true;
                }
                if self.overflowed {
                    return false;
                }
            }
        }
        self.last_failed = Some((block_row, c0));
        false
    }

    /// Rows added so far.
    pub fn rows_seen(&self) -> usize {
        self.rows_seen
    }

    /// The anchors found, ordered by position, and whether the band is
    /// incomplete: it had more than [`max_anchors`] (the rest were not
    /// kept), or so many repeated blocks that the search for second
    /// choices gave up (some neighbourhoods may hold no stored block).
    pub fn finish(mut self) -> (Vec<Anchor>, Option<&'static str>) {
        self.out.sort_unstable_by_key(|a| (a.row, a.col));
        self.out.dedup();
        let incomplete = if self.overflowed {
            Some("more window anchors than a band may keep")
        } else if self.unsettled {
            Some("too many repeated blocks to cover every window")
        } else {
            None
        };
        (self.out, incomplete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn anchors(samples: &[u64], width: usize, k: usize, w: usize) -> Vec<Anchor> {
        chosen(samples, width, k, w, AnchorChoice::Stored)
    }

    fn chosen(
        samples: &[u64],
        width: usize,
        k: usize,
        w: usize,
        choice: AnchorChoice,
    ) -> Vec<Anchor> {
        let height = samples.len() / width;
        let shape = AnchorShape::new(height, width, k, w).unwrap();
        let mut band = BandAnchors::new(0, width, height, shape, 7, choice);
        for row in samples.chunks_exact(width) {
            band.push_row(row);
        }
        let (mut out, incomplete) = band.finish();
        assert_eq!(incomplete, None);
        out.sort_by_key(|a| (a.row, a.col));
        out
    }

    fn noise(height: usize, width: usize, salt: u64) -> Vec<u64> {
        (0..(height * width) as u64)
            .map(|i| mix(i ^ salt) % 50)
            .collect()
    }

    /// A block's hash (seed 7) if it is informative, from the definition.
    fn block_hash(
        samples: &[u64],
        width: usize,
        shape: AnchorShape,
        r: usize,
        c: usize,
    ) -> Option<u64> {
        let (kr, kc) = shape.block;
        let mut bh = 0u64;
        let mut changes = 0usize;
        for i in 0..kr {
            let row = &samples[(r + i) * width + c..(r + i) * width + c + kc];
            let hh = row
                .iter()
                .fold(0u64, |a, &v| a.wrapping_mul(ALONG).wrapping_add(mix(v ^ 7)));
            bh = bh.wrapping_mul(DOWN).wrapping_add(hh);
            changes += row.windows(2).filter(|p| p[0] != p[1]).count();
            if i > 0 {
                let above = &samples[(r + i - 1) * width + c..(r + i - 1) * width + c + kc];
                changes += row.iter().zip(above).filter(|(a, b)| a != b).count();
            }
        }
        let full = mix(bh ^ 7u64.rotate_left(17));
        (changes >= min_changes(kr, kc) as usize).then_some(full)
    }

    /// Noise with flat patches over about half of it.
    fn patchy(height: usize, width: usize, salt: u64) -> Vec<u64> {
        let mut samples = noise(height, width, salt);
        for (i, v) in samples.iter_mut().enumerate() {
            if (i / width / 9 + i % width / 7).is_multiple_of(2) {
                *v = 0;
            }
        }
        samples
    }

    /// The stored selection equals its definition computed by brute force:
    /// neighbourhoods in order (by last row, then column), each without a
    /// stored block storing its lowest, then rightmost informative block;
    /// on plain noise and with flat patches. The outgoing side's choice is
    /// every informative block.
    #[test]
    fn selection_equals_brute_force() {
        for (h, wd, k, w) in [
            (40, 50, 4, 6),
            (23, 31, 3, 5),
            (10, 70, 8, 25),
            (5, 5, 8, 25),
            (60, 70, 8, 25),
        ] {
            for samples in [noise(h, wd, h as u64), patchy(h, wd, h as u64)] {
                let got = anchors(&samples, wd, k, w);
                let shape = AnchorShape::new(h, wd, k, w).unwrap();
                let (kr, kc) = shape.block;
                let (wr, wc) = shape.window;
                let informative = |r: usize, c: usize| block_hash(&samples, wd, shape, r, c);
                let mut every = std::collections::BTreeSet::new();
                for r in 0..=h - kr {
                    for c in 0..=wd - kc {
                        if let Some(full) = informative(r, c) {
                            every.insert((r as u32, c as u32, full));
                        }
                    }
                }
                let mut want = std::collections::BTreeSet::new();
                for last in wr - 1..=h - kr {
                    let r0 = last + 1 - wr;
                    for c0 in 0..=(wd - kc + 1 - wc) {
                        let rows = r0 as u32..=last as u32;
                        let cols = c0 as u32..(c0 + wc) as u32;
                        let holds =
                            |&(r, c, _): &(u32, u32, u64)| rows.contains(&r) && cols.contains(&c);
                        if want.iter().any(holds) {
                            continue;
                        }
                        if let Some(&block) = every.iter().filter(|b| holds(b)).max() {
                            want.insert(block);
                        }
                    }
                }
                let set = |v: &[Anchor]| -> std::collections::BTreeSet<(u32, u32, u64)> {
                    v.iter().map(|a| (a.row, a.col, a.hash)).collect()
                };
                assert_eq!(set(&got), want, "{h}x{wd} k={k} w={w}");
                let all = chosen(&samples, wd, k, w, AnchorChoice::Every(None));
                assert_eq!(set(&all), every, "{h}x{wd} k={k} w={w}: every block");
            }
        }
    }

    /// Every window of (w + k - 1)^2 samples cut out at any offset, looked
    /// up at every block position, meets a stored anchor of the whole band
    /// at the same place; with flat patches too, as long as the window
    /// holds an informative block.
    #[test]
    fn every_guaranteed_window_shares_an_anchor() {
        let (h, wd, k, w) = (60, 64, 4, 8);
        let side = w + k - 1;
        for samples in [noise(h, wd, 3), patchy(h, wd, 3)] {
            let stored = anchors(&samples, wd, k, w);
            let whole: HashSet<(u64, u32, u32)> =
                stored.iter().map(|a| (a.hash, a.row, a.col)).collect();
            let mut windows = 0;
            for r0 in 0..=h - side {
                for c0 in 0..=wd - side {
                    let cut: Vec<u64> = (r0..r0 + side)
                        .flat_map(|r| samples[r * wd + c0..r * wd + c0 + side].to_vec())
                        .collect();
                    let found = chosen(&cut, side, k, w, AnchorChoice::Every(None));
                    if found.is_empty() {
                        continue; // no informative block: nothing promised
                    }
                    windows += 1;
                    let hits = found
                        .iter()
                        .filter(|a| whole.contains(&(a.hash, a.row + r0 as u32, a.col + c0 as u32)))
                        .count();
                    assert!(hits > 0, "window at {r0},{c0}");
                }
            }
            assert!(windows > (h - side) * (wd - side) / 2, "{windows} windows");
        }
    }

    /// Next to a texture (blocks repeated far more often than they may be
    /// kept), every neighbourhood that holds an informative block kept
    /// fewer times than the limit in the whole band still holds a stored
    /// block: a neighbourhood whose first choice is a saturated texture
    /// block takes its next unsaturated one.
    #[test]
    fn neighbourhoods_beside_a_texture_still_hold_a_stored_block() {
        // Noise beside a texture, tall enough for the texture's four hashes
        // to be kept 33 times each (about 800 rows) and then some; and
        // textures of period 2 and 5 with small patches of noise in them,
        // where neighbourhoods whose choice saturated while they were being
        // visited need the search for a next candidate.
        let beside: Vec<u64> = (0..1400 * 200)
            .map(|i| {
                let (r, c) = (i / 200, i % 200);
                if c < 110 {
                    mix(i as u64) % 50
                } else {
                    [1, 2, 3, 4][(r % 2) * 2 + c % 2]
                }
            })
            .collect();
        let spotted = |period: usize| -> Vec<u64> {
            (0..900 * 160)
                .map(|i| {
                    let (r, c) = (i / 160, i % 160);
                    if r % 40 < 9 && c % 37 < 9 {
                        mix(i as u64) % 50
                    } else {
                        ((r % period) * period + c % period) as u64
                    }
                })
                .collect()
        };
        for (h, wd, samples) in [
            (1400, 200, beside),
            (900, 160, spotted(2)),
            (900, 160, spotted(5)),
        ] {
            let checked = check_beside_texture(h, wd, 8, 25, &samples);
            assert!(checked > 10_000, "{h}x{wd}: {checked}");
        }
        // Small random bands: textures of period 2 to 5 with noise patches
        // of random sizes, small blocks and neighbourhoods.
        let mut x = 1u64;
        let mut next = |n: u64| {
            x = mix(x.wrapping_add(0x9E37_79B9_7F4A_7C15));
            (x % n) as usize
        };
        for _ in 0..200 {
            let (h, wd) = (30 + next(100), 20 + next(80));
            let (k, w, period) = (2 + next(3), 3 + next(8), 2 + next(4));
            let (every_r, every_c, size) = (5 + next(30), 5 + next(30), 1 + next(5));
            let salt = next(1 << 40) as u64;
            let samples: Vec<u64> = (0..h * wd)
                .map(|i| {
                    let (r, c) = (i / wd, i % wd);
                    if r % every_r < size && c % every_c < size {
                        mix(i as u64 ^ salt) % 50
                    } else {
                        ((r % period) * period + c % period) as u64
                    }
                })
                .collect();
            check_beside_texture(h, wd, k, w, &samples);
        }
    }

    /// Checks that every neighbourhood holding an informative block whose
    /// hash occurs at most MAX_ANCHOR_REPEATS times holds a stored block;
    /// returns how many such neighbourhoods there were.
    fn check_beside_texture(h: usize, wd: usize, k: usize, w: usize, samples: &[u64]) -> usize {
        let stored: HashSet<(u32, u32)> = anchors(samples, wd, k, w)
            .iter()
            .map(|a| (a.row, a.col))
            .collect();
        let shape = AnchorShape::new(h, wd, k, w).unwrap();
        let (kr, kc) = shape.block;
        let (wr, wc) = shape.window;
        let blocks: Vec<Vec<Option<u64>>> = (0..=h - kr)
            .map(|r| {
                (0..=wd - kc)
                    .map(|c| block_hash(samples, wd, shape, r, c))
                    .collect()
            })
            .collect();
        let mut count = std::collections::HashMap::<u64, usize>::new();
        for hash in blocks.iter().flatten().flatten() {
            *count.entry(*hash).or_default() += 1;
        }
        // Sums over the block positions above and left of each, so that a
        // neighbourhood's count is four reads.
        let sums = |has: &dyn Fn(usize, usize) -> bool| {
            let (rows, cols) = (blocks.len(), blocks[0].len());
            let mut sum = vec![vec![0usize; cols + 1]; rows + 1];
            for r in 0..rows {
                for c in 0..cols {
                    sum[r + 1][c + 1] =
                        sum[r][c + 1] + sum[r + 1][c] - sum[r][c] + usize::from(has(r, c));
                }
            }
            move |r0: usize, c0: usize| {
                sum[r0 + wr][c0 + wc] + sum[r0][c0] - sum[r0][c0 + wc] - sum[r0 + wr][c0]
            }
        };
        let rare =
            sums(&|r, c| blocks[r][c].is_some_and(|h| count[&h] <= MAX_ANCHOR_REPEATS as usize));
        let held = sums(&|r, c| stored.contains(&(r as u32, c as u32)));
        let mut checked = 0;
        for r0 in 0..=h - kr + 1 - wr {
            for c0 in 0..=wd - kc + 1 - wc {
                if rare(r0, c0) > 0 {
                    checked += 1;
                    assert!(
                        held(r0, c0) > 0,
                        "{h}x{wd} k={k} w={w}: neighbourhood at {r0},{c0}"
                    );
                }
            }
        }
        checked
    }

    /// A filter that says no keeps nothing on the outgoing side; one that
    /// holds exactly the stored hashes keeps the blocks a window meets.
    #[test]
    fn the_filter_decides_what_an_outgoing_band_keeps() {
        struct Holds(HashSet<u64>);
        impl AnchorFilter for Holds {
            fn may_hold(&self, hash: u64) -> bool {
                self.0.contains(&hash)
            }
        }
        let (h, wd) = (90, 90);
        let samples = noise(h, wd, 5);
        let stored = anchors(&samples, wd, 8, 25);
        let none = Arc::new(Holds(HashSet::new()));
        assert!(chosen(&samples, wd, 8, 25, AnchorChoice::Every(Some(none))).is_empty());
        let held = Arc::new(Holds(stored.iter().map(|a| a.hash).collect()));
        let kept = chosen(&samples, wd, 8, 25, AnchorChoice::Every(Some(held)));
        assert_eq!(kept, stored);
    }

    #[test]
    fn flat_and_two_class_areas_have_no_anchors() {
        let flat = vec![5u64; 40 * 40];
        assert!(anchors(&flat, 40, 4, 8).is_empty());
        let edge: Vec<u64> = (0..40 * 40).map(|i| u64::from(i % 40 < 17)).collect();
        assert!(anchors(&edge, 40, 4, 8).is_empty());
        let across: Vec<u64> = (0..40 * 40).map(|i| u64::from(i / 40 < 17)).collect();
        assert!(anchors(&across, 40, 4, 8).is_empty());
        let diagonal: Vec<u64> = (0..40 * 40).map(|i| u64::from(i % 40 < i / 40)).collect();
        assert!(anchors(&diagonal, 40, 4, 8).is_empty());
    }

    /// Content that varies only down the columns (rows constant, or one
    /// column wide) has anchors as its transpose does.
    #[test]
    fn changes_down_the_columns_count() {
        let n = 120;
        let down: Vec<u64> = (0..n * n).map(|i| mix((i / n) as u64) % 50).collect();
        let across: Vec<u64> = (0..n * n).map(|i| mix((i % n) as u64) % 50).collect();
        let (a, b) = (
            anchors(&down, n, 8, 25).len(),
            anchors(&across, n, 8, 25).len(),
        );
        assert!(a > 0 && b > 0, "{a} / {b}");
        let column: Vec<u64> = (0..3000u64).map(|i| mix(i) % 50).collect();
        assert!(!anchors(&column, 1, 8, 25).is_empty());
    }

    /// Repeating patterns (a checkerboard, stripes) keep few anchors: a
    /// repeated block is kept at most MAX_ANCHOR_REPEATS times.
    #[test]
    fn repeated_blocks_are_kept_a_bounded_number_of_times() {
        let n = 300;
        let checker: Vec<u64> = (0..n * n).map(|i| ((i / n + i % n) % 2) as u64).collect();
        let stripes: Vec<u64> = (0..n * n).map(|i| (i % n % 3) as u64).collect();
        for (name, samples) in [("checker", checker), ("stripes", stripes)] {
            let found = anchors(&samples, n, 8, 25);
            assert!(
                found.len() <= 3 * MAX_ANCHOR_REPEATS as usize,
                "{name}: {}",
                found.len()
            );
        }
    }

    /// Informative content stores about one block per w^2 block positions
    /// (fewer near the band's edges).
    #[test]
    fn density_is_near_the_estimate() {
        let (h, wd) = (300, 300);
        let samples = noise(h, wd, 11);
        let n = anchors(&samples, wd, 8, 25).len();
        let per = ((h - 7) * (wd - 7)) as f64 / n as f64;
        assert!(
            (560.0..=800.0).contains(&per),
            "one anchor per {per} block positions"
        );
    }
}

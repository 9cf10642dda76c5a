//! The chunks signal: content-defined chunks of the bytes (FastCDC with a
//! secret gear table), so that excerpts, insertions and re-packed copies
//! share most of their chunks with the protected item.

use std::collections::HashMap;

use super::{live_entries, merge, ratio, Found, Signal, Stored, Thresholds};
use crate::fingerprint::{ChunkFp, Fingerprints};
use crate::index::segment::{chunk_entry, chunk_value, CHUNK_KEY_LEN};
use crate::index::table::TableId;
use crate::index::{Index, ItemRef};
use crate::report::{Evidence, Range};

/// Content-defined chunks.
pub(super) struct Chunks;

/// What one protected item shares with the outgoing one.
#[derive(Default)]
struct Tally {
    matched_bytes: u64,
    matched_chunks: u64,
    protected_bytes: u64,
    outgoing: Vec<Range>,
    protected: Vec<Range>,
}

impl Signal for Chunks {
    fn store(&self, fp: &Fingerprints, item: u32, out: &mut Stored<'_>) {
        for c in fp.chunks.iter().filter(|c| !c.trivial) {
            out.push(
                TableId::Chunks,
                &chunk_entry(&c.hash, item, c.len, c.offset),
            );
        }
    }

    fn find(&self, index: &Index, fp: &Fingerprints, th: &Thresholds, found: &mut Found) {
        found.stats.chunks = fp.chunks.len() as u64;
        // Group outgoing chunks by hash so each distinct hash is looked up once,
        // in sorted order (batched probes walk each table forwards).
        let mut chunks: Vec<&ChunkFp> = Vec::with_capacity(fp.chunks.len());
        for c in &fp.chunks {
            if c.trivial {
                found.stats.trivial_bytes += c.len as u64;
            } else {
                chunks.push(c);
            }
        }
        chunks.sort_by(|a, b| a.hash.cmp(&b.hash).then(a.offset.cmp(&b.offset)));

        let mut tallies: HashMap<ItemRef, Tally> = HashMap::new();
        let mut hits: Vec<(ItemRef, u32, u64)> = Vec::new();
        let mut group_start = 0;
        while group_start < chunks.len() {
            let hash = chunks[group_start].hash;
            let mut group_end = group_start + 1;
            while group_end < chunks.len() && chunks[group_end].hash == hash {
                group_end += 1;
            }
            let group = &chunks[group_start..group_end];
            group_start = group_end;
            let group_bytes: u64 = group.iter().map(|c| c.len as u64).sum();

            hits.clear();
            // Only live items count towards "common": replaced versions still
            // in the tables until a compaction must not change verdicts.
            let mut live = 0;
            let mut common = false;
            for (r, value) in live_entries(index, TableId::Chunks, &hash[..CHUNK_KEY_LEN]) {
                live += 1;
                if live > th.max_items_per_chunk {
                    common = true;
                    break;
                }
                if !found.whole.contains(&r) {
                    let (_, len, offset) = chunk_value(value);
                    hits.push((r, len, offset));
                }
            }
            if common {
                found.stats.common_bytes += group_bytes;
                continue;
            }
            for &(r, len, offset) in &hits {
                let t = tallies.entry(r).or_default();
                t.matched_bytes += group_bytes;
                t.matched_chunks += group.len() as u64;
                t.protected_bytes += len as u64;
                t.protected.push([offset, offset + len as u64]);
                t.outgoing
                    .extend(group.iter().map(|c| [c.offset, c.offset + c.len as u64]));
            }
        }

        let mut chunk_evidence = Vec::new();
        for (r, t) in tallies {
            let protected_size = index.item_size(r);
            let protected_fraction = ratio(t.protected_bytes, protected_size);
            if t.matched_bytes < th.min_matched_bytes
                && protected_fraction < th.min_protected_fraction
            {
                continue;
            }
            chunk_evidence.push(Evidence::Chunks {
                protected: index.item(r).path_display(),
                protected_size,
                matched_bytes: t.matched_bytes,
                matched_chunks: t.matched_chunks,
                outgoing_fraction: ratio(t.matched_bytes, fp.size),
                protected_fraction,
                outgoing_ranges: merge(t.outgoing),
                protected_ranges: merge(t.protected),
            });
        }
        chunk_evidence.sort_by(|a, b| match (a, b) {
            (
                Evidence::Chunks {
                    matched_bytes: x, ..
                },
                Evidence::Chunks {
                    matched_bytes: y, ..
                },
            ) => y.cmp(x).then_with(|| a.protected().cmp(b.protected())),
            _ => std::cmp::Ordering::Equal,
        });
        found.evidence.extend(chunk_evidence);
    }
}

//! The exact signal: the BLAKE3 digest of the whole content. A hit is the
//! same bytes, whatever the name.

use super::{Found, Signal, Stored, Thresholds};
use crate::fingerprint::bytes::hex;
use crate::fingerprint::Fingerprints;
use crate::index::table::TableId;
use crate::index::{Index, ItemRef};
use crate::report::Evidence;

/// Whole-content digests.
pub(super) struct Exact;

impl Signal for Exact {
    fn store(&self, fp: &Fingerprints, item: u32, out: &mut Stored<'_>) {
        // Content-free items (empty, or nothing but a short repeating
        // pattern) would "match" every empty or blank outgoing file.
        if fp.size > 0 && fp.chunks.iter().any(|c| !c.trivial) {
            let mut e = [0u8; 36];
            e[..32].copy_from_slice(&fp.digest);
            e[32..].copy_from_slice(&item.to_be_bytes());
            out.push(TableId::Exact, &e);
        }
    }

    fn find(&self, index: &Index, fp: &Fingerprints, _th: &Thresholds, found: &mut Found) {
        let mut hits: Vec<ItemRef> = index.lookup_exact(&fp.digest);
        hits.sort();
        hits.dedup();
        for r in hits {
            let item = index.item(r);
            found.evidence.push(Evidence::Exact {
                protected: item.path_display(),
                protected_size: item.size,
                digest: hex(&item.digest),
            });
            found.whole.insert(r);
        }
    }
}

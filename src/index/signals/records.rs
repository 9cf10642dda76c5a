//! The records signal: canonical telemetry records (rows of weather-station
//! logs, points of GPS tracks), exact, with numbers rounded, and with one
//! column left out, so excerpts, re-orderings and re-formatted tables match.

use std::collections::{HashMap, HashSet};

use super::{live_entries, ratio, Found, Signal, Stored, Thresholds};
use crate::fingerprint::records::{
    projected_key, projection_probes, record_key, RecordsFp, PROJECTION_SAMPLING, RECORD_KEY_LEN,
    ROUNDED_DECIMALS, ROUNDED_MIN_SAMPLED, ROUNDED_SAMPLING,
};
use crate::fingerprint::Fingerprints;
use crate::index::table::TableId;
use crate::index::{Index, ItemRef};
use crate::report::Evidence;

/// Canonical telemetry records.
pub(super) struct Records;

impl Signal for Records {
    fn store(&self, fp: &Fingerprints, item: u32, out: &mut Stored<'_>) {
        let Some(r) = &fp.records else {
            return;
        };
        let entry = |key: [u8; RECORD_KEY_LEN]| {
            let mut e = [0u8; 10];
            e[..RECORD_KEY_LEN].copy_from_slice(&key);
            e[RECORD_KEY_LEN..].copy_from_slice(&item.to_be_bytes());
            e
        };
        for &h in &r.hashes {
            out.push(TableId::Records, &entry(record_key(h)));
        }
        for &(_, h) in &r.rounded {
            out.push(TableId::RecordsRounded, &entry(record_key(h)));
        }
        for &h in &r.projected {
            out.push(TableId::RecordsProjected, &entry(projected_key(h)));
        }
    }

    fn find(&self, index: &Index, fp: &Fingerprints, th: &Thresholds, found: &mut Found) {
        if let Some(records) = &fp.records {
            let evidence = records_evidence(index, records, &found.whole, th);
            found.evidence.extend(evidence);
        }
    }
}

/// Protected items holding each of `hashes` in `table`, counted per item;
/// a hash found in more than `max_items` items is boilerplate.
fn count_hashes(
    index: &Index,
    table_id: TableId,
    hashes: impl Iterator<Item = u64>,
    exact: &HashSet<ItemRef>,
    max_items: usize,
) -> HashMap<ItemRef, u64> {
    let mut found: HashMap<ItemRef, u64> = HashMap::new();
    let mut hits = Vec::new();
    for h in hashes {
        hits.clear();
        hits.extend(live_entries(index, table_id, &record_key(h)).map(|(r, _)| r));
        hits.sort_unstable();
        hits.dedup();
        if hits.len() > max_items {
            continue;
        }
        for r in &hits {
            if !exact.contains(r) {
                *found.entry(*r).or_default() += 1;
            }
        }
    }
    found
}

/// Telemetry evidence: distinct outgoing records found per protected table,
/// then, for tables without such a match, the same with numbers rounded to
/// 2 and then 1 decimals (`records_approx`, with the precision found). A
/// record found in more than `max_items_per_chunk` tables is boilerplate.
fn records_evidence(
    index: &Index,
    records: &RecordsFp,
    exact: &HashSet<ItemRef>,
    th: &Thresholds,
) -> Vec<Evidence> {
    let passes = |n: u64| {
        n >= th.min_matched_records
            || ratio(n, records.informative) >= th.min_outgoing_record_fraction
    };
    let sorted = |found: HashMap<ItemRef, u64>| {
        let mut v: Vec<(u64, ItemRef)> = found
            .into_iter()
            .filter(|(_, n)| passes(*n))
            .map(|(r, n)| (n, r))
            .collect();
        v.sort_by_key(|(n, r)| (std::cmp::Reverse(*n), *r));
        v
    };
    let exact_found = sorted(count_hashes(
        index,
        TableId::Records,
        records.hashes.iter().copied(),
        exact,
        th.max_items_per_chunk,
    ));
    let mut out = Vec::new();
    let mut done: HashSet<ItemRef> = exact.clone();
    for (n, r) in exact_found {
        let item = index.item(r);
        done.insert(r);
        out.push(Evidence::Records {
            protected: item.path_display(),
            protected_size: item.size,
            matched_records: n,
            outgoing_fraction: ratio(n, records.informative),
            protected_fraction: ratio(n, item.records as u64),
        });
    }
    for decimals in ROUNDED_DECIMALS {
        let hashes = records
            .rounded
            .iter()
            .filter(|(d, _)| *d == decimals)
            .map(|(_, h)| *h);
        // Rounded forms are a sample (about one in ROUNDED_SAMPLING): the
        // records found are estimated from the sampled ones found.
        let found = count_hashes(
            index,
            TableId::RecordsRounded,
            hashes,
            &done,
            th.max_items_per_chunk,
        );
        let mut ranked: Vec<(u64, u64, ItemRef)> = found
            .into_iter()
            .map(|(r, n)| (n, (n * ROUNDED_SAMPLING).min(records.informative.max(n)), r))
            .filter(|&(n, estimate, _)| n >= ROUNDED_MIN_SAMPLED && passes(estimate))
            .collect();
        ranked.sort_by_key(|&(n, _, r)| (std::cmp::Reverse(n), r));
        for (_, estimate, r) in ranked {
            let item = index.item(r);
            done.insert(r);
            out.push(Evidence::RecordsApprox {
                protected: item.path_display(),
                protected_size: item.size,
                decimals,
                matched_records: estimate,
                outgoing_fraction: ratio(estimate, records.informative),
                protected_fraction: ratio(estimate, item.records as u64),
            });
        }
    }
    out.extend(projected_evidence(index, records, &done, th));
    out
}

/// Records that match a protected table with one of its columns left out,
/// for tables not matched otherwise: per protected table, the column whose
/// leaving out explains the most sampled records. Needs as many sampled
/// matches as a records match needs records.
fn projected_evidence(
    index: &Index,
    records: &RecordsFp,
    done: &HashSet<ItemRef>,
    th: &Thresholds,
) -> Vec<Evidence> {
    let mut found: HashMap<(ItemRef, u8), u64> = HashMap::new();
    let mut hits: Vec<(ItemRef, u8)> = Vec::new();
    for &value in &records.projected {
        hits.clear();
        for probe in projection_probes(value) {
            let column = (probe & 0xF) as u8;
            let key = projected_key(probe);
            hits.extend(
                live_entries(index, TableId::RecordsProjected, &key).map(|(r, _)| (r, column)),
            );
        }
        hits.sort_unstable();
        hits.dedup();
        let items = {
            let mut v: Vec<ItemRef> = hits.iter().map(|(r, _)| *r).collect();
            v.dedup();
            v.len()
        };
        if items > th.max_items_per_chunk {
            continue;
        }
        for &(r, column) in &hits {
            if !done.contains(&r) {
                *found.entry((r, column)).or_default() += 1;
            }
        }
    }
    let mut best: HashMap<ItemRef, (u64, u8)> = HashMap::new();
    for ((r, column), n) in found {
        let slot = best.entry(r).or_insert((0, column));
        if (n, std::cmp::Reverse(column)) > (slot.0, std::cmp::Reverse(slot.1)) {
            *slot = (n, column);
        }
    }
    let mut ranked: Vec<(u64, ItemRef, u8)> = best
        .into_iter()
        .filter(|(_, (n, _))| *n >= th.min_matched_records)
        .map(|(r, (n, c))| (n, r, c))
        .collect();
    ranked.sort_by_key(|(n, r, _)| (std::cmp::Reverse(*n), *r));
    ranked
        .into_iter()
        .map(|(n, r, column)| {
            let item = index.item(r);
            let estimate = n * PROJECTION_SAMPLING;
            Evidence::RecordsProjected {
                protected: item.path_display(),
                protected_size: item.size,
                left_out_column: column,
                sampled_matches: n,
                matched_records: estimate,
                outgoing_fraction: ratio(estimate, records.informative).min(1.0),
                protected_fraction: ratio(estimate, item.records as u64).min(1.0),
            }
        })
        .collect()
}

/// Names (as evidence gives them) of the live protected items that hold
/// the record with hash `hash`.
pub(crate) fn record_holders(index: &Index, hash: u64) -> Vec<String> {
    let mut names: Vec<String> = live_entries(index, TableId::Records, &record_key(hash))
        .map(|(r, _)| index.item(r).path_display())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

//! Turning an outgoing item's fingerprints into evidence: index lookups and
//! thresholds. Pure: fingerprints and an index in, evidence out.

use crate::fingerprint::Fingerprints;
use crate::index::signals::{Found, SIGNALS};
use crate::index::Index;
use crate::report::{ChunkStats, Evidence, Reason};

pub use crate::index::signals::Thresholds;

/// What matching found for one item.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Evidence that passed the thresholds, strongest first.
    pub evidence: Vec<Evidence>,
    /// Evidence entries dropped by `max_evidence`.
    pub omitted: u64,
    /// Chunk counters.
    pub stats: ChunkStats,
    /// Analyst notes that do not change the verdict.
    pub notes: Vec<Reason>,
}

/// Matches one item's fingerprints against the index: every signal in
/// turn, then the strongest evidence kept.
pub fn evaluate(index: &Index, fp: &Fingerprints, th: &Thresholds) -> Outcome {
    let mut found = Found::default();
    for signal in SIGNALS {
        signal.find(index, fp, th, &mut found);
    }
    let Found {
        mut evidence,
        stats,
        notes,
        ..
    } = found;
    let omitted = evidence.len().saturating_sub(th.max_evidence) as u64;
    evidence.truncate(th.max_evidence);
    Outcome {
        evidence,
        omitted,
        stats,
        notes,
    }
}

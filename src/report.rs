//! What a verdict looks like: the per-item [`Report`] that the scanner
//! returns, the CLI prints (table or JSON Lines) and DLP tools consume.
//!
//! The JSON shape is a contract (`schema` 1): fields are only ever added.

use serde::{Deserialize, Serialize};

use crate::sniff::Kind;

/// Version of the report's JSON shape.
pub const REPORT_SCHEMA: u32 = 1;

/// The outcome for one outgoing item. Fail closed: only an item that every
/// applicable signal examined fully, with no match, is `Clean`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Fully examined, nothing matched.
    Clean,
    /// Not fully examined and nothing matched in what was examined; see
    /// `reasons`.
    Incomplete,
    /// The item could not be read at all.
    Error,
    /// At least one signal passed its threshold; see `evidence`.
    Match,
}

impl Verdict {
    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Incomplete => "incomplete",
            Verdict::Error => "error",
            Verdict::Match => "match",
        }
    }
}

pub use crate::reason::Reason;

/// A byte range `[start, end)`.
pub type Range = [u64; 2];

/// Proof that an outgoing item carries protected content, one per protected
/// item and signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Evidence {
    /// Byte-identical to a protected item.
    Exact {
        /// The protected item, as indexed.
        protected: String,
        /// Its size in bytes.
        protected_size: u64,
        /// The shared BLAKE3-256 digest, hex.
        digest: String,
    },
    /// Shares content-defined chunks with a protected item.
    Chunks {
        /// The protected item, as indexed.
        protected: String,
        /// Its size in bytes.
        protected_size: u64,
        /// Bytes of the outgoing item in chunks found in the protected item.
        matched_bytes: u64,
        /// Outgoing chunks found in the protected item.
        matched_chunks: u64,
        /// `matched_bytes` / outgoing size.
        outgoing_fraction: f64,
        /// Distinct protected bytes found / protected size.
        protected_fraction: f64,
        /// Where in the outgoing item (merged, first 16 ranges).
        outgoing_ranges: Vec<Range>,
        /// Where in the protected item (merged, first 16 ranges).
        protected_ranges: Vec<Range>,
    },
    /// Looks like a protected picture (PDQ within the distance threshold).
    Image {
        /// The protected item, as indexed.
        protected: String,
        /// Its size in bytes.
        protected_size: u64,
        /// Hamming distance between the two PDQ hashes (0..=256).
        distance: u32,
        /// The dihedral transform that, applied to the outgoing picture,
        /// gives the protected one (PDQ reference names and order: orig,
        /// rot90, rot180, rot270 counter-clockwise, flipx upside down, flipy
        /// mirrored, flipplus1 transposed, flipminus1 anti-transposed).
        variant: String,
        /// The protected region that matched: `whole`, `trimmed` (uniform
        /// border removed) or `centre-<n>pm` (n per mille cut from each
        /// side).
        protected_region: String,
        /// The outgoing region that matched.
        outgoing_region: String,
        /// PDQ quality of the outgoing hash.
        quality: u8,
        /// PDQ quality of the protected hash.
        protected_quality: u8,
    },
    /// Carries a protected raster's samples, or looks like it.
    Raster {
        /// The protected item, as indexed.
        protected: String,
        /// Its size in bytes.
        protected_size: u64,
        /// `identical` (every band's samples equal, any container or type),
        /// `bands` (some bands equal: a subset or reordering), `window` (a
        /// window of samples found in a band) or `perceptual` (a band looks
        /// alike: resampled, reprojected or lossy).
        method: String,
        /// Matched (outgoing band, protected band) pairs.
        bands: Vec<[u16; 2]>,
        /// Samples of the outgoing raster found (band matches), or estimated
        /// from the share of the band's window anchors found (window matches).
        matched_samples: u64,
        /// `matched_samples` / samples in the outgoing band(s).
        outgoing_fraction: f64,
        /// `matched_samples` / samples in the protected band(s).
        protected_fraction: f64,
        /// Where the outgoing raster's first sample lies in the protected
        /// one (row, column), for window matches.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<[i64; 2]>,
        /// PDQ distance, for perceptual matches.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        distance: Option<u32>,
        /// The protected raster's georeferencing (pixel scale, tie point,
        /// EPSG, NoData), when it had any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protected_geo: Option<crate::fingerprint::raster::GeoInfo>,
    },
    /// Shares records with a protected table once numbers are rounded to
    /// `decimals` places: a reduced-precision copy (weaker than `records`).
    RecordsApprox {
        /// The protected item, as indexed.
        protected: String,
        /// Its size in bytes.
        protected_size: u64,
        /// The precision at which the records agree (decimal places).
        decimals: u8,
        /// Distinct outgoing records found, rounded, in the protected item:
        /// estimated from the sample of about one record in
        /// [`ROUNDED_SAMPLING`](crate::fingerprint::records::ROUNDED_SAMPLING)
        /// whose rounded form both sides keep.
        matched_records: u64,
        /// `matched_records` / distinct informative outgoing records.
        outgoing_fraction: f64,
        /// `matched_records` / distinct informative protected records.
        protected_fraction: f64,
    },
    /// Shares records with a protected table once one of its columns is
    /// left out: a copy with that column reformatted (units, date style) or
    /// replaced. Counted on a sample of about one record in
    /// [`PROJECTION_SAMPLING`](crate::fingerprint::records::PROJECTION_SAMPLING).
    RecordsProjected {
        /// The protected item, as indexed.
        protected: String,
        /// Its size in bytes.
        protected_size: u64,
        /// The protected table's column (0-based, in its own order) that
        /// was left out; every other column matched.
        left_out_column: u8,
        /// Sampled outgoing records found (each stands for about sixteen).
        sampled_matches: u64,
        /// Estimated records found: `sampled_matches` x the sampling rate.
        matched_records: u64,
        /// Estimated `matched_records` / informative outgoing records (at
        /// most 1).
        outgoing_fraction: f64,
        /// Estimated `matched_records` / informative protected records (at
        /// most 1).
        protected_fraction: f64,
    },
    /// Shares telemetry records with a protected table.
    Records {
        /// The protected item, as indexed.
        protected: String,
        /// Its size in bytes.
        protected_size: u64,
        /// Distinct outgoing records found in the protected item.
        matched_records: u64,
        /// `matched_records` / distinct informative outgoing records.
        outgoing_fraction: f64,
        /// `matched_records` / distinct informative protected records.
        protected_fraction: f64,
    },
}

impl Evidence {
    /// The signal name (`exact`, `chunks`, ...).
    pub fn signal(&self) -> &'static str {
        match self {
            Evidence::Exact { .. } => "exact",
            Evidence::Chunks { .. } => "chunks",
            Evidence::Image { .. } => "image",
            Evidence::Raster { .. } => "raster",
            Evidence::Records { .. } => "records",
            Evidence::RecordsApprox { .. } => "records_approx",
            Evidence::RecordsProjected { .. } => "records_projected",
        }
    }

    /// The protected item this evidence points at.
    pub fn protected(&self) -> &str {
        match self {
            Evidence::Exact { protected, .. }
            | Evidence::Chunks { protected, .. }
            | Evidence::Image { protected, .. }
            | Evidence::Raster { protected, .. }
            | Evidence::Records { protected, .. }
            | Evidence::RecordsApprox { protected, .. }
            | Evidence::RecordsProjected { protected, .. } => protected,
        }
    }

    /// One line for people: what matched and how much.
    pub fn summary(&self) -> String {
        match self {
            Evidence::Exact {
                protected,
                protected_size,
                ..
            } => format!("exact copy of {protected} ({protected_size} B)"),
            Evidence::Chunks {
                protected,
                matched_bytes,
                outgoing_fraction,
                protected_fraction,
                ..
            } => format!(
                "chunks: {matched_bytes} B of {protected} ({:.1}% of it; {:.1}% of this item)",
                protected_fraction * 100.0,
                outgoing_fraction * 100.0
            ),
            Evidence::Image {
                protected,
                distance,
                variant,
                protected_region,
                outgoing_region,
                ..
            } => format!(
                "image: looks like {protected} (PDQ distance {distance}, {variant}, protected {protected_region} ~ outgoing {outgoing_region})"
            ),
            Evidence::Raster {
                protected,
                method,
                bands,
                matched_samples,
                outgoing_fraction,
                offset,
                distance,
                ..
            } => {
                let mut s = format!("raster ({method}): {protected}, bands {bands:?}");
                if *matched_samples > 0 {
                    s += &format!(
                        ", {matched_samples} samples ({:.1}% of this raster)",
                        outgoing_fraction * 100.0
                    );
                }
                if let Some([r, c]) = offset {
                    s += &format!(", at row {r} column {c}");
                }
                if let Some(d) = distance {
                    s += &format!(", PDQ distance {d}");
                }
                s
            }
            Evidence::RecordsProjected {
                protected,
                matched_records,
                left_out_column,
                outgoing_fraction,
                ..
            } => format!(
                "records (all columns but protected column {left_out_column}): ~{matched_records} of {protected} (~{:.0}% of this item)",
                outgoing_fraction * 100.0
            ),
            Evidence::RecordsApprox {
                protected,
                matched_records,
                decimals,
                outgoing_fraction,
                ..
            } => format!(
                "records (rounded to {decimals} decimals): {matched_records} of {protected} ({:.1}% of this item)",
                outgoing_fraction * 100.0
            ),
            Evidence::Records {
                protected,
                matched_records,
                outgoing_fraction,
                protected_fraction,
                ..
            } => format!(
                "records: {matched_records} of {protected} ({:.1}% of it; {:.1}% of this item)",
                protected_fraction * 100.0,
                outgoing_fraction * 100.0
            ),
        }
    }
}

/// Counters describing what the byte signals saw in the outgoing item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChunkStats {
    /// Chunks in the item.
    pub chunks: u64,
    /// Bytes in trivial (short-period) chunks, never matched.
    pub trivial_bytes: u64,
    /// Bytes in chunks shared by more protected items than the common-chunk
    /// limit: boilerplate, counted for no item.
    pub common_bytes: u64,
}

/// The verdict and evidence for one outgoing item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// Version of this JSON shape ([`REPORT_SCHEMA`]).
    pub schema: u32,
    /// The item: a path, an archive member path, or a caller's name.
    pub path: String,
    /// Outcome.
    pub verdict: Verdict,
    /// Content length, when the item could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Detected kind, when the item could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// BLAKE3-256 of the content, hex, when it was read to the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Matches that passed their thresholds, strongest first.
    pub evidence: Vec<Evidence>,
    /// Why the item was not fully examined (empty when it was).
    pub reasons: Vec<Reason>,
    /// Things an analyst should know that do not change the verdict (e.g. a
    /// perceptual hit not counted because a hash is weak).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Reason>,
    /// What stopped the item being read, for `error` verdicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Byte-signal counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_stats: Option<ChunkStats>,
    /// Archive members that matched or were not fully examined, each a
    /// report of its own whose `path` names the member inside this item
    /// (`outer.zip!dir/file.tif`); clean members are only counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Report>,
    /// Archive members examined inside this item, at every depth.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub members_examined: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Report {
    /// A report for an item that could not be read.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Report {
        Report {
            schema: REPORT_SCHEMA,
            path: path.into(),
            verdict: Verdict::Error,
            size: None,
            kind: None,
            digest: None,
            evidence: Vec::new(),
            reasons: Vec::new(),
            notes: Vec::new(),
            error: Some(message.into()),
            chunk_stats: None,
            members: Vec::new(),
            members_examined: 0,
        }
    }

    /// A report for an item passed over without reading it (e.g. a symbolic
    /// link that is not followed).
    pub fn not_examined(path: impl Into<String>, reason: Reason) -> Report {
        let mut report = Report::error(path, String::new());
        report.error = None;
        report.reasons.push(reason);
        report.verdict = Verdict::Incomplete;
        report
    }

    /// Sets `verdict` from evidence, reasons, error and member verdicts:
    /// match wins, then error, then incomplete; clean only if none apply
    /// here or in any member.
    pub fn settle(&mut self) {
        let own = if !self.evidence.is_empty() {
            Verdict::Match
        } else if self.error.is_some() {
            Verdict::Error
        } else if !self.reasons.is_empty() {
            Verdict::Incomplete
        } else {
            Verdict::Clean
        };
        let members = self.members.iter().map(|m| m.verdict);
        self.verdict = members.fold(own, Verdict::max);
    }

    /// Every piece of evidence in this report and its members, with the
    /// path of the item or member it concerns.
    pub fn findings(&self) -> Vec<(&str, &Evidence)> {
        self.collect(&|r| &r.evidence)
    }

    /// Every reason in this report and its members, with the path it
    /// concerns.
    pub fn all_reasons(&self) -> Vec<(&str, &Reason)> {
        self.collect(&|r| &r.reasons)
    }

    /// Notes of this report and of every member report, depth first, each
    /// with the path of the report it came from.
    pub fn all_notes(&self) -> Vec<(&str, &Reason)> {
        self.collect(&|r| &r.notes)
    }

    /// `field` of this report and of every member report, depth first, each
    /// entry with the path of the report it came from.
    fn collect<'a, T>(&'a self, field: &dyn Fn(&'a Report) -> &'a [T]) -> Vec<(&'a str, &'a T)> {
        let mut out: Vec<(&str, &T)> = field(self)
            .iter()
            .map(|x| (self.path.as_str(), x))
            .collect();
        for m in &self.members {
            out.extend(m.collect(field));
        }
        out
    }
}

/// The process exit code for a set of verdicts: 1 if any match, else 2 if
/// any error, else 3 if any incomplete, else 0.
pub fn exit_code<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> i32 {
    let worst = verdicts.into_iter().copied().max();
    match worst {
        Some(Verdict::Match) => 1,
        Some(Verdict::Error) => 2,
        Some(Verdict::Incomplete) => 3,
        _ => 0,
    }
}

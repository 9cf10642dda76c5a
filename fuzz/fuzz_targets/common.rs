//! What every target shares: a scanner over a small index built once per
//! fuzzing process, the shaping that keeps a format's target inside that
//! format's reader, the fail-closed property, and a capped allocator.

#![allow(dead_code)]

use std::sync::OnceLock;

use pugmark::{
    FingerprintParams, IndexOptions, IndexWriter, Report, ScanOptions, Scanner, Verdict,
};

/// Live heap bytes a fuzzing process may hold. Inputs are at most 1 MiB and
/// every decoder's working set is bounded by the item's budgets (expanded
/// bytes are streamed, in-memory rasters stop at 64 Mi samples), so going
/// past this is a finding: an allocation sized by a header, or a budget
/// that does not bound memory. The `cap` allocator fails the allocation,
/// which aborts the process; libFuzzer records the input as a crash.
pub const HEAP_CAP: usize = 1536 << 20;

/// The allocator every target installs.
pub type CappedAllocator = cap::Cap<std::alloc::System>;

/// A fresh [`CappedAllocator`] at [`HEAP_CAP`].
pub const fn capped() -> CappedAllocator {
    cap::Cap::new(std::alloc::System, HEAP_CAP)
}

/// The scanner every input is scanned with (an index of one random item,
/// so verdicts are judged as in production).
pub fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<(tempfile::TempDir, Scanner)> = OnceLock::new();
    &SCANNER
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let idx = dir.path().join("idx");
            let mut w = IndexWriter::open(
                &idx,
                IndexOptions::default().with_new_params(Some(FingerprintParams::with_seed(1))),
            )
            .expect("index");
            let item: Vec<u8> = (0..100_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            w.add_bytes("protected.bin", &item);
            w.commit().expect("commit");
            drop(w);
            let scanner = Scanner::open(&idx, ScanOptions::default()).expect("scanner");
            (dir, scanner)
        })
        .1
}

/// Fail closed: a report that names a reason is never `clean`, at any
/// depth, and no member's verdict is worse than its container's.
pub fn check(report: &Report) {
    if !report.reasons.is_empty() {
        assert_ne!(report.verdict, Verdict::Clean, "{report:?}");
    }
    for member in &report.members {
        assert!(member.verdict <= report.verdict, "{report:?}");
        check(member);
    }
}

/// How a target keeps inputs inside one format's reader.
pub enum Shape {
    /// Any bytes as they are (the corpus decides the format).
    Any,
    /// Inputs not starting with one of these get the first one prepended.
    Prefix(&'static [&'static [u8]]),
    /// These bytes are written at this offset (inputs are padded to reach it).
    At(usize, &'static [u8]),
}

impl Shape {
    /// `data` shaped for the target's format.
    pub fn apply<'a>(&self, data: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        match self {
            Shape::Any => data.into(),
            Shape::Prefix(magics) => {
                if magics.iter().any(|m| data.starts_with(m)) {
                    data.into()
                } else {
                    [magics[0], data].concat().into()
                }
            }
            Shape::At(offset, magic) => {
                let end = offset + magic.len();
                if data.get(*offset..end) == Some(magic) {
                    return data.into();
                }
                let mut v = data.to_vec();
                if v.len() < end {
                    v.resize(end, 0);
                }
                v[*offset..end].copy_from_slice(magic);
                v.into()
            }
        }
    }
}

/// Scans `data`, shaped for the format, as the item `name` (whose
/// extension is the hint a real upload's name would give) and checks the
/// fail-closed property.
pub fn scan_shaped(shape: Shape, name: &str, data: &[u8]) {
    let shaped = shape.apply(data);
    check(&scanner().scan_bytes(name, &shaped));
}

/// Declares a target: global capped allocator plus a fuzz entry point that
/// scans shaped input under the given name.
#[allow(unused_macros)]
macro_rules! shaped_target {
    ($shape:expr, $name:expr) => {
        #[global_allocator]
        static ALLOCATOR: common::CappedAllocator = common::capped();
        libfuzzer_sys::fuzz_target!(|data: &[u8]| common::scan_shaped($shape, $name, data));
    };
}

//! Helpers shared by the integration tests. Inputs are the real files in
//! `data-samples/` plus data generated here; nothing outside the repository
//! is read.
#![allow(dead_code)]

pub mod archive;

use std::path::{Path, PathBuf};

/// The repository's root (these helpers also serve the tests of
/// `crates/pugmark-cli`, two levels down).
pub fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("data-samples").is_dir() {
        here.to_path_buf()
    } else {
        here.join("../..")
    }
}

/// The repository's `data-samples/` folder.
pub fn samples() -> PathBuf {
    root().join("data-samples")
}

/// A protected sample file by its path under `data-samples/reserve`.
pub fn reserve(rel: &str) -> PathBuf {
    samples().join("reserve").join(rel)
}

/// The fingerprints of a synthetic binary item made of 16 KiB chunks with
/// the given hashes (for index benchmarks that write tables directly).
pub fn chunked_item(i: u64, hashes: impl Iterator<Item = [u8; 16]>) -> pugmark::Fingerprints {
    let chunks: Vec<pugmark::fingerprint::ChunkFp> = hashes
        .enumerate()
        .map(|(k, hash)| pugmark::fingerprint::ChunkFp {
            hash,
            offset: k as u64 * 16384,
            len: 16384,
            trivial: false,
        })
        .collect();
    pugmark::Fingerprints {
        kind: pugmark::sniff::Kind::Binary,
        size: chunks.len() as u64 * 16384,
        digest: *blake3::hash(&i.to_le_bytes()).as_bytes(),
        chunks,
        image: None,
        raster: None,
        records: None,
        members: Vec::new(),
        reasons: Vec::new(),
    }
}

/// The fingerprints of a synthetic photo whose stored image hashes are
/// `hashes` (the first as the whole picture, the rest as centred crops),
/// for index tests and benches that need many photos without decoding any.
pub fn photo_item(i: u64, hashes: &[[u8; 32]]) -> pugmark::Fingerprints {
    use pugmark::fingerprint::image::{pdq::PdqHash, ImageFp, Region, RegionHash};
    let region_hash = |k: usize, h: &[u8; 32]| RegionHash {
        region: if k == 0 {
            Region::Whole
        } else {
            Region::Centre(k as u16)
        },
        variant: 0,
        hash: PdqHash(*h),
        quality: 100,
    };
    let mut fp = chunked_item(i, std::iter::empty());
    fp.kind = pugmark::sniff::Kind::Jpeg;
    fp.size = 1;
    fp.image = Some(ImageFp::from_hashes(
        640,
        480,
        region_hash(0, &hashes[0]),
        hashes
            .iter()
            .enumerate()
            .skip(1)
            .map(|(k, h)| region_hash(k, h))
            .collect(),
    ));
    fp
}

/// splitmix64: a fast, well-mixed pseudo-random word from `x` (benches
/// that make hundreds of millions of hashes, where BLAKE3 would dominate).
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A value of the environment variable `name` as a number, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic incompressible bytes (xorshift64).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Copies `data-samples/reserve` into `dest` (so tests may modify it).
pub fn copy_reserve(dest: &Path) {
    copy_tree(&samples().join("reserve"), dest);
}

fn copy_tree(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dest.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// A temporary index holding `items` (name, bytes) under fingerprint
/// parameters with `seed`, and a scanner over it. Keep the directory alive
/// as long as the scanner is used.
pub fn index_items(
    seed: u64,
    items: &[(String, Vec<u8>)],
) -> (tempfile::TempDir, pugmark::Scanner) {
    use pugmark::{FingerprintParams, IndexOptions, IndexWriter, ScanOptions, Scanner};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut w = IndexWriter::open(
        &dir,
        IndexOptions::default().with_new_params(Some(FingerprintParams::with_seed(seed))),
    )
    .unwrap();
    for (name, data) in items {
        w.add_bytes(name, data);
    }
    w.commit().unwrap();
    drop(w);
    let scanner = Scanner::open(&dir, ScanOptions::default()).unwrap();
    (tmp, scanner)
}

/// [`index_items`], then a scanner over it that opens items within
/// `limits`.
pub fn index_items_with_limits(
    seed: u64,
    items: &[(String, Vec<u8>)],
    limits: pugmark::Limits,
) -> (tempfile::TempDir, pugmark::Scanner) {
    let (tmp, scanner) = index_items(seed, items);
    drop(scanner);
    let opts = pugmark::ScanOptions::default().with_limits(limits);
    let scanner = pugmark::Scanner::open(&tmp.path().join("idx"), opts).unwrap();
    (tmp, scanner)
}

/// The reasons' codes anywhere in a report (members included).
pub fn reason_codes(report: &pugmark::Report) -> Vec<String> {
    report
        .all_reasons()
        .into_iter()
        .map(|(_, r)| r.code.clone())
        .collect()
}

/// An index in `dir` made of one segment written from `builder` (benches
/// that need millions of entries build them without fingerprinting).
pub fn single_segment_index(
    dir: &Path,
    params: pugmark::FingerprintParams,
    builder: pugmark::index::segment::SegmentBuilder,
) -> pugmark::Index {
    single_segment_index_unchecked(dir, params, builder);
    pugmark::Index::open(dir, &pugmark::OpenOptions::default()).expect("index")
}

/// Writes `builder` as the only segment of a new index in `dir` and opens
/// it reading headers only.
pub fn single_segment_index_unchecked(
    dir: &Path,
    params: pugmark::FingerprintParams,
    builder: pugmark::index::segment::SegmentBuilder,
) -> pugmark::Index {
    segments_index_unchecked(dir, params, std::iter::once(builder))
}

/// The index an archive-scale bench measures: in `$PUGMARK_SCALE_DIR` when
/// set (built there by `build` if it holds no index yet, and kept for the
/// next run), else built in a temporary directory; opened reading headers
/// only. The temporary directory is returned to keep it alive.
pub fn scale_index(build: impl FnOnce(&Path)) -> (tempfile::TempDir, pugmark::Index) {
    use pugmark::index::{BodyCheck, Index, OpenOptions};
    let kept = std::env::var_os("PUGMARK_SCALE_DIR").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = kept.unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("dir");
    if !dir.join("MANIFEST").exists() {
        build(&dir);
    }
    let headers = OpenOptions::default().with_body_check(BodyCheck::HeadersOnly);
    let index = Index::open(&dir, &headers).expect("open");
    (tmp, index)
}

/// Writes each builder as a segment of a new index in `dir`, one at a time
/// (so only one is in memory), and opens the index reading headers only.
pub fn segments_index_unchecked(
    dir: &Path,
    params: pugmark::FingerprintParams,
    builders: impl Iterator<Item = pugmark::index::segment::SegmentBuilder>,
) -> pugmark::Index {
    use pugmark::index::manifest::{Manifest, SegmentRef};
    use pugmark::index::{BodyCheck, Index, OpenOptions};
    let mut manifest = Manifest::new(params.clone());
    for (n, builder) in builders.enumerate() {
        let id = n as u64 + 1;
        let file = format!("seg-{id:08}.pgs");
        let items = builder.item_count() as u64;
        let bytes = builder
            .write(&dir.join(&file), id, &params, &serde_json::json!({}))
            .expect("segment");
        manifest.segments.push(SegmentRef {
            id,
            file,
            items,
            bytes,
        });
        manifest.next_segment_id = id + 1;
    }
    manifest.store(dir).expect("manifest");
    let headers = OpenOptions::default().with_body_check(BodyCheck::HeadersOnly);
    Index::open(dir, &headers).expect("index")
}

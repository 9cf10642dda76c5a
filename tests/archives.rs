//! Archives and hostile input: members of zip, tar and gzip archives are
//! found by every signal and named by their inner path; budgets, damage and
//! bombs make an item `incomplete` (never clean) quickly and in bounded
//! memory; an archive's evidence equals its members' evidence.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::archive::{self, Method, RawEntry, ZipMember};
use proptest::prelude::*;
use pugmark::{
    Evidence, FingerprintParams, IndexOptions, IndexWriter, Limits, Report, ScanOptions, Scanner,
    Verdict,
};

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(common::reserve(rel)).unwrap()
}

/// The protected samples (as stored under `data-samples/reserve`).
const PROTECTED: [&str; 5] = [
    "rasters/rmnp-dem.tif",
    "telemetry/vega_seattle-weather.csv",
    "telemetry/cerknicko-jezero.gpx",
    "telemetry/pvlib_surfrad-slv16001.dat",
    "photos/pillow_flower.jpg",
];

fn protected_items() -> Vec<(String, Vec<u8>)> {
    PROTECTED
        .iter()
        .map(|rel| (rel.to_string(), read(rel)))
        .collect()
}

fn scanner_with(limits: Limits) -> (tempfile::TempDir, Scanner) {
    common::index_items_with_limits(11, &protected_items(), limits)
}

fn scanner() -> (tempfile::TempDir, Scanner) {
    scanner_with(Limits::default())
}

fn codes(report: &Report) -> Vec<String> {
    common::reason_codes(report)
}

/// (member path, signal, protected item) of every finding.
fn found(report: &Report) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = report
        .findings()
        .into_iter()
        .map(|(p, e)| {
            (
                p.to_string(),
                e.signal().to_string(),
                e.protected().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn zip_member_under_another_name_matches_by_inner_path() {
    let (_tmp, s) = scanner();
    let dem = read("rasters/rmnp-dem.tif");
    let notes = b"patrol notes, nothing protected here\n".repeat(50);
    for method in [Method::Stored, Method::Deflated] {
        for descriptor in [false, true] {
            let zip = archive::zip(&[
                ZipMember {
                    method,
                    descriptor,
                    ..ZipMember::new("notes.txt", &notes)
                },
                ZipMember {
                    method,
                    descriptor,
                    ..ZipMember::new("misc/holiday.bin", &dem)
                },
            ]);
            let report = s.scan_bytes("upload.zip", &zip);
            assert_eq!(report.verdict, Verdict::Match, "{report:#?}");
            assert_eq!(report.members_examined, 2);
            let member = &report.members[0];
            assert_eq!(member.path, "upload.zip!misc/holiday.bin");
            assert!(
                matches!(&member.evidence[0], Evidence::Exact { protected, .. } if protected == "rasters/rmnp-dem.tif"),
                "{member:#?}"
            );
            assert!(report.all_reasons().is_empty(), "{:?}", codes(&report));
        }
    }
}

#[test]
fn tar_gz_of_protected_telemetry_matches_each_log() {
    let (_tmp, s) = scanner();
    let csv = read("telemetry/vega_seattle-weather.csv");
    let gpx = read("telemetry/cerknicko-jezero.gpx");
    // Every 3rd row of the weather log: a record-level excerpt, not a copy.
    let text = String::from_utf8(csv.clone()).unwrap();
    let excerpt: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let tar = archive::tar(&[
        ("logs/weather.csv", csv.as_slice()),
        ("logs/track.gpx", gpx.as_slice()),
        ("logs/excerpt.csv", excerpt.as_bytes()),
    ]);
    let tgz = archive::gzip(&tar);
    let report = s.scan_bytes("station-logs.tar.gz", &tgz);
    assert_eq!(report.verdict, Verdict::Match, "{report:#?}");
    let f = found(&report);
    let has = |path: &str, signal: &str| f.iter().any(|(p, sig, _)| p == path && sig == signal);
    assert!(
        has(
            "station-logs.tar.gz!station-logs.tar!logs/weather.csv",
            "exact"
        ),
        "{f:?}"
    );
    assert!(
        has(
            "station-logs.tar.gz!station-logs.tar!logs/track.gpx",
            "exact"
        ),
        "{f:?}"
    );
    assert!(
        has(
            "station-logs.tar.gz!station-logs.tar!logs/excerpt.csv",
            "records"
        ),
        "{f:?}"
    );
    assert_eq!(report.members_examined, 4, "gzip content + 3 tar members");
    assert!(codes(&report).is_empty(), "{:?}", codes(&report));

    // The same bytes as a stream (a DLP hook reading a socket) give the
    // same findings.
    let streamed = s.scan_reader("station-logs.tar.gz", &tgz[..]);
    assert_eq!(found(&streamed), f);
    assert_eq!(streamed.digest, report.digest);
}

#[test]
fn tar_zst_is_opened_and_zstd_bombs_are_stopped() {
    let (_tmp, s) = scanner();
    let csv = read("telemetry/vega_seattle-weather.csv");
    let tar = archive::tar(&[("logs/weather.csv", csv.as_slice())]);
    let tzst = zstd::encode_all(&tar[..], 3).unwrap();
    let report = s.scan_bytes("logs.tar.zst", &tzst);
    assert_eq!(report.verdict, Verdict::Match, "{:?}", codes(&report));
    let f = found(&report);
    assert!(
        f.iter()
            .any(|(p, sig, _)| p == "logs.tar.zst!logs.tar!logs/weather.csv" && sig == "exact"),
        "{f:?}"
    );
    let cut = s.scan_bytes(
        "cut.zst",
        &zstd::encode_all(&common::random_bytes(4, 100_000)[..], 3).unwrap()[..5_000],
    );
    assert!(
        codes(&cut).iter().any(|c| c == "container.corrupt"),
        "{:?}",
        codes(&cut)
    );

    // 1 GiB of zeros in a few kilobytes of zstd.
    let mut bomb = Vec::new();
    {
        let mut e = zstd::stream::write::Encoder::new(&mut bomb, 1).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            std::io::Write::write_all(&mut e, &zeros).unwrap();
        }
        e.finish().unwrap();
    }
    let started = Instant::now();
    let report = s.scan_bytes("zeros.zst", &bomb);
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert!(
        codes(&report).iter().any(|c| c == "limits.max_ratio"),
        "{:?}",
        codes(&report)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Wraps `data` (named `name`) in `levels` archives, cycling zip, tar and
/// gzip; returns the outermost name and bytes.
fn nest(name: &str, data: &[u8], levels: usize) -> (String, Vec<u8>) {
    let (mut name, mut data) = (name.to_string(), data.to_vec());
    for level in 0..levels {
        let (next, bytes) = match level % 3 {
            0 => (
                format!("l{level}.zip"),
                archive::zip(&[ZipMember::new(&name, &data)]),
            ),
            1 => (format!("l{level}.tar"), archive::tar(&[(&name, &data)])),
            _ => (format!("l{level}.gz"), archive::gzip(&data)),
        };
        name = next;
        data = bytes;
    }
    (name, data)
}

#[test]
fn protected_file_three_archives_deep_matches() {
    let (_tmp, s) = scanner();
    let dem = read("rasters/rmnp-dem.tif");
    let (name, data) = nest("dem.tif", &dem, 3);
    let report = s.scan_bytes(&name, &data);
    assert_eq!(report.verdict, Verdict::Match, "{report:#?}");
    let deepest = found(&report)
        .into_iter()
        .find(|(_, sig, _)| sig == "exact")
        .expect("exact evidence");
    assert_eq!(deepest.0.matches('!').count(), 3, "{deepest:?}");
    assert!(deepest.0.ends_with("!dem.tif"), "{deepest:?}");
}

#[test]
fn thirty_levels_deep_is_incomplete_at_the_depth_limit() {
    let (_tmp, s) = scanner();
    let filler = common::random_bytes(5, 3000);
    let (name, data) = nest("random.bin", &filler, 30);
    let report = s.scan_bytes(&name, &data);
    assert_eq!(report.verdict, Verdict::Incomplete, "{:?}", codes(&report));
    assert!(codes(&report).contains(&"limits.max_depth".to_string()));
    // With a protected file at the bottom, the depth limit still stops the
    // walk; a protected file above the limit is found before it.
    let dem = read("rasters/rmnp-dem.tif");
    let (inner_name, inner) = nest("dem.tif", &dem, 2);
    let bundle = archive::zip(&[
        ZipMember::new(&inner_name, &inner),
        ZipMember::new(&name, &data),
    ]);
    let report = s.scan_bytes("bundle.zip", &bundle);
    assert_eq!(report.verdict, Verdict::Match);
    assert!(codes(&report).contains(&"limits.max_depth".to_string()));
}

#[test]
fn generated_zip_bomb_is_incomplete_in_seconds() {
    let (_tmp, s) = scanner();
    for n in [1, 258, 259, 10_000, 1 << 20] {
        assert_eq!(
            archive::inflate(&archive::deflate_zeros(n)),
            vec![0u8; n as usize]
        );
    }
    let size: u64 = 4 << 30; // 4 GiB of zeros
    let payload = archive::deflate_zeros(size);
    let crc = 0; // never reached: decompression stops first
    let names = [
        "zeros-a.bin",
        "zeros-b.bin",
        "zeros-c.bin",
        "zeros-d.bin",
        "zeros-e.bin",
    ];
    let entries: Vec<RawEntry> = names
        .iter()
        .map(|name| RawEntry {
            name,
            payload: &payload,
            size: 0xFFFF_FFFE, // (0xFFFF_FFFF would mean "see zip64")
            method: 8,
            crc,
            flags: 0,
        })
        .collect();
    let bomb = archive::zip_raw(&entries);
    eprintln!("bomb: {} bytes declaring 5 x 4 GiB", bomb.len());
    let started = Instant::now();
    let report = s.scan_bytes("bomb.zip", &bomb);
    let took = started.elapsed();
    eprintln!("{:?} in {took:?}: {:?}", report.verdict, codes(&report));
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert!(codes(&report).iter().any(|c| c == "limits.max_ratio"));
    assert!(took < Duration::from_secs(10), "{took:?}");

    // With the ratio check off, the byte budgets still stop it: each
    // member at 100 MiB, the whole item at 400 MiB.
    let (_tmp2, lax) = scanner_with(Limits::default().with_max_ratio(u64::MAX));
    let started = Instant::now();
    let report = lax.scan_bytes("bomb.zip", &bomb);
    let c = codes(&report);
    eprintln!("without the ratio check: {c:?} in {:?}", started.elapsed());
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert!(c.iter().any(|c| c == "limits.max_file_size"), "{c:?}");
    assert!(c.iter().any(|c| c == "limits.max_bytes"), "{c:?}");
}

#[test]
fn overlapping_entry_bomb_is_refused_without_inflating() {
    let (_tmp, s) = scanner();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hostile/zipbomb_overlap_n200_s10000.zip");
    let started = Instant::now();
    let report = s.scan_path(&path);
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert_eq!(codes(&report), ["container.overlap"]);
    assert_eq!(report.members_examined, 0);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn damage_and_unsupported_members_are_incomplete_with_reasons() {
    let (_tmp, s) = scanner();
    let data = common::random_bytes(9, 50_000);
    let csv = read("telemetry/vega_seattle-weather.csv");
    let check = |label: &str, bytes: &[u8], code: &str| {
        let report = s.scan_bytes(label, bytes);
        assert_eq!(report.verdict, Verdict::Incomplete, "{label}: {report:#?}");
        assert!(
            codes(&report).iter().any(|c| c == code),
            "{label}: want {code}, got {:?}",
            codes(&report)
        );
    };
    let bad_crc = archive::zip(&[ZipMember {
        crc_override: Some(0xDEAD_BEEF),
        ..ZipMember::new("a.bin", &data)
    }]);
    check("bad-crc.zip", &bad_crc, "container.crc");
    let encrypted = archive::zip(&[ZipMember {
        extra_flags: 1,
        ..ZipMember::new("secret.csv", &csv)
    }]);
    check("encrypted.zip", &encrypted, "container.encrypted");
    let ppmd = archive::zip_raw(&[RawEntry {
        name: "a.ppmdmember",
        payload: &data,
        size: data.len() as u64,
        method: 98,
        crc: 0,
        flags: 0,
    }]);
    check("ppmd.zip", &ppmd, "container.unsupported");
    // A bzip2 member whose data is not bzip2.
    let bzip2 = archive::zip_raw(&[RawEntry {
        name: "a.bz2member",
        payload: &data,
        size: data.len() as u64,
        method: 12,
        crc: 0,
        flags: 0,
    }]);
    check("bzip2.zip", &bzip2, "container.corrupt");
    let zip = archive::zip(&[ZipMember::new("a.bin", &data)]);
    check(
        "truncated.zip",
        &zip[..zip.len() - 30],
        "container.malformed",
    );
    let mut junk = zip.clone();
    junk.extend_from_slice(b"hidden tail");
    check("junk.zip", &junk, "container.unaccounted_bytes");
    let mut prefixed = b"#!/bin/sh\nexit 0\n".to_vec();
    prefixed.extend_from_slice(&zip);
    check("sfx.bin", &prefixed, "container.unaccounted_bytes");
    let gz = archive::gzip(&data);
    check("cut.bin.gz", &gz[..gz.len() / 2], "container.corrupt");
    let mut flipped = gz.clone();
    let at = flipped.len() - 6;
    flipped[at] ^= 0xFF; // CRC-32 in the gzip trailer
    check("flipped.bin.gz", &flipped, "container.corrupt");
    let tar = archive::tar(&[("a.bin", &data)]);
    check("cut.tar", &tar[..700], "container.truncated");
    check(
        "not-really.zip",
        b"just text with a zip name",
        "container.malformed",
    );
}

#[test]
fn matches_found_before_a_limit_still_count() {
    let dem = read("rasters/rmnp-dem.tif");
    let filler = common::random_bytes(3, 20_000);
    let zip = archive::zip(&[
        ZipMember::new("dem.tif", &dem),
        ZipMember::new("b.bin", &filler),
        ZipMember::new("c.bin", &filler),
    ]);
    let (_tmp, s) = scanner_with(Limits::default().with_max_members(1));
    let report = s.scan_bytes("three.zip", &zip);
    assert_eq!(report.verdict, Verdict::Match);
    assert!(codes(&report).contains(&"limits.max_members".to_string()));

    // A member cut at max_file_size is fingerprinted as far as it was read:
    // its first chunks still match the protected file.
    let big = common::random_bytes(77, 1 << 20);
    let (tmp, s) = common::index_items(11, &[("big.bin".to_string(), big.clone())]);
    drop(s);
    let s = Scanner::open(
        &tmp.path().join("idx"),
        ScanOptions::default().with_limits(Limits::default().with_max_file_size(400 << 10)),
    )
    .unwrap();
    let zip = archive::zip(&[ZipMember::new("big.bin", &big)]);
    let report = s.scan_bytes("cut.zip", &zip);
    assert_eq!(report.verdict, Verdict::Match, "{report:#?}");
    assert!(codes(&report).contains(&"limits.max_file_size".to_string()));
    assert_eq!(found(&report)[0].1, "chunks");
}

#[test]
fn time_budget_stops_the_walk() {
    let csv = read("telemetry/vega_seattle-weather.csv");
    let zip = archive::zip(&[ZipMember::new("a.csv", &csv), ZipMember::new("b.csv", &csv)]);
    let (_tmp, s) = scanner_with(Limits::default().with_max_time(Duration::ZERO));
    let report = s.scan_bytes("slow.zip", &zip);
    assert!(
        codes(&report).contains(&"limits.max_time".to_string()),
        "{:?}",
        codes(&report)
    );
    assert_ne!(report.verdict, Verdict::Clean);
}

/// A zip larger than the streaming threshold (128 MiB) is opened whole
/// (mapped, not streamed: its directory is at its end).
#[test]
fn large_zip_file_is_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let dem = read("rasters/rmnp-dem.tif");
    let filler = vec![0u8; 130 << 20];
    let zip = archive::zip(&[
        ZipMember {
            method: Method::Stored,
            ..ZipMember::new("padding.bin", &filler)
        },
        ZipMember::new("dem.tif", &dem),
    ]);
    let path = tmp.path().join("big.zip");
    std::fs::write(&path, &zip).unwrap();
    drop(zip);
    let (_t, s) = scanner_with(Limits::default().with_max_file_size(200 << 20));
    let report = s.scan_path(&path);
    assert_eq!(report.verdict, Verdict::Match, "{:?}", codes(&report));
    assert!(found(&report)
        .iter()
        .any(|(p, sig, _)| p.ends_with("!dem.tif") && sig == "exact"));
}

#[test]
fn indexing_an_archive_protects_its_members() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let prot = tmp.path().join("prot");
    std::fs::create_dir_all(&prot).unwrap();
    let csv = read("telemetry/vega_seattle-weather.csv");
    let dem = read("rasters/rmnp-dem.tif");
    let archive_path = prot.join("archive.zip");
    std::fs::write(
        &archive_path,
        archive::zip(&[
            ZipMember::new("logs/weather.csv", &csv),
            ZipMember::new("dem.tif", &dem),
        ]),
    )
    .unwrap();
    let opts = IndexOptions::default().with_new_params(Some(FingerprintParams::with_seed(4)));
    let mut w = IndexWriter::open(&dir, opts.clone()).unwrap();
    let summary = w.add_paths(std::slice::from_ref(&prot)).unwrap();
    assert_eq!(summary.archive_members, 2);
    drop(w);
    let s = Scanner::open(&dir, ScanOptions::default()).unwrap();
    let report = s.scan_bytes("weather.csv", &csv);
    let want = format!("{}!logs/weather.csv", archive_path.display());
    assert!(
        matches!(&report.evidence[0], Evidence::Exact { protected, .. } if *protected == want),
        "{report:#?}"
    );
    drop(s);

    // A new version of the archive without the DEM retires the old members.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(
        &archive_path,
        archive::zip(&[ZipMember::new("logs/weather.csv", &csv)]),
    )
    .unwrap();
    let mut w = IndexWriter::open(&dir, opts).unwrap();
    let summary = w.add_paths(std::slice::from_ref(&prot)).unwrap();
    assert_eq!(summary.replaced_files, 1);
    drop(w);
    let s = Scanner::open(&dir, ScanOptions::default()).unwrap();
    assert_eq!(s.scan_bytes("dem.tif", &dem).verdict, Verdict::Clean);
    assert_eq!(s.scan_bytes("weather.csv", &csv).verdict, Verdict::Match);
}

#[test]
fn accepting_a_reason_code_relaxes_only_that_code() {
    let (tmp, _s) = scanner();
    let csv = read("telemetry/vega_seattle-weather.csv");
    let encrypted = archive::zip(&[ZipMember {
        extra_flags: 1,
        ..ZipMember::new("secret.csv", &csv)
    }]);
    let s = Scanner::open(
        &tmp.path().join("idx"),
        ScanOptions::default().with_accept_incomplete(vec!["container.encrypted".into()]),
    )
    .unwrap();
    let report = s.scan_bytes("enc.zip", &encrypted);
    assert_eq!(report.verdict, Verdict::Clean, "{report:#?}");
    assert_eq!(report.notes.last().unwrap().code, "container.encrypted");
    let mut junk = encrypted.clone();
    junk.extend_from_slice(b"tail");
    assert_eq!(s.scan_bytes("enc.zip", &junk).verdict, Verdict::Incomplete);
}

/// An archive packing `members` in `format` (0 zip deflated, 1 zip stored
/// with descriptors, 2 tar, 3 tar.gz).
fn pack(format: u8, members: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    match format {
        0 | 1 => {
            let zm: Vec<ZipMember> = members
                .iter()
                .map(|(n, d)| ZipMember {
                    method: if format == 0 {
                        Method::Deflated
                    } else {
                        Method::Stored
                    },
                    descriptor: format == 1,
                    ..ZipMember::new(n, d)
                })
                .collect();
            ("out.zip".into(), archive::zip(&zm))
        }
        _ => {
            let tm: Vec<(&str, &[u8])> = members
                .iter()
                .map(|(n, d)| (n.as_str(), d.as_slice()))
                .collect();
            let tar = archive::tar(&tm);
            if format == 2 {
                ("out.tar".into(), tar)
            } else {
                ("out.tgz".into(), archive::gzip(&tar))
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Scanning an archive gives, member by member, the evidence that
    /// scanning each member alone gives.
    #[test]
    fn archive_evidence_equals_member_evidence(
        picks in proptest::collection::vec((0usize..7, 0u64..1000), 1..5),
        format in 0u8..4,
    ) {
        let (_tmp, s) = shared_scanner();
        let members: Vec<(String, Vec<u8>)> = picks
            .iter()
            .enumerate()
            .map(|(i, &(pick, seed))| {
                let data = match pick {
                    0..=4 => read(PROTECTED[pick]),
                    5 => common::random_bytes(seed, 30_000),
                    // The first 60% of the protected DEM: a chunk match.
                    _ => {
                        let dem = read(PROTECTED[0]);
                        dem[..dem.len() * 6 / 10].to_vec()
                    }
                };
                (format!("m{i}/{}", PROTECTED[pick.min(4)].rsplit('/').next().unwrap()), data)
            })
            .collect();
        let (name, bytes) = pack(format, &members);
        let report = s.scan_bytes(&name, &bytes);
        let mut from_archive: Vec<(String, Vec<Evidence>)> = Vec::new();
        collect(&report, &mut from_archive);
        let prefix = match format {
            3 => format!("{name}!out.tar!"),
            _ => format!("{name}!"),
        };
        let mut one_by_one: Vec<(String, Vec<Evidence>)> = members
            .iter()
            .map(|(n, d)| (format!("{prefix}{n}"), s.scan_bytes(n, d).evidence))
            .filter(|(_, e)| !e.is_empty())
            .collect();
        from_archive.sort_by(|a, b| a.0.cmp(&b.0));
        one_by_one.sort_by(|a, b| a.0.cmp(&b.0));
        from_archive.retain(|(p, _)| p.starts_with(&prefix));
        prop_assert_eq!(from_archive, one_by_one);
    }
}

fn collect(report: &Report, out: &mut Vec<(String, Vec<Evidence>)>) {
    if !report.evidence.is_empty() {
        out.push((report.path.clone(), report.evidence.clone()));
    }
    for m in &report.members {
        collect(m, out);
    }
}

/// One index for all proptest cases (built once per test process).
fn shared_scanner() -> (std::sync::Arc<tempfile::TempDir>, &'static Scanner) {
    use std::sync::{Arc, OnceLock};
    static SHARED: OnceLock<(Arc<tempfile::TempDir>, Scanner)> = OnceLock::new();
    let (tmp, s) = SHARED.get_or_init(|| {
        let (tmp, s) = scanner();
        (Arc::new(tmp), s)
    });
    (tmp.clone(), s)
}

/// Archives made by Info-ZIP, Python's zipfile and GNU tar (zip64, data
/// descriptors with 8-byte sizes, bzip2 and LZMA members, GNU and pax long names, gzip): every
/// member is found and named, and nothing is reported unaccounted.
#[test]
fn archives_made_by_real_tools_open_fully() {
    let (_tmp, s) = scanner();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/archives");
    let long = format!(
        "{}station-with-a-rather-long-file-name-weather.csv",
        "deep/".repeat(25)
    );
    let cases: [(&str, Vec<String>); 7] = [
        (
            "zip-bzip2-members.zip",
            vec![
                "zip-bzip2-members.zip!flower.jpg".into(),
                "zip-bzip2-members.zip!weather.csv".into(),
            ],
        ),
        (
            "zip-lzma-members.zip",
            vec![
                "zip-lzma-members.zip!flower.jpg".into(),
                "zip-lzma-members.zip!weather.csv".into(),
            ],
        ),
        (
            "zip64-streamed-descriptors.zip",
            vec![
                "zip64-streamed-descriptors.zip!flower.jpg".into(),
                "zip64-streamed-descriptors.zip!weather.csv".into(),
            ],
        ),
        (
            "zip64-forced.zip",
            vec![
                "zip64-forced.zip!flower.jpg".into(),
                "zip64-forced.zip!weather.csv".into(),
            ],
        ),
        (
            "zip-streamed-stdin.zip",
            vec!["zip-streamed-stdin.zip!-".into()],
        ),
        ("gnu-longname.tar", vec![format!("gnu-longname.tar!{long}")]),
        (
            "pax-longname.tar.gz",
            vec![
                format!("pax-longname.tar.gz!pax-longname.tar!{long}"),
                "pax-longname.tar.gz!pax-longname.tar!flower.jpg".into(),
            ],
        ),
    ];
    for (file, mut want) in cases {
        let report = s.scan_path(&dir.join(file));
        assert_eq!(report.verdict, Verdict::Match, "{file}: {report:#?}");
        assert!(
            report.all_reasons().is_empty(),
            "{file}: {:?}",
            codes(&report)
        );
        let base = dir.display().to_string() + "/";
        let mut got: Vec<String> = found(&report)
            .into_iter()
            .filter(|(_, signal, _)| signal == "exact")
            .map(|(p, _, _)| p.strip_prefix(&base).unwrap().to_string())
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{file}");
    }
}

/// Yields its bytes `step` at a time (read boundaries anywhere).
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A zip hidden inside opaque bytes is reported whether the item is held in
/// memory or streamed, whatever the read boundaries.
#[test]
fn embedded_zip_is_reported_streamed_or_not() {
    let (_tmp, s) = scanner();
    let csv = read("telemetry/vega_seattle-weather.csv");
    let zip = archive::zip(&[ZipMember::new("weather.csv", &csv)]);
    let mut blob = common::random_bytes(8, 100_000);
    blob.extend_from_slice(&zip[..zip.len() - 22]); // no end record: not a zip
    blob.extend_from_slice(&common::random_bytes(9, 50_000));
    let plain = common::random_bytes(10, 150_000);
    for (bytes, expected) in [(&blob, true), (&plain, false)] {
        let whole = s.scan_bytes("blob.bin", bytes);
        assert_eq!(
            codes(&whole).contains(&"container.embedded".to_string()),
            expected
        );
        for step in [7, 4096, 1 << 20] {
            let streamed = s.scan_reader("blob.bin", Trickle { data: bytes, step });
            assert_eq!(codes(&streamed), codes(&whole), "step {step}");
        }
    }
}

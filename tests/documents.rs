//! Documents, mail, compression wrappers and other archives: protected
//! content inside files made by real tools (Pillow, img2pdf, GDAL,
//! reportlab, pandas/openpyxl/odfpy, Python's email package, xz, bzip2,
//! lzip, lz4, compress, 7-Zip, cpio, ar, xorriso; see
//! `tests/fixtures/documents/SOURCES.md`) is found and named by its member
//! path; their innocent counterparts and ordinary text are clean; what is
//! recognised but not opened is incomplete; hostile documents end within
//! their budgets; and a member's evidence equals the file's own.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use pugmark::{Evidence, Limits, Report, Scanner, Verdict};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/documents")
        .join(name)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(common::reserve(rel)).unwrap()
}

/// The protected samples these fixtures were made from.
const PROTECTED: [&str; 4] = [
    "rasters/rmnp-dem.tif",
    "telemetry/vega_seattle-weather.csv",
    "photos/pillow_flower.jpg",
    "telemetry/cerknicko-jezero.gpx",
];

fn scanner_with(limits: Limits) -> (tempfile::TempDir, Scanner) {
    let items: Vec<(String, Vec<u8>)> = PROTECTED
        .iter()
        .map(|rel| (rel.to_string(), read(rel)))
        .collect();
    common::index_items_with_limits(21, &items, limits)
}

fn scanner() -> (tempfile::TempDir, Scanner) {
    scanner_with(Limits::default())
}

fn codes(report: &Report) -> Vec<String> {
    common::reason_codes(report)
}

/// (member path relative to the item, signal, protected item) of every
/// finding.
fn found(report: &Report) -> Vec<(String, String, String)> {
    let prefix = format!("{}!", report.path);
    report
        .findings()
        .into_iter()
        .map(|(p, e)| {
            (
                p.strip_prefix(&prefix).unwrap_or(p).to_string(),
                e.signal().to_string(),
                e.protected().to_string(),
            )
        })
        .collect()
}

#[test]
fn leaks_made_by_real_tools_match_with_their_member_paths() {
    let (_tmp, s) = scanner();
    // (file, member path, signal, protected item)
    let cases: &[(&str, &str, &str, &str)] = &[
        ("photo.pdf", "image/5.jpg", "image", "pillow_flower.jpg"),
        (
            "photo-img2pdf.pdf",
            "image/7.jpg",
            "exact",
            "pillow_flower.jpg",
        ),
        ("dem-map.pdf", "image/10.tif", "raster", "rmnp-dem.tif"),
        (
            "station-table.pdf",
            "text",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "station-table.xlsx",
            "sheet/Sheet1",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "station-table.ods",
            "sheet/Sheet1",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "photo-owner-password.pdf",
            "image/5.jpg",
            "image",
            "pillow_flower.jpg",
        ),
        (
            "station-table.docx",
            "table/1",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "leak.eml",
            "attachment/pillow_flower.jpg",
            "exact",
            "pillow_flower.jpg",
        ),
        (
            "leak.eml",
            "attachment/week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "leak.mbox",
            "message/2.eml!attachment/pillow_flower.jpg",
            "exact",
            "pillow_flower.jpg",
        ),
        (
            "week-summary.csv.zz",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "week-summary.csv.bz2",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "week-summary.csv.xz",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "week-summary.csv.lzma",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "week-summary.csv.lz",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "week-summary.csv.lz4",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "week-summary.legacy.lz4",
            "week-summary.legacy",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "week-summary.csv.Z",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "week-summary.csv.lzo",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs.cab",
            "logs\\week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs-mszip.cab",
            "logs\\week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "station-mszip.cab",
            "station\\seattle-weather.csv",
            "exact",
            "vega_seattle-weather.csv",
        ),
        (
            "week-summary.csv.zst",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs.tar.bz2",
            "logs.tar!logs/week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs.tar.xz",
            "logs.tar!logs/week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs.7z",
            "logs/week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs-solid-bcj.7z",
            "logs/week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs.cpio",
            "logs/week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs-odc.cpio",
            "logs/week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs-bin.cpio",
            "logs/week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs.a",
            "week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "logs.iso",
            "logs/week-summary.csv",
            "records",
            "vega_seattle-weather.csv",
        ),
        (
            "innocent-with-zip.jpg",
            "trailing!survey/dem.tif",
            "exact",
            "rmnp-dem.tif",
        ),
    ];
    let mut failures = Vec::new();
    for &(file, member, signal, protected) in cases {
        let report = s.scan_path(&fixture(file));
        let hit = found(&report)
            .iter()
            .any(|(p, sig, prot)| p == member && sig == signal && prot.ends_with(protected));
        if report.verdict != Verdict::Match || !hit {
            failures.push(format!(
                "{file}: {:?}, findings {:?}, reasons {:?}",
                report.verdict,
                found(&report),
                codes(&report)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn innocent_counterparts_and_ordinary_text_are_clean() {
    let (_tmp, s) = scanner();
    let mut files: Vec<String> = [
        "innocent-photo.pdf",
        "innocent-table.xlsx",
        "innocent.eml",
        "notes.txt.xz",
        "notes.txt.bz2",
        "notes.tar.xz",
        "notes.7z",
        "notes.txt.lzo",
        "notes.cab",
        "SOURCES.md",
    ]
    .iter()
    .map(|f| f.to_string())
    .collect();
    for entry in std::fs::read_dir(fixture("text")).unwrap() {
        files.push(format!(
            "text/{}",
            entry.unwrap().file_name().to_string_lossy()
        ));
    }
    assert!(files.len() >= 15, "{files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let report = s.scan_path(&fixture(file));
        if report.verdict != Verdict::Clean {
            failures.push(format!("{file}: {:?} {:?}", report.verdict, codes(&report)));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn recognised_but_unopened_containers_are_incomplete() {
    let (_tmp, s) = scanner();
    for (file, code) in [
        ("logs.lzh", "container.unsupported"),
        ("logs-encrypted.7z", "container.encrypted"),
        ("photo-user-password.pdf", "pdf.encrypted"),
    ] {
        let report = s.scan_path(&fixture(file));
        assert_eq!(report.verdict, Verdict::Incomplete, "{file}");
        assert!(
            codes(&report).iter().any(|c| c == code),
            "{file}: {:?}",
            codes(&report)
        );
    }
    // A later volume of a split archive, and RAR, known by name and magic.
    let report = s.scan_bytes("logs.7z.002", &common::random_bytes(3, 5000));
    assert_eq!(report.verdict, Verdict::Incomplete);
    let report = s.scan_bytes(
        "x.bin",
        b"Rar!\x1a\x07\x01\x00\x33\x92\xb5\xe5\x0a\x01\x05\x06",
    );
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert!(codes(&report).contains(&"container.unsupported".to_string()));
}

/// Base64 with line breaks, as mail writes it.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, &b)| n | u32::from(b) << (16 - 8 * k));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A MIME message with each (name, bytes) as a base64 attachment;
/// `close` writes the closing boundary.
fn mail(parts: &[(&str, &[u8])], close: bool) -> Vec<u8> {
    let mut m = String::from(
        "From: ranger@example.org\r\nTo: press@example.org\r\nSubject: data\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n\
         --b0\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n",
    );
    for (name, data) in parts {
        m.push_str(&format!(
            "--b0\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(data)
        ));
    }
    if close {
        m.push_str("--b0--\r\n");
    }
    m.into_bytes()
}

/// A minimal PDF whose one embedded file is `data` named `name`.
fn pdf_with_attachment(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    let objects: Vec<Vec<u8>> = vec![
        format!(
            "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [({name}) 4 0 R] >> >> >>"
        )
        .into_bytes(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>".to_vec(),
        format!("<< /Type /Filespec /F ({name}) /UF ({name}) /EF << /F 5 0 R >> >>").into_bytes(),
        {
            let mut s = format!("<< /Type /EmbeddedFile /Length {} >>\nstream\n", data.len())
                .into_bytes();
            s.extend_from_slice(data);
            s.extend_from_slice(b"\nendstream");
            s
        },
    ];
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[test]
fn zip_in_pdf_in_zip_is_found_and_depth_is_bounded() {
    let (_tmp, s) = scanner();
    let dem = read("rasters/rmnp-dem.tif");
    let inner = common::archive::zip(&[common::archive::ZipMember::new("dem.tif", &dem)]);
    let pdf = pdf_with_attachment("survey.zip", &inner);
    let outer = common::archive::zip(&[common::archive::ZipMember::new("report.pdf", &pdf)]);
    let report = s.scan_bytes("upload.zip", &outer);
    assert_eq!(report.verdict, Verdict::Match, "{:?}", codes(&report));
    assert!(
        found(&report).iter().any(|(p, sig, _)| {
            p == "report.pdf!attachment/survey.zip!dem.tif" && sig == "exact"
        }),
        "{:?}",
        found(&report)
    );
    // One level of nesting allowed: the PDF is opened, the zip inside it
    // is not, and says so.
    let (_tmp2, shallow) = scanner_with(Limits::default().with_max_depth(2));
    let report = shallow.scan_bytes("upload.zip", &outer);
    assert!(
        codes(&report).contains(&"limits.max_depth".to_string()),
        "{:?}",
        codes(&report)
    );
    assert_ne!(report.verdict, Verdict::Clean);
}

#[test]
fn hostile_pdfs_end_bounded_without_panics() {
    let (_tmp, s) = scanner();
    // A page tree whose Kids point at itself, an object that references
    // itself, and an xref whose /Prev is itself.
    let body = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
                2 0 obj\n<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>\nendobj\n\
                3 0 obj\n<< /Type /Page /Parent 2 0 R /A 3 0 R /Contents 3 0 R >>\nendobj\n";
    let xref = body.len();
    let pdf = format!(
        "{body}xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n\
         0000000125 00000 n \ntrailer\n<< /Size 4 /Root 1 0 R /Prev {xref} >>\nstartxref\n{xref}\n%%EOF\n"
    );
    let start = Instant::now();
    let report = s.scan_bytes("loops.pdf", pdf.as_bytes());
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(
        !codes(&report).contains(&"decoder.panic".to_string()),
        "{:?}",
        codes(&report)
    );
    assert_ne!(report.verdict, Verdict::Match);
    // Garbage after a PDF header: not readable, so not clean.
    let mut junk = b"%PDF-1.7\n".to_vec();
    junk.extend(common::random_bytes(5, 20_000));
    let report = s.scan_bytes("junk.pdf", &junk);
    assert_eq!(report.verdict, Verdict::Incomplete, "{:?}", codes(&report));
}

#[test]
fn hostile_mail_ends_bounded() {
    let (_tmp, s) = scanner();
    let csv = read("telemetry/vega_seattle-weather.csv");
    // No closing boundary: the attachment is still read and found, and
    // the damage is reported.
    let open = mail(&[("weather.csv", &csv[..20_000])], false);
    let report = s.scan_bytes("open.eml", &open);
    assert_eq!(report.verdict, Verdict::Match, "{:?}", codes(&report));
    assert!(found(&report)
        .iter()
        .any(|(p, sig, _)| p == "attachment/weather.csv" && sig == "records"));
    // Ten thousand and more parts: the member limit ends the walk.
    let tiny: Vec<(String, Vec<u8>)> = (0..10_050)
        .map(|i| (format!("p{i}.txt"), format!("part {i}\n").into_bytes()))
        .collect();
    let parts: Vec<(&str, &[u8])> = tiny
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let many = mail(&parts, true);
    let start = Instant::now();
    let report = s.scan_bytes("many.eml", &many);
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert!(codes(&report).contains(&"limits.max_members".to_string()));
}

#[test]
fn compression_bombs_are_incomplete_quickly() {
    let (_tmp, s) = scanner();
    // 256 MiB of zeros as bzip2 (a few hundred bytes) and as lz4 frames.
    let zeros = vec![0u8; 1 << 20];
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
    for _ in 0..256 {
        bz.write_all(&zeros).unwrap();
        lz.write_all(&zeros).unwrap();
    }
    let bz = bz.finish().unwrap();
    let lz = lz.finish().unwrap();
    for (name, bomb, code) in [
        ("zeros.bz2", &bz, "limits.max_ratio"),
        ("zeros.lz4", &lz, "limits.max_file_size"),
    ] {
        let start = Instant::now();
        let report = s.scan_bytes(name, bomb);
        assert!(start.elapsed() < Duration::from_secs(30), "{name}");
        assert_eq!(report.verdict, Verdict::Incomplete, "{name}");
        assert!(
            codes(&report).iter().any(|c| c == code),
            "{name}: {:?}",
            codes(&report)
        );
    }
    // Made by the real tools: 200 MB of zeros as xz and as 7z.
    for (file, code) in [
        ("zeros-200m.xz", "limits.max_ratio"),
        ("zeros-200m.7z", "limits.max_file_size"),
    ] {
        let start = Instant::now();
        let report = s.scan_path(&fixture(file));
        assert!(start.elapsed() < Duration::from_secs(30), "{file}");
        assert_eq!(report.verdict, Verdict::Incomplete, "{file}");
        assert!(
            codes(&report).iter().any(|c| c == code),
            "{file}: {:?}",
            codes(&report)
        );
    }
    // Cut streams are damaged, not clean (what decoded before the cut is
    // still examined). Unix compress has no end marker or checksum: a cut
    // .Z cannot be told from a shorter one.
    for file in [
        "week-summary.csv.xz",
        "week-summary.csv.bz2",
        "week-summary.csv.lz4",
    ] {
        let data = std::fs::read(fixture(file)).unwrap();
        let report = s.scan_bytes(file, &data[..data.len() / 2]);
        assert_ne!(report.verdict, Verdict::Clean, "{file}");
        assert!(
            codes(&report).iter().any(|c| c.starts_with("container.")),
            "{file}: {:?}",
            codes(&report)
        );
    }
}

/// newc cpio of `members`.
fn cpio(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut entry = |name: &str, data: &[u8], mode: u32| {
        let header = format!(
            "070701{:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1, 0, 0, 1, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for (name, data) in members {
        entry(name, data, 0o100644);
    }
    entry("TRAILER!!!", &[], 0);
    out
}

/// An `ar` archive of `members` (short names).
fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        out.extend_from_slice(
            format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                format!("{name}/"),
                0,
                0,
                0,
                644,
                data.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// `data` wrapped as `format`: (container name, bytes, member path).
fn wrap(format: u8, data: &[u8]) -> (String, Vec<u8>, String) {
    match format {
        0 => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(data).unwrap();
            ("x.csv.zz".into(), z.finish().unwrap(), "x.csv".into())
        }
        1 => {
            let mut b = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            b.write_all(data).unwrap();
            ("x.csv.bz2".into(), b.finish().unwrap(), "x.csv".into())
        }
        2 => {
            let mut l = lz4_flex::frame::FrameEncoder::new(Vec::new());
            l.write_all(data).unwrap();
            ("x.csv.lz4".into(), l.finish().unwrap(), "x.csv".into())
        }
        3 => (
            "x.cpio".into(),
            cpio(&[("d/x.csv", data)]),
            "d/x.csv".into(),
        ),
        4 => ("x.a".into(), ar(&[("x.csv", data)]), "x.csv".into()),
        _ => (
            "x.eml".into(),
            mail(&[("x.csv", data)], true),
            "attachment/x.csv".into(),
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// A file's evidence is the same when it arrives as a member of any of
    /// the new containers (compression streams, cpio, ar, mail).
    #[test]
    fn member_evidence_equals_file_evidence(
        start in 0usize..1000,
        lines in 0usize..800,
        format in 0u8..6,
    ) {
        let (_tmp, s) = shared();
        let csv = read("telemetry/vega_seattle-weather.csv");
        let text = String::from_utf8(csv).unwrap();
        let all: Vec<&str> = text.lines().collect();
        let end = (start + lines).min(all.len());
        let excerpt = format!("{}\n", all[start.min(end)..end].join("\n"));
        let alone: Vec<Evidence> = s.scan_bytes("x.csv", excerpt.as_bytes()).evidence;
        let (name, bytes, member) = wrap(format, excerpt.as_bytes());
        let report = s.scan_bytes(&name, &bytes);
        prop_assert!(report.all_reasons().is_empty(), "{:?}", codes(&report));
        let inside: Vec<Evidence> = report
            .findings()
            .into_iter()
            .filter(|(p, _)| *p == format!("{name}!{member}"))
            .map(|(_, e)| e.clone())
            .collect();
        prop_assert_eq!(inside, alone);
    }
}

/// One scanner for all proptest cases.
fn shared() -> &'static (tempfile::TempDir, Scanner) {
    static SHARED: std::sync::OnceLock<(tempfile::TempDir, Scanner)> = std::sync::OnceLock::new();
    SHARED.get_or_init(scanner)
}

/// Content hidden where only a careful reader looks: after a format's end,
/// after a single-stream wrapper's end, in an archive inside an archive
/// that is only recognised deep inside, after a cpio trailer, behind a
/// byte-order mark, in a table that repeats itself. Each is found or
/// reported; none is clean.
#[test]
fn hidden_content_is_found_or_reported() {
    use common::archive::{gzip, tar, zip, ZipMember};
    let (_tmp, s) = scanner();
    let dem = read("rasters/rmnp-dem.tif");
    let csv = read("telemetry/vega_seattle-weather.csv");
    let dem_zip = zip(&[ZipMember::new("dem.tif", &dem)]);
    let has = |report: &Report, member: &str| found(report).iter().any(|(p, _, _)| p == member);

    // A zip appended to prose, and to a PDF.
    let mut text = std::fs::read(common::samples().join("outgoing/patrol-notes.txt")).unwrap();
    text.extend_from_slice(&dem_zip);
    let report = s.scan_bytes("notes.txt", &text);
    assert!(has(&report, "trailing!dem.tif"), "{:?}", found(&report));
    let mut pdf = std::fs::read(fixture("innocent-photo.pdf")).unwrap();
    pdf.extend_from_slice(&dem_zip);
    let report = s.scan_bytes("report.pdf", &pdf);
    assert!(has(&report, "trailing!dem.tif"), "{:?}", found(&report));

    // A gzip after the end of a zlib stream.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(b"hello").unwrap();
    let mut zz = z.finish().unwrap();
    zz.extend_from_slice(&gzip(&csv));
    let report = s.scan_bytes("hello.zz", &zz);
    assert_eq!(report.verdict, Verdict::Match, "{:?}", codes(&report));

    // An ISO image inside a tar (its signature is 32 KiB in).
    let iso = std::fs::read(fixture("logs.iso")).unwrap();
    let report = s.scan_bytes("discs.tar", &tar(&[("disc.img", &iso)]));
    assert!(
        has(&report, "disc.img!logs/week-summary.csv"),
        "{:?}",
        found(&report)
    );

    // A cabinet whose data block was altered: its checksum says so.
    let mut cab = std::fs::read(fixture("station-mszip.cab")).unwrap();
    let last = cab.len() - 100;
    cab[last] ^= 0x40;
    let report = s.scan_bytes("altered.cab", &cab);
    assert!(
        codes(&report).contains(&"container.crc".to_string()),
        "{:?}",
        codes(&report)
    );
    assert_ne!(report.verdict, Verdict::Clean);

    // Bytes after a cpio trailer.
    let mut archive = cpio(&[("a.txt", b"hello\n")]);
    archive.extend_from_slice(&dem_zip);
    let report = s.scan_bytes("x.cpio", &archive);
    assert!(codes(&report).contains(&"container.unaccounted_bytes".to_string()));

    // A mailbox with a byte-order mark before its first `From ` line.
    let mut mbox = b"\xEF\xBB\xBF".to_vec();
    mbox.extend(std::fs::read(fixture("leak.mbox")).unwrap());
    let report = s.scan_bytes("box.mbox", &mbox);
    assert!(
        has(&report, "message/2.eml!attachment/pillow_flower.jpg"),
        "{:?}",
        found(&report)
    );

    // Base64 after a multipart's closing boundary (readers skip the
    // epilogue).
    let mut epilogue = mail(&[("notes.txt", b"see you\n")], true);
    epilogue.extend_from_slice(base64(&csv).as_bytes());
    let report = s.scan_bytes("epilogue.eml", &epilogue);
    assert!(has(&report, "epilogue/0"), "{:?}", found(&report));

    // An embedded file whose stream says nothing of its type.
    let pdf = pdf_with_attachment("w.csv", &csv);
    let untyped = String::from_utf8_lossy(&pdf).replace("/Type /EmbeddedFile ", "");
    let untyped = fix_xref(untyped.as_bytes());
    let report = s.scan_bytes("untyped.pdf", &untyped);
    assert!(
        has(&report, "attachment/w.csv"),
        "{:?} {:?}",
        found(&report),
        codes(&report)
    );
}

/// A PDF's xref offsets rewritten after an edit (finds each `N 0 obj`).
fn fix_xref(pdf: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(pdf).into_owned();
    let xref_at = text.find("xref\n").unwrap();
    let mut out = text[..xref_at].to_string();
    let count = text.matches(" 0 obj\n").count();
    out.push_str(&format!("xref\n0 {}\n0000000000 65535 f \n", count + 1));
    for i in 1..=count {
        let at = text.find(&format!("\n{i} 0 obj\n")).unwrap() + 1;
        out.push_str(&format!("{at:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
        count + 1
    ));
    out.into_bytes()
}

#[test]
fn self_similar_and_repetitive_documents_stay_bounded() {
    use common::archive::{zip, ZipMember};
    let (_tmp, s) = scanner();
    // Three thousand GIFs back to back: each one's tail is the next one.
    let mut gif = Vec::new();
    image::DynamicImage::new_rgb8(2, 2)
        .write_to(&mut std::io::Cursor::new(&mut gif), image::ImageFormat::Gif)
        .unwrap();
    let chain = gif.repeat(3000);
    let start = Instant::now();
    let report = s.scan_bytes("chain.gif", &chain);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(report.verdict, Verdict::Incomplete, "{:?}", codes(&report));

    // A spreadsheet whose rows and cells repeat a thousand times each.
    let cell = format!(
        "<table:table-cell office:value-type=\"string\" table:number-columns-repeated=\"1000\"><text:p>{}</text:p></table:table-cell>",
        "x".repeat(200)
    );
    let content = format!(
        "<?xml version=\"1.0\"?><office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\"><office:body><office:spreadsheet><table:table table:name=\"S\"><table:table-row table:number-rows-repeated=\"1000\">{cell}</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"
    );
    let ods = zip(&[
        ZipMember::new("META-INF/manifest.xml", b"<manifest/>"),
        ZipMember::new("content.xml", content.as_bytes()),
    ]);
    let (_tmp2, small) = scanner_with(Limits::default().with_max_file_size(4 << 20));
    let start = Instant::now();
    let report = small.scan_bytes("amp.ods", &ods);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(report.verdict, Verdict::Incomplete, "{:?}", codes(&report));
    assert!(codes(&report).contains(&"limits.max_file_size".to_string()));
}

/// A legacy Office file (OLE2) with a protected raster embedded as an OLE
/// object: every stream is examined, the embedded copy is found, and the
/// file still says its Office records were not decoded.
#[test]
fn ole2_streams_are_examined() {
    let (_tmp, s) = scanner();
    let dem = read("rasters/rmnp-dem.tif");
    let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    file.create_storage_all("/ObjectPool/_1").unwrap();
    file.create_stream("/ObjectPool/_1/\u{1}Ole10Native")
        .unwrap()
        .write_all(&dem)
        .unwrap();
    file.create_stream("/WordDocument")
        .unwrap()
        .write_all(&common::random_bytes(9, 5000))
        .unwrap();
    file.flush().unwrap();
    let doc = file.into_inner().into_inner();
    let report = s.scan_bytes("report.doc", &doc);
    assert_eq!(report.verdict, Verdict::Match);
    assert!(
        found(&report)
            .iter()
            .any(|(p, sig, _)| p == "ObjectPool/_1/\\x01Ole10Native" && sig == "exact"),
        "{:?}",
        found(&report)
    );
    assert!(codes(&report).contains(&"container.unsupported".to_string()));
    // Without the embedded raster: examined, not clean (records unread).
    let mut plain = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    plain
        .create_stream("/WordDocument")
        .unwrap()
        .write_all(b"plain words")
        .unwrap();
    plain.flush().unwrap();
    let report = s.scan_bytes("plain.doc", &plain.into_inner().into_inner());
    assert_eq!(report.verdict, Verdict::Incomplete, "{:?}", codes(&report));
}

/// A stored cabinet: one folder holding `folder_data` in 32 KiB blocks,
/// and entries for `files` as (name, offset, size) in it.
fn cab(folder_data: &[u8], files: &[(&str, usize, usize)]) -> Vec<u8> {
    let blocks: Vec<&[u8]> = folder_data.chunks(32 * 1024).collect();
    let entries_len: usize = files.iter().map(|(n, _, _)| 16 + n.len() + 1).sum();
    let files_at = 36 + 8;
    let data_at = files_at + entries_len;
    let total = data_at + blocks.iter().map(|b| 8 + b.len()).sum::<usize>();
    let mut out = b"MSCF".to_vec();
    for v in [0u32, total as u32, 0, files_at as u32, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&[3, 1]);
    for v in [1u16, files.len() as u16, 0, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(data_at as u32).to_le_bytes());
    out.extend_from_slice(&(blocks.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    for (name, offset, size) in files {
        out.extend_from_slice(&(*size as u32).to_le_bytes());
        out.extend_from_slice(&(*offset as u32).to_le_bytes());
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(name.as_bytes());
        out.push(0);
    }
    for b in blocks {
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(b.len() as u16).to_le_bytes());
        out.extend_from_slice(&(b.len() as u16).to_le_bytes());
        out.extend_from_slice(b);
    }
    out
}

/// Places a second look found content in: folder bytes no cabinet entry
/// names, an archive appended mid-line to text, binary data deep in a long
/// text stream, UTF-16 text; and ordinary pictures that end early are not
/// blamed for it.
#[test]
fn content_outside_declared_structure_is_examined() {
    use common::archive::gzip;
    let (_tmp, s) = scanner();
    let flower = read("photos/pillow_flower.jpg");
    let csv = read("telemetry/vega_seattle-weather.csv");

    let mut folder = b"read me!\n\n".to_vec();
    folder.extend_from_slice(&flower);
    let report = s.scan_bytes("slack.cab", &cab(&folder, &[("readme.txt", 0, 10)]));
    assert!(
        found(&report)
            .iter()
            .any(|(p, sig, _)| p == "unaccounted/0" && sig == "exact"),
        "{:?}",
        found(&report)
    );

    let mut text = b"line one\nthe last line, cut ".to_vec();
    text.extend_from_slice(&gzip(&flower));
    let report = s.scan_bytes("notes.txt", &text);
    assert_eq!(report.verdict, Verdict::Match, "{:?}", codes(&report));

    let mut long = "a log line of text\n".repeat(1 << 20).into_bytes();
    long.extend_from_slice(&gzip(&flower));
    let report = s.scan_reader("big.log", &long[..]);
    assert!(codes(&report).contains(&"container.unaccounted_bytes".to_string()));

    let mut utf16 = vec![0xFF, 0xFE];
    for unit in String::from_utf8(csv).unwrap().encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let report = s.scan_bytes("export.txt", &utf16);
    assert!(
        found(&report)
            .iter()
            .any(|(p, _, prot)| p == "utf8" && prot.ends_with("weather.csv")),
        "{:?}",
        found(&report)
    );

    // A GIF without its trailer byte, as many writers leave it: clean.
    let mut gif = Vec::new();
    image::DynamicImage::new_rgb8(8, 8)
        .write_to(&mut std::io::Cursor::new(&mut gif), image::ImageFormat::Gif)
        .unwrap();
    assert_eq!(gif.pop(), Some(0x3B));
    let report = s.scan_bytes("small.gif", &gif);
    assert_eq!(report.verdict, Verdict::Clean, "{:?}", codes(&report));
}

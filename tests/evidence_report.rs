//! The HTML evidence report and what it is built from: members read again
//! from their archives, raster previews, matched table rows. Inputs are the
//! bundled samples (`data-samples/`): the protected reserve and the
//! outgoing files that carry it.

mod common;

use std::collections::HashSet;
use std::path::Path;

use pugmark::fingerprint::raster::preview;
use pugmark::fingerprint::records::{self, record_rows};
use pugmark::fingerprint::MemberCopy;
use pugmark::html_report::{write_html_report, HtmlReportOptions};
use pugmark::sniff::Kind;
use pugmark::{IndexOptions, IndexWriter, Report, ScanOptions, Scanner, Verdict};

/// An index of `data-samples/reserve` and the reports of
/// `data-samples/outgoing` scanned against it.
fn scanned_samples() -> (tempfile::TempDir, Scanner, Vec<Report>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut writer = IndexWriter::open(&dir, IndexOptions::default()).unwrap();
    writer
        .add_paths(&[common::samples().join("reserve")])
        .unwrap();
    drop(writer);
    let scanner = Scanner::open(&dir, ScanOptions::default()).unwrap();
    let reports = scanner
        .scan_paths(&[common::samples().join("outgoing")])
        .unwrap();
    (tmp, scanner, reports)
}

/// The `src` attributes of a page's pictures.
fn picture_sources(html: &str) -> Vec<String> {
    html.split("<img src=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

fn count_of(html: &str, verdict: &str) -> usize {
    let key = format!("<span id=\"count-{verdict}\">");
    let at = html.find(&key).unwrap() + key.len();
    html[at..at + html[at..].find('<').unwrap()]
        .parse()
        .unwrap()
}

#[test]
fn report_of_the_samples_shows_every_card_type_with_pictures_that_load() {
    let (tmp, scanner, reports) = scanned_samples();
    let out = tmp.path().join("report");
    let opts = HtmlReportOptions::default()
        .with_protected_content(true)
        .with_scanned(vec!["data-samples/outgoing".into()]);
    let written = write_html_report(&out, &scanner, &reports, &opts).unwrap();
    let html = std::fs::read_to_string(&written.index_html).unwrap();

    let not_clean = reports
        .iter()
        .filter(|r| r.verdict != Verdict::Clean)
        .count();
    assert_eq!(written.cards, not_clean);
    assert_eq!(html.matches("<section class=\"card ").count(), not_clean);
    for verdict in [
        Verdict::Match,
        Verdict::Incomplete,
        Verdict::Error,
        Verdict::Clean,
    ] {
        let n = reports.iter().filter(|r| r.verdict == verdict).count();
        assert_eq!(count_of(&html, verdict.name()), n, "{}", verdict.name());
    }
    // Every kind of card the samples call for.
    for signal in ["exact", "chunks", "image", "raster", "records"] {
        assert!(
            html.contains(&format!("<span class=\"signal\">{signal}</span>")),
            "no {signal} finding"
        );
    }
    assert!(html.contains("matched window outlined"), "raster window");
    assert!(html.contains("<th>record there</th>"), "matched rows");
    assert!(html.contains("2012/01/01 | 0.0 | 12.8 | 5.0 | 4.7 | drizzle"));
    assert!(html.contains("<ul class=\"tree\">"), "member tree");
    assert!(
        html.contains("<code>container.encrypted</code>"),
        "incomplete card"
    );
    assert!(html.contains("Ask the sender for the password"));
    assert!(
        !html.contains("class=\"placeholder\""),
        "a picture is missing"
    );

    // Self-contained: every picture is a file beside the page that decodes.
    let sources = picture_sources(&html);
    assert_eq!(sources.len(), written.pictures);
    assert!(sources.len() >= 15, "{} pictures", sources.len());
    for src in &sources {
        assert!(src.starts_with("assets/"), "{src}");
        let path = out.join(src);
        if src.ends_with(".png") {
            let img = image::open(&path).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert!(img.width() > 0 && img.height() > 0);
        } else {
            assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
        }
    }
    for remote in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "url(http",
        "@import",
    ] {
        assert!(!html.contains(remote), "the page fetches {remote}");
    }
}

#[test]
fn without_permission_the_report_shows_no_protected_content() {
    let (tmp, scanner, reports) = scanned_samples();
    let allowed = write_html_report(
        &tmp.path().join("with"),
        &scanner,
        &reports,
        &HtmlReportOptions::default().with_protected_content(true),
    )
    .unwrap();
    let denied = write_html_report(
        &tmp.path().join("without"),
        &scanner,
        &reports,
        &HtmlReportOptions::default(),
    )
    .unwrap();
    let html = std::fs::read_to_string(&denied.index_html).unwrap();
    // One protected picture per image and raster finding is left out.
    let findings = html.matches("<span class=\"signal\">image</span>").count()
        + html.matches("<span class=\"signal\">raster</span>").count();
    assert!(findings >= 8);
    assert_eq!(denied.pictures + findings, allowed.pictures);
    assert_eq!(
        html.matches("protected content not shown (--report-protected-thumbnails)")
            .count(),
        findings + html.matches("<th>record there</th>").count() * 5
    );
    // No protected row that the outgoing side does not also hold: the
    // matched rows' protected column is empty.
    assert!(!html
        .contains("<td>1</td><td>2012/01/01 | 0.0 | 12.8 | 5.0 | 4.7 | drizzle</td><td>1</td>"));
}

/// One member read again, as bytes (`None` when not read whole).
fn member(
    pipeline: &pugmark::Pipeline,
    name: Option<&Path>,
    data: &[u8],
    path: &str,
) -> Option<Vec<u8>> {
    match pipeline
        .members_content(name, data, &[path.to_string()])
        .remove(path)
    {
        Some(MemberCopy::Bytes(b)) => Some(b),
        _ => None,
    }
}

#[test]
fn a_member_read_again_is_the_member_as_archived() {
    let pipeline = pugmark::Pipeline::new(pugmark::FingerprintParams::with_seed(1)).unwrap();
    let outgoing = common::samples().join("outgoing");
    let tgz = std::fs::read(outgoing.join("station-logs.tar.gz")).unwrap();
    let name = Some(Path::new("station-logs.tar.gz"));
    let csv = member(
        &pipeline,
        name,
        &tgz,
        "station-logs.tar!logs/week-summary.csv",
    )
    .unwrap();
    let weather = std::fs::read(common::reserve("telemetry/vega_seattle-weather.csv")).unwrap();
    assert_eq!(csv, weather[..20_000]);
    let gpx = member(
        &pipeline,
        name,
        &tgz,
        "station-logs.tar!logs/track-2026-11-28.gpx",
    )
    .unwrap();
    assert_eq!(
        gpx,
        std::fs::read(common::reserve("telemetry/cerknicko-jezero.gpx")).unwrap()
    );
    assert_eq!(
        member(&pipeline, name, &tgz, "station-logs.tar!logs/none.csv"),
        None
    );
    assert_eq!(member(&pipeline, name, &tgz, "logs/week-summary.csv"), None);

    let mail = std::fs::read(outgoing.join("mail-to-press.eml")).unwrap();
    let attached = member(&pipeline, None, &mail, "attachment/week-summary.csv").unwrap();
    assert_eq!(attached, weather[..19_971]);
    let zip = std::fs::read(outgoing.join("camera-trap-upload.zip")).unwrap();
    let photo = member(&pipeline, None, &zip, "IMG_0042.JPG").unwrap();
    assert_eq!(
        photo,
        std::fs::read(common::reserve("photos/pillow_flower.jpg")).unwrap()
    );
}

/// A tar may hold a name twice (the later entry wins when unpacked): which
/// one a finding concerns cannot be told, so neither is shown as evidence.
#[test]
fn a_member_name_held_twice_is_ambiguous() {
    let pipeline = pugmark::Pipeline::new(pugmark::FingerprintParams::with_seed(1)).unwrap();
    let tar = common::archive::tar(&[("photo.jpg", b"harmless"), ("photo.jpg", b"other bytes")]);
    let found = pipeline.members_content(None, &tar, &["photo.jpg".to_string()]);
    assert_eq!(found.get("photo.jpg"), Some(&MemberCopy::Ambiguous));
    let tar = common::archive::tar(&[("a.txt", b"first"), ("b.txt", b"second")]);
    let found = pipeline.members_content(None, &tar, &["b.txt".to_string()]);
    assert_eq!(
        found.get("b.txt"),
        Some(&MemberCopy::Bytes(b"second".to_vec()))
    );
}

/// Hostile inputs read again for a report (bombs, loops, truncations)
/// neither panic nor hand out more than a member may hold.
#[test]
fn hostile_items_read_again_neither_panic_nor_overflow() {
    let pipeline = pugmark::Pipeline::new(pugmark::FingerprintParams::with_seed(1)).unwrap();
    let dir = common::root().join("tests/fixtures/hostile");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let wanted = ["a".to_string(), "trailing".to_string(), "0".to_string()];
        let found = pipeline.members_content(Some(&path), &data, &wanted);
        for (name, copy) in &found {
            if let MemberCopy::Bytes(b) = copy {
                assert!(
                    b.len() <= pugmark::fingerprint::MAX_CAPTURED_BYTES,
                    "{path:?} {name}"
                );
            }
        }
        let kind = pugmark::sniff::sniff(&data, Some(&path));
        let _ = preview(&data, kind, 1 << 20, 64);
        let _ = record_rows(kind, &data, 100, &|_| true);
        seen += 1;
    }
    assert!(seen >= 20, "{seen} hostile files");
}

/// A member cut by a budget is not shown as if it were whole.
#[test]
fn a_member_cut_by_a_budget_is_incomplete() {
    let limits = pugmark::Limits::default().with_max_file_size(100);
    let pipeline = pugmark::Pipeline::new(pugmark::FingerprintParams::with_seed(1))
        .unwrap()
        .with_limits(limits);
    let tar = common::archive::tar(&[("big.bin", &[7u8; 1000])]);
    let found = pipeline.members_content(None, &tar, &["big.bin".to_string()]);
    assert_eq!(found.get("big.bin"), Some(&MemberCopy::Incomplete));
}

/// File and member names are text on the page, never markup; an existing
/// page that is not a report is never overwritten, and only the report's
/// own pictures are replaced in `assets/`.
#[test]
fn hostile_names_stay_text_and_other_files_are_kept() {
    let (tmp, scanner, _) = scanned_samples();
    let out = tmp.path().join("hostile");
    std::fs::create_dir_all(&out).unwrap();
    let name = out.join("<img src=x onerror=alert(1)>\u{202e}gpj.csv");
    let weather = std::fs::read(common::reserve("telemetry/vega_seattle-weather.csv")).unwrap();
    std::fs::write(&name, &weather[..20_000]).unwrap();
    let inner = common::archive::tar(&[("<script>alert(2)</script>.csv", &weather[..20_000])]);
    std::fs::write(out.join("bundle.tar"), inner).unwrap();
    let reports = scanner.scan_paths(std::slice::from_ref(&out)).unwrap();
    assert!(
        reports.iter().all(|r| r.verdict == Verdict::Match),
        "{reports:?}"
    );
    let dir = tmp.path().join("page");
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("assets/logo.png"), b"theirs").unwrap();
    std::fs::write(dir.join("assets/p0042.png"), b"an old report's").unwrap();
    let written =
        write_html_report(&dir, &scanner, &reports, &HtmlReportOptions::default()).unwrap();
    let html = std::fs::read_to_string(&written.index_html).unwrap();
    assert!(!html.contains("<img src=x"), "file name became markup");
    assert!(!html.contains("<script>alert"), "member name became markup");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt;.csv"));
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the page's own script"
    );
    assert_eq!(
        std::fs::read(dir.join("assets/logo.png")).unwrap(),
        b"theirs"
    );
    assert!(!dir.join("assets/p0042.png").exists());
    // A folder whose index.html is someone else's page is refused.
    let theirs = tmp.path().join("site");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("index.html"), "<html>my site</html>").unwrap();
    let refused = write_html_report(&theirs, &scanner, &reports, &HtmlReportOptions::default());
    assert!(refused
        .unwrap_err()
        .to_string()
        .contains("is not a pugmark report"));
    assert_eq!(
        std::fs::read_to_string(theirs.join("index.html")).unwrap(),
        "<html>my site</html>"
    );
    // Nor is one that is not even UTF-8.
    std::fs::write(theirs.join("index.html"), b"\xff\xfe<\x00h\x00").unwrap();
    assert!(write_html_report(&theirs, &scanner, &reports, &HtmlReportOptions::default()).is_err());
    // Written again over its own report, it is replaced.
    write_html_report(&dir, &scanner, &reports, &HtmlReportOptions::default()).unwrap();
}

#[test]
fn a_window_preview_equals_the_protected_raster_there() {
    let dem = std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap();
    let window = std::fs::read(common::samples().join("outgoing/dem-window-64x64.tif")).unwrap();
    let whole = preview(&dem, Kind::Tiff, 1 << 24, 4096).unwrap();
    let part = preview(&window, Kind::Tiff, 1 << 24, 4096).unwrap();
    assert_eq!((whole.step, part.step), (1, 1));
    assert_eq!((part.cols, part.rows), (64, 64));
    for r in 0..64 {
        let theirs = &whole.bands[0][(30 + r) * whole.cols + 20..][..64];
        assert_eq!(&part.bands[0][r * 64..][..64], theirs, "row {r}");
    }
    // A smaller preview samples every step-th value of every step-th row.
    let small = preview(&dem, Kind::Tiff, 1 << 24, 64).unwrap();
    assert!(small.cols <= 64 && small.rows <= 64 && small.step > 1);
    for r in 0..small.rows {
        for c in 0..small.cols {
            let at = r * small.step * whole.cols + c * small.step;
            assert_eq!(small.bands[0][r * small.cols + c], whole.bands[0][at]);
        }
    }
    // NetCDF (rows stored bottom-up) previews the same window.
    let nc = std::fs::read(common::samples().join("outgoing/dem-window-model-input.nc")).unwrap();
    let from_nc = preview(&nc, Kind::Hdf5, 1 << 24, 4096).unwrap();
    assert_eq!(from_nc.bands[0], part.bands[0]);
}

#[test]
fn kept_rows_carry_the_hashes_the_records_signal_stores() {
    for (file, kind) in [
        ("telemetry/vega_seattle-weather.csv", Kind::Table),
        ("telemetry/pvlib_surfrad-slv16001.dat", Kind::Table),
        ("telemetry/cerknicko-jezero.gpx", Kind::Gpx),
    ] {
        let data = std::fs::read(common::reserve(file)).unwrap();
        let (fp, _) = records::fingerprint(kind, &data).unwrap();
        let rows = record_rows(kind, &data, usize::MAX, &|_| true).unwrap();
        let kept: HashSet<u64> = rows.iter().map(|r| r.hash).collect();
        assert!(fp.hashes.iter().all(|h| kept.contains(h)), "{file}");
        // Every kept row is a stored record unless repeated (boilerplate).
        let stored: HashSet<u64> = fp.hashes.iter().copied().collect();
        let repeated = rows.iter().filter(|r| !stored.contains(&r.hash)).count();
        assert!(
            repeated * 50 < rows.len(),
            "{file}: {repeated} of {}",
            rows.len()
        );
        assert!(rows.windows(2).all(|w| w[0].number < w[1].number));
    }
    // Rows repeated more than three times are boilerplate the signal does
    // not store, so they are not kept either.
    let mut table = String::from("station,t,p\n");
    for _ in 0..4 {
        table.push_str("A,1.5,1000\n");
    }
    for _ in 0..3 {
        table.push_str("B,2.5,1001\n");
    }
    table.push_str("C,3.5,1002\n");
    let rows = record_rows(Kind::Table, table.as_bytes(), usize::MAX, &|_| true).unwrap();
    let firsts: Vec<&str> = rows.iter().map(|r| r.fields[0].as_str()).collect();
    assert_eq!(firsts, ["B", "B", "B", "C"]);
    // The first weather record as written.
    let data = std::fs::read(common::reserve("telemetry/vega_seattle-weather.csv")).unwrap();
    let rows = record_rows(Kind::Table, &data, 2, &|_| true).unwrap();
    assert_eq!(rows.len(), 2);
    // Only the rows asked for are kept.
    let second = rows[1].hash;
    let only = record_rows(Kind::Table, &data, usize::MAX, &|h| h == second).unwrap();
    assert_eq!(only, [rows[1].clone()]);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].fields,
        ["2012/01/01", "0.0", "12.8", "5.0", "4.7", "drizzle"]
    );
}

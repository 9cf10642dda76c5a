//! The raster signal on real GeoTIFFs: every lossless GDAL variant of a
//! DEM has the same canonical samples, a cut-out window is found at its
//! offset, lossy and resampled copies match perceptually, band subsets and
//! windows of a 6-band Landsat scene match, an ASCII-grid export matches
//! its TIFF, different rasters stay apart, and hostile TIFFs are
//! `incomplete` without panics.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use pugmark::fingerprint::raster::{self, grid};
use pugmark::{Evidence, FingerprintParams, Report, Scanner, Verdict};
use tiff::encoder::{colortype, TiffEncoder};

/// The outgoing side without an index: every informative block.
const OUTGOING: raster::AnchorChoice = raster::AnchorChoice::Every(None);

/// The raster fingerprint of TIFF bytes.
fn tiff_fp(
    data: &[u8],
    params: &FingerprintParams,
    anchors: &raster::AnchorChoice,
) -> raster::RasterFp {
    raster::fingerprint(data, pugmark::sniff::Kind::Tiff, params, anchors, 1 << 30).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/raster")
        .join(name)
}

fn originals() -> Vec<(String, PathBuf)> {
    [
        ("rmnp-dem.tif", common::reserve("rasters/rmnp-dem.tif")),
        ("rmnp-rgb.tif", common::reserve("rasters/rmnp-rgb.tif")),
        ("L7_ETMs.tif", common::reserve("rasters/L7_ETMs.tif")),
        ("slope.tif", fixture("slope.tif")),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p))
    .collect()
}

fn index_originals() -> (tempfile::TempDir, Scanner) {
    let items: Vec<(String, Vec<u8>)> = originals()
        .into_iter()
        .map(|(n, p)| (n, std::fs::read(p).unwrap()))
        .collect();
    common::index_items(11, &items)
}

/// The raster evidence for `name`, if any.
fn raster_hit<'a>(report: &'a Report, name: &str) -> Option<&'a Evidence> {
    report
        .evidence
        .iter()
        .find(|e| matches!(e, Evidence::Raster { .. }) && e.protected() == name)
}

fn method(e: &Evidence) -> &str {
    match e {
        Evidence::Raster { method, .. } => method,
        _ => "",
    }
}

#[test]
fn lossless_gdal_variants_have_the_same_samples() {
    let params = FingerprintParams::with_seed(11);
    let original = std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap();
    let base = tiff_fp(&original, &params, &OUTGOING);
    assert_eq!((base.width, base.height, base.bands.len()), (152, 187, 1));
    assert_eq!(base.geo.nodata, Some(65535.0));
    assert_eq!(base.geo.epsg, Some(4326));
    let (_tmp, scanner) = index_originals();
    for variant in [
        "none",
        "deflate",
        "lzw_pred2",
        "zstd",
        "tiled64_deflate",
        "cog",
        "bigtiff",
        "float32",
        "float32_pred3",
        "ovr",
    ] {
        let data = std::fs::read(fixture(&format!("rmnp-dem_{variant}.tif"))).unwrap();
        let fp = tiff_fp(&data, &params, &OUTGOING);
        assert_eq!(
            fp.digest, base.digest,
            "{variant}: canonical samples differ"
        );
        let report = scanner.scan_bytes(variant, &data);
        let hit =
            raster_hit(&report, "rmnp-dem.tif").unwrap_or_else(|| panic!("{variant}: {report:?}"));
        assert_eq!(method(hit), "identical", "{variant}");
    }
    // LERC is a compression the decoder lacks: said, never clean.
    let report = scanner.scan_path(&fixture("rmnp-dem_lerc.tif"));
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert_eq!(report.reasons[0].code, "raster.unsupported");
}

#[test]
fn window_and_lossy_copies_match() {
    let (_tmp, scanner) = index_originals();
    let report = scanner.scan_path(&fixture("rmnp-dem_crop_64x64.tif"));
    match raster_hit(&report, "rmnp-dem.tif") {
        Some(Evidence::Raster {
            method,
            offset,
            outgoing_fraction,
            ..
        }) => {
            assert_eq!(method, "window");
            assert_eq!(*offset, Some([30, 20]), "gdal -srcwin 20 30");
            assert!(*outgoing_fraction > 0.5);
        }
        other => panic!("{other:?} in {report:?}"),
    }
    for (file, protected) in [
        ("rmnp-dem_half.tif", "rmnp-dem.tif"),
        ("rmnp-dem_utm13n.tif", "rmnp-dem.tif"),
        ("rmnp-rgb_jpeg_ycbcr.tif", "rmnp-rgb.tif"),
    ] {
        let report = scanner.scan_path(&fixture(file));
        let hit = raster_hit(&report, protected).unwrap_or_else(|| panic!("{file}: {report:?}"));
        assert_eq!(method(hit), "perceptual", "{file}");
    }
}

/// Decoded Landsat bands (6 x 349 x 352, u8).
fn landsat() -> grid::Grid {
    grid::decode_tiff(
        &std::fs::read(common::reserve("rasters/L7_ETMs.tif")).unwrap(),
        1 << 30,
    )
    .unwrap()
}

fn gray_tiff(width: usize, height: usize, samples: &[u8]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .write_image::<colortype::Gray8>(width as u32, height as u32, samples)
        .unwrap();
    out.into_inner()
}

fn window(g: &grid::Grid, band: usize, row: usize, col: usize, w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h);
    for r in row..row + h {
        out.extend(
            g.bands[band][r * g.width + col..r * g.width + col + w]
                .iter()
                .map(|&v| v as u8),
        );
    }
    out
}

#[test]
fn landsat_band_subsets_and_windows_match() {
    let g = landsat();
    assert_eq!((g.width, g.height, g.bands.len()), (349, 352, 6));
    let (_tmp, scanner) = index_originals();

    // Bands 4, 3, 2 (0-based 3, 2, 1) as an RGB picture-like TIFF.
    let mut rgb = Vec::with_capacity(g.width * g.height * 3);
    for i in 0..g.width * g.height {
        rgb.extend([3, 2, 1].iter().map(|&b| g.bands[b][i] as u8));
    }
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .write_image::<colortype::RGB8>(g.width as u32, g.height as u32, &rgb)
        .unwrap();
    let report = scanner.scan_bytes("bands-432.tif", &out.into_inner());
    match raster_hit(&report, "L7_ETMs.tif") {
        Some(Evidence::Raster { method, bands, .. }) => {
            assert_eq!(method, "bands");
            let mut bands = bands.clone();
            bands.sort();
            assert_eq!(bands, vec![[0, 3], [1, 2], [2, 1]]);
        }
        other => panic!("{other:?} in {report:?}"),
    }

    // One band alone.
    let band5: Vec<u8> = g.bands[5].iter().map(|&v| v as u8).collect();
    let report = scanner.scan_bytes("band6.tif", &gray_tiff(g.width, g.height, &band5));
    assert_eq!(method(raster_hit(&report, "L7_ETMs.tif").unwrap()), "bands");

    // Windows at odd offsets, down to 32 x 32.
    for (band, row, col, w, h) in [
        (2, 100, 77, 48, 40),
        (0, 13, 250, 32, 32),
        (5, 300, 3, 64, 33),
    ] {
        let report = scanner.scan_bytes(
            "window.tif",
            &gray_tiff(w, h, &window(&g, band, row, col, w, h)),
        );
        match raster_hit(&report, "L7_ETMs.tif") {
            Some(Evidence::Raster {
                method,
                offset,
                bands,
                ..
            }) => {
                assert_eq!(method, "window");
                assert_eq!(
                    *offset,
                    Some([row as i64, col as i64]),
                    "window {w}x{h} at {row},{col}"
                );
                assert_eq!(bands[0][1] as usize, band);
            }
            other => panic!("window {w}x{h} at {row},{col}: {other:?} in {report:?}"),
        }
    }
}

#[test]
fn ascii_grid_export_matches_its_tiff() {
    let data = std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap();
    let g = grid::decode_tiff(&data, 1 << 30).unwrap();
    // What GDAL's AAIGrid driver writes: a header, then rows of numbers.
    let mut asc = format!(
        "ncols        {}\nnrows        {}\nxllcorner    -105.5\nyllcorner    40.2\ncellsize     0.000277\nNODATA_value 65535\n",
        g.width, g.height
    );
    for row in g.bands[0].chunks(g.width) {
        let line: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        asc.push(' ');
        asc.push_str(&line.join(" "));
        asc.push('\n');
    }
    let (_tmp, scanner) = index_originals();
    let report = scanner.scan_bytes("rmnp-dem.asc", asc.as_bytes());
    assert_eq!(report.kind, Some(pugmark::sniff::Kind::AsciiGrid));
    let hit = raster_hit(&report, "rmnp-dem.tif").unwrap_or_else(|| panic!("{report:?}"));
    assert_eq!(method(hit), "identical");
}

/// The first band of a TIFF re-encoded as Float32 samples, so the exact
/// digest cannot answer and only the raster signal can.
fn as_float32_tiff(data: &[u8]) -> Vec<u8> {
    let g = grid::decode_tiff(data, 1 << 30).unwrap();
    let samples: Vec<f32> = g.bands[0].iter().map(|&v| v as f32).collect();
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .write_image::<colortype::Gray32Float>(g.width as u32, g.height as u32, &samples)
        .unwrap();
    out.into_inner()
}

#[test]
fn different_rasters_stay_apart() {
    let (_tmp, scanner) = index_originals();
    for (name, path) in originals() {
        // Re-encode each original so the exact digest cannot answer.
        let report = scanner.scan_bytes(
            "reencoded.tif",
            &as_float32_tiff(&std::fs::read(&path).unwrap()),
        );
        assert_eq!(report.verdict, Verdict::Match, "{name}");
        for e in &report.evidence {
            assert_eq!(e.protected(), name, "{name} also matched {e:?}");
        }
    }
}

#[test]
fn hostile_tiffs_are_incomplete_without_panics() {
    let (_tmp, scanner) = index_originals();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".tif") || name.ends_with(".tiff")) {
            continue;
        }
        seen += 1;
        let started = std::time::Instant::now();
        let report = scanner.scan_path(&path);
        let elapsed = started.elapsed();
        eprintln!(
            "{name}: {:?} {:?} in {elapsed:?}",
            report.verdict,
            report.reasons.iter().map(|r| &r.code).collect::<Vec<_>>()
        );
        assert!(elapsed.as_secs() < 10, "{name} took {elapsed:?}");
        if name == "pillow_hopper_bigtiff.tif" {
            // A valid BigTIFF (the corpus lists it as an edge case, not a
            // broken file): examined, and clean against these rasters.
            assert_eq!(report.verdict, Verdict::Clean, "{report:?}");
            continue;
        }
        if name == "pillow_tiff_wrong_bits_per_sample.tiff" {
            // Its pixels decode, but its StripByteCounts claims 35 MB in an
            // 11 KB file: the structure does not hold together.
            assert_eq!(report.reasons[0].code, "raster.malformed", "{report:?}");
        }
        assert_eq!(report.verdict, Verdict::Incomplete, "{name}: {report:?}");
    }
    assert!(seen >= 9);
}

/// A band exported as an ordinary picture (what `gdal_translate -of PNG`
/// makes of a DEM: 8-bit, stretched) still points at the raster.
#[test]
fn png_export_of_a_band_matches() {
    let data = std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap();
    let g = grid::decode_tiff(&data, 1 << 30).unwrap();
    let valid: Vec<f64> = g.bands[0]
        .iter()
        .copied()
        .filter(|&v| v != 65535.0)
        .collect();
    let lo = valid.iter().copied().fold(f64::MAX, f64::min);
    let hi = valid.iter().copied().fold(f64::MIN, f64::max);
    let pixels: Vec<u8> = g.bands[0]
        .iter()
        .map(|&v| {
            if v == 65535.0 {
                0
            } else {
                ((v - lo) / (hi - lo) * 255.0) as u8
            }
        })
        .collect();
    let img = image::GrayImage::from_raw(g.width as u32, g.height as u32, pixels).unwrap();
    let mut png = Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let (_tmp, scanner) = index_originals();
    let report = scanner.scan_bytes("dem.png", &png.into_inner());
    assert_eq!(report.verdict, Verdict::Match, "{report:?}");
    assert_eq!(report.evidence[0].protected(), "rmnp-dem.tif");
}

/// The wrong way round: ordinary layouts (one strip for the whole image,
/// RowsPerStrip larger than the height) are read fully, so an unrelated
/// raster is `clean`, not `incomplete`; and each matches itself.
#[test]
fn ordinary_strip_layouts_are_read_fully() {
    let (_tmp, scanner) = index_originals();
    for name in [
        "one-strip-4200x4200-u8.tif",
        "rows-per-strip-beyond-height-f32.tif",
    ] {
        let data = std::fs::read(fixture(name)).unwrap();
        let report = scanner.scan_bytes(name, &data);
        assert_eq!(report.verdict, Verdict::Clean, "{name}: {report:#?}");
        if data.len() > 100_000 {
            continue; // the 17-megapixel one: reading it fully is the point
        }
        let (_t, own) = common::index_items(12, &[(name.to_string(), data.clone())]);
        // Re-encoded as float samples: only the raster signal can answer.
        let report = own.scan_bytes("reencoded.tif", &as_float32_tiff(&data));
        assert!(raster_hit(&report, name).is_some(), "{name}: {report:#?}");
    }
}

/// The documented guarantee at its limit: every window of exactly the
/// guaranteed side (32 x 32 with the default parameters), cut out at
/// offsets that are not multiples of the anchor block, from every Landsat
/// band and from the DEM, is reported as a `window` at its exact offset
/// and band whenever it holds an informative block; and almost all do.
#[test]
fn every_window_of_the_guaranteed_size_is_found() {
    let side = FingerprintParams::with_seed(11).raster_guaranteed_window() as usize;
    assert_eq!(side, 32);
    let (_tmp, scanner) = index_originals();
    let params = FingerprintParams::with_seed(11);
    let landsat = landsat();
    let dem = grid::decode_tiff(
        &std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap(),
        1 << 30,
    )
    .unwrap();
    let (mut found, mut without_anchor) = (0, 0);
    let cases = (0..6)
        .map(|b| ("L7_ETMs.tif", &landsat, b))
        .chain([("rmnp-dem.tif", &dem, 0)]);
    for (name, g, band) in cases {
        for row in [1, 37, 90, 155, g.height - side - 3] {
            for col in [3, 45, 101, g.width - side - 1] {
                let data = if name == "rmnp-dem.tif" {
                    let samples: Vec<u16> = (row..row + side)
                        .flat_map(|r| g.bands[band][r * g.width + col..][..side].to_vec())
                        .map(|v| v as u16)
                        .collect();
                    let mut out = Cursor::new(Vec::new());
                    TiffEncoder::new(&mut out)
                        .unwrap()
                        .write_image::<colortype::Gray16>(side as u32, side as u32, &samples)
                        .unwrap();
                    out.into_inner()
                } else {
                    gray_tiff(side, side, &window(g, band, row, col, side, side))
                };
                let fp = tiff_fp(&data, &params, &OUTGOING);
                if fp.anchors.is_empty() {
                    without_anchor += 1;
                    continue;
                }
                let report = scanner.scan_bytes("window.tif", &data);
                match raster_hit(&report, name) {
                    Some(Evidence::Raster {
                        method,
                        offset,
                        bands,
                        ..
                    }) => {
                        assert_eq!(method, "window", "{name} band {band} at {row},{col}");
                        assert_eq!(*offset, Some([row as i64, col as i64]));
                        assert_eq!(bands[0][1] as usize, band);
                        found += 1;
                    }
                    other => panic!("{name} band {band} at {row},{col}: {other:?}"),
                }
            }
        }
    }
    eprintln!("{found} windows found, {without_anchor} without an informative block");
    assert!(
        found >= 130 && without_anchor <= 5,
        "{found} / {without_anchor}"
    );
}

/// The index's filter for the outgoing side never loses a stored anchor
/// (a lost one would lose windows), and the exact lookup behind its bits
/// holds nothing else (the bits alone: `anchor_bits_tests` in the
/// library).
#[test]
fn the_index_filter_holds_every_stored_anchor() {
    use raster::AnchorFilter;
    let (_tmp, scanner) = index_originals();
    let params = FingerprintParams::with_seed(11);
    let mut stored = 0;
    for (name, path) in originals() {
        let data = std::fs::read(path).unwrap();
        let fp = tiff_fp(&data, &params, &raster::AnchorChoice::Stored);
        for a in &fp.anchors {
            assert!(scanner.index().may_hold(a.hash), "{name}: {a:?}");
        }
        stored += fp.anchors.len();
    }
    assert!(stored > 1000, "{stored} anchors");
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let passed = (0..100_000)
        .filter(|_| {
            x = common::splitmix64(x);
            scanner.index().may_hold(x)
        })
        .count();
    assert_eq!(passed, 0, "random hashes held");
}

/// The index stores the cover, not every block: about one anchor per 625
/// samples on these rasters (one per 400 at most), where every
/// informative block would be nearly one per sample.
#[test]
fn the_index_stores_the_cover() {
    let (_tmp, scanner) = index_originals();
    let anchors: usize = scanner
        .index()
        .segments()
        .iter()
        .filter_map(|s| s.table(pugmark::index::table::TableId::RasterAnchors))
        .map(|t| t.len())
        .sum();
    let samples: u64 = originals()
        .into_iter()
        .map(|(_, p)| {
            let g = grid::decode_tiff(&std::fs::read(p).unwrap(), 1 << 30).unwrap();
            (g.width * g.height * g.bands.len()) as u64
        })
        .sum();
    let per = samples as f64 / anchors as f64;
    assert!(
        anchors > 0 && (400.0..2000.0).contains(&per),
        "one anchor per {per} samples ({anchors} anchors)"
    );
}

/// A raster matching many protected copies gives the same report, evidence
/// in the same order, every time (evidence is ordered, never left to a hash
/// map's iteration order).
#[test]
fn reports_are_the_same_every_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut w = pugmark::IndexWriter::open(&dir, pugmark::IndexOptions::default()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    w.add_paths(&[root.join("tests/fixtures/raster")]).unwrap();
    drop(w);
    let scanner = Scanner::open(&dir, pugmark::ScanOptions::default()).unwrap();
    let copy = root.join("data-samples/outgoing/dem-copy.tif");
    let first = serde_json::to_string(&scanner.scan_path(&copy)).unwrap();
    assert!(first.matches("\"identical\"").count() >= 5, "{first}");
    for _ in 0..4 {
        assert_eq!(
            serde_json::to_string(&scanner.scan_path(&copy)).unwrap(),
            first
        );
    }
}

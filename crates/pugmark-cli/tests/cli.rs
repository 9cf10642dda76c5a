//! The `pugmark` binary end to end: the CLI contract other tools rely on
//! (verdicts, JSON Lines, exit codes, verify, incremental indexing).

mod bin;
#[path = "../../../tests/common/mod.rs"]
mod common;

use bin::pugmark;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{copy_reserve, random_bytes, reserve, samples};
use serde_json::Value;

/// A temporary directory with an index of `protected` in it.
fn indexed(protected: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("idx");
    pugmark(&index)
        .arg("index")
        .arg(protected)
        .assert()
        .success();
    (tmp, index)
}

/// Runs a command, checks its exit code and returns its standard output
/// and error as text.
trait RunExpecting {
    fn run_expecting(&mut self, code: i32) -> (String, String);
}

impl RunExpecting for Command {
    fn run_expecting(&mut self, code: i32) -> (String, String) {
        let out = self.assert().code(code).get_output().clone();
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (text(out.stdout), text(out.stderr))
    }
}

/// Runs `scan --json` with extra arguments, checks the exit code and parses
/// the JSON Lines.
fn scan_json(index: &Path, extra: &[&str], target: &Path, code: i32) -> Vec<Value> {
    let out = pugmark(index)
        .args(["scan", "--json"])
        .args(extra)
        .arg(target)
        .assert()
        .code(code)
        .get_output()
        .stdout
        .clone();
    json_lines(&out)
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    std::str::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_name<'a>(reports: &'a [Value], name: &str) -> &'a Value {
    reports
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no report for {name}"))
}

fn signals(report: &Value) -> Vec<String> {
    report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["signal"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn data_samples_give_the_documented_verdicts() {
    let (_tmp, index) = indexed(&samples().join("reserve"));
    let reports = scan_json(&index, &[], &samples().join("outgoing"), 1);
    assert_eq!(reports.len(), 21);
    for r in &reports {
        assert_eq!(r["schema"], 1);
    }
    // Encrypted members cannot be examined: incomplete, never clean.
    let encrypted = by_name(&reports, "encrypted-upload.zip");
    assert_eq!(encrypted["verdict"], "incomplete");
    let codes: Vec<&str> = encrypted["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["container.encrypted", "container.encrypted"]);
    let copy = by_name(&reports, "dem-copy.tif");
    assert_eq!(copy["verdict"], "match");
    assert_eq!(signals(copy), ["exact"]);
    assert!(copy["evidence"][0]["protected"]
        .as_str()
        .unwrap()
        .ends_with("reserve/rasters/rmnp-dem.tif"));

    let bundle = by_name(&reports, "field-report-bundle.bin");
    assert_eq!(bundle["verdict"], "match");
    assert_eq!(signals(bundle), ["chunks"]);
    let ev = &bundle["evidence"][0];
    assert!(ev["protected"].as_str().unwrap().ends_with("L7_ETMs.tif"));
    let matched = ev["matched_bytes"].as_u64().unwrap();
    // Chunks cut across the fragment's edges are lost; the rest is found.
    assert!((65_536..=200_000).contains(&matched), "matched {matched}");
    // The fragment sits at 150000..350000 of the bundle and came from
    // 300000..500000 of the scene: the ranges must say so.
    let out_range = &ev["outgoing_ranges"][0];
    assert!(out_range[0].as_u64().unwrap() >= 150_000 && out_range[1].as_u64().unwrap() <= 350_000);
    let prot_range = &ev["protected_ranges"][0];
    assert!(
        prot_range[0].as_u64().unwrap() >= 300_000 && prot_range[1].as_u64().unwrap() <= 500_000
    );

    let truncated = by_name(&reports, "surfrad-first-60pct.dat");
    assert_eq!(truncated["verdict"], "match");
    assert_eq!(signals(truncated), ["chunks", "records"]);
    let records = &truncated["evidence"][1];
    assert!(records["matched_records"].as_u64().unwrap() > 500);
    assert_eq!(records["outgoing_fraction"], 1.0);
    let frac = truncated["evidence"][0]["protected_fraction"]
        .as_f64()
        .unwrap();
    assert!((0.4..=0.6).contains(&frac), "protected fraction {frac}");

    // Archives made by Info-ZIP and GNU tar: members named by inner path.
    let upload = by_name(&reports, "camera-trap-upload.zip");
    assert_eq!(upload["verdict"], "match");
    assert_eq!(upload["members_examined"], 2);
    let photo = &upload["members"][0];
    assert!(photo["path"]
        .as_str()
        .unwrap()
        .ends_with("camera-trap-upload.zip!IMG_0042.JPG"));
    assert_eq!(signals(photo), ["exact"]);
    let logs = by_name(&reports, "station-logs.tar.gz");
    assert_eq!(logs["verdict"], "match");
    let tar = &logs["members"][0];
    assert!(tar["path"]
        .as_str()
        .unwrap()
        .ends_with("station-logs.tar.gz!station-logs.tar"));
    let inner: Vec<(&str, Vec<String>)> = tar["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["path"].as_str().unwrap(), signals(m)))
        .collect();
    assert!(
        inner
            .iter()
            .any(|(p, s)| p.ends_with("!logs/week-summary.csv") && s == &["records"]),
        "{inner:?}"
    );
    assert!(
        inner
            .iter()
            .any(|(p, s)| p.ends_with("!logs/track-2026-11-28.gpx") && s == &["exact"]),
        "{inner:?}"
    );

    assert_eq!(by_name(&reports, "patrol-notes.txt")["verdict"], "clean");
    // Documents and mail: the member that leaked is named.
    let member_signals = |name: &str| -> Vec<(String, String)> {
        let r = by_name(&reports, name);
        assert_eq!(r["verdict"], "match", "{name}");
        r["members"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| {
                let path = m["path"]
                    .as_str()
                    .unwrap()
                    .rsplit('!')
                    .next()
                    .unwrap()
                    .to_string();
                signals(m).into_iter().map(move |s| (path.clone(), s))
            })
            .collect()
    };
    assert!(member_signals("field-photo.pdf").contains(&("image/5.jpg".into(), "image".into())));
    assert!(member_signals("dem-map.pdf").contains(&("image/10.tif".into(), "raster".into())));
    assert!(
        member_signals("station-table.xlsx").contains(&("sheet/Sheet1".into(), "records".into()))
    );
    let mail = member_signals("mail-to-press.eml");
    assert!(
        mail.contains(&("attachment/pillow_flower.jpg".into(), "exact".into())),
        "{mail:?}"
    );
    assert!(
        mail.contains(&("attachment/week-summary.csv".into(), "records".into())),
        "{mail:?}"
    );
    // Scientific formats: a window of the DEM as compressed NetCDF-4, the
    // station log as an xarray NetCDF-4 series.
    let nc = by_name(&reports, "dem-window-model-input.nc");
    assert_eq!(signals(nc), ["raster"]);
    assert_eq!(nc["evidence"][0]["method"], "window");
    assert_eq!(signals(by_name(&reports, "station-series.nc")), ["records"]);
    // An innocent archive in a wrapper is opened and clean.
    assert_eq!(
        by_name(&reports, "notes-archive.tar.xz")["verdict"],
        "clean"
    );
    // An unrelated picture is examined by the image signal and is clean.
    assert_eq!(by_name(&reports, "skimage_horse.png")["verdict"], "clean");
    // Re-encoded, resized and mirrored; rotated and framed: image matches.
    let cat = by_name(&reports, "cat-photo-for-newsletter.jpg");
    assert_eq!(cat["verdict"], "match");
    assert_eq!(signals(cat), ["image"]);
    assert!(cat["evidence"][0]["protected"]
        .as_str()
        .unwrap()
        .ends_with("skimage_chelsea.png"));
    assert_eq!(cat["evidence"][0]["variant"], "flipy");
    assert!(cat["evidence"][0]["distance"].as_u64().unwrap() <= 31);
    let flower = by_name(&reports, "flower-framed.png");
    assert_eq!(flower["verdict"], "match");
    assert_eq!(signals(flower), ["image"]);
    assert!(flower["evidence"][0]["protected"]
        .as_str()
        .unwrap()
        .ends_with("pillow_flower.jpg"));
    // Rasters: same samples in another type, a window, a lossy copy.
    let raster = |name: &str| {
        let r = by_name(&reports, name);
        assert_eq!(r["verdict"], "match", "{name}");
        assert_eq!(signals(r), ["raster"], "{name}");
        r["evidence"][0].clone()
    };
    let widened = raster("dem-as-float32.tif");
    assert_eq!(widened["method"], "identical");
    assert!(widened["protected"]
        .as_str()
        .unwrap()
        .ends_with("rmnp-dem.tif"));
    let window = raster("dem-window-64x64.tif");
    assert_eq!(window["method"], "window");
    assert_eq!(window["offset"], serde_json::json!([30, 20]));
    assert_eq!(window["protected_geo"]["epsg"], 4326);
    assert_eq!(window["protected_geo"]["nodata"], 65535.0);
    let lossy = raster("landsat-rgb-jpeg.tif");
    assert_eq!(lossy["method"], "perceptual");
    assert!(lossy["protected"]
        .as_str()
        .unwrap()
        .ends_with("rmnp-rgb.tif"));
    // Unrelated telemetry: examined record by record, clean.
    assert_eq!(
        by_name(&reports, "statsmodels_co2_maunaloa.csv")["verdict"],
        "clean"
    );
}

/// The acceptance scenario: an exact copy, a 200 KB fragment inside
/// 10 MB of other data, the first 60% of a protected file, unrelated data.
#[test]
fn exact_fragment_truncation_and_unrelated() {
    let tmp = tempfile::tempdir().unwrap();
    let protected = tmp.path().join("protected");
    copy_reserve(&protected);
    let outgoing = tmp.path().join("outgoing");
    std::fs::create_dir_all(&outgoing).unwrap();

    let scene = std::fs::read(reserve("rasters/L7_ETMs.tif")).unwrap();
    let gpx = std::fs::read(reserve("telemetry/cerknicko-jezero.gpx")).unwrap();
    std::fs::write(outgoing.join("copy.gpx"), &gpx).unwrap();
    let mut big = random_bytes(1, 10 << 20);
    big.splice(
        4_000_000..4_200_000,
        scene[100_000..300_000].iter().copied(),
    );
    std::fs::write(outgoing.join("big.bin"), &big).unwrap();
    std::fs::write(outgoing.join("head.tif"), &scene[..scene.len() * 6 / 10]).unwrap();
    std::fs::write(outgoing.join("noise.bin"), random_bytes(2, 3 << 20)).unwrap();

    let index = tmp.path().join("idx");
    pugmark(&index)
        .arg("index")
        .arg(&protected)
        .assert()
        .success();
    let reports = scan_json(&index, &["--threads", "2"], &outgoing, 1);
    let copy = by_name(&reports, "copy.gpx");
    assert_eq!(copy["verdict"], "match");
    assert_eq!(signals(copy), ["exact"]);

    let big = by_name(&reports, "big.bin");
    assert_eq!(big["verdict"], "match");
    assert_eq!(signals(big), ["chunks"]);
    let matched = big["evidence"][0]["matched_bytes"].as_u64().unwrap();
    assert!(matched >= 65_536, "only {matched} of 200000 bytes found");

    let head = by_name(&reports, "head.tif");
    assert_eq!(head["verdict"], "match");
    assert_eq!(signals(head), ["chunks"]);
    assert!(head["evidence"][0]["matched_bytes"].as_u64().unwrap() >= 400_000);

    let noise = by_name(&reports, "noise.bin");
    assert_eq!(noise["verdict"], "clean");
    assert!(noise["evidence"].as_array().unwrap().is_empty());
}

#[test]
fn exit_codes_follow_the_contract() {
    let (tmp, index) = indexed(&reserve("telemetry"));
    let clean = tmp.path().join("clean.bin");
    std::fs::write(&clean, random_bytes(3, 100_000)).unwrap();
    pugmark(&index).arg("scan").arg(&clean).assert().code(0);
    // Incomplete: a GPX track, which the records signal does not read yet.
    let gpx = tmp.path().join("track.gpx");
    std::fs::write(
        &gpx,
        "<?xml version=\"1.0\"?>\n<gpx version=\"1.1\"><trk><trkseg/></trk></gpx>\n",
    )
    .unwrap();
    pugmark(&index).arg("scan").arg(&gpx).assert().code(3);
    // Error: a path that does not exist (and it outranks incomplete).
    pugmark(&index)
        .arg("scan")
        .arg(tmp.path().join("missing"))
        .arg(&gpx)
        .assert()
        .code(2);
    // Match outranks everything.
    pugmark(&index)
        .arg("scan")
        .arg(tmp.path().join("missing"))
        .arg(reserve("telemetry/cerknicko-jezero.gpx"))
        .assert()
        .code(1);
}

#[test]
fn usage_and_index_errors_exit_2_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-index");
    let out = pugmark(&missing)
        .arg("scan")
        .arg(reserve("photos"))
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no pugmark index"));
    // A cause is said once, not once by the error and again as its source.
    let out = pugmark(&tmp.path().join("idx"))
        .arg("index")
        .arg(tmp.path().join("nonexistent"))
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.matches("(os error").count(), 1, "{stderr}");
    pugmark(&missing).arg("verify").assert().code(2);
    pugmark(&missing).arg("stats").assert().code(2);
    Command::cargo_bin("pugmark")
        .unwrap()
        .arg("scan")
        .assert()
        .code(2);
    Command::cargo_bin("pugmark")
        .unwrap()
        .arg("frobnicate")
        .assert()
        .code(2);
}

#[test]
fn flipped_byte_fails_verify_and_scan_exits_2() {
    let (_tmp, index) = indexed(&reserve("rasters"));
    pugmark(&index).arg("verify").assert().success();
    let segment = std::fs::read_dir(&index)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pgs"))
        .unwrap();
    let original = std::fs::read(&segment).unwrap();
    // Flip a byte in the header, the catalogue, a table and the footer.
    for pos in [
        10,
        original.len() / 3,
        original.len() / 2,
        original.len() - 45,
        original.len() - 3,
    ] {
        let mut damaged = original.clone();
        damaged[pos] ^= 0x40;
        std::fs::write(&segment, &damaged).unwrap();
        let out = pugmark(&index)
            .arg("verify")
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("seg-"),
            "verify must name the file: {stderr}"
        );
        pugmark(&index)
            .arg("scan")
            .arg(samples().join("outgoing/dem-copy.tif"))
            .assert()
            .code(2);
    }
    std::fs::write(&segment, &original).unwrap();
    pugmark(&index).arg("verify").assert().success();

    // The manifest is checksummed too.
    let manifest = index.join("MANIFEST");
    let text = std::fs::read(&manifest).unwrap();
    let mut damaged = text.clone();
    damaged[20] ^= 0x01;
    std::fs::write(&manifest, &damaged).unwrap();
    pugmark(&index).arg("verify").assert().code(2);
    pugmark(&index)
        .arg("scan")
        .arg(samples().join("outgoing/dem-copy.tif"))
        .assert()
        .code(2);
}

#[test]
fn second_index_run_skips_unchanged_and_replaces_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let protected = tmp.path().join("protected");
    copy_reserve(&protected);
    let index = tmp.path().join("idx");
    let summary = |args: &[&str]| -> Value {
        let out = pugmark(&index)
            .arg("index")
            .arg("--json")
            .args(args)
            .arg(&protected)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    let first = summary(&[]);
    assert_eq!(first["indexed_files"], 8);
    let second = summary(&[]);
    assert_eq!(second["indexed_files"], 0);
    assert_eq!(second["unchanged_files"], 8);
    assert_eq!(second["segments_written"], 0);

    // Change one protected file: it is re-indexed, its old version retired.
    let csv = protected.join("telemetry/vega_seattle-weather.csv");
    let old = std::fs::read(&csv).unwrap();
    let mut new = random_bytes(9, 200_000);
    new.extend_from_slice(b"\n");
    std::fs::write(&csv, &new).unwrap();
    let third = summary(&[]);
    assert_eq!(third["indexed_files"], 1);
    assert_eq!(third["replaced_files"], 1);

    let old_copy = tmp.path().join("old.csv");
    std::fs::write(&old_copy, &old).unwrap();
    let new_copy = tmp.path().join("new.bin");
    std::fs::write(&new_copy, &new).unwrap();
    pugmark(&index).arg("scan").arg(&new_copy).assert().code(1);
    // The superseded version no longer matches (its records are retired
    // with it).
    pugmark(&index).arg("scan").arg(&old_copy).assert().code(0);

    let stats: Value = serde_json::from_slice(
        &pugmark(&index)
            .args(["stats", "--json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(stats["items"], 8);
    assert_eq!(stats["superseded_items"], 1);
    assert_eq!(stats["segments"], 2);
    pugmark(&index).arg("verify").assert().success();

    // Other chunk sizes on an existing index are refused.
    pugmark(&index)
        .args(["index", "--chunk-avg", "8192"])
        .arg(&protected)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("other fingerprint parameters"));
}

#[test]
fn stdin_stream_is_scanned() {
    let (_tmp, index) = indexed(&reserve("rasters"));
    let scene = std::fs::read(reserve("rasters/L7_ETMs.tif")).unwrap();
    let out = pugmark(&index)
        .args(["scan", "--json", "-"])
        .write_stdin(scene[..500_000].to_vec())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let reports = json_lines(&out);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["path"], "-");
    assert_eq!(signals(&reports[0]), ["chunks"]);
    // A compressed stream's content, having no file name to take one
    // from, is named for what it is.
    // (Members are listed when they hold findings: the tar holds a
    // protected track.)
    let (_tmp, telemetry) = indexed(&reserve("telemetry"));
    let gz = std::fs::read(samples().join("outgoing/station-logs.tar.gz")).unwrap();
    let out = pugmark(&telemetry)
        .args(["scan", "--json", "-"])
        .write_stdin(gz)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let reports = json_lines(&out);
    assert_eq!(reports[0]["members"][0]["path"], "-!decompressed");
}

#[cfg(unix)]
#[test]
fn symlinks_met_walking_are_reported_named_ones_followed() {
    let (tmp, index) = indexed(&reserve("telemetry"));
    let outgoing = tmp.path().join("out");
    std::fs::create_dir_all(&outgoing).unwrap();
    std::os::unix::fs::symlink(
        reserve("telemetry/cerknicko-jezero.gpx"),
        outgoing.join("link.gpx"),
    )
    .unwrap();
    let reports = scan_json(&index, &[], &outgoing, 3);
    assert_eq!(reports[0]["reasons"][0]["code"], "source.symlink");
    pugmark(&index)
        .args(["scan", "--follow-symlinks"])
        .arg(&outgoing)
        .assert()
        .code(1);
    // Named on the command line, the link is followed, and listed once even
    // when its folder is scanned too.
    let link = outgoing.join("link.gpx");
    let reports = scan_json(&index, &[], &link, 1);
    assert_eq!(signals(&reports[0]), ["exact"]);
    let out = pugmark(&index)
        .args(["scan", "--json"])
        .arg(&link)
        .arg(&outgoing)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let reports = json_lines(&out);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["verdict"], "match");
    // The library does not follow a named link unless asked: a gateway's
    // paths come from clients, who could swap a checked path for a link.
    let scanner = pugmark::Scanner::open(&index, pugmark::ScanOptions::default()).unwrap();
    let reports = scanner.scan_paths(std::slice::from_ref(&link)).unwrap();
    assert_eq!(reports[0].verdict, pugmark::Verdict::Incomplete);
    assert_eq!(reports[0].reasons[0].code, "source.symlink");
    // `index` follows a named link too.
    let other = tmp.path().join("idx2");
    pugmark(&other).arg("index").arg(&link).assert().success();
    let stats = pugmark(&other)
        .args(["stats", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stats: Value = serde_json::from_slice(&stats).unwrap();
    assert_eq!(stats["items"], 1);
}

/// A link named on the command line whose target is a FIFO or a device,
/// missing, or a loop of links is never clean: the special file is not
/// read (`incomplete`), the others cannot be read (`error`); `index` lists
/// each as skipped and exits 3.
#[test]
fn named_links_to_special_missing_or_looping_targets_are_never_clean() {
    let (tmp, index) = indexed(&reserve("telemetry"));
    let dir = tmp.path().join("links");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let link = |name: &str, target: &Path| {
        std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
        dir.join(name)
    };
    let cases = [
        (
            link("to-fifo", &fifo),
            "incomplete",
            3,
            "source.special_file",
        ),
        (
            link("to-null", Path::new("/dev/null")),
            "incomplete",
            3,
            "source.special_file",
        ),
        (
            link("broken", &dir.join("missing")),
            "error",
            2,
            "No such file",
        ),
        (
            link("loop-a", &dir.join("loop-b")),
            "error",
            2,
            "Too many levels",
        ),
    ];
    link("loop-b", &dir.join("loop-a"));
    for (path, verdict, code, says) in &cases {
        let reports = scan_json(&index, &[], path, *code);
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0]["verdict"], *verdict, "{path:?}");
        assert!(reports[0].to_string().contains(says), "{:?}", reports[0]);
        let other = tmp.path().join(format!(
            "idx-{}",
            path.file_name().unwrap().to_string_lossy()
        ));
        // Nothing else to index: the new index is empty, which fails.
        let (out, err) = pugmark(&other).arg("index").arg(path).run_expecting(2);
        assert!(out.contains("skipped 1 path:"), "{out}");
        assert!(err.contains("holds no protected items"), "{err}");
        // Beside a real file, the skip is reported and exits 3.
        let mixed = tmp.path().join(format!(
            "idx-mixed-{}",
            path.file_name().unwrap().to_string_lossy()
        ));
        pugmark(&mixed)
            .arg("index")
            .arg(path)
            .arg(reserve("telemetry/cerknicko-jezero.gpx"))
            .run_expecting(3);
    }
}

#[test]
fn fingerprint_shows_digest_and_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let file = reserve("rasters/L7_ETMs.tif");
    let out = pugmark(&tmp.path().join("none"))
        .args(["fingerprint", "--json"])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let expected = blake3::hash(&std::fs::read(&file).unwrap())
        .to_hex()
        .to_string();
    assert_eq!(v["digest"], expected);
    assert_eq!(v["kind"], "tiff");
    assert!(v["chunks"].as_u64().unwrap() > 10);
    assert_eq!(v["params"]["gear_seed"], "secret");
}

/// `fingerprint -` reads standard input, as `scan -` does, and gives what
/// fingerprinting the file gives; `-` twice is refused.
#[test]
fn fingerprint_reads_standard_input() {
    let tmp = tempfile::tempdir().unwrap();
    let file = reserve("telemetry/cerknicko-jezero.gpx");
    let fingerprint = |stdin: Option<Vec<u8>>| {
        let mut cmd = pugmark(&tmp.path().join("none"));
        cmd.args(["fingerprint", "--json"]);
        match stdin {
            Some(data) => cmd.arg("-").write_stdin(data),
            None => cmd.arg(&file),
        };
        let out = cmd.assert().success().get_output().stdout.clone();
        serde_json::from_slice::<Value>(&out).unwrap()
    };
    pugmark(&tmp.path().join("none"))
        .args(["fingerprint", "-", "-"])
        .write_stdin("a,b\n1,2\n")
        .assert()
        .code(2);
    let piped = fingerprint(Some(std::fs::read(&file).unwrap()));
    let named = fingerprint(None);
    assert_eq!(piped["path"], "-");
    assert_eq!(piped["kind"], "gpx");
    for field in ["kind", "size", "digest", "chunks", "matchable_bytes"] {
        assert_eq!(piped[field], named[field], "{field}");
    }
}

/// Counts agree with their nouns (`1 file`, `1 item`, `2 items`).
#[test]
fn summaries_say_one_item_not_one_items() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("idx");
    let file = reserve("telemetry/cerknicko-jezero.gpx");
    let out = pugmark(&index).arg("index").arg(&file).run_expecting(0).0;
    assert!(out.starts_with("indexed 1 file ("), "{out}");
    assert!(out.contains("unchanged (skipped): 0 files ("), "{out}");
    let scanned = |targets: &[&Path]| {
        let out = pugmark(&index).arg("scan").args(targets).run_expecting(1).1;
        out
    };
    let one = scanned(&[&file]);
    assert!(one.starts_with("1 item: 1 match"), "{one}");
    let two = scanned(&[&file, &reserve("telemetry/vega_seattle-weather.csv")]);
    assert!(two.starts_with("2 items: 1 match"), "{two}");
}

/// `scan --report DIR` writes the evidence report and says where; the
/// protected side is only shown with `--report-protected-thumbnails`,
/// which needs `--report`.
#[test]
fn scan_writes_the_evidence_report_where_asked() {
    let (tmp, index) = indexed(&samples().join("reserve"));
    let dir = tmp.path().join("report");
    let outgoing = samples().join("outgoing");
    let (table, summary) = pugmark(&index)
        .args(["scan", "--quiet", "--report"])
        .arg(&dir)
        .arg(&outgoing)
        .run_expecting(1);
    assert!(table.starts_with("VERDICT"), "{table}");
    let page = dir.join("index.html");
    assert!(
        summary.contains(&format!(
            "evidence report: {} (17 cards, 9 pictures)",
            page.display()
        )),
        "{summary}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("--report-protected-thumbnails"),
        "says what is left out"
    );
    assert!(html.contains("<img src=\"assets/robustness.svg\""));
    pugmark(&index)
        .args(["scan", "--report-protected-thumbnails"])
        .arg(&outgoing)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--report <DIR>"));
    let (_, summary) = pugmark(&index)
        .args(["scan", "--report-protected-thumbnails", "--report"])
        .arg(&dir)
        .arg(&outgoing)
        .run_expecting(1);
    // The protected picture beside each of the 8 outgoing ones.
    assert!(summary.contains("(17 cards, 17 pictures)"), "{summary}");
    // A report that cannot be written is an error, but never hides a match.
    let blocked = tmp.path().join("a-file");
    std::fs::write(&blocked, b"x").unwrap();
    for (file, code) in [("patrol-notes.txt", 2), ("dem-copy.tif", 1)] {
        let (_, err) = pugmark(&index)
            .args(["scan", "--report"])
            .arg(&blocked)
            .arg(outgoing.join(file))
            .run_expecting(code);
        assert!(
            err.contains("the evidence report was not written: reading "),
            "{err}"
        );
    }
}

/// `scan --explain` says in words what matched, what was not examined,
/// what that means and what to do; it cannot be combined with `--json`.
#[test]
fn explain_prints_evidence_and_remedies_in_words() {
    let (_tmp, index) = indexed(&samples().join("reserve"));
    let outgoing = samples().join("outgoing");
    let (text, _) = pugmark(&index)
        .args(["scan", "--explain"])
        .arg(outgoing.join("encrypted-upload.zip"))
        .arg(outgoing.join("dem-window-64x64.tif"))
        .arg(outgoing.join("patrol-notes.txt"))
        .run_expecting(1);
    assert!(
        text.contains("encrypted-upload.zip (zip): INCOMPLETE"),
        "{text}"
    );
    assert!(
        text.contains("what to do: Ask the sender for the password"),
        "{text}"
    );
    assert_eq!(
        text.matches("what it means:").count(),
        1,
        "once per code: {text}"
    );
    assert!(
        text.contains("Its first sample lies at row 30, column 20 of the protected raster."),
        "{text}"
    );
    assert!(
        text.contains("patrol-notes.txt (text): CLEAN — was fully examined and nothing matched."),
        "{text}"
    );
    pugmark(&index)
        .args(["scan", "--explain", "--json"])
        .arg(&outgoing)
        .assert()
        .code(2);
}

/// A fraction outside 0..=1 is refused with a message that says what a
/// fraction is, instead of silently matching nothing.
#[test]
fn fraction_options_are_validated() {
    let (_tmp, index) = indexed(&reserve("telemetry"));
    for bad in ["7", "-0.1", "half"] {
        let out = pugmark(&index)
            .arg("scan")
            .arg(format!("--min-fraction={bad}"))
            .arg(reserve("telemetry"))
            .run_expecting(2)
            .1;
        let stderr = out;
        assert!(stderr.contains("--min-fraction"), "{bad}: {stderr}");
    }
    let out = pugmark(&index)
        .args(["scan", "--min-fraction", "7"])
        .arg(reserve("telemetry"))
        .run_expecting(2)
        .1;
    assert!(out.contains("from 0 to 1"));
    pugmark(&index)
        .args(["scan", "--min-fraction", "0.25"])
        .arg(reserve("telemetry"))
        .assert()
        .code(1);
}

/// `--only-findings` leaves clean items out of the listing (table and JSON
/// Lines) but not out of the summary or the exit code.
#[test]
fn only_findings_lists_what_is_not_clean() {
    let (_tmp, index) = indexed(&reserve("telemetry"));
    let outgoing = samples().join("outgoing");
    let all = scan_json(&index, &[], &outgoing, 1);
    let findings = scan_json(&index, &["--only-findings"], &outgoing, 1);
    let not_clean: Vec<&Value> = all.iter().filter(|r| r["verdict"] != "clean").collect();
    assert!(!findings.is_empty() && findings.len() < all.len());
    assert_eq!(findings.iter().collect::<Vec<_>>(), not_clean);
    let out = pugmark(&index)
        .args(["scan", "--only-findings"])
        .arg(&outgoing)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(!table.lines().any(|l| l.starts_with("clean")), "{table}");
    // One line per item after the header (more findings continue indented).
    let items = table.lines().skip(1).filter(|l| !l.starts_with(' '));
    assert_eq!(items.count(), not_clean.len(), "{table}");
    let summary = String::from_utf8(out.stderr).unwrap();
    assert!(
        summary.starts_with(&format!("{} items:", all.len())),
        "{summary}"
    );
}

/// Reasons waived by `--accept-incomplete` stay visible in the table (a
/// bare `clean` hid them) and the summary says how many were waived.
#[test]
fn waived_reasons_are_shown_and_counted() {
    let (_tmp, index) = indexed(&reserve("telemetry"));
    let hostile = common::root().join("tests/fixtures/hostile");
    let out = pugmark(&index)
        .args(["scan", "--accept-incomplete", "container."])
        .arg(hostile.join("go_test-baddirsz.zip"))
        .arg(hostile.join("go_neg-size.tar"))
        .assert()
        .code(0)
        .get_output()
        .clone();
    let table = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for row in rows {
        assert!(row.starts_with("clean"), "{row}");
        assert!(row.contains("waived: container.malformed: "), "{row}");
    }
    let summary = String::from_utf8(out.stderr).unwrap();
    assert!(
        summary.contains("2 reasons waived by --accept-incomplete"),
        "{summary}"
    );
    // Inside an archive too: the member that is clean only because its
    // reason was waived is listed, with the reason, and counted.
    let outer = _tmp.path().join("outer.tar");
    let made = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&outer)
        .arg("-C")
        .arg(&hostile)
        .arg("go_neg-size.tar")
        .status()
        .unwrap();
    assert!(made.success());
    let out = pugmark(&index)
        .args(["scan", "--accept-incomplete", "container."])
        .arg(&outer)
        .assert()
        .code(0)
        .get_output()
        .clone();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("[go_neg-size.tar] waived: container.malformed: "),
        "{table}"
    );
    let summary = String::from_utf8(out.stderr).unwrap();
    assert!(summary.contains("1 reason waived"), "{summary}");
    // In JSON the waived note says so (the scanner marks it; notes the
    // matcher makes are never marked, whatever is accepted).
    let reports = scan_json(
        &index,
        &["--accept-incomplete", "*"],
        &hostile.join("go_neg-size.tar"),
        0,
    );
    assert_eq!(reports[0]["notes"][0]["waived"], true);
    // Without the option they are reasons, and nothing is said of waiving.
    let out = pugmark(&index)
        .arg("scan")
        .arg(hostile.join("go_neg-size.tar"))
        .assert()
        .code(3)
        .get_output()
        .clone();
    assert!(!String::from_utf8(out.stdout).unwrap().contains("waived"));
    assert!(!String::from_utf8(out.stderr).unwrap().contains("waived"));
}

/// `scan --help` and `index --help` list the exit codes.
#[test]
fn help_lists_exit_codes() {
    for (command, line) in [
        (
            "scan",
            "3  no match or error, but at least one item incomplete",
        ),
        (
            "index",
            "3  the index was written, but some paths were skipped",
        ),
    ] {
        let out = Command::cargo_bin("pugmark")
            .unwrap()
            .args([command, "--help"])
            .run_expecting(0)
            .0;
        let help = out;
        assert!(
            help.contains("Exit status:") && help.contains(line),
            "{help}"
        );
    }
}

/// Asking an index for other parameters than it was made with names the
/// value asked for first and the index's second, and says what to do.
#[test]
fn parameter_mismatch_says_what_was_asked_and_what_the_index_has() {
    let (_tmp, index) = indexed(&reserve("telemetry"));
    let out = pugmark(&index)
        .args(["index", "--chunk-avg", "8192"])
        .arg(reserve("telemetry"))
        .run_expecting(2)
        .1;
    let stderr = out;
    assert!(
        stderr.contains("chunk_avg 8192 was asked for, but the index was made with 16384"),
        "{stderr}"
    );
    assert!(stderr.contains("another index directory"), "{stderr}");
}

/// `pugmark serve` answers clamd's protocol, logs one JSON line per
/// verdict, and exits 0 on SIGTERM with its socket removed.
#[test]
fn serve_answers_clamd_clients_and_stops_on_sigterm() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let (tmp, index) = indexed(&reserve("rasters"));
    let socket = tmp.path().join("clamd.sock");
    let mut child = bin::pugmark_process(&index)
        .arg("serve")
        .arg("--clamd")
        .arg(format!("unix:{}", socket.display()))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while UnixStream::connect(&socket).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ask = |request: &[u8]| {
        let mut s = UnixStream::connect(&socket).unwrap();
        s.write_all(request).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert_eq!(ask(b"zPING\0"), "PONG\0");
    let copy = std::fs::read(samples().join("outgoing/dem-copy.tif")).unwrap();
    let mut request = b"zINSTREAM\0".to_vec();
    for chunk in copy.chunks(10_000) {
        request.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        request.extend_from_slice(chunk);
    }
    request.extend_from_slice(&[0; 4]);
    let reply = ask(&request);
    assert!(
        reply.starts_with("stream: Pugmark.Match.") && reply.ends_with("FOUND\0"),
        "{reply}"
    );
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let verdicts: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    assert_eq!(verdicts.len(), 1, "{log}");
    assert_eq!(verdicts[0]["verdict"], "match");
    assert_eq!(verdicts[0]["bytes"], copy.len() as u64);
    assert!(!socket.exists());
}

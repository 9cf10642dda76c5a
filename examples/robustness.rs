//! The robustness plot: how far apart (PDQ Hamming distance, as the image
//! signal measures it) transformed copies of the test pictures are from
//! their originals, and unrelated pictures from each other, with the match
//! threshold. Writes `docs/robustness.svg` and prints the figures.
//!
//! `cargo run --release --example robustness`
//!
//! The distance of a pair is the smallest over the outgoing picture's
//! queries (whole, trimmed, centre crops, turned) and the protected
//! picture's stored hashes (whole, trimmed, centre and side crops), both
//! of PDQ quality 50 or more, which is what a scan compares.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, Rgb, RgbImage};
use pugmark::fingerprint::image::{fingerprint, ImageFp};
use pugmark::sniff::{sniff, Kind};
use pugmark::FingerprintParams;

fn pictures() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let paths: Vec<PathBuf> = [
        "data-samples/reserve/photos/skimage_chelsea.png",
        "data-samples/reserve/photos/pillow_flower.jpg",
        "data-samples/outgoing/skimage_horse.png",
        "tests/fixtures/pdq/jpeg/dih_bridge-1-original.jpg",
        "tests/fixtures/pdq/jpeg/labelme-subset_q1050.jpg",
        "tests/fixtures/pdq/jpeg/labelme-subset_q2821.jpg",
        "tests/fixtures/images/skimage_rocket.jpg",
        "tests/fixtures/images/skimage_camera.png",
        "tests/fixtures/images/skimage_coins.png",
        "tests/fixtures/images/piexif_r_canon_gps.jpg",
        "tests/fixtures/images/cartopy_modis_Miriam.A2012270.2050.2km.jpg",
    ]
    .iter()
    .map(|p| root.join(p))
    .collect();
    paths
        .into_iter()
        .filter_map(|p| {
            let data = std::fs::read(&p).ok()?;
            Some((p.file_name()?.to_string_lossy().into_owned(), data))
        })
        .collect()
}

fn jpeg(img: &DynamicImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&img.to_rgb8())
        .expect("JPEG encoding");
    out
}

fn png(img: &DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("PNG encoding");
    out.into_inner()
}

/// The transformed copies a leak would carry: (name, encoded bytes).
fn transforms(original: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let img = image::load_from_memory(original).expect("decodable picture");
    let (w, h) = (img.width(), img.height());
    let scaled = |f: f32| {
        img.resize_exact(
            ((w as f32 * f) as u32).max(1),
            ((h as f32 * f) as u32).max(1),
            image::imageops::FilterType::Triangle,
        )
    };
    let crop = |f: f32| {
        let (x, y) = ((w as f32 * f) as u32, (h as f32 * f) as u32);
        img.crop_imm(x, y, w - 2 * x, h - 2 * y)
    };
    let framed = {
        let b = (w.max(h) as f32 * 0.06) as u32;
        let mut canvas = RgbImage::from_pixel(w + 2 * b, h + 2 * b, Rgb([255, 255, 255]));
        image::imageops::overlay(&mut canvas, &img.to_rgb8(), b as i64, b as i64);
        DynamicImage::ImageRgb8(canvas)
    };
    vec![
        ("resized to 50%", jpeg(&scaled(0.5), 90)),
        ("resized to 150%", jpeg(&scaled(1.5), 90)),
        ("JPEG quality 30", jpeg(&img, 30)),
        ("mirrored", png(&img.fliph())),
        ("turned 90 degrees", png(&img.rotate90())),
        ("turned 180 degrees", png(&img.rotate180())),
        ("grey", png(&DynamicImage::ImageLuma8(img.to_luma8()))),
        ("brighter", jpeg(&img.brighten(30), 85)),
        ("framed 6%", png(&framed)),
        ("cropped 5% each side", jpeg(&crop(0.05), 90)),
    ]
}

fn fp(data: &[u8], protected: bool, params: &FingerprintParams) -> Option<ImageFp> {
    let kind = sniff(data, None);
    if !matches!(kind, Kind::Jpeg | Kind::Png) {
        return None;
    }
    fingerprint(data, kind, params, protected).ok()
}

/// The smallest distance between an outgoing picture's queries and a
/// protected picture's hashes, both of at least `min_quality` (weaker
/// hashes never match alone in a scan).
fn distance(outgoing: &ImageFp, protected: &ImageFp, min_quality: u8) -> u32 {
    let stored: Vec<_> = protected
        .all_hashes()
        .filter(|h| h.quality >= min_quality)
        .map(|h| h.hash)
        .collect();
    outgoing
        .queries()
        .iter()
        .filter(|q| q.quality >= min_quality)
        .flat_map(|q| stored.iter().map(move |s| q.hash.distance(s)))
        .min()
        .unwrap_or(256)
}

fn main() {
    let params = FingerprintParams::with_seed(0);
    let thresholds = pugmark::Thresholds::default();
    let threshold = thresholds.max_image_distance;
    // Weak hashes (near-flat pictures) never match alone, so they have no
    // place in a plot of what matches.
    let pictures: Vec<(String, Vec<u8>)> = pictures()
        .into_iter()
        .filter(|(name, data)| match fp(data, true, &params) {
            Some(f) if f.pdq.quality >= thresholds.min_image_quality => true,
            Some(f) => {
                println!(
                    "left out {name}: PDQ quality {} < {} (never matches alone)",
                    f.pdq.quality, thresholds.min_image_quality
                );
                false
            }
            None => panic!("{name} hashes"),
        })
        .collect();
    let protected: Vec<ImageFp> = pictures
        .iter()
        .map(|(name, d)| fp(d, true, &params).unwrap_or_else(|| panic!("{name} hashes")))
        .collect();
    let mut copies: Vec<(String, u32)> = Vec::new();
    for (i, (name, data)) in pictures.iter().enumerate() {
        for (t, bytes) in transforms(data) {
            let out = fp(&bytes, false, &params).expect("transformed copy hashes");
            copies.push((
                format!("{name}: {t}"),
                distance(&out, &protected[i], thresholds.min_image_quality),
            ));
        }
    }
    let mut unrelated = Vec::new();
    for (i, (_, data)) in pictures.iter().enumerate() {
        let out = fp(data, false, &params).expect("picture hashes");
        for (j, p) in protected.iter().enumerate() {
            if i != j {
                unrelated.push(distance(&out, p, thresholds.min_image_quality));
            }
        }
    }
    let missed: Vec<&(String, u32)> = copies.iter().filter(|(_, d)| *d > threshold).collect();
    let close = unrelated.iter().filter(|&&d| d <= threshold).count();
    println!(
        "{} pictures; {} copies: distance {} to {}, {} above the threshold {threshold}",
        pictures.len(),
        copies.len(),
        copies.iter().map(|c| c.1).min().unwrap_or(0),
        copies.iter().map(|c| c.1).max().unwrap_or(0),
        missed.len()
    );
    for (name, d) in &missed {
        println!("  missed: {name} (distance {d})");
    }
    println!(
        "{} unrelated pairs: min distance {}, {close} at or below the threshold",
        unrelated.len(),
        unrelated.iter().min().unwrap_or(&256)
    );
    let svg = plot(
        &copies.iter().map(|c| c.1).collect::<Vec<_>>(),
        &unrelated,
        threshold,
    );
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/robustness.svg");
    std::fs::create_dir_all(out.parent().expect("docs folder")).expect("creating docs/");
    std::fs::write(&out, svg).expect("writing the plot");
    println!("wrote {}", out.display());
}

/// Two histograms (bins of 4 bits) on one axis, 0..=160, with the
/// threshold as a dashed line.
fn plot(copies: &[u32], unrelated: &[u32], threshold: u32) -> String {
    const BIN: u32 = 4;
    const MAX: u32 = 160;
    let (left, top, width, height) = (60.0, 40.0, 640.0, 220.0);
    let bins = (MAX / BIN) as usize;
    let count = |values: &[u32]| {
        let mut h = vec![0u32; bins];
        for &v in values {
            h[((v.min(MAX - 1)) / BIN) as usize] += 1;
        }
        h
    };
    let (hc, hu) = (count(copies), count(unrelated));
    let peak = hc.iter().chain(&hu).copied().max().unwrap_or(1).max(1) as f64;
    let x = |d: f64| left + d / MAX as f64 * width;
    let y = |n: f64| top + height - n / peak * height;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"320\" viewBox=\"0 0 760 320\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"760\" height=\"320\" fill=\"#ffffff\"/>\n<text x=\"{left}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">PDQ distance: transformed copies vs unrelated pictures</text>\n"
    );
    for (h, colour, opacity) in [(&hu, "#80868b", "0.6"), (&hc, "#2e7d32", "0.75")] {
        for (i, &n) in h.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let x0 = x((i as u32 * BIN) as f64);
            s += &format!(
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" fill-opacity=\"{opacity}\"/>\n",
                y(n as f64),
                width / bins as f64 - 1.0,
                top + height - y(n as f64)
            );
        }
    }
    s += &format!(
        "<line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#1d1d1f\"/>\n<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"#1d1d1f\"/>\n",
        b = top + height,
        r = left + width
    );
    for d in (0..=MAX).step_by(20) {
        s += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{d}</text>\n",
            x(d as f64),
            top + height + 16.0
        );
    }
    s += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">Hamming distance between PDQ hashes (bits of 256)</text>\n<text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">pairs</text>\n<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
        left + width / 2.0,
        top + height + 36.0,
        top + height / 2.0,
        top + height / 2.0,
        left - 10.0,
        top + 4.0,
        peak as u32
    );
    let tx = x(threshold as f64 + 0.5);
    s += &format!(
        "<line x1=\"{tx:.1}\" y1=\"{top}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#b3261e\" stroke-width=\"2\" stroke-dasharray=\"6,4\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#b3261e\">match threshold {threshold}</text>\n",
        top + height,
        tx + 6.0,
        top + 14.0
    );
    s += &format!(
        "<rect x=\"520\" y=\"50\" width=\"12\" height=\"12\" fill=\"#2e7d32\" fill-opacity=\"0.75\"/><text x=\"538\" y=\"60\">transformed copies ({})</text>\n<rect x=\"520\" y=\"70\" width=\"12\" height=\"12\" fill=\"#80868b\" fill-opacity=\"0.6\"/><text x=\"538\" y=\"80\">unrelated pairs ({})</text>\n</svg>\n",
        copies.len(),
        unrelated.len()
    );
    s
}

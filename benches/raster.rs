//! Raster fingerprinting throughput, in MB of decoded samples per second:
//! decode plus canonical samples, band and raster digests, window anchors
//! (the stored ones; and every block looked up, as the outgoing side does)
//! and per-band PDQ, on a 2048 x 2048 UInt16 DEM (LZW, 8 MB of samples;
//! synthetic unless `PUGMARK_BENCH_RASTER` names a file) and on the real
//! Landsat scene from data-samples.

use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;

use std::collections::HashSet;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pugmark::fingerprint::raster::{self, AnchorChoice, AnchorFilter};
use pugmark::sniff::Kind;
use pugmark::FingerprintParams;
use tiff::encoder::{colortype, Compression, TiffEncoder};

/// A smooth synthetic terrain with noise, as a DEM would be.
fn synthetic_dem(side: usize) -> Vec<u8> {
    let mut samples = Vec::with_capacity(side * side);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for r in 0..side {
        for c in 0..side {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let terrain = 2000.0 + 400.0 * ((r as f64 / 97.0).sin() + (c as f64 / 131.0).cos());
            samples.push((terrain + (x % 7) as f64) as u16);
        }
    }
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .expect("encoder")
        .with_compression(Compression::Lzw)
        .write_image::<colortype::Gray16>(side as u32, side as u32, &samples)
        .expect("encode");
    out.into_inner()
}

/// Block hashes held in memory.
struct Held(HashSet<u64>);

impl AnchorFilter for Held {
    fn may_hold(&self, hash: u64) -> bool {
        self.0.contains(&hash)
    }
}

fn rasters(c: &mut Criterion) {
    let params = FingerprintParams::with_seed(3);
    // The comparison script passes the file it also gives `gdalinfo`.
    let dem = match std::env::var_os("PUGMARK_BENCH_RASTER") {
        Some(path) => std::fs::read(path).expect("PUGMARK_BENCH_RASTER is readable"),
        None => synthetic_dem(2048),
    };
    let landsat = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples/reserve/rasters/L7_ETMs.tif"),
    )
    .expect("sample raster");
    let stored = AnchorChoice::Stored;
    let mut group = c.benchmark_group("raster");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(2048 * 2048 * 2));
    group.bench_function("dem_2048_u16_lzw", |b| {
        b.iter(|| {
            raster::fingerprint(black_box(&dem), Kind::Tiff, &params, &stored, 1 << 30)
                .expect("decodes")
        })
    });
    // The outgoing side looks up every block: here in a set holding the
    // DEM's own stored anchors (every lookup of a copy of it).
    let held: HashSet<u64> = raster::fingerprint(&dem, Kind::Tiff, &params, &stored, 1 << 30)
        .expect("decodes")
        .anchors
        .iter()
        .map(|a| a.hash)
        .collect();
    let outgoing = AnchorChoice::Every(Some(Arc::new(Held(held))));
    group.bench_function("dem_2048_u16_lzw_outgoing", |b| {
        b.iter(|| {
            raster::fingerprint(black_box(&dem), Kind::Tiff, &params, &outgoing, 1 << 30)
                .expect("decodes")
        })
    });
    group.throughput(Throughput::Bytes(349 * 352 * 6));
    group.bench_function("landsat_6band_u8_deflate", |b| {
        b.iter(|| {
            raster::fingerprint(black_box(&landsat), Kind::Tiff, &params, &stored, 1 << 30)
                .expect("decodes")
        })
    });
    group.finish();
}

criterion_group!(benches, rasters);
criterion_main!(benches);

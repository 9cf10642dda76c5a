//! Telemetry record fingerprinting throughput (MB of text per second, one
//! core) on a generated station log, the input the comparison script also
//! gives pandas. `PUGMARK_BENCH_CSV` names another file.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pugmark::fingerprint::records;
use pugmark::sniff::Kind;

/// A weather-station log: timestamp, station, seven readings, a flag.
fn station_log(rows: usize) -> Vec<u8> {
    let mut out = String::from(
        "timestamp,station,temp_c,rh_pct,wind_ms,wind_dir,pressure_hpa,rain_mm,solar_wm2,qc\n",
    );
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (d, h, m) = (i / 1440, (i / 60) % 24, i % 60);
        out.push_str(&format!(
            "2024-{:02}-{:02}T{h:02}:{m:02}:00Z,ST{:03},{:.2},{:.1},{:.2},{},{:.1},{:.1},{},{}\n",
            1 + (d / 28) % 12,
            1 + d % 28,
            x % 7,
            -10.0 + (x % 4000) as f64 / 100.0,
            20.0 + (x % 800) as f64 / 10.0,
            (x % 2000) as f64 / 100.0,
            x % 360,
            950.0 + (x % 900) as f64 / 10.0,
            (x % 50) as f64 / 10.0,
            x % 1100,
            if x.is_multiple_of(97) { "E" } else { "A" },
        ));
    }
    out.into_bytes()
}

fn csv_records(c: &mut Criterion) {
    let data = match std::env::var_os("PUGMARK_BENCH_CSV") {
        Some(path) => std::fs::read(path).expect("PUGMARK_BENCH_CSV is readable"),
        None => station_log(200_000),
    };
    let mut group = c.benchmark_group("records");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("station_log_csv", |b| {
        b.iter(|| records::fingerprint(Kind::Table, black_box(&data)).expect("parses"))
    });
    group.finish();
}

criterion_group!(benches, csv_records);
criterion_main!(benches);

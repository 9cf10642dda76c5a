//! Headers that announce far more than the file holds are refused before
//! anything is allocated from their numbers: each file is fingerprinted by
//! the binary under a 1 GB address-space limit (`ulimit -v`), which the
//! old code, filling a 2 GB row block first, could not survive.

#![cfg(unix)]

use std::path::Path;

#[test]
fn announced_sizes_allocate_nothing_before_data_arrives() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile-headers");
    let bin = env!("CARGO_BIN_EXE_pugmark");
    for (file, code) in [
        ("tiff-16384x16384-f64-one-strip.tif", "raster.decode_failed"),
        ("png16-60000x60000.png", "limits.raster_samples"),
    ] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -v 1000000 && exec "$0" fingerprint "$1""#)
            .arg(bin)
            .arg(dir.join(file))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(code), "{file}: {stdout}");
    }
}

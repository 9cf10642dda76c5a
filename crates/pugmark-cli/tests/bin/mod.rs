//! The `pugmark` binary for the end-to-end tests of this package.
#![allow(dead_code)]

use std::path::Path;

/// The binary cargo built for these tests.
pub const PUGMARK: &str = env!("CARGO_BIN_EXE_pugmark");

/// The `pugmark` binary with `--index INDEX` (and no `$PUGMARK_INDEX`).
pub fn pugmark(index: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(PUGMARK);
    cmd.arg("--index").arg(index).env_remove("PUGMARK_INDEX");
    cmd
}

/// The same as a process to spawn (to run beside others, or to kill).
pub fn pugmark_process(index: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(PUGMARK);
    cmd.arg("--index").arg(index).env_remove("PUGMARK_INDEX");
    cmd
}

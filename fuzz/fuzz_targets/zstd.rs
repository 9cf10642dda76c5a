//! Fuzz target `zstd`: inputs shaped for that reader, scanned as `input.zst`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"\x28\xb5\x2f\xfd"]), "input.zst");

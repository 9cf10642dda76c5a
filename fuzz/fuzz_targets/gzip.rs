//! Fuzz target `gzip`: inputs shaped for that reader, scanned as `input.gz`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"\x1f\x8b\x08"]), "input.gz");

//! Fuzz target `xz`: inputs shaped for that reader, scanned as `input.xz`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"\xfd7zXZ\x00"]), "input.xz");

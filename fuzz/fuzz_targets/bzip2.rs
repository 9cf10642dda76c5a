//! Fuzz target `bzip2`: inputs shaped for that reader, scanned as `input.bz2`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"BZh9", b"BZh1"]), "input.bz2");

//! Fuzz target `hfa`: inputs shaped for that reader, scanned as `input.img`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"EHFA_HEADER_TAG"]), "input.img");

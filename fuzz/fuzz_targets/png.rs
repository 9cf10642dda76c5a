//! Fuzz target `png`: inputs shaped for that reader, scanned as `input.png`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"\x89PNG\r\n\x1a\n"]), "input.png");

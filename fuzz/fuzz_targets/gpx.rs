//! Fuzz target `gpx`: inputs shaped for that reader, scanned as `input.gpx`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"<?xml"]), "input.gpx");

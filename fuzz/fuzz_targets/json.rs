//! Fuzz target `json`: inputs shaped for that reader, scanned as `input.json`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Any, "input.json");

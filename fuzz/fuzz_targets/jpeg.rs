//! Fuzz target `jpeg`: inputs shaped for that reader, scanned as `input.jpg`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"\xff\xd8\xff"]), "input.jpg");

//! The manifest: which segments are live, and the index's parameters.
//!
//! Stored as one JSON line followed by `blake3 <hex of that line>`, and only
//! ever replaced whole (temp file, fsync, rename, fsync directory).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::segment::{write_durably, FORMAT_VERSION};
use crate::error::{Error, Result};
use crate::fingerprint::bytes::hex;
use crate::fingerprint::FingerprintParams;

/// File name of the manifest inside the index directory.
pub const MANIFEST_FILE: &str = "MANIFEST";
const FORMAT_NAME: &str = "pugmark-index";

/// A live segment as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRef {
    /// Segment id (also in the segment header).
    pub id: u64,
    /// File name inside the index directory.
    pub file: String,
    /// Items in its catalogue.
    pub items: u64,
    /// File length in bytes.
    pub bytes: u64,
}

/// The manifest's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always "pugmark-index".
    pub format: String,
    /// Index format version.
    pub format_version: u32,
    /// Fingerprint parameters of every segment.
    pub params: FingerprintParams,
    /// Id the next segment will get.
    pub next_segment_id: u64,
    /// Live segments, oldest first.
    pub segments: Vec<SegmentRef>,
}

impl Manifest {
    /// An empty index's manifest.
    pub fn new(params: FingerprintParams) -> Manifest {
        Manifest {
            format: FORMAT_NAME.to_string(),
            format_version: FORMAT_VERSION,
            params,
            next_segment_id: 1,
            segments: Vec::new(),
        }
    }

    /// Whether `dir` holds a manifest.
    pub fn exists(dir: &Path) -> bool {
        dir.join(MANIFEST_FILE).is_file()
    }

    /// Reads and checks the manifest of `dir`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::IndexMissing(dir.to_path_buf()))
            }
            Err(e) => return Err(Error::io("reading", &path, e)),
        };
        let corrupt = |d: &str| Error::corrupt(&path, d);
        let text = std::str::from_utf8(&text).map_err(|_| corrupt("not UTF-8"))?;
        let mut lines = text.lines();
        let (json, sum) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
        if sum.strip_prefix("blake3 ")
            != Some(hex(blake3::hash(json.as_bytes()).as_bytes()).as_str())
        {
            return Err(corrupt("checksum line missing or wrong"));
        }
        let probe: serde_json::Value =
            serde_json::from_str(json).map_err(|e| corrupt(&format!("bad JSON: {e}")))?;
        if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
            return Err(corrupt("not a pugmark manifest"));
        }
        let version = probe
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if version != FORMAT_VERSION as u64 {
            return Err(Error::IndexVersion {
                path,
                found: version as u32,
                supported: FORMAT_VERSION,
            });
        }
        let manifest: Manifest =
            serde_json::from_str(json).map_err(|e| corrupt(&format!("bad manifest: {e}")))?;
        manifest
            .params
            .validate()
            .map_err(|e| corrupt(&e.to_string()))?;
        Ok(manifest)
    }

    /// Replaces the manifest of `dir` atomically.
    pub fn store(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string(self).map_err(|e| Error::InvalidOption(e.to_string()))?;
        let text = format!(
            "{json}\nblake3 {}\n",
            hex(blake3::hash(json.as_bytes()).as_bytes())
        );
        write_durably(&dir.join(MANIFEST_FILE), text.as_bytes())
    }
}

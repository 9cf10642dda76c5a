//! JPEG 2000 (JP2 boxes and raw J2K codestreams), decoded with the
//! pure-Rust `hayro-jpeg2000` crate (0.5: any number of components) into the canonical raster model at
//! full precision: each component one band, its integer samples exact
//! (a lossless 16-bit DEM comes back as the DEM's values; a lossy one
//! matches perceptually). The crate neither bounds allocations nor reports
//! signedness, so the codestream's SIZ marker is read here first: the
//! image size and component count are held to the sample budget before
//! decoding, and signed components are shifted back to their range.

use hayro_jpeg2000::{DecodeSettings, DecoderContext, Image};

use super::grid::{GeoInfo, Grid, GridError};

fn malformed(detail: impl Into<String>) -> GridError {
    GridError::Malformed(format!("jpeg2000: {}", detail.into()))
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |n, &x| n << 8 | u64::from(x))
}

/// The codestream of a JP2 file (its `jp2c` box) or `d` itself when it
/// is a raw codestream.
fn codestream(d: &[u8]) -> Result<&[u8], GridError> {
    if d.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return Ok(d);
    }
    let mut at = 0usize;
    loop {
        let head = d
            .get(at..at + 8)
            .ok_or_else(|| malformed("no codestream box"))?;
        let (header, len) = match be(&head[..4]) {
            0 => (8, (d.len() - at) as u64),
            1 => (
                16,
                be(d.get(at + 8..at + 16)
                    .ok_or_else(|| malformed("cut box length"))?),
            ),
            n => (8, n),
        };
        if &head[4..8] == b"jp2c" {
            return d
                .get(at + header..)
                .ok_or_else(|| malformed("cut codestream box"));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l >= header)
            .ok_or_else(|| malformed("bad box length"))?;
        at = at
            .checked_add(len)
            .ok_or_else(|| malformed("bad box length"))?;
    }
}

/// Tile-components one codestream may have (tiles x components): the
/// decoder keeps state per tile, component and resolution level.
const MAX_TILE_COMPONENTS: u64 = 16_384;
/// Wavelet decomposition levels at most (real encoders use 5 or 6; each
/// level is more state per tile-component).
const MAX_LEVELS: u8 = 12;

/// The SIZ marker of a codestream: image width and height (less the
/// origin offsets) and, per component, whether it is signed. The tile grid
/// is checked too: zero-sized tiles or more tiles than the format numbers
/// are refused (the decoder allocates per tile).
fn siz(cs: &[u8]) -> Result<(u32, u32, Vec<bool>), GridError> {
    if !cs.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return Err(malformed("no SIZ marker after SOC"));
    }
    let s = cs
        .get(6..)
        .filter(|s| s.len() >= 36)
        .ok_or_else(|| malformed("cut SIZ marker"))?;
    let at = |o: usize| be(&s[o..o + 4]) as u32;
    let (width, height) = (at(2).saturating_sub(at(10)), at(6).saturating_sub(at(14)));
    let (tile_w, tile_h) = (u64::from(at(18)), u64::from(at(22)));
    let across = u64::from(at(2).saturating_sub(at(26))).div_ceil(tile_w.max(1));
    let down = u64::from(at(6).saturating_sub(at(30))).div_ceil(tile_h.max(1));
    let components = be(&s[34..36]) as usize;
    let tile_components = across
        .saturating_mul(down)
        .saturating_mul(components as u64);
    if tile_w == 0 || tile_h == 0 || tile_components > MAX_TILE_COMPONENTS {
        return Err(malformed(format!(
            "{across} x {down} tiles of {tile_w} x {tile_h}, {components} components"
        )));
    }
    check_levels(cs, components)?;
    let signed = (0..components)
        .map(|c| {
            s.get(36 + 3 * c)
                .map(|&ssiz| ssiz & 0x80 != 0)
                .ok_or_else(|| malformed("cut SIZ component list"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((width, height, signed))
}

/// Checks the decomposition levels the main header's COD and COC markers
/// ask for (up to the first tile-part).
fn check_levels(cs: &[u8], components: usize) -> Result<(), GridError> {
    let mut at = 2; // after SOC
    while let Some(&[0xFF, marker]) = cs.get(at..at + 2) {
        if marker == 0x90 {
            return Ok(()); // SOT: the main header ends
        }
        let len = cs
            .get(at + 2..at + 4)
            .map(be)
            .ok_or_else(|| malformed("cut marker segment"))? as usize;
        let body = cs
            .get(at + 4..at + 2 + len)
            .ok_or_else(|| malformed("marker segment past the end"))?;
        let levels = match marker {
            // COD: Scod, progression, layers (2), MCT, then levels.
            0x52 => body.get(5),
            // COC: the component index is 2 bytes when there are more
            // than 256 components; either way levels follow Scoc.
            0x53 => body.get(if components > 256 { 3 } else { 2 }),
            _ => None,
        };
        if levels.is_some_and(|&l| l > MAX_LEVELS) {
            return Err(malformed(format!(
                "{} decomposition levels",
                levels.copied().unwrap_or_default()
            )));
        }
        at += 2 + len;
    }
    Ok(())
}

/// Width, height and component count of a JP2 file or codestream, from
/// its SIZ marker alone.
pub fn codestream_size(d: &[u8]) -> Result<(u32, u32, usize), GridError> {
    let (w, h, signed) = siz(codestream(d)?)?;
    Ok((w, h, signed.len()))
}

/// Decodes a JP2 file or J2K codestream within `max_samples`.
pub fn read(d: &[u8], max_samples: u64) -> Result<Grid, GridError> {
    let (width, height, signed) = siz(codestream(d)?)?;
    let total = u64::from(width)
        .saturating_mul(u64::from(height))
        .saturating_mul(signed.len() as u64);
    if total > max_samples {
        return Err(GridError::TooLarge(total));
    }
    // Strict: a codestream cut short or with missing tile data is an
    // error, not an image padded with zeros.
    let settings = DecodeSettings {
        resolve_palette_indices: false,
        strict: true,
        ..DecodeSettings::default()
    };
    let image = Image::new(d, &settings).map_err(|e| malformed(e.to_string()))?;
    if (image.width(), image.height()) != (width, height) {
        return Err(malformed("image size differs from its SIZ marker"));
    }
    let mut context = DecoderContext::default();
    let decoded = image
        .decode(&mut context)
        .map_err(|e| malformed(e.to_string()))?;
    let plane = width as usize * height as usize;
    let components = decoded.components();
    // Every component the codestream declares must come back (a channel
    // definition box naming fewer would otherwise drop some), and since
    // such a box may reorder them, signedness must be the same for all.
    if components.len() != signed.len() {
        return Err(GridError::Unsupported(format!(
            "JPEG 2000 decoded {} of {} components",
            components.len(),
            signed.len()
        )));
    }
    if signed.iter().any(|&s| s != signed[0]) {
        return Err(GridError::Unsupported(
            "JPEG 2000 with signed and unsigned components".into(),
        ));
    }
    let mut bands = Vec::new();
    let mut depth = 0;
    for c in components {
        if c.samples().len() != plane {
            return Err(GridError::Unsupported(
                "JPEG 2000 components of different sizes".into(),
            ));
        }
        // The decoder adds 2^(depth-1) to every component; signed ones
        // are taken back.
        depth = c.bit_depth();
        let shift = if signed[0] && depth > 0 {
            f64::from(1u32 << (depth - 1).min(31))
        } else {
            0.0
        };
        bands.push(
            c.samples()
                .iter()
                .map(|&s| f64::from(s).round() - shift)
                .collect(),
        );
    }
    Ok(Grid {
        width: width as usize,
        height: height as usize,
        bands,
        sample_type: format!("jpeg2000-{depth}bit"),
        geo: GeoInfo::default(),
    })
}

//! PDF documents held in memory, read with `lopdf` (xref tables and
//! streams, object streams, incremental updates, damaged xref rebuilt by
//! scanning; object-reference chains, page trees and filter chains are
//! bounded by the parser; every stream is decoded under the member size
//! limit). A PDF yields members:
//! - `image/<obj>.jpg`: a DCT (JPEG) image's stream as it is, so the image
//!   signal sees the JPEG and the exact signal its bytes;
//! - `image/<obj>.tif`: an image of raw samples (any of the filters Flate
//!   with predictors, LZW, ASCIIHex, ASCII85, RunLength; 1-16 bits per
//!   component; gray, RGB, CMYK, indexed, ICC-based) rebuilt as a TIFF, so
//!   both the image and the raster signals read it;
//! - `attachment/<name>`: embedded files (the /EmbeddedFiles tree and file
//!   attachment annotations alike: every embedded-file stream);
//! - `text`: the pages' text, each line's pieces in reading order and
//!   separated by tabs where the writer positioned them apart (table
//!   cells), so a typeset table reaches the records signal.
//!
//! JPEG 2000, JBIG2 and CCITT images are not decoded (`pdf.image_unsupported`);
//! a PDF that needs a password is `pdf.encrypted`. Nothing is executed.

use std::collections::BTreeMap;

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, LoadOptions, Object, ObjectId, Stream};

use super::{Expander, Walk};
use crate::reason::Reason;

/// Opens PDF documents held in memory.
pub(crate) struct PdfExpander;

impl Expander for PdfExpander {
    fn expand_slice(&self, walk: &mut Walk<'_>, data: &[u8]) {
        let cap = walk.budget().limits().max_file_size;
        let limit = usize::try_from(cap).unwrap_or(usize::MAX);
        let options = LoadOptions {
            max_decompressed_size: Some(limit),
            ..LoadOptions::default()
        };
        let doc = match Document::load_mem_with_options(data, options) {
            Ok(doc) => doc,
            Err(e) => {
                let code = if matches!(e, lopdf::Error::Decryption(_)) {
                    "pdf.encrypted"
                } else {
                    "pdf.malformed"
                };
                walk.reason(Reason::new(code, format!("pdf: cannot be read: {e}")));
                return;
            }
        };
        if doc.is_encrypted() {
            walk.reason(Reason::new(
                "pdf.encrypted",
                "pdf: encrypted with a password other than the empty one; content not examined",
            ));
            return;
        }
        let mut reader = PdfReader {
            walk,
            doc: &doc,
            limit,
            stopped: false,
            unfollowed: Default::default(),
        };
        reader.images_and_files();
        if !reader.stopped {
            reader.text();
        }
    }
}

struct PdfReader<'w, 'p, 'd> {
    walk: &'w mut Walk<'p>,
    doc: &'d Document,
    limit: usize,
    stopped: bool,
    /// Forms the text walk could not follow (too deep, undecodable): the
    /// text they draw was not read.
    unfollowed: std::cell::RefCell<Vec<String>>,
}

/// The name of a PDF name object, or empty.
fn name_of(o: &Object) -> &[u8] {
    o.as_name().unwrap_or_default()
}

impl PdfReader<'_, '_, '_> {
    fn deref<'a>(&'a self, o: &'a Object) -> &'a Object {
        self.doc.dereference(o).map(|(_, o)| o).unwrap_or(o)
    }

    fn int(&self, dict: &Dictionary, key: &[u8]) -> Option<i64> {
        dict.get(key).ok().and_then(|o| self.deref(o).as_i64().ok())
    }

    fn member(&mut self, name: &str, bytes: &[u8]) {
        if !self.stopped && !self.walk.member_bytes(name, bytes) {
            self.stopped = true;
        }
    }

    /// As [`member`](Self::member) for a part of the document itself (a
    /// stream), not counted against the member limit.
    fn part(&mut self, name: &str, bytes: &[u8]) {
        if !self.stopped && !self.walk.part_bytes(name, bytes) {
            self.stopped = true;
        }
    }

    /// Every image XObject and embedded-file stream in the document, in
    /// object order (pages, forms and unused objects alike).
    fn images_and_files(&mut self) {
        let file_names = self.file_names();
        let page_contents: std::collections::HashSet<ObjectId> = self
            .doc
            .get_pages()
            .values()
            .flat_map(|page| self.doc.get_page_contents(*page))
            .collect();
        for (id, object) in &self.doc.objects {
            if self.stopped {
                return;
            }
            if let Err(reason) = self.walk.budget().check_time() {
                self.walk.reason(reason);
                self.stopped = true;
                return;
            }
            let Object::Stream(stream) = object else {
                continue;
            };
            let kind = stream.dict.get(b"Subtype").map(name_of).unwrap_or_default();
            let ty = stream.dict.get(b"Type").map(name_of).unwrap_or_default();
            if kind == b"Image" {
                self.image(*id, stream);
            } else if ty == b"EmbeddedFile" || file_names.contains_key(id) {
                let name = file_names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("{}", id.0));
                match stream.decompressed_content_with_limit(self.limit) {
                    Ok(bytes) => self.member(&format!("attachment/{name}"), &bytes),
                    Err(e) => self.walk.reason(Reason::new(
                        "pdf.stream_unreadable",
                        format!("pdf: embedded file {name}: {e}"),
                    )),
                }
            } else {
                // Every other stream (page contents, forms, fonts, colour
                // profiles, metadata, object and cross-reference streams,
                // streams of no stated purpose) may carry anything under its
                // label: its decoded bytes are examined too (page contents
                // are also read as text). These are parts of one document,
                // not archive members: they do not count against
                // `max_members` (bytes and time still do).
                let label = if page_contents.contains(id) {
                    "content"
                } else {
                    "stream"
                };
                match stream.decompressed_content_with_limit(self.limit) {
                    Ok(bytes) => self.part(&format!("{label}/{}", id.0), &bytes),
                    Err(e) => self.walk.reason(Reason::new(
                        "pdf.stream_unreadable",
                        format!("pdf: stream {}: {e}", id.0),
                    )),
                }
            }
        }
    }

    /// Embedded-file stream id -> the file name its file specification
    /// gives (`/UF`, else `/F`).
    fn file_names(&self) -> BTreeMap<ObjectId, String> {
        let mut out = BTreeMap::new();
        for object in self.doc.objects.values() {
            let Ok(dict) = object.as_dict() else { continue };
            let Ok(ef) = dict.get(b"EF").map(|o| self.deref(o)) else {
                continue;
            };
            let Ok(ef) = ef.as_dict() else { continue };
            let name = [b"UF".as_slice(), b"F"]
                .iter()
                .filter_map(|k| dict.get(k).ok())
                .find_map(|o| lopdf::decode_text_string(self.deref(o)).ok())
                .unwrap_or_default();
            for (_, target) in ef.iter() {
                if let Ok(id) = target.as_reference() {
                    let clean = name.replace(['/', '\\'], "_");
                    out.insert(
                        id,
                        if clean.is_empty() {
                            format!("{}", id.0)
                        } else {
                            clean
                        },
                    );
                }
            }
        }
        out
    }

    fn image(&mut self, id: ObjectId, stream: &Stream) {
        let dict = &stream.dict;
        let filters: Vec<Vec<u8>> = stream
            .filters()
            .map(|f| f.into_iter().map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        let last = filters.last().map(Vec::as_slice).unwrap_or_default();
        let encoded_image = matches!(
            last,
            b"DCTDecode" | b"DCT" | b"JPXDecode" | b"JBIG2Decode" | b"CCITTFaxDecode" | b"CCF"
        );
        // Filters before an image codec (rare) are undone first.
        let bytes = if encoded_image && filters.len() > 1 {
            let mut outer = stream.clone();
            let kept: Vec<Object> = filters[..filters.len() - 1]
                .iter()
                .map(|f| Object::Name(f.clone()))
                .collect();
            outer.dict.set("Filter", Object::Array(kept));
            outer.decompressed_content_with_limit(self.limit)
        } else if encoded_image {
            Ok(stream.content.clone())
        } else {
            stream.decompressed_content_with_limit(self.limit)
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                self.walk.reason(Reason::new(
                    "pdf.stream_unreadable",
                    format!("pdf: image {}: {e}", id.0),
                ));
                return;
            }
        };
        match last {
            b"DCTDecode" | b"DCT" => self.member(&format!("image/{}.jpg", id.0), &bytes),
            b"JPXDecode" | b"JBIG2Decode" | b"CCITTFaxDecode" | b"CCF" => {
                self.walk.reason(Reason::new(
                    "pdf.image_unsupported",
                    format!(
                        "pdf: image {} is {} data, which is not decoded; only its bytes were examined",
                        id.0,
                        String::from_utf8_lossy(last)
                    ),
                ));
                self.member(&format!("image/{}.bin", id.0), &bytes);
            }
            _ => match self.raw_image(dict, &bytes) {
                Ok(tiff) => self.member(&format!("image/{}.tif", id.0), &tiff),
                Err(detail) => self.walk.reason(Reason::new(
                    "pdf.image_unsupported",
                    format!("pdf: image {}: {detail}", id.0),
                )),
            },
        }
    }

    /// An image of raw samples as an uncompressed TIFF: 8-bit gray or RGB
    /// (16-bit kept as 16-bit), palettes expanded, CMYK turned to RGB,
    /// `/Decode [1 0]` inversion applied.
    fn raw_image(&self, dict: &Dictionary, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let width = self
            .int(dict, b"Width")
            .filter(|&w| w > 0)
            .ok_or("no width")? as usize;
        let height = self
            .int(dict, b"Height")
            .filter(|&h| h > 0)
            .ok_or("no height")? as usize;
        // A stencil mask is a 1-bit picture without a colour space.
        let mask = dict
            .get(b"ImageMask")
            .is_ok_and(|o| self.deref(o).as_bool().unwrap_or(false));
        let bpc = if mask {
            1
        } else {
            self.int(dict, b"BitsPerComponent").unwrap_or(8) as usize
        };
        if !matches!(bpc, 1 | 2 | 4 | 8 | 16) {
            return Err(format!("{bpc} bits per component"));
        }
        let space = if mask {
            ColorSpace::Gray
        } else {
            self.color_space(dict.get(b"ColorSpace").ok())?
        };
        let comps = space.components();
        let row_bytes = width
            .checked_mul(comps * bpc)
            .ok_or("too large")?
            .div_ceil(8);
        let pixels = width.checked_mul(height).ok_or("too large")?;
        if row_bytes
            .checked_mul(height)
            .is_none_or(|n| n > bytes.len())
            || pixels.saturating_mul(3) > self.limit
        {
            return Err(format!(
                "{width}x{height} samples do not fit its {} bytes or the size limit",
                bytes.len()
            ));
        }
        let invert = dict
            .get(b"Decode")
            .ok()
            .and_then(|o| self.deref(o).as_array().ok())
            .and_then(|a| a.first())
            .is_some_and(|first| first.as_float().unwrap_or(0.0) > 0.5);
        // Unpacked samples per row, as 8- or 16-bit values.
        let wide = bpc == 16;
        let max = (1u32 << bpc) - 1;
        let mut out: Vec<u16> = Vec::with_capacity(pixels * space.output_components());
        for row in bytes.chunks_exact(row_bytes).take(height) {
            let sample = |i: usize| -> u32 {
                match bpc {
                    16 => u32::from(u16::from_be_bytes([row[2 * i], row[2 * i + 1]])),
                    8 => u32::from(row[i]),
                    _ => {
                        let bit = i * bpc;
                        let byte = row[bit / 8];
                        (u32::from(byte) >> (8 - bpc - bit % 8)) & max
                    }
                }
            };
            for x in 0..width {
                let scale = |v: u32| -> u16 {
                    let v = if invert { max - v } else { v };
                    if bpc >= 8 {
                        v as u16
                    } else {
                        (v * 255 / max) as u16
                    }
                };
                match &space {
                    ColorSpace::Gray => out.push(scale(sample(x))),
                    ColorSpace::Rgb => (0..3).for_each(|c| out.push(scale(sample(x * 3 + c)))),
                    ColorSpace::Cmyk => {
                        let v: Vec<f32> = (0..4)
                            .map(|c| {
                                scale(sample(x * 4 + c)) as f32 / if wide { 65535.0 } else { 255.0 }
                            })
                            .collect();
                        let top = if wide { 65535.0 } else { 255.0 };
                        for c in 0..3 {
                            out.push(((1.0 - v[c]) * (1.0 - v[3]) * top).round() as u16);
                        }
                    }
                    ColorSpace::Indexed { base, table } => {
                        let index = sample(x) as usize;
                        let n = base.components();
                        for c in 0..n.min(3) {
                            out.push(u16::from(*table.get(index * n + c).unwrap_or(&0)));
                        }
                    }
                }
            }
        }
        let samples = space.output_components();
        let bits = if wide && !matches!(space, ColorSpace::Indexed { .. }) {
            16
        } else {
            8
        };
        Ok(tiff(width, height, samples, bits, &out))
    }

    fn color_space(&self, o: Option<&Object>) -> Result<ColorSpace, String> {
        let Some(o) = o else {
            return Ok(ColorSpace::Gray);
        };
        let o = self.deref(o);
        let (family, rest): (&[u8], &[Object]) = match o {
            Object::Name(n) => (n, &[]),
            Object::Array(a) if !a.is_empty() => (name_of(self.deref(&a[0])), &a[1..]),
            _ => return Err("unreadable colour space".into()),
        };
        Ok(match family {
            b"DeviceGray" | b"CalGray" | b"G" => ColorSpace::Gray,
            b"DeviceRGB" | b"CalRGB" | b"RGB" | b"Lab" => ColorSpace::Rgb,
            b"DeviceCMYK" | b"CMYK" => ColorSpace::Cmyk,
            b"ICCBased" => {
                let n = rest
                    .first()
                    .and_then(|s| self.deref(s).as_stream().ok())
                    .and_then(|s| self.int(&s.dict, b"N"))
                    .unwrap_or(3);
                match n {
                    1 => ColorSpace::Gray,
                    4 => ColorSpace::Cmyk,
                    _ => ColorSpace::Rgb,
                }
            }
            b"Indexed" | b"I" => {
                let base = self.color_space(rest.first())?;
                if matches!(base, ColorSpace::Indexed { .. }) {
                    return Err("nested indexed colour space".into());
                }
                let table = match rest.get(2).map(|t| self.deref(t)) {
                    Some(Object::String(s, _)) => s.clone(),
                    Some(Object::Stream(s)) => s
                        .decompressed_content_with_limit(1 << 16)
                        .map_err(|e| e.to_string())?,
                    _ => return Err("indexed colour space without a table".into()),
                };
                let base = match base {
                    ColorSpace::Cmyk => return Err("CMYK palette".into()),
                    other => Box::new(other),
                };
                ColorSpace::Indexed { base, table }
            }
            other => {
                return Err(format!(
                    "colour space {} is not decoded",
                    String::from_utf8_lossy(other)
                ))
            }
        })
    }

    /// The pages' text as one member.
    fn text(&mut self) {
        let mut text = String::new();
        let pages = self.doc.get_pages();
        for (number, page) in pages {
            if let Err(reason) = self.walk.budget().check_time() {
                self.walk.reason(reason);
                return;
            }
            let content = match self.doc.get_page_content_with_limit(page, self.limit) {
                Ok(c) => c,
                Err(e) => {
                    self.walk.reason(Reason::new(
                        "pdf.stream_unreadable",
                        format!("pdf: page {number} content: {e}"),
                    ));
                    continue;
                }
            };
            let content = match Content::decode(&content) {
                Ok(c) => c,
                Err(e) => {
                    self.walk.reason(Reason::new(
                        "pdf.stream_unreadable",
                        format!("pdf: page {number} content does not parse: {e}"),
                    ));
                    continue;
                }
            };
            if content.operations.iter().any(|op| op.operator == "BI") {
                self.walk.reason(Reason::new(
                    "pdf.image_unsupported",
                    format!("pdf: page {number} has inline images, which are not decoded"),
                ));
            }
            let fonts = self.doc.get_page_fonts(page).unwrap_or_default();
            let encodings: BTreeMap<Vec<u8>, Encoding> = fonts
                .into_iter()
                .filter_map(|(name, font)| {
                    font.get_font_encoding_with_limit(self.doc, self.limit)
                        .ok()
                        .map(|e| (name, e))
                })
                .collect();
            let (inline, referenced) = self.doc.get_page_resources(page).unwrap_or_default();
            let mut xobjects = BTreeMap::new();
            let dicts = inline.into_iter().chain(
                referenced
                    .iter()
                    .filter_map(|id| self.doc.get_dictionary(*id).ok()),
            );
            for resources in dicts {
                self.xobjects_of(resources, &mut xobjects);
            }
            let mut runs = Vec::new();
            let mut seen = std::collections::HashSet::new();
            self.collect_runs(
                &content,
                &[&encodings],
                &xobjects,
                Matrix::IDENTITY,
                0,
                &mut seen,
                &mut runs,
            );
            if let Some(why) = self.unfollowed.borrow_mut().drain(..).next() {
                self.walk.reason(Reason::new(
                    "pdf.text_unexamined",
                    format!("pdf: page {number}: {why}; the text it draws was not read"),
                ));
            }
            let lines = lines_of(runs);
            for line in lines {
                text.push_str(&line);
                text.push('\n');
            }
            text.push('\n');
            if text.len() > self.limit {
                self.walk.reason(Reason::new(
                    "limits.max_file_size",
                    "pdf: the pages' text exceeds the member size limit; later pages were not examined",
                ));
                break;
            }
        }
        if !text.trim().is_empty() {
            self.member("text", text.as_bytes());
        }
    }
}

impl<'d> PdfReader<'_, '_, 'd> {
    /// Adds the named XObjects of a resource dictionary (name -> id).
    fn xobjects_of(&self, resources: &Dictionary, out: &mut BTreeMap<Vec<u8>, ObjectId>) {
        let Ok(xobjects) = resources
            .get(b"XObject")
            .map(|o| self.deref(o))
            .and_then(Object::as_dict)
        else {
            return;
        };
        for (name, target) in xobjects.iter() {
            if let Ok(id) = target.as_reference() {
                out.insert(name.clone(), id);
            }
        }
    }

    /// The text runs of a content stream, following `Do` into form
    /// XObjects (each form once per page, nested at most
    /// [`MAX_FORM_DEPTH`] deep) with their own fonts and matrices.
    #[allow(clippy::too_many_arguments)]
    fn collect_runs(
        &self,
        content: &Content,
        fonts: &[&BTreeMap<Vec<u8>, Encoding<'d>>],
        xobjects: &BTreeMap<Vec<u8>, ObjectId>,
        base: Matrix,
        depth: usize,
        seen: &mut std::collections::HashSet<ObjectId>,
        runs: &mut Vec<Run>,
    ) {
        let mut forms = Vec::new();
        content_runs(content, fonts, base, runs, &mut forms);
        let unfollowed = |why: String| self.unfollowed.borrow_mut().push(why);
        if depth >= MAX_FORM_DEPTH {
            // Only a form not yet followed is text left unread (images and
            // forms drawn before are not).
            let unread_form = forms.iter().any(|(name, _)| {
                xobjects.get(name).is_some_and(|id| {
                    !seen.contains(id)
                        && self
                            .doc
                            .get_object(*id)
                            .and_then(Object::as_stream)
                            .is_ok_and(|st| {
                                st.dict.get(b"Subtype").map(name_of).unwrap_or_default() == b"Form"
                            })
                })
            });
            if unread_form {
                unfollowed(format!("forms nested deeper than {MAX_FORM_DEPTH}"));
            }
            return;
        }
        for (name, ctm) in forms {
            if let Err(reason) = self.walk.budget().check_time() {
                unfollowed(format!("{} among its forms", reason.code));
                return;
            }
            let Some(&id) = xobjects.get(&name) else {
                continue;
            };
            if !seen.insert(id) {
                continue;
            }
            let Ok(stream) = self.doc.get_object(id).and_then(Object::as_stream) else {
                continue;
            };
            if stream.dict.get(b"Subtype").map(name_of).unwrap_or_default() != b"Form" {
                continue;
            }
            let Ok(bytes) = stream.decompressed_content_with_limit(self.limit) else {
                unfollowed(format!("form {} does not decompress", id.0));
                continue;
            };
            let Ok(inner) = Content::decode(&bytes) else {
                unfollowed(format!("form {} is not a content stream", id.0));
                continue;
            };
            let matrix = stream
                .dict
                .get(b"Matrix")
                .ok()
                .and_then(|m| self.deref(m).as_array().ok())
                .and_then(|a| Matrix::from_operands(a))
                .unwrap_or(Matrix::IDENTITY);
            let mut inner_fonts = BTreeMap::new();
            let mut inner_xobjects = xobjects.clone();
            if let Ok(resources) = stream
                .dict
                .get(b"Resources")
                .map(|r| self.deref(r))
                .and_then(Object::as_dict)
            {
                if let Ok(font_dict) = resources
                    .get(b"Font")
                    .map(|f| self.deref(f))
                    .and_then(Object::as_dict)
                {
                    for (name, font) in font_dict.iter() {
                        let encoding = self
                            .deref(font)
                            .as_dict()
                            .and_then(|f| f.get_font_encoding_with_limit(self.doc, self.limit));
                        if let Ok(encoding) = encoding {
                            inner_fonts.insert(name.clone(), encoding);
                        }
                    }
                }
                self.xobjects_of(resources, &mut inner_xobjects);
            }
            let mut layers = fonts.to_vec();
            layers.push(&inner_fonts);
            self.collect_runs(
                &inner,
                &layers,
                &inner_xobjects,
                matrix.then(ctm),
                depth + 1,
                seen,
                runs,
            );
        }
    }
}

/// Deepest nesting of form XObjects followed for text.
const MAX_FORM_DEPTH: usize = 8;

/// Colour spaces whose samples are rebuilt into pictures.
enum ColorSpace {
    Gray,
    Rgb,
    Cmyk,
    Indexed {
        base: Box<ColorSpace>,
        table: Vec<u8>,
    },
}

impl ColorSpace {
    /// Components per pixel in the PDF's samples.
    fn components(&self) -> usize {
        match self {
            ColorSpace::Gray | ColorSpace::Indexed { .. } => 1,
            ColorSpace::Rgb => 3,
            ColorSpace::Cmyk => 4,
        }
    }

    /// Components per pixel in the rebuilt picture.
    fn output_components(&self) -> usize {
        match self {
            ColorSpace::Gray => 1,
            ColorSpace::Rgb | ColorSpace::Cmyk => 3,
            ColorSpace::Indexed { base, .. } => base.components().min(3),
        }
    }
}

/// An uncompressed, chunky, single-strip TIFF of 8- or 16-bit samples.
fn tiff(width: usize, height: usize, samples: usize, bits: u16, values: &[u16]) -> Vec<u8> {
    const ENTRIES: u16 = 10;
    let data_len = values.len() * usize::from(bits / 8);
    let ifd_end = 8 + 2 + 12 * usize::from(ENTRIES) + 4;
    // Several samples' bit depths do not fit in the entry: they follow the
    // directory.
    let bits_at = ifd_end;
    let data_at = if samples > 1 {
        ifd_end + 2 * samples
    } else {
        ifd_end
    };
    let mut out = Vec::with_capacity(data_at + data_len);
    out.extend_from_slice(b"II*\0");
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&ENTRIES.to_le_bytes());
    let mut entry = |tag: u16, ty: u16, count: u32, value: u32| {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    };
    let bits_value = if samples > 1 {
        bits_at as u32
    } else {
        u32::from(bits)
    };
    entry(256, 4, 1, width as u32); // ImageWidth
    entry(257, 4, 1, height as u32); // ImageLength
    entry(258, 3, samples as u32, bits_value); // BitsPerSample
    entry(259, 3, 1, 1); // Compression: none
    entry(262, 3, 1, if samples == 1 { 1 } else { 2 }); // Photometric
    entry(273, 4, 1, data_at as u32); // StripOffsets
    entry(277, 3, 1, samples as u32); // SamplesPerPixel
    entry(278, 4, 1, height as u32); // RowsPerStrip
    entry(279, 4, 1, data_len as u32); // StripByteCounts
    entry(284, 3, 1, 1); // PlanarConfiguration: chunky
    out.extend_from_slice(&0u32.to_le_bytes());
    if samples > 1 {
        for _ in 0..samples {
            out.extend_from_slice(&bits.to_le_bytes());
        }
    }
    for &v in values {
        if bits == 16 {
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.push(v as u8);
        }
    }
    out
}

/// A 2-D affine transform `[a b c d e f]` as PDF writes them.
#[derive(Clone, Copy)]
struct Matrix([f32; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    /// `self` then `other` (PDF's `self x other`).
    fn then(self, other: Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = other.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    fn translate(x: f32, y: f32) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, x, y])
    }

    fn from_operands(ops: &[Object]) -> Option<Matrix> {
        if ops.len() != 6 {
            return None;
        }
        let mut m = [0.0; 6];
        for (slot, o) in m.iter_mut().zip(ops) {
            *slot = o.as_float().ok()?;
        }
        Some(Matrix(m))
    }
}

/// One piece of text placed on the page.
struct Run {
    x: f32,
    y: f32,
    text: String,
}

/// Most nested graphics states followed (`q` without `Q`).
const MAX_STATE_DEPTH: usize = 64;

/// The text runs one content stream shows, placed by the text and
/// transformation matrices (starting from `base`); `Do` operators are
/// listed in `forms` with the matrix in force, for the caller to follow.
fn content_runs(
    content: &Content,
    encodings: &[&BTreeMap<Vec<u8>, Encoding>],
    base: Matrix,
    runs: &mut Vec<Run>,
    forms: &mut Vec<(Vec<u8>, Matrix)>,
) {
    let first_run = runs.len();
    let mut ctm = base;
    let mut states: Vec<Matrix> = Vec::new();
    let mut tm = Matrix::IDENTITY;
    let mut tlm = Matrix::IDENTITY;
    let mut leading = 0.0f32;
    let mut font: Option<&Encoding> = None;
    // Whether the next shown string starts a new run (after positioning).
    let mut fresh = true;
    let number = |o: &Object| o.as_float().unwrap_or(0.0);
    for op in &content.operations {
        let ops = &op.operands;
        match op.operator.as_str() {
            "q" if states.len() < MAX_STATE_DEPTH => states.push(ctm),
            "Q" => ctm = states.pop().unwrap_or(base),
            "Do" => {
                if let Some(name) = ops.first().and_then(|n| n.as_name().ok()) {
                    forms.push((name.to_vec(), ctm));
                }
            }
            "cm" => {
                if let Some(m) = Matrix::from_operands(ops) {
                    ctm = m.then(ctm);
                }
            }
            "BT" => {
                tm = Matrix::IDENTITY;
                tlm = tm;
                fresh = true;
            }
            "Tf" => {
                font = ops
                    .first()
                    .and_then(|n| n.as_name().ok())
                    .and_then(|n| encodings.iter().rev().find_map(|layer| layer.get(n)));
            }
            "TL" => leading = ops.first().map(number).unwrap_or(0.0),
            "Td" | "TD" => {
                let (x, y) = (
                    ops.first().map(number).unwrap_or(0.0),
                    ops.get(1).map(number).unwrap_or(0.0),
                );
                if op.operator == "TD" {
                    leading = -y;
                }
                tlm = Matrix::translate(x, y).then(tlm);
                tm = tlm;
                fresh = true;
            }
            "Tm" => {
                if let Some(m) = Matrix::from_operands(ops) {
                    tlm = m;
                    tm = m;
                    fresh = true;
                }
            }
            "T*" | "'" | "\"" => {
                tlm = Matrix::translate(0.0, -leading).then(tlm);
                tm = tlm;
                fresh = true;
            }
            _ => {}
        }
        let shown: Vec<&[u8]> = match op.operator.as_str() {
            "Tj" | "'" => ops
                .first()
                .and_then(|o| o.as_str().ok())
                .into_iter()
                .collect(),
            "\"" => ops
                .get(2)
                .and_then(|o| o.as_str().ok())
                .into_iter()
                .collect(),
            "TJ" => ops
                .first()
                .and_then(|o| o.as_array().ok())
                .map(|a| a.iter().filter_map(|o| o.as_str().ok()).collect())
                .unwrap_or_default(),
            _ => continue,
        };
        let mut text = String::new();
        for piece in shown {
            match font {
                Some(encoding) => match Document::decode_text(encoding, piece) {
                    Ok(t) => text.push_str(&t),
                    Err(_) => text.extend(piece.iter().map(|&b| b as char)),
                },
                None => text.extend(piece.iter().map(|&b| b as char)),
            }
        }
        if text.is_empty() {
            continue;
        }
        let at = tm.then(ctm).0;
        if fresh || runs.len() == first_run {
            runs.push(Run {
                x: at[4],
                y: at[5],
                text,
            });
        } else if let Some(last) = runs.last_mut() {
            last.text.push_str(&text);
        }
        fresh = false;
    }
}

/// Runs as lines: grouped by baseline (top to bottom, within 2 units),
/// each line's runs left to right and joined by tabs.
fn lines_of(mut runs: Vec<Run>) -> Vec<String> {
    // Group by baseline: runs within 2 units of a line's first run.
    runs.sort_by(|a, b| b.y.total_cmp(&a.y).then(a.x.total_cmp(&b.x)));
    let mut lines: Vec<(f32, Vec<Run>)> = Vec::new();
    for run in runs {
        match lines.last_mut() {
            Some((y, line)) if (*y - run.y).abs() <= 2.0 => line.push(run),
            _ => lines.push((run.y, vec![run])),
        }
    }
    lines
        .into_iter()
        .map(|(_, mut line)| {
            line.sort_by(|a, b| a.x.total_cmp(&b.x));
            let cells: Vec<String> = line
                .into_iter()
                .map(|r| r.text.trim().to_string())
                .collect();
            cells.join("\t")
        })
        .collect()
}

//! Office documents inside their zip: spreadsheets (xlsx/xlsm/xltx and
//! OpenDocument .ods) and word-processor tables (docx and .odt) become
//! tables for the records signal, one member each: `sheet/<name>` and
//! `table/<n>`. Their pictures and other parts are zip members already.
//!
//! Cells are rendered as CSV text: numbers as the document stores them
//! (the records signal reads numbers by value), Excel serial dates and
//! OpenDocument dates as ISO dates (`2012-01-01`, or with the time when it
//! is not midnight), so a date column matches whether it was typed as a
//! date or as text. Rendering stops at the member size limit; shared
//! strings and parts are read within the archive's budget. Binary
//! spreadsheets (xlsb) are reported, not read.

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::zip::{inflate_entry, Directory};
use super::Walk;
use crate::reason::Reason;

/// Document flavours recognised by their parts' names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    Xlsx,
    Xlsb,
    Docx,
    OpenDocument,
}

fn flavour(dir: &Directory) -> Option<Flavour> {
    let has = |n: &str| dir.entries.iter().any(|e| e.name == n);
    if has("xl/workbook.xml") {
        Some(Flavour::Xlsx)
    } else if has("xl/workbook.bin") {
        Some(Flavour::Xlsb)
    } else if has("word/document.xml") {
        Some(Flavour::Docx)
    } else if has("content.xml") && has("META-INF/manifest.xml") {
        Some(Flavour::OpenDocument)
    } else {
        None
    }
}

/// Finds the tables of an office document held in the zip `data` (whose
/// directory is `dir`) and hands each to the walk as a table member.
pub(super) fn expand_tables(walk: &mut Walk<'_>, data: &[u8], dir: &Directory) {
    let Some(flavour) = flavour(dir) else {
        return;
    };
    let cap = walk.budget().limits().max_file_size;
    let mut doc = Document {
        walk,
        data,
        dir,
        failed: false,
        allowance: Allowance::new(cap),
    };
    match flavour {
        Flavour::Xlsx => doc.xlsx(),
        Flavour::Xlsb => doc.walk.reason(Reason::new(
            "container.unsupported",
            "xlsb: binary spreadsheet cells are not read; only the parts' bytes were examined",
        )),
        Flavour::Docx => {
            if let Some(xml) = doc.require("word/document.xml") {
                let (tables, parsed) = word_tables(&xml, &mut doc.allowance);
                doc.check("word/document.xml", parsed);
                doc.emit_tables(tables, "table");
            }
        }
        Flavour::OpenDocument => {
            if let Some(xml) = doc.require("content.xml") {
                let (tables, parsed) = open_document_tables(&xml, &mut doc.allowance);
                doc.check("content.xml", parsed);
                doc.emit_tables(tables, "sheet");
            }
        }
    }
}

/// One table: a name and rows of cell texts.
struct Table {
    name: String,
    rows: Vec<Vec<String>>,
}

struct Document<'w, 'p, 'd> {
    walk: &'w mut Walk<'p>,
    data: &'d [u8],
    dir: &'d Directory,
    failed: bool,
    allowance: Allowance,
}

impl Document<'_, '_, '_> {
    /// A part's bytes, decompressed within the member size limit; `None`
    /// (with the reason filed) when absent or unreadable.
    fn part(&mut self, name: &str) -> Option<Vec<u8>> {
        let entry = self.dir.entries.iter().find(|e| e.name == name)?;
        let cap = self.walk.budget().limits().max_file_size;
        // Time (or a cancellation) is checked before inflating, not only
        // after: a part may take long to inflate.
        if !self.walk.check_clock() {
            return None;
        }
        match inflate_entry(self.data, entry, cap) {
            Ok(bytes) => self.walk.check_clock().then_some(bytes),
            Err(reason) => {
                if !self.failed {
                    self.walk.reason(reason);
                }
                self.failed = true;
                None
            }
        }
    }

    /// A part the document cannot be read without: its absence is damage.
    fn require(&mut self, name: &str) -> Option<Vec<u8>> {
        let found = self.dir.entries.iter().any(|e| e.name == name);
        if !found {
            self.walk.reason(Reason::new(
                "container.malformed",
                format!("{name}: a part the document needs is missing; its tables were not read"),
            ));
            return None;
        }
        self.part(name)
    }

    /// Files a reason when a part's XML broke part-way.
    fn check(&mut self, name: &str, parsed: Result<(), String>) {
        if let Err(detail) = parsed {
            self.walk.reason(Reason::new(
                "container.corrupt",
                format!("{name}: {detail}; later cells were not read"),
            ));
        }
    }

    fn xlsx(&mut self) {
        let Some(workbook) = self.require("xl/workbook.xml") else {
            return;
        };
        let (sheets, date1904) = workbook_sheets(&workbook);
        let rels = self
            .part("xl/_rels/workbook.xml.rels")
            .map(|r| relationships(&r))
            .unwrap_or_default();
        let shared = self
            .part("xl/sharedStrings.xml")
            .map(|s| shared_strings(&s))
            .unwrap_or_default();
        let dates = self
            .part("xl/styles.xml")
            .map(|s| date_styles(&s))
            .unwrap_or_default();
        let mut tables = Vec::new();
        let mut parts_read = std::collections::HashSet::new();
        for (name, id) in sheets {
            if self.allowance.cut || self.walk.stopped() {
                break;
            }
            let Some(target) = rels.get(&id) else {
                self.walk.reason(Reason::new(
                    "container.malformed",
                    format!("sheet {name}: no relationship names its part; it was not read"),
                ));
                continue;
            };
            let path = match target.strip_prefix('/') {
                Some(absolute) => absolute.to_string(),
                None => format!("xl/{target}"),
            };
            // Sheets naming a part already read add nothing to examine.
            if !parts_read.insert(path.clone()) {
                continue;
            }
            if let Some(xml) = self.require(&path) {
                let (rows, parsed) =
                    sheet_rows(&xml, &shared, &dates, date1904, &mut self.allowance);
                self.check(&path, parsed);
                tables.push(Table { name, rows });
            }
        }
        self.emit_tables(tables, "sheet");
    }

    /// Hands each non-empty table to the walk as CSV text.
    fn emit_tables(&mut self, tables: Vec<Table>, prefix: &str) {
        if self.allowance.cut {
            self.walk.reason(Reason::new(
                "limits.max_file_size",
                "the document's cells as text exceed the member size limit; later cells were not read",
            ));
        }
        let cap = self.walk.budget().limits().max_file_size;
        for (i, table) in tables.into_iter().enumerate() {
            if table.rows.iter().all(|r| r.iter().all(String::is_empty)) {
                continue;
            }
            let name = if table.name.is_empty() {
                format!("{prefix}/{}", i + 1)
            } else {
                format!("{prefix}/{}", table.name.replace('/', "_"))
            };
            let (csv, cut) = render_csv(&table.rows, cap);
            if cut {
                self.walk.reason(Reason::new(
                    "limits.max_file_size",
                    format!(
                        "{name}: its cells as text exceed {cap} bytes; only the start was examined"
                    ),
                ));
            }
            if !self.walk.member_table(&name, &csv) {
                return;
            }
        }
    }
}

/// Rows as CSV, stopping before `cap` bytes; says whether it stopped.
fn render_csv(rows: &[Vec<String>], cap: u64) -> (Vec<u8>, bool) {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let mut cut = false;
    for row in rows {
        let mut end = row.len();
        while end > 0 && row[end - 1].is_empty() {
            end -= 1;
        }
        if writer.write_record(&row[..end]).is_err() {
            break;
        }
        if writer.get_ref().len() as u64 > cap {
            cut = true;
            break;
        }
    }
    let mut out = writer.into_inner().unwrap_or_default();
    out.truncate(cap as usize);
    (out, cut)
}

/// The value of the attribute whose local name is `key`.
fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .map(|a| {
            a.unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned())
        })
}

/// Walks the XML events of `xml`, calling `f` with each, to the end or to
/// the first well-formedness error (returned: what came before it was
/// still seen).
fn each_event(xml: &[u8], mut f: impl FnMut(&Event<'_>)) -> Result<(), String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) => return Ok(()),
            Ok(event) => f(&event),
            Err(e) => {
                return Err(format!(
                    "not well-formed XML at byte {}: {e}",
                    reader.buffer_position()
                ))
            }
        }
        buf.clear();
    }
}

/// Bytes of cell text (and per-cell overhead) a document may still render:
/// repeats and shared strings can make a small file expand, so the tables
/// are cut, and say so, at the member size limit.
struct Allowance {
    left: u64,
    cut: bool,
}

/// What a cell costs beyond its text (its slot in a row).
const CELL_OVERHEAD: u64 = 32;

impl Allowance {
    fn new(cap: u64) -> Self {
        Allowance {
            left: cap,
            cut: false,
        }
    }

    /// Spends `n` bytes; `false` (and cut) when they are not there.
    fn take(&mut self, n: u64) -> bool {
        if self.cut || n > self.left {
            self.cut = true;
            return false;
        }
        self.left -= n;
        true
    }
}

/// Text of a text event with entities resolved.
fn text_of(event: &Event<'_>) -> Option<String> {
    match event {
        Event::Text(t) => t.decode().ok().map(|s| {
            quick_xml::escape::unescape(&s)
                .map(|u| u.into_owned())
                .unwrap_or_else(|_| s.into_owned())
        }),
        Event::CData(c) => Some(String::from_utf8_lossy(c).into_owned()),
        Event::GeneralRef(r) => r
            .resolve_char_ref()
            .ok()
            .flatten()
            .map(|c| c.to_string())
            .or_else(|| {
                let name = r.decode().ok()?;
                let entity = match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => return None,
                };
                Some(entity.to_string())
            }),
        _ => None,
    }
}

/// Sheet names with their relationship ids, and the 1904 date system flag.
fn workbook_sheets(xml: &[u8]) -> (Vec<(String, String)>, bool) {
    let mut sheets = Vec::new();
    let mut date1904 = false;
    let _ = each_event(xml, |event| {
        if let Event::Start(e) | Event::Empty(e) = event {
            match e.local_name().as_ref() {
                b"sheet" => {
                    if let (Some(name), Some(id)) = (attr(e, b"name"), attr(e, b"id")) {
                        sheets.push((name, id));
                    }
                }
                b"workbookPr" => {
                    date1904 = attr(e, b"date1904").is_some_and(|v| v == "1" || v == "true");
                }
                _ => {}
            }
        }
    });
    (sheets, date1904)
}

/// Relationship id -> target.
fn relationships(xml: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let _ = each_event(xml, |event| {
        if let Event::Start(e) | Event::Empty(e) = event {
            if e.local_name().as_ref() == b"Relationship" {
                if let (Some(id), Some(target)) = (attr(e, b"Id"), attr(e, b"Target")) {
                    out.insert(id, target);
                }
            }
        }
    });
    out
}

/// The shared strings table: each `<si>`'s text runs joined (phonetic
/// runs left out).
fn shared_strings(xml: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    let mut in_text = false;
    let mut phonetic = 0u32;
    let _ = each_event(xml, |event| match event {
        Event::Start(e) => match e.local_name().as_ref() {
            b"si" => current = Some(String::new()),
            b"t" => in_text = true,
            b"rPh" => phonetic += 1,
            _ => {}
        },
        Event::Empty(e) if e.local_name().as_ref() == b"si" => out.push(String::new()),
        Event::End(e) => match e.local_name().as_ref() {
            b"si" => out.extend(current.take()),
            b"t" => in_text = false,
            b"rPh" => phonetic = phonetic.saturating_sub(1),
            _ => {}
        },
        other => {
            if in_text && phonetic == 0 {
                if let (Some(s), Some(t)) = (current.as_mut(), text_of(other)) {
                    s.push_str(&t);
                }
            }
        }
    });
    out
}

/// For each cell style index, whether its number format shows a date or
/// time.
fn date_styles(xml: &[u8]) -> Vec<bool> {
    let mut custom: HashMap<u32, bool> = HashMap::new();
    let mut xfs = Vec::new();
    let mut in_cell_xfs = false;
    let _ = each_event(xml, |event| match event {
        Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
            b"numFmt" => {
                if let (Some(id), Some(code)) = (attr(e, b"numFmtId"), attr(e, b"formatCode")) {
                    if let Ok(id) = id.parse() {
                        custom.insert(id, format_is_date(&code));
                    }
                }
            }
            b"cellXfs" => in_cell_xfs = matches!(event, Event::Start(_)),
            b"xf" if in_cell_xfs => {
                let id: u32 = attr(e, b"numFmtId")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let builtin_date = matches!(id, 14..=22 | 27..=36 | 45..=47 | 50..=58);
                xfs.push(custom.get(&id).copied().unwrap_or(builtin_date));
            }
            _ => {}
        },
        Event::End(e) if e.local_name().as_ref() == b"cellXfs" => in_cell_xfs = false,
        _ => {}
    });
    xfs
}

/// Whether a number format code shows dates or times: after dropping
/// quoted text, escaped characters and bracketed sections (colours,
/// conditions, locales), it uses a date or time letter.
fn format_is_date(code: &str) -> bool {
    let mut quoted = false;
    let mut bracket = false;
    let mut escaped = false;
    for c in code.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '"' => quoted = !quoted,
            '\\' if !quoted => escaped = true,
            '[' if !quoted => bracket = true,
            ']' if !quoted => bracket = false,
            _ if quoted || bracket => {}
            'd' | 'D' | 'm' | 'M' | 'y' | 'Y' | 'h' | 'H' | 's' | 'S' => return true,
            _ => {}
        }
    }
    false
}

/// A column index from a cell reference (`B12` -> 1).
fn column_of(reference: &str) -> Option<usize> {
    let mut col = 0usize;
    let mut letters = 0;
    for b in reference.bytes() {
        if b.is_ascii_uppercase() {
            col = col * 26 + (b - b'A' + 1) as usize;
            letters += 1;
            if letters > 3 {
                return None;
            }
        } else {
            break;
        }
    }
    (letters > 0).then(|| col - 1)
}

/// Largest column index placed by its reference (Excel's own limit is
/// 16,384 columns); cells beyond are appended instead, so a hostile
/// reference cannot make every row huge.
const MAX_COLUMN: usize = 16_384;

/// A worksheet's rows of cell texts.
fn sheet_rows(
    xml: &[u8],
    shared: &[String],
    dates: &[bool],
    date1904: bool,
    allowance: &mut Allowance,
) -> (Vec<Vec<String>>, Result<(), String>) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row: Option<Vec<String>> = None;
    // The open cell: column, type, style, value text.
    let mut cell: Option<(Option<usize>, String, usize, String)> = None;
    let mut in_value = false;
    let parsed = each_event(xml, |event| match event {
        Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
            b"row" => {
                if matches!(event, Event::Start(_)) {
                    row = Some(Vec::new());
                } else if allowance.take(CELL_OVERHEAD) {
                    rows.push(Vec::new());
                }
            }
            b"c" => {
                let col = attr(e, b"r").and_then(|r| column_of(&r));
                let kind = attr(e, b"t").unwrap_or_default();
                let style = attr(e, b"s").and_then(|s| s.parse().ok()).unwrap_or(0);
                if matches!(event, Event::Start(_)) {
                    cell = Some((col, kind, style, String::new()));
                }
            }
            b"v" | b"t" if cell.is_some() && matches!(event, Event::Start(_)) => in_value = true,
            _ => {}
        },
        Event::End(e) => match e.local_name().as_ref() {
            b"v" | b"t" => in_value = false,
            b"c" => {
                if let (Some((col, kind, style, raw)), Some(r)) = (cell.take(), row.as_mut()) {
                    let text = cell_text(&kind, &raw, style, shared, dates, date1904);
                    let at = col
                        .filter(|&c| c < MAX_COLUMN && c >= r.len())
                        .unwrap_or(r.len());
                    let cells = (at - r.len()) as u64 + 1;
                    if allowance.take(cells * CELL_OVERHEAD + text.len() as u64) {
                        r.resize(at, String::new());
                        r.push(text);
                    }
                }
            }
            b"row" => rows.extend(row.take()),
            _ => {}
        },
        other => {
            if in_value {
                if let (Some(c), Some(t)) = (cell.as_mut(), text_of(other)) {
                    c.3.push_str(&t);
                }
            }
        }
    });
    (rows, parsed)
}

/// One cell's text by its type: shared string, inline string, boolean,
/// error, or number (a date when its style says so).
fn cell_text(
    kind: &str,
    raw: &str,
    style: usize,
    shared: &[String],
    dates: &[bool],
    date1904: bool,
) -> String {
    match kind {
        "s" => raw
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|i| shared.get(i))
            .cloned()
            .unwrap_or_default(),
        "b" => (if raw.trim() == "1" { "true" } else { "false" }).to_string(),
        "inlineStr" | "str" | "e" => raw.to_string(),
        _ => {
            let is_date = dates.get(style).copied().unwrap_or(false);
            match raw.trim().parse::<f64>() {
                Ok(serial) if is_date => {
                    excel_date(serial, date1904).unwrap_or_else(|| raw.to_string())
                }
                _ => raw.trim().to_string(),
            }
        }
    }
}

/// An Excel serial date as ISO text (`2012-01-01`, or `2012-01-01
/// 06:30:00` when the time is not midnight). The 1900 system counts the
/// non-existent 1900-02-29 (serial 60), as Excel does.
fn excel_date(serial: f64, date1904: bool) -> Option<String> {
    if !serial.is_finite() || !(0.0..3_000_000.0).contains(&serial) {
        return None;
    }
    let days = serial.floor() as i64;
    let seconds = ((serial - serial.floor()) * 86_400.0).round() as i64;
    let (days, seconds) = if seconds >= 86_400 {
        (days + 1, 0)
    } else {
        (days, seconds)
    };
    // Days since 1970-01-01.
    let unix_days = if date1904 {
        days - 24_107
    } else if days < 60 {
        days - 25_568
    } else {
        days - 25_569
    };
    let (y, m, d) = crate::fingerprint::records::civil_from_days(unix_days);
    Some(with_time(format!("{y:04}-{m:02}-{d:02}"), seconds))
}

/// `date` alone at midnight, else with `HH:MM:SS`.
fn with_time(date: String, seconds: i64) -> String {
    if seconds == 0 {
        date
    } else {
        format!(
            "{date} {:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}

/// An OpenDocument date value (`2012-01-01T00:00:00`) as ISO text in the
/// same form as [`excel_date`].
fn open_document_date(value: &str) -> String {
    let (date, time) = value.split_once('T').unwrap_or((value, ""));
    let mut parts = time.split(':');
    // Clamped so a hostile value cannot overflow the sum.
    let h: i64 = parts
        .next()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(0)
        .clamp(-1 << 32, 1 << 32);
    let m: i64 = parts
        .next()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(0)
        .clamp(-1 << 32, 1 << 32);
    let s: f64 = parts
        .next()
        .and_then(|p| p.parse::<f64>().ok())
        .unwrap_or(0.0)
        .clamp(-1e12, 1e12);
    with_time(date.to_string(), h * 3600 + m * 60 + s.round() as i64)
}

/// Most times a repeated row or cell is rendered: files commonly repeat
/// empty cells to the sheet's edge (dropped as empty), while content
/// repeated more often than this is kept once per this many.
const MAX_REPEAT: usize = 1_000;

/// Tables of an OpenDocument content.xml (spreadsheet sheets and text
/// tables alike): typed values from `office:*value` attributes, text from
/// the paragraphs otherwise; repeated rows and cells expanded up to
/// [`MAX_REPEAT`].
fn open_document_tables(xml: &[u8], allowance: &mut Allowance) -> (Vec<Table>, Result<(), String>) {
    let mut tables = Vec::new();
    let mut table: Option<Table> = None;
    let mut row: Option<(Vec<String>, usize)> = None;
    // The open cell: typed value (if any), paragraph text, repeat count.
    let mut cell: Option<(Option<String>, String, usize)> = None;
    let mut paragraphs = 0u32;
    let parsed = each_event(xml, |event| match event {
        Event::Start(e) | Event::Empty(e) => {
            let empty = matches!(event, Event::Empty(_));
            match e.local_name().as_ref() {
                b"table" if !empty => {
                    table = Some(Table {
                        name: attr(e, b"name").unwrap_or_default(),
                        rows: Vec::new(),
                    })
                }
                b"table-row" => {
                    let repeat = attr(e, b"number-rows-repeated")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1usize);
                    if empty {
                        if let Some(t) = table.as_mut().filter(|_| allowance.take(CELL_OVERHEAD)) {
                            t.rows.push(Vec::new());
                        }
                    } else {
                        row = Some((Vec::new(), repeat));
                    }
                }
                b"table-cell" | b"covered-table-cell" => {
                    let repeat = attr(e, b"number-columns-repeated")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1usize);
                    let value = match attr(e, b"value-type").as_deref() {
                        Some("float" | "percentage" | "currency") => attr(e, b"value"),
                        Some("date") => attr(e, b"date-value").map(|d| open_document_date(&d)),
                        Some("boolean") => attr(e, b"boolean-value"),
                        _ => None,
                    };
                    if empty {
                        push_cell(&mut row, value.unwrap_or_default(), repeat, allowance);
                    } else {
                        cell = Some((value, String::new(), repeat));
                        paragraphs = 0;
                    }
                }
                b"p" | b"h" if cell.is_some() && !empty => {
                    if let Some(c) = cell.as_mut() {
                        if paragraphs > 0 {
                            c.1.push('\n');
                        }
                    }
                    paragraphs += 1;
                }
                b"s" => {
                    if let Some(c) = cell.as_mut() {
                        let n = attr(e, b"c").and_then(|v| v.parse().ok()).unwrap_or(1usize);
                        let n = n.min(MAX_REPEAT);
                        if allowance.take(n as u64) {
                            c.1.extend(std::iter::repeat_n(' ', n));
                        }
                    }
                }
                b"tab" => {
                    if let Some(c) = cell.as_mut() {
                        c.1.push('\t');
                    }
                }
                _ => {}
            }
        }
        Event::End(e) => match e.local_name().as_ref() {
            b"table-cell" | b"covered-table-cell" => {
                if let Some((value, text, repeat)) = cell.take() {
                    push_cell(&mut row, value.unwrap_or(text), repeat, allowance);
                }
            }
            b"table-row" => {
                if let (Some((cells, repeat)), Some(t)) = (row.take(), table.as_mut()) {
                    let blank = cells.iter().all(String::is_empty);
                    let times = if blank {
                        1
                    } else {
                        repeat.clamp(1, MAX_REPEAT)
                    };
                    // The row's first copy was paid for cell by cell.
                    let cost: u64 = cells.iter().map(|c| c.len() as u64 + CELL_OVERHEAD).sum();
                    for copy in 0..times {
                        if copy > 0 && !allowance.take(cost) {
                            break;
                        }
                        t.rows.push(cells.clone());
                    }
                }
            }
            b"table" => tables.extend(table.take()),
            _ => {}
        },
        other => {
            if let (Some(c), Some(t)) = (cell.as_mut(), text_of(other)) {
                c.1.push_str(&t);
            }
        }
    });
    (tables, parsed)
}

/// Appends a cell `repeat` times (empty cells at most once per call, so
/// a row padded to the sheet's edge stays short), as far as the allowance
/// goes.
fn push_cell(
    row: &mut Option<(Vec<String>, usize)>,
    text: String,
    repeat: usize,
    allowance: &mut Allowance,
) {
    if let Some((cells, _)) = row.as_mut() {
        let times = if text.is_empty() {
            1
        } else {
            repeat.clamp(1, MAX_REPEAT)
        };
        for _ in 0..times {
            if !allowance.take(text.len() as u64 + CELL_OVERHEAD) {
                return;
            }
            cells.push(text.clone());
        }
    }
}

/// Tables of a docx `word/document.xml`: each `w:tbl` with its rows and
/// cells, a cell's paragraphs joined by line breaks.
fn word_tables(xml: &[u8], allowance: &mut Allowance) -> (Vec<Table>, Result<(), String>) {
    let mut tables = Vec::new();
    // Nested tables are read as tables of their own.
    let mut stack: Vec<Table> = Vec::new();
    let mut row: Option<Vec<String>> = None;
    let mut cell: Option<String> = None;
    let mut in_text = false;
    let parsed = each_event(xml, |event| match event {
        Event::Start(e) => match e.local_name().as_ref() {
            b"tbl" => stack.push(Table {
                name: String::new(),
                rows: Vec::new(),
            }),
            b"tr" => row = Some(Vec::new()),
            b"tc" => cell = Some(String::new()),
            b"p" => {
                if let Some(c) = cell.as_mut().filter(|c| !c.is_empty()) {
                    c.push('\n');
                }
            }
            b"t" => in_text = true,
            _ => {}
        },
        Event::Empty(e) if e.local_name().as_ref() == b"tab" => {
            if let Some(c) = cell.as_mut() {
                c.push('\t');
            }
        }
        Event::End(e) => match e.local_name().as_ref() {
            b"t" => in_text = false,
            b"tc" => {
                if let (Some(c), Some(r)) = (cell.take(), row.as_mut()) {
                    if allowance.take(c.len() as u64 + CELL_OVERHEAD) {
                        r.push(c);
                    }
                }
            }
            b"tr" => {
                if let (Some(r), Some(t)) = (row.take(), stack.last_mut()) {
                    t.rows.push(r);
                }
            }
            b"tbl" => tables.extend(stack.pop()),
            _ => {}
        },
        other => {
            if in_text {
                if let (Some(c), Some(t)) = (cell.as_mut(), text_of(other)) {
                    c.push_str(&t);
                }
            }
        }
    });
    (tables, parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_serials_are_iso_dates() {
        assert_eq!(excel_date(40909.0, false).as_deref(), Some("2012-01-01"));
        assert_eq!(excel_date(1.0, false).as_deref(), Some("1900-01-01"));
        assert_eq!(excel_date(61.0, false).as_deref(), Some("1900-03-01"));
        assert_eq!(
            excel_date(40909.25, false).as_deref(),
            Some("2012-01-01 06:00:00")
        );
        assert_eq!(excel_date(0.0, true).as_deref(), Some("1904-01-01"));
        assert_eq!(open_document_date("2012-01-01T00:00:00"), "2012-01-01");
    }

    #[test]
    fn date_formats() {
        assert!(format_is_date("YYYY-MM-DD HH:MM:SS"));
        assert!(format_is_date("d/m/yy"));
        assert!(!format_is_date("0.00"));
        assert!(!format_is_date("#,##0 \"days\""));
        assert!(!format_is_date("[Red]0.0"));
        assert!(!format_is_date("General"));
    }

    #[test]
    fn columns() {
        assert_eq!(column_of("A1"), Some(0));
        assert_eq!(column_of("AB7"), Some(27));
        assert_eq!(column_of("7"), None);
    }
}

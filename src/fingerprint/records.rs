//! The `records` signal: one hash per telemetry record, independent of
//! delimiter, quoting, whitespace, column order and number formatting, so
//! excerpts, shuffles and reformatted copies of a log still match.
//!
//! This version reads delimited and column-aligned text (comma, tab,
//! semicolon, pipe, runs of spaces; quoting; header and metadata lines).
//! A canonical record is the multiset of its canonical fields: numbers by
//! value (1.50, 1.5, 1.5e0 and 01.5 are one number; -0 is 0), other text
//! trimmed and lower-cased. Each field becomes a 64-bit key and the record
//! hash is a mixed sum of its fields' keys, so field order never matters and
//! nothing is sorted, formatted or hashed twice. The record hash keeps 64
//! bits: with at most millions of records per file, collisions between
//! unrelated records are around 1e-7 per file, and a match needs many
//! records. The mixing is a folded 128-bit multiply (not a cryptographic
//! hash): records are matched, never trusted as proof of identity, and an
//! adversary gains nothing from a collision but a false alarm.
//! Records that say little (fewer than two distinct non-empty fields, all
//! numbers zero, or repeated more than three times in the file) are not
//! used.

use std::collections::HashMap;
use std::io::{self, BufRead, Read};

use serde::Serialize;

use crate::reason::Reason;
use crate::sniff::Kind;

/// The records signal's fingerprint of one item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordsFp {
    /// The field separator found (`,`, `\t`, `;`, `|` or `whitespace`).
    pub delimiter: String,
    /// Lines read as records (after header and metadata lines).
    pub records: u64,
    /// Lines skipped as header, comments or metadata.
    pub skipped_lines: u64,
    /// Distinct informative record hashes, sorted.
    #[serde(skip)]
    pub hashes: Vec<u64>,
    /// How many distinct informative records there are.
    pub informative: u64,
    /// Hashes of the same records with numbers rounded to 2 and to 1
    /// decimals, as (decimals, hash), sorted, for the sample of about one in
    /// [`ROUNDED_SAMPLING`] (by hash) both sides keep: rounded copies match
    /// these.
    #[serde(skip)]
    pub rounded: Vec<(u8, u64)>,
    /// Sampled hashes of the records with one field left out, each as
    /// `(hash & !0xF) | position` of the field left out (see
    /// [`projection_probes`]), sorted: a copy with one column reformatted
    /// matches these.
    #[serde(skip)]
    pub projected: Vec<u64>,
}

/// Fields of a record that can be left out one at a time (positions 0..16
/// fit the 4 bits that carry them; a wider record's later columns are not).
pub const MAX_PROJECTED_FIELDS: usize = 16;

/// One in this many projections is kept (by bits 4..7 of its hash), on
/// both sides, so the index grows by (fields / 16) entries per record.
pub const PROJECTION_SAMPLING: u64 = 16;

/// The form tag of a projection hash.
const PROJECTED_FORM: u64 = 0x300;

/// Whether a projection hash is in the sample both sides keep.
fn projection_sampled(h: u64) -> bool {
    (h >> 4).is_multiple_of(PROJECTION_SAMPLING)
}

/// One in this many rounded forms of a record is kept (by bits 4..6 of its
/// hash), on both sides: a rounded copy is found through about an eighth
/// of its records (see [`ROUNDED_MIN_SAMPLED`]: about 40 records on
/// average, 80 records 97.8% of the time, 160 records 99.9993%).
pub const ROUNDED_SAMPLING: u64 = 8;

/// Sampled rounded records a `records_approx` match needs at least, besides
/// the estimate (sampled x [`ROUNDED_SAMPLING`]) passing the records
/// thresholds.
pub const ROUNDED_MIN_SAMPLED: u64 = 5;

/// Whether a rounded record hash is in the sample both sides keep.
pub fn rounded_sampled(h: u64) -> bool {
    (h >> 4).is_multiple_of(ROUNDED_SAMPLING)
}

/// Bytes of a record hash the record tables keep as their key (48 bits:
/// with a billion records indexed, an outgoing record meets a false hit
/// with probability about 4e-6, and a match needs many records in one
/// table).
pub const RECORD_KEY_LEN: usize = 6;

/// The table key of an exact or rounded record hash: its top 48 bits.
pub fn record_key(h: u64) -> [u8; RECORD_KEY_LEN] {
    let b = h.to_be_bytes();
    [b[0], b[1], b[2], b[3], b[4], b[5]]
}

/// The table key of a projection value (hash with the left-out position in
/// its low 4 bits): the hash's top 44 bits, then the position.
pub fn projected_key(value: u64) -> [u8; RECORD_KEY_LEN] {
    record_key(((value >> 20) << 20) | ((value & 0xF) << 16))
}

/// The left-out position a projected key carries.
pub fn projected_key_column(key: &[u8]) -> u8 {
    key[RECORD_KEY_LEN - 1] & 0xF
}

/// The index values an outgoing projection value can match: the same
/// hash with each field position a protected record may have left out.
pub fn projection_probes(value: u64) -> impl Iterator<Item = u64> {
    (0..MAX_PROJECTED_FIELDS as u64).map(move |j| (value & !0xF) | j)
}

/// Decimal precisions at which rounded copies are recognised.
pub const ROUNDED_DECIMALS: [u8; 2] = [2, 1];

/// One field in canonical form.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Field {
    /// Nothing but white space.
    Empty,
    /// A finite number, by value (-0 is 0).
    Number(f64),
    /// Any other text: a hash of its trimmed, lower-cased bytes.
    Text(u64),
    /// A calendar date (and time), year first (`2012-01-01`,
    /// `2012/01/01 06:00`, `2012-01-01T06:00:00Z`), as seconds since
    /// 1970-01-01: the same instant written either way, or typed as a date
    /// in a spreadsheet, is one field.
    Date(i64),
}

/// Exact powers of ten (every one is a double).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// [`fold_multiply`](super::fold_multiply) of two salted words (the salts
/// keep zero inputs from giving zero).
fn fold(a: u64, b: u64) -> u64 {
    super::fold_multiply(a ^ 0x243F_6A88_85A3_08D3, b ^ 0x1319_8A2E_0370_7344)
}

impl Field {
    /// The canonical form of one raw field.
    pub fn parse(raw: &str) -> Field {
        // `trim` decodes characters; a field that starts and ends with a
        // printable ASCII character (nearly all) has nothing to trim.
        let b = raw.as_bytes();
        let plain = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_graphic());
        let t = if plain(b.first()) && plain(b.last()) {
            raw
        } else {
            raw.trim()
        };
        if t.is_empty() {
            return Field::Empty;
        }
        match parse_number(t) {
            Some(v) => Field::Number(if v == 0.0 { 0.0 } else { v }),
            None => match parse_date(t) {
                Some(seconds) => Field::Date(seconds),
                None => Field::Text(text_hash(t)),
            },
        }
    }

    /// The field's 64-bit key.
    fn key(self) -> u64 {
        match self {
            Field::Empty => 0x9E37_79B9_7F4A_7C15,
            Field::Number(v) => fold(v.to_bits(), 0x452821E638D01377),
            Field::Text(h) => fold(h, 0xBE5466CF34E90C6C),
            Field::Date(t) => fold(t as u64, 0xC0AC_29B7_C97C_50DD),
        }
    }

    /// The field with numbers rounded to `decimals` places (half away from
    /// zero).
    fn rounded(self, decimals: u8) -> Field {
        match self {
            Field::Number(v) => {
                let scale = POW10[decimals as usize];
                let r = round_half_away(v * scale) / scale;
                Field::Number(if r == 0.0 { 0.0 } else { r })
            }
            other => other,
        }
    }
}

/// `x.round()` (half away from zero) up to the sign of a zero result,
/// without the library call `round` is on CPUs the build does not assume
/// SSE4.1 for: below 2^52 the truncation through an integer is exact, and
/// so is the fraction left; from 2^52 on every double is whole.
fn round_half_away(x: f64) -> f64 {
    if x.is_nan() || x.abs() >= 4_503_599_627_370_496.0 {
        return x;
    }
    let whole = x as i64 as f64;
    let fraction = x - whole;
    if fraction >= 0.5 {
        whole + 1.0
    } else if fraction <= -0.5 {
        whole - 1.0
    } else {
        whole
    }
}

/// A year-first date, optionally with a time of day, as seconds since
/// 1970-01-01 (UTC or unzoned): `YYYY-MM-DD`, `/` or `.` as separators,
/// then optionally `T` or a space and `HH:MM[:SS[.fff]]`, then optionally
/// `Z`. Day-first and month-first forms are ambiguous and stay text.
fn parse_date(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sep = *b.get(4)?;
    if !matches!(sep, b'-' | b'/' | b'.') {
        return None;
    }
    let digits = |s: &[u8]| -> Option<i64> {
        (!s.is_empty() && s.len() <= 2 && s.iter().all(u8::is_ascii_digit))
            .then(|| s.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let rest = &b[5..];
    let m_end = rest.iter().position(|&c| c == sep)?;
    let month = digits(&rest[..m_end])?;
    let rest = &rest[m_end + 1..];
    let d_end = rest
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let day = digits(&rest[..d_end])?;
    let year = b[..4]
        .iter()
        .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut seconds = 0i64;
    let mut rest = &rest[d_end..];
    if let [b'T' | b' ', time @ ..] = rest {
        // Two or three parts, without allocating.
        let mut parts: [&[u8]; 3] = [&[]; 3];
        let mut count = 0;
        for part in time.split(|&c| c == b':') {
            *parts.get_mut(count)? = part;
            count += 1;
        }
        if count < 2 {
            return None;
        }
        let fields = &parts[..count];
        let h = digits(fields[0])?;
        let mut last = fields[fields.len() - 1];
        if last.last() == Some(&b'Z') {
            last = &last[..last.len() - 1];
        }
        let (m, s) = if fields.len() == 2 {
            (digits(last)?, 0)
        } else {
            let whole = last.split(|&c| c == b'.').next()?;
            let frac = &last[whole.len()..];
            if !frac.is_empty() && !frac[1..].iter().all(u8::is_ascii_digit) {
                return None;
            }
            (digits(fields[1])?, digits(whole)?)
        };
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        seconds = h * 3600 + m * 60 + s;
        rest = &[];
    }
    if rest == b"Z" {
        rest = &[];
    }
    if !rest.is_empty() {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + seconds)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's civil-from-days algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// days-from-civil algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A decimal number as Rust's `str::parse::<f64>` reads it, if finite. Plain
/// decimals of up to 15 significant digits (nearly every logged value) are
/// read exactly without it: the digits as an integer divided by a power of
/// ten, both exact doubles, is the correctly rounded value.
fn parse_number(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let slow = || t.parse::<f64>().ok().filter(|v| v.is_finite());
    // Rust's grammar: a finite number is digits with at most one point,
    // then optionally `e` or `E` and an exponent; anything else is not one
    // (`inf` and `nan`, the only other words it reads, are not finite), so
    // text and dates are turned away here without the full reader.
    let (mut mantissa, mut significant, mut fraction) = (0u64, 0u32, 0usize);
    let (mut dot, mut any) = (false, false);
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                any = true;
                if dot {
                    fraction += 1;
                }
                if mantissa == 0 && c == b'0' {
                    continue;
                }
                if significant == 15 {
                    return slow();
                }
                mantissa = mantissa * 10 + (c - b'0') as u64;
                significant += 1;
            }
            b'.' if !dot => dot = true,
            b'e' | b'E' => return slow(),
            _ => return None,
        }
    }
    if !any || fraction >= POW10.len() {
        return slow();
    }
    let v = mantissa as f64 / POW10[fraction];
    Some(if negative { -v } else { v })
}

/// A 64-bit hash of text, lower-cased.
fn text_hash(t: &str) -> u64 {
    fn words(bytes: &[u8], lower: bool) -> u64 {
        let mut h = fold(bytes.len() as u64, 0x0801_F2E2_858E_FC16);
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            for (o, b) in w.iter_mut().zip(chunk) {
                *o = if lower { b.to_ascii_lowercase() } else { *b };
            }
            h = fold(h, u64::from_le_bytes(w));
        }
        h
    }
    if t.is_ascii() {
        words(t.as_bytes(), true)
    } else {
        words(t.to_lowercase().as_bytes(), false)
    }
}

/// The hash of a record from the sum of its fields' terms
/// ([`field_term`]) and their number: order-independent, and distinct per
/// `form` (exact, or rounded to some decimals).
fn record_hash(form: u64, term_sum: u64, fields: u64) -> u64 {
    fold(term_sum ^ form, fields)
}

/// A field key's term in a record hash's sum.
fn field_term(key: u64) -> u64 {
    fold(key, 0xA409_3822_299F_31D0)
}

/// Why text could not be read as records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordsError {
    /// No consistent table was found.
    NotTabular(String),
}

impl RecordsError {
    /// The stable reason code for reports.
    pub fn code(&self) -> &'static str {
        "records.parse_failed"
    }

    /// A human-readable detail.
    pub fn detail(&self) -> String {
        match self {
            RecordsError::NotTabular(m) => format!("cannot read records: {m}"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Delimiter {
    Byte(u8),
    Whitespace,
}

/// Bytes at the start of a table the delimiter is chosen on.
const DELIMITER_SAMPLE: usize = 64 * 1024;

/// Chooses the delimiter on the start of a table (its first
/// [`DELIMITER_SAMPLE`] bytes): the one that gives the most lines the same
/// (>= 2) number of fields. Returns it and that field count.
fn choose_delimiter(head: &[u8]) -> (Delimiter, usize) {
    let head = &head[..head.len().min(DELIMITER_SAMPLE)];
    let head = &head[..head
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(head.len(), |i| i + 1)];
    let sample = &*String::from_utf8_lossy(head);
    let candidates = [
        Delimiter::Byte(b','),
        Delimiter::Byte(b'\t'),
        Delimiter::Byte(b';'),
        Delimiter::Byte(b'|'),
        Delimiter::Whitespace,
    ];
    let mut best = (0, Delimiter::Whitespace, 0);
    for d in candidates {
        let rows = rows_of(sample, d);
        let score = consistent_rows(&rows);
        if score > best.0 {
            best = (score, d, field_count_mode(&rows));
        }
    }
    (best.1, best.2)
}

fn rows_of(text: &str, delimiter: Delimiter) -> Vec<Vec<String>> {
    match delimiter {
        Delimiter::Byte(d) => csv::ReaderBuilder::new()
            .delimiter(d)
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes())
            .records()
            .filter_map(Result::ok)
            .map(|r| r.iter().map(str::to_string).collect())
            .collect(),
        Delimiter::Whitespace => text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| l.split_ascii_whitespace().map(str::to_string).collect())
            .collect(),
    }
}

/// Rows sharing the most common field count, when that count is >= 2.
fn consistent_rows(rows: &[Vec<String>]) -> usize {
    let mode = field_count_mode(rows);
    if mode < 2 {
        return 0;
    }
    rows.iter().filter(|r| r.len() == mode).count()
}

fn field_count_mode(rows: &[Vec<String>]) -> usize {
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for r in rows {
        *counts.entry(r.len()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(len, n)| (n, len))
        .map_or(0, |(len, _)| len)
}

/// Reads an item of `kind` (table, GPX or JSON) as records and
/// fingerprints them. A table that passes a limit ([`MAX_RECORD_BYTES`],
/// [`MAX_TABLE_RECORDS`]) gives the records before it and the reason it was
/// not read to its end.
pub fn fingerprint(kind: Kind, data: &[u8]) -> Result<(RecordsFp, Option<Reason>), RecordsError> {
    match kind {
        Kind::Gpx => gpx_records(data).map(|r| (r, None)),
        Kind::Json => json_records(data).map(|r| (r, None)),
        _ => Ok(table_from_reader(data).expect("reading a slice cannot fail")),
    }
}

/// Longest record (line) a table is read through, bytes (16 MiB): past it
/// (an unclosed quote, say) the rest is not read as records and the item
/// is `incomplete` (`limits.record_bytes`). Comment and blank lines the
/// delimited reader skips count towards the record after them.
pub const MAX_RECORD_BYTES: u64 = 16 << 20;

/// Most records read from one table (64 Mi: record hashes of 512 MiB, and
/// up to about as much again for the sampled forms); a table with more is
/// `incomplete` (`limits.table_records`).
pub const MAX_TABLE_RECORDS: u64 = 64 << 20;

/// Bytes the records parsers buffer ahead.
const PARSE_BUFFER: u64 = 256 << 10;

/// Ends its reader early once more than [`MAX_RECORD_BYTES`] and twice the
/// parser's buffer were read since the last [`record_done`]
/// (Self::record_done), so one endless record cannot take memory without
/// bound. A parser refills only an exhausted buffer, so a record that
/// trips the guard has taken more than [`MAX_RECORD_BYTES`] (and one that
/// took fewer never trips it): the outcome does not depend on how the
/// input was split into reads.
struct RecordGuard<R> {
    inner: R,
    since_record: u64,
    tripped: bool,
}

impl<R> RecordGuard<R> {
    fn record_done(&mut self) {
        self.since_record = 0;
    }
}

impl<R: Read> Read for RecordGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.since_record > MAX_RECORD_BYTES + 2 * PARSE_BUFFER {
            self.tripped = true;
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.since_record += n as u64;
        Ok(n)
    }
}

/// Reads delimited or column-aligned text (a [`Kind::Table`]) as records
/// and fingerprints them, one record at a time: memory holds one record and
/// the record hashes, however long the table. Bytes that are not UTF-8 are
/// read as U+FFFD. The result equals [`fingerprint`]'s on the same bytes.
/// Reads `reader` to its end unless the table has no delimiter (nothing to
/// read records from) or a limit ends the reading (the reason is then
/// returned with the records read before it); errors are the reader's own.
pub fn table_from_reader<R: Read>(reader: R) -> io::Result<(RecordsFp, Option<Reason>)> {
    let mut hasher = RecordHasher::default();
    let (label, skipped, cut) = read_table(reader, &mut hasher)?;
    Ok((hasher.finish(label, skipped), cut))
}

/// Reads a table's records into `hasher`: returns the delimiter's label,
/// the lines skipped and why the reading stopped early, if it did.
fn read_table<R: Read>(
    mut reader: R,
    hasher: &mut RecordHasher,
) -> io::Result<(String, u64, Option<Reason>)> {
    let mut head = Vec::with_capacity(DELIMITER_SAMPLE);
    (&mut reader)
        .take(DELIMITER_SAMPLE as u64)
        .read_to_end(&mut head)?;
    let (delim, mode) = choose_delimiter(&head);
    let input = RecordGuard {
        inner: io::Cursor::new(head).chain(reader),
        since_record: 0,
        tripped: false,
    };
    if mode < 2 {
        // A list (one value per line) or prose: no line can make a record
        // of two or more fields, so there is nothing for this signal to
        // match; the byte signals examine it in full.
        return Ok(("none".into(), 0, None));
    }
    let mut skipped = 0u64;
    // Metadata lines have another field count; a header has no number.
    // Whether a record ran over the limit, and the byte it started at.
    let mut overlong: Option<u64> = None;
    // Whether records were left unread at the record limit.
    let mut capped = false;
    match delim {
        Delimiter::Byte(d) => {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(d)
                .has_headers(false)
                .flexible(true)
                .comment(Some(b'#'))
                .buffer_capacity(PARSE_BUFFER as usize)
                .from_reader(input);
            let mut record = csv::ByteRecord::new();
            loop {
                reader.get_mut().record_done();
                let start = reader.position().byte();
                let read = reader.read_byte_record(&mut record);
                if reader.get_ref().tripped || reader.position().byte() - start > MAX_RECORD_BYTES {
                    // Over the limit, however the input was split into
                    // reads (a record cut by the guard is not a record).
                    overlong = Some(start);
                    break;
                }
                if hasher.records >= MAX_TABLE_RECORDS {
                    match read {
                        Ok(false) => {}
                        Ok(true) => capped = true,
                        Err(e) => match e.into_kind() {
                            csv::ErrorKind::Io(e) => return Err(e),
                            _ => capped = true,
                        },
                    }
                    break;
                }
                match read {
                    Ok(true) => {
                        if record.len() != mode
                            || !hasher.push_numeric(record.iter().map(lossy_field))
                        {
                            skipped += 1;
                        }
                    }
                    Ok(false) => break,
                    Err(e) => match e.into_kind() {
                        csv::ErrorKind::Io(e) => return Err(e),
                        _ => skipped += 1,
                    },
                }
            }
        }
        Delimiter::Whitespace => {
            let mut lines = io::BufReader::with_capacity(PARSE_BUFFER as usize, input);
            let mut raw = Vec::new();
            let mut start = 0u64;
            // Lines end at `\n` or `\r\n`, as `str::lines` ends them.
            while {
                lines.get_mut().record_done();
                lines.read_until(b'\n', &mut raw)? > 0
            } {
                if lines.get_ref().tripped || raw.len() as u64 > MAX_RECORD_BYTES {
                    overlong = Some(start);
                    break;
                }
                if hasher.records >= MAX_TABLE_RECORDS {
                    capped = true;
                    break;
                }
                start += raw.len() as u64;
                if raw.last() == Some(&b'\n') {
                    raw.pop();
                    if raw.last() == Some(&b'\r') {
                        raw.pop();
                    }
                }
                let line = String::from_utf8_lossy(&raw);
                if !line.trim_start().starts_with('#')
                    && (line.split_ascii_whitespace().count() != mode
                        || !hasher.push_numeric(line.split_ascii_whitespace()))
                {
                    skipped += 1;
                }
                raw.clear();
            }
        }
    }
    let cut = if let Some(start) = overlong {
        Some(Reason::new(
            "limits.record_bytes",
            format!(
                "the record at byte {start} runs over {MAX_RECORD_BYTES} bytes (an unclosed quote?); the table from there on was not read as records"
            ),
        ))
    } else if capped {
        Some(Reason::new(
            "limits.table_records",
            format!("more than {MAX_TABLE_RECORDS} records; those after were not read as records"),
        ))
    } else {
        None
    };
    let label = match delim {
        Delimiter::Byte(b'\t') => "\\t".to_string(),
        Delimiter::Byte(b) => (b as char).to_string(),
        Delimiter::Whitespace => "whitespace".to_string(),
    };
    Ok((label, skipped, cut))
}

/// One record of a table as fingerprinting read it, kept for people to
/// look at (the evidence report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRow {
    /// Its place among the records read (1-based; header, comment and
    /// metadata lines are not records).
    pub number: u64,
    /// Its record hash, as stored in the index.
    pub hash: u64,
    /// Its fields as written.
    pub fields: Vec<String>,
}

/// The records of an item of `kind` (table, GPX, JSON, or a NetCDF/HDF5
/// station series) that the records signal stores (informative, and not
/// repeated more than three times in the item) and whose hash `keep`
/// accepts, with their hashes, read as [`fingerprint`] reads them; at most
/// `max_rows`.
pub fn record_rows(
    kind: Kind,
    data: &[u8],
    max_rows: usize,
    keep: &dyn Fn(u64) -> bool,
) -> Result<Vec<RecordRow>, RecordsError> {
    let rows = match kind {
        Kind::Gpx => gpx_rows(data)?,
        Kind::Json => json_rows(data)?,
        Kind::NetCdf | Kind::Hdf5 => crate::fingerprint::raster::series_rows(data, kind)
            .ok_or_else(|| RecordsError::NotTabular("no station series".into()))?,
        _ => {
            let mut hasher = RecordHasher::keeping(max_rows, keep);
            read_table(data, &mut hasher).expect("reading a slice cannot fail");
            return Ok(hasher.stored_rows());
        }
    };
    Ok(record_rows_of(&rows, max_rows, keep))
}

/// [`record_rows`] of rows already split into fields (as
/// [`fingerprint_rows`] reads them).
pub fn record_rows_of(
    rows: &[Vec<String>],
    max_rows: usize,
    keep: &dyn Fn(u64) -> bool,
) -> Vec<RecordRow> {
    let mut hasher = RecordHasher::keeping(max_rows, keep);
    for row in rows {
        hasher.texts.clone_from(row);
        hasher.push(row.iter().map(String::as_str));
    }
    hasher.stored_rows()
}

/// GPX track, route and way points: latitude, longitude, and elevation and
/// time when present, so a point equals a CSV row of the same values. The
/// reader never expands entities, reads no DTD and fetches nothing.
fn gpx_records(data: &[u8]) -> Result<RecordsFp, RecordsError> {
    let points = gpx_rows(data)?;
    Ok(hash_records(
        points.iter().map(|p| p.as_slice()),
        "gpx".into(),
        0,
    ))
}

/// The fields of each GPX point (see [`gpx_records`]).
fn gpx_rows(data: &[u8]) -> Result<Vec<Vec<String>>, RecordsError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(data);
    let mut buf = Vec::new();
    let mut points: Vec<Vec<String>> = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut field: Option<String> = None;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) if is_point(e.local_name().as_ref()) => {
                current = Some(lat_lon(&e));
            }
            Ok(Event::Empty(e)) if is_point(e.local_name().as_ref()) => {
                points.push(lat_lon(&e));
            }
            Ok(Event::Start(e)) if current.is_some() => {
                let name = e.local_name();
                if matches!(name.as_ref(), b"ele" | b"time") {
                    field = Some(String::new());
                }
            }
            Ok(Event::Text(t)) => {
                if let (Some(f), Ok(text)) = (field.as_mut(), t.decode()) {
                    f.push_str(text.trim());
                }
            }
            Ok(Event::End(e)) => {
                let name = e.local_name();
                if matches!(name.as_ref(), b"ele" | b"time") {
                    if let (Some(p), Some(f)) = (current.as_mut(), field.take()) {
                        p.push(f);
                    }
                } else if is_point(name.as_ref()) {
                    points.extend(current.take());
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(RecordsError::NotTabular(format!(
                    "GPX is not well-formed XML at byte {}: {e}",
                    reader.buffer_position()
                )));
            }
        }
        buf.clear();
    }
    points.extend(current.take());
    if points.is_empty() {
        return Err(RecordsError::NotTabular("GPX without points".into()));
    }
    Ok(points)
}

/// A point element's latitude and longitude attributes.
fn lat_lon(e: &quick_xml::events::BytesStart<'_>) -> Vec<String> {
    let mut out = vec![String::new(), String::new()];
    for attr in e.attributes().flatten() {
        let value = String::from_utf8_lossy(&attr.value).into_owned();
        match attr.key.local_name().as_ref() {
            b"lat" => out[0] = value,
            b"lon" => out[1] = value,
            _ => {}
        }
    }
    out
}

fn is_point(name: &[u8]) -> bool {
    matches!(name, b"trkpt" | b"rtept" | b"wpt")
}

/// JSON arrays of objects, GeoJSON features (properties and coordinates)
/// and JSON Lines: the scalar values of each object are its fields.
fn json_records(data: &[u8]) -> Result<RecordsFp, RecordsError> {
    let rows = json_rows(data)?;
    Ok(hash_records(
        rows.iter().map(|r| r.as_slice()),
        "json".into(),
        0,
    ))
}

/// The fields of each JSON object (see [`json_records`]).
fn json_rows(data: &[u8]) -> Result<Vec<Vec<String>>, RecordsError> {
    use serde_json::Value;
    let objects: Vec<Value> = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Array(items)) => items,
        Ok(Value::Object(mut o)) => match o.remove("features") {
            Some(Value::Array(features)) => features,
            _ => vec![Value::Object(o)],
        },
        // A lone string or number holds no records.
        Ok(_) => Vec::new(),
        Err(_) => data
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(serde_json::from_slice::<Value>)
            .collect::<Result<_, _>>()
            .map_err(|e| RecordsError::NotTabular(format!("neither JSON nor JSON Lines: {e}")))?,
    };
    let rows: Vec<Vec<String>> = objects
        .iter()
        .map(json_fields)
        .filter(|f| !f.is_empty())
        .collect();
    Ok(rows)
}

/// Scalar values of an object (GeoJSON: its properties and coordinates).
fn json_fields(v: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let mut out = Vec::new();
    let mut push = |v: &Value| match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        _ => {}
    };
    match v {
        Value::Object(o) => {
            let props = o.get("properties").and_then(Value::as_object);
            let coords = o.get("geometry").and_then(|g| g.get("coordinates"));
            match (props, coords) {
                (Some(p), c) => {
                    p.values().for_each(&mut push);
                    if let Some(Value::Array(c)) = c {
                        c.iter().for_each(&mut push);
                    }
                }
                _ => o.values().for_each(&mut push),
            }
        }
        Value::Array(a) => a.iter().for_each(&mut push),
        other => push(other),
    }
    out
}

/// Fingerprints rows already split into fields (a table read from a
/// binary format); `source` names where they came from.
pub fn fingerprint_rows(rows: &[Vec<String>], source: &str) -> RecordsFp {
    hash_records(rows.iter().map(|r| r.as_slice()), source.to_string(), 0)
}

/// Canonicalises, filters and hashes records.
fn hash_records<'a>(
    rows: impl Iterator<Item = &'a [String]>,
    delimiter: String,
    skipped: u64,
) -> RecordsFp {
    let mut hasher = RecordHasher::default();
    for row in rows {
        hasher.push(row.iter().map(String::as_str));
    }
    hasher.finish(delimiter, skipped)
}

/// A raw field as text, invalid UTF-8 read as U+FFFD. Valid text (nearly
/// every field) is only checked, by the standard library's validator,
/// which is faster than the lossy decoder's.
fn lossy_field(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

/// Canonicalises, filters and hashes records one at a time, reusing its
/// field buffer. Hashes are collected in plain vectors and counted by
/// sorting at the end: 8 bytes a record, where a hash map counting them
/// took three to six times that at its peak (spare capacity, and both
/// tables alive while it grows).
#[derive(Default)]
struct RecordHasher<'k> {
    hashes: Vec<u64>,
    rounded: Vec<(u8, u64)>,
    projected: Vec<u64>,
    records: u64,
    fields: Vec<Field>,
    /// The current record's field terms (a buffer kept between records).
    terms: Vec<u64>,
    /// Informative records kept with their text, when asked for (see
    /// [`record_rows`]).
    rows: Option<Vec<RecordRow>>,
    /// Most rows kept.
    max_rows: usize,
    /// Which rows to keep, by hash.
    keep: Option<&'k dyn Fn(u64) -> bool>,
    /// The current record's fields as written, when rows are kept.
    texts: Vec<String>,
}

impl<'k> RecordHasher<'k> {
    /// A hasher that also keeps (up to `max_rows`) the rows `keep` accepts.
    fn keeping(max_rows: usize, keep: &'k dyn Fn(u64) -> bool) -> RecordHasher<'k> {
        RecordHasher {
            rows: Some(Vec::new()),
            max_rows,
            keep: Some(keep),
            ..RecordHasher::default()
        }
    }

    /// Takes a record whatever it holds.
    fn push<'a>(&mut self, raw: impl Iterator<Item = &'a str>) {
        self.fields.clear();
        self.fields.extend(raw.map(Field::parse));
        self.take();
    }

    /// Takes a record only if one of its fields is a number (a table row,
    /// not a header); says whether it did.
    fn push_numeric<S: AsRef<str>>(&mut self, raw: impl Iterator<Item = S>) -> bool {
        self.fields.clear();
        if self.rows.is_some() {
            self.texts.clear();
            self.texts.extend(raw.map(|f| f.as_ref().to_string()));
            self.fields
                .extend(self.texts.iter().map(|f| Field::parse(f)));
        } else {
            self.fields.extend(raw.map(|f| Field::parse(f.as_ref())));
        }
        if !self.fields.iter().any(|f| matches!(f, Field::Number(_))) {
            return false;
        }
        self.take();
        true
    }

    fn take(&mut self) {
        self.records += 1;
        let fields = &self.fields;
        let mut present = fields.iter().filter(|f| **f != Field::Empty);
        let first = present.clone().next();
        let informative =
            present.clone().any(|f| *f != Field::Number(0.0)) && present.any(|f| Some(f) != first);
        if !informative {
            return;
        }
        // Each field's term once; the other forms adjust the sum.
        let terms = &mut self.terms;
        terms.clear();
        terms.extend(fields.iter().map(|f| field_term(f.key())));
        let sum = terms.iter().fold(0u64, |s, &t| s.wrapping_add(t));
        let count = terms.len() as u64;
        for decimals in ROUNDED_DECIMALS {
            // Only a number that rounding changes changes its term.
            let mut rounded_sum = sum;
            for (field, &term) in fields.iter().zip(terms.iter()) {
                if let Field::Number(v) = *field {
                    let r = field.rounded(decimals);
                    if r != Field::Number(v) {
                        rounded_sum = rounded_sum
                            .wrapping_sub(term)
                            .wrapping_add(field_term(r.key()));
                    }
                }
            }
            let h = record_hash(0x100 | decimals as u64, rounded_sum, count);
            if rounded_sampled(h) {
                self.rounded.push((decimals, h));
            }
        }
        let hash = record_hash(0, sum, count);
        self.hashes.push(hash);
        if let Some(rows) = &mut self.rows {
            if rows.len() < self.max_rows && self.keep.is_none_or(|keep| keep(hash)) {
                rows.push(RecordRow {
                    number: self.records,
                    hash,
                    fields: std::mem::take(&mut self.texts),
                });
            }
        }
        // One field left out at a time: the sum less that field's term.
        // Three fields or more must remain: two (a row number and a
        // constant, say) are too little to tie a row to a table.
        if fields.len() >= 4 {
            let n = count - 1;
            for (j, &t) in terms.iter().enumerate().take(MAX_PROJECTED_FIELDS) {
                let h = fold(sum.wrapping_sub(t) ^ PROJECTED_FORM, n);
                if projection_sampled(h) {
                    self.projected.push((h & !0xF) | j as u64);
                }
            }
        }
    }

    /// The kept rows whose records the signal stores (as [`finish`](Self::finish)
    /// selects them: repeated more than three times in the whole item, a
    /// record is boilerplate).
    fn stored_rows(self) -> Vec<RecordRow> {
        let stored = rare_sorted(self.hashes);
        let mut rows = self.rows.unwrap_or_default();
        rows.retain(|r| stored.binary_search(&r.hash).is_ok());
        rows
    }

    fn finish(mut self, delimiter: String, skipped: u64) -> RecordsFp {
        self.rounded.sort_unstable();
        self.rounded.dedup();
        let hashes = rare_sorted(self.hashes);
        // Projections repeated in the file (rows equal but for one field)
        // say little, as repeated records do.
        let projected = rare_sorted(self.projected);
        RecordsFp {
            delimiter,
            records: self.records,
            skipped_lines: skipped,
            informative: hashes.len() as u64,
            hashes,
            rounded: self.rounded,
            projected,
        }
    }
}

/// The distinct values of `values` seen at most three times, sorted; done
/// in place (records repeated more often are boilerplate, not evidence).
fn rare_sorted(mut values: Vec<u64>) -> Vec<u64> {
    values.sort_unstable();
    let mut kept = 0;
    let mut i = 0;
    while i < values.len() {
        let v = values[i];
        let run = values[i..].iter().take_while(|&&x| x == v).count();
        if run <= 3 {
            values[kept] = v;
            kept += 1;
        }
        i += run;
    }
    values.truncate(kept);
    values.shrink_to_fit();
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out a few bytes at a time.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.step = self.step * 7 % 13 + 1;
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Records read from a stream, a few bytes at a time, equal those read
    /// from the whole text: real delimited and column-aligned tables, with
    /// CRLF line ends, bytes that are not UTF-8, comments and a header.
    #[test]
    fn streamed_tables_equal_whole_ones() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/telemetry/");
        let mut inputs: Vec<Vec<u8>> = [
            "vega_weather_seattle_newyork.csv",
            "pvlib_CRN_with_problems.txt",
            "traja_3527_animal_track.csv",
        ]
        .iter()
        .map(|f| std::fs::read(format!("{dir}{f}")).unwrap())
        .collect();
        let crlf: Vec<u8> = inputs[0]
            .split(|&b| b == b'\n')
            .flat_map(|l| l.iter().copied().chain(*b"\r\n"))
            .collect();
        let mut broken = inputs[0].clone();
        for at in (100..broken.len()).step_by(997) {
            broken[at] = 0xC3;
        }
        inputs.push(crlf);
        inputs.push(broken);
        inputs.push(b"# station log\nx y z\n1 2.5 3\n4 5.25 6\r\n7 8 9".to_vec());
        for (i, data) in inputs.iter().enumerate() {
            let whole = fingerprint(Kind::Table, data).unwrap();
            assert!(whole.0.records > 2 && whole.1.is_none(), "input {i}");
            let streamed = table_from_reader(Trickle { data, step: i }).unwrap();
            assert_eq!(whole, streamed, "input {i}");
        }
    }

    /// Every form of a record hash equals the sum of its fields' terms
    /// computed from scratch: the exact form from the fields, each rounded
    /// form from the rounded fields (the hasher adjusts the exact sum for
    /// numbers rounding changes), each projection from the other fields.
    /// On a real table, and on rows whose numbers rounding changes, keeps,
    /// or turns into zero.
    #[test]
    fn hash_forms_equal_their_definitions() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/telemetry/");
        let table =
            std::fs::read_to_string(format!("{dir}vega_weather_seattle_newyork.csv")).unwrap();
        let mut rows: Vec<Vec<String>> = table
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(String::from).collect())
            .collect();
        for i in 0..400u32 {
            let v = f64::from(i) * 0.001_7 - 0.3;
            rows.push(vec![
                format!("{v}"),
                format!("{:.1}", v),
                format!("{}", i % 7),
                "rain".into(),
                format!("{:.3}", -v),
            ]);
        }
        let mut hasher = RecordHasher::default();
        let (mut exact, mut rounded, mut projected) = (Vec::new(), Vec::new(), Vec::new());
        let sum_of = |fields: &mut dyn Iterator<Item = Field>| {
            fields.fold((0u64, 0u64), |(s, n), f| {
                (s.wrapping_add(field_term(f.key())), n + 1)
            })
        };
        for row in &rows {
            let before = hasher.hashes.len();
            hasher.push(row.iter().map(String::as_str));
            if hasher.hashes.len() == before {
                continue; // not informative
            }
            let fields: Vec<Field> = row.iter().map(|f| Field::parse(f)).collect();
            let (sum, n) = sum_of(&mut fields.iter().copied());
            exact.push(fold(sum, n));
            for d in ROUNDED_DECIMALS {
                let (sum, n) = sum_of(&mut fields.iter().map(|f| f.rounded(d)));
                let h = fold(sum ^ (0x100 | u64::from(d)), n);
                if rounded_sampled(h) {
                    rounded.push((d, h));
                }
            }
            for j in 0..fields.len().min(MAX_PROJECTED_FIELDS) {
                let others = fields.iter().enumerate().filter(|&(i, _)| i != j);
                let (sum, n) = sum_of(&mut others.map(|(_, f)| *f));
                let h = fold(sum ^ PROJECTED_FORM, n);
                if fields.len() >= 4 && projection_sampled(h) {
                    projected.push((h & !0xF) | j as u64);
                }
            }
        }
        rounded.sort_unstable();
        rounded.dedup();
        let fp = hasher.finish(",".into(), 0);
        assert!(
            rounded.len() > 20,
            "{} sampled rounded forms",
            rounded.len()
        );
        assert_eq!(fp.rounded, rounded);
        assert_eq!(fp.hashes, rare_sorted(exact));
        assert_eq!(fp.projected, rare_sorted(projected));
    }

    /// A record over the limit stops the reading with the reason, however
    /// far over it is and however the input is split into reads; one just
    /// under it does not. Column-aligned and delimited tables alike.
    #[test]
    fn records_over_the_limit_stop_the_reading_whatever_the_reads() {
        for (head, open, close, after) in [
            (
                &b"t x y\n1 2.5 3\n4 5.25 6\n7 8 9.5\n"[..],
                &b""[..],
                &b"\n"[..],
                &b"10 11 12.5\n"[..],
            ),
            (
                &b"t,x,y\n1,2.5,3\n4,5.25,6\n7,8,9.5\n"[..],
                &b"\"a"[..],
                &b"\"\n"[..],
                &b"10,11,12.5\n"[..],
            ),
        ] {
            for extra in [-10i64, 0, 1, 30_000, 300_000, 700_000] {
                // One record of MAX_RECORD_BYTES + extra bytes, its line
                // end included, then a short one.
                let mut data = head.to_vec();
                let start = data.len() as u64;
                let len = (MAX_RECORD_BYTES as i64 + extra) as usize - open.len() - close.len();
                data.extend_from_slice(open);
                data.extend(std::iter::repeat_n(b'7', len));
                data.extend_from_slice(close);
                data.extend_from_slice(after);
                let whole = fingerprint(Kind::Table, &data).unwrap();
                for step in [0, 3, 11] {
                    let streamed = table_from_reader(Trickle { data: &data, step }).unwrap();
                    assert_eq!(streamed, whole, "extra {extra} step {step}");
                }
                let (records, cut) = whole;
                if extra <= 0 {
                    assert!(cut.is_none(), "extra {extra}: {cut:?}");
                    continue;
                }
                assert!(records.records >= 3);
                let cut = cut.expect("a reason");
                assert_eq!(cut.code, "limits.record_bytes");
                assert!(
                    cut.detail.contains(&format!("byte {start} ")),
                    "{}",
                    cut.detail
                );
            }
        }
    }

    /// Values seen at most three times are kept once each, in order.
    #[test]
    fn rare_values_kept_once() {
        let v = vec![9, 1, 1, 1, 1, 2, 3, 3, 9, 9, 7, 5, 5, 5];
        assert_eq!(rare_sorted(v), vec![2, 3, 5, 7, 9]);
        assert!(rare_sorted(Vec::new()).is_empty());
    }

    #[test]
    fn numbers_have_one_form() {
        for s in ["1.50", "1.5", "1.5e0", "01.5", " 1.5 ", "+1.5", "15e-1"] {
            assert_eq!(Field::parse(s), Field::Number(1.5), "{s}");
        }
        assert_eq!(Field::parse("-0"), Field::Number(0.0));
        assert_eq!(Field::parse("-0.000").key(), Field::parse("0").key());
        assert_eq!(Field::parse("200"), Field::parse("200.0"));
        assert_eq!(Field::parse(" Rain "), Field::parse("rain"));
        assert_ne!(Field::parse("rain"), Field::parse("snow"));
        assert_eq!(Field::parse("ÉTÉ"), Field::parse("été"));
        assert_eq!(Field::parse("2012/01/01"), Field::parse("2012-01-01"));
        assert_eq!(Field::parse("2012-01-01"), Field::Date(1_325_376_000));
        assert_eq!(
            Field::parse("2012-01-01T06:30:00Z"),
            Field::parse("2012/01/01 06:30")
        );
        assert_eq!(
            Field::parse("2012.1.1 00:00:00"),
            Field::parse("2012-01-01")
        );
        assert!(matches!(Field::parse("01/02/2012"), Field::Text(_)));
        assert!(matches!(Field::parse("2012-13-01"), Field::Text(_)));
        assert!(matches!(Field::parse("2012-01-01+02:00"), Field::Text(_)));
        assert!(matches!(Field::parse("inf"), Field::Text(_)));
        assert_eq!(Field::parse("  "), Field::Empty);
        assert_eq!(Field::parse("1.25").rounded(1), Field::parse("1.3"));
        assert_eq!(Field::parse("-0.04").rounded(1), Field::Number(0.0));
    }

    /// The rounding equals the library's on every kind of value: halves,
    /// near-halves, negatives, the edges at 2^52 and 2^53, huge values and
    /// infinities (zeros compared by value: the sign of a zero is dropped
    /// where it is used).
    #[test]
    fn rounding_equals_the_library_round() {
        let mut x: u64 = 0x9E37_79B9;
        let mut values = vec![
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4_503_599_627_370_495.5,
            -4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            9_007_199_254_740_993.0,
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
        ];
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if v.is_finite() {
                values.push(v);
            }
            values.push((x % 2_000_001) as f64 / 1000.0 - 1000.0);
            values.push((x % 20_001) as f64 * 0.05 - 500.0);
        }
        for v in values {
            let (ours, library) = (round_half_away(v), v.round());
            assert!(ours == library, "{v}: {ours} vs {library}");
            if ours != 0.0 {
                assert_eq!(ours.to_bits(), library.to_bits(), "{v}");
            }
        }
    }

    /// The fast decimal reader gives exactly what `str::parse` gives.
    #[test]
    fn fast_number_reading_is_exact() {
        let mut x: u64 = 0x1234_5678;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 10_000_000_000_000_000) as u128;
            let point = (x >> 56) as usize % 18;
            let mut s = format!("{digits}");
            if point < s.len() {
                s.insert(s.len() - point, '.');
            }
            if i % 3 == 0 {
                s.insert(0, '-');
            }
            if i % 7 == 0 {
                s.insert_str(usize::from(s.starts_with('-')), "00");
            }
            let expected = s.parse::<f64>().ok();
            assert_eq!(parse_number(&s), expected, "{s}");
        }
        for s in [
            "",
            "-",
            ".",
            "1.2.3",
            "1e400",
            "0x10",
            "1,5",
            ".5",
            "5.",
            "nan",
            "-inf",
            "Infinity",
            "1e5",
            "2.5E-3",
            "1e",
            "e5",
            "12:30",
            "2024-01-01",
            "ST003",
            "1.5x",
            "+.5",
            "1_000",
        ] {
            assert_eq!(
                parse_number(s),
                s.parse::<f64>().ok().filter(|v| v.is_finite()),
                "{s}"
            );
        }
    }

    #[test]
    fn delimiters_and_order_do_not_matter() {
        let a = fingerprint(
            Kind::Table,
            b"date,temp,wind\n2012-01-01,1.50,4.7\n2012-01-02,2.0,3.1\n",
        )
        .unwrap()
        .0;
        let b = fingerprint(
            Kind::Table,
            b"wind\ttemp\tdate\n4.70\t1.5\t2012-01-01\n3.1\t2\t2012-01-02\n",
        )
        .unwrap()
        .0;
        let c = fingerprint(
            Kind::Table,
            b"  4.7   1.5e0 2012-01-01\n 3.1  2.00 2012-01-02\n",
        )
        .unwrap()
        .0;
        assert_eq!(a.hashes, b.hashes);
        assert_eq!(a.hashes, c.hashes);
        assert_eq!(a.informative, 2);
        assert_eq!(b.delimiter, "\\t");
        assert_eq!(c.delimiter, "whitespace");
    }

    #[test]
    fn low_information_records_are_dropped() {
        let fp = fingerprint(
            Kind::Table,
            b"a,b,c\n0,0,0\n1,1,1\n5,5,5\n5,5,5\n5,5,5\n5,5,5\n7,8,9\n",
        )
        .unwrap()
        .0;
        // all-zero row, single-valued rows and a row repeated 4 times go.
        assert_eq!(fp.informative, 1);
    }

    #[test]
    fn gpx_point_equals_csv_row() {
        let gpx = br#"<?xml version="1.0"?><gpx><trk><trkseg>
            <trkpt lat="45.772175035" lon="14.357659249"><ele>542.320923</ele><time>2010-08-05T14:23:59Z</time></trkpt>
            <trkpt lat="45.772089791" lon="14.357567383"><ele>550.972656</ele><time>2010-08-05T14:25:08Z</time></trkpt>
            </trkseg></trk></gpx>"#;
        let csv = b"time,lat,lon,ele\n2010-08-05T14:23:59Z,45.772175035,14.357659249,542.320923\n2010-08-05T14:25:08Z,45.772089791,14.357567383,550.972656\n";
        let g = fingerprint(Kind::Gpx, gpx).unwrap().0;
        assert_eq!(g.informative, 2);
        assert_eq!(g.hashes, fingerprint(Kind::Table, csv).unwrap().0.hashes);
    }

    #[test]
    fn json_objects_are_records() {
        let json = br#"[{"species": "Adelie", "beak": 39.1, "mass": 3750}, {"species": "Gentoo", "beak": 46.5, "mass": 4500}]"#;
        let csv = b"species,beak,mass\nAdelie,39.10,3750\nGentoo,46.5,4500.0\n";
        let j = fingerprint(Kind::Json, json).unwrap().0;
        assert_eq!(j.hashes, fingerprint(Kind::Table, csv).unwrap().0.hashes);
        let lines = b"{\"species\": \"Adelie\", \"beak\": 39.1, \"mass\": 3750}\n{\"species\": \"Gentoo\", \"beak\": 46.5, \"mass\": 4500}\n";
        assert_eq!(fingerprint(Kind::Json, lines).unwrap().0.hashes, j.hashes);
    }
}

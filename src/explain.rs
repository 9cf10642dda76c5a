//! Reports in words: what each piece of evidence says about an outgoing
//! item, and what each reason code means and what an operator can do about
//! it. `pugmark scan --explain` prints these sentences; the HTML evidence
//! report ([`crate::html_report`]) shows the same ones on its cards.

use crate::report::{Evidence, Report, Verdict};

/// What a reason code means and what the operator can do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReasonHelp {
    /// What was not examined, in plain language.
    pub meaning: &'static str,
    /// What an operator can do so that the item is examined (or decided).
    pub action: &'static str,
}

/// Plain-language help for a reason code (`container.encrypted`,
/// `limits.max_bytes`, ...); codes this build does not know get a generic
/// text that still says the item was not fully examined.
pub fn reason_help(code: &str) -> ReasonHelp {
    let help = |meaning, action| ReasonHelp { meaning, action };
    let has = |prefix: &str| code.starts_with(prefix);
    if code == "container.encrypted" || code == "pdf.encrypted" {
        help(
            "Encrypted content: nothing inside could be read without the password, so protected data may be hidden in it.",
            "Ask the sender for the password or an unencrypted copy, or block encrypted uploads on this channel and accept the code (--accept-incomplete container.encrypted).",
        )
    } else if has("limits.max_time") || code == crate::fingerprint::CANCELLED {
        help(
            "The time allowed for this item ran out (or the scan was cancelled) before all of it was examined.",
            "Scan it again with a longer time budget (--max-time) on a less busy machine.",
        )
    } else if has("limits.") {
        help(
            "A budget was reached (size, depth, member count, decompression ratio, decoder memory, samples or records): the rest of the item was not examined.",
            "Raise the budget the detail names (pugmark scan --help lists them) and scan again; if the item is a bomb or deliberately deep, block it.",
        )
    } else if has("signal.unavailable")
        || has("raster.unsupported")
        || code == "container.unsupported"
        || code == "pdf.image_unsupported"
    {
        help(
            "A format or layout this build cannot read yet: only its bytes were compared, not its content.",
            "Convert the item to a readable format (GeoTIFF, PNG, CSV, zip) and scan the copy, or review it by hand.",
        )
    } else if has("container.")
        || has("pdf.")
        || has("decoder.")
        || has("raster.")
        || has("records.parse")
    {
        help(
            "The item or one of its members is damaged, truncated, or holds bytes no member accounts for: what could not be parsed was not examined.",
            "Ask for an intact copy; damage can hide data, so treat it as suspect until then.",
        )
    } else if has("image.") {
        help(
            "A picture (or part of one: extra frames, metadata) could not be decoded or was not examined.",
            "Open the picture in a viewer; convert it to PNG or JPEG and scan the copy.",
        )
    } else if code == "source.symlink" || code == "source.special_file" {
        help(
            "A symbolic link or special file (FIFO, device, socket) met while walking was not read.",
            "Name the link's target on the command line (named links are followed), or scan the file it points at.",
        )
    } else if has("source.") {
        help(
            "The file could not be read, or changed while it was read.",
            "Check permissions and that nothing writes the file, then scan again.",
        )
    } else if code == "evidence.truncated" {
        help(
            "More evidence was found than a report keeps.",
            "Nothing to do: the item already matches; the index's `stats` show the full extent.",
        )
    } else {
        help(
            "Something was not fully examined (see the detail).",
            "Read the detail; raise a budget or accept the code only for channels where that risk is acceptable.",
        )
    }
}

/// The dihedral transform `variant` (a PDQ reference name) in words.
pub fn variant_words(variant: &str) -> &'static str {
    match variant {
        "orig" => "as it is",
        "rot90" => "turned a quarter turn counter-clockwise",
        "rot180" => "turned half a turn",
        "rot270" => "turned a quarter turn clockwise",
        "flipx" => "flipped upside down",
        "flipy" => "mirrored left to right",
        "flipplus1" => "transposed (mirrored about the main diagonal)",
        "flipminus1" => "mirrored about the anti-diagonal",
        _ => "turned or mirrored",
    }
}

/// A picture region name (`whole`, `trimmed`, `centre-50pm`, `left-100pm`)
/// in words.
pub fn region_words(region: &str) -> String {
    let permille = |rest: &str| {
        rest.strip_suffix("pm")
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| n / 10.0)
    };
    match region {
        "whole" => "the whole picture".into(),
        "trimmed" => "the picture without its uniform border".into(),
        _ => match region.split_once('-') {
            Some(("centre", rest)) => match permille(rest) {
                Some(p) => format!("the centre, {p}% cut from each side"),
                None => region.into(),
            },
            Some(("band", b)) => format!("band {b}"),
            Some((side, rest)) => match permille(rest) {
                Some(p) => format!("the picture with {p}% cut from the {side}"),
                None => region.into(),
            },
            None => region.into(),
        },
    }
}

fn percent(f: f64) -> String {
    let p = f * 100.0;
    if p > 0.0 && p < 0.1 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

/// What one piece of evidence says, in sentences.
pub fn evidence_words(evidence: &Evidence) -> Vec<String> {
    let mut out = Vec::new();
    match evidence {
        Evidence::Exact {
            protected,
            protected_size,
            digest,
        } => out.push(format!(
            "Byte for byte a copy of the protected file {protected} ({protected_size} bytes): both have BLAKE3 digest {digest}."
        )),
        Evidence::Chunks {
            protected,
            protected_size,
            matched_bytes,
            matched_chunks,
            outgoing_fraction,
            protected_fraction,
            outgoing_ranges,
            protected_ranges,
        } => {
            out.push(format!(
                "{matched_bytes} bytes of this item ({} of it), in {matched_chunks} content-defined chunks, are also in the protected file {protected}; they cover {} of its {protected_size} bytes.",
                percent(*outgoing_fraction),
                percent(*protected_fraction)
            ));
            out.push(format!(
                "Where here: {}. Where in the protected file: {}.",
                ranges_words(outgoing_ranges),
                ranges_words(protected_ranges)
            ));
        }
        Evidence::Image {
            protected,
            distance,
            variant,
            protected_region,
            outgoing_region,
            quality,
            protected_quality,
            ..
        } => {
            out.push(format!(
                "Looks like the protected picture {protected}: their PDQ hashes differ in {distance} of 256 bits once this picture is {}.",
                variant_words(variant)
            ));
            out.push(format!(
                "Compared: {} of this picture with {} of the protected one. Hash quality {quality} here, {protected_quality} there (of 100; below 50 a hash says little).",
                region_words(outgoing_region),
                region_words(protected_region)
            ));
        }
        Evidence::Raster {
            protected,
            method,
            bands,
            matched_samples,
            outgoing_fraction,
            protected_fraction,
            offset,
            distance,
            protected_geo,
            ..
        } => {
            let pairs = bands
                .iter()
                .map(|[o, p]| format!("band {o} here = band {p} there"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(match method.as_str() {
                "identical" => format!(
                    "Holds every sample of the protected raster {protected}, value for value (the container, compression or sample type may differ)."
                ),
                "bands" => format!(
                    "Holds some bands of the protected raster {protected} unchanged ({pairs})."
                ),
                "window" => format!(
                    "Holds a window cut out of the protected raster {protected}: about {matched_samples} samples ({} of this raster, {} of the protected one).",
                    percent(*outgoing_fraction),
                    percent(*protected_fraction)
                ),
                "perceptual" => format!(
                    "Looks like the protected raster {protected} (resampled, reprojected or lossy): PDQ distance {} of 256 bits.",
                    distance.unwrap_or_default()
                ),
                other => format!("Matches the protected raster {protected} ({other})."),
            });
            if method != "bands" && !bands.is_empty() {
                out.push(format!("Bands: {pairs}."));
            }
            if let Some([r, c]) = offset {
                out.push(format!(
                    "Its first sample lies at row {r}, column {c} of the protected raster{}.",
                    if *r < 0 || *c < 0 {
                        " (negative: the window starts outside it and only overlaps it)"
                    } else {
                        ""
                    }
                ));
            }
            if let Some(geo) = protected_geo {
                let mut g = Vec::new();
                if let Some(e) = geo.epsg {
                    g.push(format!("EPSG:{e}"));
                }
                if let Some(s) = &geo.pixel_scale {
                    if s.len() >= 2 {
                        g.push(format!("pixel size {} x {}", short(s[0]), short(s[1])));
                    }
                }
                if let Some(n) = geo.nodata {
                    g.push(format!("NoData {n}"));
                }
                if !g.is_empty() {
                    out.push(format!("The protected raster is georeferenced: {}.", g.join(", ")));
                }
            }
        }
        Evidence::Records {
            protected,
            matched_records,
            outgoing_fraction,
            protected_fraction,
            ..
        } => out.push(format!(
            "{matched_records} records of this table are records of the protected table {protected} (after reading numbers, dates and units the same way): {} of this table's records, {} of the protected one's.",
            percent(*outgoing_fraction),
            percent(*protected_fraction)
        )),
        Evidence::RecordsApprox {
            protected,
            decimals,
            matched_records,
            outgoing_fraction,
            protected_fraction,
            ..
        } => out.push(format!(
            "About {matched_records} records of this table equal records of the protected table {protected} once numbers are rounded to {decimals} decimal places (a reduced-precision copy): {} of this table's records, {} of the protected one's.",
            percent(*outgoing_fraction),
            percent(*protected_fraction)
        )),
        Evidence::RecordsProjected {
            protected,
            left_out_column,
            matched_records,
            outgoing_fraction,
            protected_fraction,
            ..
        } => out.push(format!(
            "About {matched_records} records of this table equal records of the protected table {protected} in every column but its column {left_out_column} (0-based; reformatted or replaced): {} of this table's records, {} of the protected one's (estimated from a sample).",
            percent(*outgoing_fraction),
            percent(*protected_fraction)
        )),
    }
    out
}

/// A number with at most 6 significant digits (pixel sizes carry float
/// noise: 0.002750000000000042).
fn short(v: f64) -> String {
    format!("{}", format!("{v:.6e}").parse::<f64>().unwrap_or(v))
}

fn ranges_words(ranges: &[[u64; 2]]) -> String {
    if ranges.is_empty() {
        return "not recorded".into();
    }
    let shown: Vec<String> = ranges
        .iter()
        .take(4)
        .map(|[a, b]| format!("bytes {a}..{b}"))
        .collect();
    let more = ranges.len().saturating_sub(4);
    if more > 0 {
        format!("{} and {more} more ranges", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The verdict of `report` in one sentence.
pub fn verdict_words(report: &Report) -> &'static str {
    match report.verdict {
        Verdict::Match => "holds protected content: do not let it leave without approval",
        Verdict::Incomplete => {
            "was not fully examined and nothing matched in what was: it is not known to be clean"
        }
        Verdict::Error => "could not be read: nothing is known about it",
        Verdict::Clean if report.all_notes().iter().any(|(_, n)| n.waived) => {
            "matched nothing in what was examined; parts were NOT examined because --accept-incomplete waived their reasons"
        }
        Verdict::Clean => "was fully examined and nothing matched",
    }
}

/// The whole report in words, one line a sentence, members indented under
/// their container (two spaces a level).
pub fn explain(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    explain_into(report, 0, &mut out);
    out
}

fn explain_into(report: &Report, depth: usize, out: &mut Vec<String>) {
    let pad = "  ".repeat(depth);
    let name = report
        .path
        .rsplit(crate::fingerprint::MEMBER_SEPARATOR)
        .next()
        .filter(|_| depth > 0)
        .unwrap_or(&report.path);
    let kind = report
        .kind
        .map(|k| format!(" ({})", k.name()))
        .unwrap_or_default();
    out.push(format!(
        "{pad}{name}{kind}: {} — {}.",
        report.verdict.name().to_uppercase(),
        verdict_words(report)
    ));
    for e in &report.evidence {
        let mut lines = evidence_words(e).into_iter();
        if let Some(first) = lines.next() {
            out.push(format!("{pad}  - [{}] {first}", e.signal()));
        }
        for line in lines {
            out.push(format!("{pad}    {line}"));
        }
    }
    let mut explained = std::collections::HashSet::new();
    for r in &report.reasons {
        out.push(format!("{pad}  - not examined [{}]: {}", r.code, r.detail));
        // What a code means is said once per item.
        if explained.insert(r.code.as_str()) {
            let help = reason_help(&r.code);
            out.push(format!("{pad}    what it means: {}", help.meaning));
            out.push(format!("{pad}    what to do: {}", help.action));
        }
    }
    for n in &report.notes {
        if n.waived {
            out.push(format!(
                "{pad}  - waived by --accept-incomplete [{}]: {} (this part was NOT examined)",
                n.code, n.detail
            ));
        } else {
            out.push(format!("{pad}  - note [{}]: {}", n.code, n.detail));
        }
    }
    if let Some(e) = &report.error {
        if !e.is_empty() {
            out.push(format!("{pad}  - error: {e}"));
        }
    }
    if report.members_examined > 0 {
        let listed = report.members.len();
        out.push(format!(
            "{pad}  {} examined inside; {listed} listed below (clean ones are only counted).",
            members_words(report.members_examined)
        ));
    }
    for m in &report.members {
        explain_into(m, depth + 1, out);
    }
}

/// "1 member" / "N members".
fn members_words(n: u64) -> String {
    if n == 1 {
        "1 member".into()
    } else {
        format!("{n} members")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::image::pdq::DIHEDRAL_NAMES;

    #[test]
    fn every_reason_code_in_the_readme_has_specific_help() {
        let generic = reason_help("no.such.code");
        for code in [
            "container.encrypted",
            "limits.max_bytes",
            "limits.max_time",
            "signal.unavailable.image",
            "container.truncated",
            "image.decode_failed",
            "source.symlink",
            "source.unreadable",
            "raster.unsupported.grib",
            "pdf.stream_unreadable",
        ] {
            assert_ne!(reason_help(code), generic, "{code}");
        }
    }

    #[test]
    fn variants_and_regions_read_as_words() {
        for name in DIHEDRAL_NAMES {
            assert_ne!(variant_words(name), "turned or mirrored", "{name}");
        }
        assert_eq!(
            region_words("centre-50pm"),
            "the centre, 5% cut from each side"
        );
        assert_eq!(
            region_words("left-100pm"),
            "the picture with 10% cut from the left"
        );
    }
}

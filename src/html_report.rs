//! The HTML evidence report: a static folder (`index.html` and `assets/`)
//! that shows a person why each outgoing item got its verdict, without a
//! network or a server (it opens from `file://`).
//!
//! One card per item that is not clean: the outgoing picture beside the
//! protected one, the raster window outlined on the protected raster, the
//! matched rows of both tables, bars of the matched byte ranges, and the
//! reasons an item was not fully examined with what they mean and what to
//! do. Outgoing content is read again from the scanned files (archive
//! members re-extracted by the same readers, and only if the file still has
//! the digest the scan saw). Protected content is read from its indexed
//! path only when the operator allows it
//! ([`HtmlReportOptions::protected_content`]): the index stores no pixels
//! and no rows, so otherwise its side shows a placeholder.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::explain::{evidence_words, reason_help, verdict_words};
use crate::fingerprint::image::decode::{decode_luma, ImageLimits};
use crate::fingerprint::image::pdq::DIHEDRAL_NAMES;
use crate::fingerprint::image::{inverse_variant, region_rect, turn, Region};
use crate::fingerprint::raster::{self, RasterPreview};
use crate::fingerprint::records::{record_rows, RecordRow};
use crate::fingerprint::{FingerprintParams, MemberCopy, Pipeline, MEMBER_SEPARATOR};
use crate::report::{Evidence, Reason, Report, Verdict};
use crate::scan::Scanner;
use crate::sniff::{self, Kind};
use crate::{Error, Result};

/// Longest side of a thumbnail, pixels.
pub const THUMBNAIL_SIDE: usize = 256;

/// Most bytes read again from one outgoing or protected file (256 MiB);
/// a larger one is shown without pictures or rows.
pub const MAX_REREAD_BYTES: u64 = 256 << 20;

/// Matched rows shown per records card.
const ROWS_SHOWN: usize = 5;

/// Rows read from a table to find matched ones.
const ROWS_READ: usize = 200_000;

/// What the report may show and how it is titled.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct HtmlReportOptions {
    /// Read protected files from their indexed paths to show their
    /// pictures, raster windows and rows (off by default: a report is often
    /// sent further than the protected data may go).
    pub protected_content: bool,
    /// What was scanned, for the heading (e.g. the command line's paths).
    pub scanned: Vec<String>,
    /// How long the scan took.
    pub elapsed: Option<Duration>,
    /// An SVG figure (the robustness plot) to include, with its caption.
    pub figure: Option<(String, String)>,
    /// Time for reading files again (pictures, rasters, rows); once spent,
    /// the remaining cards are written without them. `None`: two minutes.
    pub time_budget: Option<Duration>,
}

option_setters!(HtmlReportOptions {
    with_protected_content: protected_content: bool,
    with_scanned: scanned: Vec<String>,
    with_elapsed: elapsed: Option<Duration>,
    with_figure: figure: Option<(String, String)>,
    with_time_budget: time_budget: Option<Duration>,
});

/// What [`write_html_report`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HtmlReportSummary {
    /// The page to open.
    pub index_html: PathBuf,
    /// Cards written (items that are not clean).
    pub cards: usize,
    /// Pictures written to `assets/`.
    pub pictures: usize,
}

/// Writes the evidence report for `reports` (as `scanner` produced them)
/// into `dir` (created if needed; `index.html` and `assets/` inside are
/// replaced). Files that cannot be read again are shown without pictures;
/// only failing to write the report is an error.
pub fn write_html_report(
    dir: &Path,
    scanner: &Scanner,
    reports: &[Report],
    opts: &HtmlReportOptions,
) -> Result<HtmlReportSummary> {
    let index_html = dir.join("index.html");
    match fs::read(&index_html) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("reading", &index_html, e)),
        Ok(existing) => {
            let ours = |mark: &str| existing.windows(mark.len()).any(|w| w == mark.as_bytes());
            if !ours(GENERATOR) && !ours("<title>pugmark evidence report</title>") {
                return Err(Error::InvalidOption(format!(
                    "{} exists and is not a pugmark report: choose another report folder",
                    index_html.display()
                )));
            }
        }
    }
    let assets = dir.join("assets");
    fs::create_dir_all(&assets).map_err(|e| Error::io("creating", &assets, e))?;
    // Pictures of an earlier report go; nothing else in the folder is ours.
    let entries = fs::read_dir(&assets).map_err(|e| Error::io("listing", &assets, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if is_report_asset(&name.to_string_lossy()) {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| Error::io("removing", &path, e))?;
        }
    }
    let budget = opts.time_budget.unwrap_or(Duration::from_secs(120));
    let mut page = Page {
        scanner,
        opts,
        assets,
        pictures: 0,
        html: String::new(),
        deadline: std::time::Instant::now() + budget,
        protected_cache: HashMap::new(),
        cached_bytes: 0,
    };
    let cards = page.write(reports)?;
    fs::write(&index_html, &page.html).map_err(|e| Error::io("writing", &index_html, e))?;
    Ok(HtmlReportSummary {
        index_html,
        cards,
        pictures: page.pictures,
    })
}

/// Marks a page as a pugmark report (an `index.html` without it is never
/// overwritten).
const GENERATOR: &str = "<meta name=\"generator\" content=\"pugmark evidence report\">";

/// Whether a file in `assets/` is one a report writes (`p0001.png`,
/// `robustness.svg`).
fn is_report_asset(name: &str) -> bool {
    name == "robustness.svg"
        || name
            .strip_prefix('p')
            .and_then(|n| n.strip_suffix(".png"))
            .is_some_and(|n| n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --match:#b3261e; --incomplete:#b26a00; --error:#6a1b9a; --clean:#2e7d32; --ink:#1d1d1f; --soft:#5f6368; --line:#dadce0; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0; background: #f6f7f9; }
header { background: #1f3b2d; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: .85; }
main { padding: 20px 28px; max-width: 1180px; }
table { border-collapse: collapse; }
.counts .badge { font-size: 15px; padding: 3px 12px; margin-right: 6px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; color: #fff; font-weight: 600; font-size: 13px; text-transform: uppercase; }
.badge.match { background: var(--match); } .badge.incomplete { background: var(--incomplete); }
.badge.error { background: var(--error); } .badge.clean { background: var(--clean); }
.card { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--line); border-radius: 6px; margin: 18px 0; padding: 14px 18px; }
.card.match { border-left-color: var(--match); } .card.incomplete { border-left-color: var(--incomplete); } .card.error { border-left-color: var(--error); }
.card h2 { font-size: 17px; margin: 0 0 6px; word-break: break-all; }
.meta { color: var(--soft); font-size: 13px; }
.finding { border-top: 1px solid var(--line); margin-top: 12px; padding-top: 10px; }
.finding h3 { font-size: 15px; margin: 0 0 6px; }
.signal { font-family: ui-monospace, monospace; background: #eef1f4; padding: 0 6px; border-radius: 4px; }
.pair { display: flex; gap: 18px; flex-wrap: wrap; align-items: flex-start; margin: 8px 0; }
figure { margin: 0; }
figure img { display: block; border: 1px solid var(--line); image-rendering: pixelated; max-width: 256px; }
figcaption { font-size: 12px; color: var(--soft); max-width: 256px; }
.placeholder { width: 200px; height: 140px; border: 1px dashed #9aa0a6; display: flex; align-items: center; justify-content: center; text-align: center; font-size: 12px; color: var(--soft); padding: 8px; background: #fafafa; }
.bar { margin: 4px 0 8px; }
.bar svg { display: block; }
.rows td, .rows th { border: 1px solid var(--line); padding: 2px 6px; font: 12px ui-monospace, monospace; }
.rows th { background: #eef1f4; }
.reasons td, .reasons th { border-top: 1px solid var(--line); padding: 5px 10px 5px 0; vertical-align: top; text-align: left; font-size: 13px; }
code { font-family: ui-monospace, monospace; font-size: 13px; }
ul.tree { list-style: none; padding-left: 18px; margin: 4px 0; border-left: 1px dotted #9aa0a6; }
ul.tree li { margin: 2px 0; }
details { margin: 10px 0; }
img.broken { outline: 3px solid var(--match); }
"#;

/// Marks every picture with its decoded width once the page has loaded,
/// and outlines any that did not load (an `assets/` folder left behind
/// when the report was copied).
const SCRIPT: &str = r#"
window.addEventListener('load', function () {
  var imgs = document.images, broken = 0;
  for (var i = 0; i < imgs.length; i++) {
    imgs[i].setAttribute('data-natural-width', String(imgs[i].naturalWidth));
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) { imgs[i].className += ' broken'; broken++; }
  }
  document.body.setAttribute('data-images', imgs.length + ' loaded ' + (imgs.length - broken));
});
"#;

/// The report being written.
struct Page<'a> {
    scanner: &'a Scanner,
    opts: &'a HtmlReportOptions,
    assets: PathBuf,
    pictures: usize,
    html: String,
    /// When reading files again stops.
    deadline: std::time::Instant,
    /// Protected items already read and checked, by name (at most
    /// [`MAX_CACHED_BYTES`] in all).
    protected_cache: HashMap<String, std::rc::Rc<Vec<u8>>>,
    cached_bytes: usize,
}

/// Most bytes of protected content kept between findings (256 MiB).
const MAX_CACHED_BYTES: usize = 256 << 20;

/// An outgoing item's content, read again for its card.
struct Outgoing {
    /// The top-level file's bytes if it still has the scanned digest,
    /// else why it was not read again.
    top: std::result::Result<Vec<u8>, String>,
    /// The members whose findings show content, read in one walk.
    members: HashMap<String, MemberCopy>,
}

impl Page<'_> {
    fn params(&self) -> &FingerprintParams {
        self.scanner.pipeline().params()
    }

    fn pipeline(&self) -> &Pipeline {
        self.scanner.pipeline()
    }

    fn write(&mut self, reports: &[Report]) -> Result<usize> {
        let mut counts = [0usize; 4];
        let mut members = 0;
        for r in reports {
            let slot = match r.verdict {
                Verdict::Match => 0,
                Verdict::Incomplete => 1,
                Verdict::Error => 2,
                _ => 3,
            };
            counts[slot] += 1;
            members += r.members_examined;
        }
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.push_str(GENERATOR);
        // Nothing but the page's own style, script and pictures: no fetch,
        // no frame, no form, whatever a file or member name holds.
        h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'none'; base-uri 'none'\">");
        h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        h.push_str("<title>pugmark evidence report</title><style>");
        h.push_str(STYLE);
        h.push_str("</style></head><body>\n<header><h1>pugmark evidence report</h1><p>");
        let scanned = if self.opts.scanned.is_empty() {
            String::new()
        } else {
            format!("Scanned {} ", esc(&self.opts.scanned.join(", ")))
        };
        let _ = write!(
            h,
            "{scanned}against the index at {} ({} protected items).",
            esc(&self.scanner.index().dir().display().to_string()),
            self.scanner.index().live_items()
        );
        h.push_str("</p></header>\n<main>\n<p class=\"counts\">");
        for (i, name) in ["match", "incomplete", "error", "clean"].iter().enumerate() {
            let _ = write!(
                h,
                "<span class=\"badge {name}\"><span id=\"count-{name}\">{}</span> {name}</span> ",
                counts[i]
            );
        }
        let _ = write!(
            h,
            "</p><p class=\"meta\">{} item{} scanned, {members} archive members examined inside them",
            reports.len(),
            if reports.len() == 1 { "" } else { "s" }
        );
        if let Some(t) = self.opts.elapsed {
            let _ = write!(h, ", in {:.2} s", t.as_secs_f64());
        }
        h.push_str(".</p>\n");
        if !self.opts.protected_content {
            h.push_str("<p class=\"meta\">Protected pictures, raster windows and rows are not shown: the index keeps no content, and this report was made without <code>--report-protected-thumbnails</code> (which reads protected files from their indexed paths).</p>\n");
        }
        self.html = h;
        let mut cards = 0;
        let mut order: Vec<&Report> = reports
            .iter()
            .filter(|r| r.verdict != Verdict::Clean)
            .collect();
        order.sort_by_key(|r| std::cmp::Reverse(r.verdict));
        for r in order {
            self.card(r)?;
            cards += 1;
        }
        let clean: Vec<&Report> = reports
            .iter()
            .filter(|r| r.verdict == Verdict::Clean)
            .collect();
        if !clean.is_empty() {
            let _ = write!(
                self.html,
                "<details><summary>{} clean item{} (nothing matched; examined in full unless a reason was waived)</summary><ul>",
                clean.len(),
                if clean.len() == 1 { "" } else { "s" }
            );
            for r in clean {
                let notes = r.all_notes().iter().filter(|(_, n)| n.waived).count();
                let waived = if notes > 0 {
                    format!(" — <strong>{notes} reason(s) waived by --accept-incomplete</strong>")
                } else {
                    String::new()
                };
                let _ = write!(self.html, "<li><code>{}</code>{waived}</li>", esc(&r.path));
            }
            self.html.push_str("</ul></details>\n");
        }
        if let Some((svg, caption)) = &self.opts.figure {
            let name = "robustness.svg";
            let path = self.assets.join(name);
            fs::write(&path, svg).map_err(|e| Error::io("writing", &path, e))?;
            self.pictures += 1;
            let _ = writeln!(
                self.html,
                "<h2>How far apart copies and unrelated pictures are</h2><figure><img src=\"assets/{name}\" alt=\"PDQ distance distributions\" style=\"max-width:100%\"><figcaption style=\"max-width:none\">{}</figcaption></figure>",
                esc(caption)
            );
        }
        self.html.push_str("</main><script>");
        self.html.push_str(SCRIPT);
        self.html.push_str("</script></body></html>\n");
        Ok(cards)
    }

    fn card(&mut self, report: &Report) -> Result<()> {
        let v = report.verdict.name();
        let mut meta = Vec::new();
        if let Some(k) = report.kind {
            meta.push(k.name().to_string());
        }
        if let Some(s) = report.size {
            meta.push(format!("{s} bytes"));
        }
        if report.members_examined > 0 {
            meta.push(format!("{} members examined", report.members_examined));
        }
        let _ = writeln!(
            self.html,
            "<section class=\"card {v}\"><h2><span class=\"badge {v}\">{v}</span> {}</h2><p class=\"meta\">{} — this item {}.</p>",
            esc(&report.path),
            esc(&meta.join(" · ")),
            verdict_words(report)
        );
        if !report.members.is_empty() {
            self.html.push_str("<div><strong>Inside</strong>");
            tree(&mut self.html, report);
            self.html.push_str("</div>\n");
        }
        let outgoing = self.read_outgoing(report);
        self.findings(report, report, &outgoing)?;
        self.html.push_str("</section>\n");
        Ok(())
    }

    /// The evidence and reasons of `node` (the card's report or one of its
    /// members, at any depth).
    fn findings(&mut self, top: &Report, node: &Report, outgoing: &Outgoing) -> Result<()> {
        let member = member_path(top, node);
        for e in &node.evidence {
            let _ = write!(
                self.html,
                "<div class=\"finding\"><h3><span class=\"signal\">{}</span> {}</h3>",
                e.signal(),
                esc(member.unwrap_or("this item"))
            );
            for line in evidence_words(e) {
                let _ = write!(self.html, "<p>{}</p>", esc(&line));
            }
            let content = if shows_content(e) {
                outgoing_content(member, outgoing)
            } else {
                Err("not needed".to_string())
            };
            self.evidence_view(node, e, content.as_deref().map_err(String::as_str))?;
            self.html.push_str("</div>\n");
        }
        if !node.reasons.is_empty()
            || !node.notes.is_empty()
            || node.error.as_deref().is_some_and(|e| !e.is_empty())
        {
            let _ = write!(
                self.html,
                "<div class=\"finding\"><h3>Not examined, notes — {}</h3><table class=\"reasons\"><tr><th>code</th><th>detail</th><th>what it means</th><th>what you can do</th></tr>",
                esc(member.unwrap_or("this item"))
            );
            if let Some(e) = node.error.as_deref().filter(|e| !e.is_empty()) {
                let _ = write!(
                    self.html,
                    "<tr><td><code>error</code></td><td>{}</td><td>The item could not be read at all.</td><td>Check that it exists and is readable, then scan again.</td></tr>",
                    esc(e)
                );
            }
            for r in &node.reasons {
                reason_row(&mut self.html, r, "");
            }
            for r in &node.notes {
                reason_row(
                    &mut self.html,
                    r,
                    if r.waived {
                        "waived by --accept-incomplete: "
                    } else {
                        "note: "
                    },
                );
            }
            self.html.push_str("</table></div>\n");
        }
        for m in &node.members {
            self.findings(top, m, outgoing)?;
        }
        Ok(())
    }

    /// The protected item's bytes, when allowed, still readable and still
    /// what was indexed (its digest is in the index under its name).
    fn protected_content(
        &mut self,
        name: &str,
    ) -> std::result::Result<std::rc::Rc<Vec<u8>>, String> {
        if !self.opts.protected_content {
            return Err("protected content not shown (--report-protected-thumbnails)".into());
        }
        if let Some(data) = self.protected_cache.get(name) {
            return Ok(data.clone());
        }
        let pipeline = self.walking_pipeline()?;
        let data = read_named(&pipeline, name)?;
        let digest = blake3::hash(&data);
        let index = self.scanner.index();
        let indexed = index
            .lookup_exact(digest.as_bytes())
            .into_iter()
            .any(|r| index.item(r).path_display() == name);
        if indexed {
            let data = std::rc::Rc::new(data);
            if self.cached_bytes + data.len() <= MAX_CACHED_BYTES {
                self.cached_bytes += data.len();
                self.protected_cache.insert(name.to_string(), data.clone());
            }
            Ok(data)
        } else {
            Err(format!("{name} changed since it was indexed: not shown"))
        }
    }

    /// Reads the card's file again if it still is what was scanned, with
    /// the members whose findings show content (one walk).
    fn read_outgoing(&self, report: &Report) -> Outgoing {
        let not = |why: String| Outgoing {
            top: Err(why),
            members: HashMap::new(),
        };
        let mut wanted = Vec::new();
        let mut twice = Vec::new();
        collect_wanted(report, report, &mut wanted, &mut twice);
        if wanted.is_empty() && !report.evidence.iter().any(shows_content) {
            return not("not needed".into());
        }
        let pipeline = match self.walking_pipeline() {
            Ok(p) => p,
            Err(why) => return not(why),
        };
        let top = match read_scanned(report) {
            Ok(top) => top,
            Err(why) => return not(why),
        };
        let mut members = if wanted.is_empty() {
            HashMap::new()
        } else {
            pipeline.members_content(Some(Path::new(&report.path)), &top, &wanted)
        };
        // Two findings under one path: which member each concerns cannot
        // be told, whatever the walk met this time.
        for path in twice {
            members.insert(path, MemberCopy::Ambiguous);
        }
        Outgoing {
            top: Ok(top),
            members,
        }
    }

    /// The scan's pipeline with its time budget cut to what the report has
    /// left, for walking an item again; an error once the budget is spent.
    fn walking_pipeline(&self) -> std::result::Result<Pipeline, String> {
        let left = self
            .deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or("not read again: the report's time budget ran out")?;
        let limits = self.pipeline().limits().clone();
        let max_time = limits.max_time.min(left);
        Ok(self
            .pipeline()
            .clone()
            .with_limits(limits.with_max_time(max_time)))
    }

    fn evidence_view(
        &mut self,
        node: &Report,
        e: &Evidence,
        outgoing: std::result::Result<&[u8], &str>,
    ) -> Result<()> {
        match e {
            Evidence::Exact { protected_size, .. } => {
                let size = node.size.unwrap_or(*protected_size);
                self.bar("this item", size, &[[0, size]], "every byte");
                self.bar(
                    "protected",
                    *protected_size,
                    &[[0, *protected_size]],
                    "every byte",
                );
            }
            Evidence::Chunks {
                protected_size,
                outgoing_ranges,
                protected_ranges,
                outgoing_fraction,
                protected_fraction,
                ..
            } => {
                let size = node.size.unwrap_or_default();
                self.bar(
                    "this item",
                    size,
                    outgoing_ranges,
                    &format!("{:.1}% matched", outgoing_fraction * 100.0),
                );
                self.bar(
                    "protected",
                    *protected_size,
                    protected_ranges,
                    &format!("{:.1}% found", protected_fraction * 100.0),
                );
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
                let turn_back = DIHEDRAL_NAMES
                    .iter()
                    .position(|n| n == variant)
                    .map_or(0, |v| inverse_variant(v as u8));
                let out_pic = outgoing
                    .map_err(str::to_string)
                    .and_then(|data| self.picture(data, node.kind, outgoing_region, 0));
                let prot_pic = self
                    .protected_content(protected)
                    .and_then(|data| self.picture(&data, None, protected_region, turn_back));
                self.html.push_str("<div class=\"pair\">");
                self.figure(
                    out_pic,
                    &format!("outgoing ({outgoing_region}, grey as compared), quality {quality}"),
                );
                self.figure(
                    prot_pic,
                    &format!(
                        "protected ({protected_region}), quality {protected_quality}{}",
                        if turn_back == 0 {
                            String::new()
                        } else {
                            format!(", shown {}", DIHEDRAL_NAMES[turn_back as usize])
                        }
                    ),
                );
                self.html.push_str("</div>");
                let th = self.scanner.options().thresholds.max_image_distance;
                self.distance_bar(*distance, th);
            }
            Evidence::Raster {
                protected,
                method,
                bands,
                offset,
                distance,
                outgoing_fraction,
                protected_fraction,
                ..
            } => {
                let [out_band, prot_band] = bands.first().copied().unwrap_or([0, 0]);
                let out_preview = outgoing
                    .map_err(str::to_string)
                    .and_then(|data| raster_preview(data, node.kind));
                let window = match (&out_preview, offset) {
                    (Ok(p), Some([r, c])) => Some([*r, *c, p.height as i64, p.width as i64]),
                    _ => None,
                };
                let out_pic =
                    out_preview.and_then(|p| self.raster_picture(&p, out_band as usize, None));
                let prot_pic = self
                    .protected_content(protected)
                    .and_then(|data| raster_preview(&data, None))
                    .and_then(|p| self.raster_picture(&p, prot_band as usize, window));
                self.html.push_str("<div class=\"pair\">");
                self.figure(out_pic, &format!("outgoing, band {out_band}"));
                let outlined = if window.is_some() {
                    ", matched window outlined"
                } else {
                    ""
                };
                self.figure(prot_pic, &format!("protected, band {prot_band}{outlined}"));
                self.html.push_str("</div>");
                if method == "window" || method == "bands" {
                    self.fraction_bars(*outgoing_fraction, *protected_fraction, "samples");
                }
                if let Some(d) = distance {
                    let th = self.scanner.options().thresholds.max_image_distance;
                    self.distance_bar(*d, th);
                }
            }
            Evidence::Records {
                protected,
                outgoing_fraction,
                protected_fraction,
                ..
            } => {
                self.fraction_bars(*outgoing_fraction, *protected_fraction, "records");
                self.matched_rows(node, protected, outgoing);
            }
            Evidence::RecordsApprox {
                outgoing_fraction,
                protected_fraction,
                ..
            }
            | Evidence::RecordsProjected {
                outgoing_fraction,
                protected_fraction,
                ..
            } => {
                self.fraction_bars(*outgoing_fraction, *protected_fraction, "records");
                self.html.push_str("<p class=\"meta\">Rows are not paired for rounded or one-column-left-out matches: the index keeps only a sample of those forms.</p>");
            }
        }
        Ok(())
    }

    /// A picture (or its placeholder) with a caption.
    fn figure(&mut self, picture: std::result::Result<String, String>, caption: &str) {
        match picture {
            Ok(src) => {
                let _ = write!(
                    self.html,
                    "<figure><img src=\"{src}\" alt=\"{}\"><figcaption>{}</figcaption></figure>",
                    esc(caption),
                    esc(caption)
                );
            }
            Err(why) => {
                let _ = write!(
                    self.html,
                    "<figure><div class=\"placeholder\">{}</div><figcaption>{}</figcaption></figure>",
                    esc(&why),
                    esc(caption)
                );
            }
        }
    }

    /// Saves a PNG into `assets/`; returns its relative address.
    fn save_png(
        &mut self,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    ) -> std::result::Result<String, String> {
        let img = image::RgbImage::from_raw(width, height, rgb).ok_or("picture buffer size")?;
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| format!("encoding a thumbnail: {e}"))?;
        self.pictures += 1;
        let name = format!("p{:04}.png", self.pictures);
        fs::write(self.assets.join(&name), png).map_err(|e| format!("writing a thumbnail: {e}"))?;
        Ok(format!("assets/{name}"))
    }

    /// A thumbnail of the picture in `data`, cut to `region` and turned by
    /// `variant`, as the image signal saw it (luma).
    fn picture(
        &mut self,
        data: &[u8],
        kind: Option<Kind>,
        region: &str,
        variant: u8,
    ) -> std::result::Result<String, String> {
        let kind = kind.unwrap_or_else(|| sniff::sniff(data, None));
        let limits = ImageLimits {
            fast_jpeg_min_side: self.params().image_fast_jpeg_min_side,
            ..ImageLimits::default()
        };
        let luma = decode_luma(data, kind, &limits).map_err(|e| e.detail())?;
        let region = Region::parse(region).unwrap_or(Region::Whole);
        let [top, left, rows, cols] = region_rect(&luma, region, self.params());
        let mut cut = Vec::with_capacity(rows * cols);
        for r in top..top + rows {
            cut.extend_from_slice(&luma.data[r * luma.cols + left..][..cols]);
        }
        let (pixels, rows, cols) = turn(&cut, rows, cols, variant);
        let (w, h, grey) = shrink(&pixels, rows, cols, THUMBNAIL_SIDE);
        let rgb = grey
            .iter()
            .flat_map(|&g| {
                let v = g.clamp(0.0, 255.0) as u8;
                [v, v, v]
            })
            .collect();
        self.save_png(w as u32, h as u32, rgb)
    }

    /// A raster band rendered grey (2nd to 98th percentile stretched),
    /// NoData dark blue, with `window` (row, column, rows, columns in the
    /// raster's samples) outlined in red.
    fn raster_picture(
        &mut self,
        p: &RasterPreview,
        band: usize,
        window: Option<[i64; 4]>,
    ) -> std::result::Result<String, String> {
        let plane = p.bands.get(band).or(p.bands.first()).ok_or("no bands")?;
        let valid = |v: f64| v.is_finite() && p.nodata != Some(v);
        let mut sorted: Vec<f64> = plane.iter().copied().filter(|&v| valid(v)).collect();
        sorted.sort_by(f64::total_cmp);
        let (lo, hi) = match sorted.len() {
            0 => (0.0, 1.0),
            n => (sorted[n * 2 / 100], sorted[(n * 98 / 100).min(n - 1)]),
        };
        let span = if hi > lo { hi - lo } else { 1.0 };
        let mut rgb: Vec<u8> = plane
            .iter()
            .flat_map(|&v| {
                if valid(v) {
                    let g = ((v - lo) / span * 255.0).clamp(0.0, 255.0) as u8;
                    [g, g, g]
                } else {
                    [20, 30, 70]
                }
            })
            .collect();
        if let Some([r, c, h, w]) = window {
            let s = p.step as i64;
            let (cols, rows) = (p.cols as i64, p.rows as i64);
            let (r0, c0) = (r.div_euclid(s), c.div_euclid(s));
            let (r1, c1) = ((r + h - 1).div_euclid(s), (c + w - 1).div_euclid(s));
            let mut put = |y: i64, x: i64| {
                if (0..rows).contains(&y) && (0..cols).contains(&x) {
                    let i = ((y * cols + x) * 3) as usize;
                    rgb[i..i + 3].copy_from_slice(&[230, 20, 20]);
                }
            };
            for x in c0..=c1 {
                put(r0, x);
                put(r1, x);
            }
            for y in r0..=r1 {
                put(y, c0);
                put(y, c1);
            }
        }
        // Small rasters are enlarged (whole pixels) so they can be seen.
        let zoom = (THUMBNAIL_SIDE / p.cols.max(p.rows).max(1)).clamp(1, 8);
        let (w, h) = (p.cols * zoom, p.rows * zoom);
        let mut big = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let i = ((y / zoom) * p.cols + x / zoom) * 3;
                big.extend_from_slice(&rgb[i..i + 3]);
            }
        }
        self.save_png(w as u32, h as u32, big)
    }

    /// A labelled bar of `size` bytes with `ranges` marked.
    fn bar(&mut self, label: &str, size: u64, ranges: &[[u64; 2]], note: &str) {
        const W: f64 = 560.0;
        let mut svg = format!(
            "<svg width=\"{}\" height=\"22\" role=\"img\" aria-label=\"{}: {}\"><rect x=\"0\" y=\"4\" width=\"{W}\" height=\"14\" fill=\"#e8eaed\" stroke=\"#9aa0a6\"/>",
            W as u32 + 2,
            esc(label),
            esc(note)
        );
        let size = size.max(1) as f64;
        for [a, b] in ranges {
            let x = *a as f64 / size * W;
            let w = (b.saturating_sub(*a) as f64 / size * W).max(1.5);
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"4\" width=\"{w:.1}\" height=\"14\" fill=\"#b3261e\"/>"
            );
        }
        svg.push_str("</svg>");
        let _ = write!(
            self.html,
            "<div class=\"bar\"><span class=\"meta\">{} — {} bytes, {}</span>{svg}</div>",
            esc(label),
            size as u64,
            esc(note)
        );
    }

    /// Two bars: the matched share of the outgoing and of the protected item.
    fn fraction_bars(&mut self, outgoing: f64, protected: f64, what: &str) {
        for (label, f) in [
            ("of this item's", outgoing),
            ("of the protected item's", protected),
        ] {
            let w = (f.clamp(0.0, 1.0) * 300.0).max(1.0);
            let _ = write!(
                self.html,
                "<div class=\"bar\"><svg width=\"302\" height=\"16\"><rect x=\"0\" y=\"2\" width=\"300\" height=\"12\" fill=\"#e8eaed\" stroke=\"#9aa0a6\"/><rect x=\"0\" y=\"2\" width=\"{w:.1}\" height=\"12\" fill=\"#b3261e\"/></svg><span class=\"meta\">{:.1}% {label} {what} matched</span></div>",
                f * 100.0
            );
        }
    }

    /// The PDQ distance on a 0..=256 scale with the match threshold.
    fn distance_bar(&mut self, distance: u32, threshold: u32) {
        let x = |d: u32| d.min(256) as f64 / 256.0 * 400.0;
        let _ = write!(
            self.html,
            "<div class=\"bar\"><svg width=\"402\" height=\"30\" role=\"img\" aria-label=\"PDQ distance {distance} of 256, threshold {threshold}\"><rect x=\"0\" y=\"4\" width=\"400\" height=\"12\" fill=\"#e8eaed\" stroke=\"#9aa0a6\"/><rect x=\"0\" y=\"4\" width=\"{:.1}\" height=\"12\" fill=\"#2e7d32\" opacity=\".35\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"0\" y2=\"20\" stroke=\"#1d1d1f\" stroke-dasharray=\"3,2\"/><circle cx=\"{:.1}\" cy=\"10\" r=\"5\" fill=\"#b3261e\"/><text x=\"0\" y=\"29\" font-size=\"10\" fill=\"#5f6368\">0 (same)</text><text x=\"360\" y=\"29\" font-size=\"10\" fill=\"#5f6368\">256 bits</text></svg><span class=\"meta\">PDQ distance {distance} (dot); pictures within {threshold} (dashed line, shaded) match</span></div>",
            x(threshold),
            x(threshold),
            x(threshold),
            x(distance)
        );
    }

    /// Matched rows of a records match, outgoing beside protected.
    fn matched_rows(
        &mut self,
        node: &Report,
        protected: &str,
        outgoing: std::result::Result<&[u8], &str>,
    ) {
        let kind = node.kind.unwrap_or(Kind::Table);
        // Rows the scan counted for this protected table: stored (not
        // repeated more than three times here; `record_rows` keeps only
        // those), held by it, and by no more tables than the boilerplate
        // limit.
        let index = self.scanner.index();
        let max_items = self.scanner.options().thresholds.max_items_per_chunk;
        let counted = |h: u64| {
            let holders = index.record_holders(h);
            holders.len() <= max_items && holders.iter().any(|p| p == protected)
        };
        let rows = match outgoing {
            Ok(data) => match contained(|| record_rows(kind, data, ROWS_READ, &counted))
                .and_then(|r| r.map_err(|e| e.detail()))
            {
                Ok(rows) => rows,
                Err(e) => {
                    let _ = write!(
                        self.html,
                        "<p class=\"meta\">Rows not shown: {}</p>",
                        esc(&e)
                    );
                    return;
                }
            },
            Err(why) => {
                let _ = write!(
                    self.html,
                    "<p class=\"meta\">Rows not shown: {}</p>",
                    esc(why)
                );
                return;
            }
        };
        let matched: Vec<&RecordRow> = rows.iter().take(ROWS_SHOWN).collect();
        let wanted: std::collections::HashSet<u64> = matched.iter().map(|r| r.hash).collect();
        let protected_rows: std::result::Result<HashMap<u64, RecordRow>, String> = self
            .protected_content(protected)
            .and_then(|data| {
                let kind = sniff::sniff(
                    &data,
                    Some(Path::new(
                        protected
                            .rsplit(MEMBER_SEPARATOR)
                            .next()
                            .unwrap_or(protected),
                    )),
                );
                contained(|| record_rows(kind, &data, ROWS_READ, &|h| wanted.contains(&h)))?
                    .map_err(|e| e.detail())
            })
            .map(|rows| rows.into_iter().map(|r| (r.hash, r)).collect());
        let fields = matched.first().map_or(0, |r| r.fields.len());
        let _ = write!(
            self.html,
            "<p class=\"meta\">First {} matched records of this table ({fields} columns each, compared as canonical values: numbers, dates and units read the same way whatever their spelling). Records are numbered from 1 on each side, header and comment lines not counted.</p><table class=\"rows\"><tr><th>record here</th><th>fields here</th><th>record there</th><th>fields there</th></tr>",
            matched.len()
        );
        for r in matched {
            let there = match &protected_rows {
                Ok(map) => map.get(&r.hash).map_or_else(
                    || {
                        (
                            "?".to_string(),
                            "(not found in the file as it is now)".to_string(),
                        )
                    },
                    |p| (p.number.to_string(), p.fields.join(" | ")),
                ),
                Err(why) => ("—".to_string(), why.clone()),
            };
            let _ = write!(
                self.html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.number,
                esc(&r.fields.join(" | ")),
                esc(&there.0),
                esc(&there.1)
            );
        }
        self.html.push_str("</table>");
    }
}

/// One reason as a table row: code, detail, meaning, remedy.
fn reason_row(html: &mut String, r: &Reason, prefix: &str) {
    let help = reason_help(&r.code);
    let _ = write!(
        html,
        "<tr><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
        esc(&r.code),
        esc(prefix),
        esc(&r.detail),
        esc(help.meaning),
        esc(help.action)
    );
}

/// The members of `report` as a nested list with their verdicts.
fn tree(html: &mut String, report: &Report) {
    html.push_str("<ul class=\"tree\">");
    for m in &report.members {
        let name = member_name(report, m);
        let v = m.verdict.name();
        let signals: Vec<&str> = m.evidence.iter().map(Evidence::signal).collect();
        let codes: Vec<&str> = m.reasons.iter().map(|r| r.code.as_str()).collect();
        let what = [signals.join(", "), codes.join(", ")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let _ = write!(
            html,
            "<li><span class=\"badge {v}\">{v}</span> <code>{}</code> <span class=\"meta\">{}</span>",
            esc(name),
            esc(&what)
        );
        if !m.members.is_empty() {
            tree(html, m);
        }
        html.push_str("</li>");
    }
    html.push_str("</ul>");
}

/// A member's own name inside its parent.
fn member_name<'r>(parent: &Report, member: &'r Report) -> &'r str {
    member
        .path
        .strip_prefix(parent.path.as_str())
        .and_then(|rest| rest.strip_prefix(MEMBER_SEPARATOR))
        .unwrap_or(&member.path)
}

/// The path of `node` inside `top` (`None` for `top` itself).
fn member_path<'r>(top: &Report, node: &'r Report) -> Option<&'r str> {
    if std::ptr::eq(top, node) {
        return None;
    }
    Some(member_name(top, node))
}

/// The scanned file's bytes again, if it still has the digest the scan
/// saw; otherwise why not.
fn read_scanned(report: &Report) -> std::result::Result<Vec<u8>, String> {
    if report.path == "-" {
        return Err("standard input is not kept: nothing to show".into());
    }
    let data = read_file(Path::new(&report.path)).map_err(|e| format!("not read again: {e}"))?;
    let digest = crate::fingerprint::bytes::hex(blake3::hash(&data).as_bytes());
    if report.digest.as_deref() == Some(digest.as_str()) {
        Ok(data)
    } else {
        Err("the file changed since it was scanned: not shown".into())
    }
}

/// Whether a finding's view shows the item's content (pictures, rasters,
/// rows); byte-range bars need none.
fn shows_content(e: &Evidence) -> bool {
    matches!(
        e,
        Evidence::Image { .. } | Evidence::Raster { .. } | Evidence::Records { .. }
    )
}

/// The member paths (inside `top`) of `node` and its members whose
/// findings show content.
fn collect_wanted(top: &Report, node: &Report, out: &mut Vec<String>, twice: &mut Vec<String>) {
    if let Some(path) = member_path(top, node) {
        if node.evidence.iter().any(shows_content) {
            if out.iter().any(|p| p == path) {
                twice.push(path.to_string());
            } else {
                out.push(path.to_string());
            }
        }
    }
    for m in &node.members {
        collect_wanted(top, m, out, twice);
    }
}

/// The content of the card's item (`member` `None`) or of one of its
/// members, or why it is not shown.
fn outgoing_content<'o>(
    member: Option<&str>,
    outgoing: &'o Outgoing,
) -> std::result::Result<Cow<'o, [u8]>, String> {
    let bytes = outgoing.top.as_ref().map_err(String::clone)?;
    let Some(m) = member else {
        return Ok(Cow::Borrowed(bytes));
    };
    match outgoing.members.get(m) {
        Some(MemberCopy::Bytes(b)) => Ok(Cow::Borrowed(b)),
        Some(MemberCopy::Ambiguous) => Err(format!(
            "two or more members are named {m}: which one matched cannot be told, so none is shown"
        )),
        Some(_) => Err(format!("{m} could not be read whole again")),
        None => Err(format!("{m} was not found when the file was read again")),
    }
}

/// A regular file of at most [`MAX_REREAD_BYTES`], read whole.
fn read_file(p: &Path) -> std::result::Result<Vec<u8>, String> {
    let meta = fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if !meta.is_file() || meta.len() > MAX_REREAD_BYTES {
        return Err(format!(
            "{}: not a regular file of at most {MAX_REREAD_BYTES} bytes",
            p.display()
        ));
    }
    fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// Reads an item by the name an index or report gives it: a file, or a
/// member of one (`archive.zip!dir/file`), re-extracted.
fn read_named(pipeline: &Pipeline, name: &str) -> std::result::Result<Vec<u8>, String> {
    if Path::new(name).is_file() {
        return read_file(Path::new(name));
    }
    for (i, _) in name.match_indices(MEMBER_SEPARATOR) {
        let file = Path::new(&name[..i]);
        if file.is_file() {
            let data = read_file(file)?;
            let member = name[i + 1..].to_string();
            let mut found =
                pipeline.members_content(Some(file), &data, std::slice::from_ref(&member));
            return match found.remove(&member) {
                Some(MemberCopy::Bytes(b)) => Ok(b),
                _ => Err(format!("{name} could not be read again")),
            };
        }
    }
    Err(format!("{name} is no longer there"))
}

/// A preview of the raster in `data`.
fn raster_preview(data: &[u8], kind: Option<Kind>) -> std::result::Result<RasterPreview, String> {
    let kind = kind.unwrap_or_else(|| sniff::sniff(data, None));
    contained(|| raster::preview(data, kind, raster::MAX_IN_MEMORY_SAMPLES, THUMBNAIL_SIDE))?
        .map_err(|e| format!("the raster could not be read again: {e:?}"))
}

/// Runs a reader on content that may be hostile: a panic in it becomes a
/// placeholder's text, as the scan contains a decoder's.
fn contained<T>(read: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .map_err(|_| "the reader failed unexpectedly on this content: not shown".to_string())
}

/// Box-averages a `rows` x `cols` picture down to at most `side` pixels on
/// its longer axis: (width, height, pixels).
fn shrink(pixels: &[f32], rows: usize, cols: usize, side: usize) -> (usize, usize, Vec<f32>) {
    let step = rows.max(cols).div_ceil(side).max(1);
    let (h, w) = (rows.div_ceil(step), cols.div_ceil(step));
    let mut out = vec![0f32; w * h];
    let mut count = vec![0u32; w * h];
    for r in 0..rows {
        for c in 0..cols {
            let i = (r / step) * w + c / step;
            out[i] += pixels[r * cols + c];
            count[i] += 1;
        }
    }
    for (o, n) in out.iter_mut().zip(&count) {
        *o /= (*n).max(1) as f32;
    }
    (w, h, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn shrinking_averages_blocks() {
        let pixels: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let (w, h, out) = shrink(&pixels, 4, 4, 2);
        assert_eq!((w, h), (2, 2));
        assert_eq!(out, vec![2.5, 4.5, 10.5, 12.5]);
    }
}

//! The `pugmark` command line: parses arguments, calls the library, prints.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pugmark::index::{self, Index, IndexStats, OpenOptions};
use pugmark::source::MmapChoice;
use pugmark::{
    exit_code, FingerprintParams, IndexOptions, IndexWriter, Limits, Pipeline, Progress, Report,
    ScanOptions, Scanner, Thresholds, Verdict,
};

/// Fingerprint protected datasets and catch them leaving.
#[derive(Parser)]
#[command(name = "pugmark", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    dir: IndexDir,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct IndexDir {
    /// Index directory [default: $PUGMARK_INDEX, else ./.pugmark]
    #[arg(long, value_name = "DIR", global = true)]
    index: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct Common {
    /// Worker threads (0 = one per core)
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// Read files instead of memory-mapping them
    #[arg(long)]
    no_mmap: bool,
    /// Follow symbolic links (default: report them, do not follow)
    #[arg(long)]
    follow_symlinks: bool,
    #[command(flatten)]
    limits: LimitArgs,
    /// Print the process's peak resident memory to standard error at the end
    /// (`peak_rss_kib N`; Linux)
    #[arg(long)]
    resources: bool,
    /// No progress bar (it is only drawn when standard error is a terminal)
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Peak resident set size of this process in KiB, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn report_resources(common: &Common) {
    if common.resources {
        match peak_rss_kib() {
            Some(kib) => eprintln!("peak_rss_kib {kib}"),
            None => eprintln!("peak_rss_kib unknown"),
        }
    }
}

/// Budgets per top-level item for opening archives; exceeding one makes the
/// item `incomplete` (`limits.<name>`), never clean.
#[derive(Args, Clone)]
struct LimitArgs {
    /// Largest archive member examined; bigger ones are examined up to this size (K/M/G suffixes)
    #[arg(long, default_value = "100M", value_parser = parse_size, value_name = "SIZE")]
    max_file_size: u64,
    /// Decompressed archive bytes examined per item, all depths together
    #[arg(long, default_value = "400M", value_parser = parse_size, value_name = "SIZE")]
    max_bytes: u64,
    /// Deepest archive nesting opened
    #[arg(long, default_value_t = 17, value_name = "N")]
    max_depth: u32,
    /// Archive members examined per item
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_members: u64,
    /// Seconds spent inside one item's archives
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    max_time: f64,
    /// Largest decompressed/compressed ratio of an archive member
    #[arg(long, default_value_t = 1000, value_name = "N")]
    max_ratio: u64,
}

impl LimitArgs {
    fn limits(&self) -> anyhow::Result<Limits> {
        if !(self.max_time.is_finite() && self.max_time > 0.0) {
            anyhow::bail!("--max-time must be a positive number of seconds");
        }
        Ok(Limits::default()
            .with_max_file_size(self.max_file_size)
            .with_max_bytes(self.max_bytes)
            .with_max_depth(self.max_depth)
            .with_max_members(self.max_members)
            .with_max_time(std::time::Duration::from_secs_f64(self.max_time))
            .with_max_ratio(self.max_ratio))
    }
}

/// Parses a byte count with an optional K, M, G or T suffix (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("unknown size suffix in {text:?}")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// `scan --help`'s list of exit codes (the README's table).
const SCAN_EXIT_CODES: &str = "Exit status:
  0  every item clean
  1  at least one match
  2  no match, but an error (an unreadable item; or the scan could not run:
     usage, a missing, corrupt or empty index)
  3  no match or error, but at least one item incomplete";

/// `index --help`'s list of exit codes.
const INDEX_EXIT_CODES: &str = "Exit status:
  0  every protected path was indexed
  2  the index could not be written (a protected path that does not exist,
     a locked index, usage), or it holds no protected items after the run
     (scan refuses an empty index)
  3  the index was written, but some paths were skipped (listed on stdout):
     they are not protected";

#[derive(Subcommand)]
enum Command {
    /// Index protected files and directories (new or changed files only)
    #[command(after_help = INDEX_EXIT_CODES)]
    Index {
        /// Files or directories to protect
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
        /// Smallest chunk in bytes (only when creating an index)
        #[arg(long, default_value_t = 4096)]
        chunk_min: u32,
        /// Average chunk in bytes (only when creating an index)
        #[arg(long, default_value_t = 16384)]
        chunk_avg: u32,
        /// Largest chunk in bytes (only when creating an index)
        #[arg(long, default_value_t = 65536)]
        chunk_max: u32,
        /// Side in samples of the smallest raster window always found again
        /// with its offset; larger stores fewer anchors (only when creating
        /// an index)
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(8..=1031))]
        raster_window: u32,
        /// Also remove indexed files under PATHS that no longer exist
        #[arg(long)]
        prune: bool,
        /// Print the summary as JSON
        #[arg(long)]
        json: bool,
    },
    /// Scan outgoing files, directories or standard input (`-`)
    #[command(after_help = SCAN_EXIT_CODES)]
    Scan {
        /// Files or directories to check; `-` reads standard input
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
        /// Print JSON Lines, one report per item
        #[arg(long)]
        json: bool,
        /// Print only items that are not clean (the summary still counts
        /// every item)
        #[arg(long)]
        only_findings: bool,
        /// Chunk match when at least this many bytes are found in one protected item
        #[arg(long, default_value_t = 65536, value_name = "BYTES")]
        min_bytes: u64,
        /// ...or when at least this fraction of the protected item is found
        /// (0 to 1)
        #[arg(long, default_value_t = 0.5, value_name = "FRACTION", value_parser = fraction)]
        min_fraction: f64,
        /// A chunk found in more protected items than this is boilerplate
        #[arg(long, default_value_t = 8, value_name = "N")]
        max_items_per_chunk: usize,
        /// Treat reasons whose code starts with PREFIX as notes, not as
        /// `incomplete` (e.g. `container.encrypted` on a channel that
        /// handles encrypted archives elsewhere; `*` accepts all). Relaxes
        /// fail-closed: what was not examined may carry protected data
        #[arg(long, value_name = "PREFIX")]
        accept_incomplete: Vec<String>,
        /// Scan against an index that holds no protected items (otherwise
        /// an error: every verdict would be clean)
        #[arg(long)]
        allow_empty_index: bool,
        /// Write an HTML evidence report (DIR/index.html and DIR/assets/,
        /// opens from file://, needs no network): a card per item that is
        /// not clean, with the outgoing pictures, raster windows, matched
        /// rows and byte ranges
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// Let the report read protected files from their indexed paths to
        /// show their pictures, raster windows and rows beside the outgoing
        /// ones (the report then holds protected content)
        #[arg(long, requires = "report")]
        report_protected_thumbnails: bool,
        /// Print each item that is not clean in words: what matched, what
        /// was not examined, what it means and what to do
        #[arg(long, conflicts_with = "json")]
        explain: bool,
    },
    /// Show the fingerprints `index` would store for files (pictures' crops,
    /// rasters' stored window anchors)
    Fingerprint {
        /// Files to fingerprint; `-` reads standard input
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON Lines
        #[arg(long)]
        json: bool,
        /// List every chunk (JSON only)
        #[arg(long)]
        chunks: bool,
    },
    /// Create an empty index, or share its parameters with shard indexes
    /// (the file holds the secret gear seed: keep it like the index)
    Init {
        /// Write the index's parameters (with its secret seed) to FILE
        #[arg(long, value_name = "FILE")]
        export_params: Option<PathBuf>,
        /// Create the index with the parameters in FILE (from
        /// `--export-params` of another index)
        #[arg(long, value_name = "FILE")]
        import_params: Option<PathBuf>,
    },
    /// Merge every segment into one, dropping replaced and removed items
    Compact {
        /// Print the summary as JSON
        #[arg(long)]
        json: bool,
    },
    /// Add the protected items of shard indexes built with the same
    /// parameters (`init --import-params`) to this index
    Merge {
        /// Shard index directories
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Also compact the result into one segment
        #[arg(long)]
        compact: bool,
    },
    /// Answer gateways over clamd's protocol (clamdscan, clamav-milter,
    /// Exim, c-icap's virus_scan) and ICAP (Squid and other web proxies:
    /// icap://HOST:PORT/pugmark) until SIGTERM or SHUTDOWN; a changed
    /// index is picked up by itself, on SIGHUP or on RELOAD
    Serve {
        /// Listen for clamd's protocol on unix:PATH or tcp:HOST:PORT
        /// (repeatable)
        #[arg(long, value_name = "ADDR", required_unless_present = "icap")]
        clamd: Vec<pugmark_serve::Listen>,
        /// Listen for ICAP on HOST:PORT (repeatable; ICAP's usual port is
        /// 127.0.0.1:1344)
        #[arg(long, value_name = "HOST:PORT")]
        icap: Vec<std::net::SocketAddr>,
        /// A directory SCAN may read below (repeatable; without one, SCAN
        /// is refused)
        #[arg(long, value_name = "DIR")]
        scan_root: Vec<PathBuf>,
        /// Largest INSTREAM or ICAP body in bytes (clamd's
        /// StreamMaxLength); a larger ICAP body is blocked
        #[arg(long, default_value_t = 100 << 20)]
        stream_max_length: u64,
        /// Connections held open at once (idle ones included); more are
        /// answered busy
        #[arg(long, default_value_t = 4096)]
        max_connections: usize,
        /// Scans run at once (default: twice the cores); more wait, their
        /// bodies held
        #[arg(long)]
        max_scans: Option<usize>,
        /// Most bytes of bodies held at once over all connections (memory,
        /// then temporary files); a body past it is answered busy
        #[arg(long, default_value = "2G", value_parser = parse_size, value_name = "SIZE")]
        max_held: u64,
        /// Seconds a held body may wait for a scan slot (slots go in
        /// arrival order) before it is answered busy
        #[arg(long, default_value_t = 60)]
        max_scan_wait: u64,
        /// Answer `incomplete` with ERROR instead of FOUND
        #[arg(long)]
        incomplete_as_error: bool,
        /// Allow listening on addresses other than loopback
        #[arg(long)]
        allow_remote: bool,
    },
    /// Check the index in depth: headers, versions, checksums, order
    Verify,
    /// Show index counts, sizes and parameters
    Stats {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("pugmark: error: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, each cause said once: the
/// library's errors already name their cause in their own message.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    line
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let dir = index::resolve_dir(cli.dir.index.as_deref());
    match cli.command {
        Command::Index {
            paths,
            common,
            chunk_min,
            chunk_avg,
            chunk_max,
            raster_window,
            prune,
            json,
        } => cmd_index(
            &paths,
            &dir,
            &common,
            ([chunk_min, chunk_avg, chunk_max], raster_window, prune),
            json,
        ),
        Command::Init {
            export_params,
            import_params,
        } => cmd_init(&dir, export_params.as_deref(), import_params.as_deref()),
        Command::Compact { json } => {
            let mut writer = IndexWriter::open(&dir, IndexOptions::default())?;
            let summary = writer.compact()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "compacted {}: {} -> {}, {} kept, {} dropped, {} -> {}",
                    dir.display(),
                    summary.segments_before,
                    counted(summary.segments_after as u64, "segment", "segments"),
                    counted(summary.items_kept as u64, "item", "items"),
                    summary.items_dropped,
                    human_bytes(summary.bytes_before),
                    human_bytes(summary.bytes_after)
                );
            }
            Ok(0)
        }
        Command::Merge { shards, compact } => {
            let first = index::stored_params(&shards[0])?
                .ok_or_else(|| anyhow::anyhow!("{} holds no index", shards[0].display()))?;
            let opts = IndexOptions::default().with_new_params(Some(first));
            let mut writer = IndexWriter::open(&dir, opts)?;
            for shard in &shards {
                let n = writer.merge_from(shard)?;
                println!(
                    "merged {} from {}",
                    counted(n, "item", "items"),
                    shard.display()
                );
            }
            if compact {
                writer.compact()?;
            } else {
                writer.merge_tiers()?;
            }
            Ok(0)
        }
        Command::Scan {
            paths,
            common,
            json,
            only_findings,
            min_bytes,
            min_fraction,
            max_items_per_chunk,
            accept_incomplete,
            allow_empty_index,
            report,
            report_protected_thumbnails,
            explain,
        } => {
            let thresholds = Thresholds::default()
                .with_min_matched_bytes(min_bytes)
                .with_min_protected_fraction(min_fraction)
                .with_max_items_per_chunk(max_items_per_chunk);
            let policy = ScanPolicy {
                thresholds,
                accept_incomplete,
                allow_empty_index,
                only_findings,
            };
            let output = ScanOutput {
                json,
                explain,
                report,
                report_protected_thumbnails,
            };
            cmd_scan(&paths, &dir, &common, policy, output)
        }
        Command::Fingerprint {
            files,
            json,
            chunks,
        } => cmd_fingerprint(&files, &dir, json, chunks),
        Command::Serve {
            clamd,
            icap,
            scan_root,
            stream_max_length,
            max_connections,
            max_scans,
            max_held,
            max_scan_wait,
            incomplete_as_error,
            allow_remote,
        } => {
            let incomplete = if incomplete_as_error {
                pugmark_serve::clamd::IncompleteAs::Error
            } else {
                pugmark_serve::clamd::IncompleteAs::Found
            };
            let mut opts = pugmark_serve::ServeOptions::default();
            if let Some(n) = max_scans {
                opts = opts.with_max_scans(n);
            }
            let opts = opts
                .with_scan_roots(scan_root)
                .with_stream_max_length(stream_max_length)
                .with_max_connections(max_connections)
                .with_max_held_bytes(max_held)
                .with_max_scan_wait(std::time::Duration::from_secs(max_scan_wait))
                .with_incomplete_as(incomplete)
                .with_allow_remote(allow_remote)
                .with_log(Arc::new(|l: &pugmark_serve::server::ScanLog| {
                    let line = serde_json::json!({
                        "id": l.id,
                        "client": l.client,
                        "subject": l.subject,
                        "bytes": l.bytes,
                        "verdict": l.verdict,
                        "detail": l.detail,
                        "ms": l.elapsed.as_secs_f64() * 1000.0,
                    });
                    // A closed stderr must not take the connection down.
                    let _ = writeln!(std::io::stderr(), "{line}");
                }));
            cmd_serve(&dir, &clamd, &icap, opts)
        }
        Command::Verify => {
            let n = index::verify(&dir)?;
            println!("ok: {} verified ({n} segments)", dir.display());
            for path in index::exposed_files(&dir) {
                eprintln!(
                    "warning: {} is readable by other users; the index holds the secret gear seed (chmod go-rwx)",
                    path.display()
                );
            }
            Ok(0)
        }
        Command::Stats { json } => {
            let stats = Index::open(&dir, &OpenOptions::default())?.stats();
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print_stats(&stats);
            }
            Ok(0)
        }
    }
}

fn mmap_choice(common: &Common) -> MmapChoice {
    if common.no_mmap {
        MmapChoice::Never
    } else {
        MmapChoice::Auto
    }
}

/// Scans read files whole instead of mapping them (a file truncated while
/// it is scanned must not kill the run); `--no-mmap` streams large ones.
fn scan_read_choice(common: &Common) -> MmapChoice {
    if common.no_mmap {
        MmapChoice::Never
    } else {
        MmapChoice::Read
    }
}

fn cmd_index(
    paths: &[PathBuf],
    dir: &Path,
    common: &Common,
    (sizes, raster_window, prune): ([u32; 3], u32, bool),
    json: bool,
) -> anyhow::Result<u8> {
    let mut opts = IndexOptions::default()
        .with_threads(common.threads)
        .with_mmap(mmap_choice(common))
        .with_follow_symlinks(common.follow_symlinks)
        .with_follow_named_links(true)
        .with_progress(progress_bar(common.quiet))
        .with_limits(common.limits.limits()?)
        .with_prune(prune);
    let defaults = FingerprintParams::with_seed(0);
    let custom_sizes = sizes != [defaults.chunk_min, defaults.chunk_avg, defaults.chunk_max]
        || raster_window != defaults.raster_guaranteed_window();
    let stored = index::stored_params(dir)?;
    if custom_sizes || stored.is_none() {
        let mut params = FingerprintParams::random()?;
        [params.chunk_min, params.chunk_avg, params.chunk_max] = sizes;
        params.raster_anchor_window =
            (raster_window + 1 - u32::from(params.raster_anchor_block)) as u16;
        if let Some(existing) = stored {
            params.gear_seed = existing.gear_seed;
        }
        opts.new_params = Some(params);
    }
    let mut writer = IndexWriter::open(dir, opts)?;
    let summary = writer.add_paths(paths)?;
    drop(writer);
    report_resources(common);
    // An index with nothing in it protects nothing (and `scan` refuses it):
    // a scheduled job must fail, not pass.
    let empty = Index::open(dir, &OpenOptions::default())
        .map(|i| i.live_items() == 0)
        .unwrap_or(true);
    let code = if empty { 2 } else { index_exit_code(&summary) };
    let say_empty = || {
        if empty {
            eprintln!(
                "pugmark: error: the index at {} holds no protected items: nothing under the given paths could be indexed, and scan refuses an empty index",
                dir.display()
            );
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        say_empty();
        return Ok(code);
    }
    let secs = summary.elapsed_secs.max(1e-9);
    println!(
        "indexed {} ({}) in {:.2} s ({}/s) into {}",
        counted(summary.indexed_files, "file", "files"),
        human_bytes(summary.indexed_bytes),
        summary.elapsed_secs,
        human_bytes((summary.indexed_bytes as f64 / secs) as u64),
        dir.display()
    );
    println!(
        "unchanged (skipped): {} ({}); replaced: {}; segments written: {}",
        counted(summary.unchanged_files, "file", "files"),
        human_bytes(summary.unchanged_bytes),
        summary.replaced_files,
        summary.segments_written
    );
    if summary.pruned_files > 0 || summary.segments_merged > 0 {
        println!(
            "pruned (gone from disk): {}; segments merged by size: {}",
            counted(summary.pruned_files, "file", "files"),
            summary.segments_merged
        );
    }
    if summary.archive_members > 0 {
        println!(
            "archive members indexed as protected items: {}",
            summary.archive_members
        );
    }
    if !summary.partial.is_empty() {
        let parts: Vec<String> = summary
            .partial
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        println!("not fully examined (by reason): {}", parts.join(", "));
    }
    if !summary.skipped.is_empty() {
        println!(
            "skipped {}:",
            counted(summary.skipped.len() as u64, "path", "paths")
        );
        for s in &summary.skipped {
            let detail = match &s.reason {
                pugmark::source::SkipReason::Unreadable(m) => format!(" ({m})"),
                _ => String::new(),
            };
            println!("  {:<22} {}{detail}", s.reason.code(), s.path.display());
        }
    }
    say_empty();
    Ok(code)
}

/// `index` exits 3 when protected paths were skipped (unreadable, links,
/// special files): the index was written, but does not protect them, and
/// a scheduled job must notice.
fn index_exit_code(summary: &pugmark::IndexSummary) -> u8 {
    if summary.skipped.is_empty() {
        0
    } else {
        3
    }
}

/// How `scan` shows its reports.
struct ScanOutput {
    json: bool,
    explain: bool,
    report: Option<PathBuf>,
    report_protected_thumbnails: bool,
}

/// The robustness plot (PDQ distances of transformed copies and of
/// unrelated pictures), made by `cargo run --release --example robustness`.
const ROBUSTNESS_SVG: &str = include_str!("../../../docs/robustness.svg");

/// What the plot shows, under it in the report.
const ROBUSTNESS_CAPTION: &str = "PDQ distances between the test pictures and transformed copies of them (green: resized, re-encoded, mirrored, turned, framed, cropped) and between unrelated pictures (grey). The dashed line is the default match threshold: copies fall left of it, unrelated pairs right. Made by examples/robustness.rs from tests/fixtures.";

/// What a scan accepts (thresholds, reasons taken as notes, an empty
/// index) and whether clean items are printed.
struct ScanPolicy {
    thresholds: Thresholds,
    accept_incomplete: Vec<String>,
    allow_empty_index: bool,
    only_findings: bool,
}

fn cmd_scan(
    paths: &[PathBuf],
    dir: &Path,
    common: &Common,
    policy: ScanPolicy,
    output: ScanOutput,
) -> anyhow::Result<u8> {
    let started = std::time::Instant::now();
    let opts = ScanOptions::default()
        .with_thresholds(policy.thresholds)
        .with_limits(common.limits.limits()?)
        .with_accept_incomplete(policy.accept_incomplete)
        .with_allow_empty_index(policy.allow_empty_index)
        .with_threads(common.threads)
        .with_mmap(scan_read_choice(common))
        .with_follow_symlinks(common.follow_symlinks)
        .with_follow_named_links(true)
        .with_progress(progress_bar(common.quiet));
    let scanner = Scanner::open(dir, opts)?;
    let mut reports = Vec::new();
    let files: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .cloned()
        .collect();
    if files.len() != paths.len() {
        reports.push(scanner.scan_reader("-", std::io::stdin().lock()));
    }
    if !files.is_empty() {
        reports.extend(scanner.scan_paths(&files)?);
    }
    let stdout = std::io::stdout();
    // Dimmed notes on a terminal, unless NO_COLOR is set (no-color.org).
    let dim = std::io::IsTerminal::is_terminal(&stdout)
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut out = stdout.lock();
    let shown: Vec<&Report> = reports
        .iter()
        .filter(|r| !policy.only_findings || r.verdict != Verdict::Clean)
        .collect();
    if output.json {
        for r in &shown {
            serde_json::to_writer(&mut out, r)?;
            writeln!(out)?;
        }
    } else if output.explain {
        for r in &shown {
            for line in pugmark::explain::explain(r) {
                writeln!(out, "{line}")?;
            }
            writeln!(out)?;
        }
    } else {
        print_table(&mut out, &shown, dim)?;
    }
    out.flush()?;
    let mut report_failed = false;
    if let Some(report_dir) = &output.report {
        let opts = pugmark::html_report::HtmlReportOptions::default()
            .with_protected_content(output.report_protected_thumbnails)
            .with_scanned(paths.iter().map(|p| p.display().to_string()).collect())
            .with_elapsed(Some(started.elapsed()))
            .with_figure(Some((
                ROBUSTNESS_SVG.to_string(),
                ROBUSTNESS_CAPTION.to_string(),
            )));
        match pugmark::html_report::write_html_report(report_dir, &scanner, &reports, &opts) {
            Ok(written) => eprintln!(
                "evidence report: {} ({}, {})",
                written.index_html.display(),
                counted(written.cards as u64, "card", "cards"),
                counted(written.pictures as u64, "picture", "pictures")
            ),
            Err(e) => {
                // The verdicts stand; a match still exits 1.
                eprintln!("pugmark: error: the evidence report was not written: {e}");
                report_failed = true;
            }
        }
    }
    let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
    eprintln!(
        "{}: {} match, {} incomplete, {} error, {} clean",
        counted(reports.len() as u64, "item", "items"),
        count(Verdict::Match),
        count(Verdict::Incomplete),
        count(Verdict::Error),
        count(Verdict::Clean)
    );
    let waived_reasons = reports
        .iter()
        .flat_map(|r| r.all_notes())
        .filter(|(_, n)| n.waived)
        .count();
    if waived_reasons > 0 {
        eprintln!(
            "{} waived by --accept-incomplete: what they name was not examined, and the items count as if it had been",
            counted(waived_reasons as u64, "reason", "reasons")
        );
    }
    report_resources(common);
    let code = exit_code(reports.iter().map(|r| &r.verdict)) as u8;
    Ok(if report_failed && code != 1 { 2 } else { code })
}

/// Prints the verdict table: per item its findings, reasons and error, then
/// its notes (`waived:` for reasons `--accept-incomplete` turned into notes,
/// `note:` for the rest), dimmed when `dim`.
fn print_table(out: &mut impl Write, reports: &[&Report], dim: bool) -> std::io::Result<()> {
    let width = reports
        .iter()
        .map(|r| r.path.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    writeln!(
        out,
        "{:<10}  {:<width$}  EVIDENCE / REASONS",
        "VERDICT", "PATH"
    )?;
    for r in reports {
        // Findings inside archives are prefixed with the member's path.
        let inner = |p: &str| match p.strip_prefix(r.path.as_str()) {
            Some("") => String::new(),
            Some(rest) => format!("[{}] ", rest.trim_start_matches('!')),
            None => format!("[{p}] "),
        };
        let mut details: Vec<String> = r
            .findings()
            .into_iter()
            .map(|(p, e)| format!("{}{}", inner(p), e.summary()))
            .collect();
        details.extend(
            r.all_reasons()
                .into_iter()
                .map(|(p, x)| format!("{}{}: {}", inner(p), x.code, x.detail)),
        );
        if let Some(e) = &r.error {
            details.push(e.clone());
        }
        details.extend(r.all_notes().into_iter().map(|(p, x)| {
            let label = if x.waived { "waived" } else { "note" };
            let text = format!("{}{label}: {}: {}", inner(p), x.code, x.detail);
            if dim {
                format!("\x1b[2m{text}\x1b[0m")
            } else {
                text
            }
        }));
        let first = details.first().map(String::as_str).unwrap_or("");
        writeln!(out, "{:<10}  {:<width$}  {first}", r.verdict.name(), r.path)?;
        for d in details.iter().skip(1) {
            writeln!(out, "{:<10}  {:<width$}  {d}", "", "")?;
        }
    }
    Ok(())
}

/// `n` and the noun in its number: `1 file`, `2 files`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A fraction option's value: a number from 0 to 1.
fn fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is not a fraction from 0 to 1 (50% is 0.5)"
        ))
    }
}

fn cmd_fingerprint(
    files: &[PathBuf],
    dir: &Path,
    json: bool,
    list_chunks: bool,
) -> anyhow::Result<u8> {
    let (params, source) = if let Some(params) = index::stored_params(dir)? {
        (params, format!("index {}", dir.display()))
    } else {
        (
            FingerprintParams::with_seed(0),
            "defaults, seed 0 (no index found)".to_string(),
        )
    };
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        anyhow::bail!("standard input (`-`) can be read only once");
    }
    let pipeline = Pipeline::new(params)?.for_protected();
    let mut failed = false;
    for file in files {
        // `-` is standard input, as for `scan`.
        let read = if file.as_os_str() == "-" {
            pipeline.fingerprint_reader(Some(file), std::io::stdin().lock())
        } else {
            pipeline.fingerprint_file(file, MmapChoice::Auto)
        };
        let fp = match read {
            Ok(fp) => fp,
            Err(e) => {
                let name = if file.as_os_str() == "-" {
                    "standard input".to_string()
                } else {
                    file.display().to_string()
                };
                eprintln!("pugmark: error: reading {name}: {e}");
                failed = true;
                continue;
            }
        };
        let trivial = fp.chunks.iter().filter(|c| c.trivial).count();
        if json {
            let mut v = serde_json::json!({
                "path": file.display().to_string(),
                "kind": fp.kind,
                "size": fp.size,
                "digest": pugmark::fingerprint::bytes::hex(&fp.digest),
                "chunks": fp.chunks.len(),
                "trivial_chunks": trivial,
                "matchable_bytes": fp.matchable_bytes(),
                "params": pipeline.params().redacted(),
                "params_from": source,
                "reasons": fp.reasons,
            });
            if let Some(image) = &fp.image {
                v["image"] = serde_json::to_value(image)?;
            }
            if let Some(raster) = &fp.raster {
                v["raster"] = serde_json::to_value(raster)?;
            }
            if list_chunks {
                v["chunk_list"] = serde_json::to_value(&fp.chunks)?;
            }
            let mut members = Vec::new();
            fp.visit_members(&mut |name, m| {
                members.push(serde_json::json!({
                    "name": name,
                    "kind": m.kind,
                    "size": m.size,
                    "digest": pugmark::fingerprint::bytes::hex(&m.digest),
                    "reasons": m.reasons,
                }));
            });
            if !members.is_empty() {
                v["members"] = serde_json::Value::Array(members);
            }
            println!("{v}");
        } else {
            println!("{}", file.display());
            println!("  kind    {}", fp.kind.name());
            println!("  size    {} B", fp.size);
            println!(
                "  exact   blake3 {}",
                pugmark::fingerprint::bytes::hex(&fp.digest)
            );
            println!(
                "  chunks  {} ({} trivial), params {}/{}/{} from {source}",
                fp.chunks.len(),
                trivial,
                pipeline.params().chunk_min,
                pipeline.params().chunk_avg,
                pipeline.params().chunk_max
            );
            if let Some(img) = &fp.image {
                println!(
                    "  image   {}x{}, decoded at 1/{}, border {:?}",
                    img.width, img.height, img.decoded_scale, img.border
                );
                for h in img.all_hashes() {
                    println!(
                        "          pdq {} quality {:>3}  {} {}",
                        h.hash.to_hex(),
                        h.quality,
                        h.region.name(),
                        pugmark::fingerprint::image::pdq::DIHEDRAL_NAMES[h.variant as usize]
                    );
                }
            }
            if let Some(r) = &fp.raster {
                println!(
                    "  raster  {}x{} x {} bands of {}, digest {}, {} window anchors",
                    r.width,
                    r.height,
                    r.bands.len(),
                    r.sample_type,
                    pugmark::fingerprint::bytes::hex(&r.digest),
                    r.anchors.len()
                );
                if let Some(source) = &r.source {
                    println!("          from {source}");
                }
                println!("          geo {}", serde_json::to_string(&r.geo)?);
                for b in &r.bands {
                    println!(
                        "          band {:<3} digest {} pdq {} quality {}",
                        b.band,
                        pugmark::fingerprint::bytes::hex(&b.digest),
                        b.pdq.hash.to_hex(),
                        b.pdq.quality
                    );
                }
            }
            if let Some(r) = &fp.records {
                println!(
                    "  records {} records ({} distinct informative), {} lines skipped, read as {}",
                    r.records, r.informative, r.skipped_lines, r.delimiter
                );
            }
            for r in &fp.reasons {
                println!("  note    {}: {}", r.code, r.detail);
            }
            fp.visit_members(&mut |name, m| {
                println!(
                    "  member  {name}: {} {} B, blake3 {}",
                    m.kind.name(),
                    m.size,
                    pugmark::fingerprint::bytes::hex(&m.digest)
                );
                for r in &m.reasons {
                    println!("          {}: {}", r.code, r.detail);
                }
            });
        }
    }
    Ok(if failed { 2 } else { 0 })
}

/// `pugmark init`: creates the index (fresh parameters, or imported
/// ones) and exports its parameters for shard indexes.
fn cmd_init(dir: &Path, export: Option<&Path>, import: Option<&Path>) -> anyhow::Result<u8> {
    let new_params = match import {
        Some(file) => {
            let text = std::fs::read(file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let params: FingerprintParams = serde_json::from_slice(&text).map_err(|e| {
                anyhow::anyhow!("{} is not exported parameters: {e}", file.display())
            })?;
            params.validate()?;
            Some(params)
        }
        None => None,
    };
    let writer = IndexWriter::open(dir, IndexOptions::default().with_new_params(new_params))?;
    if let Some(file) = export {
        writer.export_params(file)?;
        println!(
            "parameters of {} written to {} (it holds the secret seed: owner-only)",
            dir.display(),
            file.display()
        );
    } else {
        println!("index ready at {}", dir.display());
    }
    Ok(0)
}

fn print_stats(s: &IndexStats) {
    println!("index          {}", s.dir);
    println!("format         version {}", s.format_version);
    if let Some(params) = s.params.as_object() {
        for (name, value) in params {
            println!("param          {name} = {value}");
        }
    }
    println!("segments       {}", s.segments);
    println!(
        "items          {} live ({}), {} superseded",
        s.items,
        human_bytes(s.bytes),
        s.superseded_items
    );
    println!("partial items  {} (deep signals missing)", s.partial_items);
    println!("skipped paths  {} (when indexed)", s.skipped_when_indexed);
    for (table, n) in &s.table_entries {
        let bytes = s.table_bytes.get(table).copied().unwrap_or(0);
        println!(
            "table {table:<18} {n:>12} entries {:>12}",
            human_bytes(bytes)
        );
    }
    println!("size on disk   {}", human_bytes(s.disk_bytes));
    let ratio = |label: &str, v: Option<f64>, what: &str| {
        if let Some(v) = v {
            println!("{label:<14} {v:.4} {what}");
        }
    };
    ratio(
        "index/data",
        s.index_bytes_per_protected_byte,
        "index bytes per protected byte",
    );
    ratio(
        "rasters",
        s.raster_bytes_per_sample,
        &format!("bytes per sample ({} samples)", s.raster_samples),
    );
    ratio(
        "records",
        s.record_bytes_per_record,
        &format!("bytes per record ({} records)", s.records),
    );
    ratio(
        "photos",
        s.image_bytes_per_photo,
        &format!("bytes per photo ({} photos)", s.photos),
    );
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A progress bar on standard error when it is a terminal and not `quiet`.
fn progress_bar(quiet: bool) -> Arc<dyn Progress> {
    if std::io::stderr().is_terminal() && !quiet {
        Arc::new(Bar {
            bar: ProgressBar::hidden(),
            items: AtomicU64::new(0),
            done: AtomicU64::new(0),
        })
    } else {
        Arc::new(pugmark::NoProgress)
    }
}

/// Bytes, files, files per second and the time left, drawn by indicatif.
struct Bar {
    bar: ProgressBar,
    items: AtomicU64,
    done: AtomicU64,
}

impl Progress for Bar {
    fn begin(&self, items: u64, bytes: u64) {
        self.bar
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.bar.set_length(bytes);
        self.bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.items.store(items, Ordering::Relaxed);
        // Files per second from the start of the work, not of the process.
        self.bar.reset_elapsed();
        self.bar.set_message(format!("0/{items} files"));
    }

    fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let rate = done as f64 / self.bar.elapsed().as_secs_f64().max(1e-3);
        let items = self.items.load(Ordering::Relaxed);
        self.bar
            .set_message(format!("{done}/{items} files, {rate:.0} files/s"));
        self.bar.inc(bytes);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Serves until SIGTERM / SIGINT or a client's SHUTDOWN; SIGHUP reloads.
fn cmd_serve(
    dir: &Path,
    listen: &[pugmark_serve::Listen],
    icap: &[std::net::SocketAddr],
    opts: pugmark_serve::ServeOptions,
) -> anyhow::Result<u8> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let scanner = Scanner::open(dir, ScanOptions::default())?;
    let items = scanner.index().live_items();
    let shared = Arc::new(pugmark::SharedScanner::new(scanner));
    if let Err(e) = pugmark_serve::server::raise_descriptor_limit() {
        eprintln!("pugmark serve: could not raise the descriptor limit: {e}");
    }
    let server = pugmark_serve::Server::new(shared.clone(), opts);
    let mut bound = Vec::new();
    for l in listen {
        bound.push(
            server
                .bind(l)
                .map_err(|e| anyhow::anyhow!("listening on {l}: {e}"))?,
        );
    }
    for addr in icap {
        bound.push(
            server
                .bind_icap(*addr)
                .map_err(|e| anyhow::anyhow!("listening for ICAP on {addr}: {e}"))?,
        );
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let on_signal = server.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == SIGHUP {
                if let Err(e) = shared.reload() {
                    eprintln!("pugmark serve: reload failed, keeping the open index: {e}");
                }
            } else {
                on_signal.shutdown();
            }
        }
    });
    eprintln!(
        "pugmark serve: index {} ({}), listening on {}",
        dir.display(),
        counted(items, "item", "items"),
        listen
            .iter()
            .map(|l| l.to_string())
            .chain(icap.iter().map(|a| format!("icap://{a}/pugmark")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    server.run(bound)?;
    eprintln!("pugmark serve: stopped");
    Ok(0)
}

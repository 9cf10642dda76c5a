//! A DLP hook: what a mail gateway, upload portal or ICAP server does with
//! pugmark. It opens the index once, shares one `Scanner` across worker
//! threads, and turns each outgoing item's report into allow / block /
//! quarantine, keeping the JSON report as the analyst's evidence.
//!
//! ```text
//! cargo run --example dlp_hook -- INDEX_DIR FILE...
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pugmark::{Report, ScanOptions, Scanner, Verdict};

/// What the gateway does with an outgoing item.
#[derive(Debug)]
enum Action {
    Allow,
    Block,
    /// Fail closed: not fully examined (or unreadable) items wait for a person.
    Quarantine,
}

fn decide(report: &Report) -> Action {
    match report.verdict {
        Verdict::Clean => Action::Allow,
        Verdict::Match => Action::Block,
        // Not fully examined, or a verdict newer than this code knows:
        // fail closed.
        _ => Action::Quarantine,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let index = PathBuf::from(args.next().ok_or("usage: dlp_hook INDEX_DIR FILE...")?);
    let files: Vec<PathBuf> = args.map(PathBuf::from).collect();

    // Open once at start-up; the scanner is Send + Sync.
    let scanner = Arc::new(Scanner::open(&index, ScanOptions::default())?);

    // Each request is handled on its own thread, as a server would.
    let workers: Vec<_> = files
        .into_iter()
        .map(|file| {
            let scanner = Arc::clone(&scanner);
            std::thread::spawn(move || handle_upload(&scanner, &file))
        })
        .collect();
    for worker in workers {
        let (report, action) = worker.join().map_err(|_| "worker panicked")?;
        println!("{action:?}\t{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// One outgoing item as a gateway would receive it: a byte stream.
fn handle_upload(scanner: &Scanner, file: &Path) -> (Report, Action) {
    let name = file.display().to_string();
    let report = match std::fs::File::open(file) {
        Ok(body) => scanner.scan_reader(&name, body),
        Err(e) => Report::error(name, e.to_string()),
    };
    let action = decide(&report);
    (report, action)
}

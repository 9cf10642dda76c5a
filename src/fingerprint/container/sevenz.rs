//! 7z archives (LZMA, LZMA2, PPMd, bzip2, copy; BCJ and delta filters;
//! solid blocks), read from memory with the `sevenz-rust2` decoder under a
//! 256 MiB decoder-memory limit and on one thread. Encrypted content is
//! reported (`container.encrypted`), never decrypted; an archive whose
//! headers are encrypted cannot be listed at all.

use std::io::Cursor;

use sevenz_rust2::{ArchiveReader, EntryDecision, Error, Password};

use super::{Checks, Expander, Walk};
use crate::reason::Reason;

/// Decoder memory allowed per archive (dictionaries, header buffers), KiB.
const MEMORY_LIMIT_KIB: usize = 256 * 1024;

/// Opens 7z archives held in memory (the header is at the end).
pub(crate) struct SevenZipExpander;

/// The reason for a decoder error.
fn reason_for(error: &Error) -> Reason {
    let detail = format!("7z: {error}");
    let code = match error {
        Error::UnsupportedCompressionMethod(m) if m.contains("AES") => "container.encrypted",
        Error::PasswordRequired => "container.encrypted",
        Error::UnsupportedCompressionMethod(_) | Error::ExternalUnsupported => {
            "container.unsupported"
        }
        Error::ChecksumVerificationFailed | Error::NextHeaderCrcMismatch => "container.crc",
        Error::MaxMemLimited { .. } => "limits.decoder_memory",
        Error::Io(e, _) if e.kind() == std::io::ErrorKind::UnexpectedEof => "container.truncated",
        _ => "container.corrupt",
    };
    Reason::new(code, detail)
}

impl Expander for SevenZipExpander {
    fn expand_slice(&self, walk: &mut Walk<'_>, data: &[u8]) {
        let mut archive = match ArchiveReader::new_with_memory_limit(
            Cursor::new(data),
            Password::empty(),
            MEMORY_LIMIT_KIB,
        ) {
            Ok(archive) => archive,
            Err(e) => {
                walk.reason(reason_for(&e));
                return;
            }
        };
        archive.set_thread_count(1);
        let encrypted: Vec<String> = (0..archive.archive().files.len())
            .filter(|&i| archive.archive().is_file_encrypted(i))
            .map(|i| archive.archive().files[i].name.clone())
            .collect();
        for name in &encrypted {
            walk.reason(Reason::new(
                "container.encrypted",
                format!("{name}: encrypted member, content not examined"),
            ));
        }
        let mut stopped = false;
        let result = archive.for_each_entries_with_decision(|entry, reader| {
            if entry.is_directory || !entry.has_stream || encrypted.contains(&entry.name) {
                return Ok(EntryDecision::Continue);
            }
            if !walk.admit() {
                stopped = true;
                return Ok(EntryDecision::Stop);
            }
            let checks = Checks {
                size: Some(entry.size),
                ..Checks::default()
            };
            let delivered = walk.member(&entry.name, reader, checks);
            if walk.stopped() {
                stopped = true;
                return Ok(EntryDecision::Stop);
            }
            // A member cut short by a limit: its block is abandoned rather
            // than decoded to the end for nobody.
            if delivered < entry.size {
                walk.reason(Reason::new(
                    "limits.max_file_size",
                    format!(
                        "{}: cut short; later members of its block were not examined",
                        entry.name
                    ),
                ));
                return Ok(EntryDecision::SkipBlock);
            }
            Ok(EntryDecision::Continue)
        });
        match result {
            Ok(()) => {}
            // An encrypted block fails to decode: already reported.
            Err(e) if !encrypted.is_empty() && reason_for(&e).code == "container.encrypted" => {}
            Err(e) if !stopped => walk.reason(reason_for(&e)),
            Err(_) => {}
        }
    }
}

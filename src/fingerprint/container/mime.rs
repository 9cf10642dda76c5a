//! E-mail: one RFC 5322 / MIME message (`.eml`, `message/rfc822`) or an
//! mbox mailbox. Each MIME leaf part is decoded (base64, quoted-printable,
//! charsets) and becomes a member: `body/<n>.txt`, `body/<n>.html`,
//! `attachment/<file name>`, `part/<n>`; an attached message is a member
//! `message/<n>.eml` and is opened in turn (nesting counts toward the depth
//! limit). A mailbox's messages are members `message/<n>.eml`.

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::{Expander, Walk};
use crate::reason::Reason;

/// Opens mail messages and mailboxes held in memory.
pub(crate) struct MailExpander;

impl Expander for MailExpander {
    fn expand_slice(&self, walk: &mut Walk<'_>, data: &[u8]) {
        // A byte-order mark or blank lines may precede a mailbox's first
        // `From ` line.
        let unmarked = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let start = unmarked
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        if unmarked[start..].starts_with(b"From ") {
            expand_mbox(walk, &unmarked[start..]);
        } else {
            expand_message(walk, data);
        }
    }
}

/// Each message of a mailbox as a member.
fn expand_mbox(walk: &mut Walk<'_>, data: &[u8]) {
    let messages = mail_parser::mailbox::mbox::MessageIterator::new(data);
    for (i, message) in messages.enumerate() {
        match message {
            Ok(message) => {
                let name = format!("message/{}.eml", i + 1);
                if !walk.member_bytes(&name, message.contents()) {
                    return;
                }
            }
            Err(e) => {
                walk.reason(Reason::new(
                    "container.corrupt",
                    format!("mbox: reading message {}: {e}", i + 1),
                ));
                return;
            }
        }
    }
}

/// The leaf parts of one message as members.
fn expand_message(walk: &mut Walk<'_>, data: &[u8]) {
    let Some(message) = MessageParser::default().parse(data) else {
        walk.reason(Reason::new(
            "container.malformed",
            "mail: no message could be parsed",
        ));
        return;
    };
    for (i, part) in message.parts.iter().enumerate() {
        // A damaged part is still read as far as it decodes (a lenient
        // base64 pass over its raw body), and marked.
        let mut salvaged = None;
        if part.is_encoding_problem {
            walk.reason(Reason::new(
                "container.corrupt",
                format!("mail part {i}: its transfer encoding could not be decoded fully"),
            ));
            let base64 = part.encoding == mail_parser::Encoding::Base64
                || part
                    .content_transfer_encoding()
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case("base64"));
            if base64 {
                let raw = data
                    .get(part.offset_body as usize..part.offset_end as usize)
                    .unwrap_or_default();
                salvaged = Some(lenient_base64(raw));
            }
        }
        let named = |prefix: &str, fallback: String| match part.attachment_name() {
            Some(file) if !file.is_empty() => format!("attachment/{}", file.replace('/', "_")),
            _ => format!("{prefix}/{fallback}"),
        };
        let tnef = part.content_type().is_some_and(|c| {
            c.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("ms-tnef"))
        });
        if tnef {
            walk.reason(Reason::new(
                "container.unsupported",
                format!("mail part {i}: TNEF (winmail.dat) is not decoded; only its bytes were examined"),
            ));
        }
        if let Some(bytes) = &salvaged {
            if !walk.member_bytes(&named("part", i.to_string()), bytes) {
                return;
            }
            continue;
        }
        let (name, bytes): (String, &[u8]) = match &part.body {
            PartType::Text(text) => (named("body", format!("{i}.txt")), text.as_bytes()),
            PartType::Html(html) => (named("body", format!("{i}.html")), html.as_bytes()),
            PartType::Binary(b) | PartType::InlineBinary(b) => (named("part", i.to_string()), b),
            PartType::Message(inner) => {
                // A message sent as is points into the outer message's
                // bytes (the parser keeps the whole buffer); one sent
                // encoded was decoded into bytes of its own.
                let raw: &[u8] = &inner.raw_message;
                let inner_bytes = if raw.as_ptr() == data.as_ptr() {
                    data.get(part.offset_body as usize..part.offset_end as usize)
                        .unwrap_or_default()
                } else {
                    raw
                };
                (format!("message/{i}.eml"), inner_bytes)
            }
            PartType::Multipart(children) => {
                if !outside_parts(walk, data, part, children, &message.parts, i) {
                    return;
                }
                continue;
            }
        };
        if !walk.member_bytes(&name, bytes) {
            return;
        }
    }
}

/// Base64 decoded as far as it goes: characters outside the alphabet are
/// skipped, padding ends one block and decoding resumes after it (blocks
/// may be concatenated), and a boundary line (`--`) ends the text.
fn lenient_base64(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for line in raw.split(|&b| b == b'\n') {
        if line.starts_with(b"--") {
            break;
        }
        for &c in line {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => {
                    (acc, bits) = (0, 0);
                    continue;
                }
                _ => continue,
            };
            acc = acc << 6 | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
    }
    out
}

/// A multipart's preamble (before its first boundary) and epilogue (after
/// its closing one): readers skip them, so they can carry anything. What
/// is left there beyond boundary lines and white space is a member
/// (`preamble/<n>`, `epilogue/<n>`; base64 text is decoded). `false` when
/// the walk must stop.
fn outside_parts(
    walk: &mut Walk<'_>,
    data: &[u8],
    part: &mail_parser::MessagePart<'_>,
    children: &[u32],
    parts: &[mail_parser::MessagePart<'_>],
    index: usize,
) -> bool {
    let (Some(first), Some(last)) = (
        children.first().and_then(|&c| parts.get(c as usize)),
        children.last().and_then(|&c| parts.get(c as usize)),
    ) else {
        return true;
    };
    let spans = [
        ("preamble", part.offset_body, first.offset_header),
        ("epilogue", last.offset_end, part.offset_end),
    ];
    for (label, start, end) in spans {
        let Some(raw) = data.get(start as usize..end as usize) else {
            continue;
        };
        let kept: Vec<u8> = raw
            .split(|&b| b == b'\n')
            .filter(|line| !line.starts_with(b"--"))
            .flat_map(|line| line.iter().copied().chain(std::iter::once(b'\n')))
            .collect();
        if kept.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bytes = if looks_like_base64(&kept) {
            lenient_base64(&kept)
        } else {
            kept
        };
        if !walk.member_bytes(&format!("{label}/{index}"), &bytes) {
            return false;
        }
    }
    true
}

/// Whether text is a block of base64 (its alphabet and line breaks only,
/// and long enough not to be a word).
fn looks_like_base64(text: &[u8]) -> bool {
    let significant = text.iter().filter(|b| !b.is_ascii_whitespace()).count();
    significant >= 64
        && text.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') || b.is_ascii_whitespace()
        })
}

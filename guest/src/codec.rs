//! The hold JSON codec, byte-compatible with Go's `encoding/json` for `Hold`:
//! fields in declaration order, none omitted, timestamps via [`crate::timestamp`],
//! `ttl` as integer nanoseconds, `<`, `>`, `&`, U+2028 and U+2029 escaped as Go does.
//! Decoding ignores unknown fields and reads missing or null fields as zero values.

use crate::model::{Claim, Hold};
use crate::timestamp;
use serde::{Deserialize, Serialize};
use std::io;

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireIn {
    agent_id: Option<String>,
    claimed_at: Option<String>,
    expires_at: Option<String>,
    checkout_path: Option<String>,
    ttl: Option<i64>,
}

/// The bytes stored for `hold`, written directly (serde_json with a formatter
/// was a fifth of an announce's time in the sandbox; the tests hold this to
/// that output byte for byte).
pub fn encode(hold: &Hold) -> Vec<u8> {
    let mut out = Vec::with_capacity(110 + hold.agent_id.len() + hold.checkout_path.len());
    out.extend_from_slice(b"{\"agent_id\":");
    string(&mut out, &hold.agent_id);
    out.extend_from_slice(b",\"claimed_at\":\"");
    timestamp::format_into(hold.claimed_at, &mut out);
    out.extend_from_slice(b"\",\"expires_at\":\"");
    timestamp::format_into(hold.expires_at, &mut out);
    out.extend_from_slice(b"\",\"checkout_path\":");
    string(&mut out, &hold.checkout_path);
    out.extend_from_slice(b",\"ttl\":");
    let ttl = i64::try_from(hold.ttl).unwrap_or(i64::MAX);
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = ttl as u64;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.push(b'}');
    out
}

/// `text` as a JSON string, escaped as serde_json does plus Go's HTML-safe
/// escapes (`<`, `>`, `&`, U+2028, U+2029).
pub(crate) fn string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (escape, len): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x08 => (b"\\b", 1),
            0x0c => (b"\\f", 1),
            b'<' => (b"\\u003c", 1),
            b'>' => (b"\\u003e", 1),
            b'&' => (b"\\u0026", 1),
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                i += 1;
                start = i;
                continue;
            }
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
            0xe2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xa8) => {
                (b"\\u2028", 3)
            }
            0xe2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xa9) => {
                (b"\\u2029", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        i += len;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Decode a stored value; the error says why it is not a hold.
pub fn decode(value: &[u8]) -> Result<Hold, String> {
    // serde would also read a struct from a JSON array; Go would not.
    if value.trim_ascii_start().first() == Some(&b'[') {
        return Err("not a hold: a JSON array".into());
    }
    // Go unmarshals `null` into a struct as a no-op: a zero hold.
    let wire: Option<WireIn> =
        serde_json::from_slice(value).map_err(|e| format!("not a hold: {e}"))?;
    let wire = wire.unwrap_or_default();
    let time = |field: &str, v: Option<String>| match v {
        None => Ok(i64::MIN),
        Some(text) => timestamp::parse(&text).map_err(|e| format!("{field}: {e}")),
    };
    Ok(Hold {
        agent_id: wire.agent_id.unwrap_or_default(),
        claimed_at: time("claimed_at", wire.claimed_at)?,
        expires_at: time("expires_at", wire.expires_at)?,
        checkout_path: wire.checkout_path.unwrap_or_default(),
        ttl: wire.ttl.unwrap_or(0).max(0) as u64,
        mode: crate::model::Mode::Exclusive,
    })
}

#[derive(Serialize)]
struct NoteOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    released_by: Option<&'a str>,
    agent_id: &'a str,
    checkout_path: &'a str,
    revision: u64,
}

#[derive(Deserialize)]
struct NoteIn {
    released_by: String,
}

/// The value of a release's marker: whose hold it removed (agent, checkout,
/// revision) and, for a force-release, who forced it, so the store's log of
/// releases says both. Go's readers ignore a marker's value.
pub fn encode_release_note(removed: &Claim, forced_by: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + removed.file.len());
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    NoteOut {
        released_by: forced_by.map(noted),
        agent_id: noted(&removed.hold.agent_id),
        checkout_path: noted(&removed.hold.checkout_path),
        revision: removed.revision,
    }
    .serialize(&mut ser)
    .expect("serializing strings and numbers cannot fail");
    out
}

/// The longest text a release note keeps of a field: a hold another client
/// wrote may carry megabytes, which a note (and the release log) need not copy.
pub const NOTE_FIELD_MAX: usize = 512;

/// `text`, cut at a character boundary to at most [`NOTE_FIELD_MAX`] bytes.
fn noted(text: &str) -> &str {
    if text.len() <= NOTE_FIELD_MAX {
        return text;
    }
    let mut end = NOTE_FIELD_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Who forced a release, from its marker's value (`None` for a plain release).
pub fn decode_release_note(value: &[u8]) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    serde_json::from_slice::<NoteIn>(value)
        .ok()
        .map(|n| n.released_by)
        .filter(|by| !by.trim().is_empty())
}

/// serde_json's compact output plus Go's HTML-safe escapes.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mode, Scope};
    use proptest::prelude::*;

    fn sample() -> Hold {
        let base = 1_795_666_866_i64 * 1_000_000_000 + 500_000_000;
        Hold {
            agent_id: "a1".into(),
            claimed_at: base,
            expires_at: base + 30_000_000_000,
            checkout_path: "/tmp/co".into(),
            ttl: 30_000_000_000,
            mode: Mode::Exclusive,
        }
    }

    #[test]
    fn encodes_the_go_wire_format_exactly() {
        assert_eq!(
            String::from_utf8(encode(&sample())).unwrap(),
            r#"{"agent_id":"a1","claimed_at":"2026-11-26T04:21:06.5Z","expires_at":"2026-11-26T04:21:36.5Z","checkout_path":"/tmp/co","ttl":30000000000}"#
        );
    }

    #[test]
    fn decodes_a_go_value() {
        let go = br#"{"agent_id":"a1","claimed_at":"2026-11-26T04:21:06.5Z","expires_at":"2026-11-26T04:21:36.5Z","checkout_path":"/tmp/co","ttl":30000000000}"#;
        assert_eq!(decode(go).unwrap(), sample());
    }

    #[test]
    fn escapes_html_characters_as_go_does() {
        let mut hold = sample();
        hold.agent_id = "<a&b>\u{2028}\"".into();
        let text = String::from_utf8(encode(&hold)).unwrap();
        assert!(
            text.starts_with(r#"{"agent_id":"\u003ca\u0026b\u003e\u2028\"""#),
            "{text}"
        );
        assert_eq!(decode(text.as_bytes()).unwrap(), hold);
    }

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_are_zero() {
        let hold = decode(br#"{"agent_id":"x","extra":[1,2],"ttl":5}"#).unwrap();
        assert_eq!(hold.agent_id, "x");
        assert_eq!(hold.ttl, 5);
        assert_eq!(hold.expires_at, i64::MIN, "a zero expires_at means expired");
        assert_eq!(
            decode(b"null").unwrap(),
            Hold {
                claimed_at: i64::MIN,
                expires_at: i64::MIN,
                ..Hold::default()
            }
        );
    }

    #[test]
    fn release_notes_round_trip_and_anything_else_is_no_note() {
        let removed = Claim {
            file: "/r/a.rs".into(),
            scope: Scope::File,
            hold: Hold {
                agent_id: "a".into(),
                checkout_path: "/wt".into(),
                ..Hold::default()
            },
            revision: 7,
        };
        let note = encode_release_note(&removed, Some("ops <on-call>"));
        assert_eq!(
            String::from_utf8(note.clone()).unwrap(),
            r#"{"released_by":"ops \u003con-call\u003e","agent_id":"a","checkout_path":"/wt","revision":7}"#
        );
        assert_eq!(decode_release_note(&note).as_deref(), Some("ops <on-call>"));
        let plain = encode_release_note(&removed, None);
        assert_eq!(
            String::from_utf8(plain.clone()).unwrap(),
            r#"{"agent_id":"a","checkout_path":"/wt","revision":7}"#
        );
        let huge = Claim {
            hold: Hold {
                agent_id: "é".repeat(1000),
                checkout_path: "/w".repeat(100_000),
                ..Hold::default()
            },
            ..removed.clone()
        };
        let note = encode_release_note(&huge, Some(&"x".repeat(10_000)));
        assert!(note.len() < 4 * NOTE_FIELD_MAX, "{} bytes", note.len());
        let short: serde_json::Value = serde_json::from_slice(&note).unwrap();
        assert_eq!(short["agent_id"], "é".repeat(256), "cut at a char boundary");
        for other in [
            &plain[..],
            &b""[..],
            b"{}",
            b"garbage",
            br#"{"released_by":" "}"#,
            br#"{"released_by":7}"#,
        ] {
            assert_eq!(decode_release_note(other), None);
        }
    }

    #[test]
    fn malformed_values_are_errors() {
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            b"\"a hold\"",
            br#"{"agent_id":7}"#,
            br#"{"ttl":"30s"}"#,
            br#"{"expires_at":"tomorrow"}"#,
            b"\xff\xfe",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// The encoder this one replaced: serde_json with Go's escapes.
    fn reference_encode(hold: &Hold) -> Vec<u8> {
        #[derive(Serialize)]
        struct WireOut<'a> {
            agent_id: &'a str,
            claimed_at: String,
            expires_at: String,
            checkout_path: &'a str,
            ttl: i64,
        }
        let wire = WireOut {
            agent_id: &hold.agent_id,
            claimed_at: timestamp::format(hold.claimed_at),
            expires_at: timestamp::format(hold.expires_at),
            checkout_path: &hold.checkout_path,
            ttl: i64::try_from(hold.ttl).unwrap_or(i64::MAX),
        };
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
        wire.serialize(&mut ser).unwrap();
        out
    }

    #[test]
    fn every_character_that_needs_escaping_is_escaped_as_before() {
        let mut hold = sample();
        hold.agent_id = (0u8..0x20).map(char::from).collect::<String>()
            + "\"\\<>&\u{2028}\u{2029}\u{2027}\u{202a}\u{7f}é🦀";
        hold.checkout_path = hold.agent_id.chars().rev().collect();
        hold.ttl = u64::MAX;
        assert_eq!(
            String::from_utf8(encode(&hold)).unwrap(),
            String::from_utf8(reference_encode(&hold)).unwrap()
        );
    }

    proptest! {
        #[test]
        fn encodes_as_serde_json_with_go_escapes(
            agent in "\\PC{0,20}|[\\x00-\\x7f]{0,20}",
            co in "\\PC{0,20}|[<>&\\u{2028}\\u{2029}\"\\\\]{0,8}",
            claimed in any::<i64>(),
            expires in any::<i64>(),
            ttl in any::<u64>(),
        ) {
            let hold = Hold { agent_id: agent, claimed_at: claimed, expires_at: expires, checkout_path: co, ttl, mode: Mode::Exclusive };
            prop_assert_eq!(encode(&hold), reference_encode(&hold));
        }

        #[test]
        fn encode_then_decode_round_trips(
            agent in "\\PC{0,20}",
            co in "\\PC{0,20}",
            claimed in any::<i64>(),
            expires in any::<i64>(),
            ttl in 0..=i64::MAX as u64,
        ) {
            let hold = Hold { agent_id: agent, claimed_at: claimed, expires_at: expires, checkout_path: co, ttl, mode: Mode::Exclusive };
            prop_assert_eq!(decode(&encode(&hold)).unwrap(), hold);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}

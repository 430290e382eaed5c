//! The file <-> store key codec.
//!
//! Go's rule: percent-escape the cleaned path as a URL path segment (everything but
//! `A-Z a-z 0-9 - _ . ~ $ & + : = @` becomes `%XX`, `/` included), then turn every
//! `%` into `=`. JetStream keys allow only `[-/_=.a-zA-Z0-9]` and no empty `.`
//! tokens, so Go's keys for paths with `~ $ & + : @`, a literal `=`, or a `.` that
//! ends the key or precedes another `.` are invalid or ambiguous. We escape those
//! too (`=7E`, `=3D`, `=2E`, ...): identical keys wherever Go's are valid, and Go's
//! decoder still reads ours.

use crate::model::Error;
use crate::path::clean_absolute;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The longest key: a NATS protocol line (`PUB $KV.<bucket>.<key> <reply> <len>`)
/// must stay under the server's 4 KiB control-line limit.
pub const MAX_KEY: usize = 3072;

/// The key of `file`, which must be absolute; it is cleaned first.
pub fn key_for_file(file: &str) -> Result<String, Error> {
    let cleaned = clean_absolute(file)?;
    let key = escape(&cleaned);
    if key.len() > MAX_KEY {
        return Err(Error::invalid(
            "file",
            format!(
                "the path is too long: its key is {} bytes, over the {MAX_KEY}-byte limit",
                key.len()
            ),
        ));
    }
    Ok(key)
}

/// Escape an already cleaned path.
/// What the key of every path starting with `prefix` starts with (a dot's
/// escape depends on what follows it, so trailing dots are left out).
pub fn key_prefix_for(prefix: &str) -> String {
    escape(prefix.trim_end_matches('.'))
}

pub fn escape(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut key = String::with_capacity(bytes.len() + bytes.len() / 2);
    for (i, &b) in bytes.iter().enumerate() {
        let literal = match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => true,
            // A dot may not end the key nor start an empty token.
            b'.' => matches!(bytes.get(i + 1), Some(&next) if next != b'.'),
            _ => false,
        };
        if literal {
            key.push(b as char);
        } else {
            key.push('=');
            key.push(HEX[(b >> 4) as usize] as char);
            key.push(HEX[(b & 0xF) as usize] as char);
        }
    }
    key
}

/// The file a key names: exactly the keys [`key_for_file`] writes, which are Go's
/// wherever Go's are valid and unambiguous.
///
/// A key that does not re-encode to itself is refused rather than read as another
/// file's: Go leaves `=` unescaped, so its key for `/x=41` (`=2Fx=41`) would decode
/// to `/xA`; lowercase hex, literal bytes, relative or unclean paths would alias
/// the keys of other files too.
pub fn file_for_key(key: &str) -> Result<String, Error> {
    let file = decode(key)?;
    match key_for_file(&file) {
        Ok(canonical) if canonical == key => Ok(file),
        _ => Err(Error::invalid(
            "key",
            format!(
                "{:?} is not a key holds writes: it does not round-trip (holds keys {file:?} as {:?})",
                key,
                key_for_file(&file).unwrap_or_default()
            ),
        )),
    }
}

/// Reverse the escaping (`=XX` -> byte), without checking the result.
pub(crate) fn decode(key: &str) -> Result<String, Error> {
    if key.is_empty() {
        return Err(Error::invalid("key", "the key is empty"));
    }
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => out.push(byte),
                None => {
                    return Err(Error::invalid(
                        "key",
                        format!("{key:?} has a malformed escape at byte {i}"),
                    ));
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| Error::invalid("key", format!("{key:?} does not decode to UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_wire_vectors() {
        assert_eq!(key_for_file("/work/a.txt").unwrap(), "=2Fwork=2Fa.txt");
        assert_eq!(
            key_for_file("/work/with space/foo.txt").unwrap(),
            "=2Fwork=2Fwith=20space=2Ffoo.txt"
        );
        assert_eq!(key_for_file("/w/é.txt").unwrap(), "=2Fw=2F=C3=A9.txt");
    }

    #[test]
    fn characters_go_cannot_key_are_escaped() {
        assert_eq!(key_for_file("/a~b").unwrap(), "=2Fa=7Eb");
        assert_eq!(key_for_file("/$&+:@").unwrap(), "=2F=24=26=2B=3A=40");
        assert_eq!(key_for_file("/a=b").unwrap(), "=2Fa=3Db");
        assert_eq!(key_for_file("/a.").unwrap(), "=2Fa=2E");
        assert_eq!(key_for_file("/a..b").unwrap(), "=2Fa=2E.b");
        assert_eq!(key_for_file("/..a").unwrap(), "=2F=2E.a");
    }

    #[test]
    fn paths_too_long_for_a_key_are_invalid_input() {
        let long = format!("/{}", "é".repeat(600));
        assert!(
            matches!(key_for_file(&long), Err(Error::InvalidInput(i)) if i.reason.contains("too long"))
        );
        assert!(key_for_file(&format!("/{}", "a".repeat(3000))).is_ok());
    }

    #[test]
    fn keys_are_cleaned_paths() {
        assert_eq!(
            key_for_file("/work//x/../a.txt").unwrap(),
            key_for_file("/work/a.txt").unwrap()
        );
    }

    #[test]
    fn keys_that_do_not_round_trip_are_invalid_input() {
        // Go's key for /x=41, lowercase hex, literal bytes, unclean and relative paths.
        for key in [
            "=2Fx=41",
            "=2fwork",
            "work",
            "=2Fa=2F..=2Fb",
            "=2Fa=2F",
            "=2E=2Fa",
            "=2F=2F",
        ] {
            match file_for_key(key) {
                Err(Error::InvalidInput(i)) => {
                    assert_eq!(i.field, "key");
                    assert!(i.reason.contains("round-trip"), "{key}: {}", i.reason);
                }
                other => panic!("{key}: {other:?}"),
            }
        }
        assert_eq!(file_for_key("=2F").unwrap(), "/");
        assert_eq!(file_for_key("=2Fx=3D41").unwrap(), "/x=41");
    }

    #[test]
    fn malformed_keys_are_invalid_input() {
        for key in ["", "=2", "=ZZ", "=FF"] {
            assert!(
                matches!(file_for_key(key), Err(Error::InvalidInput(_))),
                "{key}"
            );
        }
    }

    /// JetStream's key rule plus its token rule (no empty `.` tokens).
    fn valid_jetstream_key(key: &str) -> bool {
        !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
            && !key.starts_with('.')
            && !key.ends_with('.')
            && !key.contains("..")
    }

    proptest! {
        #[test]
        fn a_paths_key_starts_with_the_key_prefix_of_any_prefix_of_it(
            path in "/[a-z./]{0,12}[a-z]",
            cut in 0usize..14,
        ) {
            let prefix = &path[..cut.min(path.len())];
            let key = escape(&path);
            prop_assert!(key.starts_with(&key_prefix_for(prefix)), "{path} {prefix}");
        }

        #[test]
        fn every_absolute_path_gets_a_valid_key_that_round_trips(s in "/\\PC{0,40}") {
            if let Ok(key) = key_for_file(&s) {
                prop_assert!(valid_jetstream_key(&key), "{key}");
                let cleaned = clean_absolute(&s).unwrap();
                prop_assert_eq!(file_for_key(&key).unwrap(), cleaned);
            }
        }

        #[test]
        fn keys_match_go_wherever_go_is_valid(s in "/[a-zA-Z0-9_. /é-]{0,30}") {
            let cleaned = clean_absolute(&s).unwrap();
            let go = go_key(&cleaned);
            if valid_jetstream_key(&go) {
                prop_assert_eq!(escape(&cleaned), go);
            }
        }

        #[test]
        fn file_for_key_never_panics(s in "\\PC{0,40}") {
            let _ = file_for_key(&s);
        }

        #[test]
        fn every_key_read_back_is_the_key_of_the_file_it_names(s in "[=/a-zA-Z0-9._-]{0,24}") {
            if let Ok(file) = file_for_key(&s) {
                prop_assert_eq!(key_for_file(&file).unwrap(), s);
            }
        }
    }

    /// Go's rule, written out from its documentation, as the oracle.
    fn go_key(path: &str) -> String {
        let mut out = String::new();
        for &b in path.as_bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~$&+:=@".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("={b:02X}"));
            }
        }
        out
    }
}

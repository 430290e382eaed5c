//! Property tests ("fuzzing") of the key codec and the hold decoder through the crate's public API, adding
//! to the unit properties in `src/key.rs`, `src/codec.rs` and `src/timestamp.rs` what they leave out:
//! arbitrary strings (control characters, NUL, relative paths, every ASCII punctuation mark), arbitrary
//! JSON shaped like a hold (wrong types, unknown fields, any field order), truncated and spliced encodings,
//! and keys made of JetStream's key alphabet. Every property also asserts the code does not panic.
//!
//! Bounded for CI: proptest's default of 256 cases per property (override with `PROPTEST_CASES`); the
//! whole file runs in a few seconds.

use holds_guest::codec::{decode, encode};
use holds_guest::key::{escape, file_for_key, key_for_file};
use holds_guest::path::clean_absolute;
use holds_guest::{Error, Hold, timestamp};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// JetStream's key rule plus its token rule (no empty `.` tokens), as the host checks it at the boundary.
fn valid_jetstream_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
        && !key.starts_with('.')
        && !key.ends_with('.')
        && !key.contains("..")
}

/// Path-like strings: segments of letters, every printable ASCII punctuation mark, spaces, tabs, newlines,
/// other control characters, non-ASCII letters and emoji, `.` and `..`, joined by one or more `/`.
fn path_like() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        3 => "[a-zA-Z0-9]{1,6}",
        3 => "[ -/:-@\\[-`{-~]{1,6}",
        1 => Just(".".to_string()),
        1 => Just("..".to_string()),
        1 => Just("...".to_string()),
        1 => "[\t\n\r\u{1}\u{7f}]{1,3}",
        1 => "[é漢字\u{1F600}\u{2028}\u{feff}]{1,3}",
        1 => Just(String::new()),
    ];
    (
        proptest::collection::vec((segment, 1..3usize), 0..8),
        any::<bool>(),
    )
        .prop_map(|(parts, trailing)| {
            let mut path = String::new();
            for (segment, slashes) in parts {
                path.push_str(&"/".repeat(slashes));
                path.push_str(&segment);
            }
            if trailing || path.is_empty() {
                path.push('/');
            }
            path
        })
}

/// Any hold the encoder can be given (the decoder clamps a stored negative ttl to 0, so ttl <= i64::MAX).
fn any_hold() -> impl Strategy<Value = Hold> {
    (
        any::<String>(),
        any::<i64>(),
        any::<i64>(),
        any::<String>(),
        0..=i64::MAX as u64,
    )
        .prop_map(
            |(agent_id, claimed_at, expires_at, checkout_path, ttl)| Hold {
                agent_id,
                claimed_at,
                expires_at,
                checkout_path,
                ttl,
                mode: holds_guest::Mode::Exclusive,
            },
        )
}

/// JSON values of any shape (numbers, strings, nulls, arrays, nested objects).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("2026-11-26T04:21:06.5Z")),
        Just(Value::from("0001-01-01T00:00:00Z")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 5] = [
    "agent_id",
    "claimed_at",
    "expires_at",
    "checkout_path",
    "ttl",
];

/// Objects shaped like a stored hold, as JSON text: some of its fields, each with a value of the right
/// type or of any type, plus unknown fields, in any order (written by hand: serde_json's map would sort).
fn hold_like_json() -> impl Strategy<Value = Vec<(String, Value)>> {
    let good = any_hold().prop_map(|h| {
        serde_json::from_slice::<Map<String, Value>>(&encode(&h)).expect("encode writes an object")
    });
    (
        good,
        proptest::collection::vec((0..5usize, any_json()), 0..4),
        proptest::collection::vec(0..5usize, 0..3),
        proptest::collection::btree_map("[a-z_]{1,10}", any_json(), 0..3),
        any::<u64>(),
    )
        .prop_map(|(mut object, retyped, removed, unknown, seed)| {
            for (field, value) in retyped {
                object.insert(FIELDS[field].to_string(), value);
            }
            for field in removed {
                object.remove(FIELDS[field]);
            }
            for (name, value) in unknown {
                if !FIELDS.contains(&name.as_str()) {
                    object.insert(name, value);
                }
            }
            let mut entries: Vec<(String, Value)> = object.into_iter().collect();
            // A deterministic shuffle from the case's seed.
            let n = entries.len();
            for i in (1..n).rev() {
                let j = (seed.rotate_left(i as u32) % (i as u64 + 1)) as usize;
                entries.swap(i, j);
            }
            entries
        })
}

/// `{"k":v,...}` in the given order.
fn object_text(entries: &[(String, Value)]) -> String {
    let fields: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
        .collect();
    format!("{{{}}}", fields.join(","))
}

proptest! {
    /// Any string: a key or a clear InvalidInput on `file`, never a panic. Empty and relative paths and
    /// paths with a NUL byte are refused; every other absolute path gets a valid JetStream key that decodes
    /// to the cleaned path.
    #[test]
    fn key_for_file_takes_any_string(
        s in prop_oneof![any::<String>(), any::<String>().prop_map(|s| format!("/{s}"))],
    ) {
        match key_for_file(&s) {
            Ok(key) => {
                prop_assert!(s.starts_with('/') && !s.contains('\0'), "{s:?} -> {key}");
                prop_assert!(valid_jetstream_key(&key), "{s:?} -> {key}");
                prop_assert_eq!(file_for_key(&key).unwrap(), clean_absolute(&s).unwrap());
            }
            Err(Error::InvalidInput(i)) => {
                prop_assert_eq!(i.field.as_str(), "file");
                // A path whose key would be too long for a store subject may be refused too.
                let refusable = s.is_empty()
                    || !s.starts_with('/')
                    || s.contains('\0')
                    || escape(&clean_absolute(&s).unwrap()).len() > 1024;
                prop_assert!(refusable, "{s:?}: {i:?}");
            }
            Err(other) => prop_assert!(false, "{s:?}: {other:?}"),
        }
    }

    /// Paths with special characters, `.`/`..` segments, repeated and trailing slashes: the key round-trips
    /// to the cleaned path, which is a fixed point of cleaning, and every spelling of a path shares its key.
    #[test]
    fn special_paths_round_trip_through_their_key(p in path_like()) {
        let cleaned = clean_absolute(&p).unwrap();
        prop_assert!(cleaned.starts_with('/'));
        prop_assert!(cleaned == "/" || !cleaned.ends_with('/'), "{cleaned:?}");
        prop_assert!(!cleaned.contains("//"), "{cleaned:?}");
        prop_assert!(!cleaned.split('/').any(|seg| seg == "." || seg == ".."), "{cleaned:?}");
        prop_assert_eq!(&clean_absolute(&cleaned).unwrap(), &cleaned);
        let key = key_for_file(&p).unwrap();
        prop_assert!(valid_jetstream_key(&key), "{p:?} -> {key}");
        prop_assert_eq!(&key, &key_for_file(&cleaned).unwrap());
        prop_assert_eq!(&key, &escape(&cleaned));
        prop_assert_eq!(file_for_key(&key).unwrap(), cleaned);
        let respelled = format!("{}/", p.replace('/', "//./"));
        prop_assert_eq!(&key_for_file(&respelled).unwrap(), &key, "{:?}", respelled);
    }

    /// Different cleaned paths never share a key (no two files collide on one hold).
    #[test]
    fn distinct_paths_get_distinct_keys(a in path_like(), b in path_like()) {
        let (ca, cb) = (clean_absolute(&a).unwrap(), clean_absolute(&b).unwrap());
        prop_assert_eq!(ca == cb, key_for_file(&a).unwrap() == key_for_file(&b).unwrap());
    }

    /// Keys written by anyone (JetStream's key alphabet, escapes well-formed or not): a file or a clear
    /// InvalidInput on `key`, never a panic; a file read from a key is a cleaned absolute path whose key
    /// is that very key, so no key is ever read as another file's.
    #[test]
    fn file_for_key_takes_any_key(key in "[-/_=.a-zA-Z0-9]{0,40}|(=[0-9A-Fa-f]{2}|[a-z.]){0,20}") {
        match file_for_key(&key) {
            Ok(file) => {
                prop_assert_eq!(clean_absolute(&file).ok(), Some(file.clone()));
                prop_assert_eq!(key_for_file(&file).unwrap(), key);
            }
            Err(Error::InvalidInput(i)) => prop_assert_eq!(i.field.as_str(), "key"),
            Err(other) => prop_assert!(false, "{key:?}: {other:?}"),
        }
    }

    /// Any string as a key never panics.
    #[test]
    fn file_for_key_never_panics(key in any::<String>()) {
        let _ = file_for_key(&key);
    }

    /// Every hold, whatever its strings (control characters, NUL, U+2028, any Unicode) and instants, round-trips through its stored bytes, which are one JSON object with the Go
    /// field order and no raw `<`, `>` or `&`.
    #[test]
    fn every_hold_round_trips(hold in any_hold()) {
        let bytes = encode(&hold);
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        prop_assert!(!text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']), "{text}");
        let object: Map<String, Value> = serde_json::from_str(text).expect("a JSON object");
        prop_assert_eq!(object.len(), FIELDS.len());
        // In Go's field order (`"name":` cannot occur inside a string: its quote would be escaped).
        let at: Vec<Option<usize>> = FIELDS.iter().map(|f| text.find(&format!("\"{f}\":"))).collect();
        prop_assert!(at.windows(2).all(|w| w[0].is_some() && w[0] < w[1]), "{text}");
        prop_assert_eq!(decode(&bytes).unwrap(), hold);
    }

    /// JSON shaped like a hold, with retyped, missing and unknown fields in any order: a hold or a reason,
    /// never a panic. Whatever decodes re-encodes to the same hold; unknown fields change nothing.
    #[test]
    fn hold_like_json_decodes_or_says_why(entries in hold_like_json()) {
        let text = object_text(&entries);
        match decode(text.as_bytes()) {
            Ok(hold) => {
                prop_assert_eq!(decode(&encode(&hold)).unwrap(), hold.clone());
                let known: Vec<(String, Value)> =
                    entries.into_iter().filter(|(k, _)| FIELDS.contains(&k.as_str())).collect();
                prop_assert_eq!(decode(object_text(&known).as_bytes()).unwrap(), hold, "{}", text);
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

    /// Any JSON value at all: never a panic; arrays and scalars other than null are never holds.
    #[test]
    fn any_json_never_panics(value in any_json()) {
        let result = decode(&serde_json::to_vec(&value).unwrap());
        match &value {
            Value::Object(_) | Value::Null => {}
            _ => prop_assert!(result.is_err(), "{value} decoded as {result:?}"),
        }
    }

    /// A stored value cut short (a torn write) or with garbage spliced in: never a panic, and a cut value
    /// never decodes.
    #[test]
    fn damaged_encodings_never_panic(
        hold in any_hold(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        junk in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let bytes = encode(&hold);
        let cut_at = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..cut_at]).is_err(), "{:?}", String::from_utf8_lossy(&bytes[..cut_at]));
        let mut spliced = bytes.clone();
        let i = at.index(spliced.len() + 1);
        spliced.splice(i..i, junk);
        let _ = decode(&spliced);
    }

    /// Timestamps as another client may write them (any string, any offset, any precision): never a panic;
    /// whatever parses formats in the canonical UTC form, which parses to the same instant.
    #[test]
    fn timestamps_of_any_text_never_panic(
        text in ".{0,40}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})",
    ) {
        if let Ok(ns) = timestamp::parse(&text) {
            let canonical = timestamp::format(ns);
            prop_assert_eq!(timestamp::parse(&canonical).unwrap(), ns, "{} -> {}", text, canonical);
            let value = json!({ "agent_id": "a", "expires_at": text, "claimed_at": canonical, "ttl": 1 });
            let hold = decode(&serde_json::to_vec(&value).unwrap()).unwrap();
            prop_assert_eq!(hold.expires_at, ns);
        }
    }
}

/// The decoder's documented zero values, as Go reads them: `null` and `{}` are a zero hold whose instants
/// are Go's zero time (long expired); a negative ttl reads as 0.
#[test]
fn null_and_missing_fields_are_zero_values() {
    let zero = Hold {
        claimed_at: i64::MIN,
        expires_at: i64::MIN,
        ..Hold::default()
    };
    for text in ["null", "{}", " null ", r#"{"unknown":{"deep":[1,2,3]}}"#] {
        assert_eq!(decode(text.as_bytes()).unwrap(), zero, "{text}");
    }
    let all_null =
        r#"{"agent_id":null,"claimed_at":null,"expires_at":null,"checkout_path":null,"ttl":null}"#;
    assert_eq!(decode(all_null.as_bytes()).unwrap(), zero);
    assert_eq!(decode(br#"{"ttl":-5}"#).unwrap().ttl, 0);
}

//! The trace's records.

use crate::runtime::bindings::exports::holds::core::holds::AnnounceRequest;
use crate::runtime::bindings::holds::core::kv;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `format` of a trace's header.
pub const FORMAT: &str = "holds-trace";
/// The version of this format.
pub const VERSION: u32 = 1;
/// The WIT package the recorded guest implemented.
pub const WIT_PACKAGE: &str = "holds:core@0.1.0";

/// The first line of a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    /// The WIT package of the guest, [`WIT_PACKAGE`].
    pub wit: String,
    /// `sha256:<hex>` of the component that was recorded.
    pub component: String,
    /// The host that recorded it (`holds <version>`).
    pub recorded_by: String,
}

impl Header {
    pub fn new(component_digest: &str) -> Self {
        Header {
            format: FORMAT.to_string(),
            version: VERSION,
            wit: WIT_PACKAGE.to_string(),
            component: format!("sha256:{component_digest}"),
            recorded_by: format!("holds {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Bytes, as text when they are UTF-8 (stored holds are JSON), else as hex.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TraceBytes(pub Vec<u8>);

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum BytesRepr {
    Text(String),
    Hex { hex: String },
}

impl Serialize for TraceBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => BytesRepr::Text(text.to_string()).serialize(s),
            Err(_) => BytesRepr::Hex {
                hex: self.0.iter().map(|b| format!("{b:02x}")).collect(),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for TraceBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match BytesRepr::deserialize(d)? {
            BytesRepr::Text(text) => Ok(TraceBytes(text.into_bytes())),
            BytesRepr::Hex { hex } => decode_hex(&hex)
                .map(TraceBytes)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Pairs of hex digits as bytes (by bytes, so any character is an error, not a panic).
fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    let digit = |b: u8| {
        (b as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("{hex:?} is not hex: it holds {:?}", b as char))
    };
    let bytes = hex.as_bytes();
    if !hex.is_ascii() {
        return Err(format!(
            "{hex:?} is not hex: it holds a non-ASCII character"
        ));
    }
    if !bytes.len().is_multiple_of(2) {
        return Err(format!("{hex:?} is not hex: odd length"));
    }
    bytes
        .chunks(2)
        .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// A `kv.entry`, with its value readable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    pub found: bool,
    pub value: TraceBytes,
    pub revision: u64,
    pub operation: kv::Operation,
}

impl From<kv::Entry> for TraceEntry {
    fn from(e: kv::Entry) -> Self {
        TraceEntry {
            found: e.found,
            value: TraceBytes(e.value),
            revision: e.revision,
            operation: e.operation,
        }
    }
}

impl From<TraceEntry> for kv::Entry {
    fn from(e: TraceEntry) -> Self {
        kv::Entry {
            found: e.found,
            value: e.value.0,
            revision: e.revision,
            operation: e.operation,
        }
    }
}

impl TraceEntry {
    /// The entry of a key that has none.
    pub fn missing() -> Self {
        TraceEntry {
            found: false,
            value: TraceBytes::default(),
            revision: 0,
            operation: kv::Operation::Put,
        }
    }
}

/// A `subscribe.change`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceChange {
    pub key: String,
    pub entry: TraceEntry,
    /// Absent in traces recorded before changes carried it: none known.
    #[serde(default = "TraceEntry::missing")]
    pub previous: TraceEntry,
    pub snapshot: bool,
}

/// An export call and its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "export", content = "args", rename_all = "kebab-case")]
pub enum ExportCall {
    Announce {
        request: AnnounceRequest,
        ttl_max: u64,
        observed: Option<TraceEntry>,
    },
    Release {
        file: String,
        agent_id: String,
        observed: Option<TraceEntry>,
    },
    WhoHas {
        file: String,
        observed: Option<TraceEntry>,
    },
    KeyForFile {
        file: String,
    },
    FileForKey {
        key: String,
    },
    Interpret {
        change: TraceChange,
    },
    Sweep {
        key: String,
        observed: TraceEntry,
    },
}

/// An import call the guest made, and its arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "import")]
pub enum ImportCall {
    #[serde(rename = "kv.get")]
    KvGet { key: String },
    #[serde(rename = "kv.write-if-revision")]
    KvWrite {
        key: String,
        value: TraceBytes,
        expected: u64,
        ttl_seconds: u32,
    },
    #[serde(rename = "kv.delete-if-revision")]
    KvDelete {
        key: String,
        expected: u64,
        why: kv::Removal,
    },
    #[serde(rename = "clock.now")]
    ClockNow,
    #[serde(rename = "observer.cas-retry")]
    CasRetry { key: String, attempt: u32 },
}

/// One import call and what the host answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub call: ImportCall,
    pub result: serde_json::Value,
}

/// One export call: arguments, the import calls it made, its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Calls are numbered in the order they started.
    pub call: u64,
    /// Records are numbered in the order they were written (finished); replay
    /// checks it to catch reordered lines.
    pub written: u64,
    #[serde(flatten)]
    pub export: ExportCall,
    pub steps: Vec<Step>,
    pub result: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(json: &str) -> Result<TraceBytes, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn hex_values_decode_and_bad_ones_are_errors_not_panics() {
        assert_eq!(bytes(r#"{"hex":"00ff7f"}"#).unwrap().0, vec![0, 255, 127]);
        for bad in [
            r#"{"hex":"é0"}"#,
            r#"{"hex":"0é"}"#,
            r#"{"hex":"0"}"#,
            r#"{"hex":"zz"}"#,
            r#"{"hex":"+1"}"#,
        ] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
    }
}

//! The trace's records.

use crate::runtime::bindings::exports::holds::core::holds::AnnounceRequest;
use crate::runtime::bindings::holds::core::{kv, types};
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
            BytesRepr::Hex { hex } => {
                if hex.len() % 2 != 0 {
                    return Err(serde::de::Error::custom("odd-length hex"));
                }
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map(TraceBytes)
                    .map_err(serde::de::Error::custom)
            }
        }
    }
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

/// A `subscribe.change`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceChange {
    pub key: String,
    pub entry: TraceEntry,
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
    },
    EncodeHold {
        hold: types::Hold,
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

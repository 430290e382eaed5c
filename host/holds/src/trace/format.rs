//! The trace's records: their own serde types (no bindings in the public API),
//! typed end to end, in the JSON shape of format version 1.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `format` of a trace's header.
pub const FORMAT: &str = "holds-trace";
/// The version of this format.
pub const VERSION: u32 = 1;
/// The WIT package the recorded guest implemented.
pub const WIT_PACKAGE: &str = "holds:core@0.3.0";

/// The first line of a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format's version, [`VERSION`].
    pub version: u32,
    /// The WIT package of the guest, [`WIT_PACKAGE`].
    pub wit: String,
    /// `sha256:<hex>` of the component that was recorded.
    pub component: String,
    /// The host that recorded it (`holds <version>`).
    pub recorded_by: String,
}

impl Header {
    /// The header of a trace of the component with this digest.
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

#[derive(Serialize)]
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

/// A string, or a `{"hex": ...}` map, read straight from the input (an
/// untagged enum would buffer every value first).
impl<'de> Deserialize<'de> for TraceBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TraceBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, or a map with a \"hex\" string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<TraceBytes, E> {
                Ok(TraceBytes(text.as_bytes().to_vec()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<TraceBytes, E> {
                Ok(TraceBytes(text.into_bytes()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TraceBytes, A::Error> {
                let mut hex: Option<String> = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "hex" {
                        hex = Some(map.next_value()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                let hex = hex.ok_or_else(|| serde::de::Error::missing_field("hex"))?;
                decode_hex(&hex)
                    .map(TraceBytes)
                    .map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_any(Visitor)
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
        .map(|pair| Ok((digit(pair[0])? << 4) | digit(pair[1])?))
        .collect()
}

/// The operation behind a key's latest entry (`kv.operation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TraceOperation {
    Put,
    Delete,
    Purge,
    Expire,
}

/// A key's latest entry (`kv.entry`), with its value readable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceEntry {
    pub found: bool,
    pub value: TraceBytes,
    pub revision: u64,
    pub operation: TraceOperation,
}

impl TraceEntry {
    /// The entry of a key that has none.
    pub fn missing() -> Self {
        TraceEntry {
            found: false,
            value: TraceBytes::default(),
            revision: 0,
            operation: TraceOperation::Put,
        }
    }
}

/// Why a marker is left (`kv.removal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TraceRemoval {
    Released,
    Expired,
}

/// A kv import's error (`kv.kv-error`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TraceKvError {
    WrongRevision,
    Unavailable(String),
    Unsupported,
    NotStored { why: TraceUnsent, detail: String },
}

/// Why a store took nothing of a write (`kv.unsent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TraceUnsent {
    Busy,
    LeaderChanging,
    NoStream,
}

/// One conditional write of a batch (`kv.write`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceWrite {
    pub key: String,
    pub value: TraceBytes,
    pub expected: u64,
    pub ttl_seconds: u32,
}

/// A hold (`types.hold`); instants and the TTL in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceHold {
    pub agent_id: String,
    pub claimed_at: i64,
    pub expires_at: i64,
    pub checkout_path: String,
    pub ttl: u64,
    #[serde(default, skip_serializing_if = "TraceMode::is_exclusive")]
    pub mode: TraceMode,
}

/// How a hold shares what it covers (`types.mode`); absent: exclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum TraceMode {
    #[default]
    Exclusive,
    Shared,
}

impl TraceMode {
    /// Exclusive, the only mode of traces before modes.
    pub fn is_exclusive(&self) -> bool {
        *self == TraceMode::Exclusive
    }
}

/// What a hold covers (`types.scope`); absent: one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum TraceScope {
    #[default]
    File,
    Directory,
    Glob,
}

impl TraceScope {
    /// One file, the only scope of traces before patterns.
    pub fn is_file(&self) -> bool {
        *self == TraceScope::File
    }
}

/// A hold and where it lives (`types.claim`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceClaim {
    pub file: String,
    #[serde(default, skip_serializing_if = "TraceScope::is_file")]
    pub scope: TraceScope,
    pub hold: TraceHold,
    pub revision: u64,
}

/// A broken precondition (`types.invalid-input`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceInvalidInput {
    pub field: String,
    pub reason: String,
}

/// A stored value that is not a hold (`types.corrupt-entry`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceCorruptEntry {
    pub key: String,
    pub revision: u64,
    pub reason: String,
}

/// An export's error (`types.error`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TraceError {
    HeldByAnother(TraceClaim),
    HeldByOthers(Vec<TraceClaim>),
    Lost(Box<TraceLostHold>),
    InvalidInput(TraceInvalidInput),
    CasExhausted(u32),
    CorruptEntry(TraceCorruptEntry),
    Store(String),
}

/// A hold a lease no longer has (`types.lost-hold`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceLostHold {
    pub file: String,
    pub revision: u64,
    pub holder: Option<TraceClaim>,
}

/// A multi-file claim's request (`holds.claim-request`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceClaimRequest {
    pub files: Vec<String>,
    pub agent_id: String,
    pub ttl: u64,
    pub checkout_path: String,
    #[serde(default, skip_serializing_if = "TraceMode::is_exclusive")]
    pub mode: TraceMode,
}

/// What a claim took (`holds.claimed`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceClaimed {
    pub claims: Vec<TraceClaim>,
    pub atomic: bool,
}

/// A file's state (`holds.file-state`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TraceFileState {
    Held(TraceClaim),
    TokenMoved(TraceClaim),
    HeldByAnother(TraceClaim),
    Shared(TraceClaim),
    Vacant,
}

/// One file of a check (`holds.file-check`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceFileCheck {
    pub file: String,
    pub state: TraceFileState,
}

/// What a release did (`holds.release-outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TraceReleaseOutcome {
    Released(u64),
    NotHeld,
}

/// What happened to a hold (`types.change-kind`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TraceChangeKind {
    Announced(TraceHold),
    Released(Option<String>),
    Expired,
}

/// An event (`types.event`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceEvent {
    pub file: String,
    #[serde(default, skip_serializing_if = "TraceScope::is_file")]
    pub scope: TraceScope,
    pub revision: u64,
    pub kind: TraceChangeKind,
}

/// What a change means (`subscribe.interpretation`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceInterpretation {
    pub event: Option<TraceEvent>,
    pub expiry_check_at: Option<i64>,
    pub dropped: Option<String>,
}

/// What a sweep did (`subscribe.sweep-outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TraceSweepOutcome {
    Expired(u64),
    NotDue(i64),
    Nothing,
}

/// A store change (`subscribe.change`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceChange {
    pub key: String,
    pub entry: TraceEntry,
    /// Absent in traces recorded before changes carried it: none known.
    #[serde(default = "TraceEntry::missing")]
    pub previous: TraceEntry,
    pub snapshot: bool,
}

/// Announce's request (`holds.announce-request`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceAnnounceRequest {
    pub file: String,
    pub agent_id: String,
    pub ttl: u64,
    pub checkout_path: String,
    #[serde(default, skip_serializing_if = "TraceMode::is_exclusive")]
    pub mode: TraceMode,
}

/// A recorded export's result: what it returned, or how it trapped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Outcome<T> {
    /// The guest trapped (ran out of fuel, panicked, left its recorded path...).
    Trapped {
        /// The trap, as the host described it.
        trap: String,
    },
    /// The export returned.
    Returned(T),
}

impl<T> Outcome<T> {
    /// The call trapped.
    pub fn is_trapped(&self) -> bool {
        matches!(self, Outcome::Trapped { .. })
    }
}

macro_rules! define_export {
    ($($variant:ident $name:literal $args:ty => $result:ty;)*) => {
        /// One export call: its arguments and its outcome.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
        #[serde(tag = "export")]
        #[allow(missing_docs)]
        pub enum Export {
            $(
                #[serde(rename = $name)]
                $variant { args: $args, result: Outcome<$result> },
            )*
        }

        impl Export {
            /// The export's WIT name (`announce`, `who-has`, ...).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Export::$variant { .. } => $name,)*
                }
            }

            /// The recorded call trapped.
            pub fn trapped(&self) -> bool {
                match self {
                    $(Export::$variant { result, .. } => result.is_trapped(),)*
                }
            }

            /// The outcome as JSON, for divergence reports.
            pub fn outcome_json(&self) -> String {
                let value = match self {
                    $(Export::$variant { result, .. } => serde_json::to_string(result),)*
                };
                value.expect("trace values serialize")
            }
        }
    };
}

crate::exports::for_each_export!(define_export);

/// `announce`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct AnnounceArgs {
    pub request: TraceAnnounceRequest,
    pub ttl_max: u64,
    pub observed: Option<TraceEntry>,
}

/// `release`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ReleaseArgs {
    pub file: String,
    pub agent_id: String,
    pub observed: Option<TraceEntry>,
}

/// `who-has`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct WhoHasArgs {
    pub file: String,
    pub observed: Option<TraceEntry>,
}

/// `key-for-file`'s argument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct FileArgs {
    pub file: String,
}

/// `file-for-key`'s argument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct KeyArgs {
    pub key: String,
}

/// `interpret`'s argument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct InterpretArgs {
    pub change: TraceChange,
}

/// `sweep`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct SweepArgs {
    pub key: String,
    pub observed: TraceEntry,
}

/// `claim-files`' arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ClaimArgs {
    pub request: TraceClaimRequest,
    pub ttl_max: u64,
    pub max_files: u32,
    pub observed: Vec<Option<TraceEntry>>,
}

/// `renew`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RenewArgs {
    pub request: TraceAnnounceRequest,
    pub revision: u64,
    pub ttl_max: u64,
}

/// `check`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CheckArgs {
    pub files: Vec<String>,
    pub agent_id: String,
    pub tokens: Vec<u64>,
}

/// `force-release`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ForceReleaseArgs {
    pub file: String,
    pub by: String,
    pub observed: Option<TraceEntry>,
}

/// A key and its entry (`kv.keyed-entry`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TraceKeyedEntry {
    pub key: String,
    pub entry: TraceEntry,
}

/// One import call the guest made, with what the host answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "import")]
#[allow(missing_docs)]
pub enum Step {
    #[serde(rename = "kv.get")]
    KvGet {
        key: String,
        result: Result<TraceEntry, TraceKvError>,
    },
    #[serde(rename = "kv.write-if-revision")]
    KvWrite {
        key: String,
        value: TraceBytes,
        expected: u64,
        ttl_seconds: u32,
        result: Result<u64, TraceKvError>,
    },
    #[serde(rename = "kv.delete-if-revision")]
    KvDelete {
        key: String,
        expected: u64,
        why: TraceRemoval,
        #[serde(default)]
        note: TraceBytes,
        result: Result<u64, TraceKvError>,
    },
    #[serde(rename = "kv.get-many")]
    KvGetMany {
        keys: Vec<String>,
        result: Result<Vec<TraceEntry>, TraceKvError>,
    },
    #[serde(rename = "kv.scan")]
    KvScan {
        prefix: String,
        through: u64,
        result: Result<Vec<TraceKeyedEntry>, TraceKvError>,
    },
    #[serde(rename = "kv.write-batch")]
    KvWriteBatch {
        writes: Vec<TraceWrite>,
        result: Result<Vec<u64>, TraceKvError>,
    },
    #[serde(rename = "clock.now")]
    ClockNow { result: i64 },
    #[serde(rename = "clock.pause")]
    ClockPause { after: u64, result: bool },
    #[serde(rename = "observer.cas-retry")]
    CasRetry {
        key: String,
        attempt: u32,
        result: (),
    },
}

impl Step {
    /// The call without its answer, as JSON (for divergence reports).
    pub fn call_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("steps serialize");
        if let Some(map) = value.as_object_mut() {
            map.remove("result");
        }
        value.to_string()
    }
}

/// One export call: arguments, the import calls it made, its outcome (read by
/// `read.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// Calls are numbered in the order they started.
    pub call: u64,
    /// Records are numbered in the order they were written (finished); replay
    /// checks it to catch reordered lines.
    pub written: u64,
    /// The export, its arguments and its outcome.
    #[serde(flatten)]
    pub export: Export,
    /// The import calls, in order.
    pub steps: Vec<Step>,
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

    #[test]
    fn records_of_format_1_read_back_typed() {
        let line = r#"{"call":6,"written":3,"export":"announce","args":{"request":{"file":"/f","agent_id":"a","ttl":30000000000,"checkout_path":""},"ttl_max":60000000000,"observed":null},"steps":[{"import":"kv.get","key":"=2Ff","result":{"Ok":{"found":false,"operation":"Put","revision":0,"value":""}}},{"import":"clock.now","result":17},{"import":"kv.write-if-revision","key":"=2Ff","value":"v","expected":0,"ttl_seconds":30,"result":{"Err":"WrongRevision"}},{"import":"observer.cas-retry","key":"=2Ff","attempt":2,"result":null}],"result":{"Err":{"HeldByAnother":{"file":"/f","hold":{"agent_id":"b","checkout_path":"","claimed_at":1,"expires_at":2,"ttl":3},"revision":1}}}}"#;
        let record: CallRecord = serde_json::from_str(line).unwrap();
        assert_eq!(record.export.name(), "announce");
        assert_eq!(record.steps.len(), 4);
        assert!(matches!(
            record.export,
            Export::Announce {
                result: Outcome::Returned(Err(TraceError::HeldByAnother(_))),
                ..
            }
        ));
        let again: CallRecord =
            serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(again, record);
        let trapped = r#"{"call":0,"written":0,"export":"who-has","args":{"file":"/f","observed":null},"steps":[],"result":{"trap":"out of fuel"}}"#;
        let record: CallRecord = serde_json::from_str(trapped).unwrap();
        assert!(matches!(
            record.export,
            Export::WhoHas {
                result: Outcome::Trapped { .. },
                ..
            }
        ));
    }
}

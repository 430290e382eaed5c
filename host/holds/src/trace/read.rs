//! Reading call records fast: serde's internally tagged and untagged enums (and
//! `flatten`) buffer every value into an intermediate tree first, which was half
//! of a replay's time. Here each record's parts are captured as raw JSON text
//! (`RawValue`, borrowed from the line), and parsed once their type is known.
//! What is accepted is what serde's derived readers of the same shapes (the
//! tagged, untagged and flattened enums of `format.rs`) accepted; the types
//! derive only `Serialize` now, so this is the one reader of call records.

use super::format::{
    CallRecord, Export, Outcome, Step, TraceBytes, TraceEntry, TraceKvError, TraceRemoval,
    TraceWrite,
};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
struct RawRecord<'a> {
    call: u64,
    written: u64,
    #[serde(borrow)]
    export: Cow<'a, str>,
    #[serde(borrow)]
    args: &'a RawValue,
    #[serde(borrow)]
    result: &'a RawValue,
    #[serde(borrow)]
    steps: Vec<RawStep<'a>>,
}

/// Every field any step has; which are required depends on `import`.
#[derive(Deserialize)]
struct RawStep<'a> {
    #[serde(borrow)]
    import: Cow<'a, str>,
    key: Option<String>,
    value: Option<TraceBytes>,
    expected: Option<u64>,
    ttl_seconds: Option<u32>,
    why: Option<TraceRemoval>,
    note: Option<TraceBytes>,
    keys: Option<Vec<String>>,
    writes: Option<Vec<TraceWrite>>,
    attempt: Option<u32>,
    after: Option<u64>,
    prefix: Option<String>,
    through: Option<u64>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
}

fn parse<T: DeserializeOwned>(raw: &RawValue) -> Result<T, serde_json::Error> {
    serde_json::from_str(raw.get())
}

/// `Outcome`'s untagged reading: a `{"trap": ...}` map first, else the value.
fn outcome<T: DeserializeOwned>(raw: &RawValue) -> Result<Outcome<T>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Trap {
        trap: String,
    }
    let text = raw.get();
    if text.contains("trap")
        && let Ok(Trap { trap }) = serde_json::from_str(text)
    {
        return Ok(Outcome::Trapped { trap });
    }
    match serde_json::from_str(text) {
        Ok(value) => Ok(Outcome::Returned(value)),
        // An escaped key spelled otherwise still reads as a trap.
        Err(e) => match serde_json::from_str::<Trap>(text) {
            Ok(Trap { trap }) => Ok(Outcome::Trapped { trap }),
            Err(_) => Err(e),
        },
    }
}

fn required<T>(
    value: Option<T>,
    import: &str,
    field: &'static str,
) -> Result<T, serde_json::Error> {
    value.ok_or_else(|| {
        serde_json::Error::custom(format!("missing field `{field}` in a {import} step"))
    })
}

impl RawStep<'_> {
    fn step(self) -> Result<Step, serde_json::Error> {
        let import = self.import.as_ref();
        // `null` (a retry's unit result) reads as no result.
        let answer = self.result;
        let result = || required(answer, import, "result");
        let key = |k: Option<String>| required(k, import, "key");
        Ok(match import {
            "kv.get" => Step::KvGet {
                key: key(self.key)?,
                result: parse::<Result<TraceEntry, TraceKvError>>(result()?)?,
            },
            "kv.write-if-revision" => Step::KvWrite {
                key: key(self.key)?,
                value: required(self.value, import, "value")?,
                expected: required(self.expected, import, "expected")?,
                ttl_seconds: required(self.ttl_seconds, import, "ttl_seconds")?,
                result: parse(result()?)?,
            },
            "kv.delete-if-revision" => Step::KvDelete {
                key: key(self.key)?,
                expected: required(self.expected, import, "expected")?,
                why: required(self.why, import, "why")?,
                note: self.note.unwrap_or_default(),
                result: parse(result()?)?,
            },
            "kv.get-many" => Step::KvGetMany {
                keys: required(self.keys, import, "keys")?,
                result: parse(result()?)?,
            },
            "kv.scan" => Step::KvScan {
                prefix: required(self.prefix, import, "prefix")?,
                through: required(self.through, import, "through")?,
                result: parse(result()?)?,
            },
            "kv.write-batch" => Step::KvWriteBatch {
                writes: required(self.writes, import, "writes")?,
                result: parse(result()?)?,
            },
            "clock.now" => Step::ClockNow {
                result: parse(result()?)?,
            },
            "clock.pause" => Step::ClockPause {
                after: required(self.after, import, "after")?,
                result: parse(result()?)?,
            },
            "observer.cas-retry" => Step::CasRetry {
                key: key(self.key)?,
                attempt: required(self.attempt, import, "attempt")?,
                result: (),
            },
            other => {
                return Err(serde_json::Error::custom(format!(
                    "unknown import `{other}`"
                )));
            }
        })
    }
}

macro_rules! define_read {
    ($($variant:ident $name:literal $args:ty => $result:ty;)*) => {
        /// The export a record names, with its arguments and outcome.
        fn export(name: &str, args: &RawValue, result: &RawValue) -> Result<Export, serde_json::Error> {
            Ok(match name {
                $($name => Export::$variant {
                    args: parse(args)?,
                    result: outcome(result)?,
                },)*
                other => {
                    return Err(serde_json::Error::custom(format!(
                        "unknown export `{other}`"
                    )));
                }
            })
        }
    };
}

crate::exports::for_each_export!(define_read);

impl<'de> Deserialize<'de> for CallRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawRecord::deserialize(d)?;
        let export = export(&raw.export, raw.args, raw.result).map_err(D::Error::custom)?;
        let steps = raw
            .steps
            .into_iter()
            .map(RawStep::step)
            .collect::<Result<_, _>>()
            .map_err(D::Error::custom)?;
        Ok(CallRecord {
            call: raw.call,
            written: raw.written,
            export,
            steps,
        })
    }
}

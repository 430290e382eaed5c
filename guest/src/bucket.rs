//! Whether a bucket can keep holds: a store setting that could drop a live hold
//! before it expires makes the bucket unusable, whoever created it.

use crate::model::Error;

/// A bucket's settings as its store reports them (WIT `bucket-settings`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketSettings {
    pub bucket: String,
    /// Entries are removed past this age, in ns (0: never).
    pub max_age: u64,
    /// Entries the whole bucket keeps (0 or less: no limit).
    pub max_messages: i64,
    /// Bytes the whole bucket keeps (0 or less: no limit).
    pub max_bytes: i64,
    /// Entries kept per key (0 or less: no limit).
    pub max_messages_per_key: i64,
    /// At a bucket limit the store drops the oldest entries (else it refuses new ones).
    pub discard_old: bool,
    /// A key at its per-key limit refuses new entries (instead of dropping its oldest).
    pub discard_new_per_key: bool,
}

/// `Ok` when `settings` keep every hold of up to `ttl_max` ns until it expires;
/// else the setting that would not, as invalid input on the field `bucket`.
pub fn check_bucket(settings: &BucketSettings, ttl_max: u64) -> Result<(), Error> {
    let refuse = |why: String| {
        Err(Error::invalid(
            "bucket",
            format!("bucket {} {why}", settings.bucket),
        ))
    };
    if settings.max_age > 0 && settings.max_age < ttl_max {
        return refuse(format!(
            "keeps entries for {}, less than the maximum TTL {}: lower the maximum TTL or use another bucket",
            seconds(settings.max_age),
            seconds(ttl_max)
        ));
    }
    if settings.discard_old && settings.max_messages > 0 {
        return refuse(format!(
            "keeps at most {} entries and drops the oldest (max_msgs with discard old): live holds would be dropped; use a bucket without max_msgs",
            settings.max_messages
        ));
    }
    if settings.discard_old && settings.max_bytes > 0 {
        return refuse(format!(
            "keeps at most {} bytes and drops the oldest entries (max_bytes with discard old): live holds would be dropped; use a bucket without max_bytes",
            settings.max_bytes
        ));
    }
    if settings.discard_new_per_key && settings.max_messages_per_key > 0 {
        return refuse(format!(
            "refuses a key's entry past its {} (max_msgs_per_subject with discard_new_per_subject): holds could not be renewed and would expire; use a bucket without discard_new_per_subject",
            settings.max_messages_per_key
        ));
    }
    Ok(())
}

/// `300s`, `1.5s`, `250ms`-style text of a span in ns.
fn seconds(ns: u64) -> String {
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{ns}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn bucket() -> BucketSettings {
        BucketSettings {
            bucket: "holds".into(),
            max_age: 300 * S,
            ..BucketSettings::default()
        }
    }

    fn refusal(settings: &BucketSettings, ttl_max: u64) -> String {
        match check_bucket(settings, ttl_max) {
            Err(Error::InvalidInput(i)) if i.field == "bucket" => i.reason,
            other => panic!("{settings:?}: {other:?}"),
        }
    }

    #[test]
    fn a_bucket_as_holds_and_go_make_it_keeps_holds() {
        check_bucket(&bucket(), 300 * S).unwrap();
        check_bucket(&bucket(), 30 * S).unwrap();
        let unlimited = BucketSettings {
            max_age: 0,
            max_messages: -1,
            max_bytes: -1,
            max_messages_per_key: 1,
            ..bucket()
        };
        check_bucket(&unlimited, 3600 * S).unwrap();
        // Limits that refuse new writes never drop a live hold.
        let refusing = BucketSettings {
            max_messages: 10,
            max_bytes: 1 << 20,
            discard_old: false,
            ..bucket()
        };
        check_bucket(&refusing, 300 * S).unwrap();
    }

    #[test]
    fn every_setting_that_drops_a_live_hold_is_named() {
        let short = refusal(&bucket(), 600 * S);
        assert!(
            short.contains("keeps entries for 300s, less than the maximum TTL 600s"),
            "{short}"
        );
        let msgs = BucketSettings {
            max_messages: 1,
            discard_old: true,
            ..bucket()
        };
        assert!(refusal(&msgs, 30 * S).contains("max_msgs with discard old"));
        let bytes = BucketSettings {
            max_bytes: 4096,
            discard_old: true,
            ..bucket()
        };
        assert!(refusal(&bytes, 30 * S).contains("max_bytes with discard old"));
        let per_key = BucketSettings {
            max_messages_per_key: 1,
            discard_new_per_key: true,
            ..bucket()
        };
        assert!(refusal(&per_key, 30 * S).contains("discard_new_per_subject"));
    }
}

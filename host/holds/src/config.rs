//! Manager configuration, validated at open.

use crate::error::Error;
use std::time::Duration;

/// Subscription buffer used when `chan_buffer` is 0 (the Go package's default).
pub const DEFAULT_CHAN_BUFFER: usize = 32;

/// Files one claim may take by default (bones' coord).
pub const DEFAULT_MAX_CLAIM_FILES: usize = 16;

/// How a [`crate::Manager`] is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Bucket name, `[A-Za-z0-9_-]+`.
    pub bucket: String,
    /// The longest hold; also the bucket's max age, so a leaked hold disappears.
    pub hold_ttl_max: Duration,
    /// Events buffered per subscriber before it counts as lagging (0: 32).
    pub chan_buffer: usize,
    /// Copies of the bucket in a JetStream cluster (1 on a single server).
    pub replicas: usize,
    /// Bound on each store operation (and, times the CAS attempts, on each call).
    pub op_timeout: Duration,
    /// Keep a replica of the bucket, fed by a watcher started at open and by this
    /// manager's own acks, and hand the guest its entry as the first observation:
    /// one round trip per announce or release when the replica is current.
    /// One-shot processes (the CLI) turn it off: they would pay for the watch.
    pub replica: bool,
    /// The most files one [`crate::Manager::claim`] may take (bones' default: 16).
    pub max_claim_files: usize,
}

impl Config {
    /// The defaults for `bucket` with holds of at most `hold_ttl_max`.
    ///
    /// ```
    /// use holds::Config;
    /// use std::time::Duration;
    /// let mut config = Config::new("holds", Duration::from_secs(300));
    /// config.replicas = 3;
    /// assert!(config.validated().is_ok());
    /// ```
    pub fn new(bucket: impl Into<String>, hold_ttl_max: Duration) -> Self {
        Config {
            bucket: bucket.into(),
            hold_ttl_max,
            chan_buffer: 0,
            replicas: 1,
            op_timeout: Duration::from_secs(5),
            replica: true,
            max_claim_files: DEFAULT_MAX_CLAIM_FILES,
        }
    }

    /// Check every field; returns the config with defaults filled in.
    pub fn validated(&self) -> Result<Config, Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.bucket.is_empty()
            || !self
                .bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return bad(format!(
                "bucket name {:?} must match [A-Za-z0-9_-]+",
                self.bucket
            ));
        }
        if self.hold_ttl_max.is_zero() {
            return bad("hold_ttl_max must be above zero".into());
        }
        if self.hold_ttl_max.as_nanos() > i64::MAX as u128 {
            return bad("hold_ttl_max is too large".into());
        }
        if self.replicas == 0 || self.replicas > 5 {
            return bad(format!("replicas must be 1 to 5, not {}", self.replicas));
        }
        if self.max_claim_files == 0 || self.max_claim_files > 1000 {
            return bad(format!(
                "max_claim_files must be 1 to 1000 (a JetStream batch's limit), not {}",
                self.max_claim_files
            ));
        }
        if self.op_timeout.is_zero() {
            return bad("op_timeout must be above zero".into());
        }
        let mut config = self.clone();
        if config.chan_buffer == 0 {
            config.chan_buffer = DEFAULT_CHAN_BUFFER;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_jetstream() {
        for ok in ["holds", "bones-holds", "A_1"] {
            assert!(Config::new(ok, Duration::from_secs(1)).validated().is_ok());
        }
        for bad in ["", "a.b", "a b", "a/b", "é", "a*", "a>"] {
            assert!(matches!(
                Config::new(bad, Duration::from_secs(1)).validated(),
                Err(Error::Config(_))
            ));
        }
    }

    #[test]
    fn zero_ttl_max_is_rejected_and_zero_buffer_defaults() {
        assert!(Config::new("b", Duration::ZERO).validated().is_err());
        let c = Config::new("b", Duration::from_secs(1))
            .validated()
            .unwrap();
        assert_eq!(c.chan_buffer, DEFAULT_CHAN_BUFFER);
    }
}

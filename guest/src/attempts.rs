//! Counting lost revision races: at most [`MAX_ATTEMPTS`] writes, and only a write
//! decided on a fresh read can lose one (a write decided on the host's stale hint
//! that fails is a re-read).

use crate::MAX_ATTEMPTS;
use crate::host::Host;
use crate::model::Error;

/// The attempts of one decision's writes.
pub(crate) struct Attempts(u32);

impl Attempts {
    pub(crate) fn new() -> Self {
        Attempts(1)
    }

    /// A write decided on a fresh read lost the race on `key`: `CasExhausted`
    /// after the last attempt, else the next one is reported to the host.
    pub(crate) fn lost<H: Host>(&mut self, host: &mut H, key: &str) -> Result<(), Error> {
        if self.0 == MAX_ATTEMPTS {
            return Err(Error::CasExhausted(MAX_ATTEMPTS));
        }
        self.0 += 1;
        host.cas_retry(key, self.0);
        Ok(())
    }
}

//! When a write the store took nothing of is sent again: one schedule for
//! single writes, markers and atomic batches, whatever the host.
//!
//! A store says only why it took nothing ([`Unsent`]); [`Resending`] decides
//! whether to send again and after what pause, and the host waits (the `pause`
//! import) unless that would pass the call's deadline, when the write gives up.

use crate::host::Host;
use crate::model::{Entry, KeyedEntry, KvError, NotStored, Removal, Timestamp, Unsent, Write};

/// Pause (ns) before sending again a write no stream took, or that a changing
/// leader could not check: elections take a tenth of a second or more.
pub const NO_STREAM_PAUSE: u64 = 100_000_000;
/// First and longest pause (ns) before sending again a write refused while
/// another write to the key was in flight: that write commits within a few ms.
pub const BUSY_PAUSE: (u64, u64) = (250_000, 16_000_000);

/// The pauses of one write's sends.
#[derive(Clone, Debug)]
pub struct Schedule {
    busy: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule { busy: BUSY_PAUSE.0 }
    }
}

impl Schedule {
    /// The pause before sending again a write that stored nothing for `why`.
    pub fn next(&mut self, why: Unsent) -> u64 {
        match why {
            Unsent::NoStream | Unsent::LeaderChanging => NO_STREAM_PAUSE,
            Unsent::Busy => {
                let pause = self.busy;
                self.busy = (self.busy * 2).min(BUSY_PAUSE.1);
                pause
            }
        }
    }
}

/// The error once the call's time is spent: `what` names the write.
pub fn gave_up(what: &str, refusal: &NotStored) -> KvError {
    KvError::Unavailable(match refusal.why {
        Unsent::Busy => format!(
            "another write to {what} stayed in flight until the call's deadline; nothing was written: {}",
            refusal.detail
        ),
        Unsent::NoStream | Unsent::LeaderChanging => format!(
            "no stream took {what} before the call's deadline; nothing was written: {}",
            refusal.detail
        ),
    })
}

/// `host` with its writes sent again, on [`Schedule`], while the store takes
/// nothing of them.
pub struct Resending<'a, H>(pub &'a mut H);

impl<H: Host> Resending<'_, H> {
    /// Pause before the next send of `what`; the error when the host says the
    /// pause would pass the call's deadline.
    async fn pause(
        &mut self,
        schedule: &mut Schedule,
        what: &str,
        refusal: NotStored,
    ) -> Result<(), KvError> {
        let after = schedule.next(refusal.why);
        if self.0.pause(after).await {
            Ok(())
        } else {
            Err(gave_up(what, &refusal))
        }
    }
}

impl<H: Host> Host for Resending<'_, H> {
    async fn get(&mut self, key: &str) -> Result<Entry, KvError> {
        self.0.get(key).await
    }

    async fn write_if_revision(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> Result<u64, KvError> {
        let mut schedule = Schedule::default();
        loop {
            match self
                .0
                .write_if_revision(key, value.clone(), expected, ttl_seconds)
                .await
            {
                Err(KvError::NotStored(refusal)) => self.pause(&mut schedule, key, refusal).await?,
                done => return done,
            }
        }
    }

    async fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Vec<u8>,
    ) -> Result<u64, KvError> {
        let mut schedule = Schedule::default();
        loop {
            match self
                .0
                .delete_if_revision(key, expected, why, note.clone())
                .await
            {
                Err(KvError::NotStored(refusal)) => self.pause(&mut schedule, key, refusal).await?,
                done => return done,
            }
        }
    }

    async fn get_many(&mut self, keys: &[String]) -> Result<Vec<Entry>, KvError> {
        self.0.get_many(keys).await
    }

    async fn scan(&mut self, prefix: &str, through: u64) -> Result<Vec<KeyedEntry>, KvError> {
        self.0.scan(prefix, through).await
    }

    async fn write_batch(&mut self, writes: Vec<Write>) -> Result<Vec<u64>, KvError> {
        let mut schedule = Schedule::default();
        loop {
            match self.0.write_batch(writes.clone()).await {
                Err(KvError::NotStored(refusal)) => {
                    self.pause(&mut schedule, "the batch", refusal).await?
                }
                done => return done,
            }
        }
    }

    fn now(&mut self) -> Timestamp {
        self.0.now()
    }

    async fn pause(&mut self, after: u64) -> bool {
        self.0.pause(after).await
    }

    fn cas_retry(&mut self, key: &str, attempt: u32) {
        self.0.cas_retry(key, attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryHost, request};
    use futures::executor::block_on;

    const MS: u64 = 1_000_000;

    #[test]
    fn busy_pauses_double_up_to_16_ms() {
        let mut schedule = Schedule::default();
        let pauses: Vec<u64> = (0..8).map(|_| schedule.next(Unsent::Busy)).collect();
        assert_eq!(
            pauses,
            [
                250_000,
                500_000,
                MS,
                2 * MS,
                4 * MS,
                8 * MS,
                16 * MS,
                16 * MS
            ]
        );
    }

    #[test]
    fn a_missing_stream_or_leader_pauses_a_tenth_of_a_second_and_keeps_the_doubling() {
        let mut schedule = Schedule::default();
        let pauses = [
            Unsent::Busy,
            Unsent::NoStream,
            Unsent::LeaderChanging,
            Unsent::Busy,
        ]
        .map(|why| schedule.next(why));
        assert_eq!(pauses, [250_000, 100 * MS, 100 * MS, 500_000]);
    }

    #[test]
    fn a_write_is_sent_again_until_stored_and_gives_up_at_the_deadline() {
        let mut host = MemoryHost::new(0);
        host.not_stored = vec![Unsent::Busy, Unsent::NoStream];
        let claim = block_on(crate::announce(
            &mut host,
            &request("/f", "a", 1_000_000_000),
            60_000_000_000,
            None,
        ))
        .unwrap();
        assert_eq!(claim.revision, 1);
        assert_eq!(host.pauses, [250_000, 100 * MS]);

        let mut host = MemoryHost::new(0);
        host.not_stored = vec![Unsent::Busy; 100];
        host.pause_budget = 3 * MS;
        let refused = block_on(crate::announce(
            &mut host,
            &request("/f", "a", 1_000_000_000),
            60_000_000_000,
            None,
        ));
        assert_eq!(
            refused,
            Err(crate::Error::Store(
                "another write to =2Ff stayed in flight until the call's deadline; nothing was written: busy"
                    .into()
            ))
        );
        // 0.25 + 0.5 + 1 ms fit in 3 ms; the next 2 ms would not.
        assert_eq!(host.pauses, [250_000, 500_000, MS]);
        assert!(!host.entry("=2Ff").found);
    }
}

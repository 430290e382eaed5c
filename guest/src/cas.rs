//! The skeleton every single-key compare-and-swap decision shares: decide on the
//! host's hint, or on a fresh read without one; confirm on a fresh read what the
//! hint alone would refuse; after a write that lost, read again, counting the
//! loss only when the write was decided on a fresh read (a stale hint that loses
//! is a re-read, not a lost race).

use crate::attempts::Attempts;
use crate::host::Host;
use crate::host::read;
use crate::model::{Entry, Error};

/// One key's decision state: the entry decided on, and whether it is fresh.
pub(crate) struct Cas<'k> {
    key: &'k str,
    entry: Entry,
    fresh: bool,
    attempts: Attempts,
}

impl<'k> Cas<'k> {
    /// On the host's belief of `key`'s entry, or a fresh read without one.
    pub async fn start<H: Host>(
        host: &mut H,
        key: &'k str,
        observed: Option<Entry>,
    ) -> Result<Self, Error> {
        let (entry, fresh) = match observed {
            Some(entry) => (entry, false),
            None => (read(host, key).await?, true),
        };
        Ok(Cas {
            key,
            entry,
            fresh,
            attempts: Attempts::new(),
        })
    }

    /// Nothing read yet: the first write goes over a revision the caller knows
    /// (a lease's), and a loss on it is not a lost race.
    pub fn unread(key: &'k str) -> Self {
        Cas {
            key,
            entry: Entry::missing(),
            fresh: false,
            attempts: Attempts::new(),
        }
    }

    /// The entry decided on.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// Whether the entry was read fresh (else it is the host's hint).
    pub fn fresh(&self) -> bool {
        self.fresh
    }

    /// Read the entry fresh (to confirm a verdict reached on the hint).
    pub async fn reread<H: Host>(&mut self, host: &mut H) -> Result<(), Error> {
        self.entry = read(host, self.key).await?;
        self.fresh = true;
        Ok(())
    }

    /// A write lost the revision race: count it if it was decided on a fresh
    /// read (`CasExhausted` after the last attempt), then read again.
    pub async fn lost<H: Host>(&mut self, host: &mut H) -> Result<(), Error> {
        if self.fresh {
            self.attempts.lost(host, self.key)?;
        }
        self.reread(host).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_ATTEMPTS;
    use crate::testing::MemoryHost;
    use futures::executor::block_on;

    #[test]
    fn a_loss_on_the_hint_is_a_re_read_and_losses_on_fresh_reads_are_counted() {
        let mut host = MemoryHost::new(0);
        host.put_raw("k", b"{}");
        let stale = Entry::missing();
        let mut cas = block_on(Cas::start(&mut host, "k", Some(stale))).unwrap();
        assert!(
            !cas.fresh() && host.gets() == 0,
            "decided on the hint, unread"
        );
        block_on(cas.lost(&mut host)).unwrap();
        assert!(cas.fresh() && cas.entry().found, "read again");
        assert_eq!(
            host.retries,
            Vec::<u32>::new(),
            "a stale hint is not a lost race"
        );
        for _ in 2..=MAX_ATTEMPTS {
            block_on(cas.lost(&mut host)).unwrap();
        }
        assert_eq!(host.retries, (2..=MAX_ATTEMPTS).collect::<Vec<_>>());
        assert_eq!(
            block_on(cas.lost(&mut host)).unwrap_err(),
            Error::CasExhausted(MAX_ATTEMPTS)
        );
    }

    #[test]
    fn without_a_hint_it_starts_from_a_fresh_read_and_unread_from_nothing() {
        let mut host = MemoryHost::new(0);
        let cas = block_on(Cas::start(&mut host, "k", None)).unwrap();
        assert!(cas.fresh() && host.gets() == 1 && !cas.entry().found);
        let unread = Cas::unread("k");
        assert!(!unread.fresh() && !unread.entry().found);
    }
}

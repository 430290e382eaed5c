//! When a write the server stored nothing of is sent again: one policy for
//! single writes and atomic batches.

use crate::kv::KvError;
use std::time::Duration;
use tokio::time::Instant;

/// Pause before sending again a write no stream took.
const NO_STREAM_BACKOFF: Duration = Duration::from_millis(100);
/// First and longest pause before a conditional write the leader refused
/// without comparing (10164) is sent again: the write in flight it waited for
/// commits within a few milliseconds.
const IN_FLIGHT_BACKOFF: (Duration, Duration) =
    (Duration::from_micros(250), Duration::from_millis(16));

/// Why a write stored nothing, so that sending it again is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unsent {
    /// No stream answered, or a new leader could not check the expected
    /// sequence yet (10163): for a moment after a replicated bucket is created,
    /// and while its stream elects a leader.
    NotTaken,
    /// Refused without comparing while another write to the key is in flight
    /// (10164): not a lost race, so it is sent once that write is done.
    NotCompared,
}

impl Unsent {
    /// The error once the operation's time is spent: `what` names the write,
    /// `refusal` is the last send's answer.
    fn gave_up(
        self,
        what: &str,
        op_timeout: Duration,
        refusal: impl std::error::Error + Send + Sync + 'static,
    ) -> KvError {
        KvError::unavailable(match self {
            Unsent::NotTaken => {
                format!("no stream took {what} within {op_timeout:?}; nothing was written")
            }
            Unsent::NotCompared => format!(
                "another write to {what} stayed in flight for {op_timeout:?}; nothing was written"
            ),
        })
        .with_source(refusal)
    }
}

/// What the server answered a batch's commit that stored nothing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Refusal(pub String);

/// A send that stored nothing: why, and the server's answer.
pub(super) type NotStored<E> = (Unsent, E);

/// Sends a write with `send` until a send stores it, within `op_timeout` (the
/// pauses are `Resend`'s); `what` names the write in the error. `send` is one
/// send: its result, what it stored nothing for, or an error not to retry.
pub(super) async fn until_stored<T, E, Sent>(
    op_timeout: Duration,
    what: &str,
    mut send: impl FnMut() -> Sent,
) -> Result<T, KvError>
where
    Sent: Future<Output = Result<Result<T, NotStored<E>>, KvError>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut resend = Resend::within(op_timeout);
    loop {
        let (why, answer) = match send().await? {
            Ok(stored) => return Ok(stored),
            Err(not_stored) => not_stored,
        };
        if !resend.pause(why).await {
            return Err(why.gave_up(what, op_timeout, answer));
        }
    }
}

/// The sends of one write: within the operation's time, after a pause that
/// depends on why the last send stored nothing.
struct Resend {
    give_up: Instant,
    in_flight: Duration,
}

impl Resend {
    fn within(op_timeout: Duration) -> Self {
        Resend {
            give_up: Instant::now() + op_timeout,
            in_flight: IN_FLIGHT_BACKOFF.0,
        }
    }

    /// Sleeps before the next send; false (no sleep) when the pause would pass
    /// the operation's time.
    async fn pause(&mut self, why: Unsent) -> bool {
        match self.next(why, Instant::now()) {
            Some(pause) => {
                tokio::time::sleep(pause).await;
                true
            }
            None => false,
        }
    }

    /// The pause before the send after one at `now`, if it ends in time.
    fn next(&mut self, why: Unsent, now: Instant) -> Option<Duration> {
        let pause = match why {
            Unsent::NotTaken => NO_STREAM_BACKOFF,
            Unsent::NotCompared => self.in_flight,
        };
        if now + pause >= self.give_up {
            return None;
        }
        if why == Unsent::NotCompared {
            self.in_flight = (self.in_flight * 2).min(IN_FLIGHT_BACKOFF.1);
        }
        Some(pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pauses of sends that each stored nothing for `why`, back to back.
    fn pauses(op_timeout: Duration, why: impl Fn(usize) -> Unsent) -> Vec<Duration> {
        let mut now = Instant::now();
        let mut resend = Resend {
            give_up: now + op_timeout,
            in_flight: IN_FLIGHT_BACKOFF.0,
        };
        let mut pauses = Vec::new();
        while let Some(pause) = resend.next(why(pauses.len()), now) {
            pauses.push(pause);
            now += pause;
        }
        pauses
    }

    #[test]
    fn in_flight_pauses_double_up_to_16_ms_within_the_operations_time() {
        let micros = |p: &[u64]| {
            p.iter()
                .copied()
                .map(Duration::from_micros)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pauses(Duration::from_millis(50), |_| Unsent::NotCompared),
            micros(&[250, 500, 1000, 2000, 4000, 8000, 16000, 16000])
        );
    }

    #[test]
    fn a_write_no_stream_took_waits_a_tenth_of_a_second_each_time() {
        assert_eq!(
            pauses(Duration::from_millis(350), |_| Unsent::NotTaken),
            vec![NO_STREAM_BACKOFF; 3]
        );
        assert!(pauses(Duration::from_millis(100), |_| Unsent::NotTaken).is_empty());
    }

    #[test]
    fn a_missing_stream_between_in_flight_refusals_keeps_the_doubling() {
        let why = |i: usize| {
            if i == 1 {
                Unsent::NotTaken
            } else {
                Unsent::NotCompared
            }
        };
        assert_eq!(
            pauses(Duration::from_millis(105), why),
            [250, 100_000, 500, 1000, 2000]
                .map(Duration::from_micros)
                .to_vec()
        );
    }

    #[test]
    fn giving_up_says_what_was_not_written_and_the_last_answer_once() {
        let t = Duration::from_secs(5);
        let said = |why: Unsent| {
            why.gave_up("k", t, Refusal("the answer".into()))
                .to_string()
        };
        assert_eq!(
            said(Unsent::NotTaken),
            "no stream took k within 5s; nothing was written: the answer"
        );
        assert_eq!(
            said(Unsent::NotCompared),
            "another write to k stayed in flight for 5s; nothing was written: the answer"
        );
    }
}

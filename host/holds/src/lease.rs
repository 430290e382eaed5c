//! A lease: files held while work runs, renewed in the background at a third of
//! the TTL, each renewal written only over the revision the lease holds (the
//! guest's `renew`), and a report when a hold is lost.

use crate::error::Error;
use crate::manager::Manager;
use crate::subscription::Subscription;
use crate::types::{Announce, Claim, EventKind};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

// `hold` lives here, beside what it returns, so the manager needs no lease.
impl Manager {
    /// Claim the files and keep them: a [`Lease`] renews them in the background at
    /// a third of the TTL, each renewal only over the revision it holds, and
    /// reports when a hold is lost. `wait`: as [`Manager::claim_wait`] first.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// use holds::Announce;
    /// use std::time::Duration;
    /// let lease = holds.hold(&["/repo/src/lib.rs"], &Announce::new("agent-1", Duration::from_secs(30))).await?;
    /// // ... edit the file ...
    /// lease.release().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn hold(
        &self,
        files: &[impl AsRef<str>],
        announce: &Announce,
    ) -> Result<Lease, Error> {
        let claimed = self.claim(files, announce).await?;
        Lease::start(self.clone(), announce.clone(), claimed.claims).await
    }

    /// [`Manager::hold`], waiting up to `wait` for the files first.
    pub async fn hold_wait(
        &self,
        files: &[impl AsRef<str>],
        announce: &Announce,
        wait: Duration,
    ) -> Result<Lease, Error> {
        let claimed = self.claim_wait(files, announce, wait).await?;
        Lease::start(self.clone(), announce.clone(), claimed.claims).await
    }
}

/// Why a lease lost a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LostReason {
    /// Someone else released it (`forced_by`: an operator's force-release).
    Released {
        /// Who forced it, for a force-release.
        forced_by: Option<String>,
    },
    /// It expired and the store removed it.
    Expired,
    /// Another agent holds it now.
    TakenOver(Claim),
    /// A renewal found it gone (released, expired or taken over while no event
    /// said so); the current holder, if any.
    Gone(Option<Claim>),
    /// No renewal succeeded for longer than the TTL (the store was unreachable):
    /// the hold may have expired meanwhile.
    Unrenewable(String),
}

/// A file a lease no longer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    /// The cleaned absolute path.
    pub file: String,
    /// The revision (fencing token) the lease held.
    pub revision: u64,
    /// What happened.
    pub why: LostReason,
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lost the hold on {} (revision {}): ",
            self.file, self.revision
        )?;
        match &self.why {
            LostReason::Released {
                forced_by: Some(by),
            } => write!(f, "force-released by {by}"),
            LostReason::Released { forced_by: None } => f.write_str("released by another process"),
            LostReason::Expired => f.write_str("it expired"),
            LostReason::TakenOver(c) | LostReason::Gone(Some(c)) => {
                write!(f, "{} holds it now", c.hold.agent_id)
            }
            LostReason::Gone(None) => f.write_str("it is gone"),
            LostReason::Unrenewable(why) => {
                write!(f, "not renewable for longer than the TTL: {why}")
            }
        }
    }
}

struct Shared {
    manager: Manager,
    announce: Announce,
    /// The lease's claims, sorted by file, with their current revisions.
    claims: Mutex<Vec<Claim>>,
}

impl Shared {
    /// The lease's claim on `file` (cleaned), if it has one.
    fn token(&self, file: &str) -> Option<u64> {
        self.claims
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.file == file)
            .map(|c| c.revision)
    }

    fn update(&self, claim: Claim) {
        let mut claims = self.claims.lock().unwrap();
        if let Some(c) = claims.iter_mut().find(|c| c.file == claim.file)
            && claim.revision > c.revision
        {
            *c = claim;
        }
    }

    /// Release every file still held (each only if it is still this agent's:
    /// revision-gated); the first error, after trying them all.
    async fn release_all(&self) -> Result<(), Error> {
        let agent = &self.announce.agent_id;
        let claims = self.claims.lock().unwrap().clone();
        let mut first_error = None;
        for claim in claims {
            if let Err(e) = self.manager.release(&claim.file, agent).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Files held by one agent, renewed in the background until released.
///
/// ```no_run
/// use holds::{Announce, Manager};
/// use std::time::Duration;
///
/// # async fn example(holds: Manager) -> Result<(), holds::Error> {
/// let mut lease = holds
///     .hold(&["/repo/src/lib.rs", "/repo/src/main.rs"], &Announce::new("agent-1", Duration::from_secs(30)))
///     .await?;
/// println!("fencing tokens: {:?}", lease.tokens());
/// tokio::select! {
///     lost = lease.lost() => eprintln!("{lost}"),
///     _ = tokio::time::sleep(Duration::from_secs(120)) => lease.release().await?,
/// }
/// # Ok(())
/// # }
/// ```
pub struct Lease {
    shared: Arc<Shared>,
    lost: watch::Receiver<Option<Lost>>,
    task: Option<JoinHandle<()>>,
}

impl Lease {
    /// Start renewing `claims` (just taken by `announce`'s agent).
    pub(crate) async fn start(
        manager: Manager,
        announce: Announce,
        claims: Vec<Claim>,
    ) -> Result<Lease, Error> {
        // Events make a loss known at once; renewals find the rest within a third
        // of the TTL. A manager without a replica has no watch: renewals only.
        // Its snapshot is of the lease's own files: a change since the claim shows.
        let events = match manager.config().replica {
            true => {
                let files: Vec<String> = claims.iter().map(|c| c.file.clone()).collect();
                Some(manager.subscribe_to(&files).await?)
            }
            false => None,
        };
        let shared = Arc::new(Shared {
            manager,
            announce,
            claims: Mutex::new(claims),
        });
        let (tx, lost) = watch::channel(None);
        let task = tokio::spawn(keep(shared.clone(), events, tx));
        Ok(Lease {
            shared,
            lost,
            task: Some(task),
        })
    }

    /// The claims held, sorted by file, at their latest revisions.
    pub fn claims(&self) -> Vec<Claim> {
        self.shared.claims.lock().unwrap().clone()
    }

    /// The fencing tokens (current revisions), in the order of [`Lease::claims`].
    pub fn tokens(&self) -> Vec<u64> {
        self.claims().iter().map(|c| c.revision).collect()
    }

    /// The loss, if one happened.
    pub fn lost_now(&self) -> Option<Lost> {
        self.lost.borrow().clone()
    }

    /// Wait until a hold is lost (forever, while none is).
    pub async fn lost(&mut self) -> Lost {
        match self.lost.wait_for(|l| l.is_some()).await {
            Ok(lost) => lost.clone().expect("waited for a loss"),
            Err(_) => std::future::pending().await,
        }
    }

    /// Stop renewing and release every file still held (each only if it is still
    /// this agent's: revision-gated).
    pub async fn release(mut self) -> Result<(), Error> {
        self.stop();
        self.shared.release_all().await
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Lease {
    /// Dropped unreleased: stop renewing and release best-effort in the background.
    fn drop(&mut self) {
        if self.task.is_none() {
            return;
        }
        self.stop();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shared = self.shared.clone();
            runtime.spawn(async move {
                let _ = shared.release_all().await;
            });
        }
    }
}

/// Renew at a third of the TTL and watch the files' events until one is lost.
async fn keep(
    shared: Arc<Shared>,
    mut events: Option<Subscription>,
    lost: watch::Sender<Option<Lost>>,
) {
    let ttl = shared.announce.ttl;
    let every = (ttl / 3).max(Duration::from_millis(10));
    let mut renewals = tokio::time::interval_at(Instant::now() + every, every);
    renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut renewed_at = Instant::now();
    let report = |file: String, revision: u64, why: LostReason| {
        let _ = lost.send(Some(Lost {
            file,
            revision,
            why,
        }));
    };
    loop {
        tokio::select! {
            _ = renewals.tick() => {
                let claims = shared.claims.lock().unwrap().clone();
                let mut all = true;
                for claim in claims {
                    let renewed = shared
                        .manager
                        .renew(&claim.file, &shared.announce, claim.revision)
                        .await;
                    match renewed {
                        Ok(claim) => shared.update(claim),
                        Err(Error::Lost(gone)) => {
                            return report(gone.file, gone.revision, LostReason::Gone(gone.holder));
                        }
                        Err(e) => {
                            all = false;
                            if renewed_at.elapsed() > ttl {
                                return report(claim.file, claim.revision, LostReason::Unrenewable(e.to_string()));
                            }
                            tracing::warn!(file = claim.file, "renewing a lease failed, trying again: {e}");
                        }
                    }
                }
                if all {
                    renewed_at = Instant::now();
                }
            }
            event = next(&mut events) => match event {
                Some(Ok(event)) => {
                    let Some(token) = shared.token(&event.file) else { continue };
                    if event.revision <= token {
                        continue;
                    }
                    let why = match event.kind {
                        EventKind::Announced(hold) if hold.agent_id == shared.announce.agent_id => {
                            // This agent re-announced it (or a renewal's event came
                            // before its answer): still the lease's.
                            shared.update(Claim {
                                file: event.file,
                                scope: event.scope,
                                hold,
                                revision: event.revision,
                            });
                            continue;
                        }
                        EventKind::Announced(hold) => LostReason::TakenOver(Claim {
                            file: event.file.clone(),
                            scope: event.scope,
                            hold,
                            revision: event.revision,
                        }),
                        EventKind::Released { forced_by } => LostReason::Released { forced_by },
                        EventKind::Expired => LostReason::Expired,
                    };
                    return report(event.file, token, why);
                }
                // The watch failed or lagged: watch again, and renew now to find
                // what the events missed (a renewal over a lost hold is `Lost`).
                Some(Err(e)) => {
                    tracing::warn!("a lease's watch ended ({e}); watching again and renewing now");
                    let files: Vec<String> =
                        shared.claims.lock().unwrap().iter().map(|c| c.file.clone()).collect();
                    events = shared.manager.subscribe_to(&files).await.ok();
                    renewals.reset_immediately();
                }
                None => events = None,
            },
        }
    }
}

async fn next(events: &mut Option<Subscription>) -> Option<Result<crate::types::Event, Error>> {
    match events {
        Some(events) => events.next().await,
        None => std::future::pending().await,
    }
}

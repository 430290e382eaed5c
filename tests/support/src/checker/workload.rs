//! Random agents at work on a few files, through several managers, every call
//! recorded.

use super::rng::Rng;
use super::{History, Outcome};
use holds::{Announce, Manager};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// `var` parsed, else `default`.
pub fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A random workload: agents announcing, renewing, claiming several files at
/// once, releasing, force-releasing others' holds and asking who holds a small
/// set of files, through several managers, every call recorded.
#[derive(Clone, Debug)]
pub struct Workload {
    pub agents: usize,
    /// Clean absolute paths.
    pub files: Vec<String>,
    /// Each announce asks for a TTL in this range.
    pub ttl_min: Duration,
    pub ttl_max: Duration,
    /// Each agent waits up to this long between calls.
    pub think: Duration,
    /// After a failed call, an agent waits this long.
    pub backoff: Duration,
    /// Per mille of steps at which an agent holding files "crashes": it forgets
    /// its holds (they expire; others take them over) and comes back after
    /// `ttl_max` to twice that.
    pub crash_per_mille: u64,
    pub seed: u64,
}

impl Workload {
    /// `agents` agents on `files` files named `/torture/file-N.rs`.
    pub fn new(agents: usize, files: usize, seed: u64) -> Self {
        Workload {
            agents,
            files: (0..files)
                .map(|i| format!("/torture/file-{i}.rs"))
                .collect(),
            ttl_min: Duration::from_millis(200),
            ttl_max: Duration::from_secs(2),
            think: Duration::from_millis(10),
            backoff: Duration::from_millis(50),
            crash_per_mille: 3,
            seed,
        }
    }

    /// Start the agents; agent `i` calls through manager `i % managers.len()` and
    /// asks who-has through the others.
    pub fn spawn(&self, managers: Vec<Manager>, history: History) -> Running {
        let (stop, stopped) = watch::channel(false);
        let managers: Arc<[Manager]> = managers.into();
        let spec = Arc::new(self.clone());
        let tasks = (0..self.agents)
            .map(|id| {
                let (managers, history, spec) = (managers.clone(), history.clone(), spec.clone());
                let stopped = stopped.clone();
                tokio::spawn(agent(id, managers, history, spec, stopped))
            })
            .collect();
        Running { stop, tasks }
    }
}

/// Agents at work; [`Running::stop`] ends them after their current call.
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.await.expect("an agent panicked");
        }
    }
}

/// One agent's loop. Its sleeps (a crash's downtime, the backoff after a failure,
/// the think time between calls) are the agent's pace, the load under test, not
/// waits for anything.
async fn agent(
    id: usize,
    managers: Arc<[Manager]>,
    history: History,
    w: Arc<Workload>,
    stopped: watch::Receiver<bool>,
) {
    let mut rng = Rng::new(w.seed ^ (id as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let name = format!("agent-{id:03}");
    let n = managers.len();
    let home = id % n;
    let m = &managers[home];
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // Files this agent believes it holds.
    let mut held: Vec<String> = Vec::new();
    while !*stopped.borrow() {
        let other = if n > 1 {
            (home + 1 + rng.below(n as u64 - 1) as usize) % n
        } else {
            home
        };
        if !held.is_empty() && rng.below(1000) < w.crash_per_mille {
            held.clear();
            let down = rng.between(ms(w.ttl_max), 2 * ms(w.ttl_max));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(down)) => {}
                _ = wait_true(stopped.clone()) => {}
            }
            continue;
        }
        let random_file = w.files[rng.below(w.files.len() as u64) as usize].clone();
        // Per mille: announce, claim, release, force-release, who-has.
        let roll = rng.below(1000);
        let call = if roll < 400 || (roll < 500 && w.files.len() == 1) {
            // Announce: renew one of ours half the time, else try any file.
            let file = if !held.is_empty() && rng.chance(50) {
                held[rng.below(held.len() as u64) as usize].clone()
            } else {
                random_file
            };
            let ttl = Duration::from_millis(rng.between(ms(w.ttl_min), ms(w.ttl_max)));
            let announce = Announce::new(name.clone(), ttl).checkout(format!("/co/{name}"));
            let call = history.announce(m, home, &file, &announce).await;
            held.retain(|f| *f != file);
            if let Outcome::Claimed(_) = call.outcome {
                held.push(file.clone());
                // Visibility probe: another manager must see it at once.
                if rng.chance(30) {
                    history.who_has(&managers[other], other, &file, &name).await;
                }
            }
            call
        } else if roll < 500 {
            // Claim 2 to 4 distinct files, all or nothing (some may be ours: renewed).
            let mut pool = w.files.clone();
            let mut files = Vec::new();
            for _ in 0..rng.between(2, 4.min(pool.len() as u64)) {
                files.push(pool.swap_remove(rng.below(pool.len() as u64) as usize));
            }
            let ttl = Duration::from_millis(rng.between(ms(w.ttl_min), ms(w.ttl_max)));
            let announce = Announce::new(name.clone(), ttl).checkout(format!("/co/{name}"));
            let calls = history.claim(m, home, &files, &announce).await;
            if calls
                .iter()
                .all(|c| matches!(c.outcome, Outcome::Claimed(_)))
            {
                for c in &calls {
                    held.retain(|f| *f != c.file);
                    held.push(c.file.clone());
                }
            }
            calls.into_iter().next().expect("a claim has files")
        } else if roll < 745 {
            // Release: one of ours mostly, else any file (most likely someone else's).
            let file = if !held.is_empty() && rng.chance(70) {
                held[rng.below(held.len() as u64) as usize].clone()
            } else {
                random_file
            };
            held.retain(|f| *f != file);
            history.release(m, home, &file, &name).await
        } else if roll < 750 {
            // An operator force-releases whoever holds a file.
            let by = format!("operator-{id:03}");
            history.force_release(m, home, &random_file, &by).await
        } else {
            history
                .who_has(&managers[other], other, &random_file, &name)
                .await
        };
        if !call.outcome.is_ok() {
            tokio::time::sleep(w.backoff).await;
        }
        let think = rng.between(0, ms(w.think));
        if think > 0 {
            tokio::time::sleep(Duration::from_millis(think)).await;
        }
    }
}

async fn wait_true(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await;
}

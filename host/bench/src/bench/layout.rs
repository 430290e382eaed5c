//! Where the run's processes run: the spawned server and this process pinned to
//! disjoint CPUs (`--server-cpus`, `--bench-cpus`), or sharing every core.

use anyhow::{Context, bail};

/// A CPU list (one option's value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpus(pub Vec<usize>);

/// A CPU list as `taskset -c` takes it: `0`, `0,2`, `1-3`.
pub fn parse_cpus(text: &str) -> Result<Cpus, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{part:?} is not a CPU number or range (e.g. 0, 0,2, 1-3)"))
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            return Err(format!("{part:?} is an empty range"));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(Cpus(cpus))
}

/// The run's layout.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub server_cpus: Option<Vec<usize>>,
    pub bench_cpus: Option<Vec<usize>>,
}

impl Layout {
    /// Refuses CPUs this machine does not have, and overlapping sets.
    pub fn check(&self, spawn: bool) -> anyhow::Result<()> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for (flag, cpus) in [
            ("--server-cpus", &self.server_cpus),
            ("--bench-cpus", &self.bench_cpus),
        ] {
            if let Some(cpus) = cpus
                && let Some(bad) = cpus.iter().find(|&&c| c >= cores)
            {
                bail!(
                    "{flag}: cpu {bad} does not exist (this machine has cpus 0-{})",
                    cores - 1
                );
            }
        }
        if self.server_cpus.is_some() && !spawn {
            bail!(
                "--server-cpus pins the server --spawn starts; a --nats server is pinned by whoever started it"
            );
        }
        if let (Some(s), Some(b)) = (&self.server_cpus, &self.bench_cpus)
            && s.iter().any(|c| b.contains(c))
        {
            bail!("--server-cpus and --bench-cpus overlap: the point is disjoint cores");
        }
        Ok(())
    }

    /// Pin every thread of this process (the runtime's workers exist already;
    /// threads started later inherit the mask).
    pub fn pin_self(&self) -> anyhow::Result<()> {
        let Some(cpus) = &self.bench_cpus else {
            return Ok(());
        };
        for task in
            std::fs::read_dir("/proc/self/task").context("listing this process's threads")?
        {
            let tid: libc::pid_t = task?
                .file_name()
                .to_string_lossy()
                .parse()
                .context("a thread id in /proc/self/task")?;
            holds_nats_fixture::set_affinity(tid, cpus)
                .with_context(|| format!("pinning thread {tid} to cpus {cpus:?}"))?;
        }
        Ok(())
    }

    /// The server and the bench run on disjoint cores.
    pub fn pinned(&self) -> bool {
        self.server_cpus.is_some() && self.bench_cpus.is_some()
    }

    /// What the report says about it.
    pub fn describe(&self) -> String {
        let list = |c: &Option<Vec<usize>>| match c {
            Some(c) => format!("cpus {c:?}"),
            None => "any cpu".to_string(),
        };
        if self.server_cpus.is_none() && self.bench_cpus.is_none() {
            "shared cores (nothing pinned)".into()
        } else {
            format!(
                "server on {}, bench on {}",
                list(&self.server_cpus),
                list(&self.bench_cpus)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_as_taskset_takes_them() {
        assert_eq!(parse_cpus("0"), Ok(Cpus(vec![0])));
        assert_eq!(parse_cpus("2,0"), Ok(Cpus(vec![0, 2])));
        assert_eq!(parse_cpus("1-3,2"), Ok(Cpus(vec![1, 2, 3])));
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("3-1").is_err());
        assert!(parse_cpus("").is_err());
    }
}

//! CMD as `holds run` runs it: leader of a process group of its own, so that what
//! it starts can be stopped with it; given the terminal when holds run has it;
//! killed by the kernel if holds run dies.

use crate::failure::{Failure, exit};
use std::ffi::OsString;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How often a stopping group is looked at for members left.
const POLL: Duration = Duration::from_millis(20);

/// A running CMD and its process group.
pub struct Job {
    child: Child,
    /// CMD's pid, which is also its group's id.
    pgid: libc::pid_t,
    /// The terminal's foreground group to give back when CMD is done.
    terminal: Option<libc::pid_t>,
}

impl Job {
    /// Start `command` with `env` set and `hidden` removed from its environment.
    pub fn spawn(
        command: &[OsString],
        env: &[(&str, &str)],
        hidden: &[&str],
    ) -> Result<Job, Failure> {
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..]).process_group(0);
        for name in hidden {
            cmd.env_remove(name);
        }
        cmd.envs(env.iter().copied());
        // What CMD starts and leaves behind is reparented here, not to init, so
        // its exit is seen (and reaped) when the group is stopped.
        #[cfg(target_os = "linux")]
        // SAFETY: prctl on this process, no pointers.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
        }
        let terminal = foreground_terminal();
        // SAFETY: getpid is async-signal-safe; `parent` is read before the fork.
        let parent = unsafe { libc::getpid() };
        let take_terminal = terminal.is_some();
        // SAFETY: only async-signal-safe calls (prctl, getppid, signal, tcsetpgrp,
        // getpid) run between fork and exec, on values copied before the fork.
        unsafe {
            cmd.pre_exec(move || {
                // If holds run dies, even by SIGKILL, CMD must not go on editing
                // files nobody holds any more.
                #[cfg(target_os = "linux")]
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // holds run may have died before the line above took effect.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("holds run exited"));
                }
                if take_terminal {
                    // Both sides set it, so CMD never reads the terminal from the
                    // background; a background group's tcsetpgrp raises SIGTTOU.
                    libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                    libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
                    libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => exit::NOT_FOUND,
                _ => exit::CANNOT_RUN,
            };
            Failure::with_code(code, anyhow::anyhow!("cannot run {:?}: {e}", command[0]))
        })?;
        let pgid = child.id().expect("a child not yet waited for has a pid") as libc::pid_t;
        if terminal.is_some() {
            set_foreground(pgid);
        }
        Ok(Job {
            child,
            pgid,
            terminal,
        })
    }

    /// Send `signal` to every process of CMD's group.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the group this job leads.
        unsafe {
            libc::kill(-self.pgid, signal);
        }
    }

    /// CMD's exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Is any process of the group left? Called once CMD itself was waited
    /// for: the group's other members that exited (reparented here) are reaped
    /// first, as a zombie still counts as a member.
    fn group_alive(&self) -> bool {
        // SAFETY: waitpid on this job's group only (CMD, its leader, is already
        // reaped, so no status tokio waits for is taken), then kill(2) with
        // signal 0, which only checks the group exists.
        unsafe {
            while libc::waitpid(-self.pgid, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
            libc::kill(-self.pgid, 0) == 0
        }
    }

    /// End the whole group: SIGTERM, then SIGKILL to what is left after `grace`.
    /// `forward` is polled meanwhile, for signals to pass on.
    pub async fn stop(&mut self, grace: Duration, forward: impl AsyncFnMut() -> libc::c_int) {
        self.signal(libc::SIGTERM);
        self.end(grace, forward).await;
    }

    /// After CMD exited: what it started and left in its group gets SIGTERM, then
    /// SIGKILL after `grace`, so nothing edits the files once they are released.
    pub async fn end_group(&mut self, grace: Duration, forward: impl AsyncFnMut() -> libc::c_int) {
        let _ = self.child.wait().await;
        if self.group_alive() {
            self.stop(grace, forward).await;
        }
    }

    async fn end(&mut self, grace: Duration, mut forward: impl AsyncFnMut() -> libc::c_int) {
        let deadline = tokio::time::Instant::now() + grace;
        let mut exited = false;
        loop {
            if exited && !self.group_alive() {
                return;
            }
            tokio::select! {
                _ = self.child.wait(), if !exited => exited = true,
                signal = forward() => self.signal(signal),
                _ = tokio::time::sleep(POLL), if exited => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.signal(libc::SIGKILL);
        let _ = self.child.wait().await;
        // Reap what the kill ended, so nothing of the group outlives holds run.
        let stopped = tokio::time::Instant::now() + Duration::from_secs(1);
        while self.group_alive() && tokio::time::Instant::now() < stopped {
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(group) = self.terminal {
            set_foreground(group);
        }
    }
}

/// holds run's own group when it is the foreground job of the terminal on stdin.
fn foreground_terminal() -> Option<libc::pid_t> {
    // SAFETY: plain queries on stdin's descriptor and this process.
    unsafe {
        let group = libc::getpgrp();
        (libc::isatty(libc::STDIN_FILENO) == 1 && libc::tcgetpgrp(libc::STDIN_FILENO) == group)
            .then_some(group)
    }
}

/// Make `group` the terminal's foreground job (from the background too).
fn set_foreground(group: libc::pid_t) {
    // SAFETY: tcsetpgrp on stdin, with SIGTTOU ignored for the call so a
    // background caller is not stopped; the old disposition is put back.
    unsafe {
        let old = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(libc::STDIN_FILENO, group);
        libc::signal(libc::SIGTTOU, old);
    }
}

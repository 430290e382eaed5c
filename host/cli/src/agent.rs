//! Who an agent is when nobody says (no HOLDS_AGENT): the agent tool's process.
//!
//! Claude Code starts `holds mcp` itself and runs `holds hook claude-code`
//! through a shell, so both find the same process above them: the nearest
//! ancestor that is neither a shell nor holds. Its name, pid and start time name
//! the agent, so one session's MCP holds and edit hook agree on who it is, and
//! two sessions (two processes) never share an identity; the start time keeps a
//! reused pid from inheriting a dead session's holds.

/// Programs that only pass a command on, never the agent tool itself.
const PASS_THROUGH: &[&str] = &["sh", "bash", "dash", "zsh", "fish", "ksh", "env", "holds"];

/// The agent tool process's identity, e.g. `claude-48213-k3x9a`, when the
/// process tree can be read (Linux).
pub fn from_process_tree() -> Option<String> {
    walk(std::os::unix::process::parent_id(), Proc::read)
}

/// The first process from `pid` upwards that is not a pass-through, named.
fn walk(mut pid: u32, read: impl Fn(u32) -> Option<Proc>) -> Option<String> {
    // A bounded walk: process trees are shallow, and /proc may be odd.
    for _ in 0..16 {
        let proc = read(pid)?;
        if !PASS_THROUGH.contains(&proc.comm.as_str()) {
            return Some(format!(
                "{}-{pid}-{}",
                sanitize(&proc.comm),
                base36(proc.start)
            ));
        }
        if proc.ppid <= 1 {
            return None;
        }
        pid = proc.ppid;
    }
    None
}

/// What /proc/PID/stat says of a process.
struct Proc {
    comm: String,
    ppid: u32,
    /// Start time, in clock ticks after boot.
    start: u64,
}

impl Proc {
    fn read(pid: u32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat.get(open + 1..close)?.to_string();
        let fields: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
        // After comm: state (0), ppid (1), ..., starttime (19).
        Some(Proc {
            comm,
            ppid: fields.get(1)?.parse().ok()?,
            start: fields.get(19)?.parse().ok()?,
        })
    }
}

/// A process name as an agent id's part: letters, digits, `-`, `_` and `.`.
fn sanitize(comm: &str) -> String {
    let name: String = comm
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "agent".into()
    } else {
        name
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_as_itself() {
        let me = Proc::read(std::process::id()).expect("Linux has /proc");
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert!(me.start > 0);
    }

    #[test]
    fn shells_and_holds_are_walked_past_to_the_agent_tool() {
        let table = |pid: u32| {
            let (comm, ppid, start) = match pid {
                30 => ("holds", 20, 300),
                20 => ("sh", 10, 200),
                10 => ("claude", 1, 100),
                40 => ("bash", 1, 400),
                _ => return None,
            };
            Some(Proc {
                comm: comm.into(),
                ppid,
                start,
            })
        };
        // The hook (claude -> sh -> holds) and the MCP server (claude -> holds) agree.
        assert_eq!(walk(20, table), Some("claude-10-2s".into()));
        assert_eq!(walk(10, table), Some("claude-10-2s".into()));
        // Only pass-throughs up to init: nobody to name.
        assert_eq!(walk(40, table), None);
        assert_eq!(walk(99, table), None);
    }

    #[test]
    fn names_and_numbers_are_printable() {
        assert_eq!(sanitize("claude"), "claude");
        assert_eq!(sanitize("Web Content"), "Web_Content");
        assert_eq!(sanitize(""), "agent");
        assert_eq!(base36(0), "0");
        assert_eq!(base36(36 * 36 + 35), "10z");
    }
}

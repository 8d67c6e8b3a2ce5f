//! Reading `/proc`: files read to their real end (procfs returns short
//! reads long before EOF), and what a process's `stat` and `status` say
//! about it (command, credentials, the pid it knows itself by, whether it
//! is stopped, when it started).

use crate::access::NodeAccess;

/// One `read` into `buf`, retried on `EINTR`.
pub fn read_once(fd: &impl std::os::fd::AsFd, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(Into::into),
        }
    }
}

/// Read a small file to its end without the extra `statx` of
/// `std::fs::read` (procfs files report size 0).
pub fn read_small_file(path: &str) -> std::io::Result<Vec<u8>> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut out = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == out.len() {
            out.resize(out.len() * 2, 0);
        }
        let n = read_once(&fd, &mut out[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    out.truncate(len);
    Ok(out)
}

/// `command (pid N)`, as far as it is known. The command name is any
/// process's to choose (`prctl(PR_SET_NAME)`): its control characters are
/// escaped, so that no holder can write terminal escapes into an answer.
pub fn proc_label(pid: Option<i32>, command: Option<&str>) -> String {
    let command = command.map(discrec_iso::tree::one_line);
    match (pid, command) {
        (Some(p), Some(c)) => format!("{c} (pid {p})"),
        (Some(p), None) => format!("pid {p}"),
        (None, Some(c)) => c,
        (None, None) => "a process discrec cannot see (in another pid namespace, or not found)".into(),
    }
}

/// The command name of a process (`/proc/PID/comm`).
pub fn command_of(pid: i32) -> Option<String> {
    let b = read_small_file(&format!("/proc/{pid}/comm")).ok()?;
    Some(String::from_utf8_lossy(&b).trim_end().to_string())
}

/// What `/proc/PID/status` and `/proc/PID/stat` say about a live process,
/// as the reader's pid and user namespaces see it. Any user may read both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Effective uid.
    pub euid: u32,
    /// File-system uid: the owner of the files it creates.
    pub fsuid: u32,
    /// Effective gid.
    pub egid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Its pid in its own (innermost) pid namespace: the pid it knows
    /// itself by, which may differ from ours for it in a container.
    pub own_pid: i32,
    /// Stopped (`T`, e.g. Ctrl-Z) or traced (`t`).
    pub stopped: bool,
    /// Start time in clock ticks after boot: tells a reused pid apart.
    pub start_time: u64,
    /// Command name.
    pub command: String,
}

impl ProcInfo {
    /// Whether this process may open `node` for reading and writing.
    pub fn may_open_rw(&self, node: &NodeAccess) -> bool {
        node.allows_rw(self.euid, self.egid, &self.groups)
    }
}

/// How many threads this process has (`Threads:` of `/proc/self/status`).
pub fn threads_of_self() -> Option<u32> {
    let status = read_small_file("/proc/self/status").ok()?;
    let status = String::from_utf8_lossy(&status);
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok())
}

/// Read what [`ProcInfo`] holds for `pid`, or `None` when it is gone.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let status = read_small_file(&format!("/proc/{pid}/status")).ok()?;
    let stat = read_small_file(&format!("/proc/{pid}/stat")).ok()?;
    let (command, start_time) = parse_stat(&String::from_utf8_lossy(&stat))?;
    parse_status(&String::from_utf8_lossy(&status), command, start_time)
}

/// Parse `/proc/PID/status` (with the command and start time from `stat`).
pub fn parse_status(status: &str, command: String, start_time: u64) -> Option<ProcInfo> {
    let field = |name: &str| -> Vec<i64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default()
    };
    let (uid, gid) = (field("Uid:"), field("Gid:"));
    let as_id = |v: Option<&i64>| v.and_then(|&x| u32::try_from(x).ok());
    let state = status.lines().find_map(|l| l.strip_prefix("State:")).map(str::trim).unwrap_or("");
    let nspid = field("NSpid:");
    Some(ProcInfo {
        euid: as_id(uid.get(1))?,
        fsuid: as_id(uid.get(3))?,
        egid: as_id(gid.get(1))?,
        groups: field("Groups:").iter().filter_map(|&g| u32::try_from(g).ok()).collect(),
        own_pid: nspid.last().and_then(|&p| i32::try_from(p).ok()).unwrap_or(0),
        stopped: state.starts_with('T') || state.starts_with('t'),
        start_time,
        command,
    })
}

/// Command name (field 2, in parentheses) and start time (field 22) of
/// `/proc/PID/stat`. The command may itself hold spaces and parentheses.
pub fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let command = stat.get(open + 1..close)?.to_string();
    let start = stat.get(close + 1..)?.split_whitespace().nth(19)?.parse().ok()?;
    Some((command, start))
}

/// The children of `pid`, from `/proc/PID/task/TID/children`.
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for t in tasks.flatten() {
        let path = t.path().join("children");
        let Ok(text) = read_small_file(&path.to_string_lossy()) else { continue };
        for c in String::from_utf8_lossy(&text).split_whitespace().filter_map(|c| c.parse::<i32>().ok()) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// Every descendant of `pid` (children, their children, ...), parents
/// before children.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(p) {
            if !out.contains(&c) && c != pid {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// When process `pid` started (clock ticks since boot), while it exists:
/// with its pid, it names one process, whichever gets the pid later.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = read_small_file(&format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&String::from_utf8_lossy(&stat)).map(|(_, t)| t)
}

/// Whether `pid` exists and has not ended (a zombie has).
pub fn is_running(pid: i32) -> bool {
    match read_small_file(&format!("/proc/{pid}/stat")) {
        // "PID (COMM) S ...": the state follows the last ')'.
        Ok(stat) => {
            let text = String::from_utf8_lossy(&stat);
            text.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .is_some_and(|s| s != 'Z' && s != 'X')
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_cannot_write_terminal_escapes() {
        let label = proc_label(Some(7), Some("\u{1b}[2K\rOK\u{1b}[8m"));
        assert!(!label.chars().any(char::is_control), "{label:?}");
        assert!(label.ends_with("(pid 7)"), "{label:?}");
    }

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "42 (a) b) (c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat(stat), Some(("a) b) (c".to_string(), 98765)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat(")("), None);
    }

    #[test]
    fn status_gives_ids_namespace_pid_and_stopped_state() {
        let status = "Name:\tsleep\nState:\tT (stopped)\nUid:\t1000\t1001\t1002\t1003\n\
                      Gid:\t100\t101\t102\t103\nGroups:\t24 27 \nNSpid:\t4242\t7\n";
        let p = parse_status(status, "sleep".into(), 5).unwrap();
        assert_eq!((p.euid, p.fsuid, p.egid, p.own_pid, p.stopped), (1001, 1003, 101, 7, true));
        assert_eq!(p.groups, vec![24, 27]);
        assert!(parse_status("State:\tS\n", "x".into(), 0).is_none());
    }
}

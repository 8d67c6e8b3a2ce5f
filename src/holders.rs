//! Who holds a drive, as the kernel tells it: `/proc/locks` (every flock,
//! POSIX and OFD lock with its holder's pid; world-readable, cannot be
//! faked), mounts, and the processes that have the node open. Real holders
//! are kept apart from processes that merely have the drive open.

use std::fmt;
use std::fs;
use std::path::PathBuf;

/// The kind of lock `/proc/locks` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// BSD `flock(2)`.
    Flock,
    /// POSIX `fcntl` record lock.
    Posix,
    /// Open file description lock (`F_OFD_SETLK`).
    Ofd,
}

/// One lock from `/proc/locks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    /// flock, POSIX or OFD.
    pub kind: LockKind,
    /// Exclusive (write) or shared (read).
    pub exclusive: bool,
    /// Holder pid as seen from our pid namespace (`None` for OFD locks or
    /// holders outside it).
    pub pid: Option<i32>,
    /// `st_dev` of the file system of the locked inode.
    pub dev: u64,
    /// Locked inode.
    pub ino: u64,
    /// First byte locked.
    pub start: u64,
    /// True when this line is a waiter blocked on the lock, not a holder.
    pub waiting: bool,
}

/// Parse the text of `/proc/locks`. Lines that do not parse are skipped.
pub fn parse_proc_locks(text: &str) -> Vec<LockEntry> {
    text.lines().filter_map(parse_lock_line).collect()
}

fn parse_lock_line(line: &str) -> Option<LockEntry> {
    // "1: FLOCK  ADVISORY  WRITE 1592 fe:00:10010694 0 EOF"
    // "1: -> FLOCK  ADVISORY  WRITE 1600 fe:00:10010694 0 EOF"
    let mut it = line.split_whitespace();
    it.next()?; // ordinal
    let mut kind = it.next()?;
    let waiting = kind == "->";
    if waiting {
        kind = it.next()?;
    }
    let kind = match kind {
        "FLOCK" => LockKind::Flock,
        "POSIX" => LockKind::Posix,
        "OFDLCK" => LockKind::Ofd,
        _ => return None, // LEASE, DELEG, ...
    };
    it.next()?; // ADVISORY / MANDATORY
    let exclusive = match it.next()? {
        "WRITE" => true,
        "READ" => false,
        _ => return None,
    };
    let pid: i32 = it.next()?.parse().ok()?;
    let mut dmi = it.next()?.splitn(3, ':');
    let major = u32::from_str_radix(dmi.next()?, 16).ok()?;
    let minor = u32::from_str_radix(dmi.next()?, 16).ok()?;
    let ino: u64 = dmi.next()?.parse().ok()?;
    let start: u64 = it.next()?.parse().ok()?;
    Some(LockEntry {
        kind,
        exclusive,
        pid: (pid > 0).then_some(pid),
        dev: rustix::fs::makedev(major, minor),
        ino,
        start,
        waiting,
    })
}

/// Read all of `/proc/locks`.
pub fn read_proc_locks() -> std::io::Result<Vec<LockEntry>> {
    let text = read_small_file("/proc/locks")?;
    Ok(parse_proc_locks(&String::from_utf8_lossy(&text)))
}

/// Read `/proc/locks` and keep the locks held (not waited for) on one inode.
pub fn locks_on(dev: u64, ino: u64) -> std::io::Result<Vec<LockEntry>> {
    Ok(read_proc_locks()?.into_iter().filter(|l| l.dev == dev && l.ino == ino && !l.waiting).collect())
}

/// One `read` into `buf`: procfs seq files and our small record files give
/// all they have in one read when the buffer is large enough.
pub fn read_once(fd: &impl std::os::fd::AsFd, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(Into::into),
        }
    }
}

/// Read a small file (procfs) without the extra `statx` and end-of-file
/// read of `std::fs::read`: a read that does not fill the buffer has
/// reached the end; a full buffer is read on until the end.
pub fn read_small_file(path: &str) -> std::io::Result<Vec<u8>> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut out = vec![0u8; 16 * 1024];
    let mut len = 0;
    loop {
        let n = read_once(&fd, &mut out[len..])?;
        len += n;
        if n == 0 || len < out.len() {
            break;
        }
        out.resize(out.len() * 2, 0);
    }
    out.truncate(len);
    Ok(out)
}

/// Something that holds or uses a drive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    /// A file system is mounted from the drive.
    Mount {
        /// Where.
        mount_point: PathBuf,
    },
    /// A process holds a lock on the node.
    Lock {
        /// flock, POSIX or OFD.
        lock: LockKind,
        /// Its pid, when visible.
        pid: Option<i32>,
        /// Its command name.
        command: Option<String>,
    },
    /// A process has the node open; while the exclusive open fails, this is
    /// the likely exclusive holder.
    Open {
        /// Its pid.
        pid: i32,
        /// Its command name.
        command: Option<String>,
    },
    /// A kernel user (device mapper, md, ...) from sysfs `holders/`.
    Kernel {
        /// The holding device's kernel name.
        name: String,
    },
}

impl Holder {
    /// The holder of one lock from `/proc/locks`, with its command name.
    pub fn from_lock(l: &LockEntry) -> Holder {
        Holder::Lock { lock: l.kind, pid: l.pid, command: l.pid.and_then(command_of) }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Mount { mount_point } => write!(f, "mounted at {}", mount_point.display()),
            Holder::Lock { lock, pid, command } => {
                let what = match lock {
                    LockKind::Flock => "flock",
                    LockKind::Posix => "fcntl lock",
                    LockKind::Ofd => "OFD lock",
                };
                write!(f, "{what} held by {}", proc_label(*pid, command.as_deref()))
            }
            Holder::Open { pid, command } => {
                write!(f, "open in {}", proc_label(Some(*pid), command.as_deref()))
            }
            Holder::Kernel { name } => write!(f, "claimed by the kernel device {name}"),
        }
    }
}

/// `command (pid N)`, as far as it is known.
pub fn proc_label(pid: Option<i32>, command: Option<&str>) -> String {
    match (pid, command) {
        (Some(p), Some(c)) => format!("{c} (pid {p})"),
        (Some(p), None) => format!("pid {p}"),
        (None, Some(c)) => c.to_string(),
        (None, None) => "a process in another pid namespace".into(),
    }
}

/// The command name of a process (`/proc/PID/comm`).
pub fn command_of(pid: i32) -> Option<String> {
    let b = read_small_file(&format!("/proc/{pid}/comm")).ok()?;
    Some(String::from_utf8_lossy(&b).trim_end().to_string())
}

/// Facts about a live process used to check owner records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcIdentity {
    /// Owner of `/proc/PID`: the effective uid (root for a non-dumpable
    /// process, see [`ProcIdentity::file_uid_matches`]).
    pub uid: u32,
    /// Start time in clock ticks after boot: tells a reused pid apart.
    pub start_time: u64,
    /// Command name.
    pub command: String,
}

impl ProcIdentity {
    /// Whether a file owned by `file_uid` was created by this process's
    /// user. A non-dumpable process shows as root in `/proc`; then its
    /// real file-system uid is read from its status file.
    pub fn file_uid_matches(&self, pid: i32, file_uid: u32) -> bool {
        file_uid == self.uid || (self.uid == 0 && status_fsuid(pid) == Some(file_uid))
    }
}

/// Uid, start time and command of a live process, or `None` when it is
/// gone: one open of `/proc/PID/stat`, whose inode owner is the uid.
pub fn identity_of(pid: i32) -> Option<ProcIdentity> {
    use std::io::Read;
    let mut f = fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let uid = rustix::fs::fstat(&f).ok()?.st_uid;
    let mut stat = String::with_capacity(512);
    f.read_to_string(&mut stat).ok()?;
    let (command, start_time) = parse_stat(&stat)?;
    Some(ProcIdentity { uid, start_time, command })
}

fn status_fsuid(pid: i32) -> Option<u32> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(4)?.parse().ok()
}

/// Command name (field 2, in parentheses) and start time (field 22) of
/// `/proc/PID/stat`. The command may itself hold spaces and parentheses.
pub fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let command = stat.get(open + 1..close)?.to_string();
    let start = stat[close + 1..].split_whitespace().nth(19)?.parse().ok()?;
    Some((command, start))
}

/// Field 22 of `/proc/PID/stat`, counted after the command in parentheses
/// (which may itself hold spaces and parentheses).
pub fn parse_start_time(stat: &str) -> Option<u64> {
    parse_stat(stat).map(|(_, t)| t)
}

/// Processes (other than us) that have a block device open, as far as
/// `/proc/*/fd` lets us see (all of them as root, our own user's otherwise).
pub fn openers_of(rdev: u64) -> Vec<Holder> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut out = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let hit = fds.flatten().any(|fd| {
            rustix::fs::stat(fd.path())
                .map(|st| {
                    rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::BlockDevice
                        && st.st_rdev == rdev
                })
                .unwrap_or(false)
        });
        if hit {
            out.push(Holder::Open { pid, command: command_of(pid) });
        }
    }
    out
}

/// Kernel holders listed in sysfs (`/sys/dev/block/M:m/holders`).
pub fn kernel_holders(major: u32, minor: u32) -> Vec<Holder> {
    fs::read_dir(format!("/sys/dev/block/{major}:{minor}/holders"))
        .map(|d| d.flatten().map(|e| Holder::Kernel { name: e.file_name().to_string_lossy().into_owned() }).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_holders_and_waiters() {
        let text = "1: FLOCK  ADVISORY  WRITE 1592 fe:00:10010694 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 1600 fe:00:10010694 0 EOF\n\
                    2: POSIX  ADVISORY  READ 77 00:06:94 100 200\n\
                    3: OFDLCK ADVISORY  WRITE -1 00:06:94 0 EOF\n\
                    4: LEASE  ACTIVE    READ 12 00:06:94 0 EOF\n\
                    garbage line\n";
        let l = parse_proc_locks(text);
        assert_eq!(l.len(), 4);
        assert_eq!(l[0].pid, Some(1592));
        assert_eq!(l[0].dev, rustix::fs::makedev(0xfe, 0));
        assert_eq!(l[0].ino, 10010694);
        assert!(!l[0].waiting && l[1].waiting);
        assert_eq!((l[2].kind, l[2].exclusive, l[2].start), (LockKind::Posix, false, 100));
        assert_eq!((l[3].kind, l[3].pid), (LockKind::Ofd, None));
    }

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "42 (a) b) (c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_start_time(stat), Some(98765));
        assert_eq!(parse_stat(stat), Some(("a) b) (c".to_string(), 98765)));
        assert_eq!(parse_start_time("garbage"), None);
    }
}

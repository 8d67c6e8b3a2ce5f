//! Who holds a drive, as the kernel tells it: `/proc/locks` (every flock,
//! POSIX and OFD lock with its holder's pid; world-readable, cannot be
//! faked), mounts, and the processes that have the node open. Real holders
//! are kept apart from processes that merely have the drive open.

use std::fmt;
use std::fs;

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

/// The kernel's table of every lock on the machine.
pub const PROC_LOCKS: &str = "/proc/locks";

/// Read all of `/proc/locks`, to its real end.
pub fn read_proc_locks() -> std::io::Result<Vec<LockEntry>> {
    let mut out = Vec::new();
    scan_proc_locks(|l| {
        out.push(l);
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// Go through `/proc/locks` entry by entry until `f` says stop or the
/// table ends. It is a seq file: the kernel hands out at most one page per
/// `read`, whatever the buffer, and walks its lock list from the start on
/// every `read` (a table of 50,000 locks takes about 700 reads and 130 ms
/// here), so a short read is not the end (only a read of 0 bytes is) and
/// stopping early saves real time. New locks are put at the head of
/// their CPU's list, so a lock just taken tends to come early.
pub fn scan_proc_locks(mut f: impl FnMut(LockEntry) -> std::ops::ControlFlow<()>) -> std::io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(PROC_LOCKS, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0;
    loop {
        if len == buf.len() {
            // One line longer than the buffer: not a lock line; grow anyway.
            buf.resize(buf.len() * 2, 0);
        }
        let n = read_once(&fd, &mut buf[len..])?;
        len += n;
        // Every complete line in the buffer.
        let mut used = 0;
        while let Some(nl) = buf[used..len].iter().position(|&b| b == b'\n') {
            let line = &buf[used..used + nl];
            used += nl + 1;
            if let Some(entry) = std::str::from_utf8(line).ok().and_then(parse_lock_line) {
                if f(entry).is_break() {
                    return Ok(());
                }
            }
        }
        if n == 0 {
            // The end; a last line without a newline.
            if let Some(entry) = std::str::from_utf8(&buf[used..len]).ok().and_then(parse_lock_line) {
                let _ = f(entry);
            }
            return Ok(());
        }
        buf.copy_within(used..len, 0);
        len -= used;
    }
}

/// The exclusive holder of the inode `(dev, ino)`: its `flock` holder
/// (there is at most one), else the first exclusive POSIX or OFD lock.
/// Stops reading at the `flock` holder.
pub fn exclusive_holder(dev: u64, ino: u64) -> std::io::Result<Option<LockEntry>> {
    let mut fcntl = None;
    let mut flock = None;
    scan_proc_locks(|l| {
        if l.waiting || !l.exclusive || l.dev != dev || l.ino != ino {
            return std::ops::ControlFlow::Continue(());
        }
        if l.kind == LockKind::Flock {
            flock = Some(l);
            return std::ops::ControlFlow::Break(());
        }
        fcntl.get_or_insert(l);
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(flock.or(fcntl))
}

/// Read `/proc/locks` and keep the locks held (not waited for) on one inode.
pub fn locks_on(dev: u64, ino: u64) -> std::io::Result<Vec<LockEntry>> {
    let mut out = Vec::new();
    scan_proc_locks(|l| {
        if l.dev == dev && l.ino == ino && !l.waiting {
            out.push(l);
        }
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(out)
}

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

/// Something that holds or uses a drive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    /// A file system is mounted from the drive.
    Mount {
        /// The mount, with the namespace it is in when that is not ours.
        #[serde(flatten)]
        mount: crate::mounts::Mount,
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
            Holder::Mount { mount } => write!(f, "mounted at {mount}"),
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

/// Who may open a node for reading and writing: its owner, group, mode
/// bits and POSIX access ACL (`system.posix_acl_access`, readable by
/// anyone who can reach the node), read once per question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAccess {
    uid: u32,
    gid: u32,
    mode: u32,
    /// (tag, permission bits, id) of each ACL entry; empty without an ACL.
    acl: Vec<(u16, u16, u32)>,
}

const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;

impl NodeAccess {
    /// The node at `path`, whose `stat` is `st`.
    pub fn of(path: &std::path::Path, st: &rustix::fs::Stat) -> NodeAccess {
        let mut buf = [0u8; 1024];
        let acl = match rustix::fs::getxattr(path, "system.posix_acl_access", &mut buf[..]) {
            Ok(n) => parse_acl(&buf[..n.min(buf.len())]),
            Err(_) => Vec::new(),
        };
        NodeAccess { uid: st.st_uid, gid: st.st_gid, mode: st.st_mode, acl }
    }

    /// Whether a process with these credentials may open the node for
    /// reading and writing, as the kernel decides (POSIX.1e: owner, then
    /// named users, then the owning and named groups, then others; named
    /// entries and groups limited by the mask). Root may.
    pub fn allows_rw(&self, euid: u32, egid: u32, groups: &[u32]) -> bool {
        let rw = |perm: u32| perm & 6 == 6;
        if euid == 0 {
            return true;
        }
        if euid == self.uid {
            return rw(self.mode >> 6);
        }
        let in_group = |g: u32| egid == g || groups.contains(&g);
        if self.acl.is_empty() {
            return if in_group(self.gid) { rw(self.mode >> 3) } else { rw(self.mode) };
        }
        let mask = self.acl.iter().find(|e| e.0 == ACL_MASK).map(|e| u32::from(e.1)).unwrap_or(7);
        if let Some(e) = self.acl.iter().find(|e| e.0 == ACL_USER && e.2 == euid) {
            return rw(u32::from(e.1) & mask);
        }
        let matched: Vec<u32> = self
            .acl
            .iter()
            .filter(|e| (e.0 == ACL_GROUP_OBJ && in_group(self.gid)) || (e.0 == ACL_GROUP && in_group(e.2)))
            .map(|e| u32::from(e.1) & mask)
            .collect();
        if !matched.is_empty() {
            return matched.into_iter().any(rw);
        }
        self.acl.iter().find(|e| e.0 == ACL_OTHER).is_some_and(|e| rw(u32::from(e.1)))
    }

    /// [`NodeAccess::allows_rw`] when the uid alone decides it (root, the
    /// owner, or everyone may, with no ACL); `None` when groups matter.
    pub fn allows_rw_by_uid(&self, euid: u32) -> Option<bool> {
        if euid == 0 {
            return Some(true);
        }
        if euid == self.uid {
            return Some(self.mode & 0o600 == 0o600);
        }
        (self.acl.is_empty() && self.mode & 0o006 == 0o006).then_some(true)
    }
}

/// Parse the `system.posix_acl_access` value: a little-endian version 2
/// header, then 8-byte entries (tag, permissions, id). Anything else is
/// no ACL.
pub fn parse_acl(b: &[u8]) -> Vec<(u16, u16, u32)> {
    if b.len() < 4 || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) != 2 {
        return Vec::new();
    }
    b[4..]
        .chunks_exact(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .filter(|e| matches!(e.0, ACL_USER_OBJ | ACL_USER | ACL_GROUP_OBJ | ACL_GROUP | ACL_MASK | ACL_OTHER))
        .collect()
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

    #[test]
    fn acl_decides_like_the_kernel() {
        let entry = |tag: u16, perm: u16, id: u32| {
            let mut v = tag.to_le_bytes().to_vec();
            v.extend(perm.to_le_bytes());
            v.extend(id.to_le_bytes());
            v
        };
        // 0666 file of uid 1000 with: user 2000 read only, group 50 rw, mask rw.
        let mut b = 2u32.to_le_bytes().to_vec();
        for e in
            [entry(1, 6, 0), entry(2, 4, 2000), entry(4, 6, 0), entry(8, 6, 50), entry(0x10, 6, 0), entry(0x20, 6, 0)]
        {
            b.extend(e);
        }
        let a = NodeAccess { uid: 1000, gid: 100, mode: 0o100666, acl: parse_acl(&b) };
        assert_eq!(a.acl.len(), 6);
        assert!(a.allows_rw(1000, 1, &[]), "owner");
        assert!(!a.allows_rw(2000, 1, &[]), "a named user with read only, though others may write");
        assert!(a.allows_rw(3000, 50, &[]), "a named group");
        assert!(a.allows_rw(3000, 1, &[100]), "the owning group");
        assert!(a.allows_rw(3000, 1, &[]), "others");
        assert!(a.allows_rw(0, 0, &[]), "root");
        assert_eq!(a.allows_rw_by_uid(2000), None, "an ACL: groups and named users matter");
        // No ACL: the mode bits.
        let m = NodeAccess { uid: 1000, gid: 100, mode: 0o100640, acl: Vec::new() };
        assert!(!m.allows_rw(3000, 100, &[]) && !m.allows_rw(3000, 1, &[]) && m.allows_rw(1000, 1, &[]));
        assert!(parse_acl(b"garbage").is_empty() && parse_acl(&[]).is_empty());
    }

    #[test]
    fn scan_reads_past_short_reads() {
        // The real table, read to its end, has at least the lock we hold.
        let f = tempfile_in_tmp();
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).unwrap();
        let st = rustix::fs::fstat(&f).unwrap();
        let h = exclusive_holder(st.st_dev, st.st_ino).unwrap().expect("our lock is in /proc/locks");
        assert_eq!(h.pid, Some(rustix::process::getpid().as_raw_nonzero().get()));
    }

    fn tempfile_in_tmp() -> std::fs::File {
        let p = std::env::temp_dir().join(format!("discrec-holders-test.{}", std::process::id()));
        let f = std::fs::File::create(&p).unwrap();
        let _ = std::fs::remove_file(&p);
        f
    }
}

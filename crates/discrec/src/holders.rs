//! Who holds a drive, as the kernel tells it: `/proc/locks` (every flock,
//! POSIX and OFD lock with its holder's pid; world-readable, cannot be
//! faked), mounts, and the processes that have the node open. Real holders
//! are kept apart from processes that merely have the drive open.

use std::fmt;
use std::fs;

use crate::mounts::Mount;
use crate::procfs::{command_of, proc_label, read_once};

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
    /// Last byte locked (`None`: to the end of the file, `EOF`).
    pub end: Option<u64>,
    /// True when this line is a waiter blocked on the lock, not a holder.
    pub waiting: bool,
}

/// Parse the text of `/proc/locks`. Lines that do not parse are skipped.
pub fn parse_proc_locks(text: &str) -> Vec<LockEntry> {
    text.lines().filter_map(parse_lock_line).collect()
}

pub(crate) fn parse_lock_line(line: &str) -> Option<LockEntry> {
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
    let end = match it.next()? {
        "EOF" => None,
        e => Some(e.parse().ok()?),
    };
    Some(LockEntry {
        kind,
        exclusive,
        pid: (pid > 0).then_some(pid),
        dev: rustix::fs::makedev(major, minor),
        ino,
        start,
        end,
        waiting,
    })
}

/// The kernel's table of every lock on the machine.
pub const PROC_LOCKS: &str = "/proc/locks";

/// A one-byte open-file-description write lock on a drive's node in the
/// range from this offset ([`HINT_LEN`] bytes) is a hint, not a hold: a
/// discrec client that is about to take the drive marks it so for udev
/// ([`crate::udev`]). Hints are never reported as holders, and the probe
/// for programs that lock the node (libburn locks it whole) passes over
/// them; every other lock, there or anywhere, counts.
pub const HINT_START: u64 = 1 << 62;

/// How many bytes the hint range spans.
pub const HINT_LEN: u64 = 1 << 40;

/// Whether an exclusive open-file-description lock (`ofd_write`) from
/// `start` to `end` is a hint: one byte in the hint range.
pub(crate) fn is_hint(ofd_write: bool, start: u64, end: Option<u64>) -> bool {
    ofd_write && end == Some(start) && (HINT_START..HINT_START + HINT_LEN).contains(&start)
}

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
                if entry.is_hint() {
                    continue;
                }
                if f(entry).is_break() {
                    return Ok(());
                }
            }
        }
        if n == 0 {
            // The end; a last line without a newline.
            if let Some(entry) = std::str::from_utf8(&buf[used..len]).ok().and_then(parse_lock_line) {
                if !entry.is_hint() {
                    let _ = f(entry);
                }
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

/// The locks `/proc/PID/fdinfo/FD` lists at `path` (those held through
/// that descriptor's open file; the kernel writes them as `/proc/locks`
/// does, after `lock:`). `PermissionDenied` when the process is not ours
/// to look at (the file is ptrace-guarded).
pub(crate) fn fdinfo_locks(path: &str) -> std::io::Result<Vec<LockEntry>> {
    let info = crate::procfs::read_small_file(path)?;
    Ok(String::from_utf8_lossy(&info)
        .lines()
        .filter_map(|l| l.strip_prefix("lock:"))
        .filter_map(|l| parse_lock_line(l.trim_start()))
        .collect())
}

impl LockEntry {
    /// Whether this is a hint (see [`HINT_START`]), not a hold.
    pub fn is_hint(&self) -> bool {
        is_hint(self.kind == LockKind::Ofd && self.exclusive, self.start, self.end)
    }

    /// Whether this is a held (not waited for) exclusive `flock` on the
    /// file `(dev, ino)`.
    pub fn is_exclusive_flock_on(&self, dev: u64, ino: u64) -> bool {
        self.kind == LockKind::Flock && self.exclusive && !self.waiting && (self.dev, self.ino) == (dev, ino)
    }
}

/// Whether process `pid` has a descriptor of the file `(dev, ino)` whose
/// open file holds an exclusive `flock` on it (its `fdinfo` lists the
/// lock): `None` when we may not look (`/proc/PID/fd` is ptrace-guarded:
/// root and the process's own user may), or when it has more descriptors
/// than [`SEARCH_FDS`] and we gave up.
pub fn holds_flock_on(pid: i32, dev: u64, ino: u64) -> Option<bool> {
    holds_flock_within(pid, dev, ino, &mut Budget::search())
}

/// How much of `/proc` a search for a holder may look at: any user can
/// open a million descriptors, and a search that stats them all would make
/// every query about a drive wait for it.
struct Budget {
    fds: usize,
    until: Option<std::time::Instant>,
    spent: bool,
}

impl Budget {
    /// [`SEARCH_FDS`] descriptors within [`SEARCH_TIME`].
    fn search() -> Budget {
        Budget { fds: SEARCH_FDS, until: Some(std::time::Instant::now() + SEARCH_TIME), spent: false }
    }

    /// One more descriptor looked at; false once the budget is spent.
    fn spend(&mut self) -> bool {
        self.fds = self.fds.saturating_sub(1);
        if self.fds == 0 || self.until.is_some_and(|u| std::time::Instant::now() >= u) {
            self.spent = true;
        }
        !self.spent
    }
}

fn holds_flock_within(pid: i32, dev: u64, ino: u64, budget: &mut Budget) -> Option<bool> {
    let fds = match fs::read_dir(format!("/proc/{pid}/fd")) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return None,
        Err(_) => return Some(false),
    };
    let mut unsure = false;
    for fd in fds.flatten() {
        if !budget.spend() {
            return None;
        }
        // stat through the link: the file itself, with nothing opened.
        let Ok(st) = rustix::fs::stat(fd.path()) else { continue };
        if (st.st_dev, st.st_ino) != (dev, ino) {
            continue;
        }
        match fdinfo_locks(&format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy())) {
            Ok(locks) if locks.iter().any(|l| l.is_exclusive_flock_on(dev, ino)) => return Some(true),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => unsure = true,
            Err(_) => {}
        }
    }
    (!unsure).then_some(false)
}

/// The most descriptors a search of `/proc` for a lock's holder looks at
/// (see [`live_flock_holder`]).
pub const SEARCH_FDS: usize = 20_000;
/// The longest time a search of `/proc` for a lock's holder takes.
pub const SEARCH_TIME: std::time::Duration = std::time::Duration::from_millis(20);

/// The holder of the exclusive `flock` on `(dev, ino)` whose pid
/// `/proc/locks` gives as `pid` (the process that took it). That process
/// if it holds it, or if it runs and we may not look. Else (it has exited
/// while a descendant keeps its descriptor: `sh -c 'flock 3; ...'`, a
/// command left in the background; or another process has its pid now)
/// the first process we may look at (all, as root) whose `fdinfo` shows
/// the lock, within [`SEARCH_FDS`] descriptors and [`SEARCH_TIME`]. When
/// none is found: the taker's pid if it has ended (its locks go a moment
/// after it: callers try again), else `None` (the pid is another
/// process's, which must not be named).
pub fn live_flock_holder(pid: Option<i32>, dev: u64, ino: u64) -> Option<i32> {
    let mut unchecked = None;
    if let Some(p) = pid.filter(|&p| crate::procfs::is_running(p)) {
        match holds_flock_on(p, dev, ino) {
            Some(true) => return Some(p),
            None => unchecked = Some(p),
            Some(false) => {}
        }
    }
    let mut budget = Budget::search();
    let found = fs::read_dir("/proc").ok().and_then(|procs| {
        procs
            .flatten()
            .filter_map(|p| p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
            .filter(|&p| Some(p) != pid)
            .find(|&p| budget.spent || holds_flock_within(p, dev, ino, &mut budget) == Some(true))
            .filter(|_| !budget.spent)
    });
    found.or(unchecked).or(pid.filter(|&p| !crate::procfs::is_running(p)))
}

/// Something that holds or uses a drive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    /// A file system is mounted from the drive.
    Mount {
        /// The mount, with the namespace it is in when that is not ours.
        #[serde(flatten)]
        mount: Mount,
    },
    /// A process holds a lock on the node.
    Lock {
        /// flock, POSIX or OFD.
        lock: LockKind,
        /// Its pid, when visible.
        pid: Option<i32>,
        /// Its command name.
        command: Option<String>,
        /// The user it runs as, when visible.
        user: Option<String>,
    },
    /// A process has the node open; while the exclusive open fails, this is
    /// the likely exclusive holder.
    Open {
        /// Its pid.
        pid: i32,
        /// Its command name.
        command: Option<String>,
        /// The user it runs as, when visible.
        user: Option<String>,
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
        Holder::Lock { lock: l.kind, pid: l.pid, command: l.pid.and_then(command_of), user: l.pid.and_then(user_of) }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Mount { mount } => write!(f, "mounted at {mount}"),
            Holder::Lock { lock, pid, command, user } => {
                let what = match lock {
                    LockKind::Flock => "flock",
                    LockKind::Posix => "fcntl lock",
                    LockKind::Ofd => "OFD lock",
                };
                write!(f, "{what} held by {}", proc_label(*pid, command.as_deref()))?;
                by_user(f, user)
            }
            Holder::Open { pid, command, user } => {
                write!(f, "open in {}", proc_label(Some(*pid), command.as_deref()))?;
                by_user(f, user)
            }
            Holder::Kernel { name } => write!(f, "claimed by the kernel device {name}"),
        }
    }
}

/// `, user NAME` when the user is known: any user who can read an image
/// file can lock it, and the one in the way is named.
fn by_user(f: &mut fmt::Formatter<'_>, user: &Option<String>) -> fmt::Result {
    match user {
        Some(u) => write!(f, ", user {u}"),
        None => Ok(()),
    }
}

/// The name of the user process `pid` runs as (its effective uid).
fn user_of(pid: i32) -> Option<String> {
    crate::procfs::proc_info(pid).and_then(|p| crate::users::name_of(p.euid))
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
            out.push(Holder::Open { pid, command: command_of(pid), user: user_of(pid) });
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

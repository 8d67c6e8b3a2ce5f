//! The cross-process lock of a drive.
//!
//! Two kernel objects, both owned by open file descriptions of the holder,
//! so exit, `SIGKILL`, panic or abort all free the drive (spec C6):
//!
//! * an exclusive `flock` on the drive's canonical node: arbitration among
//!   discrec clients, the holder's pid in `/proc/locks`, and the lock
//!   systemd-udevd and `udevadm lock` already respect on block devices;
//! * for block devices, an `O_EXCL` open: the kernel's own exclusive claim,
//!   which makes `mount` and every other `O_EXCL` opener (libburn, xorriso,
//!   cdrskin, growisofs) fail with `EBUSY`.
//!
//! Waiting is fair: a waiter takes a ticket (a file `KEY.q.TICKET.PID` in
//! the runtime directory, kept `flock`ed while it waits) and tries the drive
//! only when no live, checked waiter holds an older ticket. Waiters sleep in
//! `poll` on inotify: the holder's release or death closes its descriptor
//! on the node, which wakes them within microseconds.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::holders::{self, Holder, LockKind};
use crate::mounts::{self, Mount};
use crate::owner::{self, WrittenRecord};
use crate::target::{DriveKey, Target};

/// How long a plain (non-waiting) acquire retries when it meets a transient
/// opener (udev's `cdrom_id` opens with `O_EXCL` for a few ms after each
/// media change; udevd takes a shared `flock` while it probes).
pub const TRANSIENT_GRACE: Duration = Duration::from_millis(500);

/// Longest sleep between checks while waiting, for changes that no inotify
/// event announces (an unmount, a foreign `LOCK_UN` without close).
const RECHECK: Duration = Duration::from_millis(50);

/// Orders record writes against releases within this process. Two handles
/// of one process write the same record name (`KEY.PID`); a release drops
/// the lock and removes its record in one step under this mutex, so a
/// handle that wins the lock right after cannot have its fresh record
/// removed by the old holder.
static RECORD_ORDER: Mutex<()> = Mutex::new(());

fn record_order() -> std::sync::MutexGuard<'static, ()> {
    RECORD_ORDER.lock().unwrap_or_else(|e| e.into_inner())
}

/// A held drive.
#[derive(Debug)]
pub(crate) struct Held {
    lock_fd: OwnedFd,
    claim_fd: Option<OwnedFd>,
    record: Option<WrittenRecord>,
    /// Mounts that `force` could not remove (spec C3).
    pub still_mounted: Vec<Mount>,
    /// Why no owner record was written, if none was.
    pub record_error: Option<String>,
}

impl Held {
    /// Give up the kernel claim while keeping the lock, so that a wrapped
    /// tool can open the device with `O_EXCL` itself.
    pub fn drop_claim(&mut self) {
        self.claim_fd = None;
    }

    /// Whether the kernel claim is held.
    pub fn has_claim(&self) -> bool {
        self.claim_fd.is_some()
    }

    /// Release: the lock goes first (readers then see the drive free), then
    /// the record, in one step under [`RECORD_ORDER`].
    pub fn release(self) {
        let Held { lock_fd, claim_fd, record, .. } = self;
        let _order = record_order();
        drop(claim_fd);
        drop(lock_fd);
        if let Some(r) = record {
            r.remove();
        }
    }
}

/// How long to keep trying.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patience {
    /// Fail at once on a real holder; retry transient openers briefly.
    NoWait,
    /// Wait until the instant, or forever.
    Until(Option<Instant>),
}

/// Why one try did not get the drive.
enum Miss {
    /// Held by someone; waiting may help. `transient` marks udev-style
    /// short holders that even a plain acquire retries.
    Busy { err: Error, transient: bool },
    /// Waiting will not help.
    Fatal(Error),
}

/// Acquire the drive.
pub(crate) fn acquire(target: &Target, run_dir: &Path, force: bool, client: &str, patience: Patience) -> Result<Held> {
    check_access(target)?;
    let lock_fd = open_node(target)?;
    let waiting = matches!(patience, Patience::Until(_));
    let start = Instant::now();
    let limit = match patience {
        Patience::NoWait => Some(start + TRANSIENT_GRACE),
        Patience::Until(t) => t,
    };
    let expired = || limit.is_some_and(|l| Instant::now() >= l);
    let mut pause = Pause::default();
    let ticket = if waiting { Ticket::join(run_dir, target.key).ok() } else { None };

    // Phase 1: the flock. At the deadline one last try is made in any case.
    loop {
        let my_turn = ticket.as_ref().is_none_or(|t| !t.has_predecessor(target));
        if my_turn || expired() {
            match try_flock(&lock_fd, target, run_dir, !waiting) {
                Ok(()) => break,
                Err(Miss::Fatal(e)) => return Err(e),
                Err(Miss::Busy { err, transient }) => {
                    if (!waiting && !transient) || expired() {
                        return Err(err);
                    }
                }
            }
        }
        pause.wait(target, run_dir, limit);
    }
    drop(ticket);

    // We hold the flock: publish the owner record.
    let since = SystemTime::now();
    let (record, record_error) = {
        let _order = record_order();
        match owner::write_record(run_dir, target.key, &target.node, client, since) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    let mut held = Held { lock_fd, claim_fd: None, record, still_mounted: Vec::new(), record_error };

    // Phase 2: foreign locks, mounts and the kernel claim, holding the
    // lock meanwhile.
    loop {
        match settle(target, force, &mut held) {
            Ok(()) => return Ok(held),
            Err(Miss::Fatal(err)) => {
                held.release();
                return Err(err);
            }
            Err(Miss::Busy { err, transient }) => {
                if (!waiting && !transient) || expired() {
                    held.release();
                    return Err(err);
                }
            }
        }
        pause.wait(target, run_dir, limit);
    }
}

/// Only a client that may open the drive for reading and writing may lock
/// it: nobody can hold up a drive they could not use.
fn check_access(target: &Target) -> Result<()> {
    use rustix::fs::{Access, AtFlags};
    rustix::fs::accessat(rustix::fs::CWD, &target.node, Access::READ_OK | Access::WRITE_OK, AtFlags::EACCESS).map_err(
        |e| match e {
            Errno::ROFS => Error::PermissionDenied {
                target: target.given.clone(),
                source: std::io::Error::other("it is on a read-only file system"),
            },
            e => Error::io(&target.given, "cannot open", e.into()),
        },
    )
}

/// Open the node for locking: read-only, non-blocking (no medium needed).
pub(crate) fn open_node(target: &Target) -> Result<OwnedFd> {
    rustix::fs::open(&target.node, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())
        .map_err(|e| Error::io(&target.given, "cannot open", e.into()))
}

/// `patient`: see [`crate::recorder::query_owner`]; a waiting caller tries
/// again anyway and must not sleep here.
fn try_flock(fd: &OwnedFd, target: &Target, run_dir: &Path, patient: bool) -> std::result::Result<(), Miss> {
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(Errno::WOULDBLOCK) => Err(contention(target, run_dir, patient)),
        Err(e) => Err(Miss::Fatal(Error::io(&target.given, "cannot lock", e.into()))),
    }
}

/// Who is in the way, as an error.
fn contention(target: &Target, run_dir: &Path, patient: bool) -> Miss {
    let view = match target.stat_node().and_then(|st| crate::recorder::query_owner(target, run_dir, &st, patient)) {
        Ok(v) => v,
        Err(e) => return Miss::Fatal(e),
    };
    match view.owner {
        Some(owner) if owner.by_discrec => Miss::Busy {
            err: Error::RecorderLocked { target: target.given.clone(), owner: Box::new(owner) },
            transient: false,
        },
        Some(owner) => {
            // The kind of lock the foreign holder has, from the same read.
            let lock = view
                .node_locks
                .iter()
                .find(|l| l.exclusive && l.pid == owner.pid)
                .map(|l| l.kind)
                .unwrap_or(LockKind::Flock);
            Miss::Busy {
                err: Error::DeviceInUse {
                    target: target.given.clone(),
                    holders: vec![Holder::Lock { lock, pid: owner.pid, command: owner.command }],
                    advice: "wait for that program to finish, or stop it",
                },
                transient: false,
            }
        }
        // Nobody holds it exclusively: a shared flock (udevd probing) or the
        // holder let go meanwhile. Try again.
        None => Miss::Busy {
            err: Error::DeviceInUse {
                target: target.given.clone(),
                holders: view.node_locks.iter().map(Holder::from_lock).collect(),
                advice: "it is being probed; try again in a moment",
            },
            transient: true,
        },
    }
}

/// With the lock held: refuse foreign record locks, deal with mounts, then
/// take the kernel claim.
fn settle(target: &Target, force: bool, held: &mut Held) -> std::result::Result<(), Miss> {
    // flock and fcntl locks do not conflict, so a tool that only takes an
    // fcntl lock (libburn does, beside O_EXCL) is found in /proc/locks.
    if let Ok(st) = rustix::fs::fstat(&held.lock_fd) {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let foreign: Vec<Holder> = holders::locks_on(st.st_dev, st.st_ino)
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.exclusive && !(l.kind == LockKind::Flock && l.pid == Some(me)))
            .map(|l| Holder::from_lock(&l))
            .collect();
        if !foreign.is_empty() {
            return Err(Miss::Busy {
                err: Error::DeviceInUse {
                    target: target.given.clone(),
                    holders: foreign,
                    advice: "wait for that program to finish, or stop it",
                },
                transient: false,
            });
        }
    }
    // Files (virtual recorders) have no mounts and no kernel claim.
    let DriveKey::Block { major, minor } = target.key else { return Ok(()) };
    let devs = target.device_numbers();
    let mounted = mounts::mounts_of(&devs);
    held.still_mounted.clear();
    if !mounted.is_empty() {
        if !force {
            return Err(Miss::Busy {
                err: Error::DeviceInUse {
                    target: target.given.clone(),
                    holders: mounted.into_iter().map(|m| Holder::Mount { mount_point: m.mount_point }).collect(),
                    advice: "unmount it, or acquire with force (`discrec lock --force`) to have discrec unmount it",
                },
                transient: false,
            });
        }
        held.still_mounted = mounts::unmount_all(&devs).into_iter().map(|(m, _)| m).collect();
    }
    let claim = rustix::fs::open(
        &target.node,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::EXCL,
        Mode::empty(),
    );
    match claim {
        Ok(fd) => {
            held.claim_fd = Some(fd);
            Ok(())
        }
        // A busy mount that force could not remove holds the claim: grant
        // anyway and report the volume as still mounted (spec C3).
        Err(Errno::BUSY) if !held.still_mounted.is_empty() => Ok(()),
        Err(Errno::BUSY) => {
            let again = mounts::mounts_of(&devs);
            if !again.is_empty() {
                // Mounted between our check and the claim.
                return Err(Miss::Busy {
                    err: Error::DeviceInUse {
                        target: target.given.clone(),
                        holders: again.into_iter().map(|m| Holder::Mount { mount_point: m.mount_point }).collect(),
                        advice: "unmount it, or acquire with force",
                    },
                    transient: !force,
                });
            }
            let mut who = holders::kernel_holders(major, minor);
            who.extend(holders::openers_of(rustix::fs::makedev(major, minor)));
            Err(Miss::Busy {
                err: Error::DeviceInUse {
                    target: target.given.clone(),
                    holders: who,
                    advice: "another program has it open exclusively; wait for it to finish",
                },
                // Short exclusive opens (cdrom_id) are retried briefly.
                transient: true,
            })
        }
        Err(e) => Err(Miss::Fatal(Error::io(&target.given, "cannot open exclusively", e.into()))),
    }
}

/// Re-checks after a wake-up whose try failed. The kernel sends the close
/// event of a dying or releasing holder (`fsnotify_close` in `__fput`) a
/// moment before it removes that holder's locks, so a waiter woken by it
/// can be a few microseconds early; it looks again soon instead of
/// sleeping a whole [`RECHECK`].
const QUICK: [Duration; 7] = [
    Duration::from_micros(20),
    Duration::from_micros(50),
    Duration::from_micros(100),
    Duration::from_micros(200),
    Duration::from_micros(400),
    Duration::from_micros(800),
    Duration::from_micros(1600),
];

/// Sleeping between tries until something that may free the drive happens.
#[derive(Default)]
struct Pause {
    watcher: Option<Watcher>,
    armed: bool,
    /// Index into [`QUICK`] after an event; `None` when idle.
    after_event: Option<usize>,
}

impl Pause {
    /// The first call only sets up the watches and returns, so that the
    /// caller's next try comes after them and no event is lost in between.
    fn wait(&mut self, target: &Target, run_dir: &Path, limit: Option<Instant>) {
        if !self.armed {
            self.armed = true;
            self.watcher = Watcher::new(&target.node, run_dir).ok();
            return;
        }
        let mut span = match self.after_event {
            Some(i) if i < QUICK.len() => QUICK[i],
            _ => RECHECK,
        };
        if let Some(l) = limit {
            span = span.min(l.saturating_duration_since(Instant::now()));
        }
        match &mut self.watcher {
            Some(w) => {
                let woke = w.wait(span);
                self.after_event = if woke { Some(0) } else { self.after_event.map(|i| i + 1) };
            }
            None => std::thread::sleep(span.min(Duration::from_millis(2))),
        }
    }
}

/// Idle inotify instances, kept for the next wait: closing one destroys
/// its fsnotify group, which waits for an SRCU grace period (measured at
/// 7-15 ms here), and that delay would land between a waiter winning the
/// drive and its acquire returning. Removing a watch does not wait.
static IDLE_INOTIFY: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());
const MAX_IDLE_INOTIFY: usize = 4;

/// inotify on the node (any close: a holder released or died) and on the
/// runtime directory (records and tickets removed or closed).
struct Watcher {
    fd: Option<OwnedFd>,
    watches: Vec<i32>,
}

impl Watcher {
    fn new(node: &Path, run_dir: &Path) -> std::io::Result<Watcher> {
        use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
        let pooled = IDLE_INOTIFY.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let fd = match pooled {
            Some(fd) => fd,
            None => inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?,
        };
        let mut w = Watcher { fd: Some(fd), watches: Vec::new() };
        let fd = w.fd.as_ref().expect("just set");
        w.watches.push(inotify::add_watch(fd, node, WatchFlags::CLOSE_WRITE | WatchFlags::CLOSE_NOWRITE)?);
        // Without the directory we still wake on the node's events.
        if let Ok(wd) = inotify::add_watch(fd, run_dir, WatchFlags::DELETE | WatchFlags::CLOSE_WRITE) {
            w.watches.push(wd);
        }
        Ok(w)
    }

    /// Wait up to `span`; true when an event came.
    fn wait(&mut self, span: Duration) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let Some(fd) = &self.fd else { return false };
        let ts = Timespec { tv_sec: span.as_secs() as i64, tv_nsec: span.subsec_nanos() as i64 };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        let woke = matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0);
        drain(fd);
        woke
    }
}

/// Read and drop pending events: we only need to know that something happened.
fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 4096];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let Some(fd) = self.fd.take() else { return };
        let clean = self.watches.iter().all(|&wd| rustix::fs::inotify::remove_watch(&fd, wd).is_ok());
        drain(&fd);
        let mut idle = IDLE_INOTIFY.lock().unwrap_or_else(|e| e.into_inner());
        if clean && idle.len() < MAX_IDLE_INOTIFY {
            idle.push(fd);
        } else {
            // The slow close, outside the pool's mutex.
            drop(idle);
            drop(fd);
        }
    }
}

/// A waiter's place in line.
struct Ticket {
    dir: OwnedFd,
    name: String,
    _fd: OwnedFd,
    run_dir: PathBuf,
    prefix: String,
    order: (u128, i32),
}

impl Ticket {
    fn join(run_dir: &Path, key: DriveKey) -> std::io::Result<Ticket> {
        let dir = owner::open_run_dir(run_dir)?;
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        let ticket = ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128;
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        let prefix = format!("{key}.q.");
        let name = format!("{prefix}{ticket:024}.{pid}");
        let fd = rustix::fs::openat(
            &dir,
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        rustix::fs::flock(&fd, FlockOperation::LockExclusive)?;
        remove_leftovers(run_dir, key);
        Ok(Ticket { dir, name, _fd: fd, run_dir: run_dir.to_path_buf(), prefix, order: (ticket, pid) })
    }

    /// True when a live waiter with an older ticket is in line. A ticket
    /// counts only when its file is `flock`ed by the pid in its name, is
    /// owned by that process's uid, and that process may open the drive:
    /// nobody can hold up the line with a planted file.
    fn has_predecessor(&self, target: &Target) -> bool {
        let Ok(entries) = fs::read_dir(&self.run_dir) else {
            return false;
        };
        let mut older: Vec<(PathBuf, i32)> = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&self.prefix)) else {
                continue;
            };
            let Some((t, p)) = rest.split_once('.') else {
                continue;
            };
            let (Ok(t), Ok(p)) = (t.parse::<u128>(), p.parse::<i32>()) else {
                continue;
            };
            if (t, p) < self.order {
                older.push((e.path(), p));
            }
        }
        if older.is_empty() {
            return false;
        }
        let locks = fs::read_to_string("/proc/locks").map(|t| holders::parse_proc_locks(&t)).unwrap_or_default();
        let node_st = rustix::fs::stat(&target.node).ok();
        older.iter().any(|(path, pid)| {
            let Ok(st) = rustix::fs::lstat(path) else {
                return false;
            };
            let Some(who) = holders::identity_of(*pid) else {
                return false;
            };
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
                && who.file_uid_matches(*pid, st.st_uid)
                && locks.iter().any(|l| {
                    !l.waiting
                        && l.kind == LockKind::Flock
                        && l.dev == st.st_dev
                        && l.ino == st.st_ino
                        && l.pid == Some(*pid)
                })
                && node_st.as_ref().is_some_and(|n| may_open_rw(*pid, n))
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.dir, self.name.as_str(), rustix::fs::AtFlags::empty());
    }
}

/// Remove records and tickets of `key` that nobody holds locked any more
/// and whose process is gone (left by holders and waiters that were
/// killed). Such files are never believed, but they would slow every later
/// scan of the directory. The sticky bit lets us remove only our own
/// user's (root: everyone's).
fn remove_leftovers(run_dir: &Path, key: DriveKey) {
    let Ok(entries) = fs::read_dir(run_dir) else { return };
    let prefix = format!("{key}.");
    let mut candidates: Vec<(PathBuf, u64, u64)> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        // KEY.PID, KEY.PID.RANDOM or KEY.q.TICKET.PID: a file of a live pid
        // may be in the instant between its creation and its lock.
        let pid = match rest.strip_prefix("q.") {
            Some(q) => q.rsplit('.').next(),
            None => rest.split('.').next(),
        };
        let Some(pid) = pid.and_then(|p| p.parse::<i32>().ok()) else { continue };
        if rustix::fs::stat(format!("/proc/{pid}").as_str()).is_ok() {
            continue;
        }
        let path = e.path();
        if let Ok(st) = rustix::fs::lstat(&path) {
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile {
                candidates.push((path, st.st_dev, st.st_ino));
            }
        }
    }
    if candidates.is_empty() {
        return;
    }
    let Ok(locks) = holders::read_proc_locks() else { return };
    for (path, dev, ino) in candidates {
        if !locks.iter().any(|l| l.dev == dev && l.ino == ino) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Whether process `pid` may open a node with mode/owner `st` for reading
/// and writing, by the mode bits and its credentials in `/proc/PID/status`.
fn may_open_rw(pid: i32, st: &rustix::fs::Stat) -> bool {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |name: &str| -> Vec<u32> {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default()
    };
    let (uid, gid, groups) = (field("Uid:"), field("Gid:"), field("Groups:"));
    let (Some(&euid), Some(&egid)) = (uid.get(1), gid.get(1)) else {
        return false;
    };
    let need = if euid == 0 {
        return true;
    } else if euid == st.st_uid {
        0o600
    } else if egid == st.st_gid || groups.contains(&st.st_gid) {
        0o060
    } else {
        0o006
    };
    st.st_mode & need == need
}

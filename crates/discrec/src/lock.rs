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
//!   cdrskin, growisofs) fail with `EBUSY`. It also answers "is anything
//!   mounted?" at no cost: the claim is refused while any mount namespace
//!   has the drive mounted, so mounts are looked up only then.
//!
//! Waiting is fair: a waiter takes a ticket (a file `TICKET.PID` in the
//! drive's queue directory `discrec.KEY.q`, kept `flock`ed while it waits)
//! and tries the drive only when no live waiter with an older ticket is in
//! line. A waiter that is stopped (Ctrl-Z), or that leaves the drive free
//! for [`TURN_GRACE`] without taking it, loses its turn. Waiters sleep in
//! `poll` on inotify: the holder's release or death closes its descriptor
//! on the node, which wakes them within microseconds. A cancel descriptor
//! (the CLI's signal pipe) ends the wait at once, with nothing taken.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::access::NodeAccess;
use crate::error::{Error, Result};
use crate::holders::{self, Holder, LockKind};
use crate::key::DriveKey;
use crate::mounts::{self, Mount};
use crate::owner::own_owner;
use crate::procfs::proc_info;
use crate::query::{self, open_node};
use crate::records::{self, RecordDirs, WrittenRecord};
use crate::target::Target;
use crate::udev::{self, Announced, Tripwire};

/// How long a plain (non-waiting) acquire retries when it meets a transient
/// opener (udev's `cdrom_id` opens with `O_EXCL` for a few ms after each
/// media change; udevd takes a shared `flock` while it probes).
pub const TRANSIENT_GRACE: Duration = Duration::from_millis(500);

/// How long a waiter with an older ticket may leave a free drive untaken
/// before the next waiter goes ahead of it.
pub const TURN_GRACE: Duration = Duration::from_millis(300);

/// Longest sleep between checks while waiting, for changes that no inotify
/// event announces (an unmount, a foreign `LOCK_UN` without close).
const RECHECK: Duration = Duration::from_millis(50);

/// While waiting, who holds the drive is looked up at most this often
/// (the lookup reads `/proc/locks`, which is slow on a busy machine).
const OWNER_LOOKUP_EVERY: Duration = Duration::from_millis(250);

/// Most queue entries, and longest time, a waiter spends per look at the
/// queue; a queue flooded beyond it (anyone may write there) costs
/// fairness, never the deadline.
const MAX_QUEUE_SCAN: usize = 1024;
const MAX_QUEUE_TIME: Duration = Duration::from_millis(5);

/// A held drive.
#[derive(Debug)]
pub(crate) struct Held {
    key: DriveKey,
    lock_fd: OwnedFd,
    claim_fd: Option<OwnedFd>,
    record: Option<WrittenRecord>,
    /// The node open for writing while held: its close, however the
    /// holder ends, has udev look at the drive again ([`crate::udev`]).
    tripwire: Option<Tripwire>,
    /// Mounts that `force` could not remove (spec C3).
    pub still_mounted: Vec<Mount>,
    /// Why no owner record was written, if none was.
    pub record_error: Option<String>,
    /// The process that took it: a child forked since holds copies of
    /// its descriptors, and must never undo its hold.
    taken_by: rustix::process::Pid,
}

impl Held {
    /// Give up the kernel claim while keeping the lock, so that a wrapped
    /// tool can open the device with `O_EXCL` itself.
    pub fn drop_claim(&mut self) {
        self.claim_fd = None;
    }

    /// Whether this is a forked child's copy of its parent's hold.
    pub fn is_inherited(&self) -> bool {
        self.taken_by != rustix::process::getpid()
    }

    /// Whether the kernel claim is held.
    pub fn has_claim(&self) -> bool {
        self.claim_fd.is_some()
    }

    /// Let the lock, the claim (if held) and the record's lock survive
    /// `exec`, so that the program this process becomes holds the drive
    /// for as long as it runs, under the same pid and owner record.
    pub fn keep_across_exec(&self) -> std::io::Result<()> {
        let mut fds: Vec<BorrowedFd<'_>> = vec![self.lock_fd.as_fd()];
        fds.extend(self.claim_fd.as_ref().map(|f| f.as_fd()));
        fds.extend(self.tripwire.as_ref().map(|t| t.as_fd()));
        fds.extend(self.record.iter().flat_map(|r| r.lock_fds()).map(|f| f.as_fd()));
        for fd in fds {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
        }
        Ok(())
    }

    /// Release: the lock goes first (readers then see the drive free), then
    /// the record (named after its own inode, so no later holder's record
    /// can have its name).
    pub fn release(self) {
        let inherited = self.is_inherited();
        let Held { key, lock_fd, claim_fd, record, tripwire, .. } = self;
        query::forget_held(key);
        if inherited {
            // A forked child's copies: closing them leaves the lock with
            // the parent's descriptors; the record is the parent's.
            return;
        }
        // Unlocked, not just closed: a child forked meanwhile holds a copy
        // of this descriptor, which would keep the drive locked after the
        // release. (The kernel claim of a block device stays with such a
        // child's copy until it closes it or exits.)
        drop(claim_fd);
        let _ = rustix::fs::flock(&lock_fd, FlockOperation::NonBlockingUnlock);
        drop(lock_fd);
        if let Some(r) = record {
            r.remove();
        }
        // Last: udev, woken by its close, finds the drive free.
        drop(tripwire);
    }
}

/// Whether this process has a descriptor of the open file that holds the
/// drive's exclusive `flock`: inherited from the holder (`discrec lock
/// TARGET -- sh -c 'discrec burn TARGET ...'`: the lock survives `exec`
/// into COMMAND, and every descendant inherits it) or kept across its own
/// `exec`. The kernel lists a file's flock in the `fdinfo` of every
/// descriptor of it, so this is proof, not a claim: no other process has
/// that open file unless a holder handed it over. Only the refusal path
/// pays for the look (one `stat` per descriptor).
pub(crate) fn inherits_hold(target: &Target) -> bool {
    let Ok(node) = target.stat_node() else { return false };
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return false };
    fds.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())).any(|n| {
        rustix::fs::stat(format!("/proc/self/fd/{n}"))
            .is_ok_and(|st| (st.st_dev, st.st_ino) == (node.st_dev, node.st_ino))
            && holders::fdinfo_locks(&format!("/proc/self/fdinfo/{n}"))
                .is_ok_and(|locks| locks.iter().any(|l| l.kind == LockKind::Flock && l.exclusive))
    })
}

/// How long to keep trying, and how to give up.
pub(crate) struct Patience<'a> {
    /// Wait for the drive (else fail at once on a real holder, retrying
    /// transient openers briefly).
    pub wait: bool,
    /// Give up at this instant (`None`: never).
    pub limit: Option<Instant>,
    /// Give up, taking nothing, as soon as this becomes readable.
    pub cancel: Option<BorrowedFd<'a>>,
    /// Told who is in the way whenever that changes.
    pub on_wait: Option<&'a mut dyn FnMut(&Error)>,
}

impl Patience<'_> {
    pub(crate) fn no_wait() -> Patience<'static> {
        Patience { wait: false, limit: None, cancel: None, on_wait: None }
    }
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
pub(crate) fn acquire(
    target: &Target,
    dirs: &RecordDirs,
    force: bool,
    client: &str,
    patience: &mut Patience<'_>,
) -> Result<Held> {
    check_access(target)?;
    let lock_fd = open_node(target)?;
    target.check_same(&lock_fd)?;
    // The owner record first, pending: a holder is never without its
    // record, so readers take a holder without one for what it is at once.
    let (record, record_error) = match records::write_record(dirs, target.key, &target.node, client, lock_fd.as_fd()) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let waiting = patience.wait;
    let limit = if waiting { patience.limit } else { Some(Instant::now() + TRANSIENT_GRACE) };
    let expired = || limit.is_some_and(|l| Instant::now() >= l);
    let mut pause = Pause::default();
    let mut teller = Teller::default();
    let mut hint = None;
    if let Err(e) = take_flock(target, dirs, &lock_fd, patience, limit, &mut pause, &mut teller, &mut hint, force) {
        if let Some(r) = record {
            r.remove();
        }
        return Err(e);
    }
    // The flock keeps udev out from now on; a hint would only refuse a
    // wrapped tool's lock of the whole node.
    if let Some(h) = hint.as_mut() {
        h.unhint();
    }
    let since = SystemTime::now();
    if let Some(r) = &record {
        r.won(since);
    }
    let mut held = Held {
        key: target.key,
        lock_fd,
        claim_fd: None,
        record,
        tripwire: hint,
        still_mounted: Vec::new(),
        record_error,
        taken_by: rustix::process::getpid(),
    };

    // Phase 2: foreign locks, mounts and the kernel claim, holding the
    // lock meanwhile.
    loop {
        match settle(target, force, &mut held) {
            Ok(()) => {
                if held.record.is_some() {
                    query::register_held(target.key, own_owner(client, since));
                }
                if held.tripwire.is_none() {
                    held.tripwire = udev::tripwire(target);
                }
                return Ok(held);
            }
            Err(Miss::Fatal(err)) => {
                held.release();
                return Err(err);
            }
            Err(Miss::Busy { err, transient }) => {
                if (!waiting && !transient) || expired() {
                    held.release();
                    return Err(err);
                }
                teller.tell(&err, patience);
            }
        }
        if let Err(e) = pause.wait(target, None, limit, patience.cancel) {
            held.release();
            return Err(e);
        }
    }
}

/// Phase 1 of [`acquire`]: the `flock`, waiting in line as `patience` says.
/// At the deadline one last try is made in any case. Before each try of a
/// free drive that udev has not been told of, the hold is announced
/// (`hint`, [`crate::udev`]).
#[allow(clippy::too_many_arguments)]
fn take_flock(
    target: &Target,
    dirs: &RecordDirs,
    lock_fd: &OwnedFd,
    patience: &mut Patience<'_>,
    limit: Option<Instant>,
    pause: &mut Pause,
    teller: &mut Teller,
    hint: &mut Option<Tripwire>,
    force: bool,
) -> Result<()> {
    let waiting = patience.wait;
    let mut announce = true;
    let expired = || limit.is_some_and(|l| Instant::now() >= l);
    let mut ticket = if waiting { Ticket::join(dirs, target.key).ok() } else { None };
    let mut last_lookup: Option<Instant> = None;

    loop {
        let my_turn = match ticket.as_mut() {
            Some(t) => !t.blocked(target, lock_fd),
            None => true,
        };
        if my_turn || expired() {
            // Who holds it is looked up for the error. A waiter needs it only
            // at its deadline, and to tell its caller whom it waits for: then
            // at first, and again after a change (an event), at most every
            // OWNER_LOOKUP_EVERY (the lookup reads /proc/locks, which is slow
            // on a busy machine).
            let look = !waiting
                || expired()
                || (patience.on_wait.is_some()
                    && last_lookup.is_none_or(|t| pause.changed && t.elapsed() >= OWNER_LOOKUP_EVERY));
            if hint.is_none() && announce {
                match udev::announce(target, force, limit.filter(|_| waiting), patience.cancel) {
                    Announced::Done(wire) => {
                        *hint = Some(wire);
                        // A cancel that ended the announcement ends the acquire.
                        check_cancel(target, patience.cancel, Duration::ZERO)?;
                    }
                    Announced::NotNow => {}
                    Announced::Cannot => announce = false,
                }
            }
            match try_flock(lock_fd, target, dirs, look) {
                Ok(()) => break,
                Err(Miss::Fatal(e)) => return Err(e),
                Err(Miss::Busy { err, transient }) => {
                    if !transient {
                        // Another client won: its hold, not ours, is the
                        // one to announce, and our hint would refuse its
                        // wrapped tool's lock of the whole node.
                        *hint = None;
                    }
                    if (!waiting && !transient) || expired() {
                        return Err(err);
                    }
                    if look {
                        last_lookup = Some(Instant::now());
                        pause.changed = false;
                        teller.tell(&err, patience);
                    }
                }
            }
        }
        pause.wait(target, ticket.as_ref().map(|t| t.queue.as_fd()), limit, patience.cancel)?;
    }
    Ok(())
}

/// Tells the caller who is in the way, once per change.
#[derive(Default)]
struct Teller {
    last_seen: Option<String>,
}

impl Teller {
    fn tell(&mut self, err: &Error, patience: &mut Patience<'_>) {
        let now = err.to_string();
        if self.last_seen.as_deref() != Some(now.as_str()) {
            if let Some(f) = patience.on_wait.as_mut() {
                f(err);
            }
            self.last_seen = Some(now);
        }
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
                what: format!("{} cannot be written", target.given.display()),
                kind: target.kind,
                source: std::io::Error::other("it is on a read-only file system"),
            },
            e => target.io_error("cannot open", e.into()),
        },
    )
}

/// `look`: find out who holds it (else the error names nobody).
fn try_flock(fd: &OwnedFd, target: &Target, dirs: &RecordDirs, look: bool) -> Result<(), Miss> {
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(Errno::WOULDBLOCK) if look => Err(contention(target, dirs)),
        Err(Errno::WOULDBLOCK) => Err(Miss::Busy {
            err: Error::DeviceInUse {
                target: target.given.clone(),
                holders: Vec::new(),
                advice: "wait for its holder to finish",
            },
            transient: false,
        }),
        Err(e) => Err(Miss::Fatal(target.io_error("cannot lock", e.into()))),
    }
}

/// Who is in the way, as an error.
fn contention(target: &Target, dirs: &RecordDirs) -> Miss {
    let owner = match target.stat_node().and_then(|st| query::query_owner(target, dirs, &st)) {
        Ok(v) => v,
        Err(e) => return Miss::Fatal(e),
    };
    match owner {
        Some(owner) if owner.by_discrec => Miss::Busy {
            err: Error::RecorderLocked { target: target.given.clone(), owner: Box::new(owner) },
            transient: false,
        },
        Some(owner) => {
            // A holder that has ended (its locks outlive it by the moment
            // the kernel takes to tear it down) is tried again for a
            // while (TRANSIENT_GRACE); any other is refused at once (a
            // discrec client has its record before its lock, so this is
            // none).
            let gone = owner.pid.is_some_and(|p| !crate::procfs::is_running(p));
            Miss::Busy {
                err: Error::DeviceInUse {
                    target: target.given.clone(),
                    holders: vec![Holder::Lock {
                        lock: owner.lock,
                        pid: owner.pid,
                        command: owner.command,
                        user: owner.user,
                    }],
                    advice: "wait for that program to finish, or stop it",
                },
                transient: gone,
            }
        }
        // Nobody holds it exclusively: a shared flock (udevd probing) or the
        // holder let go meanwhile. Try again.
        None => Miss::Busy {
            err: Error::DeviceInUse {
                target: target.given.clone(),
                holders: Vec::new(),
                advice: "it is being probed; try again in a moment",
            },
            transient: true,
        },
    }
}

/// With the lock held: refuse foreign record locks, take the kernel claim,
/// and only when the kernel refuses it look for mounts (and remove them
/// with `force`).
fn settle(target: &Target, force: bool, held: &mut Held) -> Result<(), Miss> {
    // flock and fcntl locks do not conflict, so a tool that only takes an
    // fcntl lock (libburn does, beside O_EXCL) is looked for on its own.
    if query::fcntl_locked(&held.lock_fd) {
        let foreign: Vec<Holder> = rustix::fs::fstat(&held.lock_fd)
            .ok()
            .and_then(|st| holders::locks_on(st.st_dev, st.st_ino).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.exclusive && l.kind != LockKind::Flock)
            .map(|l| Holder::from_lock(&l))
            .collect();
        return Err(Miss::Busy {
            err: Error::DeviceInUse {
                target: target.given.clone(),
                holders: foreign,
                advice: "wait for that program to finish, or stop it",
            },
            transient: false,
        });
    }
    // Files (virtual recorders) have no mounts and no kernel claim.
    let DriveKey::Block { major, minor } = target.key else { return Ok(()) };
    held.still_mounted.clear();
    let claim = || {
        rustix::fs::open(
            &target.node,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::EXCL,
            Mode::empty(),
        )
    };
    match claim() {
        Ok(fd) => {
            // Nothing is mounted from it anywhere: the kernel says so.
            held.claim_fd = Some(fd);
            return Ok(());
        }
        // Refused: a mount, or another exclusive opener. Look which.
        Err(Errno::BUSY) => {}
        Err(e) => return Err(Miss::Fatal(target.io_error("cannot open exclusively", e.into()))),
    }
    let devs = target.device_numbers();
    let mounted = mounts::mounts_of(&devs);
    if !mounted.is_empty() {
        if !force {
            return Err(Miss::Busy {
                err: Error::DeviceInUse {
                    target: target.given.clone(),
                    holders: mounted.into_iter().map(|mount| Holder::Mount { mount }).collect(),
                    advice: "unmount it, or acquire with force to have discrec unmount it",
                },
                transient: false,
            });
        }
        let failed = mounts::unmount_all(&devs);
        if let Some((m, _)) = failed.iter().find(|(_, e)| is_permission(e)) {
            if !rustix::process::geteuid().is_root() {
                let source = std::io::Error::from_raw_os_error(Errno::PERM.raw_os_error());
                return Err(Miss::Fatal(Error::PermissionDenied {
                    target: target.given.clone(),
                    what: format!(
                        "force must unmount {m} from {}, and only root may unmount; unmount it yourself, or run as root",
                        target.given.display()
                    ),
                    kind: target.kind,
                    source,
                }));
            }
        }
        // What is still mounted, wherever: looked at again, not assumed
        // gone from an error code (a copy in another user's namespace
        // refuses with EINVAL and stays).
        held.still_mounted = mounts::mounts_of(&devs);
        if let Ok(fd) = claim() {
            held.claim_fd = Some(fd);
            held.still_mounted.clear();
            return Ok(());
        }
        if !held.still_mounted.is_empty() {
            // A mount force could not remove holds the claim: grant anyway
            // and report the volume as still mounted (spec C3).
            return Ok(());
        }
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

fn is_permission(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error().map(Errno::from_raw_os_error), Some(Errno::PERM | Errno::ACCESS))
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
    /// An event came since the caller last cleared this.
    changed: bool,
}

impl Pause {
    /// The first call only sets up the watches and returns, so that the
    /// caller's next try comes after them and no event is lost in between.
    /// `Err(Cancelled)` when `cancel` became readable.
    fn wait(
        &mut self,
        target: &Target,
        queue: Option<BorrowedFd<'_>>,
        limit: Option<Instant>,
        cancel: Option<BorrowedFd<'_>>,
    ) -> Result<()> {
        if !self.armed {
            self.armed = true;
            self.watcher = Watcher::new(&target.node, queue).ok();
            return check_cancel(target, cancel, Duration::ZERO);
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
                let woke = match w.wait(span, cancel) {
                    Woken::Cancelled => return Err(Error::Cancelled { target: target.given.clone() }),
                    Woken::Event => true,
                    Woken::Timeout => false,
                };
                self.after_event = if woke { Some(0) } else { self.after_event.map(|i| i + 1) };
                self.changed |= woke;
                Ok(())
            }
            None => {
                self.changed = true;
                check_cancel(target, cancel, span.min(Duration::from_millis(2)))
            }
        }
    }
}

/// Wait up to `span` for `cancel`; `Err(Cancelled)` if it fires.
fn check_cancel(target: &Target, cancel: Option<BorrowedFd<'_>>, span: Duration) -> Result<()> {
    use rustix::event::{poll, PollFd, PollFlags};
    let Some(c) = cancel else {
        std::thread::sleep(span);
        return Ok(());
    };
    let mut fds = [PollFd::new(&c, PollFlags::IN)];
    let ts = timespec(span);
    match poll(&mut fds, Some(&ts)) {
        Ok(n) if n > 0 => Err(Error::Cancelled { target: target.given.clone() }),
        _ => Ok(()),
    }
}

fn timespec(d: Duration) -> rustix::event::Timespec {
    rustix::event::Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 }
}

/// Idle inotify instances, kept for the next wait: closing one destroys
/// its fsnotify group, which waits for an SRCU grace period (measured at
/// 7-15 ms here), and that delay would land between a waiter winning the
/// drive and its acquire returning. Removing a watch does not wait.
static IDLE_INOTIFY: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());
const MAX_IDLE_INOTIFY: usize = 4;

/// inotify on the node (any close: a holder released or died) and on the
/// drive's queue directory (tickets closed or removed).
struct Watcher {
    fd: Option<OwnedFd>,
    watches: Vec<i32>,
}

impl Watcher {
    fn new(node: &Path, queue: Option<BorrowedFd<'_>>) -> std::io::Result<Watcher> {
        use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
        let pooled = IDLE_INOTIFY.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let fd = match pooled {
            Some(fd) => fd,
            None => inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?,
        };
        let mut w = Watcher { fd: Some(fd), watches: Vec::new() };
        let fd = w.fd.as_ref().expect("just set");
        w.watches.push(inotify::add_watch(fd, node, WatchFlags::CLOSE_WRITE | WatchFlags::CLOSE_NOWRITE)?);
        // Without the queue we still wake on the node's events.
        if let Some(q) = queue {
            let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&q));
            if let Ok(wd) = inotify::add_watch(fd, path.as_str(), WatchFlags::DELETE | WatchFlags::CLOSE_WRITE) {
                w.watches.push(wd);
            }
        }
        Ok(w)
    }

    /// Wait up to `span` for an event on the node or the queue, or for
    /// `cancel`.
    fn wait(&mut self, span: Duration, cancel: Option<BorrowedFd<'_>>) -> Woken {
        use rustix::event::{poll, PollFd, PollFlags};
        let Some(fd) = &self.fd else { return Woken::Timeout };
        let ts = timespec(span);
        let mut fds = vec![PollFd::new(fd, PollFlags::IN)];
        if let Some(c) = &cancel {
            fds.push(PollFd::new(c, PollFlags::IN));
        }
        let n = poll(&mut fds, Some(&ts)).unwrap_or(0);
        let cancelled = n > 0 && fds.get(1).is_some_and(|f| !f.revents().is_empty());
        let woke = n > 0 && !fds[0].revents().is_empty();
        drop(fds);
        drain(fd);
        match (cancelled, woke) {
            (true, _) => Woken::Cancelled,
            (false, true) => Woken::Event,
            (false, false) => Woken::Timeout,
        }
    }
}

/// What ended a [`Watcher::wait`].
enum Woken {
    /// The cancel descriptor became readable (it wins over an event).
    Cancelled,
    /// The node or the queue changed: look again at once.
    Event,
    /// The span passed with no event.
    Timeout,
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

/// A waiter's place in line: the file `TICKET.PID` in the drive's queue
/// directory, `flock`ed while it waits.
struct Ticket {
    queue: OwnedFd,
    name: String,
    _fd: OwnedFd,
    order: (u128, i32),
    /// Since when the drive has been free while older waiters let it be.
    free_since: Option<Instant>,
}

impl Ticket {
    fn join(dirs: &RecordDirs, key: DriveKey) -> std::io::Result<Ticket> {
        let queue = open_queue(dirs, key)?;
        let ticket = crate::sys::boottime_ns();
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        let name = format!("{ticket:024}.{pid}");
        let fd = rustix::fs::openat(
            &queue,
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        rustix::fs::flock(&fd, FlockOperation::LockExclusive)?;
        Ok(Ticket { queue, name, _fd: fd, order: (ticket, pid), free_since: None })
    }

    /// True while it is not our turn: a live, running waiter that may open
    /// the drive holds an older ticket, and has not left the drive free
    /// for [`TURN_GRACE`]. Tickets of dead waiters are removed on the way
    /// (where the sticky bit lets us). A ticket counts only when its file
    /// is owned by its waiter's user and locked: nobody holds up the line
    /// with a planted file.
    fn blocked(&mut self, target: &Target, lock_fd: &OwnedFd) -> bool {
        let older = self.live_older(target);
        if !older {
            self.free_since = None;
            return false;
        }
        // Free? A shared flock of ours is refused while anyone holds it.
        let free = match rustix::fs::flock(lock_fd, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {
                let _ = rustix::fs::flock(lock_fd, FlockOperation::NonBlockingUnlock);
                true
            }
            Err(_) => false,
        };
        if !free {
            self.free_since = None;
            return true;
        }
        let since = *self.free_since.get_or_insert_with(Instant::now);
        since.elapsed() < TURN_GRACE
    }

    fn live_older(&self, target: &Target) -> bool {
        let Ok(dir) = rustix::fs::Dir::read_from(&self.queue) else { return false };
        let node = rustix::fs::stat(&target.node).ok().map(|st| NodeAccess::of(&target.node, &st));
        let started = Instant::now();
        let mut seen = 0;
        for e in dir {
            seen += 1;
            if seen > MAX_QUEUE_SCAN || started.elapsed() > MAX_QUEUE_TIME {
                return false;
            }
            let Ok(e) = e else { break };
            let Some(name) = e.file_name().to_str().ok() else { continue };
            let Some((t, p)) = name.split_once('.') else { continue };
            let (Ok(t), Ok(p)) = (t.parse::<u128>(), p.parse::<i32>()) else { continue };
            if (t, p) >= self.order {
                continue;
            }
            if self.ticket_counts(name, p, node.as_ref()) {
                return true;
            }
        }
        false
    }

    fn ticket_counts(&self, name: &str, pid: i32, node: Option<&NodeAccess>) -> bool {
        let Ok(fd) = records::open_public(&self.queue, name) else { return false };
        let Ok(st) = rustix::fs::fstat(&fd) else { return false };
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return false;
        }
        // Nobody holds it: its waiter is gone. Remove it if we may.
        if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared).is_ok() {
            let _ = rustix::fs::unlinkat(&self.queue, name, rustix::fs::AtFlags::empty());
            return false;
        }
        let Some(info) = proc_info(pid) else { return false };
        !info.stopped && info.fsuid == st.st_uid && node.is_some_and(|n| info.may_open_rw(n))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.queue, self.name.as_str(), rustix::fs::AtFlags::empty());
    }
}

/// The queue directory of `key` (`discrec.KEY.q` beside the records),
/// made sticky and writable for all by whoever comes first. It must be a
/// real directory, sticky if others may write to it.
fn open_queue(dirs: &RecordDirs, key: DriveKey) -> std::io::Result<OwnedFd> {
    let base = dirs.open_for_writing()?;
    let name = format!("discrec.{key}.q");
    records::open_sticky_dir(base.as_fd(), Path::new(&name), true).map(|(fd, _)| fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> (std::path::PathBuf, Target, RecordDirs) {
        let dir = std::env::temp_dir().join(format!("discrec-lock-{name}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let node = dir.join("disc.img");
        std::fs::write(&node, b"").unwrap();
        let target = Target::resolve(&node).unwrap();
        (dir.clone(), target, RecordDirs::only(dir.join("run")))
    }

    fn other_flock(target: &Target) -> rustix::io::Result<OwnedFd> {
        let fd = rustix::fs::open(&target.node, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).map(|()| fd)
    }

    #[test]
    fn a_held_drive_keeps_every_other_flock_off_until_released() {
        let (dir, target, dirs) = scratch("held");
        let held = acquire(&target, &dirs, false, "Holder", &mut Patience::no_wait()).unwrap();
        assert_eq!(other_flock(&target).unwrap_err(), Errno::WOULDBLOCK);
        held.release();
        assert!(other_flock(&target).is_ok(), "released: the next taker gets it");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_foreign_flock_is_refused_at_once_naming_it() {
        let (dir, target, dirs) = scratch("foreign");
        let foreign = other_flock(&target).unwrap();
        let t = Instant::now();
        let e = acquire(&target, &dirs, false, "Second", &mut Patience::no_wait()).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2), "refused at once: {:?}", t.elapsed());
        // A holder without an owner record is not a discrec client: the
        // drive is in use (E_ACCESSDENIED), not locked by a client.
        assert!(matches!(e, Error::DeviceInUse { .. }), "{e}");
        drop(foreign);
        acquire(&target, &dirs, false, "Second", &mut Patience::no_wait()).unwrap().release();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_wait_wakes_on_a_close_a_cancel_or_its_span() {
        let (dir, target, _) = scratch("watch");
        let mut w = Watcher::new(&target.node, None).unwrap();
        assert!(matches!(w.wait(Duration::from_millis(20), None), Woken::Timeout));
        drop(std::fs::File::open(&target.node).unwrap());
        assert!(matches!(w.wait(Duration::from_secs(5), None), Woken::Event), "a close of the node wakes");
        let (r, mut wr) = std::os::unix::net::UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut wr, b"x").unwrap();
        drop(std::fs::File::open(&target.node).unwrap());
        assert!(matches!(w.wait(Duration::from_secs(5), Some(r.as_fd())), Woken::Cancelled), "a cancel wins");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The desktop kept off a held drive: what udev, and through it udisks2
//! and the desktop automounters, are told of a hold, as Windows' autoplay
//! keeps off a drive under IMAPI2's exclusive access.
//!
//! udevd never runs its rules on a disk while anyone holds an exclusive
//! `flock` on its node (it takes a shared one first and puts the event
//! back until it can), so a hold cannot be announced once it is taken. A
//! client announces it just before, and the kernel announces every end:
//!
//! * **The hint.** Before it tries the lock of a free optical drive whose
//!   udev rules include discrec's (`contrib/udev/90-discrec.rules`; the
//!   drive's udev entry then carries `DISCREC_HOLD`) and that no program
//!   has open exclusively, a client takes an
//!   open-file-description write lock on one byte of the node at or beyond
//!   [`HINT_START`] and has udev run its rules: it writes `change` to the
//!   drive's `uevent` (root), or closes a descriptor it opened for writing
//!   (anyone else: the rule has udevd watch the node for that, as udev
//!   does for every disk). It then waits, at most [`ANNOUNCE_WAIT`], until
//!   udevd reports that event done. The rule's helper (`discrec
//!   udev-properties`, [`properties`]) sees the hint and says
//!   `DISCREC_HOLD=1`, and the rule sets `UDISKS_IGNORE=1` and
//!   `UDISKS_AUTO=0` and clears `ID_FS_USAGE` and `ID_FS_TYPE`: udisks2
//!   hides the drive and finds nothing to mount on it, so `udisksctl
//!   mount` is refused before any command reaches the drive. Only a
//!   process that may write to the drive can take a hint (the lock needs a
//!   descriptor open for writing, and such a process could hold the drive
//!   anyway), and the kernel drops it with the open file, so nobody can
//!   forge one or leave one behind.
//!   A client that loses the lock to another drops its hint.
//! * **The tripwire.** The holder keeps the node open for writing while it
//!   holds: the hint's descriptor, its lock dropped once the `flock` is
//!   taken (so that a wrapped tool that locks the whole node, as libburn
//!   does, is not refused), or, on a drive the rule watches, a descriptor
//!   of its own. Its release, or
//!   its end however it ends (`SIGKILL` too), closes it; udevd sees that
//!   close, runs the rules once the lock is gone, and the helper finds the
//!   drive free: udisks2 shows the drive and its file system again.
//!
//! Hints are not holds: [`crate::holders`] leaves them out (one-byte
//! open-file-description write locks from [`HINT_START`]), and the probe
//! for programs that lock the node passes over them.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

pub use crate::holders::{HINT_LEN, HINT_START};
use crate::key::DriveKey;
use crate::query::{self, Probe};
use crate::target::Target;

/// Longest wait for udevd to apply a hint (its rules read the disc in the
/// drive: `cdrom_id`, `blkid`). Past it the client takes the drive anyway.
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(3);

/// The property discrec's udev rule sets on every optical drive: `1` while
/// a discrec client holds it or is about to, `0` otherwise.
pub const HOLD_PROPERTY: &str = "DISCREC_HOLD";

/// The udev properties of the drive at `node` as discrec's rule imports
/// them (`discrec udev-properties DEVNODE`): `DISCREC_HOLD=1` when a
/// client holds it or has announced that it is about to (a hint), or a
/// program holds an exclusive lock on it; else `DISCREC_HOLD=0`. Errors
/// only when `node` names nothing that can be opened.
pub fn properties(node: &Path) -> crate::Result<Vec<(&'static str, &'static str)>> {
    let target = Target::resolve(node)?;
    let fd = query::open_node(&target)?;
    let held = hinted(&fd) || query::held_exclusively(&target) == Probe::Held;
    Ok(vec![(HOLD_PROPERTY, if held { "1" } else { "0" })])
}

/// Whether anyone holds a write lock in the hint range of the node of
/// `fd`: a hint, or a lock of a program's own (a hold either way).
fn hinted(fd: &OwnedFd) -> bool {
    crate::sys::write_lock_in(fd, HINT_START, HINT_LEN).is_ok_and(|l| l.is_some())
}

/// What the drive's udev entry says: `None` when discrec's rule did not
/// run on it (no udev, no rule, not an optical drive), else whether its
/// last run found the drive held.
fn rule_says(major: u32, minor: u32) -> Option<bool> {
    let db = std::fs::read(format!("/run/udev/data/b{major}:{minor}")).ok()?;
    let line = format!("E:{HOLD_PROPERTY}=");
    db.split(|&b| b == b'\n').find_map(|l| l.strip_prefix(line.as_bytes())).map(|v| v == b"1")
}

/// A hint, then the tripwire: a descriptor of the drive's node open for
/// writing, kept while the drive is held.
#[derive(Debug)]
pub(crate) struct Tripwire {
    fd: OwnedFd,
    hint: Option<u64>,
}

impl Tripwire {
    /// Drop the hint's lock (the `flock` now keeps udev out), keeping the
    /// descriptor.
    pub(crate) fn unhint(&mut self) {
        if let Some(offset) = self.hint.take() {
            let _ = crate::sys::ofd_lock_byte(&self.fd, offset, false);
        }
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn open_for_writing(target: &Target) -> Option<OwnedFd> {
    rustix::fs::open(&target.node, OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())
        .ok()
}

/// The tripwire of a drive just taken: only for drives that discrec's
/// rule watches (closing any other disk opened for writing would only
/// have udev read it again), and best effort (a node we cannot open for
/// writing has none).
pub(crate) fn tripwire(target: &Target) -> Option<Tripwire> {
    let DriveKey::Block { major, minor } = target.key else { return None };
    rule_says(major, minor)?;
    open_for_writing(target).map(|fd| Tripwire { fd, hint: None })
}

/// What [`announce`] did.
pub(crate) enum Announced {
    /// The hint is taken (and udev told); here is its tripwire.
    Done(Tripwire),
    /// Nothing to announce now: no rule, udev already says held, the drive
    /// is held or in use (udevd could not run, or it would disturb the
    /// user), or the hint is not applied before the deadline.
    NotNow,
    /// The hint cannot be taken (the node is not ours to write, or another
    /// user's read lock covers the hint range): no use trying again.
    Cannot,
}

/// Announce that this client is about to take the drive (the hint, see
/// the module docs) when discrec's rule watches it, its last word was
/// "free", and nobody holds or has opened it exclusively (udevd could not
/// run before that holder lets go, and its probing would only disturb
/// the holder; with `force`, a drive that is only mounted is announced).
/// Waits until `deadline`, at most [`ANNOUNCE_WAIT`], less when `cancel`
/// becomes readable.
pub(crate) fn announce(
    target: &Target,
    force: bool,
    deadline: Option<Instant>,
    cancel: Option<BorrowedFd<'_>>,
) -> Announced {
    let DriveKey::Block { major, minor } = target.key else { return Announced::Cannot };
    match rule_says(major, minor) {
        None => return Announced::Cannot,
        Some(true) => return Announced::NotNow,
        Some(false) => {}
    }
    if query::held_exclusively(target) == Probe::Held || (!force && in_use(target)) {
        return Announced::NotNow;
    }
    let Some(fd) = open_for_writing(target) else { return Announced::Cannot };
    let Some(offset) = hint_offset(&fd) else { return Announced::Cannot };
    let wire = Tripwire { fd, hint: Some(offset) };
    let monitor = Monitor::new();
    // Root has udev run its rules at once; anyone else by a close after
    // writing, which udevd watches for.
    if crate::notify::media_changed(target).is_err() {
        drop(open_for_writing(target));
    }
    // Not applied in time (udevd busy, a slow disc): the hint stays, and
    // the event, if udevd starts it before the lock is taken, applies it.
    let end = Instant::now() + ANNOUNCE_WAIT;
    let end = deadline.map_or(end, |d| d.min(end));
    if let Some(m) = monitor {
        m.wait_for_hold(major, minor, end, cancel);
    }
    Announced::Done(wire)
}

/// Whether a program has the drive open exclusively or it is mounted (an
/// `O_EXCL` open is refused): a read-only open, closed at once, which
/// udevd does not hear.
fn in_use(target: &Target) -> bool {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::EXCL;
    matches!(rustix::fs::open(&target.node, flags, Mode::empty()), Err(rustix::io::Errno::BUSY))
}

/// Lock one free byte of the hint range: a random one, another on the
/// rare clash.
fn hint_offset(fd: &OwnedFd) -> Option<u64> {
    for _ in 0..8 {
        let mut b = [0u8; 8];
        rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).ok()?;
        let offset = HINT_START + u64::from_ne_bytes(b) % HINT_LEN;
        if crate::sys::ofd_lock_byte(fd, offset, true).is_ok() {
            return Some(offset);
        }
    }
    None
}

/// udevd's reports of the events it has processed (the netlink group that
/// `udevadm monitor --udev` reads; any user may listen, only root sends).
struct Monitor {
    sock: OwnedFd,
}

/// udevd's netlink multicast group.
const UDEV_GROUP: u32 = 2;

impl Monitor {
    fn new() -> Option<Monitor> {
        use rustix::net::{netlink, socket_with, AddressFamily, SocketFlags, SocketType};
        let sock = socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            Some(netlink::KOBJECT_UEVENT),
        )
        .ok()?;
        rustix::net::bind(&sock, &netlink::SocketAddrNetlink::new(0, UDEV_GROUP)).ok()?;
        Some(Monitor { sock })
    }

    /// Until `deadline`: wait for udevd to report an event of block device
    /// `major:minor` with `DISCREC_HOLD=1`.
    fn wait_for_hold(&self, major: u32, minor: u32, deadline: Instant, cancel: Option<BorrowedFd<'_>>) {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut buf = vec![0u8; 16 * 1024];
        let want = [format!("MAJOR={major}"), format!("MINOR={minor}"), format!("{HOLD_PROPERTY}=1")];
        loop {
            loop {
                match rustix::net::recv(&self.sock, &mut buf[..], rustix::net::RecvFlags::empty()) {
                    Ok((n, _)) => {
                        if udev_properties(&buf[..n.min(buf.len())])
                            .is_some_and(|props| want.iter().all(|w| props.contains(&w.as_bytes())))
                        {
                            return;
                        }
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => break,
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let mut fds = vec![PollFd::new(&self.sock, PollFlags::IN)];
            if let Some(c) = cancel {
                fds.push(PollFd::from_borrowed_fd(c, PollFlags::IN));
            }
            let timeout = rustix::event::Timespec::try_from(left).ok();
            let _ = poll(&mut fds, timeout.as_ref());
            if fds.get(1).is_some_and(|c| !c.revents().is_empty()) {
                return;
            }
        }
    }
}

/// The `KEY=VALUE` properties of one udevd message (`libudev` header, then
/// the properties block it points at), or `None` for anything else.
fn udev_properties(msg: &[u8]) -> Option<Vec<&[u8]>> {
    if !msg.starts_with(b"libudev\0") || msg.len() < 24 {
        return None;
    }
    let word = |at: usize| u32::from_ne_bytes(msg[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
    let (off, len) = (word(16), word(20));
    let block = msg.get(off..off.checked_add(len)?)?;
    Some(block.split(|&b| b == 0).filter(|p| !p.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_udevd_message_gives_its_properties_and_nothing_else_does() {
        let props = b"ACTION=change\0MAJOR=11\0MINOR=0\0DISCREC_HOLD=1\0";
        let mut msg = b"libudev\0".to_vec();
        msg.extend(0xfeedcafe_u32.to_be_bytes());
        msg.extend(40u32.to_ne_bytes());
        msg.extend(40u32.to_ne_bytes());
        msg.extend((props.len() as u32).to_ne_bytes());
        msg.resize(40, 0);
        msg.extend(props);
        let got = udev_properties(&msg).unwrap();
        assert_eq!(got, vec![&b"ACTION=change"[..], b"MAJOR=11", b"MINOR=0", b"DISCREC_HOLD=1"]);
        assert!(udev_properties(b"change@/devices/x\0ACTION=change\0").is_none(), "a kernel message is not udevd's");
        let mut cut = msg.clone();
        cut.truncate(50);
        assert!(udev_properties(&cut).is_none(), "a block past the message's end is refused");
        assert!(udev_properties(b"libudev\0").is_none());
    }
}

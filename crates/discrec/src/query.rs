//! The owner query (`ExclusiveAccessOwner`, spec C7): who holds a drive,
//! answered from this process's own holdings, then a probe that tells a
//! free drive in O(1), then the kernel's lock table and the holder's
//! record.

use std::os::fd::OwnedFd;
use std::sync::Mutex;

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::holders::LockKind;
use crate::key::DriveKey;
use crate::owner::{foreign_owner, own_pid, Owner};
use crate::records::{self, RecordDirs};
use crate::target::Target;

/// Drives this process holds and the owner it holds each as: a process
/// that asks about a drive it holds itself is answered from here, exactly
/// and without reading `/proc/locks`. Entries carry the pid that made them,
/// so a forked child (which holds nothing of its own) does not use them.
static HELD_HERE: Mutex<Vec<(DriveKey, i32, Owner)>> = Mutex::new(Vec::new());

fn held_here_table() -> std::sync::MutexGuard<'static, Vec<(DriveKey, i32, Owner)>> {
    HELD_HERE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The owner of `key` if this very process holds it.
pub(crate) fn held_here(key: DriveKey) -> Option<Owner> {
    let me = own_pid();
    held_here_table().iter().find(|(k, pid, _)| *k == key && *pid == me).map(|(_, _, o)| o.clone())
}

/// Note that this process now holds `key` as `owner`.
pub(crate) fn register_held(key: DriveKey, owner: Owner) {
    held_here_table().push((key, own_pid(), owner));
}

/// Note that this process no longer holds `key`.
pub(crate) fn forget_held(key: DriveKey) {
    let me = own_pid();
    held_here_table().retain(|(k, pid, _)| !(*k == key && *pid == me));
}

/// The owner of a drive from the holder's record, else the kernel's lock
/// table.
///
/// A free drive is answered without `/proc/locks` (see
/// [`held_exclusively`]), and so is a discrec holder whose record the
/// reader may check through `/proc/PID/fdinfo` (root, or the holder's own
/// user: [`records::owner_by_pointers`]). Anyone else's answer reads
/// `/proc/locks` up to the holder's lock. A discrec client writes its
/// record before it takes the lock, so a holder without one is not a
/// discrec client, and is named at once.
pub(crate) fn query_owner(target: &Target, dirs: &RecordDirs, st: &rustix::fs::Stat) -> Result<Option<Owner>> {
    if let Some(me) = held_here(target.key) {
        return Ok(Some(me));
    }
    let probed = held_exclusively(target);
    if probed == Probe::Free {
        return Ok(None);
    }
    if let Some(o) = records::owner_by_pointers(dirs, target.key, &target.node, st) {
        return Ok(Some(o));
    }
    // /proc/locks is read a page at a time by position: locks freed ahead
    // of the one we look for while we read shift it past us (any user can
    // churn locks). The probe said someone holds it, so "nobody" is read
    // again, and a holder never found is reported as unknown rather than
    // the drive as free.
    for _ in 0..CHURN_RETRIES {
        let found = records::find_owner(dirs, target.key, &target.node, st)
            .map_err(|e| Error::Fail { what: "cannot read /proc/locks".into(), source: e })?;
        if found.is_some() || probed != Probe::Held || held_exclusively(target) != Probe::Held {
            return Ok(found);
        }
    }
    Ok(Some(foreign_owner(None, LockKind::Flock)))
}

/// How often a scan that missed the holder of a drive the probe says is
/// held is done again: each miss needs locks freed ahead of the holder's
/// during that very read (measured: 1 in 15 looks missed all of 3 scans
/// while another process churned 2,000 locks).
const CHURN_RETRIES: usize = 10;

/// Open the node for locking: read-only, non-blocking (no medium needed).
pub(crate) fn open_node(target: &Target) -> Result<OwnedFd> {
    rustix::fs::open(&target.node, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())
        .map_err(|e| target.io_error("cannot open", e.into()))
}

/// What a look at a node's locks found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Some process holds an exclusive lock on it.
    Held,
    /// No exclusive lock.
    Free,
    /// The node could not be opened to ask.
    CannotTell,
}

/// Whether some process holds an exclusive lock on the node: an exclusive
/// `flock` (a shared `flock` of ours is refused then) or an exclusive POSIX
/// or OFD lock (a POSIX read lock of ours is refused then). No
/// `/proc/locks`, so it costs the same on a machine with 50,000 locks as
/// on an idle one.
pub(crate) fn held_exclusively(target: &Target) -> Probe {
    let Ok(fd) = open_node(target) else { return Probe::CannotTell };
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Probe::Held,
        Err(_) => return Probe::CannotTell,
    }
    if fcntl_locked(&fd) {
        Probe::Held
    } else {
        Probe::Free
    }
}

/// Whether another process holds an exclusive POSIX or OFD lock on the
/// file of `fd`. Hints are passed over ([`crate::holders::HINT_START`]):
/// `F_GETLK` names one conflicting lock, so the bytes on each side of a
/// hint are asked again, a bounded number of times (a node with more hints
/// than that counts as locked).
pub(crate) fn fcntl_locked(fd: &OwnedFd) -> bool {
    let mut ranges = vec![(0u64, None::<u64>)];
    for _ in 0..64 {
        let Some((start, end)) = ranges.pop() else { return false };
        let len = end.map_or(0, |e| e - start + 1);
        match crate::sys::write_lock_in(fd, start, len) {
            Ok(None) | Err(_) => continue,
            Ok(Some((at, n, pid))) => {
                if !crate::holders::is_hint(pid == -1, at, (n == 1).then_some(at)) {
                    return true;
                }
                if at > start {
                    ranges.push((start, Some(at - 1)));
                }
                if end.is_none_or(|e| at < e) {
                    ranges.push((at + 1, end));
                }
            }
        }
    }
    !ranges.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{Mode, OFlags};

    #[test]
    fn the_probe_tells_held_free_and_cannot_tell_apart() {
        let dir = std::env::temp_dir().join(format!("discrec-probe-test.{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let node = dir.join("disc.img");
        std::fs::write(&node, b"").unwrap();
        let target = Target::resolve(&node).unwrap();
        assert_eq!(held_exclusively(&target), Probe::Free);
        // An exclusive flock by another open file description is a holder.
        let other = rustix::fs::open(&node, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        rustix::fs::flock(&other, FlockOperation::NonBlockingLockExclusive).unwrap();
        assert_eq!(held_exclusively(&target), Probe::Held);
        // A shared one is not.
        rustix::fs::flock(&other, FlockOperation::NonBlockingLockShared).unwrap();
        assert_eq!(held_exclusively(&target), Probe::Free);
        drop(other);
        std::fs::remove_file(&node).unwrap();
        assert_eq!(held_exclusively(&target), Probe::CannotTell, "a node that is gone cannot be asked");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_handle_of_this_process_is_answered_from_memory() {
        let key = DriveKey::File { dev: u64::MAX, ino: 4242 };
        assert!(held_here(key).is_none());
        let me = foreign_owner(Some(std::process::id() as i32), LockKind::Flock);
        let me = Owner { client_name: Some("Here".into()), ..me };
        register_held(key, me);
        assert_eq!(held_here(key).and_then(|o| o.client_name).as_deref(), Some("Here"));
        forget_held(key);
        assert!(held_here(key).is_none());
    }
}

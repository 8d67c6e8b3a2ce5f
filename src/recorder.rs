//! The recorder handle and its lock count (spec C1, C5, C8, C10): what
//! `IDiscRecorder2` is to an application. Each handle is one client; nested
//! acquires on a handle only count.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::client_name;
use crate::error::{Error, Result};
use crate::holders::{self, Holder};
use crate::lock::{self, Held, Patience};
use crate::mounts::{self, Mount};
use crate::owner::{self, Owner};
use crate::target::{Target, TargetKind};

/// A handle on one recorder: a drive or a virtual recorder (an image file).
#[derive(Debug)]
pub struct Recorder {
    target: Target,
    run_dir: PathBuf,
    count: u32,
    held: Option<Held>,
    client_name: Option<String>,
    closed: bool,
}

/// What `status` reports about a drive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DriveStatus {
    /// The target as given.
    pub target: PathBuf,
    /// The node discrec locks.
    pub node: PathBuf,
    /// Block device or file.
    pub kind: TargetKind,
    /// True when some client holds exclusive access (this handle included).
    pub locked: bool,
    /// The holder, when held.
    pub owner: Option<Owner>,
    /// File systems mounted from the drive.
    pub mounts: Vec<Mount>,
    /// Other locks on the node (e.g. udevd probing with a shared flock).
    pub other_locks: Vec<Holder>,
}

impl Recorder {
    /// Open a recorder: a block device path (links such as
    /// `/dev/disk/by-id/...` resolved, `sg` nodes mapped to their drive) or
    /// a regular file used as a virtual recorder.
    ///
    /// Missing targets are `ERROR_DEV_NOT_EXIST`; targets the caller may
    /// not open for reading and writing are `E_ACCESSDENIED`.
    pub fn open(path: impl AsRef<Path>) -> Result<Recorder> {
        Self::open_in(path, owner::run_dir())
    }

    /// Like [`Recorder::open`] with an explicit runtime directory for owner
    /// records (tests, or systems that keep it elsewhere).
    pub fn open_in(path: impl AsRef<Path>, run_dir: impl Into<PathBuf>) -> Result<Recorder> {
        let target = Target::resolve(path.as_ref())?;
        Ok(Recorder { target, run_dir: run_dir.into(), count: 0, held: None, client_name: None, closed: false })
    }

    /// The resolved target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The lock count of this handle (spec C5).
    pub fn lock_count(&self) -> u32 {
        self.count
    }

    /// The client name this handle holds the drive under.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// Mounts that a forced acquire could not remove (spec C3).
    pub fn volume_still_mounted(&self) -> &[Mount] {
        self.held.as_ref().map(|h| h.still_mounted.as_slice()).unwrap_or(&[])
    }

    /// Why no owner record could be written (the lock works without it,
    /// but others see no client name), if that happened.
    pub fn owner_record_error(&self) -> Option<&str> {
        self.held.as_ref().and_then(|h| h.record_error.as_deref())
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(Error::InvalidHandle { target: self.target.given.clone() });
        }
        Ok(())
    }

    /// `AcquireExclusiveAccess(force, clientName)` (spec C1-C4): exclusive
    /// use of the drive, or an error at once if someone else has it.
    pub fn acquire_exclusive_access(&mut self, force: bool, client_name: &str) -> Result<()> {
        self.acquire_with(force, client_name, Patience::NoWait)
    }

    /// Like [`Recorder::acquire_exclusive_access`], but wait for the drive:
    /// `None` waits forever. Waiters are served first come, first served,
    /// and woken as soon as the holder releases or dies. At the deadline
    /// the error says who still holds the drive.
    pub fn acquire_exclusive_access_wait(
        &mut self,
        force: bool,
        client_name: &str,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let until = timeout.map(|t| Instant::now() + t);
        self.acquire_with(force, client_name, Patience::Until(until))
    }

    fn acquire_with(&mut self, force: bool, client_name: &str, patience: Patience) -> Result<()> {
        self.check_open()?;
        client_name::validate(client_name)?;
        if self.count > 0 {
            // Nested: only the count changes (spec C5).
            self.count = self.count.checked_add(1).ok_or_else(|| {
                Error::InvalidArgument("the lock count would overflow; release before acquiring again".into())
            })?;
            return Ok(());
        }
        let held = lock::acquire(&self.target, &self.run_dir, force, client_name, patience)?;
        self.held = Some(held);
        self.count = 1;
        self.client_name = Some(client_name.to_string());
        Ok(())
    }

    /// `ReleaseExclusiveAccess`: one release per acquire; the drive is free
    /// when the count reaches zero, and then user space is told the medium
    /// changed (spec C11). Releasing a handle that holds nothing is
    /// `ERROR_INVALID_FUNCTION`.
    pub fn release_exclusive_access(&mut self) -> Result<()> {
        self.check_open()?;
        if self.count == 0 {
            return Err(Error::NotLocked { target: self.target.given.clone() });
        }
        self.count -= 1;
        if self.count == 0 {
            self.release_all();
        }
        Ok(())
    }

    fn release_all(&mut self) {
        self.count = 0;
        self.client_name = None;
        if let Some(h) = self.held.take() {
            h.release();
            // Best effort: only root may write uevent files.
            let _ = crate::notify::media_changed(&self.target);
        }
    }

    /// `ExclusiveAccessOwner` (spec C7): who holds the drive, from any
    /// process of any user who can see it; `None` when it is free. Holders
    /// that are not discrec clients are reported too, with `by_discrec`
    /// false and no client name.
    pub fn exclusive_access_owner(&self) -> Result<Option<Owner>> {
        self.check_open()?;
        Ok(query_owner(&self.target, &self.run_dir, &self.target.stat_node()?, true)?.owner)
    }

    /// A guard that releases on drop.
    pub fn lock(&mut self, force: bool, client_name: &str) -> Result<ExclusiveAccess<'_>> {
        self.acquire_exclusive_access(force, client_name)?;
        Ok(ExclusiveAccess { recorder: self })
    }

    /// A guard that waits for the drive (see [`Recorder::acquire_exclusive_access_wait`]).
    pub fn lock_wait(
        &mut self,
        force: bool,
        client_name: &str,
        timeout: Option<Duration>,
    ) -> Result<ExclusiveAccess<'_>> {
        self.acquire_exclusive_access_wait(force, client_name, timeout)?;
        Ok(ExclusiveAccess { recorder: self })
    }

    /// Run an operation that needs the drive (spec C8, C10): with this
    /// handle's lock if it holds one (the count goes up and back), else
    /// under a lock taken for the operation's duration with `client_name`.
    /// Another client's lock makes it fail with `E_IMAPI_RECORDER_LOCKED`.
    pub fn with_exclusive_access<T>(
        &mut self,
        client_name: &str,
        f: impl FnOnce(&mut Recorder) -> Result<T>,
    ) -> Result<T> {
        let name = self.client_name.clone().unwrap_or_else(|| client_name.to_string());
        self.acquire_exclusive_access(false, &name)?;
        let out = f(self);
        let rel = self.release_exclusive_access();
        let v = out?;
        rel?;
        Ok(v)
    }

    /// Give up the kernel's exclusive claim (`O_EXCL`) while keeping the
    /// discrec lock and owner record, so that a tool this handle runs can
    /// open the device with `O_EXCL` itself. See the README ("Wrapping a
    /// tool") for why the hand-over is safe.
    pub fn hand_over_claim(&mut self) -> Result<()> {
        self.check_open()?;
        match self.held.as_mut() {
            Some(h) => {
                h.drop_claim();
                Ok(())
            }
            None => Err(Error::NotLocked { target: self.target.given.clone() }),
        }
    }

    /// Whether this handle holds the kernel's exclusive claim.
    pub fn holds_kernel_claim(&self) -> bool {
        self.held.as_ref().is_some_and(|h| h.has_claim())
    }

    /// Lock state, owner, mounts and other lockers of the drive.
    pub fn status(&self) -> Result<DriveStatus> {
        self.check_open()?;
        let OwnerView { owner, node_locks } =
            query_owner(&self.target, &self.run_dir, &self.target.stat_node()?, true)?;
        let other_locks = node_locks
            .iter()
            .filter(|l| !(l.exclusive && owner.as_ref().is_some_and(|o| o.pid == l.pid)))
            .map(Holder::from_lock)
            .collect();
        Ok(DriveStatus {
            target: self.target.given.clone(),
            node: self.target.node.clone(),
            kind: self.target.kind,
            locked: owner.is_some(),
            owner,
            mounts: mounts::mounts_of(&self.target.device_numbers()),
            other_locks,
        })
    }

    /// Close the handle: releases whatever it holds. Later calls on it are
    /// `ERROR_INVALID_HANDLE`.
    pub fn close(&mut self) -> Result<()> {
        self.check_open()?;
        self.release_all();
        self.closed = true;
        Ok(())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.release_all();
    }
}

/// What one look at `/proc/locks` says about a drive.
pub(crate) struct OwnerView {
    /// The holder, if any.
    pub owner: Option<Owner>,
    /// Every lock held on the drive's node, from the same read.
    pub node_locks: Vec<holders::LockEntry>,
}

/// The owner of a drive from the kernel's lock table and the holder's record.
///
/// `patient`: a holder without a record may be a discrec client in the
/// instant between winning the lock and writing its record (or a holder
/// being torn down); look again for up to 3 ms before calling it a foreign
/// holder. Callers that retry on their own pass false.
pub(crate) fn query_owner(target: &Target, run_dir: &Path, st: &rustix::fs::Stat, patient: bool) -> Result<OwnerView> {
    let look = || -> Result<OwnerView> {
        let locks = holders::read_proc_locks()
            .map_err(|e| Error::Fail { what: "cannot read /proc/locks".into(), source: e })?;
        let owner = owner::owner_from_locks(run_dir, target.key, st.st_dev, st.st_ino, &locks);
        let node_locks = locks.into_iter().filter(|l| !l.waiting && l.dev == st.st_dev && l.ino == st.st_ino).collect();
        Ok(OwnerView { owner, node_locks })
    };
    let first = look()?;
    let Some(o) = first.owner.as_ref().filter(|o| patient && !o.by_discrec && o.pid.is_some()) else {
        return Ok(first);
    };
    let pid = o.pid;
    let mut last = first;
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1));
        last = look()?;
        if !last.owner.as_ref().is_some_and(|a| a.pid == pid && !a.by_discrec) {
            break;
        }
    }
    Ok(last)
}

/// Holds exclusive access; releases it when dropped.
#[derive(Debug)]
pub struct ExclusiveAccess<'a> {
    recorder: &'a mut Recorder,
}

impl std::ops::Deref for ExclusiveAccess<'_> {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        self.recorder
    }
}

impl std::ops::DerefMut for ExclusiveAccess<'_> {
    fn deref_mut(&mut self) -> &mut Recorder {
        self.recorder
    }
}

impl Drop for ExclusiveAccess<'_> {
    fn drop(&mut self) {
        let _ = self.recorder.release_exclusive_access();
    }
}

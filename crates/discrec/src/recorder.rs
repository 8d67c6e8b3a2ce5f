//! The recorder handle and its lock count (spec C1, C5, C8, C10): what
//! `IDiscRecorder2` is to an application. Each handle is one client; nested
//! acquires on a handle only count.

use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::client_name;
use crate::cluster::{ClusterHold, Coordinator};
use crate::error::{Error, Result};
use crate::holders::{self, Holder};
use crate::key::TargetKind;
use crate::lock::{self, Held, Patience};
use crate::mounts::{self, Mount};
use crate::owner::Owner;
use crate::query::query_owner;
use crate::records::RecordDirs;
use crate::target::Target;
use crate::wait::WaitPolicy;

/// The environment variable in which a holder that runs COMMAND as its
/// child (rather than becoming it) gives its pid, so that COMMAND's own
/// discrec calls run under the holder's lock.
pub const HOLDER_PID_VAR: &str = "DISCREC_HOLDER_PID";

/// A handle on one recorder: a drive or a virtual recorder (an image file).
#[derive(Debug)]
#[doc(alias = "IDiscRecorder2")]
#[doc(alias = "MsftDiscRecorder2")]
pub struct Recorder {
    target: Target,
    dirs: RecordDirs,
    count: u32,
    held: Option<Held>,
    client_name: Option<String>,
    closed: bool,
    /// The coordination service and this drive's key in it, when the
    /// drive is shared between machines.
    cluster: Option<(std::sync::Arc<dyn Coordinator>, String)>,
    cluster_hold: Option<Box<dyn ClusterHold>>,
}

/// What `status` reports about a drive: who holds it, its mounts and
/// other lockers (not the tray: [`crate::drive::TrayState`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccessStatus {
    /// The target as given.
    #[serde(serialize_with = "crate::jsonpath::serialize")]
    pub target: PathBuf,
    /// The node discrec locks.
    #[serde(serialize_with = "crate::jsonpath::serialize")]
    pub node: PathBuf,
    /// Block device or file.
    pub kind: TargetKind,
    /// True when some client holds exclusive access (this handle included).
    pub locked: bool,
    /// The holder, when held.
    #[serde(serialize_with = "Owner::serialize_answer")]
    pub owner: Option<Owner>,
    /// File systems mounted from the drive.
    #[serde(serialize_with = "Mount::serialize_as_text")]
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
    #[doc(alias = "InitializeDiscRecorder")]
    pub fn open(path: impl AsRef<Path>) -> Result<Recorder> {
        Self::open_with(path, RecordDirs::from_env())
    }

    /// Like [`Recorder::open`] with one explicit directory for owner
    /// records and tickets (tests, or systems that keep them elsewhere).
    pub fn open_in(path: impl AsRef<Path>, run_dir: impl Into<PathBuf>) -> Result<Recorder> {
        Self::open_with(path, RecordDirs::only(run_dir))
    }

    /// Like [`Recorder::open`] with the given record directories.
    pub fn open_with(path: impl AsRef<Path>, dirs: RecordDirs) -> Result<Recorder> {
        let target = Target::resolve(path.as_ref())?;
        Ok(Recorder {
            target,
            dirs,
            count: 0,
            held: None,
            client_name: None,
            closed: false,
            cluster: None,
            cluster_hold: None,
        })
    }

    /// The resolved target.
    #[doc(alias = "ActiveDiscRecorder")]
    #[doc(alias = "get_ActiveDiscRecorder")]
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
    #[doc(alias = "AcquireExclusiveAccess")]
    pub fn acquire_exclusive_access(&mut self, force: bool, client_name: &str) -> Result<()> {
        self.acquire_with(force, client_name, Patience::no_wait())
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
        self.wait_for_exclusive_access(force, client_name, Wait { timeout, ..Wait::default() })
    }

    /// The waiting acquire with everything a waiting program may want:
    /// a deadline, a descriptor that cancels the wait when it becomes
    /// readable (e.g. a signal pipe; `E_IMAPI_REQUEST_CANCELLED`, nothing
    /// taken), and a callback told who is in the way whenever that changes.
    pub fn wait_for_exclusive_access(&mut self, force: bool, client_name: &str, wait: Wait<'_>) -> Result<()> {
        let Wait { timeout, cancel, on_wait } = wait;
        // A deadline past what the clock can count (Duration::MAX, 1e19 s
        // from Python) is no deadline: forever.
        let limit = WaitPolicy::at_most(timeout).deadline(Instant::now());
        self.acquire_with(force, client_name, Patience { wait: true, limit, cancel, on_wait })
    }

    fn acquire_with(&mut self, force: bool, client_name: &str, patience: Patience<'_>) -> Result<()> {
        self.check_open()?;
        client_name::validate(client_name)?;
        if self.count > 0 {
            // Nested: only the count changes (spec C5).
            self.count = self.count.checked_add(1).ok_or_else(|| {
                Error::InvalidArgument("the lock count would overflow; release before acquiring again".into())
            })?;
            return Ok(());
        }
        let mut patience = patience;
        let (waiting, limit, cancel) = (patience.wait, patience.limit, patience.cancel);
        let held = lock::acquire(&self.target, &self.dirs, force, client_name, &mut patience)?;
        // The local lock first, then the cluster's; without it, the local
        // one is given back.
        if let Some((service, key)) = &self.cluster {
            let wait = match (waiting, limit) {
                (false, _) => WaitPolicy::NoWait,
                (true, None) => WaitPolicy::Forever,
                (true, Some(l)) => WaitPolicy::AtMost(l.saturating_duration_since(Instant::now())),
            };
            let me = crate::owner::own_owner(client_name, std::time::SystemTime::now());
            let target = self.target.given.clone();
            let mut tell = |o: &Owner| {
                if let Some(f) = patience.on_wait.as_mut() {
                    f(&Error::RecorderLocked { target: target.clone(), owner: Box::new(o.clone()) });
                }
            };
            match service.acquire(key, &self.target.given, &me, wait, cancel, &mut tell) {
                Ok(h) => self.cluster_hold = Some(h),
                Err(e) => {
                    held.release();
                    return Err(e);
                }
            }
        }
        self.held = Some(held);
        self.count = 1;
        self.client_name = Some(client_name.to_string());
        Ok(())
    }

    /// Share this drive with other machines through `service`, under
    /// `key` (the same on every machine: see `discrec_mmc::drive_identity`).
    /// From then on every acquire also takes the cluster lock, and the
    /// owner query asks the cluster when no one holds the drive here.
    /// Refused while this handle holds the drive.
    pub fn set_cluster(&mut self, service: std::sync::Arc<dyn Coordinator>, key: impl Into<String>) -> Result<()> {
        self.check_open()?;
        if self.count > 0 {
            return Err(Error::InvalidArgument(
                "the cluster of a recorder cannot change while it holds the drive; release it first".into(),
            ));
        }
        self.cluster = Some((service, key.into()));
        Ok(())
    }

    /// Why this handle's cluster lock was lost, once it was: stop using
    /// the drive, another machine may hold it now.
    pub fn cluster_lock_lost(&self) -> Option<String> {
        self.cluster_hold.as_ref().and_then(|h| h.lost())
    }

    /// `Ok` while this handle's cluster lock holds (or it has none); once
    /// it was lost, the error to stop with: `Error::Cluster` naming the
    /// service, the drive and why. A holder that polls this between two
    /// commands to the drive sends none after another machine may have
    /// been granted it.
    pub fn check_cluster_lock(&self) -> Result<()> {
        match (self.cluster_lock_lost(), &self.cluster) {
            (Some(why), Some((service, _))) => Err(Error::Cluster {
                service: service.describe(),
                detail: format!(
                    "the cluster lock of {} was lost ({why}); another machine may be granted the drive now, so stop using it",
                    self.target.given.display()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The time to live of this handle's cluster lock, while it holds one.
    pub(crate) fn cluster_hold_ttl(&self) -> Option<Duration> {
        self.cluster_hold.as_ref().map(|h| h.time_to_live())
    }

    /// The fencing token of this handle's cluster lock, while it holds one.
    pub fn fencing_token(&self) -> Option<i64> {
        self.cluster_hold.as_ref().map(|h| h.fencing_token())
    }

    /// `ReleaseExclusiveAccess`: one release per acquire; the drive is free
    /// when the count reaches zero, and then user space is told the medium
    /// changed (spec C11). Releasing a handle that holds nothing is
    /// `ERROR_INVALID_FUNCTION`.
    #[doc(alias = "ReleaseExclusiveAccess")]
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
        // A forked child releasing what it inherited gives up its copies
        // only: the hold, its record and its cluster lease stay the
        // parent's.
        if self.held.as_ref().is_some_and(|h| h.is_inherited()) {
            if let Some(c) = self.cluster_hold.take() {
                std::mem::forget(c);
            }
            if let Some(h) = self.held.take() {
                h.release();
            }
            return;
        }
        // The cluster's lock first: the local one keeps this machine's
        // other clients off until the cluster knows the drive is free.
        if let Some(c) = self.cluster_hold.take() {
            c.release();
        }
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
    #[doc(alias = "ExclusiveAccessOwner")]
    #[doc(alias = "get_ExclusiveAccessOwner")]
    pub fn exclusive_access_owner(&self) -> Result<Option<Owner>> {
        self.check_open()?;
        let here = query_owner(&self.target, &self.dirs, &self.target.stat_node()?)?;
        self.with_cluster_owner(here)
    }

    /// The owner to report, given the one this machine knows: with a
    /// cluster, a free drive or one a discrec client holds here (a guard,
    /// or the holder itself) is answered by the cluster's holder, which
    /// names its host; a program outside discrec is reported as it is.
    fn with_cluster_owner(&self, here: Option<Owner>) -> Result<Option<Owner>> {
        let Some((service, key)) = &self.cluster else { return Ok(here) };
        match here {
            Some(h) if !h.by_discrec => Ok(Some(h)),
            here => Ok(service.owner(key)?.or(here)),
        }
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
        match self.acquire_exclusive_access(false, &name) {
            Ok(()) => {}
            // This very process already holds the drive, through a lock it
            // kept across exec (`discrec lock TARGET -- discrec burn ...`):
            // the operation runs under that lock.
            Err(Error::RecorderLocked { owner, .. }) if self.held_across_exec(&owner) => {
                // Marked as held here while it runs: another handle of this
                // process is another client, refused (two writers at once
                // under one inherited lock would ruin the disc).
                crate::query::register_held(self.target.key, *owner);
                let out = f(self);
                crate::query::forget_held(self.target.key);
                return out;
            }
            Err(e) => return Err(e),
        }
        let out = f(self);
        let rel = self.release_exclusive_access();
        let v = out?;
        rel?;
        Ok(v)
    }

    /// [`Recorder::with_exclusive_access`], first queueing for the drive
    /// as `wait` says while another client holds it (first come, first
    /// served; `cancel` ends the wait with `E_IMAPI_REQUEST_CANCELLED`).
    /// A handle that holds the drive already, or runs under a lock this
    /// process inherited, has nothing to wait for: the operation nests in
    /// that lock.
    pub fn with_exclusive_access_waiting<T>(
        &mut self,
        client_name: &str,
        wait: WaitPolicy,
        cancel: Option<BorrowedFd<'_>>,
        f: impl FnOnce(&mut Recorder) -> Result<T>,
    ) -> Result<T> {
        let waits = wait.waits() && self.lock_count() == 0 && !self.runs_under_inherited_hold();
        if waits {
            self.wait_for_exclusive_access(
                false,
                client_name,
                Wait { timeout: wait.timeout(), cancel, on_wait: None },
            )?;
        }
        let r = self.with_exclusive_access(client_name, f);
        if waits {
            let _ = self.release_exclusive_access();
        }
        r
    }

    /// Whether `owner` is this process holding the drive through a lock
    /// kept across `exec`, rather than another handle of this process (a
    /// client of its own, refused as any other); or this process's parent
    /// running it as the COMMAND of a lock it holds (a cluster lock's
    /// holder stays a process of its own to keep its lease alive, and
    /// names itself in [`HOLDER_PID_VAR`]).
    /// Whether this process runs under a hold it inherited (or kept across
    /// `exec`) rather than one of its own handles: a waiting operation
    /// then has nothing to wait for.
    pub(crate) fn runs_under_inherited_hold(&self) -> bool {
        self.count == 0
            && crate::query::held_here(self.target.key).is_none()
            && crate::lock::inherits_hold(&self.target)
    }

    pub(crate) fn held_across_exec(&self, owner: &Owner) -> bool {
        if owner.host.is_none() {
            // A handle of this very process holds it: another client.
            if crate::query::held_here(self.target.key).is_some() {
                return false;
            }
            // This process, or an ancestor it inherited the lock from.
            if owner.is_this_process() || crate::lock::inherits_hold(&self.target) {
                return true;
            }
        }
        // Only a holder on this machine (a pid elsewhere names another
        // process, whatever its number).
        let parent = std::os::unix::process::parent_id() as i32;
        owner.host.is_none()
            && owner.pid == Some(parent)
            && std::env::var(HOLDER_PID_VAR).ok().and_then(|p| p.parse::<i32>().ok()) == Some(parent)
    }

    /// Start `command` as a child that holds the drive under this handle's
    /// lock, for a holder that must stay a process of its own (a cluster
    /// lock's keep-alive): the kernel's claim is handed over unless
    /// `keep_claim`, `command`'s own discrec calls run under this lock
    /// ([`HOLDER_PID_VAR`]), and it gets SIGKILL when the thread that
    /// started it ends (the kernel's parent-death signal follows the
    /// thread): start it from a thread that lives as long as the command.
    /// This process becomes a subreaper, so that the orphans `command`
    /// leaves stay within reach ([`Recorder::run_holding`] reaps them and
    /// puts the setting back).
    pub fn spawn_holding(
        &mut self,
        command: &mut std::process::Command,
        keep_claim: bool,
    ) -> Result<std::process::Child> {
        self.check_open()?;
        if self.count == 0 {
            return Err(Error::NotLocked { target: self.target.given.clone() });
        }
        if !keep_claim {
            self.hand_over_claim()?;
        }
        command.env(HOLDER_PID_VAR, std::process::id().to_string());
        crate::sys::die_with_parent(command);
        crate::sys::set_child_subreaper(true);
        let program = command.get_program().to_string_lossy().into_owned();
        command.spawn().map_err(|e| Error::CannotRun { program, cause: e })
    }

    /// Give up the kernel's exclusive claim (`O_EXCL`) while keeping the
    /// discrec lock and owner record, so that a tool this handle runs can
    /// open the device with `O_EXCL` itself. See `docs/design.md` ("Wrapping
    /// a tool") for why the hand-over is safe.
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

    /// Let what this handle holds survive `exec`: the program this process
    /// becomes keeps the drive, under this handle's client name and with
    /// this pid, for as long as it runs, and the kernel frees it when that
    /// program ends (`discrec lock -- COMMAND` uses this). Call
    /// [`Recorder::hand_over_claim`] first if the program opens the drive
    /// with `O_EXCL` itself.
    pub fn keep_across_exec(&mut self) -> Result<()> {
        self.check_open()?;
        match self.held.as_ref() {
            Some(h) => h.keep_across_exec().map_err(|e| Error::Fail {
                what: format!("cannot keep the lock of {} across exec", self.target.given.display()),
                source: e,
            }),
            None => Err(Error::NotLocked { target: self.target.given.clone() }),
        }
    }

    /// Become `command` (`exec`), holding the drive: the lock, the owner
    /// record's lock and, with `keep_claim`, the kernel's `O_EXCL` claim
    /// survive `exec`, so `command` holds the drive under this handle's
    /// client name, with this pid, for exactly as long as it runs, whoever
    /// kills whom; its stdout, signals and exit status are its own. Without
    /// `keep_claim` the claim is handed over ([`Recorder::hand_over_claim`])
    /// so that a tool that opens the drive with `O_EXCL` itself can. A
    /// detached process sends the media-change uevent once `command` has
    /// ended (spec C11; see `docs/design.md`, "Media change"). This is `discrec lock TARGET
    /// -- COMMAND`.
    ///
    /// The media-change helper is forked, which is safe only in a process
    /// with one thread; in a threaded process (a C or Python host) it is
    /// left out and no uevent follows COMMAND. It returns only when
    /// `command` could not be run: the handle held nothing or was closed,
    /// or `exec` failed ([`Error::CannotRun`]); either way `self` is
    /// dropped on return, which releases the drive.
    pub fn exec_holding(mut self, command: &mut std::process::Command, keep_claim: bool) -> Error {
        use std::os::unix::process::CommandExt;
        let mut ready = || -> Result<()> {
            self.check_open()?;
            if self.held.is_none() {
                return Err(Error::NotLocked { target: self.target.given.clone() });
            }
            if !keep_claim {
                self.hand_over_claim()?;
            }
            if crate::procfs::threads_of_self() == Some(1) {
                crate::notify::media_changed_when_this_process_ends(&self.target);
            }
            self.keep_across_exec()
        };
        if let Err(e) = ready() {
            return e;
        }
        let cause = command.exec();
        Error::CannotRun { program: command.get_program().to_string_lossy().into_owned(), cause }
    }

    /// Whether this handle holds the kernel's exclusive claim.
    pub fn holds_kernel_claim(&self) -> bool {
        self.held.as_ref().is_some_and(|h| h.has_claim())
    }

    /// Lock state, owner, mounts and other lockers of the drive.
    pub fn status(&self) -> Result<AccessStatus> {
        self.check_open()?;
        let st = self.target.stat_node()?;
        let owner = self.with_cluster_owner(query_owner(&self.target, &self.dirs, &st)?)?;
        let other_locks = holders::locks_on(st.st_dev, st.st_ino)
            .map_err(|e| Error::Fail { what: "cannot read /proc/locks".into(), source: e })?
            .iter()
            .filter(|l| !(l.exclusive && owner.as_ref().is_some_and(|o| o.pid == l.pid)))
            .map(Holder::from_lock)
            .collect();
        Ok(AccessStatus {
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

/// How a waiting acquire waits (see
/// [`Recorder::wait_for_exclusive_access`]).
#[derive(Default)]
pub struct Wait<'a> {
    /// Give up after this long (`None`: wait forever).
    pub timeout: Option<Duration>,
    /// Give up, taking nothing, when this descriptor becomes readable.
    pub cancel: Option<BorrowedFd<'a>>,
    /// Called with the error that says who is in the way, whenever that
    /// changes (the first time too).
    pub on_wait: Option<&'a mut dyn FnMut(&Error)>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty image and a records directory of the test's own.
    fn scratch(name: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("discrec-recorder-{name}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::write(dir.join("disc.img"), b"").unwrap();
        (dir.join("disc.img"), dir)
    }

    #[test]
    fn acquires_nest_releases_match_them_and_a_closed_handle_says_so() {
        let (img, dir) = scratch("nest");
        let mut rec = Recorder::open_in(&img, dir.join("run")).unwrap();
        let other = Recorder::open_in(&img, dir.join("run")).unwrap();
        rec.acquire_exclusive_access(false, "Nested").unwrap();
        rec.acquire_exclusive_access(false, "Nested").unwrap();
        assert_eq!(rec.lock_count(), 2);
        rec.release_exclusive_access().unwrap();
        assert_eq!(other.exclusive_access_owner().unwrap().and_then(|o| o.client_name).as_deref(), Some("Nested"));
        rec.release_exclusive_access().unwrap();
        assert!(other.exclusive_access_owner().unwrap().is_none(), "the last release frees it");
        let e = rec.release_exclusive_access().unwrap_err();
        assert_eq!((e.name(), e.exit_code()), ("ERROR_INVALID_FUNCTION", 7), "{e}");
        rec.close().unwrap();
        let e = rec.acquire_exclusive_access(false, "Nested").unwrap_err();
        assert_eq!(e.name(), "ERROR_INVALID_HANDLE", "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_client_name_is_refused_before_the_drive_is_touched() {
        let (img, dir) = scratch("name");
        let mut rec = Recorder::open_in(&img, dir.join("run")).unwrap();
        let e = rec.acquire_exclusive_access(false, "a/b").unwrap_err();
        assert_eq!((e.name(), e.code(), e.exit_code()), ("E_INVALIDARG", 0x8007_0057, 2), "{e}");
        assert_eq!(rec.lock_count(), 0);
        assert!(rec.exclusive_access_owner().unwrap().is_none(), "a refused name locks nothing");
        assert!(std::fs::read_dir(dir.join("run")).unwrap().next().is_none(), "no record was written");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

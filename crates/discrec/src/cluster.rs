//! Drives shared by several machines: the cluster lock, held in a
//! coordination service beside the local lock. This module only says what
//! such a service must do ([`Coordinator`]); the etcd backend is the crate
//! `discrec-cluster`, so the core stays small and synchronous, and runs no
//! cluster code unless a recorder is given a coordinator
//! ([`crate::Recorder::set_cluster`]).
//!
//! Acquire takes the local lock first, then the cluster lock; release
//! gives back the cluster lock first. A holder that loses its cluster lock
//! (partitioned from the service) learns it before anyone else can be
//! granted it, and a write in progress stops at its next buffer.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::error::Result;
use crate::owner::Owner;

/// Time on `CLOCK_BOOTTIME`, which goes on while the machine is
/// suspended (the monotonic clock stops): what a coordinator measures a
/// lease with, since the service's clock went on too. Read through libc,
/// so that programs run under valgrind work (rustix's own vDSO lookup
/// crashes there).
pub fn boot_time() -> Duration {
    let ns = crate::sys::boottime_ns();
    Duration::new((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u32)
}

/// A coordination service that grants a drive to one client across
/// machines.
pub trait Coordinator: Send + Sync + std::fmt::Debug {
    /// Take the cluster lock of drive `key` as `owner` (its client name,
    /// pid, user and time; the service adds the host). `wait`: no wait
    /// fails at once when another client holds it
    /// (`E_IMAPI_RECORDER_LOCKED` naming client and host); a wait queues
    /// first come, first served, until its deadline or until `cancel`
    /// becomes readable (`E_IMAPI_REQUEST_CANCELLED`);
    /// `on_wait` hears whom a wait waits for, whenever that changes.
    fn acquire(
        &self,
        key: &str,
        target: &std::path::Path,
        owner: &Owner,
        wait: crate::wait::WaitPolicy,
        cancel: Option<BorrowedFd<'_>>,
        on_wait: &mut dyn FnMut(&Owner),
    ) -> Result<Box<dyn ClusterHold>>;

    /// Who holds drive `key` anywhere in the cluster.
    fn owner(&self, key: &str) -> Result<Option<Owner>>;

    /// The service, for messages (its URLs).
    fn describe(&self) -> String;
}

/// A cluster lock held.
pub trait ClusterHold: Send + std::fmt::Debug {
    /// Why the lock was lost (its lease expired or could not be renewed),
    /// once it was: from then on another machine may be granted the drive.
    /// Reported before the lease can expire on the service's side.
    fn lost(&self) -> Option<String>;

    /// A number that grows with every grant of this drive's lock: a writer
    /// that hands it to the storage it writes lets that storage refuse a
    /// holder whose lock was since given to another (a fencing token; for
    /// etcd the revision that created the holder's key).
    fn fencing_token(&self) -> i64;

    /// How long the service keeps the lock after the holder was last
    /// heard from (etcd: the lease's TTL): a holder that lost it stops
    /// its work well within this.
    fn time_to_live(&self) -> Duration;

    /// Give the lock back (delete the key, revoke the lease). Best effort:
    /// a lease that cannot be revoked expires by itself.
    fn release(self: Box<Self>);
}

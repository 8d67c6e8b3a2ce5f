//! The one place a write decides whether to stop: a cancel
//! ([`super::DataWriter::cancel_write`], a signal) or a cluster lock lost
//! (another machine may be granted the drive: not one more command goes
//! to it). Every loop of a write (writing, waiting for the source's end,
//! verifying) and a sink between its drive commands ask it.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::target::Target;

/// Why a write must stop, asked between steps.
pub(super) struct Stop<'a> {
    target: &'a Target,
    cancel: &'a AtomicBool,
    lost: &'a dyn Fn() -> Option<String>,
}

impl<'a> Stop<'a> {
    /// Stop on `cancel`, or when `lost` says why the cluster lock was lost.
    pub fn new(target: &'a Target, cancel: &'a AtomicBool, lost: &'a dyn Fn() -> Option<String>) -> Self {
        Stop { target, cancel, lost }
    }

    /// Whether to stop now (cheap enough to ask between drive commands).
    pub fn now(&self) -> bool {
        self.cancel.load(Ordering::SeqCst) || (self.lost)().is_some()
    }

    /// `Ok` to go on; else the error of a write stopped after `written`
    /// sectors: `E_IMAPI_REQUEST_CANCELLED`, or the cluster lock's loss.
    pub fn check(&self, written: u64) -> Result<()> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(self.cancelled(written));
        }
        match (self.lost)() {
            Some(why) => Err(lost_lock(self.target, why, written)),
            None => Ok(()),
        }
    }

    /// The error of a write cancelled after `written` sectors.
    pub fn cancelled(&self, written: u64) -> Error {
        Error::WriteCancelled { target: self.target.given.clone(), sectors_written: written, kept_old: false }
    }
}

/// Whether `e` says the cluster lock was lost: then nothing more may go to
/// the drive, not even the close of a begun track.
pub(super) fn is_lost_lock(e: &Error) -> bool {
    matches!(e, Error::Cluster { .. })
}

/// The error of a write whose cluster lock was lost after `written`
/// sectors.
fn lost_lock(t: &Target, why: String, written: u64) -> Error {
    Error::Cluster {
        service: "the cluster".into(),
        detail: format!(
            "the lock of {} was lost after {written} sectors ({why}); the write stopped, sending nothing more to the drive, and the medium may hold an incomplete recording",
            t.given.display()
        ),
    }
}

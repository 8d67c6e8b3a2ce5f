//! discrec: exclusive access to disc recorders on Linux.
//!
//! The contract of IMAPI2's `IDiscRecorder2::AcquireExclusiveAccess`, built
//! from kernel objects that die with their process: a `flock` on the drive
//! node and, for block devices, an `O_EXCL` open. See
//! `docs/exclusive-access.md` for the contract (rows C1-C11).
//!
//! ```no_run
//! use discrec::Recorder;
//! let mut rec = Recorder::open("/dev/sr0")?;
//! let guard = rec.lock(false, "My Burner")?;
//! // ... burn ...
//! drop(guard);
//! # Ok::<(), discrec::Error>(())
//! ```
//!
//! Modules, one concept each: [`recorder`] (handle and lock count),
//! [`lock`] (cross-process lock and fair waiting), [`drive`] (discovery,
//! identity, tray), [`mmc`] (MMC commands over SG_IO), [`owner`] (owner
//! records), [`holders`] (who holds a drive, from `/proc`), [`mounts`],
//! [`target`] (drive identity), [`client_name`], [`notify`] (media change),
//! [`error`].

#![deny(missing_docs)]

pub mod client_name;
pub mod drive;
pub mod error;
pub mod holders;
pub mod jsonpath;
pub mod lock;
pub mod mmc;
pub mod mounts;
pub mod notify;
pub mod owner;
pub mod recorder;
mod sys;
pub mod target;
pub mod users;

pub use error::{Error, Result};
pub use owner::Owner;
pub use recorder::{DriveStatus, ExclusiveAccess, Recorder};
pub use target::{Target, TargetKind};

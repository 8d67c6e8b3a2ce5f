//! discrec: exclusive access to disc recorders on Linux. (On crates.io the
//! package is `discrec-core`: `cargo add discrec-core`, then `use discrec`.)
//!
//! The contract of IMAPI2's `IDiscRecorder2::AcquireExclusiveAccess`, built
//! from kernel objects that die with their process: a `flock` on the drive
//! node and, for block devices, an `O_EXCL` open. See
//! `docs/design.md` for the contract (rows C1-C11).
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
//! # Modules, bottom up
//!
//! Each module uses only modules listed before it, so the crate reads from
//! the top of this list down:
//!
//! | Module | Owns |
//! |---|---|
//! | `sys` (private) | the only `unsafe` of this crate: fork, byte-range locks, `pread` of our own descriptor, entering a mount namespace |
//! | [`users`] | user names for uids, from `/etc/passwd` |
//! | [`jsonpath`] | how a path (bytes) is written as a JSON string, reversibly |
//! | `access` (private) | who may open a node for reading and writing (mode, groups, ACL) |
//! | [`procfs`] | `/proc` read to its real end; a process's command, credentials, pid, state |
//! | [`key`] | the identity of a drive ([`key::DriveKey`]) and its kind |
//! | [`mounts`] | mounts of a drive in every namespace; unmounting for `force` |
//! | [`holders`] | who holds or uses a drive, from `/proc/locks`, `/proc/*/fd` and sysfs |
//! | [`owner`] | the [`Owner`] of a drive (`ExclusiveAccessOwner`) |
//! | [`error`] | [`Error`], each variant with its IMAPI2 / Win32 value |
//! | [`wait`] | how long a caller waits for a drive another client holds ([`WaitPolicy`]) |
//! | [`cluster`] | what a coordination service for drives shared between machines must do |
//! | [`client_name`] | client names (C4) |
//! | [`target`] | what a user names, resolved to the drive behind it |
//! | [`medium`] | the medium in a recorder: type, state flags, capacity, whether it can be written |
//! | [`records`] | owner records: written by the holder, believed only when proven |
//! | `notify` (private) | the media-change uevent after release (C11) |
//! | `query` (private) | the owner query: who holds a drive, busy machine or not |
//! | [`udev`] | the desktop kept off a held drive: the hint and tripwire udev and udisks2 see |
//! | [`cancel`] | a cancel signal for a wait or a write, raised from any thread without blocking |
//! | `lock` (private) | the cross-process lock and fair waiting |
//! | [`recorder`] | the handle and its lock count: `IDiscRecorder2` |
//! | [`supervise`] | a command run while holding a drive (`Recorder::run_holding`) |
//! | [`drive`] | discovery, identity and tray (`IDiscMaster2`, `EjectMedia`), over [`discrec_mmc`] |
//! | [`erase`] | erasing a rewritable disc (`IDiscFormat2Erase`); formatting and blanking for the writer |
//! | [`writer`] | the data writer (`IDiscFormat2Data`): write, progress, cancel, verify |

#![deny(missing_docs)]
#![deny(unsafe_code)]

// In dependency order, bottom up (`rustfmt.toml` keeps this order).
mod sys;
pub mod users;
pub mod jsonpath;
pub(crate) mod access;
pub mod procfs;
pub mod key;
pub mod mounts;
pub mod holders;
pub mod owner;
pub mod error;
pub mod wait;
pub mod cluster;
pub mod client_name;
pub mod target;
pub mod medium;
pub mod records;
pub(crate) mod notify;
pub(crate) mod query;
pub mod udev;
pub mod cancel;
pub(crate) mod lock;
pub mod recorder;
pub mod supervise;
pub mod drive;
pub mod erase;
pub mod writer;

pub use discrec_mmc as mmc;
pub use erase::Eraser;
pub use error::{Error, Result};
pub use key::{DriveKey, TargetKind};
pub use owner::Owner;
pub use recorder::{AccessStatus, ExclusiveAccess, Recorder};
pub use target::Target;
pub use wait::WaitPolicy;
pub use writer::{DataWriter, Source};

/// The README's Rust examples, compiled as doctests (`cargo test --doc -p discrec-core`).
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The crate's own README (crates.io's page), compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadmeDoctests;

/// The Rust examples of `docs/design.md`, compiled as doctests.
#[doc = include_str!("../../../docs/design.md")]
#[cfg(doctest)]
pub struct DesignDoctests;

/// The Rust examples of `docs/burning.md`, compiled as doctests.
#[doc = include_str!("../../../docs/burning.md")]
#[cfg(doctest)]
pub struct BurningDoctests;

//! MMC (SCSI multimedia commands) for optical drives on Linux: the `SG_IO`
//! transport, CDB builders, sense decoding and the parsers of drive
//! replies.
//!
//! It knows nothing of locks, owners or IMAPI2: its errors are its own
//! ([`Error`]: transport, timeout, sense key/ASC/ASCQ). discrec builds its
//! recorder on it; anything else that talks to a drive can too.
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! let drive = std::fs::File::open("/dev/sr0")?;
//! let id = discrec_mmc::inquiry(drive.as_fd())?;
//! println!("{} {} {}", id.vendor, id.product, id.revision);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules: [`transport`] (`SG_IO`, the only `unsafe` with
//! [`cdrom`]), [`command`] (CDBs and the calls that run them), [`reply`]
//! (parsers, which never panic; `fuzz/` has a target for each), [`sense`],
//! [`cdrom`] (the kernel CD-ROM driver's tray ioctls), [`error`].

#![deny(missing_docs)]

pub mod cdrom;
pub mod command;
pub mod error;
pub mod reply;
pub mod sense;
pub mod transport;

pub use command::{get_configuration, inquiry, mode_pages, prevent_removal, start_stop, test_unit_ready};
pub use error::{Error, Result};
pub use reply::{
    feature_name, parse_configuration, parse_inquiry, parse_mode_pages, profile_name, Configuration, Feature, Inquiry,
};
pub use sense::{parse_sense, Sense};

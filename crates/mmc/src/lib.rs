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
//! Modules, bottom up: [`sense`] (sense data decoded), [`reply`] (parsers
//! of replies, which never panic; `fuzz/` has a target for each),
//! [`error`], [`transport`] (`SG_IO` and the CD-ROM ioctls: the only
//! `unsafe`, and `#![deny(unsafe_code)]` everywhere else), [`cdrom`] (the
//! kernel CD-ROM driver's tray ioctls), [`command`] (CDBs and the calls
//! that run them).

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod sense;
pub mod reply;
pub mod error;
pub mod transport;
pub mod cdrom;
pub mod command;

pub use command::{
    blank, close_track_session, drive_identity, format_unit, get_configuration, inquiry, inquiry_vpd, mode_pages,
    mode_select_page, prevent_removal, progress, read10, read_capacity, read_disc_information, read_format_capacities,
    read_track_information, set_write_speed, start_stop, synchronize_cache, test_unit_ready, write10,
    write_parameters_page, write_speeds, CloseFunction, SECTOR,
};
pub use error::{Error, Result};
pub use reply::{
    feature_name, parse_configuration, parse_device_identification, parse_disc_information, parse_format_capacities,
    parse_inquiry, parse_mode_pages, parse_read_capacity, parse_track_information, parse_unit_serial,
    parse_write_speeds, profile_name, Configuration, DiscInformation, DiscStatus, Feature, FormatCapacities, Inquiry,
    SessionState, TrackInformation,
};
pub use sense::{parse_progress, parse_sense, Sense};

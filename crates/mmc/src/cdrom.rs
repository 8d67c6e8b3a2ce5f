//! The Linux CD-ROM driver's own ioctls (`<linux/cdrom.h>`): tray and
//! medium state and the door lock, which the `cdrom` layer keeps across
//! opens (an `SG_IO` PREVENT ALLOW MEDIUM REMOVAL is undone on last close).

use std::os::fd::BorrowedFd;

use crate::transport::{cdrom_ioctl, CdromIoctl};

/// `CDSL_CURRENT`: the slot in use.
const CDSL_CURRENT: usize = i32::MAX as usize;

/// Tray and medium state, as `CDROM_DRIVE_STATUS` reports it (the one
/// type for it: `discrec` shows it as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum TrayState {
    /// `CDS_NO_DISC`: tray closed, no disc.
    NoDisc,
    /// `CDS_TRAY_OPEN`.
    TrayOpen,
    /// `CDS_DRIVE_NOT_READY`: a disc is spinning up, or the drive is not
    /// ready.
    NotReady,
    /// `CDS_DISC_OK`: a disc is in and ready.
    DiscOk,
    /// `CDS_NO_INFO`, or a value the driver does not document.
    Unknown,
}

impl TrayState {
    /// The documented name, as in `--json`: `no_disc`, `tray_open`,
    /// `not_ready`, `disc_ok`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrayState::NoDisc => "no_disc",
            TrayState::TrayOpen => "tray_open",
            TrayState::NotReady => "not_ready",
            TrayState::DiscOk => "disc_ok",
            TrayState::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for TrayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `CDROM_DRIVE_STATUS` for the current slot.
#[doc(alias = "CDROM_DRIVE_STATUS")]
pub fn drive_status(fd: BorrowedFd<'_>) -> std::io::Result<TrayState> {
    Ok(match cdrom_ioctl(fd, CdromIoctl::DriveStatus, CDSL_CURRENT)? {
        1 => TrayState::NoDisc,
        2 => TrayState::TrayOpen,
        3 => TrayState::NotReady,
        4 => TrayState::DiscOk,
        _ => TrayState::Unknown,
    })
}

/// `CDROM_LOCKDOOR`: lock (`true`) or unlock the tray. `Ok(0)` when the
/// drive did it; a positive value is the SCSI result of a drive that
/// refused.
#[doc(alias = "CDROM_LOCKDOOR")]
pub fn lock_door(fd: BorrowedFd<'_>, locked: bool) -> std::io::Result<i32> {
    cdrom_ioctl(fd, CdromIoctl::LockDoor, locked as usize)
}

//! The Linux CD-ROM driver's own ioctls (`<linux/cdrom.h>`): tray and
//! medium state and the door lock, which the `cdrom` layer keeps across
//! opens (an `SG_IO` PREVENT ALLOW MEDIUM REMOVAL is undone on last close).

use std::os::fd::BorrowedFd;

use crate::transport::{cdrom_ioctl, CdromIoctl};

/// `CDSL_CURRENT`: the slot in use.
const CDSL_CURRENT: usize = i32::MAX as usize;

/// Tray and medium state, as `CDROM_DRIVE_STATUS` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveStatus {
    /// `CDS_NO_INFO`, or a value the driver does not document.
    NoInfo,
    /// `CDS_NO_DISC`: tray closed, no disc.
    NoDisc,
    /// `CDS_TRAY_OPEN`.
    TrayOpen,
    /// `CDS_DRIVE_NOT_READY`: spinning up, or not ready.
    NotReady,
    /// `CDS_DISC_OK`.
    DiscOk,
}

/// `CDROM_DRIVE_STATUS` for the current slot.
#[doc(alias = "CDROM_DRIVE_STATUS")]
pub fn drive_status(fd: BorrowedFd<'_>) -> std::io::Result<DriveStatus> {
    Ok(match cdrom_ioctl(fd, CdromIoctl::DriveStatus, CDSL_CURRENT)? {
        1 => DriveStatus::NoDisc,
        2 => DriveStatus::TrayOpen,
        3 => DriveStatus::NotReady,
        4 => DriveStatus::DiscOk,
        _ => DriveStatus::NoInfo,
    })
}

/// `CDROM_LOCKDOOR`: lock (`true`) or unlock the tray. `Ok(0)` when the
/// drive did it; a positive value is the SCSI result of a drive that
/// refused.
#[doc(alias = "CDROM_LOCKDOOR")]
pub fn lock_door(fd: BorrowedFd<'_>, locked: bool) -> std::io::Result<i32> {
    cdrom_ioctl(fd, CdromIoctl::LockDoor, locked as usize)
}

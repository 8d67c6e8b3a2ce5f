//! The `SG_IO` transport: one SCSI command to a drive and what came back,
//! and the kernel CD-ROM driver's integer ioctls that [`crate::cdrom`]
//! wraps. The only `unsafe` of this crate.
#![allow(unsafe_code)]

use std::os::fd::BorrowedFd;

/// An ioctl whose return value is part of the answer. rustix's ready-made
/// patterns drop it, yet the CD-ROM ioctls return positive values that
/// matter: `CDROM_DRIVE_STATUS` answers with it, and `CDROMEJECT` on a
/// locked tray returns 2 (a SCSI CHECK CONDITION), which a wrapper that
/// only tests for -1 would report as success.
struct RawIoctl {
    opcode: rustix::ioctl::Opcode,
    arg: *mut std::ffi::c_void,
}

// SAFETY: the opcode and argument are passed through unchanged; the two
// callers in this module pass an opcode whose argument is an integer, or
// SG_IO with a pointer to a header they own for the duration of the call,
// and `output_from_ptr` does not touch the argument.
unsafe impl rustix::ioctl::Ioctl for RawIoctl {
    type Output = i32;
    const IS_MUTATING: bool = true;
    fn opcode(&self) -> rustix::ioctl::Opcode {
        self.opcode
    }
    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        self.arg
    }
    unsafe fn output_from_ptr(out: rustix::ioctl::IoctlOutput, _: *mut std::ffi::c_void) -> rustix::io::Result<i32> {
        Ok(out)
    }
}

/// The CD-ROM driver ioctls that take an integer argument (`<linux/cdrom.h>`).
/// A closed set: no other opcode can reach [`cdrom_ioctl`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum CdromIoctl {
    /// `CDROM_DRIVE_STATUS`.
    DriveStatus = 0x5326,
    /// `CDROM_LOCKDOOR`.
    LockDoor = 0x5329,
}

/// One of the [`CdromIoctl`]s with integer argument `arg`, returning what
/// the kernel returned.
pub(crate) fn cdrom_ioctl(fd: BorrowedFd<'_>, op: CdromIoctl, arg: usize) -> std::io::Result<i32> {
    // SAFETY: these ioctls take their argument by value (an integer in the
    // pointer slot); nothing is dereferenced.
    unsafe { rustix::ioctl::ioctl(fd, RawIoctl { opcode: op as u32 as _, arg: arg as *mut std::ffi::c_void }) }
        .map_err(Into::into)
}

/// `struct sg_io_hdr` of `<scsi/sg.h>`.
#[repr(C)]
struct SgIoHdr {
    interface_id: i32,
    dxfer_direction: i32,
    cmd_len: u8,
    mx_sb_len: u8,
    iovec_count: u16,
    dxfer_len: u32,
    dxferp: *mut std::ffi::c_void,
    cmdp: *const u8,
    sbp: *mut u8,
    timeout: u32,
    flags: u32,
    pack_id: i32,
    usr_ptr: *mut std::ffi::c_void,
    status: u8,
    masked_status: u8,
    msg_status: u8,
    sb_len_wr: u8,
    host_status: u16,
    driver_status: u16,
    resid: i32,
    duration: u32,
    info: u32,
}

/// `SG_IO` of `<scsi/sg.h>`.
const SG_IO: u32 = 0x2285;
/// `SG_DXFER_NONE`.
const SG_DXFER_NONE: i32 = -1;
/// `SG_DXFER_TO_DEV`.
const SG_DXFER_TO_DEV: i32 = -2;
/// `SG_DXFER_FROM_DEV`.
const SG_DXFER_FROM_DEV: i32 = -3;

/// Data phase of a SCSI command.
#[derive(Debug)]
pub enum DataPhase<'a> {
    /// No data.
    None,
    /// Data from the device into this buffer.
    FromDevice(&'a mut [u8]),
    /// Data from this buffer to the device.
    ToDevice(&'a [u8]),
}

/// What the kernel and the device said about one SCSI command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgStatus {
    /// SCSI status (2: CHECK CONDITION).
    pub status: u8,
    /// Host adapter status (e.g. 3: DID_TIME_OUT, 1: DID_NO_CONNECT).
    pub host_status: u16,
    /// Driver status.
    pub driver_status: u16,
    /// Bytes not transferred.
    pub resid: i32,
    /// Sense data, when the device sent some.
    pub sense: Vec<u8>,
}

impl SgStatus {
    /// The command completed: GOOD status, no host or driver error.
    pub fn is_good(&self) -> bool {
        self.status == 0 && self.host_status == 0 && self.driver_status & 0x0f == 0
    }

    /// The command timed out: host `DID_TIME_OUT`, or driver `DRIVER_TIMEOUT`.
    pub fn timed_out(&self) -> bool {
        self.host_status == 0x03 || self.driver_status & 0x0f == 0x06
    }

    /// The device went away: host `DID_NO_CONNECT` or `DID_BAD_TARGET`.
    pub fn device_gone(&self) -> bool {
        self.host_status == 0x01 || self.host_status == 0x04
    }
}

/// Send one SCSI command with `SG_IO` (works on `/dev/srN` and `/dev/sgN`).
/// `Err` only when the kernel refused the ioctl itself; what the device
/// answered is in the [`SgStatus`].
#[doc(alias = "SG_IO")]
pub fn sg_io(fd: BorrowedFd<'_>, cdb: &[u8], data: DataPhase<'_>, timeout_ms: u32) -> std::io::Result<SgStatus> {
    if cdb.is_empty() || cdb.len() > 16 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "a CDB is 1 to 16 bytes"));
    }
    let mut sense = [0u8; 64];
    let too_long = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "transfer longer than 4 GiB");
    let (dir, ptr, len): (i32, *mut std::ffi::c_void, u32) = match data {
        DataPhase::None => (SG_DXFER_NONE, std::ptr::null_mut(), 0),
        DataPhase::FromDevice(buf) => {
            (SG_DXFER_FROM_DEV, buf.as_mut_ptr().cast(), u32::try_from(buf.len()).map_err(|_| too_long())?)
        }
        // The kernel only reads from a to-device buffer; the header's
        // pointer is `*mut` for both directions.
        DataPhase::ToDevice(buf) => {
            (SG_DXFER_TO_DEV, buf.as_ptr().cast_mut().cast(), u32::try_from(buf.len()).map_err(|_| too_long())?)
        }
    };
    let mut hdr = SgIoHdr {
        interface_id: b'S' as i32,
        dxfer_direction: dir,
        cmd_len: cdb.len() as u8,
        mx_sb_len: sense.len() as u8,
        iovec_count: 0,
        dxfer_len: len,
        dxferp: ptr,
        cmdp: cdb.as_ptr(),
        sbp: sense.as_mut_ptr(),
        timeout: timeout_ms,
        flags: 0,
        pack_id: 0,
        usr_ptr: std::ptr::null_mut(),
        status: 0,
        masked_status: 0,
        msg_status: 0,
        sb_len_wr: 0,
        host_status: 0,
        driver_status: 0,
        resid: 0,
        duration: 0,
        info: 0,
    };
    // SAFETY: every pointer in `hdr` points into `cdb`, `sense` or the
    // caller's buffer, with the lengths given, all alive until the ioctl
    // returns; SG_IO is synchronous.
    unsafe {
        rustix::ioctl::ioctl(fd, RawIoctl { opcode: SG_IO as _, arg: (&mut hdr as *mut SgIoHdr).cast() })?;
    }
    let n = (hdr.sb_len_wr as usize).min(sense.len());
    Ok(SgStatus {
        status: hdr.status,
        host_status: hdr.host_status,
        driver_status: hdr.driver_status,
        resid: hdr.resid,
        sense: sense[..n].to_vec(),
    })
}

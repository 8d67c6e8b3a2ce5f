//! The MMC commands discrec sends, each a CDB builder and a call that runs
//! it over [`crate::transport`] and parses the reply with [`crate::reply`].

use std::os::fd::BorrowedFd;

use crate::error::{Error, Result};
use crate::reply::{self, Configuration, DiscInformation, FormatCapacities, Inquiry, TrackInformation};
use crate::sense::parse_sense;
use crate::transport::{self, DataPhase, SgStatus};

/// Default command timeout.
pub const TIMEOUT_MS: u32 = 30_000;

/// Timeout of commands a drive may work on for minutes: flushing its
/// buffer to the disc, closing a track or session, finalizing (libburn
/// allows 200 s for a close; a slow drive finalizing a DVD+R takes more).
pub const LONG_TIMEOUT_MS: u32 = 20 * 60 * 1000;

/// Bytes in a data sector of CD, DVD and BD media (Mode 1 / user data).
pub const SECTOR: usize = 2048;

/// CDB builders: the bytes of each command, as MMC-6 and SPC-4 lay them out.
pub mod cdb {
    /// INQUIRY (SPC 0x12) for `len` bytes of standard data.
    pub fn inquiry(len: u8) -> [u8; 6] {
        [0x12, 0, 0, 0, len, 0]
    }

    /// INQUIRY with EVPD: vital product data page `page`, up to `len` bytes.
    pub fn inquiry_vpd(page: u8, len: u16) -> [u8; 6] {
        let [hi, lo] = len.to_be_bytes();
        [0x12, 0x01, page, hi, lo, 0]
    }

    /// GET CONFIGURATION (0x46), all features (RT=0), up to `len` bytes.
    pub fn get_configuration(len: u16) -> [u8; 10] {
        let [hi, lo] = len.to_be_bytes();
        [0x46, 0, 0, 0, 0, 0, 0, hi, lo, 0]
    }

    /// MODE SENSE(10) (0x5A) of `page` (0x3F: all), current values, no
    /// block descriptors (DBD=1).
    pub fn mode_sense(page: u8, len: u16) -> [u8; 10] {
        let [hi, lo] = len.to_be_bytes();
        [0x5a, 0x08, page & 0x3f, 0, 0, 0, 0, hi, lo, 0]
    }

    /// TEST UNIT READY (0x00).
    pub fn test_unit_ready() -> [u8; 6] {
        [0; 6]
    }

    /// START STOP UNIT (0x1B) with LoEj: load (close the tray) or eject.
    pub fn start_stop(load: bool) -> [u8; 6] {
        [0x1b, 0, 0, 0, if load { 0x03 } else { 0x02 }, 0]
    }

    /// PREVENT ALLOW MEDIUM REMOVAL (0x1E).
    pub fn prevent_allow_medium_removal(prevent: bool) -> [u8; 6] {
        [0x1e, 0, 0, 0, prevent as u8, 0]
    }

    /// READ CAPACITY (0x25): last LBA and block length.
    pub fn read_capacity() -> [u8; 10] {
        [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    }

    /// READ DISC INFORMATION (0x51), standard disc information, up to `len` bytes.
    pub fn read_disc_information(len: u16) -> [u8; 10] {
        let [hi, lo] = len.to_be_bytes();
        [0x51, 0, 0, 0, 0, 0, 0, hi, lo, 0]
    }

    /// READ TRACK INFORMATION (0x52) of logical track `track` (address
    /// type 01b), up to `len` bytes.
    pub fn read_track_information(track: u32, len: u16) -> [u8; 10] {
        let [t0, t1, t2, t3] = track.to_be_bytes();
        let [hi, lo] = len.to_be_bytes();
        [0x52, 0x01, t0, t1, t2, t3, 0, hi, lo, 0]
    }

    /// WRITE(10) (0x2A) of `blocks` sectors at `lba`.
    pub fn write10(lba: u32, blocks: u16) -> [u8; 10] {
        let [l0, l1, l2, l3] = lba.to_be_bytes();
        let [b0, b1] = blocks.to_be_bytes();
        [0x2a, 0, l0, l1, l2, l3, 0, b0, b1, 0]
    }

    /// READ(10) (0x28) of `blocks` sectors at `lba`.
    pub fn read10(lba: u32, blocks: u16) -> [u8; 10] {
        let [l0, l1, l2, l3] = lba.to_be_bytes();
        let [b0, b1] = blocks.to_be_bytes();
        [0x28, 0, l0, l1, l2, l3, 0, b0, b1, 0]
    }

    /// SYNCHRONIZE CACHE (0x35), waiting until the drive's buffer is on
    /// the disc (IMMED=0).
    pub fn synchronize_cache() -> [u8; 10] {
        [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    }

    /// CLOSE TRACK SESSION (0x5B) with close function `function` (3 bits)
    /// for logical track `track`, waiting until done (IMMED=0).
    pub fn close_track_session(function: super::CloseFunction, track: u16) -> [u8; 10] {
        let [t0, t1] = track.to_be_bytes();
        [0x5b, 0, function as u8 & 0x07, 0, t0, t1, 0, 0, 0, 0]
    }

    /// MODE SELECT(10) (0x55) of `len` bytes of parameters, PF=1 (pages
    /// as MMC defines them).
    pub fn mode_select(len: u16) -> [u8; 10] {
        let [hi, lo] = len.to_be_bytes();
        [0x55, 0x10, 0, 0, 0, 0, 0, hi, lo, 0]
    }

    /// BLANK (0xA1) of `blanking_type` (0 the whole disc, 1 minimal),
    /// IMMED=1: the drive answers at once and blanks in the background.
    pub fn blank(blanking_type: u8) -> [u8; 12] {
        [0xa1, 0x10 | (blanking_type & 0x07), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    }

    /// FORMAT UNIT (0x04) with a parameter list (FmtData=1, format code 1).
    pub fn format_unit() -> [u8; 6] {
        [0x04, 0x11, 0, 0, 0, 0]
    }

    /// GET PERFORMANCE (0xAC) of the write speed descriptors (type 03h),
    /// at most `max` of them.
    pub fn get_performance_write_speeds(max: u16) -> [u8; 12] {
        let [hi, lo] = max.to_be_bytes();
        [0xac, 0, 0, 0, 0, 0, 0, 0, hi, lo, 0x03, 0]
    }

    /// SET STREAMING (0xB6) of a performance descriptor (28 bytes).
    pub fn set_streaming() -> [u8; 12] {
        [0xb6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 28, 0]
    }

    /// SET CD SPEED (0xBB): reading as fast as it can, writing at
    /// `write_kbs` kB/s.
    pub fn set_cd_speed(write_kbs: u16) -> [u8; 12] {
        let [hi, lo] = write_kbs.to_be_bytes();
        [0xbb, 0, 0xff, 0xff, hi, lo, 0, 0, 0, 0, 0, 0]
    }

    /// READ FORMAT CAPACITIES (0x23), up to `len` bytes.
    pub fn read_format_capacities(len: u16) -> [u8; 10] {
        let [hi, lo] = len.to_be_bytes();
        [0x23, 0, 0, 0, 0, 0, 0, hi, lo, 0]
    }
}

/// The close functions of CLOSE TRACK SESSION that discrec sends (MMC-6
/// 6.3.3), as DVD+R defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseFunction {
    /// 001b: close the logical track.
    Track = 0b001,
    /// 010b: close the session; the disc stays appendable.
    Session = 0b010,
    /// 101b: close the session and finalize the disc with minimal radius
    /// (DVD+R; what libburn sends): nothing can be appended.
    FinalizeMinimalRadius = 0b101,
    /// 110b: close the session and finalize the disc (BD-R; DVD+R with
    /// a 30 mm radius).
    Finalize = 0b110,
}

/// Page 05 (write parameters) of MODE SELECT for a data recording:
/// `write_type` 0 incremental (DVD-R), 1 track-at-once (CD); track mode
/// 4 or 5 (data, recorded uninterrupted or incrementally), data block
/// type 8 (mode 1, 2048 bytes), multisession 11b so that a closed session
/// leaves the disc open for the next one (unless `last_session`), buffer
/// underrun protection on, as libburn and cdrecord set it.
pub fn write_parameters_page(write_type: u8, last_session: bool) -> [u8; 52] {
    let mut p = [0u8; 52];
    p[0] = 0x05;
    p[1] = 0x32;
    // BUFE (underrun protection) and the write type.
    p[2] = 0x40 | (write_type & 0x0f);
    let multisession = if last_session { 0 } else { 3 };
    // Track mode 4 (CD data, uninterrupted) or 5 (incremental).
    let track_mode = if write_type == 0 { 5 } else { 4 };
    p[3] = (multisession << 6) | track_mode;
    p[4] = 0x08;
    // Audio pause length 150 (ignored for data, expected by drives).
    p[14..16].copy_from_slice(&150u16.to_be_bytes());
    p
}

/// What a command's status means: `Ok` when it completed.
pub fn check(command: &'static str, st: &SgStatus) -> Result<()> {
    if st.timed_out() {
        return Err(Error::Timeout { command });
    }
    if st.device_gone() {
        return Err(Error::DeviceGone { command, host_status: st.host_status });
    }
    if st.is_good() {
        return Ok(());
    }
    Err(match parse_sense(&st.sense) {
        Some(sense) => Error::Sense { command, sense },
        None => {
            Error::Status { command, status: st.status, host_status: st.host_status, driver_status: st.driver_status }
        }
    })
}

/// Run a command that returns data; the bytes actually transferred.
pub fn data_in(fd: BorrowedFd<'_>, command: &'static str, cdb: &[u8], len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let st = transport::sg_io(fd, cdb, DataPhase::FromDevice(&mut buf), TIMEOUT_MS)
        .map_err(|source| Error::Transport { command, cause: source })?;
    check(command, &st)?;
    let got = len.saturating_sub(st.resid.max(0) as usize);
    buf.truncate(got);
    Ok(buf)
}

/// Run a command without a data phase.
pub fn no_data(fd: BorrowedFd<'_>, command: &'static str, cdb: &[u8]) -> Result<()> {
    no_data_within(fd, command, cdb, TIMEOUT_MS)
}

/// [`no_data`] with a timeout of its own.
pub fn no_data_within(fd: BorrowedFd<'_>, command: &'static str, cdb: &[u8], timeout_ms: u32) -> Result<()> {
    let st = transport::sg_io(fd, cdb, DataPhase::None, timeout_ms)
        .map_err(|source| Error::Transport { command, cause: source })?;
    check(command, &st)
}

/// Run a command that sends `data` to the device.
pub fn data_out(fd: BorrowedFd<'_>, command: &'static str, cdb: &[u8], data: &[u8], timeout_ms: u32) -> Result<()> {
    let st = transport::sg_io(fd, cdb, DataPhase::ToDevice(data), timeout_ms)
        .map_err(|source| Error::Transport { command, cause: source })?;
    check(command, &st)
}

/// INQUIRY (96 bytes of standard data).
pub fn inquiry(fd: BorrowedFd<'_>) -> Result<Inquiry> {
    let b = data_in(fd, "INQUIRY", &cdb::inquiry(96), 96)?;
    reply::parse_inquiry(&b).ok_or(Error::ShortReply { command: "INQUIRY", len: b.len() })
}

/// INQUIRY of vital product data page `page` (0x80 unit serial number,
/// 0x83 device identification): the page's bytes.
pub fn inquiry_vpd(fd: BorrowedFd<'_>, page: u8) -> Result<Vec<u8>> {
    data_in(fd, "INQUIRY (VPD)", &cdb::inquiry_vpd(page, 255), 255)
}

/// The drive's identity for other machines: from VPD page 0x83 (a
/// designator of type NAA, EUI-64 or T10 vendor ID, in that preference),
/// else page 0x80 (unit serial number). `None` when the drive has neither.
pub fn drive_identity(fd: BorrowedFd<'_>) -> Option<String> {
    if let Ok(b) = inquiry_vpd(fd, 0x83) {
        if let Some(id) = reply::parse_device_identification(&b) {
            return Some(id);
        }
    }
    inquiry_vpd(fd, 0x80).ok().and_then(|b| reply::parse_unit_serial(&b)).map(|s| format!("serial:{s}"))
}

/// GET CONFIGURATION, all features.
pub fn get_configuration(fd: BorrowedFd<'_>) -> Result<Configuration> {
    let len: u16 = 8192;
    let b = data_in(fd, "GET CONFIGURATION", &cdb::get_configuration(len), len as usize)?;
    Ok(reply::parse_configuration(&b).unwrap_or_default())
}

/// Mode pages MMC defines for optical drives: asked one by one when the
/// drive does not answer for all pages at once (QEMU's ATAPI drive does not).
const MMC_MODE_PAGES: [u8; 7] = [0x01, 0x05, 0x07, 0x0d, 0x0e, 0x1a, 0x2a];

fn mode_sense(fd: BorrowedFd<'_>, page: u8) -> Result<Vec<u8>> {
    let len: u16 = 4096;
    data_in(fd, "MODE SENSE", &cdb::mode_sense(page, len), len as usize)
}

/// MODE SENSE(10): the page codes the drive has. A drive that answers for
/// no page gives an empty list.
pub fn mode_pages(fd: BorrowedFd<'_>) -> Vec<u8> {
    if let Ok(b) = mode_sense(fd, 0x3f) {
        let pages = reply::parse_mode_pages(&b);
        if !pages.is_empty() {
            return pages;
        }
    }
    let mut pages = Vec::new();
    for p in MMC_MODE_PAGES {
        if let Ok(b) = mode_sense(fd, p) {
            pages.extend(reply::parse_mode_pages(&b).into_iter().filter(|&q| q == p));
        }
    }
    pages
}

/// TEST UNIT READY: `Ok` when a medium is ready.
pub fn test_unit_ready(fd: BorrowedFd<'_>) -> Result<()> {
    no_data(fd, "TEST UNIT READY", &cdb::test_unit_ready())
}

/// START STOP UNIT with LoEj: eject (`load` false) or load / close the
/// tray (`load` true).
pub fn start_stop(fd: BorrowedFd<'_>, load: bool) -> Result<()> {
    let command = if load { "START STOP UNIT (load)" } else { "START STOP UNIT (eject)" };
    no_data(fd, command, &cdb::start_stop(load))
}

/// PREVENT ALLOW MEDIUM REMOVAL.
pub fn prevent_removal(fd: BorrowedFd<'_>, prevent: bool) -> Result<()> {
    no_data(fd, "PREVENT ALLOW MEDIUM REMOVAL", &cdb::prevent_allow_medium_removal(prevent))
}

/// READ CAPACITY: (last LBA, block length). A blank disc may answer 0.
pub fn read_capacity(fd: BorrowedFd<'_>) -> Result<(u32, u32)> {
    let b = data_in(fd, "READ CAPACITY", &cdb::read_capacity(), 8)?;
    reply::parse_read_capacity(&b).ok_or(Error::ShortReply { command: "READ CAPACITY", len: b.len() })
}

/// READ DISC INFORMATION: disc status, sessions, tracks.
pub fn read_disc_information(fd: BorrowedFd<'_>) -> Result<DiscInformation> {
    let b = data_in(fd, "READ DISC INFORMATION", &cdb::read_disc_information(34), 34)?;
    reply::parse_disc_information(&b).ok_or(Error::ShortReply { command: "READ DISC INFORMATION", len: b.len() })
}

/// READ TRACK INFORMATION of logical track `track`: where it starts,
/// whether it is blank, its next writable address and free blocks.
pub fn read_track_information(fd: BorrowedFd<'_>, track: u32) -> Result<TrackInformation> {
    let b = data_in(fd, "READ TRACK INFORMATION", &cdb::read_track_information(track, 48), 48)?;
    reply::parse_track_information(&b).ok_or(Error::ShortReply { command: "READ TRACK INFORMATION", len: b.len() })
}

/// WRITE(10) of `data` (whole 2048-byte sectors) at `lba`.
pub fn write10(fd: BorrowedFd<'_>, lba: u32, data: &[u8]) -> Result<()> {
    let blocks = u16::try_from(data.len() / SECTOR).unwrap_or(u16::MAX);
    if data.len() % SECTOR != 0 || data.len() != blocks as usize * SECTOR {
        return Err(Error::Transport {
            command: "WRITE(10)",
            cause: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not whole sectors, or over 65535 of them"),
        });
    }
    data_out(fd, "WRITE(10)", &cdb::write10(lba, blocks), data, TIMEOUT_MS)
}

/// READ(10) of `buf.len() / 2048` sectors at `lba` into `buf`; the bytes
/// actually read.
pub fn read10(fd: BorrowedFd<'_>, lba: u32, buf: &mut [u8]) -> Result<usize> {
    let blocks = u16::try_from(buf.len() / SECTOR).unwrap_or(u16::MAX);
    let len = blocks as usize * SECTOR;
    let st = transport::sg_io(fd, &cdb::read10(lba, blocks), DataPhase::FromDevice(&mut buf[..len]), TIMEOUT_MS)
        .map_err(|cause| Error::Transport { command: "READ(10)", cause })?;
    check("READ(10)", &st)?;
    Ok(len.saturating_sub(st.resid.max(0) as usize))
}

/// SYNCHRONIZE CACHE: returns once the drive's buffer is on the disc.
pub fn synchronize_cache(fd: BorrowedFd<'_>) -> Result<()> {
    no_data_within(fd, "SYNCHRONIZE CACHE", &cdb::synchronize_cache(), LONG_TIMEOUT_MS)
}

/// CLOSE TRACK SESSION: returns once the drive has done it.
pub fn close_track_session(fd: BorrowedFd<'_>, function: CloseFunction, track: u16) -> Result<()> {
    let command = match function {
        CloseFunction::Track => "CLOSE TRACK",
        CloseFunction::Session => "CLOSE SESSION",
        CloseFunction::FinalizeMinimalRadius | CloseFunction::Finalize => "CLOSE SESSION (finalize)",
    };
    no_data_within(fd, command, &cdb::close_track_session(function, track), LONG_TIMEOUT_MS)
}

/// MODE SELECT(10) of one mode page (`page`, its code and length bytes
/// first) after an empty header.
pub fn mode_select_page(fd: BorrowedFd<'_>, page: &[u8]) -> Result<()> {
    let mut data = vec![0u8; 8];
    data.extend_from_slice(page);
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    data_out(fd, "MODE SELECT", &cdb::mode_select(len), &data[..len as usize], TIMEOUT_MS)
}

/// BLANK of `blanking_type` (0 full, 1 minimal), answered at once: the
/// drive blanks in the background, reporting progress to TEST UNIT
/// READY ([`progress`]).
pub fn blank(fd: BorrowedFd<'_>, blanking_type: u8) -> Result<()> {
    no_data_within(fd, "BLANK", &cdb::blank(blanking_type), LONG_TIMEOUT_MS)
}

/// FORMAT UNIT with one format descriptor: `format_type` (6 bits),
/// `blocks`, `parameter` (the type dependent field), IMMED=1: the drive
/// formats in the background, reporting progress to TEST UNIT READY.
/// `certify` false sets DCRT (with FOV): no certification of the
/// surface, the quick format of a DVD-RAM.
pub fn format_unit(fd: BorrowedFd<'_>, format_type: u8, blocks: u32, parameter: u32, certify: bool) -> Result<()> {
    // Header: (FOV, DCRT,) IMMED; descriptor: blocks, type, parameter.
    let mut data = [0u8; 12];
    data[1] = if certify { 0x02 } else { 0xa2 };
    data[3] = 8;
    data[4..8].copy_from_slice(&blocks.to_be_bytes());
    data[8] = format_type << 2;
    data[9..12].copy_from_slice(&parameter.to_be_bytes()[1..]);
    data_out(fd, "FORMAT UNIT", &cdb::format_unit(), &data, LONG_TIMEOUT_MS)
}

/// READ FORMAT CAPACITIES: whether the medium is formatted and the
/// formats it takes.
pub fn read_format_capacities(fd: BorrowedFd<'_>) -> Result<FormatCapacities> {
    let b = data_in(fd, "READ FORMAT CAPACITIES", &cdb::read_format_capacities(252), 252)?;
    reply::parse_format_capacities(&b).ok_or(Error::ShortReply { command: "READ FORMAT CAPACITIES", len: b.len() })
}

/// GET PERFORMANCE: the write speeds the drive offers for the medium in
/// it, in kB/s (1000 bytes), fastest first, each once.
pub fn write_speeds(fd: BorrowedFd<'_>) -> Result<Vec<u32>> {
    let max: u16 = 32;
    let len = 8 + 16 * max as usize;
    let b = data_in(fd, "GET PERFORMANCE", &cdb::get_performance_write_speeds(max), len)?;
    Ok(reply::parse_write_speeds(&b))
}

/// Ask the drive to write at `kbs` kB/s: SET STREAMING over the sectors
/// up to `end_lba` (DVD, BD), SET CD SPEED on a CD (`cd`).
pub fn set_write_speed(fd: BorrowedFd<'_>, kbs: u32, end_lba: u32, cd: bool) -> Result<()> {
    if cd {
        let kbs = u16::try_from(kbs).unwrap_or(u16::MAX);
        return no_data(fd, "SET CD SPEED", &cdb::set_cd_speed(kbs));
    }
    // Performance descriptor: sectors 0..=end, read and write `kbs`
    // kilobytes per 1000 ms.
    let mut d = [0u8; 28];
    d[8..12].copy_from_slice(&end_lba.to_be_bytes());
    for at in [12, 20] {
        d[at..at + 4].copy_from_slice(&kbs.to_be_bytes());
        d[at + 4..at + 8].copy_from_slice(&1000u32.to_be_bytes());
    }
    data_out(fd, "SET STREAMING", &cdb::set_streaming(), &d, TIMEOUT_MS)
}

/// TEST UNIT READY for a drive working in the background (blanking,
/// formatting, closing): `Ok(None)` when it is done; `Ok(Some(p))`
/// while it works, `p` its progress out of 65536 when it says; the
/// error of any other answer.
pub fn progress(fd: BorrowedFd<'_>) -> Result<Option<Option<u16>>> {
    let command = "TEST UNIT READY";
    let st = transport::sg_io(fd, &cdb::test_unit_ready(), DataPhase::None, TIMEOUT_MS)
        .map_err(|cause| Error::Transport { command, cause })?;
    match check(command, &st) {
        Ok(()) => Ok(None),
        // Not ready, in progress: becoming ready (04/01), formatting
        // (04/04), an operation (04/07), a long write (04/08). Any other
        // answer (04/02, 04/03: a person must act) is an error.
        Err(Error::Sense { sense, .. })
            if sense.key == 2 && sense.asc == 0x04 && matches!(sense.ascq, 1 | 4 | 7 | 8) =>
        {
            Ok(Some(crate::sense::parse_progress(&st.sense)))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u8, host: u16, driver: u16, sense: &[u8]) -> SgStatus {
        SgStatus { status, host_status: host, driver_status: driver, resid: 0, sense: sense.to_vec() }
    }

    #[test]
    fn check_maps_each_outcome() {
        assert!(check("X", &status(0, 0, 0, &[])).is_ok());
        assert!(matches!(check("X", &status(0, 3, 0, &[])), Err(Error::Timeout { command: "X" })));
        assert!(matches!(check("X", &status(0, 0, 6, &[])), Err(Error::Timeout { .. })));
        assert!(matches!(check("X", &status(0, 1, 0, &[])), Err(Error::DeviceGone { host_status: 1, .. })));
        let e = check("X", &status(2, 0, 8, &[0x72, 0x02, 0x3a, 0x00])).unwrap_err();
        assert_eq!(e.sense().map(|s| (s.key, s.asc)), Some((2, 0x3a)));
        assert!(matches!(check("X", &status(0x18, 0, 0, &[])), Err(Error::Status { status: 0x18, .. })));
    }

    #[test]
    fn cdbs_are_laid_out_as_mmc_says() {
        assert_eq!(cdb::inquiry(96), [0x12, 0, 0, 0, 96, 0]);
        assert_eq!(cdb::get_configuration(8192), [0x46, 0, 0, 0, 0, 0, 0, 0x20, 0, 0]);
        assert_eq!(cdb::mode_sense(0x7f, 4096), [0x5a, 0x08, 0x3f, 0, 0, 0, 0, 0x10, 0, 0]);
        assert_eq!(cdb::start_stop(false)[4], 0x02);
        assert_eq!(cdb::start_stop(true)[4], 0x03);
        assert_eq!(cdb::prevent_allow_medium_removal(true), [0x1e, 0, 0, 0, 1, 0]);
        assert_eq!(cdb::write10(0x01020304, 32), [0x2a, 0, 1, 2, 3, 4, 0, 0, 32, 0]);
        assert_eq!(cdb::read10(7, 0x0102), [0x28, 0, 0, 0, 0, 7, 0, 1, 2, 0]);
        assert_eq!(cdb::read_track_information(1, 48), [0x52, 1, 0, 0, 0, 1, 0, 0, 48, 0]);
        assert_eq!(cdb::close_track_session(CloseFunction::Track, 1), [0x5b, 0, 1, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(cdb::close_track_session(CloseFunction::FinalizeMinimalRadius, 0)[2], 5);
        assert_eq!(cdb::blank(1)[..2], [0xa1, 0x11]);
        assert_eq!(cdb::get_performance_write_speeds(32)[8..11], [0, 32, 3]);
        assert_eq!(cdb::set_cd_speed(1765)[2..6], [0xff, 0xff, 0x06, 0xe5]);
        assert_eq!(cdb::format_unit(), [0x04, 0x11, 0, 0, 0, 0]);
        assert_eq!(cdb::mode_select(60), [0x55, 0x10, 0, 0, 0, 0, 0, 0, 60, 0]);
        let p = write_parameters_page(1, false);
        assert_eq!(p[..5], [0x05, 0x32, 0x41, 0xc4, 0x08]);
        assert_eq!(write_parameters_page(0, true)[2..4], [0x40, 0x05]);
    }
}

//! The MMC commands discrec sends, each a CDB builder and a call that runs
//! it over [`crate::transport`] and parses the reply with [`crate::reply`].

use std::os::fd::BorrowedFd;

use crate::error::{Error, Result};
use crate::reply::{self, Configuration, Inquiry};
use crate::sense::parse_sense;
use crate::transport::{self, DataIn, SgStatus};

/// Default command timeout.
pub const TIMEOUT_MS: u32 = 30_000;

/// CDB builders: the bytes of each command, as MMC-6 and SPC-4 lay them out.
pub mod cdb {
    /// INQUIRY (SPC 0x12) for `len` bytes of standard data.
    pub fn inquiry(len: u8) -> [u8; 6] {
        [0x12, 0, 0, 0, len, 0]
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
    let st = transport::sg_io(fd, cdb, DataIn::FromDevice(&mut buf), TIMEOUT_MS)
        .map_err(|source| Error::Transport { command, source })?;
    check(command, &st)?;
    let got = len.saturating_sub(st.resid.max(0) as usize);
    buf.truncate(got);
    Ok(buf)
}

/// Run a command without a data phase.
pub fn no_data(fd: BorrowedFd<'_>, command: &'static str, cdb: &[u8]) -> Result<()> {
    let st =
        transport::sg_io(fd, cdb, DataIn::None, TIMEOUT_MS).map_err(|source| Error::Transport { command, source })?;
    check(command, &st)
}

/// INQUIRY (96 bytes of standard data).
pub fn inquiry(fd: BorrowedFd<'_>) -> Result<Inquiry> {
    let b = data_in(fd, "INQUIRY", &cdb::inquiry(96), 96)?;
    reply::parse_inquiry(&b).ok_or(Error::ShortReply { command: "INQUIRY", len: b.len() })
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
    }
}

//! Optical discs over MMC: WRITE(10) over `SG_IO`, a command at a time,
//! then SYNCHRONIZE CACHE and, on a disc written in order, CLOSE TRACK
//! and CLOSE SESSION (finalizing as the medium does it); read back with
//! READ(10).
//!
//! | Medium | Written | Closed |
//! |---|---|---|
//! | CD-R, CD-RW | track at once, mode 1 (page 05) | track, session (page 05 multisession: open or not) |
//! | DVD-R, DVD-RW (sequential) | incremental (page 05) | track, session (likewise) |
//! | DVD+R, DVD+R DL | incremental | track, session, or finalize (101b) |
//! | BD-R | sequential recording | track, session, or finalize (110b) |
//! | DVD+RW, DVD-RAM, DVD-RW (overwrite), BD-RE | at its address | nothing to close |

use std::os::fd::{AsFd, OwnedFd};

use discrec_mmc::{self as mmc, CloseFunction};

use super::{sink::Sink, stop::Stop, MMC_SECTORS_PER_COMMAND};
use crate::error::{Error, Result};
use crate::medium::{Medium, WriteMethod, SECTOR};
use crate::target::Target;

/// How a written track is closed.
#[derive(Clone, Copy)]
enum Closing {
    /// Randomly writable: nothing to close.
    Nothing,
    /// Close track `track` and the session; the write parameters page
    /// (write type `page05`) says whether the disc stays open, or the
    /// close function `finalize` closes it.
    Session { track: u16, page05: Option<u8>, finalize: Option<CloseFunction> },
}

/// A disc in a drive, being written.
pub(super) struct OpticalSink {
    target: Target,
    fd: OwnedFd,
    closing: Closing,
    /// The first sector of the track: a failed write that wrote past it
    /// has a track to close.
    start: Option<u64>,
    /// The sector after the last one sent.
    end: u64,
}

impl OpticalSink {
    /// Write the disc `m` on `fd`, written as `method`: the write
    /// parameters set where the medium needs them.
    pub fn new(target: Target, fd: OwnedFd, m: &Medium, method: WriteMethod) -> Result<OpticalSink> {
        let profile = m.profile.unwrap_or(0);
        let closing = match method {
            WriteMethod::RandomAccess => Closing::Nothing,
            _ => {
                let di = mmc::read_disc_information(fd.as_fd()).map_err(|e| Error::drive_command(&target.given, e))?;
                let page05 = match (method, profile) {
                    (WriteMethod::TrackAtOnce, _) => Some(1),
                    (_, 0x0011 | 0x0014 | 0x0015) => Some(0),
                    _ => None,
                };
                let finalize = match profile {
                    0x001B | 0x002B => Some(CloseFunction::FinalizeMinimalRadius),
                    0x0041 => Some(CloseFunction::Finalize),
                    _ => None,
                };
                Closing::Session { track: di.last_track_in_last_session.max(1), page05, finalize }
            }
        };
        let sink = OpticalSink { target, fd, closing, start: None, end: 0 };
        if let Closing::Session { page05: Some(wt), .. } = closing {
            sink.set_page05(wt, false)?;
        }
        Ok(sink)
    }

    fn set_page05(&self, write_type: u8, last_session: bool) -> Result<()> {
        mmc::mode_select_page(self.fd.as_fd(), &mmc::write_parameters_page(write_type, last_session))
            .map_err(|e| self.err(e))
    }

    fn lba32(&self, lba: u64, command: &str) -> Result<u32> {
        u32::try_from(lba).map_err(|_| Error::DeviceCommand {
            target: self.target.given.clone(),
            what: command.into(),
            detail: format!("sector {lba} is beyond what a 10-byte command can address"),
        })
    }

    fn err(&self, e: mmc::Error) -> Error {
        Error::drive_command(&self.target.given, e)
    }

    /// A WRITE of `sectors` at `first` that failed, or the SYNCHRONIZE
    /// CACHE that was to put them on the disc: a medium or hardware error
    /// is the drive failing to write (what is on the disc after is said
    /// by `abandon`'s close); anything else as any command's error.
    fn write_failed(&self, e: mmc::Error, first: u64, sectors: u64) -> Error {
        match e {
            // (A communication failure or time-out, ASC 08h, is the
            // drive not answering: `err` says so.)
            mmc::Error::Sense { command, sense } if matches!(sense.key, 3 | 4) && sense.asc != 0x08 => {
                Error::WriteFailed {
                    target: self.target.given.clone(),
                    first,
                    last: first + sectors.max(1) - 1,
                    detail: format!("{command}: {}", sense.describe()),
                    after: format!(
                        "discrec closed what it could; `discrec info {}` says what is on the disc now",
                        self.target.given.display()
                    ),
                }
            }
            e => self.err(e),
        }
    }
}

const PIECE: usize = MMC_SECTORS_PER_COMMAND * SECTOR as usize;

impl Sink for OpticalSink {
    /// A command (64 KiB) at a time, asking `stop` between commands, so
    /// that a slow drive stops within a fraction of a second.
    fn write(&mut self, lba: u64, data: &[u8], stop: &Stop<'_>) -> Result<u64> {
        self.start.get_or_insert(lba);
        for (i, piece) in data.chunks(PIECE).enumerate() {
            let done = (i * MMC_SECTORS_PER_COMMAND) as u64;
            if i > 0 && stop.now() {
                return Ok(done);
            }
            let at = self.lba32(lba + done, "WRITE(10)")?;
            mmc::write10(self.fd.as_fd(), at, piece)
                .map_err(|e| self.write_failed(e, u64::from(at), piece.len() as u64 / SECTOR))?;
            self.end = u64::from(at) + piece.len() as u64 / SECTOR;
        }
        Ok(data.len() as u64 / SECTOR)
    }

    fn finish(&mut self, finalize: bool) -> Result<()> {
        let fd = self.fd.as_fd();
        // The drive writes from its cache here: a medium error now is the
        // write failing, somewhere in what was sent.
        let first = self.start.unwrap_or(0);
        mmc::synchronize_cache(fd).map_err(|e| self.write_failed(e, first, self.end.saturating_sub(first)))?;
        let Closing::Session { track, page05, finalize: close_disc } = self.closing else { return Ok(()) };
        mmc::close_track_session(fd, CloseFunction::Track, track).map_err(|e| self.err(e))?;
        let function = match (finalize, close_disc, page05) {
            (true, Some(f), _) => f,
            (true, None, Some(wt)) => {
                // CD and DVD-R: a session closed without multisession
                // closes the disc.
                self.set_page05(wt, true)?;
                CloseFunction::Session
            }
            _ => CloseFunction::Session,
        };
        mmc::close_track_session(fd, function, 0).map_err(|e| self.err(e))
    }

    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<()> {
        for (i, piece) in buf.chunks_mut(PIECE).enumerate() {
            let at = self.lba32(lba + (i * MMC_SECTORS_PER_COMMAND) as u64, "READ(10)")?;
            let n = mmc::read10(self.fd.as_fd(), at, piece).map_err(|e| self.err(e))?;
            if n < piece.len() {
                return Err(Error::DeviceCommand {
                    target: self.target.given.clone(),
                    what: "READ(10)".into(),
                    detail: format!("short read at sector {at}: {n} of {} bytes", piece.len()),
                });
            }
        }
        Ok(())
    }

    /// A begun track is closed (and its session), so the disc stays
    /// readable and its state says what is on it; a randomly writable
    /// disc has its cache flushed.
    fn abandon(&mut self, end: u64, may_command: bool) {
        if may_command && self.start.is_some_and(|s| end > s) {
            let _ = self.finish(false);
        }
    }

    fn can_finalize(&self) -> bool {
        matches!(self.closing, Closing::Session { .. })
    }
}

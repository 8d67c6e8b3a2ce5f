//! Incremental sequential recording (DVD+R): WRITE(10) from the next
//! writable address over `SG_IO`, a command at a time, then SYNCHRONIZE
//! CACHE and CLOSE TRACK / SESSION; read back with READ(10).

use std::os::fd::{AsFd, OwnedFd};

use discrec_mmc::{self as mmc, CloseFunction};

use super::{sink::Sink, stop::Stop, MMC_SECTORS_PER_COMMAND};
use crate::error::{Error, Result};
use crate::medium::SECTOR;
use crate::target::Target;

/// A drive written incrementally in one logical track.
pub(super) struct IncrementalSink {
    target: Target,
    fd: OwnedFd,
    track: u16,
    /// The first sector of the track: a failed write that wrote past it
    /// has a track to close.
    start: Option<u64>,
}

impl IncrementalSink {
    /// Write in logical track `track` of the drive open on `fd`.
    pub fn new(target: Target, fd: OwnedFd, track: u16) -> IncrementalSink {
        IncrementalSink { target, fd, track, start: None }
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
}

const PIECE: usize = MMC_SECTORS_PER_COMMAND * SECTOR as usize;

impl Sink for IncrementalSink {
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
            mmc::write10(self.fd.as_fd(), at, piece).map_err(|e| self.err(e))?;
        }
        Ok(data.len() as u64 / SECTOR)
    }

    fn finish(&mut self, finalize: bool) -> Result<()> {
        let fd = self.fd.as_fd();
        mmc::synchronize_cache(fd).map_err(|e| self.err(e))?;
        mmc::close_track_session(fd, CloseFunction::Track, self.track).map_err(|e| self.err(e))?;
        let close = if finalize { CloseFunction::FinalizeMinimalRadius } else { CloseFunction::Session };
        mmc::close_track_session(fd, close, 0).map_err(|e| self.err(e))
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
    /// readable and its state says what is on it.
    fn abandon(&mut self, end: u64, may_command: bool) {
        if may_command && self.start.is_some_and(|s| end > s) {
            let _ = self.finish(false);
        }
    }

    fn can_finalize(&self) -> bool {
        true
    }
}

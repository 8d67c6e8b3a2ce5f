//! Image files and block devices: `pwrite` at the sector's offset,
//! `fdatasync`, read back past the page cache. An image file's blocks are
//! reserved before the first sector and given back past what was written
//! when the write fails.

use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;

use super::{sink::Sink, stop::Stop, Source};
use crate::error::{Error, Result};
use crate::medium::{self, SECTOR};
use crate::target::Target;

/// A file or block device being written.
pub(super) struct FileSink {
    target: Target,
    file: std::fs::File,
    /// The sectors reserved (`start..end`) in an image file.
    reserved: Option<(u64, u64)>,
    /// An image file grown by a session added after its file system: its
    /// length before, given back when the write fails.
    grown_from: Option<u64>,
}

impl FileSink {
    /// A block device: written in place.
    pub fn device(target: Target, fd: OwnedFd) -> FileSink {
        FileSink { target, file: fd.into(), reserved: None, grown_from: None }
    }

    /// An image file, its blocks for `source` from `start` reserved
    /// (without changing its size): a file system that cannot hold the
    /// image (another writer filled it since the medium was read, a quota)
    /// refuses now, not with ENOSPC in the middle, after sectors were
    /// written. A file system without `fallocate` is written as before.
    /// `grows`: the write adds a session after the file system the image
    /// holds; a failure cuts the image back to its length.
    pub fn image(target: Target, fd: OwnedFd, start: u64, source: &Source, grows: bool) -> Result<FileSink> {
        use rustix::fs::FallocateFlags;
        let sectors = source.sectors();
        let grown_from = match grows {
            true => Some(rustix::fs::fstat(&fd).map_err(|e| target.io_error("cannot stat", e.into()))?.st_size as u64),
            false => None,
        };
        match rustix::fs::fallocate(&fd, FallocateFlags::KEEP_SIZE, start * SECTOR, sectors * SECTOR) {
            Err(rustix::io::Errno::NOSPC) | Err(rustix::io::Errno::DQUOT) => Err(Error::StreamTooLarge {
                source_name: source.name.clone(),
                needed: sectors,
                free: medium::fs_free_bytes(&target.node).map(|b| b / SECTOR).unwrap_or(0),
                target: target.given,
            }),
            _ => Ok(FileSink { target, file: fd.into(), reserved: Some((start, start + sectors)), grown_from }),
        }
    }
}

impl Sink for FileSink {
    fn write(&mut self, lba: u64, data: &[u8], _stop: &Stop<'_>) -> Result<u64> {
        self.file
            .write_all_at(data, lba * SECTOR)
            .map_err(|e| self.target.io_error(&format!("cannot write sector {lba} of"), e))?;
        Ok(data.len() as u64 / SECTOR)
    }

    fn finish(&mut self, _finalize: bool) -> Result<()> {
        // A grown image ends with its new session: what lay past it (the
        // rest of a write killed before) belongs to nothing.
        if let (Some(_), Some((_, end))) = (self.grown_from, self.reserved) {
            if self.file.metadata().is_ok_and(|st| st.len() > end * SECTOR) {
                self.file.set_len(end * SECTOR).map_err(|e| self.target.io_error("cannot trim", e))?;
            }
        }
        self.file.sync_data().map_err(|e| self.target.io_error("cannot flush", e))
    }

    /// The cached pages are dropped first, so the disc answers, not memory.
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<()> {
        let _ = rustix::fs::fadvise(
            &self.file,
            lba * SECTOR,
            std::num::NonZeroU64::new(buf.len() as u64),
            rustix::fs::Advice::DontNeed,
        );
        self.file
            .read_exact_at(buf, lba * SECTOR)
            .map_err(|e| self.target.io_error(&format!("cannot read back sector {lba} of"), e))
    }

    /// An image's reserved blocks past `end` are given back (else a
    /// cancelled 1 GiB burn keeps 1 GiB of hidden blocks behind a 4 MiB
    /// file); one grown by a session is cut back to its length.
    fn abandon(&mut self, end: u64, _may_command: bool) {
        use rustix::fs::FallocateFlags;
        if let Some(len) = self.grown_from {
            // The session added was never pointed to: away with it.
            let _ = rustix::fs::ftruncate(&self.file, len);
            return;
        }
        let Some((_, stop)) = self.reserved else { return };
        let (from, to) = (end * SECTOR, stop * SECTOR);
        let _ = rustix::fs::fallocate(
            &self.file,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            from,
            to - from.min(to),
        );
        // Blocks past the end of the file: ext4 punches no hole there, but
        // a truncation to the same size frees them.
        if let Ok(st) = rustix::fs::fstat(&self.file) {
            let _ = rustix::fs::ftruncate(&self.file, st.st_size as u64);
        }
    }

    fn can_finalize(&self) -> bool {
        false
    }
}

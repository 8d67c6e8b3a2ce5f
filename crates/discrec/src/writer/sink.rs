//! Where sectors go: one [`Sink`] per way of writing a medium, chosen in
//! one place (`run::open_sink`) from the medium's
//! [`WriteMethod`](crate::medium::WriteMethod). A new medium is a new sink
//! in a file of its own, not a branch in every loop.

use super::stop::Stop;
use crate::error::Result;

/// A medium being written.
pub(super) trait Sink {
    /// Write `data` (whole sectors) at `lba`. A sink that writes in
    /// several commands asks `stop` between them and stops early: the
    /// number of sectors written, all of `data`'s unless it stopped.
    fn write(&mut self, lba: u64, data: &[u8], stop: &Stop<'_>) -> Result<u64>;

    /// Make what was written durable and close what the medium needs
    /// closed (`finalize`: close the disc so nothing can be appended).
    fn finish(&mut self, finalize: bool) -> Result<()>;

    /// Read `buf.len()` bytes at `lba` back from the medium itself, not a
    /// cache.
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<()>;

    /// After a failed or stopped write that ended at `end` (the first
    /// sector not written): leave the medium as readable and as small as
    /// it can be. `may_command`: false once the drive may be another's.
    /// Best effort: the write's own error is what the caller reports.
    fn abandon(&mut self, end: u64, may_command: bool);

    /// Whether `finish(true)` closes the medium for good.
    fn can_finalize(&self) -> bool;
}

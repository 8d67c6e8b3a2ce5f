//! What a write tells while it runs and when it ends: IMAPI2's write
//! actions, progress updates (`DDiscFormat2DataEvents`) and the report,
//! and the counters the write's threads share to make them.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{BUFFERS, CHUNK};
use crate::medium::Medium;

/// `IMAPI_FORMAT2_DATA_WRITE_ACTION`: what a write is doing, with IMAPI2's
/// values. A write reports them in this order, skipping those it has no
/// need of: validating, (formatting,) initializing, (calibrating,)
/// writing, finalization, verifying, completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[doc(alias = "IMAPI_FORMAT2_DATA_WRITE_ACTION")]
#[doc(alias = "CurrentAction")]
#[allow(missing_docs)]
pub enum WriteAction {
    ValidatingMedia = 0,
    FormattingMedia = 1,
    InitializingHardware = 2,
    CalibratingPower = 3,
    WritingData = 4,
    Finalization = 5,
    Completed = 6,
    Verifying = 7,
}

impl WriteAction {
    pub(super) fn from_u32(v: u32) -> WriteAction {
        use WriteAction::*;
        [ValidatingMedia, FormattingMedia, InitializingHardware, CalibratingPower, WritingData, Finalization, Completed]
            .get(v as usize)
            .copied()
            .unwrap_or(Verifying)
    }

    /// How a person reads it.
    pub fn describe(self) -> &'static str {
        match self {
            WriteAction::ValidatingMedia => "validating the medium",
            WriteAction::FormattingMedia => "formatting",
            WriteAction::InitializingHardware => "preparing the drive",
            WriteAction::CalibratingPower => "calibrating power",
            WriteAction::WritingData => "writing",
            WriteAction::Finalization => "closing",
            WriteAction::Completed => "done",
            WriteAction::Verifying => "verifying",
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => secs(d, s),
        None => s.serialize_none(),
    }
}

/// One progress update: `DDiscFormat2DataEvents::Update` with its
/// `IDiscFormat2DataEventArgs` and `IWriteEngine2EventArgs`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[doc(alias = "DDiscFormat2DataEvents")]
#[doc(alias = "IDiscFormat2DataEventArgs")]
#[doc(alias = "IWriteEngine2EventArgs")]
pub struct Progress {
    /// What the write is doing (`CurrentAction`).
    pub action: WriteAction,
    /// Since the write started (`ElapsedTime`), in seconds in JSON.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    /// Estimated time left in this action (`RemainingTime`).
    #[serde(serialize_with = "opt_secs")]
    pub remaining: Option<Duration>,
    /// Estimated time of the whole write (`TotalTime`).
    #[serde(serialize_with = "opt_secs")]
    pub total: Option<Duration>,
    /// First sector written (`StartLba`).
    pub start_lba: u64,
    /// Sectors to write (`SectorCount`).
    pub sector_count: u64,
    /// Last sector read from the source (`LastReadLba`), as an address on
    /// the medium.
    pub last_read_lba: Option<u64>,
    /// Last sector written (`LastWrittenLba`).
    pub last_written_lba: Option<u64>,
    /// Sectors read back and checked so far.
    pub sectors_verified: u64,
    /// Bytes of buffer between source and medium (`TotalSystemBuffer`).
    pub total_system_buffer: u64,
    /// Of which filled, waiting to be written (`UsedSystemBuffer`).
    pub used_system_buffer: u64,
    /// Of which empty (`FreeSystemBuffer`).
    pub free_system_buffer: u64,
}

impl Progress {
    /// Percent of the current action done (writing or verifying), 0-100.
    pub fn percent(&self) -> f64 {
        if self.sector_count == 0 {
            return 0.0;
        }
        let done = match self.action {
            WriteAction::WritingData => self.last_written_lba.map(|l| l + 1 - self.start_lba).unwrap_or(0),
            WriteAction::Verifying => self.sectors_verified,
            WriteAction::Finalization | WriteAction::Completed => self.sector_count,
            _ => 0,
        };
        (done as f64 * 100.0 / self.sector_count as f64).min(100.0)
    }
}

/// What a finished write did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WriteReport {
    /// The medium before the write.
    pub medium: Medium,
    /// First sector written.
    pub start_lba: u64,
    /// Sectors written.
    pub sectors: u64,
    /// Time spent writing (to the end of finalization).
    #[serde(serialize_with = "secs")]
    pub write_time: Duration,
    /// Time spent verifying (zero when not verified).
    #[serde(serialize_with = "secs")]
    pub verify_time: Duration,
    /// The write was read back and matched.
    pub verified: bool,
    /// The disc was closed so that nothing can be appended.
    pub finalized: bool,
    /// A session added to the disc (`--append`): the one it was added
    /// to. `None` for a first session.
    pub added_to: Option<AddedTo>,
}

/// The session a write added to (IMAPI2's
/// `StartAddressOfPreviousSession`) and what it held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddedTo {
    /// Its first sector.
    pub previous_session_start: u64,
    /// Regular files of that session the new one keeps (points to):
    /// those no new entry replaced.
    pub files_kept: usize,
}

/// What the write, the reading thread and the progress thread share.
#[derive(Default)]
pub(super) struct Shared {
    pub action: AtomicU32,
    /// Sectors read from the source.
    pub read: AtomicU64,
    /// Sectors written.
    pub written: AtomicU64,
    /// Sectors read back and checked.
    pub verified: AtomicU64,
    /// Bytes read and not yet written.
    pub queued: AtomicU64,
}

impl Shared {
    /// Say what the write is doing now.
    pub fn set(&self, action: WriteAction) {
        self.action.store(action as u32, Ordering::Relaxed);
    }

    /// A progress update of the write that began at `started`, writing
    /// `sectors` from `start`.
    pub fn snapshot(&self, started: Instant, start: u64, sectors: u64) -> Progress {
        let total_buffer = (BUFFERS * CHUNK) as u64;
        let action = WriteAction::from_u32(self.action.load(Ordering::Relaxed));
        let read = self.read.load(Ordering::Relaxed);
        let written = self.written.load(Ordering::Relaxed);
        let verified = self.verified.load(Ordering::Relaxed);
        let queued = self.queued.load(Ordering::Relaxed).min(total_buffer);
        let elapsed = started.elapsed();
        let (done, phase_started) = match action {
            WriteAction::Verifying => (verified, None),
            _ => (written, Some(started)),
        };
        let remaining = (done > 0 && phase_started.is_some()).then(|| {
            let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
            Duration::from_secs_f64((sectors.saturating_sub(done)) as f64 / rate)
        });
        Progress {
            action,
            elapsed,
            remaining,
            total: remaining.map(|r| elapsed + r),
            start_lba: start,
            sector_count: sectors,
            last_read_lba: (read > 0).then(|| start + read - 1),
            last_written_lba: (written > 0).then(|| start + written - 1),
            sectors_verified: verified,
            total_system_buffer: total_buffer,
            used_system_buffer: queued,
            free_system_buffer: total_buffer - queued,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_keep_imapi_values() {
        assert_eq!(WriteAction::WritingData as u32, 4);
        assert_eq!(WriteAction::Verifying as u32, 7);
        for v in 0..8 {
            assert_eq!(WriteAction::from_u32(v) as u32, v);
        }
    }

    #[test]
    fn a_snapshot_counts_what_was_written_from_the_start() {
        let s = Shared::default();
        s.set(WriteAction::WritingData);
        s.read.store(10, Ordering::Relaxed);
        s.written.store(4, Ordering::Relaxed);
        let p = s.snapshot(Instant::now(), 100, 40);
        assert_eq!((p.last_read_lba, p.last_written_lba), (Some(109), Some(103)));
        assert_eq!(p.percent(), 10.0);
        assert_eq!(p.used_system_buffer + p.free_system_buffer, p.total_system_buffer);
        let none = Shared::default().snapshot(Instant::now(), 0, 40);
        assert_eq!((none.last_written_lba, none.remaining), (None, None));
    }
}

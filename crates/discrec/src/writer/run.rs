//! The write itself, holding the drive: check the medium, open its sink,
//! pump the source's buffers into it, make it durable, read it back. The
//! source is read on a thread of its own and progress goes out from
//! another, so neither a slow source nor a slow callback slows the other
//! parts.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::append::{self, Added, Append, Next};
use super::check::{check_medium, Prepare};
use super::file::FileSink;
use super::optical::OpticalSink;
use super::progress::{AddedTo, Progress, Shared, WriteAction, WriteReport};
use super::sink::Sink;
use super::source::{read_source, Filled, Msg};
use super::stop::{is_lost_lock, Stop};
use super::{open_rw, Source, BUFFERS, CHUNK, UPDATE_EVERY};
use crate::erase;
use crate::error::{Error, Result};
use crate::medium::{self, Medium, Speed, WriteMethod, SECTOR};
use crate::target::Target;
use discrec_mmc as mmc;

/// How often a writer waiting for the source asks whether to stop.
const STOP_POLL: Duration = Duration::from_millis(50);

/// What the caller asked of a write.
#[derive(Clone, Copy)]
pub(super) struct Plan {
    /// Close the disc so nothing can be appended.
    pub finalize: bool,
    /// Read what was written back and compare.
    pub verify: bool,
    /// Write over what a rewritable disc holds (`ForceOverwrite`).
    pub overwrite: bool,
    /// The speed asked for (`SetWriteSpeed`).
    pub speed: Speed,
}

/// What a write writes.
pub(super) enum Input {
    /// A source, from the disc's next writable address.
    Source(Source),
    /// A directory, as a session added to what the disc holds.
    Append(Append),
}

/// Write `input` to `t`, which the caller holds; `on_update` hears
/// progress from another thread.
pub(super) fn run(
    t: &Target,
    input: Input,
    plan: Plan,
    stop: &Stop<'_>,
    on_update: Option<&mut (dyn FnMut(&Progress) + Send)>,
) -> Result<WriteReport> {
    let started = Instant::now();
    let shared = Arc::new(Shared::default());
    shared.set(WriteAction::ValidatingMedia);
    let fd = open_rw(t)?;
    let mut m = medium::read(t, fd.as_fd())?;
    let (source, added) = match input {
        Input::Source(source) => (source, None),
        Input::Append(a) => match append::next(t, fd.as_fd(), &m, &a)? {
            Next::First(source) => (source, None),
            Next::Added(Added { source, start, descriptors, previous, kept }) => {
                (source, Some((start, descriptors, AddedTo { previous_session_start: previous, files_kept: kept })))
            }
        },
    };
    // An added session was checked where it goes; anything else here.
    let prepare = match added {
        Some(_) => Prepare::Nothing,
        None => check_medium(t, &m, &source, plan.overwrite)?,
    };
    // A speed the drive does not offer is refused before anything else.
    let speed = plan.speed.pick(t, &m)?;
    if prepare != Prepare::Nothing {
        // Format or blank first (a cancel so far counts), then check the
        // disc as it is now.
        stop.check(0)?;
        shared.set(WriteAction::FormattingMedia);
        // A cancel ends the wait for the drive, which finishes on its own.
        let quit = || stop.now();
        let prepared = match prepare {
            Prepare::Erase => erase::erase_disc(t, fd.as_fd(), &m, false, None, Some(&quit)),
            _ => erase::format(t, fd.as_fd(), &m, true, Instant::now(), &mut None, Some(&quit)),
        };
        // Stopped: said as the stop is (a cancel, or the cluster lock lost).
        prepared.map_err(|e| match e {
            Error::Cancelled { .. } => stop.check(0).err().unwrap_or(e),
            e => e,
        })?;
        m = medium::read(t, fd.as_fd())?;
        let again = check_medium(t, &m, &source, plan.overwrite)?;
        if again != Prepare::Nothing {
            return Err(Error::EraseFailed {
                target: t.given.clone(),
                detail: format!("the disc is still not ready to write after {prepare:?}: {}", m.state),
            });
        }
    }
    let (start, sectors) = (added.as_ref().map_or(m.next_writable_address, |a| a.0), source.sectors());
    let (descriptors, added_to) = added.map_or((None, None), |(_, d, to)| (d, Some(to)));
    shared.set(WriteAction::InitializingHardware);
    if let Some(w) = speed {
        let end = u32::try_from(m.total_sectors.saturating_sub(1)).unwrap_or(u32::MAX);
        let cd = m.physical_type.is_cd();
        mmc::set_write_speed(fd.as_fd(), w.kilobytes_per_second, end, cd)
            .map_err(|e| Error::drive_command(&t.given, e))?;
    }
    let mut sink = open_sink(t, fd, &m, start, &source, descriptors.is_some())?;
    let snapshot = |shared: &Shared| shared.snapshot(started, start, sectors);

    let finished = AtomicBool::new(false);
    let mut on_update = on_update;
    let outcome = std::thread::scope(|scope| {
        let reporter = on_update.as_mut().map(|f| {
            let (shared, finished, snapshot) = (&shared, &finished, &snapshot);
            scope.spawn(move || {
                while !finished.load(Ordering::Acquire) {
                    std::thread::park_timeout(UPDATE_EVERY);
                    if finished.load(Ordering::Acquire) {
                        break;
                    }
                    f(&snapshot(shared));
                }
            })
        });
        let job = Job { t, sink: sink.as_mut(), m: &m, plan, stop, shared: &shared, start, started, descriptors };
        let r = job.write(source);
        finished.store(true, Ordering::Release);
        if let Some(h) = reporter {
            h.thread().unpark();
            let _ = h.join();
        }
        r
    });
    let mut report = outcome?;
    report.added_to = added_to;
    shared.set(WriteAction::Completed);
    if let Some(f) = on_update {
        f(&snapshot(&shared));
    }
    Ok(report)
}

/// One write, its sink open.
struct Job<'a> {
    t: &'a Target,
    sink: &'a mut dyn Sink,
    m: &'a Medium,
    plan: Plan,
    stop: &'a Stop<'a>,
    shared: &'a Arc<Shared>,
    start: u64,
    started: Instant,
    /// An added session's volume descriptors, for sectors 16 to 18 of a
    /// disc written at random once it is written and verified.
    descriptors: Option<Vec<u8>>,
}

/// The buffers between the reading thread and the writer.
struct Buffers {
    free: SyncSender<Vec<u8>>,
    full: Receiver<Result<Msg>>,
}

impl Job<'_> {
    fn write(mut self, source: Source) -> Result<WriteReport> {
        let (source_name, sectors) = (source.name.clone(), source.sectors());
        let buffers = match self.start_reading(source) {
            Ok(b) => b,
            Err(e) => return Err(self.abandon(e, self.start)),
        };
        self.shared.set(WriteAction::WritingData);
        let mut digests = Vec::new();
        let mut lba = self.start;
        let pumped = self.pump(&buffers, &source_name, sectors, &mut lba, &mut digests);
        let ended = pumped.and_then(|()| self.await_end(&buffers, &source_name, lba - self.start));
        drop(buffers);
        if let Err(e) = ended {
            return Err(self.abandon(e, lba));
        }
        // Not one more command to the drive once the lock may be another's.
        self.stop.check(sectors)?;
        self.shared.set(WriteAction::Finalization);
        self.sink.finish(self.plan.finalize)?;
        let write_time = self.started.elapsed();
        let verify_started = Instant::now();
        let verified = self.plan.verify;
        if verified {
            self.verify(&digests, sectors, &source_name)?;
        }
        if let Some(d) = self.descriptors.take() {
            self.point_to_session(&d, &source_name)?;
        }
        // Success is said only while the lock still holds.
        self.stop.check(sectors)?;
        Ok(WriteReport {
            medium: self.m.clone(),
            start_lba: self.start,
            sectors,
            write_time,
            verify_time: if verified { verify_started.elapsed() } else { Duration::ZERO },
            verified,
            finalized: self.plan.finalize && self.sink.can_finalize(),
            added_to: None,
        })
    }

    /// Grow the file system of a disc written at random: the added
    /// session's volume descriptors go to sectors 16 to 18, where readers
    /// look. Done last, once the session is written (and verified): a
    /// failure or a cancel before leaves the disc's old file system whole.
    fn point_to_session(&mut self, descriptors: &[u8], source_name: &str) -> Result<()> {
        const AT: u64 = 16;
        let n = descriptors.len() as u64 / SECTOR;
        self.stop.check(n)?;
        self.sink.write(AT, descriptors, self.stop)?;
        self.sink.finish(false)?;
        if self.plan.verify {
            let mut back = vec![0u8; descriptors.len()];
            self.sink.read(AT, &mut back)?;
            if back != descriptors {
                return Err(Error::VerificationFailed {
                    target: self.t.given.clone(),
                    source_name: source_name.to_string(),
                    first: AT,
                    last: AT + n - 1,
                });
            }
        }
        Ok(())
    }

    /// Start the thread that reads the source into the buffers.
    fn start_reading(&self, source: Source) -> Result<Buffers> {
        let (free, free_rx) = sync_channel::<Vec<u8>>(BUFFERS);
        let (full_tx, full) = sync_channel::<Result<Msg>>(BUFFERS);
        for _ in 0..BUFFERS {
            let _ = free.send(vec![0u8; CHUNK]);
        }
        let shared = Arc::clone(self.shared);
        let verify = self.plan.verify;
        // Not scoped: a source that stalls (a pipe that delivers nothing)
        // must not hold up a cancelled write. The thread ends when its
        // read returns and finds the writer gone.
        std::thread::Builder::new()
            .name("discrec-source".into())
            .spawn(move || read_source(source, verify, free_rx, full_tx, shared))
            .map_err(|e| Error::Fail { what: "cannot start the thread that reads the source".into(), source: e })?;
        Ok(Buffers { free, full })
    }

    /// Write every buffer of the source, `lba` following what was written.
    fn pump(
        &mut self,
        b: &Buffers,
        source_name: &str,
        sectors: u64,
        lba: &mut u64,
        digests: &mut Vec<blake3::Hash>,
    ) -> Result<()> {
        let end = self.start + sectors;
        while *lba < end {
            self.stop.check(*lba - self.start)?;
            let Filled { buf, len, digest } = match b.full.recv_timeout(STOP_POLL) {
                Ok(Ok(Msg::Data(filled))) => filled,
                Ok(Ok(Msg::End)) => {
                    return Err(ended_early(source_name, "ended early (internal: end before its length)"))
                }
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Err(ended_early(source_name, THREAD_ENDED)),
            };
            self.shared.queued.fetch_sub(len as u64, Ordering::Relaxed);
            let wrote = self.sink.write(*lba, &buf[..len], self.stop)?;
            *lba += wrote;
            self.shared.written.store(*lba - self.start, Ordering::Relaxed);
            if wrote < len as u64 / SECTOR {
                // The sink stopped between commands: say why.
                self.stop.check(*lba - self.start)?;
                return Err(self.stop.cancelled(*lba - self.start));
            }
            digests.extend(digest);
            let _ = b.free.send(buf);
        }
        Ok(())
    }

    /// All sectors are written: the source must end here.
    fn await_end(&self, b: &Buffers, source_name: &str, written: u64) -> Result<()> {
        loop {
            self.stop.check(written)?;
            match b.full.recv_timeout(STOP_POLL) {
                Ok(Ok(Msg::End)) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Msg::Data(_))) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(ended_early(source_name, THREAD_ENDED))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// The error `e` of a write that ended at `lba`, the medium left as
    /// the sink leaves it.
    fn abandon(&mut self, mut e: Error, lba: u64) -> Error {
        // A session added to a disc written at random is not pointed to
        // yet: the disc's file system is as it was.
        let kept_old = self.descriptors.is_some();
        match &mut e {
            Error::WriteCancelled { kept_old: k, .. } => *k = kept_old,
            Error::Source { detail, .. } if kept_old => detail.push_str(&format!(
                "; the session was not added: the file system on {} is as it was",
                self.t.given.display()
            )),
            _ => {}
        }
        // A source that failed after sectors were written left part of a
        // recording on the medium: say so, and what to do.
        if let Error::Source { detail, .. } = &mut e {
            if lba > self.start && !kept_old {
                detail.push_str(&format!(
                    "; {} now holds an incomplete recording of {} sectors (truncate an image file to 0 bytes, or use a new disc)",
                    self.t.given.display(),
                    lba - self.start
                ));
            }
        }
        let may_command = !is_lost_lock(&e);
        if may_command && lba > self.start && self.sink.can_finalize() {
            self.shared.set(WriteAction::Finalization);
        }
        self.sink.abandon(lba, may_command);
        e
    }

    /// Read back what was written and compare each buffer's digest.
    fn verify(&mut self, digests: &[blake3::Hash], sectors: u64, source_name: &str) -> Result<()> {
        self.shared.set(WriteAction::Verifying);
        let end = self.start + sectors;
        let mut buf = vec![0u8; CHUNK];
        let mut at = self.start;
        for (i, want) in digests.iter().enumerate() {
            self.stop.check(sectors)?;
            let len = ((end - at) * SECTOR).min(CHUNK as u64) as usize;
            self.sink.read(at, &mut buf[..len])?;
            if blake3::hash(&buf[..len]) != *want {
                let first = self.start + (i * CHUNK) as u64 / SECTOR;
                return Err(Error::VerificationFailed {
                    target: self.t.given.clone(),
                    source_name: source_name.to_string(),
                    first,
                    last: first + len as u64 / SECTOR - 1,
                });
            }
            at += len as u64 / SECTOR;
            self.shared.verified.store(at - self.start, Ordering::Relaxed);
        }
        Ok(())
    }
}

const THREAD_ENDED: &str = "the thread reading it ended early";

fn ended_early(source_name: &str, detail: &str) -> Error {
    Error::Source { source_name: source_name.to_string(), detail: detail.into() }
}

/// The sink for `m` on `fd`, to write `source` from `start`, with what it
/// must reserve before the first sector reserved (`grows`: a session
/// added after a file system, which a failure takes away again).
fn open_sink(t: &Target, fd: OwnedFd, m: &Medium, start: u64, source: &Source, grows: bool) -> Result<Box<dyn Sink>> {
    Ok(match m.method {
        Some(method @ (WriteMethod::Incremental | WriteMethod::TrackAtOnce | WriteMethod::RandomAccess)) => {
            Box::new(OpticalSink::new(t.clone(), fd, m, method)?)
        }
        Some(WriteMethod::ImageFile) => Box::new(FileSink::image(t.clone(), fd, start, source, grows)?),
        Some(WriteMethod::BlockDevice) | None => Box::new(FileSink::device(t.clone(), fd)),
    })
}

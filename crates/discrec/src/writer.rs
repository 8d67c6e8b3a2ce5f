//! The data writer: IMAPI2's `IDiscFormat2Data`. It writes a stream of
//! 2048-byte sectors (an ISO image, a block device, any reader of known
//! length) to the medium of a [`Recorder`], taking exclusive access for
//! itself when the handle does not hold it and releasing what it took
//! (spec C8).
//!
//! A write reads the source on a thread of its own into a few 1 MiB
//! buffers (memory does not grow with the source), writes them in order
//! (`pwrite` for image files and block devices, WRITE(10) from the next
//! writable address for DVD+R), makes the data durable (`fdatasync`, or
//! SYNCHRONIZE CACHE and CLOSE TRACK / SESSION), then reads it back and
//! compares a digest per buffer with the source's. Progress goes to a
//! callback on another thread at most every 100 ms, so a slow callback
//! never slows the write; [`DataWriter::cancel_write`] stops it at the
//! next buffer, even while the source delivers nothing.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use discrec_mmc::{self as mmc, CloseFunction};

use crate::client_name;
use crate::error::{Error, Result};
use crate::medium::{self, Medium, WriteMethod, SECTOR};
use crate::recorder::Recorder;
use crate::target::Target;

/// Bytes the source is read in, and written in to files and devices
/// (measured with `cargo bench --bench burn`: 1 MiB runs at 1.04x `dd
/// bs=1M`'s throughput, 4 MiB no faster and with four times the memory).
pub const CHUNK: usize = 1 << 20;
/// Buffers between the reading thread and the writer: the most memory a
/// write holds for data, whatever the source's size.
pub const BUFFERS: usize = 4;
/// Sectors per WRITE(10) and READ(10) to a drive (64 KiB, four DVD ECC
/// blocks; libburn and growisofs send 32 KiB to 64 KiB).
pub const MMC_SECTORS_PER_COMMAND: usize = 32;
/// Shortest time between two progress updates.
pub const UPDATE_EVERY: Duration = Duration::from_millis(100);
/// How often a writer waiting for the source looks at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// A stream of 2048-byte sectors of known length: what a write writes.
pub struct Source {
    name: String,
    len: u64,
    reader: Box<dyn Read + Send>,
    /// (st_dev, st_ino, st_rdev) of a source that is a file or device, to
    /// refuse writing a source onto itself.
    identity: Option<(u64, u64, u64)>,
}

/// A path in a message: control characters escaped, so that a message
/// stays on one line and no file name can forge another.
pub fn shown(path: &Path) -> String {
    discrec_iso::tree::shown(path)
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("name", &self.name).field("len", &self.len).finish_non_exhaustive()
    }
}

impl Source {
    /// An image file (or a block device) to write as it is.
    pub fn open(path: &Path) -> Result<Source> {
        Source::open_with(path, None, None)
    }

    /// [`Source::open`], a directory labelled `volume` (else its own
    /// name), its walk stopped by `cancel`.
    fn open_with(path: &Path, volume: Option<&str>, cancel: Option<Arc<AtomicBool>>) -> Result<Source> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
        let name = shown(path);
        let source_err = |what: &str, e: std::io::Error| Error::Source {
            source_name: name.clone(),
            detail: format!("{what} ({e}); name a readable ISO image, device or directory"),
        };
        // Look before opening: opening a FIFO would wait for a writer.
        let st = std::fs::metadata(path).map_err(|e| source_err("cannot open it", e))?;
        if st.is_dir() {
            let volume = volume.map(str::to_string).unwrap_or_else(|| Source::volume_name(path));
            return Source::directory_with(path, &volume, cancel);
        }
        if volume.is_some() {
            return Err(Error::InvalidArgument(format!(
                "a volume name is for the image made of a directory; {name} is not one"
            )));
        }
        if !st.is_file() && !st.file_type().is_block_device() {
            return Err(Error::StreamNotSupported(format!(
                "{name} is neither a file, a block device nor a directory; a pipe can be written as a stream of a given size"
            )));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            // A FIFO swapped in after the look above cannot hang the open.
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
            .map_err(|e| source_err("cannot open it", e))?;
        let st = file.metadata().map_err(|e| source_err("cannot stat it", e))?;
        let len = if st.is_file() {
            st.len()
        } else if st.file_type().is_block_device() {
            let len = rustix::fs::seek(&file, rustix::fs::SeekFrom::End(0))
                .map_err(|e| source_err("cannot size it", e.into()))?;
            rustix::fs::seek(&file, rustix::fs::SeekFrom::Start(0))
                .map_err(|e| source_err("cannot rewind it", e.into()))?;
            len
        } else {
            return Err(Error::StreamNotSupported(format!("{name} changed type while being opened")));
        };
        let regular = st.is_file();
        let was = rustix::fs::fstat(&file).map(|st| discrec_iso::tree::Identity::of(&st));
        let mut s = match (regular, was) {
            // A file must be what it was when opened once it has been read:
            // one rewritten meanwhile would leave a disc that matches
            // neither its old nor its new bytes.
            (true, Ok(was)) => Source::stream(name.clone(), Unchanged { file, was, name, read: 0 }, len)?,
            _ => Source::stream(name, file, len)?,
        };
        s.identity = Some((st.dev(), st.ino(), st.rdev()));
        Ok(s)
    }

    /// An ISO 9660 image with Joliet and Rock Ridge of the directory
    /// `dir` (IMAPI2's `IFileSystemImage`), labelled `volume`: laid out
    /// from the tree's metadata now, its files read while it is written
    /// (no temporary copy; memory for the metadata only). A file that
    /// changes or vanishes before it is read stops the write, naming it.
    #[doc(alias = "IFileSystemImage")]
    pub fn directory(dir: &Path, volume: &str) -> Result<Source> {
        Source::directory_with(dir, volume, None)
    }

    fn directory_with(dir: &Path, volume: &str, cancel: Option<Arc<AtomicBool>>) -> Result<Source> {
        let name = shown(dir);
        let opts = discrec_iso::Options { cancel, ..discrec_iso::Options::new(volume) };
        let image = discrec_iso::Image::from_dir(dir, &opts).map_err(|e| match e {
            discrec_iso::Error::Cancelled => Error::WriteCancelled { target: PathBuf::new(), sectors_written: 0 },
            e => Error::Source { source_name: name.clone(), detail: format!("cannot make an image of it: {e}") },
        })?;
        let len = image.len();
        Source::stream(name, image.reader(), len)
    }

    /// The volume name a directory gets: its own name.
    pub fn volume_name(dir: &Path) -> String {
        let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "CDROM".into())
    }

    /// Any reader that delivers exactly `len` bytes (a pipe, a socket, an
    /// image made on the fly), named `name` in messages. `len` must be a
    /// whole, non-zero number of 2048-byte sectors
    /// (`E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED` otherwise).
    pub fn stream(name: impl Into<String>, reader: impl Read + Send + 'static, len: u64) -> Result<Source> {
        let name = name.into();
        if len == 0 {
            return Err(Error::StreamNotSupported(format!("{name} is empty; there is nothing to write")));
        }
        if len % SECTOR != 0 {
            let pad = match len.div_ceil(SECTOR).checked_mul(SECTOR) {
                Some(p) => format!("pad it to {p} bytes or write an ISO image"),
                None => "write an ISO image".to_string(),
            };
            return Err(Error::StreamNotSupported(format!(
                "{name} is {len} bytes, not a whole number of 2048-byte sectors ({} over); {pad}",
                len % SECTOR
            )));
        }
        Ok(Source { name, len, reader: Box::new(reader), identity: None })
    }

    /// Its name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Never true: an empty source is refused when made.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its length in sectors.
    pub fn sectors(&self) -> u64 {
        self.len / SECTOR
    }
}

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
    fn from_u32(v: u32) -> WriteAction {
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
}

/// What the write, the reading thread and the progress thread share.
#[derive(Default)]
struct Shared {
    action: AtomicU32,
    read: AtomicU64,
    written: AtomicU64,
    verified: AtomicU64,
    queued: AtomicU64,
}

/// IMAPI2's `IDiscFormat2Data` on a [`Recorder`]. Share it between threads
/// (it is `Sync`): one runs [`DataWriter::write`], any other may call
/// [`DataWriter::cancel_write`]; a second `write` while one runs is
/// `E_IMAPI_DF2DATA_WRITE_IN_PROGRESS`.
#[doc(alias = "IDiscFormat2Data")]
#[doc(alias = "MsftDiscFormat2Data")]
pub struct DataWriter {
    recorder: Mutex<Recorder>,
    wait: Mutex<Option<Option<Duration>>>,
    /// Raised by `cancel_write`: ends a wait for the drive.
    cancel_signal: Option<crate::cancel::Cancel>,
    given: PathBuf,
    client_name: Mutex<String>,
    force_close: AtomicBool,
    verify: AtomicBool,
    writing: AtomicBool,
    /// Set by `cancel_write`, cleared when a write ends (so that a cancel
    /// made as a write begins is never lost); shared with the tree walk of
    /// a directory source.
    cancel: Arc<AtomicBool>,
    /// Held by `cancel_write` from its look at `writing` to its setting of
    /// `cancel`, and by a write's end from clearing `cancel` to clearing
    /// `writing`: a cancel meant for a write that is ending never reaches
    /// the next one.
    cancel_gate: Mutex<()>,
}

impl std::fmt::Debug for DataWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataWriter").field("target", &self.given).finish_non_exhaustive()
    }
}

impl DataWriter {
    /// A writer on `recorder` (IMAPI2: create `MsftDiscFormat2Data`, then
    /// `put_Recorder`), with client name `discrec`, verification on and
    /// the disc left appendable.
    #[doc(alias = "put_Recorder")]
    pub fn new(recorder: Recorder) -> DataWriter {
        DataWriter {
            given: recorder.target().given.clone(),
            recorder: Mutex::new(recorder),
            wait: Mutex::new(None),
            cancel_signal: crate::cancel::Cancel::new().ok(),
            client_name: Mutex::new("discrec".into()),
            force_close: AtomicBool::new(false),
            verify: AtomicBool::new(true),
            writing: AtomicBool::new(false),
            cancel: Arc::new(AtomicBool::new(false)),
            cancel_gate: Mutex::new(()),
        }
    }

    /// The recorder back.
    pub fn into_recorder(self) -> Recorder {
        self.recorder.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn recorder(&self) -> MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name the drive is held under while writing (`ClientName`);
    /// checked as every client name is (C4), a bad one being
    /// `E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID`.
    #[doc(alias = "ClientName")]
    #[doc(alias = "put_ClientName")]
    pub fn set_client_name(&self, name: &str) -> Result<()> {
        self.refuse_while_writing()?;
        client_name::validate(name).map_err(|e| Error::WriterClientName(e.to_string()))?;
        *self.client_name.lock().unwrap_or_else(|e| e.into_inner()) = name.to_string();
        Ok(())
    }

    /// The client name (`get_ClientName`).
    #[doc(alias = "get_ClientName")]
    pub fn client_name(&self) -> String {
        self.client_name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Close the disc after writing so that nothing can be appended
    /// (`ForceMediaToBeClosed`; off by default: the session is closed and
    /// the disc stays appendable).
    #[doc(alias = "ForceMediaToBeClosed")]
    #[doc(alias = "put_ForceMediaToBeClosed")]
    pub fn set_force_media_to_be_closed(&self, close: bool) -> Result<()> {
        self.refuse_while_writing()?;
        self.force_close.store(close, Ordering::Relaxed);
        Ok(())
    }

    /// The settings of a write are fixed while it runs (IMAPI2 refuses
    /// their setters with `E_IMAPI_DF2DATA_WRITE_IN_PROGRESS`).
    fn refuse_while_writing(&self) -> Result<()> {
        match self.writing.load(Ordering::SeqCst) {
            true => Err(Error::WriteInProgress { target: self.given.clone() }),
            false => Ok(()),
        }
    }

    /// Whether the disc is closed after writing.
    pub fn force_media_to_be_closed(&self) -> bool {
        self.force_close.load(Ordering::Relaxed)
    }

    /// Read the written sectors back and compare them with the source
    /// (IMAPI2's `IBurnVerification`; on by default).
    #[doc(alias = "BurnVerificationLevel")]
    pub fn set_verify(&self, verify: bool) -> Result<()> {
        self.refuse_while_writing()?;
        self.verify.store(verify, Ordering::Relaxed);
        Ok(())
    }

    /// Wait for a drive another client holds before writing (beyond
    /// IMAPI2): `None` (the default) fails at once with
    /// `E_IMAPI_RECORDER_LOCKED`; `Some(None)` waits as long as it takes,
    /// `Some(Some(t))` at most `t`, first come first served with every
    /// other waiter.
    pub fn set_wait(&self, wait: Option<Option<Duration>>) -> Result<()> {
        self.refuse_while_writing()?;
        *self.wait.lock().unwrap_or_else(|e| e.into_inner()) = wait;
        Ok(())
    }

    /// Whether writes are verified.
    pub fn verify(&self) -> bool {
        self.verify.load(Ordering::Relaxed)
    }

    /// The medium now in the recorder: type, state, capacity, and whether
    /// it can be written. Refused with `E_IMAPI_RECORDER_LOCKED` while
    /// another client holds the drive (C10); waits while this writer
    /// writes.
    #[doc(alias = "CurrentMediaStatus")]
    #[doc(alias = "CurrentPhysicalMediaType")]
    #[doc(alias = "IsCurrentMediaSupported")]
    #[doc(alias = "IsRecorderSupported")]
    pub fn medium(&self) -> Result<Medium> {
        self.recorder().medium()
    }

    /// Stop the running write at its next buffer (`CancelWrite`): it
    /// closes the track and session where the medium needs it, releases
    /// what it took, and returns `E_IMAPI_REQUEST_CANCELLED`. With no
    /// write running: `E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS`.
    #[doc(alias = "CancelWrite")]
    pub fn cancel_write(&self) -> Result<()> {
        let _gate = self.cancel_gate.lock().unwrap_or_else(|e| e.into_inner());
        if !self.writing.load(Ordering::SeqCst) {
            return Err(Error::WriteNotInProgress { target: self.given.clone() });
        }
        self.cancel.store(true, Ordering::SeqCst);
        if let Some(c) = &self.cancel_signal {
            c.raise();
        }
        Ok(())
    }

    /// Whether a write is running.
    pub fn is_writing(&self) -> bool {
        self.writing.load(Ordering::SeqCst)
    }

    /// `Write`: write `source` to the medium from its start (blank or
    /// randomly writable media), under this writer's client name. Every
    /// check is made before the first sector is written: the recorder and
    /// medium can be written, the medium is blank, the source fits.
    /// `on_update` is called from another thread at most every
    /// [`UPDATE_EVERY`], and once more at the end.
    #[doc(alias = "Write")]
    pub fn write(&self, source: Source, on_update: Option<&mut (dyn FnMut(&Progress) + Send)>) -> Result<WriteReport> {
        let _done = self.begin()?;
        self.write_begun(source, on_update)
    }

    /// [`DataWriter::write`] of what `path` names ([`Source::open`]; a
    /// directory labelled `volume`, else its own name), opened once the
    /// write has begun: a cancel (Ctrl-C) while a tree of a million files
    /// is read ends the write there, nothing written.
    pub fn write_path(
        &self,
        path: &Path,
        volume: Option<&str>,
        on_update: Option<&mut (dyn FnMut(&Progress) + Send)>,
    ) -> Result<WriteReport> {
        let _done = self.begin()?;
        let source = Source::open_with(path, volume, Some(self.cancel.clone())).map_err(|e| match e {
            Error::WriteCancelled { sectors_written, .. } => {
                Error::WriteCancelled { target: self.given.clone(), sectors_written }
            }
            e => e,
        })?;
        self.write_begun(source, on_update)
    }

    /// Mark a write as running (or refuse a second one); it ends when the
    /// value returned is dropped, clearing any cancel made for it.
    fn begin(&self) -> Result<impl Drop + '_> {
        if self.writing.swap(true, Ordering::SeqCst) {
            return Err(Error::WriteInProgress { target: self.given.clone() });
        }
        struct Done<'a>(&'a DataWriter);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                let _gate = self.0.cancel_gate.lock().unwrap_or_else(|e| e.into_inner());
                self.0.cancel.store(false, Ordering::SeqCst);
                if let Some(c) = &self.0.cancel_signal {
                    c.clear();
                }
                self.0.writing.store(false, Ordering::SeqCst);
            }
        }
        Ok(Done(self))
    }

    fn write_begun(
        &self,
        source: Source,
        on_update: Option<&mut (dyn FnMut(&Progress) + Send)>,
    ) -> Result<WriteReport> {
        let name = self.client_name();
        let plan = Plan { finalize: self.force_media_to_be_closed(), verify: self.verify() };
        let wait = *self.wait.lock().unwrap_or_else(|e| e.into_inner());
        // Cancelled before the drive was even asked for.
        if self.cancel.load(Ordering::SeqCst) {
            return Err(Error::WriteCancelled { target: self.given.clone(), sectors_written: 0 });
        }
        let mut rec = self.recorder();
        // Waiting: queue for the drive first (a cancel ends the wait); the
        // write then nests in it.
        let waited = match wait {
            // Under a lock this process inherited there is nothing to wait
            // for: the write runs under it.
            Some(timeout) if rec.lock_count() == 0 && !rec.runs_under_inherited_hold() => {
                let cancel = self.cancel_signal.as_ref().map(|c| c.as_fd());
                let w = crate::recorder::Wait { timeout, cancel, on_wait: None };
                rec.acquire_exclusive_access_waiting(false, &name, w).map_err(|e| match e {
                    Error::Cancelled { target } => Error::WriteCancelled { target, sectors_written: 0 },
                    e => e,
                })?;
                true
            }
            _ => false,
        };
        let r = rec.with_exclusive_access(&name, |rec| {
            let lost = || rec.cluster_lock_lost();
            run(rec.target(), source, plan, &self.cancel, &lost, on_update)
        });
        if waited {
            let _ = rec.release_exclusive_access();
        }
        r
    }
}

impl Recorder {
    /// The medium in this recorder (see [`crate::medium`]). Refused with
    /// `E_IMAPI_RECORDER_LOCKED` while another client holds the drive (C10).
    pub fn medium(&self) -> Result<Medium> {
        self.refuse_if_held_by_another()?;
        let fd = open_rw(self.target())?;
        medium::read(self.target(), fd.as_fd())
    }
}

/// Open the node for writing (no `O_EXCL`: the kernel claim, if any, is
/// ours already; `O_NONBLOCK` so a drive opens without a medium).
fn open_rw(t: &Target) -> Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY;
    let flags = if t.kind == crate::key::TargetKind::BlockDevice { flags | OFlags::NONBLOCK } else { flags };
    let fd = rustix::fs::open(&t.node, flags, Mode::empty()).map_err(|e| t.io_error("cannot open", e.into()))?;
    t.check_same(&fd)?;
    Ok(fd)
}

#[derive(Clone, Copy)]
struct Plan {
    finalize: bool,
    verify: bool,
}

/// Where sectors go.
enum Sink {
    /// An image file or a block device.
    File(std::fs::File),
    /// A drive, written incrementally in logical track `track`.
    Drive { fd: OwnedFd, track: u16 },
}

impl Sink {
    /// Write `data` at `lba`. A drive is written a command at a time, and
    /// `cancel` is looked at between commands (64 KiB), so that a slow
    /// drive stops within a fraction of a second. On a cancel: the
    /// sectors written, as `Err(Ok(n))`.
    fn write(&mut self, t: &Target, lba: u64, data: &[u8], cancel: &AtomicBool) -> Result<(), Result<u64>> {
        match self {
            Sink::File(f) => f
                .write_all_at(data, lba * SECTOR)
                .map_err(|e| Err(t.io_error(&format!("cannot write sector {lba} of"), e))),
            Sink::Drive { fd, .. } => {
                for (i, piece) in data.chunks(MMC_SECTORS_PER_COMMAND * SECTOR as usize).enumerate() {
                    let done = (i * MMC_SECTORS_PER_COMMAND) as u64;
                    if i > 0 && cancel.load(Ordering::SeqCst) {
                        return Err(Ok(done));
                    }
                    let at = lba + done;
                    let at = u32::try_from(at).map_err(|_| Err(beyond_32_bits(t, at)))?;
                    mmc::write10(fd.as_fd(), at, piece).map_err(|e| Err(Error::drive_command(&t.given, e)))?;
                }
                Ok(())
            }
        }
    }

    /// Make what was written durable and, for a drive, close the track and
    /// the session (or the disc).
    fn finish(&mut self, t: &Target, finalize: bool) -> Result<()> {
        match self {
            Sink::File(f) => f.sync_data().map_err(|e| t.io_error("cannot flush", e)),
            Sink::Drive { fd, track } => {
                let err = |e| Error::drive_command(&t.given, e);
                mmc::synchronize_cache(fd.as_fd()).map_err(err)?;
                mmc::close_track_session(fd.as_fd(), CloseFunction::Track, *track).map_err(err)?;
                let close = if finalize { CloseFunction::FinalizeMinimalRadius } else { CloseFunction::Session };
                mmc::close_track_session(fd.as_fd(), close, 0).map_err(err)
            }
        }
    }

    /// Read `buf.len()` bytes at `lba` from the medium itself: cached
    /// pages of a file are dropped first, so the disc answers, not memory.
    fn read(&mut self, t: &Target, lba: u64, buf: &mut [u8]) -> Result<()> {
        match self {
            Sink::File(f) => {
                let _ = rustix::fs::fadvise(
                    &*f,
                    lba * SECTOR,
                    std::num::NonZeroU64::new(buf.len() as u64),
                    rustix::fs::Advice::DontNeed,
                );
                f.read_exact_at(buf, lba * SECTOR)
                    .map_err(|e| t.io_error(&format!("cannot read back sector {lba} of"), e))
            }
            Sink::Drive { fd, .. } => {
                for (i, piece) in buf.chunks_mut(MMC_SECTORS_PER_COMMAND * SECTOR as usize).enumerate() {
                    let at = lba + (i * MMC_SECTORS_PER_COMMAND) as u64;
                    let at = u32::try_from(at).map_err(|_| beyond_32_bits(t, at))?;
                    let n = mmc::read10(fd.as_fd(), at, piece).map_err(|e| Error::drive_command(&t.given, e))?;
                    if n < piece.len() {
                        return Err(Error::DeviceCommand {
                            target: t.given.clone(),
                            what: "READ(10)".into(),
                            detail: format!("short read at sector {at}: {n} of {} bytes", piece.len()),
                        });
                    }
                }
                Ok(())
            }
        }
    }
}

fn beyond_32_bits(t: &Target, lba: u64) -> Error {
    Error::DeviceCommand {
        target: t.given.clone(),
        what: "WRITE(10)".into(),
        detail: format!("sector {lba} is beyond what a 10-byte command can address"),
    }
}

/// Check that `medium` can take `source` from its start; the error IMAPI2
/// gives when it cannot.
fn check_medium(t: &Target, m: &Medium, source: &Source) -> Result<()> {
    if let Some((dev, ino, rdev)) = source.identity {
        let same = match t.key {
            crate::key::DriveKey::File { dev: d, ino: i } => (d, i) == (dev, ino),
            crate::key::DriveKey::Block { major, minor } => rdev != 0 && rdev == rustix::fs::makedev(major, minor),
        };
        if same {
            return Err(Error::InvalidArgument(format!(
                "{} is the target {} itself: a source cannot be written onto itself; name another target",
                source.name,
                t.given.display()
            )));
        }
    }
    let why = || m.why_not.clone().unwrap_or_else(|| format!("{} cannot be written", t.given.display()));
    if !m.recorder_supported {
        return Err(Error::RecorderNotSupported { target: t.given.clone(), detail: why() });
    }
    if !m.medium_supported {
        return Err(Error::MediaNotSupported { target: t.given.clone(), detail: why() });
    }
    if !m.is_writable_from_start() {
        let detail = m.why_not.clone().unwrap_or_else(|| {
            let what = if m.state.contains(medium::MediaState::APPENDABLE) {
                "holds a session already (appending sessions is not supported yet)"
            } else {
                "is closed"
            };
            format!("the disc in {} {what} ({}); insert a blank disc", t.given.display(), m.state)
        });
        return Err(Error::MediaNotBlank { target: t.given.clone(), detail });
    }
    if source.sectors() > m.free_sectors {
        return Err(Error::StreamTooLarge {
            target: t.given.clone(),
            source_name: source.name.clone(),
            needed: source.sectors(),
            free: m.free_sectors,
        });
    }
    Ok(())
}

/// Reserve an image file's blocks before its first sector (without
/// changing its size): a file system that cannot hold the image (another
/// writer filled it since the medium was read, a quota) refuses now, not
/// with ENOSPC in the middle, after sectors were written. A file system
/// without `fallocate` is written as before.
fn reserve(t: &Target, fd: std::os::fd::BorrowedFd<'_>, start: u64, sectors: u64, source: &Source) -> Result<()> {
    use rustix::fs::FallocateFlags;
    match rustix::fs::fallocate(fd, FallocateFlags::KEEP_SIZE, start * SECTOR, sectors * SECTOR) {
        Err(rustix::io::Errno::NOSPC) | Err(rustix::io::Errno::DQUOT) => Err(Error::StreamTooLarge {
            target: t.given.clone(),
            source_name: source.name.clone(),
            needed: sectors,
            free: medium::fs_free_bytes(&t.node).map(|b| b / SECTOR).unwrap_or(0),
        }),
        _ => Ok(()),
    }
}

/// A regular file as a source: at its end (the read that gives 0 bytes)
/// it must be unchanged since it was opened (size, modification and
/// change times to the nanosecond), or the read fails naming it.
struct Unchanged {
    file: std::fs::File,
    was: discrec_iso::tree::Identity,
    name: String,
    /// Bytes read so far: past the size it had, it grew.
    read: u64,
}

impl Read for Unchanged {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read += n as u64;
        if n == 0 || buf.is_empty() || self.read > self.was.size {
            let now = rustix::fs::fstat(&self.file).map(|st| discrec_iso::tree::Identity::of(&st))?;
            if now != self.was {
                return Err(std::io::Error::other(format!(
                    "{} changed while it was read (it was {} bytes, now {}); what was written mixes old and new bytes",
                    self.name, self.was.size, now.size
                )));
            }
        }
        Ok(n)
    }
}

/// One buffer from the reading thread: its bytes, how many are data, and
/// their digest when verifying.
type Filled = (Vec<u8>, usize, Option<blake3::Hash>);

/// What the reading thread sends: a buffer, or that the source ended
/// exactly where it was announced to.
enum Msg {
    Data(Filled),
    End,
}

/// Read `source` into buffers from `free`, sending them full to `full`,
/// until its announced length, an error, or the writer going away.
fn read_source(
    mut source: Source,
    verify: bool,
    free: Receiver<Vec<u8>>,
    full: SyncSender<Result<Msg>>,
    shared: Arc<Shared>,
) {
    let mut left = source.len;
    while left > 0 {
        let Ok(mut buf) = free.recv() else { return };
        let want = (left as usize).min(buf.len());
        let mut got = 0;
        let mut failed = None;
        while got < want {
            match source.reader.read(&mut buf[got..want]) {
                Ok(0) => {
                    let at = source.len - left + got as u64;
                    failed = Some(Error::Source {
                        source_name: source.name.clone(),
                        detail: format!(
                            "ended after {at} of the {} bytes announced (did it shrink or change while being written?)",
                            source.len
                        ),
                    });
                    break;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let at = source.len - left + got as u64;
                    failed = Some(Error::Source {
                        source_name: source.name.clone(),
                        detail: format!("cannot read it at byte {at}: {e}"),
                    });
                    break;
                }
            }
        }
        if let Some(e) = failed {
            let _ = full.send(Err(e));
            return;
        }
        let digest = verify.then(|| blake3::hash(&buf[..got]));
        left -= got as u64;
        shared.read.fetch_add((got as u64) / SECTOR, Ordering::Relaxed);
        shared.queued.fetch_add(got as u64, Ordering::Relaxed);
        if full.send(Ok(Msg::Data((buf, got, digest)))).is_err() {
            return;
        }
    }
    // Exactly as long as announced: one more byte is a source that is
    // longer (a wrong --size), which would otherwise be cut short unseen.
    let mut probe = [0u8; 1];
    let verdict = loop {
        match source.reader.read(&mut probe) {
            Ok(0) => break Ok(Msg::End),
            Ok(_) => {
                break Err(Error::Source {
                    source_name: source.name.clone(),
                    detail: format!(
                        "delivered more than the {} bytes announced; give its exact size, or write all of it",
                        source.len
                    ),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                break Err(Error::Source {
                    source_name: source.name.clone(),
                    detail: format!("cannot read it at its end: {e}"),
                })
            }
        }
    };
    let _ = full.send(verdict);
}

/// The write itself, holding the drive.
fn run(
    t: &Target,
    source: Source,
    plan: Plan,
    cancel: &AtomicBool,
    lost: &dyn Fn() -> Option<String>,
    on_update: Option<&mut (dyn FnMut(&Progress) + Send)>,
) -> Result<WriteReport> {
    let started = Instant::now();
    let shared = Arc::new(Shared::default());
    let set = |a: WriteAction| shared.action.store(a as u32, Ordering::Relaxed);
    set(WriteAction::ValidatingMedia);
    let fd = open_rw(t)?;
    let m = medium::read(t, fd.as_fd())?;
    check_medium(t, &m, &source)?;
    let start = m.next_writable_address;
    let sectors = source.sectors();
    // An image's blocks, reserved; given back past what was written if
    // the write fails or is cancelled (else a cancelled 1 GiB burn keeps
    // 1 GiB of hidden blocks behind a 4 MiB file).
    let reserved = match m.method {
        Some(WriteMethod::ImageFile) => {
            reserve(t, fd.as_fd(), start, sectors, &source)?;
            fd.try_clone().ok()
        }
        _ => None,
    };
    let total_buffer = (BUFFERS * CHUNK) as u64;

    let snapshot = |shared: &Shared| -> Progress {
        let action = WriteAction::from_u32(shared.action.load(Ordering::Relaxed));
        let read = shared.read.load(Ordering::Relaxed);
        let written = shared.written.load(Ordering::Relaxed);
        let verified = shared.verified.load(Ordering::Relaxed);
        let queued = shared.queued.load(Ordering::Relaxed).min(total_buffer);
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
    };

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
        let r = write_all(t, fd, &m, source, plan, cancel, lost, &shared, start, started);
        finished.store(true, Ordering::Release);
        if let Some(h) = reporter {
            h.thread().unpark();
            let _ = h.join();
        }
        r
    });
    if let (Err(_), Some(r)) = (&outcome, &reserved) {
        use rustix::fs::FallocateFlags;
        let from = (start + shared.written.load(Ordering::Relaxed)) * SECTOR;
        let to = (start + sectors) * SECTOR;
        let _ =
            rustix::fs::fallocate(r, FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE, from, to - from.min(to));
        // Blocks past the end of the file: ext4 punches no hole there, but
        // a truncation to the same size frees them.
        if let Ok(st) = rustix::fs::fstat(r) {
            let _ = rustix::fs::ftruncate(r, st.st_size as u64);
        }
    }
    let report = outcome?;
    set(WriteAction::Completed);
    if let Some(f) = on_update {
        f(&snapshot(&shared));
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn write_all(
    t: &Target,
    fd: OwnedFd,
    m: &Medium,
    source: Source,
    plan: Plan,
    cancel: &AtomicBool,
    lost: &dyn Fn() -> Option<String>,
    shared: &Arc<Shared>,
    start: u64,
    started: Instant,
) -> Result<WriteReport> {
    let set = |a: WriteAction| shared.action.store(a as u32, Ordering::Relaxed);
    set(WriteAction::InitializingHardware);
    let mut sink = match m.method {
        Some(WriteMethod::Incremental) => {
            let track = mmc::read_disc_information(fd.as_fd())
                .map(|d| d.last_track_in_last_session.max(1))
                .map_err(|e| Error::drive_command(&t.given, e))?;
            Sink::Drive { fd, track }
        }
        _ => Sink::File(std::fs::File::from(fd)),
    };
    let source_name = source.name.clone();
    let sectors = source.sectors();

    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(BUFFERS);
    let (full_tx, full_rx) = sync_channel::<Result<Msg>>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = free_tx.send(vec![0u8; CHUNK]);
    }
    {
        let shared = Arc::clone(shared);
        let verify = plan.verify;
        // Not scoped: a source that stalls (a pipe that delivers nothing)
        // must not hold up a cancelled write. The thread ends when its
        // read returns and finds the writer gone.
        std::thread::Builder::new()
            .name("discrec-source".into())
            .spawn(move || read_source(source, verify, free_rx, full_tx, shared))
            .map_err(|e| Error::Fail { what: "cannot start the thread that reads the source".into(), source: e })?;
    }

    set(WriteAction::WritingData);
    let mut digests: Vec<blake3::Hash> = Vec::new();
    let mut lba = start;
    let end = start + sectors;
    let cancelled = |written: u64| Error::WriteCancelled { target: t.given.clone(), sectors_written: written };
    let mut stop: Option<Error> = None;
    let mut lock_lost = false;
    while lba < end {
        if cancel.load(Ordering::SeqCst) {
            stop = Some(cancelled(lba - start));
            break;
        }
        // A cluster lock lost: another machine may be granted the drive
        // now; not one more command goes to it.
        if let Some(why) = lost() {
            lock_lost = true;
            stop = Some(lost_lock(t, why, lba - start));
            break;
        }
        let (buf, n, digest) = match full_rx.recv_timeout(CANCEL_POLL) {
            Ok(Ok(Msg::Data(filled))) => filled,
            Ok(Ok(Msg::End)) => {
                stop = Some(Error::Source {
                    source_name: source_name.clone(),
                    detail: "ended early (internal: end before its length)".into(),
                });
                break;
            }
            Ok(Err(e)) => {
                stop = Some(e);
                break;
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                stop = Some(Error::Source {
                    source_name: source_name.clone(),
                    detail: "the thread reading it ended early".into(),
                });
                break;
            }
        };
        shared.queued.fetch_sub(n as u64, Ordering::Relaxed);
        match sink.write(t, lba, &buf[..n], cancel) {
            Ok(()) => {}
            Err(Ok(part)) => {
                lba += part;
                stop = Some(cancelled(lba - start));
                break;
            }
            Err(Err(e)) => {
                stop = Some(e);
                break;
            }
        }
        lba += (n as u64) / SECTOR;
        shared.written.store(lba - start, Ordering::Relaxed);
        digests.extend(digest);
        let _ = free_tx.send(buf);
    }
    // All sectors are written: the source must end here.
    while stop.is_none() {
        if cancel.load(Ordering::SeqCst) {
            stop = Some(cancelled(lba - start));
            break;
        }
        if let Some(why) = lost() {
            lock_lost = true;
            stop = Some(lost_lock(t, why, lba - start));
            break;
        }
        match full_rx.recv_timeout(CANCEL_POLL) {
            Ok(Ok(Msg::End)) => break,
            Ok(Err(e)) => stop = Some(e),
            Ok(Ok(Msg::Data(_))) | Err(RecvTimeoutError::Disconnected) => {
                stop = Some(Error::Source {
                    source_name: source_name.clone(),
                    detail: "the thread reading it ended early".into(),
                })
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    drop(full_rx);
    drop(free_tx);
    if let Some(mut e) = stop {
        // A source that failed after sectors were written left part of a
        // recording on the medium: say so, and what to do.
        if let Error::Source { detail, .. } = &mut e {
            if lba > start {
                detail.push_str(&format!(
                    "; {} now holds an incomplete recording of {} sectors (truncate an image file to 0 bytes, or use a new disc)",
                    t.given.display(),
                    lba - start
                ));
            }
        }
        // A drive with a track begun gets it closed, so the disc stays
        // readable and its state says what is on it; nothing to do for
        // files and devices. The original error wins over a close error.
        if matches!(sink, Sink::Drive { .. }) && lba > start && !lock_lost {
            set(WriteAction::Finalization);
            let _ = sink.finish(t, false);
        }
        return Err(e);
    }

    // Not one more command to the drive once the lock may be another's.
    if let Some(why) = lost() {
        return Err(lost_lock(t, why, sectors));
    }
    set(WriteAction::Finalization);
    sink.finish(t, plan.finalize)?;
    let write_time = started.elapsed();

    let mut verified = false;
    let verify_started = Instant::now();
    if plan.verify {
        set(WriteAction::Verifying);
        let mut buf = vec![0u8; CHUNK];
        let mut at = start;
        for (i, want) in digests.iter().enumerate() {
            if cancel.load(Ordering::SeqCst) {
                return Err(cancelled(sectors));
            }
            if let Some(why) = lost() {
                return Err(lost_lock(t, why, sectors));
            }
            let len = ((end - at) * SECTOR).min(CHUNK as u64) as usize;
            sink.read(t, at, &mut buf[..len])?;
            if blake3::hash(&buf[..len]) != *want {
                let first = start + (i * CHUNK) as u64 / SECTOR;
                return Err(Error::VerificationFailed {
                    target: t.given.clone(),
                    source_name,
                    first,
                    last: first + len as u64 / SECTOR - 1,
                });
            }
            at += len as u64 / SECTOR;
            shared.verified.store(at - start, Ordering::Relaxed);
        }
        verified = true;
    }
    // Success is said only while the lock still holds.
    if let Some(why) = lost() {
        return Err(lost_lock(t, why, sectors));
    }
    Ok(WriteReport {
        medium: m.clone(),
        start_lba: start,
        sectors,
        write_time,
        verify_time: if verified { verify_started.elapsed() } else { Duration::ZERO },
        verified,
        finalized: plan.finalize && matches!(sink, Sink::Drive { .. }),
    })
}

/// The error of a write whose cluster lock was lost after `written`
/// sectors.
fn lost_lock(t: &Target, why: String, written: u64) -> Error {
    Error::Cluster {
        service: "the cluster".into(),
        detail: format!(
            "the lock of {} was lost after {written} sectors ({why}); the write stopped, sending nothing more to the drive, and the medium may hold an incomplete recording",
            t.given.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_must_be_whole_sectors() {
        let e = Source::stream("x", std::io::empty(), 0).unwrap_err();
        assert_eq!(e.code(), 0xC0AA_0403, "{e}");
        let e = Source::stream("x", std::io::empty(), 2049).unwrap_err();
        assert_eq!(e.code(), 0xC0AA_0403);
        assert!(e.to_string().contains("4096"), "{e}");
        assert_eq!(Source::stream("x", std::io::empty(), 4096).unwrap().sectors(), 2);
    }

    #[test]
    fn actions_keep_imapi_values() {
        assert_eq!(WriteAction::WritingData as u32, 4);
        assert_eq!(WriteAction::Verifying as u32, 7);
        for v in 0..8 {
            assert_eq!(WriteAction::from_u32(v) as u32, v);
        }
    }
}

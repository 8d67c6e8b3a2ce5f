//! The data writer: IMAPI2's `IDiscFormat2Data`. It writes a stream of
//! 2048-byte sectors (an ISO image, a block device, any reader of known
//! length) to the medium of a [`Recorder`], taking exclusive access for
//! itself when the handle does not hold it and releasing what it took
//! (spec C8).
//!
//! A write reads the source on a thread of its own into a few 1 MiB
//! buffers (memory does not grow with the source), writes them in order
//! (`pwrite` for image files and block devices, WRITE(10) from the next
//! writable address for optical discs: CD, DVD and BD, write-once and
//! rewritable; a rewritable disc with data only when told to overwrite
//! it, formatted or blanked first where it needs it), makes the data
//! durable (`fdatasync`, or SYNCHRONIZE CACHE and CLOSE TRACK / SESSION),
//! then reads it back and
//! compares a digest per buffer with the source's. Progress goes to a
//! callback on another thread at most every 100 ms, so a slow callback
//! never slows the write; [`DataWriter::cancel_write`] stops it at the
//! next buffer, even while the source delivers nothing.
//!
//! | Module | Owns |
//! |---|---|
//! | `source` | [`Source`] and the thread that reads it |
//! | `progress` | [`WriteAction`], [`Progress`], [`WriteReport`] |
//! | `check` | what is refused before the first sector |
//! | `stop` | the one decision to stop: a cancel or a lost cluster lock |
//! | `sink` | what a medium being written does (`Sink`) |
//! | `file` | image files and block devices |
//! | `optical` | optical discs over MMC: every medium, written in order or at random |
//! | `append` | a session added to what a disc holds (`--append`) |
//! | `run` | the write: the sink chosen by the medium's [`WriteMethod`](crate::medium::WriteMethod); pump, finish, verify |
//!
//! A new way of writing is a new sink: a file of its own beside `file`
//! and `optical`, chosen in `run::open_sink`.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::client_name;
use crate::error::{Error, Result};
use crate::medium::{self, open_rw, Medium, Speed};
use crate::recorder::Recorder;
use crate::wait::WaitPolicy;

mod progress;
mod source;
mod check;
mod stop;
mod sink;
mod file;
mod optical;
mod append;
mod run;

pub use progress::{AddedTo, Progress, WriteAction, WriteReport};
pub use source::{shown, Source};
use stop::Stop;

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
/// IMAPI2's `IDiscFormat2Data` on a [`Recorder`]. Share it between threads
/// (it is `Sync`): one runs [`DataWriter::write`], any other may call
/// [`DataWriter::cancel_write`]; a second `write` while one runs is
/// `E_IMAPI_DF2DATA_WRITE_IN_PROGRESS`.
#[doc(alias = "IDiscFormat2Data")]
#[doc(alias = "MsftDiscFormat2Data")]
pub struct DataWriter {
    recorder: Mutex<Recorder>,
    wait: Mutex<WaitPolicy>,
    /// Raised by `cancel_write`: ends a wait for the drive.
    cancel_signal: Option<crate::cancel::Cancel>,
    given: PathBuf,
    client_name: Mutex<String>,
    force_close: AtomicBool,
    overwrite: AtomicBool,
    speed: Mutex<Speed>,
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
            wait: Mutex::new(WaitPolicy::NoWait),
            cancel_signal: crate::cancel::Cancel::new().ok(),
            client_name: Mutex::new("discrec".into()),
            force_close: AtomicBool::new(false),
            overwrite: AtomicBool::new(false),
            speed: Mutex::new(Speed::Max),
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

    /// Write over the data a rewritable disc holds (`ForceOverwrite`; off
    /// by default: a DVD+RW, DVD-RAM or BD-RE with data, or a CD-RW or
    /// DVD-RW holding sessions, is refused with
    /// `E_IMAPI_DF2DATA_MEDIA_NOT_BLANK`). A CD-RW or DVD-RW is blanked
    /// (minimally) before the write.
    #[doc(alias = "ForceOverwrite")]
    #[doc(alias = "put_ForceOverwrite")]
    pub fn set_force_overwrite(&self, overwrite: bool) -> Result<()> {
        self.refuse_while_writing()?;
        self.overwrite.store(overwrite, Ordering::Relaxed);
        Ok(())
    }

    /// Whether a write goes over a rewritable disc's data
    /// (`get_ForceOverwrite`).
    #[doc(alias = "get_ForceOverwrite")]
    pub fn force_overwrite(&self) -> bool {
        self.overwrite.load(Ordering::Relaxed)
    }

    /// Write at `speed` (`SetWriteSpeed`; default [`Speed::Max`]). A
    /// speed the drive does not offer for the medium fails the write
    /// before its first command with `E_INVALIDARG`, listing those it
    /// offers ([`DataWriter::supported_write_speeds`]).
    #[doc(alias = "SetWriteSpeed")]
    pub fn set_write_speed(&self, speed: Speed) -> Result<()> {
        self.refuse_while_writing()?;
        *self.speed.lock().unwrap_or_else(|e| e.into_inner()) = speed;
        Ok(())
    }

    /// The speed asked for (`RequestedWriteSpeed`).
    #[doc(alias = "RequestedWriteSpeed")]
    pub fn requested_write_speed(&self) -> Speed {
        *self.speed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The write speeds the drive offers for the medium in it, fastest
    /// first (`SupportedWriteSpeeds`, `SupportedWriteSpeedDescriptors`).
    #[doc(alias = "SupportedWriteSpeeds")]
    #[doc(alias = "SupportedWriteSpeedDescriptors")]
    pub fn supported_write_speeds(&self) -> Result<Vec<medium::WriteSpeed>> {
        Ok(self.medium()?.write_speeds)
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
    /// IMAPI2), first come first served with every other waiter; the
    /// default, [`WaitPolicy::NoWait`], fails at once with
    /// `E_IMAPI_RECORDER_LOCKED`.
    pub fn set_wait(&self, wait: WaitPolicy) -> Result<()> {
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
        self.write_begun(run::Input::Source(source), on_update)
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
        let source = Source::open_with(path, volume, Some(self.cancel.clone())).map_err(|e| self.named(e))?;
        self.write_begun(run::Input::Source(source), on_update)
    }

    /// Add a session holding the directory `dir` to what the disc holds
    /// (IMAPI2: `ImportFileSystem`, `AddTree`, then `Write`; `growisofs
    /// -M`, `xorriso -dev`): its entries go over the disc's root, a new
    /// file replacing an old one of the same name, every other file kept
    /// where it is. The new session is labelled `volume`, else as the disc
    /// is. A blank disc gets the directory as its first session. On a
    /// disc written in order the session is a session of its own (closed
    /// so that more can follow, unless the disc is to be closed); on one
    /// written at random (and an image file or block device) the file
    /// system grows in place, its new descriptors written last. Refused
    /// before anything is written: a closed disc
    /// (`IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE`), no ISO 9660 file
    /// system in the last session (`IMAPI_E_NO_SUPPORTED_FILE_SYSTEM`),
    /// a damaged one (`IMAPI_E_FILE_SYSTEM_READ_CONSISTENCY_ERROR`), too
    /// little room.
    #[doc(alias = "ImportFileSystem")]
    #[doc(alias = "IMultisessionSequential")]
    #[doc(alias = "IMultisessionRandomWrite")]
    pub fn append_path(
        &self,
        dir: &Path,
        volume: Option<&str>,
        on_update: Option<&mut (dyn FnMut(&Progress) + Send)>,
    ) -> Result<WriteReport> {
        let _done = self.begin()?;
        match std::fs::metadata(dir) {
            Ok(st) if st.is_dir() => {}
            Ok(_) => return Err(not_a_directory_to_add(&source::shown(dir))),
            Err(e) => {
                return Err(Error::Source {
                    source_name: source::shown(dir),
                    detail: format!("cannot open it ({e}); name a readable directory"),
                })
            }
        }
        let a =
            append::Append { dir: dir.to_path_buf(), volume: volume.map(str::to_string), cancel: self.cancel.clone() };
        self.write_begun(run::Input::Append(a), on_update)
    }

    /// A cancel met while a directory was read, said of this target.
    fn named(&self, e: Error) -> Error {
        match e {
            Error::WriteCancelled { sectors_written, kept_old, .. } => {
                Error::WriteCancelled { target: self.given.clone(), sectors_written, kept_old }
            }
            e => e,
        }
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
        input: run::Input,
        on_update: Option<&mut (dyn FnMut(&Progress) + Send)>,
    ) -> Result<WriteReport> {
        let name = self.client_name();
        let plan = run::Plan {
            finalize: self.force_media_to_be_closed(),
            verify: self.verify(),
            overwrite: self.force_overwrite(),
            speed: self.requested_write_speed(),
        };
        let wait = *self.wait.lock().unwrap_or_else(|e| e.into_inner());
        // Cancelled before the drive was even asked for.
        if self.cancel.load(Ordering::SeqCst) {
            return Err(Error::WriteCancelled { target: self.given.clone(), sectors_written: 0, kept_old: false });
        }
        let mut rec = self.recorder();
        // Waiting: queue for the drive first (a cancel ends the wait, as
        // the cancel of a write that wrote nothing); the write nests in it.
        let cancel = self.cancel_signal.as_ref().map(|c| c.as_fd());
        rec.with_exclusive_access_waiting(&name, wait, cancel, |rec| {
            let lost = || rec.cluster_lock_lost();
            run::run(rec.target(), input, plan, &Stop::new(rec.target(), &self.cancel, &lost), on_update)
        })
        .map_err(|e| match e {
            Error::Cancelled { target } => Error::WriteCancelled { target, sectors_written: 0, kept_old: false },
            e => self.named(e),
        })
    }
}

/// The refusal of a source for [`DataWriter::append_path`] that is not a
/// directory; `what` names it (a path, or standard input).
pub fn not_a_directory_to_add(what: &str) -> Error {
    Error::InvalidArgument(format!(
        "a session added to a disc (--append) is made of a directory, and {what} is not a directory: an image cannot be added (its addresses start at sector 0); to add an image's files, extract them (`xorriso -osirrox on -indev IMAGE -extract / DIR`) and add DIR"
    ))
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

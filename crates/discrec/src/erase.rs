//! Erasing a rewritable disc: IMAPI2's `IDiscFormat2Erase`. A CD-RW is
//! blanked (BLANK: minimal, or the whole disc with
//! [`Eraser::set_full_erase`]). A DVD-RW is quick-formatted to restricted
//! overwrite (a minimally blanked DVD-RW takes no incremental writing on
//! real drives), or blanked whole with a full erase. DVD+RW, DVD-RAM and
//! BD-RE are formatted (FORMAT UNIT). A format leaves the old sectors
//! readable: the first ones are cleared, or every sector with a full
//! erase, so that nothing reads the old file system back. A write-once or
//! pressed disc is refused before any command that changes it
//! (`E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE`).
//!
//! The writer uses the same steps to format a randomly writable disc
//! before its first write, and to blank a rewritable one the caller told
//! it to overwrite.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use discrec_mmc as mmc;

use crate::client_name;
use crate::error::{Error, Result};
use crate::key::TargetKind;
use crate::medium::{self, MediaState, Medium, SECTOR};
use crate::recorder::Recorder;
use crate::target::Target;
use crate::wait::WaitPolicy;

/// How long a blank or format may run in the background before discrec
/// gives up on it with `E_IMAPI_RECORDER_COMMAND_TIMEOUT` (IMAPI2 gives
/// up after an hour; a full blank of a 1x CD-RW takes 80 minutes, a
/// certified format of a BD-RE about two hours: the longest real case,
/// with room).
pub const ERASE_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// How often the drive is asked for its progress.
const POLL: Duration = Duration::from_millis(200);

/// Sectors cleared after a quick format: the system area and the volume
/// descriptors of ISO 9660 and UDF, where a reader looks for a file
/// system (a format leaves the old sectors readable on DVD+RW).
const CLEARED_SECTORS: u64 = 512;

/// One update of an erase (`DDiscFormat2EraseEvents::Update`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[doc(alias = "DDiscFormat2EraseEvents")]
pub struct EraseProgress {
    /// Since the erase started (`elapsedSeconds`).
    pub elapsed_seconds: f64,
    /// Done, out of 1, when the drive says (`estimatedTotalSeconds` is
    /// derived from it).
    pub fraction: Option<f64>,
    /// What is being done: `blanking`, `formatting`, `clearing`.
    pub step: &'static str,
}

/// A callback for erase updates.
pub type OnErase<'a> = Option<&'a mut (dyn FnMut(&EraseProgress) + Send)>;

/// IMAPI2's `IDiscFormat2Erase` on a [`Recorder`]: erase the rewritable
/// disc in it, holding the drive while it does (spec C8), under a client
/// name of its own.
#[doc(alias = "IDiscFormat2Erase")]
#[doc(alias = "MsftDiscFormat2Erase")]
pub struct Eraser {
    recorder: Mutex<Recorder>,
    client_name: Mutex<String>,
    full: AtomicBool,
    wait: Mutex<WaitPolicy>,
}

impl std::fmt::Debug for Eraser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eraser").field("full", &self.full_erase()).finish_non_exhaustive()
    }
}

impl Eraser {
    /// An eraser on `recorder` (`put_Recorder`), client name `discrec`,
    /// quick erase.
    #[doc(alias = "put_Recorder")]
    pub fn new(recorder: Recorder) -> Eraser {
        Eraser {
            recorder: Mutex::new(recorder),
            client_name: Mutex::new("discrec".into()),
            full: AtomicBool::new(false),
            wait: Mutex::new(WaitPolicy::NoWait),
        }
    }

    /// The recorder back.
    pub fn into_recorder(self) -> Recorder {
        self.recorder.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// The name the drive is held under while erasing (`ClientName`,
    /// checked as every client name is, C4).
    #[doc(alias = "put_ClientName")]
    pub fn set_client_name(&self, name: &str) -> Result<()> {
        client_name::validate(name).map_err(|e| Error::EraseClientName(e.to_string()))?;
        *self.client_name.lock().unwrap_or_else(|e| e.into_inner()) = name.to_string();
        Ok(())
    }

    /// The client name (`get_ClientName`).
    #[doc(alias = "get_ClientName")]
    pub fn client_name(&self) -> String {
        self.client_name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Erase every sector rather than what makes the disc read as blank
    /// (`FullErase`; off by default). A full erase takes as long as
    /// writing the whole disc.
    #[doc(alias = "put_FullErase")]
    pub fn set_full_erase(&self, full: bool) {
        self.full.store(full, Ordering::Relaxed);
    }

    /// Whether the erase is full (`get_FullErase`).
    #[doc(alias = "get_FullErase")]
    pub fn full_erase(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Wait for a drive another client holds before erasing (beyond
    /// IMAPI2), first come first served; the default,
    /// [`WaitPolicy::NoWait`], fails at once with `E_IMAPI_RECORDER_LOCKED`.
    pub fn set_wait(&self, wait: WaitPolicy) {
        *self.wait.lock().unwrap_or_else(|e| e.into_inner()) = wait;
    }

    /// The medium in the recorder (`CurrentPhysicalMediaType`, and
    /// whether it can be erased: [`Medium::erasable`]).
    #[doc(alias = "CurrentPhysicalMediaType")]
    pub fn medium(&self) -> Result<Medium> {
        self.recorder.lock().unwrap_or_else(|e| e.into_inner()).medium()
    }

    /// `EraseMedia`: erase the disc, holding the drive for it; `on_update`
    /// hears the drive's progress. Returns the medium as it is after.
    #[doc(alias = "EraseMedia")]
    pub fn erase(&self, on_update: OnErase<'_>) -> Result<Medium> {
        let name = self.client_name();
        let full = self.full_erase();
        let wait = *self.wait.lock().unwrap_or_else(|e| e.into_inner());
        let mut rec = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        // Not a drive at all: known without the lock, so said at once
        // (never after a wait for it).
        if let Some(e) = not_a_disc(rec.target()) {
            return Err(e);
        }
        // Waiting: queue for the drive first; the erase then nests in it.
        rec.with_exclusive_access_waiting(&name, wait, None, |rec| {
            let t = rec.target();
            let fd = medium::open_rw(t)?;
            let m = medium::read(t, fd.as_fd())?;
            check_erasable(t, &m)?;
            erase_disc(t, fd.as_fd(), &m, full, on_update, None)?;
            medium::read(t, fd.as_fd())
        })
    }
}

/// The refusal of a target that holds no disc: an image file or a block
/// device that is not an optical drive.
fn not_a_disc(t: &Target) -> Option<Error> {
    let advice = match t.kind {
        TargetKind::File => "an image file is emptied with `truncate -s 0`",
        TargetKind::BlockDevice if !medium::is_optical(t) => "a block device is simply written over by `discrec burn`",
        TargetKind::BlockDevice => return None,
    };
    let detail = format!("{} is not an optical drive: there is no disc to erase ({advice})", t.given.display());
    Some(Error::MediaNotErasable { target: t.given.clone(), detail })
}

/// Whether the disc `m` in `t` can be erased; the error that says why not.
pub(crate) fn check_erasable(t: &Target, m: &Medium) -> Result<()> {
    let name = || format!("{:?}", m.physical_type);
    if m.profile.is_none() {
        if let Some(e) = not_a_disc(t) {
            return Err(e);
        }
    }
    let detail = if m.profile.is_none() {
        Some(format!("{} answers for no disc it could erase", t.given.display()))
    } else if !m.recorder_supported {
        Some(format!("{} reads discs only: it cannot erase one", t.given.display()))
    } else if m.state.contains(MediaState::WRITE_PROTECTED) {
        Some(format!(
            "the disc in {} is write-protected; release its protection, or use another disc",
            t.given.display()
        ))
    } else if !m.profile.is_some_and(medium::is_erasable_profile) {
        Some(format!(
            "the disc in {} is a {}: it cannot be erased (only CD-RW, DVD-RW, DVD+RW, DVD-RAM and BD-RE can); nothing was written to it",
            t.given.display(),
            name()
        ))
    } else {
        None
    };
    match detail {
        Some(detail) => Err(Error::MediaNotErasable { target: t.given.clone(), detail }),
        None => Ok(()),
    }
}

/// Asked while waiting for the drive: true to stop waiting (a burn's
/// cancel). The drive goes on by itself: BLANK and FORMAT UNIT cannot be
/// stopped.
pub(crate) type Quit<'a> = Option<&'a dyn Fn() -> bool>;

/// Erase the disc `m` (checked erasable) through `fd`: BLANK a CD-RW (or a
/// DVD-RW, fully), FORMAT UNIT and clear the others; wait for the drive
/// (`quit`: stop waiting, `E_IMAPI_REQUEST_CANCELLED`).
pub(crate) fn erase_disc(
    t: &Target,
    fd: BorrowedFd<'_>,
    m: &Medium,
    full: bool,
    on: OnErase<'_>,
    quit: Quit<'_>,
) -> Result<()> {
    let mut on = on;
    let started = Instant::now();
    let profile = m.profile.unwrap_or(0);
    if !medium::is_erasable_profile(profile) {
        // Never reached through `check_erasable`; said again here, where
        // the commands are.
        return Err(Error::MediaNotErasable {
            target: t.given.clone(),
            detail: format!("the disc in {} is a {:?}: it cannot be erased", t.given.display(), m.physical_type),
        });
    }
    let dvd_rw = matches!(profile, 0x0013 | 0x0014);
    if profile == 0x000A || (dvd_rw && full) {
        mmc::blank(fd, if full { 0 } else { 1 }).map_err(|e| failed(t, e))?;
        return wait(t, fd, started, "blanking", &mut on, quit);
    }
    let had_data = !m.needs_format;
    format(t, fd, m, !full, started, &mut on, quit)?;
    // A format keeps old sectors readable: clear what would be read as a
    // file system (or, for a full erase, everything).
    let formatted = medium::read(t, fd)?;
    let clear = if full { formatted.total_sectors } else { CLEARED_SECTORS.min(formatted.total_sectors) };
    if had_data || full {
        zero(t, fd, clear, started, &mut on)?;
    }
    Ok(())
}

/// Format the disc `m` with the format its kind is used in
/// ([`medium::format_for`]), at its largest size (`quick`: without
/// certifying a DVD-RAM's surface), then wait for the drive.
pub(crate) fn format(
    t: &Target,
    fd: BorrowedFd<'_>,
    m: &Medium,
    quick: bool,
    started: Instant,
    on: &mut OnErase<'_>,
    quit: Quit<'_>,
) -> Result<()> {
    let caps = mmc::read_format_capacities(fd).map_err(|e| failed(t, e))?;
    let profile = m.profile.unwrap_or(0);
    let Some((ty, blocks, param)) = medium::format_for(profile, &caps) else {
        return Err(Error::EraseFailed {
            target: t.given.clone(),
            detail: format!(
                "the disc offers no format discrec knows for a {:?} (it lists types {:02x?})",
                m.physical_type,
                caps.formats.iter().map(|f| f.0).collect::<Vec<_>>()
            ),
        });
    };
    let certify = !(quick && profile == 0x0012);
    mmc::format_unit(fd, ty, blocks, param, certify).map_err(|e| failed(t, e))?;
    wait(t, fd, started, "formatting", on, quit)
}

/// Write zeros over the first `sectors` of the disc.
fn zero(t: &Target, fd: BorrowedFd<'_>, sectors: u64, started: Instant, on: &mut OnErase<'_>) -> Result<()> {
    const PER: u64 = 32;
    let zeros = vec![0u8; (PER * SECTOR) as usize];
    let mut last = Instant::now();
    let mut at = 0u64;
    while at < sectors {
        let n = PER.min(sectors - at);
        let lba = u32::try_from(at).map_err(|_| Error::EraseFailed {
            target: t.given.clone(),
            detail: format!("sector {at} is beyond what WRITE(10) can address"),
        })?;
        mmc::write10(fd, lba, &zeros[..(n * SECTOR) as usize]).map_err(|e| failed(t, e))?;
        at += n;
        if let Some(f) = on.as_mut().filter(|_| last.elapsed() >= POLL) {
            last = Instant::now();
            let fraction = Some(at as f64 / sectors as f64);
            f(&EraseProgress { elapsed_seconds: started.elapsed().as_secs_f64(), fraction, step: "clearing" });
        }
    }
    mmc::synchronize_cache(fd).map_err(|e| failed(t, e))
}

/// Wait until the drive has done what it does in the background,
/// reporting its progress.
fn wait(
    t: &Target,
    fd: BorrowedFd<'_>,
    started: Instant,
    step: &'static str,
    on: &mut OnErase<'_>,
    quit: Quit<'_>,
) -> Result<()> {
    loop {
        if quit.is_some_and(|q| q()) {
            return Err(Error::Cancelled { target: t.given.clone() });
        }
        match mmc::progress(fd) {
            Ok(None) => break,
            Ok(Some(p)) => {
                if let Some(f) = on.as_mut() {
                    let fraction = p.map(|p| f64::from(p) / 65536.0);
                    f(&EraseProgress { elapsed_seconds: started.elapsed().as_secs_f64(), fraction, step });
                }
            }
            // A reset or another disc: what was erased is not known.
            Err(mmc::Error::Sense { sense, .. }) if sense.key == 6 => {
                return Err(Error::EraseFailed {
                    target: t.given.clone(),
                    detail: format!("the drive was reset or its disc changed while {step} ({})", sense.describe()),
                })
            }
            Err(e) => return Err(failed(t, e)),
        }
        if started.elapsed() > ERASE_TIMEOUT {
            return Err(Error::CommandTimeout(format!(
                "the end of {step} of the disc in {} (not done after {} minutes)",
                t.given.display(),
                ERASE_TIMEOUT.as_secs() / 60
            )));
        }
        std::thread::sleep(POLL);
    }
    if let Some(f) = on.as_mut() {
        f(&EraseProgress { elapsed_seconds: started.elapsed().as_secs_f64(), fraction: Some(1.0), step });
    }
    Ok(())
}

/// A refused or failed erase command as IMAPI2 reports it; a drive gone or
/// silent stays what it is.
fn failed(t: &Target, e: mmc::Error) -> Error {
    match e {
        mmc::Error::Sense { .. } | mmc::Error::Status { .. } | mmc::Error::ShortReply { .. } => {
            Error::EraseFailed { target: t.given.clone(), detail: e.to_string() }
        }
        e => Error::drive_command(&t.given, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::medium::WriteMethod;

    #[test]
    fn only_a_rewritable_profile_is_erasable_whatever_the_drive_says() {
        let file = std::env::temp_dir().join(format!("discrec-erase-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let t = Target::resolve(&file).unwrap();
        let used = MediaState::FINALIZED | MediaState::NON_EMPTY_SESSION;
        let disc = |profile: u16| Medium::for_tests(profile, used, WriteMethod::Incremental);
        for p in [0x0008, 0x0009, 0x0010, 0x0011, 0x001B, 0x002B, 0x0040, 0x0041, 0x0042] {
            let e = check_erasable(&t, &disc(p)).unwrap_err();
            assert_eq!(e.name(), "E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE", "{p:#x}");
        }
        for p in [0x000A, 0x0012, 0x0013, 0x0014, 0x001A, 0x002A, 0x0043] {
            assert!(check_erasable(&t, &disc(p)).is_ok(), "{p:#x}");
        }
        let image = medium::read(&t, medium::open_rw(&t).unwrap().as_fd()).unwrap();
        let e = check_erasable(&t, &image).unwrap_err().to_string();
        assert!(e.contains("truncate -s 0"), "{e}");
        let _ = std::fs::remove_file(&file);
    }
}

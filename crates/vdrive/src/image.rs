//! Where a disc lives between runs: its image file (block `n` at byte
//! `n × 2048`, sparse, as long as what was written) and, beside it,
//! `FILE.vdrive.json` with the disc's state (medium, tracks, sessions,
//! format). The image stays a plain file that `mount -o loop` or `cmp`
//! can read; the state says what kind of disc it is. A pressed disc
//! (`cd-rom`, `dvd-rom`, `bd-rom`) is the image as given, with no state.
//!
//! One `serve` at a time owns a writable image: it holds an exclusive
//! `flock` on it while it serves.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::disc::Disc;
use crate::medium::Kind;
use crate::Error;

/// Bytes per block in the image.
pub const BLOCK: u64 = 2048;

const STATE_VERSION: &str = "discrec-vdrive 1";

#[derive(serde::Serialize, serde::Deserialize)]
struct StateFile {
    format: String,
    #[serde(flatten)]
    disc: Disc,
}

/// An image file checked but not yet opened for serving.
pub struct Plan {
    path: PathBuf,
    disc: Disc,
    exists: bool,
}

/// A disc image being served.
pub struct Image {
    path: PathBuf,
    file: File,
    pub disc: Disc,
    saved: Disc,
}

/// `FILE.vdrive.json`.
pub fn state_path(image: &Path) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(".vdrive.json");
    PathBuf::from(s)
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Open `path` (creating it, when `create`, as a new file), never through
/// a symbolic link, and only if it is a regular file: a disc image is
/// never a device, a FIFO or a link to one of root's files.
fn open_regular(path: &Path, write: bool, create: bool) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = File::options()
        .read(true)
        .write(write)
        .create_new(create)
        .custom_flags(libc_flags())
        .mode(0o644)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(40) => Error::NotRegular { path: path.to_owned(), what: "a symbolic link".into() },
            _ => Error::Io { what: path.display().to_string(), source: e },
        })?;
    let meta = file.metadata().map_err(io_err(path.display().to_string()))?;
    if !meta.file_type().is_file() {
        return Err(Error::NotRegular { path: path.to_owned(), what: format!("{:?}", meta.file_type()) });
    }
    Ok(file)
}

/// `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC` (a FIFO does not block the open).
fn libc_flags() -> i32 {
    use rustix::fs::OFlags;
    (OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC).bits() as i32
}

/// Take the image's lock: exclusive for a writable disc, shared for a
/// pressed one. Busy: another `serve` has it.
fn lock(file: &File, path: &Path, rom: bool) -> Result<(), Error> {
    use rustix::fs::{flock, FlockOperation};
    let op = if rom { FlockOperation::NonBlockingLockShared } else { FlockOperation::NonBlockingLockExclusive };
    match flock(file, op) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::InUse { path: path.to_owned() }),
        Err(e) => Err(Error::Io { what: format!("lock {}", path.display()), source: e.into() }),
    }
}

/// Whether another `serve` holds `path` (its lock is tried, then let go).
fn in_use(path: &Path, rom: bool) -> Result<(), Error> {
    let file = open_regular(path, false, false)?;
    lock(&file, path, rom)
}

impl Plan {
    /// What serving `path` as `kind` would serve, checked without
    /// changing anything: a new disc when the file does not exist, the
    /// same disc again when it has a state of the same kind.
    pub fn new(path: &Path, kind: Kind, capacity: Option<u32>) -> Result<Plan, Error> {
        let state = state_path(path);
        // Not `exists()`: a dangling link is no new disc.
        let exists = std::fs::symlink_metadata(path).is_ok();
        if exists {
            in_use(path, kind.is_rom())?;
        }
        if kind.is_rom() {
            let len =
                std::fs::metadata(path).map_err(io_err(format!("the pressed disc's image {}", path.display())))?.len();
            if len == 0 || len % BLOCK != 0 {
                return Err(Error::NotAnImage { path: path.to_owned(), len });
            }
            let blocks = u32::try_from(len / BLOCK).map_err(|_| Error::NotAnImage { path: path.to_owned(), len })?;
            return Ok(Plan { path: path.to_owned(), disc: Disc::new(kind, blocks), exists });
        }
        if state.exists() {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut open_regular(&state, false, false)?, &mut text)
                .map_err(io_err(state.display().to_string()))?;
            let parsed: StateFile =
                serde_json::from_str(&text).map_err(|e| Error::BadState { path: state.clone(), why: e.to_string() })?;
            if parsed.format != STATE_VERSION {
                return Err(Error::BadState { path: state, why: format!("format {:?}", parsed.format) });
            }
            parsed.disc.check().map_err(|why| Error::BadState { path: state.clone(), why })?;
            if parsed.disc.kind != kind {
                return Err(Error::OtherMedium { path: path.to_owned(), has: parsed.disc.kind, asked: kind });
            }
            if let Some(c) = capacity.filter(|&c| c != parsed.disc.capacity) {
                return Err(Error::OtherCapacity { path: path.to_owned(), has: parsed.disc.capacity, asked: c });
            }
            if !exists {
                return Err(Error::BadState { path: state, why: format!("{} is missing", path.display()) });
            }
            return Ok(Plan { path: path.to_owned(), disc: parsed.disc, exists });
        }
        if exists && std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) > 0 {
            return Err(Error::NotADisc { path: path.to_owned() });
        }
        let capacity = capacity.unwrap_or(kind.default_capacity());
        if !(64..=crate::disc::MAX_CAPACITY).contains(&capacity) {
            return Err(Error::Usage(format!(
                "--capacity {capacity}: give 64 to {} sectors of 2048 bytes",
                crate::disc::MAX_CAPACITY
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::Io {
                    what: format!("the directory of {}", path.display()),
                    source: io::Error::from(io::ErrorKind::NotFound),
                });
            }
        }
        Ok(Plan { path: path.to_owned(), disc: Disc::new(kind, capacity), exists })
    }

    pub fn disc(&self) -> &Disc {
        &self.disc
    }

    /// Open (creating a new disc's files) and lock the image.
    pub fn open(self) -> Result<Image, Error> {
        let rom = self.disc.kind.is_rom();
        let file = open_regular(&self.path, !rom, !rom && !self.exists)?;
        lock(&file, &self.path, rom)?;
        let image = Image { path: self.path, file, saved: self.disc.clone(), disc: self.disc };
        let has_state = self.exists && state_path(&image.path).exists();
        if !rom && !has_state {
            image.write_state(&image.disc)?;
        }
        Ok(image)
    }
}

impl Image {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The image file (block `n` at byte `n × BLOCK`).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Read `buf.len()` bytes from block `lba` (zeros where nothing was
    /// written).
    pub fn read(&self, lba: u32, buf: &mut [u8]) -> io::Result<()> {
        let mut off = 0;
        while off < buf.len() {
            let n = self.file.read_at(&mut buf[off..], lba as u64 * BLOCK + off as u64)?;
            if n == 0 {
                buf[off..].fill(0);
                break;
            }
            off += n;
        }
        Ok(())
    }

    /// Write `data` at block `lba`.
    pub fn write(&self, lba: u32, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, lba as u64 * BLOCK)
    }

    /// Forget blocks `from..to` (blank, format): holes, and the file no
    /// longer than the data left before them.
    pub fn punch(&self, from: u32, to: u32) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        let (a, b) = (from as u64 * BLOCK, (to as u64 * BLOCK).min(len));
        if b >= len && a < len {
            return self.file.set_len(a);
        }
        if a < b {
            use rustix::fs::{fallocate, FallocateFlags};
            fallocate(&self.file, FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE, a, b - a)?;
        }
        Ok(())
    }

    /// Data and state to stable storage, the state only if it changed.
    pub fn sync(&mut self) -> Result<(), Error> {
        if self.disc.kind.is_rom() {
            return Ok(());
        }
        self.file.sync_data().map_err(io_err(self.path.display().to_string()))?;
        if self.disc != self.saved {
            self.write_state(&self.disc)?;
            self.saved = self.disc.clone();
        }
        Ok(())
    }

    /// The state, durably: a new temporary file (never through a link),
    /// synced, renamed over the old state.
    fn write_state(&self, disc: &Disc) -> Result<(), Error> {
        use std::io::Write;
        let state = state_path(&self.path);
        let tmp = state.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&StateFile { format: STATE_VERSION.into(), disc: disc.clone() })
            .map_err(|e| Error::BadState { path: state.clone(), why: e.to_string() })?;
        // A leftover of a crash (a link, even) goes; then O_EXCL.
        let _ = std::fs::remove_file(&tmp);
        let mut f = open_regular(&tmp, true, true)?;
        f.write_all((text + "\n").as_bytes()).map_err(io_err(tmp.display().to_string()))?;
        f.sync_all().map_err(io_err(tmp.display().to_string()))?;
        std::fs::rename(&tmp, &state).map_err(io_err(state.display().to_string()))?;
        if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

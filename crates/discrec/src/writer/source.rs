//! The source of a write: a stream of 2048-byte sectors of known length
//! (an image file, a block device, a directory laid out as ISO 9660, any
//! reader), and the thread that reads it into the writer's buffers,
//! checking that it delivers exactly what it announced.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use super::progress::Shared;
use crate::error::{Error, Result};
use crate::medium::SECTOR;

/// A stream of 2048-byte sectors of known length: what a write writes.
pub struct Source {
    pub(super) name: String,
    pub(super) len: u64,
    reader: Box<dyn Read + Send>,
    /// (st_dev, st_ino, st_rdev) of a source that is a file or device, to
    /// refuse writing a source onto itself.
    pub(super) identity: Option<(u64, u64, u64)>,
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
    pub(super) fn open_with(path: &Path, volume: Option<&str>, cancel: Option<Arc<AtomicBool>>) -> Result<Source> {
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
        let opts = discrec_iso::Options { cancel, ..discrec_iso::Options::new(volume) };
        let image = discrec_iso::Image::from_dir(dir, &opts).map_err(|e| image_error(dir, e))?;
        let len = image.len();
        Source::stream(shown(dir), image.reader(), len)
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

/// Why the image of the directory `dir` could not be made: a cancel, or
/// its tree (a file it cannot read, names it cannot hold).
pub(super) fn image_error(dir: &Path, e: discrec_iso::Error) -> Error {
    match e {
        discrec_iso::Error::Cancelled => {
            Error::WriteCancelled { target: PathBuf::new(), sectors_written: 0, kept_old: false }
        }
        e => Error::Source { source_name: shown(dir), detail: format!("cannot make an image of it: {e}") },
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

/// One buffer from the reading thread.
pub(super) struct Filled {
    /// The buffer (given back to the reading thread once written).
    pub buf: Vec<u8>,
    /// How many of its bytes are data.
    pub len: usize,
    /// Their digest, when verifying.
    pub digest: Option<blake3::Hash>,
}

/// What the reading thread sends: a buffer, or that the source ended
/// exactly where it was announced to.
pub(super) enum Msg {
    Data(Filled),
    End,
}

/// Read `source` into buffers from `free`, sending them full to `full`,
/// until its announced length, an error, or the writer going away.
pub(super) fn read_source(
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
        if full.send(Ok(Msg::Data(Filled { buf, len: got, digest }))).is_err() {
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
}

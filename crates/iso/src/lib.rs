//! ISO 9660 images with Joliet and Rock Ridge, made from a directory:
//! IMAPI2's `IFileSystemImage`.
//!
//! The image is laid out from the tree's metadata first (names, modes,
//! owners, times, sizes), then streamed: metadata, then each file's bytes,
//! read once, in order. So an image of any size costs memory for its
//! metadata only, needs no temporary copy, and can go straight to a drive.
//!
//! What readers see:
//! * Linux (Rock Ridge): every file's name, bytes, mode, owner, symlink
//!   target and modification time; device nodes and FIFOs too;
//! * Windows (Joliet): names of at most 64 characters that keep their
//!   extension and stay unique without regard to case; directories and
//!   files only (no symlink stand-ins), no `rr_moved` (deep directories
//!   stay where they are);
//! * files of 4 GiB and more as several extents (ISO 9660 level 3), each
//!   record carrying the file's Rock Ridge entries;
//! * file dates in every record; the volume's date is the newest file's
//!   (or `Options::date`), so the same tree gives the same bytes.
//!
//! ```no_run
//! let image = discrec_iso::Image::from_dir("photos".as_ref(), &discrec_iso::Options::new("PHOTOS"))?;
//! let mut out = std::fs::File::create("photos.iso")?;
//! std::io::copy(&mut image.reader(), &mut out)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules, bottom up: [`tree`] (the source tree, read once), [`names`]
//! (ISO 9660 and Joliet identifiers), [`rrip`] (Rock Ridge entries),
//! [`layout`] (sectors and metadata bytes), [`stream`] (the image as a
//! reader), [`import`] (a session already on a disc, read back to add
//! another).

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod tree;
pub mod names;
pub mod rrip;
pub mod layout;
pub mod stream;
pub mod import;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use stream::ImageReader;

/// What can go wrong laying out an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory of the tree could not be read.
    #[error("{}: {cause}", tree::shown(path))]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The root is not a directory.
    #[error("{} is not a directory", tree::shown(.0))]
    NotADirectory(PathBuf),
    /// More directories than a path table can number (65,535).
    #[error("the tree has {0} directories; an ISO 9660 image holds at most 65535")]
    TooManyDirectories(usize),
    /// A directory changed while the tree was read (it was replaced).
    #[error("{} changed while the tree was read; make the image again", tree::shown(.0))]
    Changed(PathBuf),
    /// A symbolic link whose target libisofs and xorriso cannot read back.
    #[error(
        "{}: the link's target is {len} bytes; Rock Ridge readers (libisofs, xorriso) take at most 1023",
        tree::shown(path)
    )]
    LinkTooLong {
        /// The link.
        path: PathBuf,
        /// Its target's length.
        len: usize,
    },
    /// Larger than 2^32 sectors (8 TiB).
    #[error("the image would be {0} bytes; ISO 9660 addresses at most 8 TiB")]
    TooLarge(u64),
    /// [`Options::cancel`] was set while the tree was read.
    #[error("cancelled while the tree was read")]
    Cancelled,
    /// A sector of the disc being imported could not be read.
    #[error("cannot read sector {lba} of the disc: {cause}")]
    ReadDisc {
        /// The sector.
        lba: u32,
        /// Why.
        cause: std::io::Error,
    },
    /// No ISO 9660 volume where the session should start.
    #[error(
        "the session at sector {start} holds no ISO 9660 file system (no volume descriptor at sector {}); \
         only an ISO 9660 disc can take another session",
        u64::from(*.start) + 16
    )]
    NoFileSystem {
        /// Where the session starts.
        start: u32,
    },
    /// The file system on the disc contradicts itself (or was made to).
    #[error("the ISO 9660 file system on the disc is damaged: {0}; copy what it holds off and use a new disc")]
    Damaged(String),
}

/// How to make the image (`IFileSystemImage`'s properties).
#[derive(Debug, Clone)]
pub struct Options {
    /// The volume name (`VolumeName`): the label readers show.
    pub volume_id: String,
    /// The volume's date, seconds since the epoch; `None`: the newest
    /// modification time in the tree (so the image does not depend on
    /// when it was made).
    pub date: Option<i64>,
    /// Set from another thread to stop reading the tree at its next entry
    /// ([`Error::Cancelled`]): a tree of a million files takes a while.
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The sector of the disc where the image will start
    /// (`SessionStartBlock`): 0 for a disc's first session, the next
    /// writable address for a session added to it. Every address in the
    /// image counts from the disc's first sector.
    #[doc(alias = "SessionStartBlock")]
    pub session_start: u32,
}

impl Options {
    /// Options with volume name `volume_id`.
    pub fn new(volume_id: impl Into<String>) -> Options {
        Options { volume_id: volume_id.into(), date: None, cancel: None, session_start: 0 }
    }
}

/// A laid-out image (`IFileSystemImageResult`).
#[derive(Debug, Clone)]
#[doc(alias = "IFileSystemImage")]
#[doc(alias = "IFileSystemImageResult")]
#[doc(alias = "MsftFileSystemImage")]
pub struct Image {
    layout: Arc<layout::Layout>,
}

impl Image {
    /// Lay out an image of the directory `root` (its contents become the
    /// image's root). Reads metadata only.
    #[doc(alias = "AddTree")]
    #[doc(alias = "CreateResultImage")]
    pub fn from_dir(root: &Path, opts: &Options) -> Result<Image, Error> {
        let tree = tree::Tree::read(root, opts.cancel.as_deref())?;
        Ok(Image { layout: Arc::new(layout::Layout::new(tree, opts)?) })
    }

    /// A session to add to a disc (`ImportFileSystem`, then `AddTree`):
    /// the tree of `previous` (read from the disc with
    /// [`import::Session::read`]) with the directory `root` put over it,
    /// an entry of `root` replacing an old one of the same name. The old
    /// files' data stays where it is on the disc; only `root`'s files are
    /// read. `opts.session_start` is where the new session goes: at or
    /// past the disc's next writable address (on a disc written at
    /// random: past `previous.volume_sectors`).
    #[doc(alias = "ImportFileSystem")]
    pub fn append(root: &Path, opts: &Options, previous: &import::Session) -> Result<Image, Error> {
        if opts.session_start < previous.volume_sectors {
            return Err(Error::Damaged(format!(
                "a new session at sector {} would overwrite the volume, which ends at sector {}",
                opts.session_start, previous.volume_sectors
            )));
        }
        let mut tree = tree::Tree::read(root, opts.cancel.as_deref())?;
        tree.graft(&previous.nodes);
        Ok(Image { layout: Arc::new(layout::Layout::new(tree, opts)?) })
    }

    /// Its size in bytes (whole sectors), from [`Image::start`].
    #[doc(alias = "TotalBlocks")]
    pub fn len(&self) -> u64 {
        self.layout.sectors * layout::SECTOR
    }

    /// The sector of the disc where it starts ([`Options::session_start`]).
    #[doc(alias = "SessionStartBlock")]
    pub fn start(&self) -> u32 {
        self.layout.start
    }

    /// Its volume descriptors (primary, Joliet, terminator: three
    /// sectors, its sectors 16 to 18). On a disc written at random they
    /// are copied to the disc's sectors 16 to 18 once the session is
    /// written, so that readers, which look there, find it (what
    /// growisofs does to grow a file system).
    pub fn volume_descriptors(&self) -> &[u8] {
        let s = layout::SECTOR as usize;
        &self.layout.meta[16 * s..19 * s]
    }

    /// Never true: an image has at least its volume descriptors.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Files in the image with data.
    pub fn files(&self) -> usize {
        self.layout.files.len()
    }

    /// Files of the session added to that this image keeps (points to):
    /// those no new entry replaced.
    pub fn kept_files(&self) -> usize {
        self.layout.tree.nodes.iter().filter(|n| n.on_disc.is_some()).count()
    }

    /// Bytes of metadata (everything before the first file's data): what
    /// the image costs in memory.
    pub fn metadata_len(&self) -> usize {
        self.layout.meta.len()
    }

    /// Sockets in the tree, which no image can hold, left out.
    pub fn skipped(&self) -> &[PathBuf] {
        &self.layout.tree.skipped
    }

    /// A reader of the image's bytes, from the first (`ImageStream`).
    #[doc(alias = "ImageStream")]
    pub fn reader(&self) -> ImageReader {
        ImageReader::new(Arc::clone(&self.layout))
    }
}

//! The image as a stream: the laid-out metadata, then each file's bytes
//! read in order and padded to whole sectors.
//!
//! Each file is reopened beneath the source's root directory one name at
//! a time, from the descriptor of its directory: each directory on the way
//! is opened with `O_NOFOLLOW | O_DIRECTORY` and must be the inode the
//! walk saw, the file itself with `O_NOFOLLOW | O_NONBLOCK` (a symlink
//! swapped in anywhere on its path is refused, a FIFO swapped in cannot
//! hang the write). No path is ever given to the kernel whole, so a tree
//! deeper than `PATH_MAX` reads as any other. The open directories are
//! kept from one file to the next (files come directory by directory).
//! Each file must be what the layout saw (device, inode, size,
//! modification and change times to the nanosecond) when opened and again
//! after its last byte is read; one that changed, grew, shrank, vanished
//! or was replaced is an error naming it, never a silently wrong or
//! foreign file on the disc.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};

use crate::layout::{FileData, Layout, SECTOR};
use crate::tree::{shown, DirStack, Identity, OpenDirError};

fn identity(file: &File) -> std::io::Result<(Identity, bool)> {
    let st = rustix::fs::fstat(file)?;
    let regular = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile;
    Ok((Identity::of(&st), regular))
}

/// Where the stream is.
enum Part {
    Meta,
    File { index: usize, file: File, left: u64 },
    Pad(u64),
    Done,
}

/// Reads the image from its first byte to its last.
pub struct ImageReader {
    layout: Arc<Layout>,
    pos: usize,
    next_file: usize,
    part: Part,
    /// The directories on the way to the file being read.
    dirs: Option<DirStack>,
}

impl ImageReader {
    pub(crate) fn new(layout: Arc<Layout>) -> ImageReader {
        ImageReader { layout, pos: 0, next_file: 0, part: Part::Meta, dirs: None }
    }

    /// Move to the next file, or past the last: then every file that was
    /// empty must be still (a file written during the burn would be on the
    /// disc as 0 bytes, reported as verified).
    fn open_next(&mut self) -> std::io::Result<()> {
        let layout = Arc::clone(&self.layout);
        let Some(f) = layout.files.get(self.next_file) else {
            for f in &layout.empty {
                self.open_unchanged(f)?;
            }
            self.part = Part::Done;
            self.dirs = None;
            return Ok(());
        };
        let file = self.open_unchanged(f)?;
        self.part = Part::File { index: self.next_file, file, left: f.size };
        self.next_file += 1;
        Ok(())
    }

    /// Open file `f` from its directory's descriptor, opening the
    /// directories on its way that are not open yet, and check it is what
    /// the layout saw.
    fn open_unchanged(&mut self, f: &FileData) -> std::io::Result<File> {
        let tree = &self.layout.tree;
        let fail = |what: String| std::io::Error::other(format!("{}: {what}", shown(&tree.path_of(f.node))));
        let node = &tree.nodes[f.node];
        let dirs = match &mut self.dirs {
            Some(d) => d,
            None => self
                .dirs
                .insert(DirStack::new(tree.root.try_clone().map_err(|e| fail(format!("cannot open it ({e})")))?)),
        };
        let dir = dirs.open(&tree.nodes, node.parent).map_err(|e| match e {
            OpenDirError::Replaced => fail("a directory on its path was replaced after the image was laid out".into()),
            OpenDirError::Io(e) => fail(why_not(e)),
        })?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::openat(dir, node.name.as_os_str(), flags, Mode::empty())
            .map_err(|e| fail(why_not(e.into())))?;
        let file = File::from(fd);
        let (now, regular) = identity(&file).map_err(|e| fail(format!("cannot stat it ({e})")))?;
        if !regular || now != f.id {
            return Err(fail(describe_change(&f.id, &now, regular)));
        }
        Ok(file)
    }
}

/// Why a file or a directory on its path did not open, in words.
fn why_not(e: std::io::Error) -> String {
    match e.raw_os_error() {
        Some(x) if x == rustix::io::Errno::NOENT.raw_os_error() => "vanished after the image was laid out".to_string(),
        Some(x) if x == rustix::io::Errno::LOOP.raw_os_error() || x == rustix::io::Errno::NOTDIR.raw_os_error() => {
            format!("was replaced by a symbolic link, or a directory on its path was ({e})")
        }
        _ => format!("cannot open it ({e})"),
    }
}

/// What changed in a file since the layout, in words.
fn describe_change(was: &Identity, now: &Identity, regular: bool) -> String {
    let what = if !regular {
        "is no longer a regular file".to_string()
    } else if (was.dev, was.ino) != (now.dev, now.ino) {
        "was replaced by another file".to_string()
    } else if was.size != now.size {
        format!("changed size from {} to {} bytes", was.size, now.size)
    } else {
        "was modified".to_string()
    };
    format!("{what} after the image was laid out")
}

impl Read for ImageReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match &mut self.part {
                Part::Meta => {
                    let meta = &self.layout.meta;
                    if self.pos < meta.len() {
                        let n = buf.len().min(meta.len() - self.pos);
                        buf[..n].copy_from_slice(&meta[self.pos..self.pos + n]);
                        self.pos += n;
                        return Ok(n);
                    }
                    self.open_next()?;
                }
                Part::File { index, file, left } => {
                    if *left == 0 {
                        // It must end where the layout said, and be unchanged
                        // now that it is read: a write meanwhile moved its
                        // change time, and what was read may be torn.
                        let f = &self.layout.files[*index];
                        let mut probe = [0u8; 1];
                        let grew = file.read(&mut probe)? != 0;
                        let (now, regular) = identity(file)?;
                        if grew || now != f.id {
                            return Err(std::io::Error::other(format!(
                                "{}: changed while being read ({}); the disc holds a mix of old and new bytes",
                                shown(&self.layout.tree.path_of(f.node)),
                                if grew { "it grew".to_string() } else { describe_change(&f.id, &now, regular) }
                            )));
                        }
                        let rem = f.size % SECTOR;
                        self.part = if rem == 0 { Part::Pad(0) } else { Part::Pad(SECTOR - rem) };
                        continue;
                    }
                    let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let n = file.read(&mut buf[..want])?;
                    if n == 0 {
                        let f = &self.layout.files[*index];
                        return Err(std::io::Error::other(format!(
                            "{}: shrank while being read (it was {} bytes, {} were missing)",
                            shown(&self.layout.tree.path_of(f.node)),
                            f.size,
                            left
                        )));
                    }
                    *left -= n as u64;
                    return Ok(n);
                }
                Part::Pad(left) => {
                    if *left == 0 {
                        self.open_next()?;
                        continue;
                    }
                    let n = buf.len().min(*left as usize);
                    buf[..n].fill(0);
                    *left -= n as u64;
                    return Ok(n);
                }
                Part::Done => return Ok(0),
            }
        }
    }
}

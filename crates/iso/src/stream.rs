//! The image as a stream: the laid-out metadata, then each file's bytes
//! read in order and padded to whole sectors. A file is checked against
//! what the layout saw: one that changed, grew, shrank or vanished is an
//! error naming it, never a silently wrong disc.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use crate::layout::{Layout, SECTOR};

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
}

impl ImageReader {
    pub(crate) fn new(layout: Arc<Layout>) -> ImageReader {
        ImageReader { layout, pos: 0, next_file: 0, part: Part::Meta }
    }

    /// Move to the next file, or past the last.
    fn open_next(&mut self) -> std::io::Result<()> {
        let Some(f) = self.layout.files.get(self.next_file) else {
            self.part = Part::Done;
            return Ok(());
        };
        let changed = |what: String| std::io::Error::other(format!("{}: {what}", f.path.display()));
        let file = File::open(&f.path).map_err(|e| changed(format!("cannot open it ({e}); did it vanish?")))?;
        let meta = file.metadata().map_err(|e| changed(format!("cannot stat it ({e})")))?;
        if !meta.is_file() || meta.len() != f.size || meta.mtime() != f.mtime {
            return Err(changed(format!(
                "changed since the image was laid out (it was {} bytes, modified at {}; now {} bytes, modified at {})",
                f.size,
                f.mtime,
                meta.len(),
                meta.mtime()
            )));
        }
        self.part = Part::File { index: self.next_file, file, left: f.size };
        self.next_file += 1;
        Ok(())
    }
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
                        // It must end where the layout said: one byte more is a file that grew.
                        let f = &self.layout.files[*index];
                        let mut probe = [0u8; 1];
                        if file.read(&mut probe)? != 0 {
                            return Err(std::io::Error::other(format!(
                                "{}: grew while being read (it was {} bytes)",
                                f.path.display(),
                                f.size
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
                            f.path.display(),
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

//! Adding a session (`burn --append`; IMAPI2's `ImportFileSystem` with
//! `IMultisessionSequential` and `IMultisessionRandomWrite`): where the
//! new session goes, the last one's tree read back from the disc, the
//! directory laid out over it. Every refusal comes before the first
//! command that changes the disc.
//!
//! | Disc | The last session | The new one | Readers find it |
//! |---|---|---|---|
//! | written in order (CD-R/RW, DVD±R, DVD-RW, BD-R), appendable | at `StartAddressOfPreviousSession` | a session of its own at the next writable address | the drive lists it last; Linux mounts the last session |
//! | written at random (DVD+RW, DVD-RAM, DVD-RW in restricted overwrite, BD-RE), an image file, a block device | at sector 0 | after the volume, from a multiple of 32 sectors | its volume descriptors are copied to sectors 16 to 18 once it is written and verified (as growisofs grows a file system) |
//! | blank | none | the first session | as any |

use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use discrec_iso::import;
use discrec_mmc as mmc;

use super::check::{check_fits, check_writable};
use super::Source;
use crate::error::{Error, Result};
use crate::medium::{MediaState, Medium, WriteMethod, SECTOR, SESSION_ALIGN};
use crate::target::Target;

/// What `--append` asks: a directory to add.
pub(crate) struct Append {
    /// The directory whose contents go over the disc's root.
    pub dir: PathBuf,
    /// The volume name (default: the disc's).
    pub volume: Option<String>,
    /// Stops the walk of the directory.
    pub cancel: Arc<AtomicBool>,
}

/// The session to write.
pub(super) enum Next {
    /// The disc is blank: the directory is its first session, written as
    /// any write is.
    First(Source),
    /// A session added to the disc.
    Added(Added),
}

/// A session added to a disc.
pub(super) struct Added {
    /// The image of the merged tree.
    pub source: Source,
    /// Where it goes.
    pub start: u64,
    /// On a disc written at random: its volume descriptors, for sectors
    /// 16 to 18 once it is written.
    pub descriptors: Option<Vec<u8>>,
    /// The first sector of the session added to.
    pub previous: u64,
    /// Files kept from the disc.
    pub kept: usize,
}

/// The session `a` adds to the disc `m` in `t` (read through `fd`).
pub(super) fn next(t: &Target, fd: BorrowedFd<'_>, m: &Medium, a: &Append) -> Result<Next> {
    let not_appendable = |why: String| Err(Error::MediaNotAppendable { target: t.given.clone(), detail: why });
    let disc = || format!("the {:?} in {}", m.physical_type, t.given.display());
    let first = || Source::open_with(&a.dir, a.volume.as_deref(), Some(a.cancel.clone())).map(Next::First);
    // Refused as a write refuses it (a write-protected disc, a drive that
    // reads only): every medium past here has a way of being written.
    check_writable(t, m)?;
    let sequential = matches!(m.method, Some(WriteMethod::Incremental | WriteMethod::TrackAtOnce));
    let previous = if sequential {
        if m.state.contains(MediaState::BLANK) {
            return first();
        }
        if !m.state.contains(MediaState::APPENDABLE) {
            return not_appendable(format!(
                "{} is closed ({}): no session can be added to it; insert a blank or appendable disc",
                disc(),
                m.state
            ));
        }
        let Some(previous) = m.previous_session_start else {
            return not_appendable(format!("{} holds no session with data to add to", disc()));
        };
        previous
    } else {
        if m.needs_format || !holds_iso(fd, m) && !holds_data(fd, m) {
            return first();
        }
        0
    };
    let session = import_session(t, fd, m, u32::try_from(previous).unwrap_or(u32::MAX))?;
    let volume_end = u64::from(session.volume_sectors);
    // The volume must lie in what was written: one said to be longer (an
    // image cut short) would have its last files read as zeros, or
    // overwritten by the new session.
    let written = match m.method {
        _ if sequential => m.next_writable_address,
        // An image file holds what its length says.
        Some(WriteMethod::ImageFile) => {
            rustix::fs::fstat(fd).map_err(|e| t.io_error("cannot stat", e.into()))?.st_size as u64 / SECTOR
        }
        _ => m.total_sectors,
    };
    if volume_end > written {
        return Err(Error::FileSystemDamaged {
            target: t.given.clone(),
            detail: format!(
                "{}: the ISO 9660 volume says it ends at sector {volume_end}, but {} holds {written} sectors: it was cut short; copy what it holds off and write it anew",
                t.given.display(),
                if sequential { "the written part of the disc" } else { "it" }
            ),
        });
    }
    if !sequential {
        partitions_after(t, fd, m, volume_end)?;
    }
    let start = match sequential {
        true => m.next_writable_address,
        false => volume_end.div_ceil(SESSION_ALIGN) * SESSION_ALIGN,
    };
    let volume = match (&a.volume, session.volume_id.is_empty()) {
        (Some(v), _) => v.clone(),
        (None, false) => session.volume_id.clone(),
        (None, true) => Source::volume_name(&a.dir),
    };
    let opts = discrec_iso::Options {
        cancel: Some(a.cancel.clone()),
        session_start: u32::try_from(start).map_err(|_| Error::StreamTooLarge {
            target: t.given.clone(),
            source_name: super::shown(&a.dir),
            needed: start,
            free: 0,
        })?,
        ..discrec_iso::Options::new(volume)
    };
    let image =
        discrec_iso::Image::append(&a.dir, &opts, &session).map_err(|e| super::source::image_error(&a.dir, e))?;
    let descriptors = (!sequential).then(|| image.volume_descriptors().to_vec());
    let source = Source::stream(super::shown(&a.dir), image.reader(), image.len())?;
    check_room(t, m, start, &source)?;
    let kept = image.kept_files();
    Ok(Next::Added(Added { source, start, descriptors, previous, kept }))
}

/// Why sectors could not be read.
enum Unread {
    /// The drive refused READ(10) (kept whole, for its sense).
    Drive(mmc::Error),
    /// `pread`, or a short READ(10).
    Io(std::io::Error),
}

/// `buf.len()` bytes from sector `lba` of `m`: READ(10), a command at a
/// time, on a drive (a disc has a profile); `pread` on an image file or
/// a block device.
fn read_sectors(fd: BorrowedFd<'_>, m: &Medium, lba: u32, buf: &mut [u8]) -> std::result::Result<(), Unread> {
    if m.profile.is_some() {
        let piece = super::MMC_SECTORS_PER_COMMAND * SECTOR as usize;
        for (i, chunk) in buf.chunks_mut(piece).enumerate() {
            let at = lba + (i * super::MMC_SECTORS_PER_COMMAND) as u32;
            match mmc::read10(fd, at, chunk) {
                Ok(n) if n == chunk.len() => {}
                Ok(n) => return Err(Unread::Io(std::io::Error::other(format!("a short read of {n} bytes")))),
                Err(e) => return Err(Unread::Drive(e)),
            }
        }
        return Ok(());
    }
    let mut done = 0;
    while done < buf.len() {
        match rustix::io::pread(fd, &mut buf[done..], u64::from(lba) * SECTOR + done as u64) {
            Ok(0) => return Err(Unread::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Unread::Io(e.into())),
        }
    }
    Ok(())
}

/// [`read_sectors`], true if all were read.
fn read_at(fd: BorrowedFd<'_>, m: &Medium, lba: u32, buf: &mut [u8]) -> bool {
    read_sectors(fd, m, lba, buf).is_ok()
}

/// Whether an ISO 9660 volume descriptor is at sector 16.
fn holds_iso(fd: BorrowedFd<'_>, m: &Medium) -> bool {
    let mut buf = vec![0u8; SECTOR as usize];
    read_at(fd, m, 16, &mut buf) && &buf[1..6] == b"CD001"
}

/// Whether there is anything to keep: the medium's state says so, or,
/// for a block device (whose state says nothing), a byte of its first
/// 18 sectors (where any file system starts) is not zero.
fn holds_data(fd: BorrowedFd<'_>, m: &Medium) -> bool {
    if m.method != Some(WriteMethod::BlockDevice) {
        return !m.state.contains(MediaState::BLANK) && m.state.contains(MediaState::NON_EMPTY_SESSION);
    }
    let mut buf = vec![0u8; 18 * SECTOR as usize];
    !read_at(fd, m, 0, &mut buf) || buf.iter().any(|&b| b != 0)
}

/// A disc written at random grows after its volume: a partition there
/// (a hybrid ISO's EFI or data partition, listed in its MBR or GPT in
/// the system area) would be overwritten, so it is refused (xorriso and
/// growisofs would write over it).
fn partitions_after(t: &Target, fd: BorrowedFd<'_>, m: &Medium, volume_end: u64) -> Result<()> {
    let mut area = vec![0u8; 16 * SECTOR as usize];
    if !read_at(fd, m, 0, &mut area) {
        return Ok(());
    }
    let le32 = |b: &[u8]| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let le64 = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
    // Partitions as (first, last) 512-byte blocks.
    let mut parts = Vec::new();
    if area[510..512] == [0x55, 0xAA] {
        for e in area[446..510].chunks_exact(16) {
            // Type 0xEE: a protective MBR, the GPT below says more.
            if e[4] != 0 && e[4] != 0xEE && le32(&e[12..16]) > 0 {
                parts.push((le32(&e[8..12]), le32(&e[8..12]) + le32(&e[12..16]) - 1));
            }
        }
    }
    if &area[512..520] == b"EFI PART" {
        // The entry array, wherever the header says it is (at most 1024
        // entries of at most 4 KiB; a table that cannot be read is taken
        // as one that may hold anything).
        let (entries, count, size) = (le64(&area[512 + 72..]), le32(&area[512 + 80..]), le32(&area[512 + 84..]));
        let (count, size) = (count.min(1024), size.clamp(48, 4096));
        let first = entries.saturating_mul(512);
        let len = count * size;
        let from = first / SECTOR;
        let mut table = vec![0u8; ((first + len).div_ceil(SECTOR).saturating_sub(from) * SECTOR) as usize];
        let readable = u32::try_from(from).is_ok_and(|f| table.len() <= 1 << 23 && read_at(fd, m, f, &mut table));
        if !readable {
            parts.push((0, u64::MAX));
        } else {
            let skip = (first - from * SECTOR) as usize;
            for e in table[skip..].chunks_exact(size as usize).take(count as usize) {
                if e[..16].iter().any(|&b| b != 0) {
                    parts.push((le64(&e[32..]), le64(&e[40..])));
                }
            }
        }
    }
    let end = volume_end * (SECTOR / 512);
    if let Some((first, last)) = parts.into_iter().find(|&(_, last)| last >= end) {
        let (first, last) = match last {
            u64::MAX => ("?".to_string(), "?: its GPT cannot be read".to_string()),
            _ => (first.to_string(), last.to_string()),
        };
        return Err(Error::MediaNotAppendable {
            target: t.given.clone(),
            detail: format!(
                "{} has a partition after its ISO 9660 volume (512-byte blocks {first} to {last}; the volume ends at block {end}): a session added after the volume would overwrite it; nothing was written",
                t.given.display()
            ),
        });
    }
    Ok(())
}

/// What to do with a target whose last session holds no ISO 9660.
fn instead(m: &Medium) -> &'static str {
    match m.method {
        Some(WriteMethod::ImageFile) => "truncate the image to 0 bytes to write a first session, or name another",
        Some(WriteMethod::BlockDevice) => {
            "a plain `discrec burn` (without --append) writes over what it holds, or name another target"
        }
        Some(WriteMethod::RandomAccess) => "erase the disc (`discrec erase`) or burn with --overwrite to write over it",
        _ => "insert a blank or appendable disc",
    }
}

/// The session at `start` on `t`, read back ([`read_sectors`]).
fn import_session(t: &Target, fd: BorrowedFd<'_>, m: &Medium, start: u32) -> Result<import::Session> {
    let mut drive_error = None;
    let mut read = |lba: u32, buf: &mut [u8]| -> std::io::Result<()> {
        read_sectors(fd, m, lba, buf).map_err(|e| match e {
            Unread::Drive(e) => {
                let message = e.to_string();
                drive_error = Some(e);
                std::io::Error::other(message)
            }
            Unread::Io(e) => e,
        })
    };
    let r = import::Session::read(&mut read, start);
    r.map_err(|e| match e {
        discrec_iso::Error::NoFileSystem { .. } => Error::NoSupportedFileSystem {
            target: t.given.clone(),
            detail: format!("{}: {e}; {}", t.given.display(), instead(m)),
        },
        discrec_iso::Error::Damaged(_) => {
            Error::FileSystemDamaged { target: t.given.clone(), detail: format!("{}: {e}", t.given.display()) }
        }
        discrec_iso::Error::ReadDisc { lba, cause } => match drive_error.take() {
            Some(d) => Error::drive_command(&t.given, d),
            // Its file system goes past its end: an image cut short.
            None if cause.kind() == std::io::ErrorKind::UnexpectedEof => Error::FileSystemDamaged {
                target: t.given.clone(),
                detail: format!(
                    "{}: its ISO 9660 file system goes on past its end (sector {lba}): it was cut short; copy what it holds off and write it anew",
                    t.given.display()
                ),
            },
            None => t.io_error(&format!("cannot read sector {lba} (of the session to add to) of"), cause),
        },
        e => Error::Source { source_name: t.given.display().to_string(), detail: e.to_string() },
    })
}

/// The added session must fit where it goes: in the room the drive
/// reports (and a CD track's run-out blocks), up to the disc's end, or
/// in the free space of an image file's file system.
fn check_room(t: &Target, m: &Medium, start: u64, source: &Source) -> Result<()> {
    let free = match m.method {
        Some(WriteMethod::Incremental | WriteMethod::TrackAtOnce) => m.free_sectors,
        // An image grows as far as its file system has room.
        Some(WriteMethod::ImageFile) => crate::medium::fs_free_bytes(&t.node)? / SECTOR,
        _ => m.total_sectors.saturating_sub(start),
    };
    check_fits(t, m, source, free)
}

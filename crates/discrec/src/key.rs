//! The identity of a drive, the same for every path that reaches it (the
//! key of its lock, records and queue), and what kind of recorder it is.

use std::fmt;

/// What kind of recorder a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A block device (`/dev/srN`, a loop device, ...).
    BlockDevice,
    /// A regular file: a virtual recorder backed by an image file.
    File,
}

/// The identity of a drive: the same for every path that reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriveKey {
    /// A block device by device number.
    Block {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A file by file system and inode.
    File {
        /// `st_dev` of the file system.
        dev: u64,
        /// Inode number.
        ino: u64,
    },
}

impl fmt::Display for DriveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriveKey::Block { major, minor } => write!(f, "b{major}:{minor}"),
            DriveKey::File { dev, ino } => write!(f, "f{dev:x}:{ino}"),
        }
    }
}

/// Parse `MAJOR:MINOR` (decimal, as sysfs and mountinfo print it).
pub fn parse_maj_min(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

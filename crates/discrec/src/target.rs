//! Targets: what a user names (a block device, a link to one, an `sg` node,
//! or a regular file used as a virtual recorder) resolved to the one drive
//! behind it. The lock is keyed on the drive, not on the node used to reach it.

use std::fs;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Stat};

use crate::error::{Error, Result};
use crate::key::{parse_maj_min, DriveKey, TargetKind};

/// A resolved target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The path as the caller gave it.
    pub given: PathBuf,
    /// The node discrec opens and locks: `/dev/<name>` for block devices,
    /// the resolved file for images.
    pub node: PathBuf,
    /// Block device or file.
    pub kind: TargetKind,
    /// The drive identity.
    pub key: DriveKey,
    /// Kernel name (`loop0`, `sr0`) for block devices.
    pub kernel_name: Option<String>,
}

impl Target {
    /// Resolve `path`: follow links, map `sg` nodes to their block device,
    /// and find the canonical `/dev` node of a block device.
    pub fn resolve(path: &Path) -> Result<Target> {
        let given = path.to_path_buf();
        let real = fs::canonicalize(path).map_err(|e| Error::io(path, "cannot resolve", e))?;
        let st = rustix::fs::stat(&real).map_err(|e| Error::io(path, "cannot stat", e.into()))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Ok(Target {
                given,
                node: real,
                kind: TargetKind::File,
                key: DriveKey::File { dev: st.st_dev, ino: st.st_ino },
                kernel_name: None,
            }),
            FileType::BlockDevice => Ok(block_target(given, real, &st)),
            FileType::CharacterDevice => {
                // An sg node (or another char node of a SCSI device): the drive
                // is the block device that shares its SCSI device.
                let (maj, min) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
                let blockdir = format!("/sys/dev/char/{maj}:{min}/device/block");
                let name =
                    fs::read_dir(&blockdir).ok().and_then(|mut d| d.next()).and_then(|e| e.ok()).map(|e| e.file_name());
                match name {
                    Some(name) => {
                        let node = Path::new("/dev").join(&name);
                        let bst = rustix::fs::stat(&node).map_err(|e| Error::io(&node, "cannot stat", e.into()))?;
                        Ok(block_target(given, node, &bst))
                    }
                    None => Err(Error::InvalidArgument(format!(
                        "{} is a character device with no block device behind it; name a block device (/dev/srN) or an image file",
                        path.display()
                    ))),
                }
            }
            _ => Err(Error::InvalidArgument(format!(
                "{} is neither a block device nor a regular file; name a drive (/dev/srN) or an image file",
                path.display()
            ))),
        }
    }

    /// `stat` of the node discrec locks (its inode is what `/proc/locks`
    /// names). An image file replaced under its name since the handle was
    /// opened is gone for this handle: `ERROR_DEV_NOT_EXIST`.
    pub fn stat_node(&self) -> Result<Stat> {
        let st = rustix::fs::stat(&self.node).map_err(|e| self.io_error("cannot stat", e.into()))?;
        self.check_stat(&st)?;
        Ok(st)
    }

    /// Check that an open descriptor of the node is this drive: a file
    /// renamed over an image between resolving and opening would put the
    /// lock on one inode and the owner record on another.
    pub fn check_same(&self, fd: &impl std::os::fd::AsFd) -> Result<()> {
        let st = rustix::fs::fstat(fd).map_err(|e| self.io_error("cannot stat", e.into()))?;
        self.check_stat(&st)
    }

    fn check_stat(&self, st: &Stat) -> Result<()> {
        let same = match self.key {
            DriveKey::File { dev, ino } => st.st_dev == dev && st.st_ino == ino,
            DriveKey::Block { major, minor } => {
                FileType::from_raw_mode(st.st_mode) == FileType::BlockDevice
                    && st.st_rdev == rustix::fs::makedev(major, minor)
            }
        };
        if same {
            Ok(())
        } else {
            Err(Error::DeviceNotExist { target: self.given.clone(), gone: true })
        }
    }

    /// Map an I/O error met while doing `what` on this target.
    pub(crate) fn io_error(&self, what: &str, e: std::io::Error) -> Error {
        Error::io_on(&self.given, self.kind, what, e)
    }

    /// The sysfs directory of a block device.
    pub fn sysfs_dir(&self) -> Option<PathBuf> {
        match self.key {
            DriveKey::Block { major, minor } => Some(PathBuf::from(format!("/sys/dev/block/{major}:{minor}"))),
            DriveKey::File { .. } => None,
        }
    }

    /// Device numbers of this block device and of its partitions; file
    /// systems mounted from any of them make the drive "mounted".
    pub fn device_numbers(&self) -> Vec<(u32, u32)> {
        let DriveKey::Block { major, minor } = self.key else {
            return Vec::new();
        };
        let mut out = vec![(major, minor)];
        if let Some(dir) = self.sysfs_dir() {
            if let Ok(entries) = fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.join("partition").exists() {
                        if let Some(mm) = fs::read_to_string(p.join("dev")).ok().and_then(|s| parse_maj_min(s.trim())) {
                            out.push(mm);
                        }
                    }
                }
            }
        }
        out
    }
}

fn block_target(given: PathBuf, real: PathBuf, st: &Stat) -> Target {
    let (major, minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    let kernel_name = fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
        .ok()
        .and_then(|u| u.lines().find_map(|l| l.strip_prefix("DEVNAME=").map(str::to_owned)));
    // Lock the canonical /dev node whenever it is the same device, so that
    // links and stray nodes made with mknod all meet on one inode.
    let node = kernel_name
        .as_ref()
        .map(|n| Path::new("/dev").join(n))
        .filter(|n| {
            rustix::fs::stat(n)
                .map(|s| s.st_rdev == st.st_rdev && FileType::from_raw_mode(s.st_mode) == FileType::BlockDevice)
                .unwrap_or(false)
        })
        .unwrap_or(real);
    Target { given, node, kind: TargetKind::BlockDevice, key: DriveKey::Block { major, minor }, kernel_name }
}

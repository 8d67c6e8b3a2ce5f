//! Drive discovery and identity (IMAPI2's `IDiscMaster2` and the
//! `IDiscRecorder2` properties): every recorder on the machine from
//! `/sys/class/block/sr*`, with its `sg` node, stable names, INQUIRY
//! identity, bus, tray and medium state, mounts, and lock owner; for one
//! drive also its MMC profiles, features and mode pages.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use discrec_mmc::{self as mmc, cdrom, Inquiry};

use crate::error::{Error, Result};
use crate::key::TargetKind;
use crate::mounts::mounts_of;
use crate::owner::Owner;
use crate::recorder::Recorder;

/// Tray and medium state, from `CDROM_DRIVE_STATUS`.
pub use discrec_mmc::cdrom::TrayState;

/// All recorders the kernel knows: `/dev/srN`, in order.
#[doc(alias = "IDiscMaster2")]
#[doc(alias = "MsftDiscMaster2")]
pub fn recorder_paths() -> Vec<PathBuf> {
    let mut names: Vec<String> = fs::read_dir("/sys/class/block")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| {
                    n.strip_prefix("sr").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort_by_key(|n| n[2..].parse::<u32>().unwrap_or(u32::MAX));
    names.into_iter().map(|n| Path::new("/dev").join(n)).collect()
}

/// What `discrec list` shows: every recorder the kernel knows, in order
/// ([`recorder_paths`]), each with [`Recorder::drive_info`]. A drive that
/// cannot be opened (gone meanwhile) is left out.
#[doc(alias = "IDiscMaster2")]
pub fn list() -> Vec<DriveInfo> {
    recorder_paths().iter().filter_map(|p| Recorder::open(p).ok()).map(|r| r.drive_info()).collect()
}

/// What `discrec list` shows for one recorder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DriveInfo {
    /// Block device node.
    #[serde(serialize_with = "crate::jsonpath::serialize")]
    pub device: PathBuf,
    /// Its SCSI generic sibling.
    #[serde(serialize_with = "crate::jsonpath::serialize_option")]
    pub sg: Option<PathBuf>,
    /// Links udev made in `/dev/disk/by-id` and `/dev/disk/by-path`.
    #[serde(serialize_with = "crate::jsonpath::serialize_all")]
    pub links: Vec<PathBuf>,
    /// INQUIRY identity (None with `error` set when the drive did not answer).
    pub vendor: Option<String>,
    /// Product.
    pub product: Option<String>,
    /// Revision.
    pub revision: Option<String>,
    /// Bus the drive hangs on: `ata`, `usb`, `virtio-scsi`, `scsi`.
    pub bus: String,
    /// Tray and medium.
    pub tray: TrayState,
    /// Mount points of file systems from it.
    pub mounts: Vec<String>,
    /// Held by some client.
    pub locked: bool,
    /// The holder.
    pub owner: Option<Owner>,
    /// Why a field could not be read.
    pub error: Option<String>,
}

/// `discrec info`: the list fields plus MMC capabilities.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DriveDetails {
    /// The list fields.
    #[serde(flatten)]
    pub info: DriveInfo,
    /// Current profile, named as in MMC.
    pub current_profile: Option<String>,
    /// Supported profiles, named, with whether each is current.
    pub profiles: Vec<NamedProfile>,
    /// Features, named.
    pub features: Vec<mmc::Feature>,
    /// The drive can load (close) its tray.
    pub can_load: Option<bool>,
    /// The drive can eject.
    pub can_eject: Option<bool>,
    /// The tray can be locked.
    pub can_lock: Option<bool>,
    /// Mode page codes the drive reports.
    pub mode_pages: Vec<String>,
    /// The medium: type, state, capacity, whether discrec can write it
    /// (`None` without a medium, or while another client holds the drive).
    pub medium: Option<crate::medium::Medium>,
}

/// A profile with its MMC name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NamedProfile {
    /// Profile number.
    pub code: String,
    /// MMC name.
    pub name: String,
    /// Current.
    pub current: bool,
}

fn profile(code: u16) -> String {
    match mmc::profile_name(code) {
        Some(n) => n.to_string(),
        None => format!("profile {code:#06x}"),
    }
}

fn sysfs_block(rec: &Recorder) -> Option<PathBuf> {
    rec.target().sysfs_dir()
}

fn sg_node(rec: &Recorder) -> Option<PathBuf> {
    let dir = sysfs_block(rec)?.join("device/scsi_generic");
    let name = fs::read_dir(dir).ok()?.flatten().next()?.file_name();
    Some(Path::new("/dev").join(name))
}

fn links_to(dev: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["/dev/disk/by-id", "/dev/disk/by-path"] {
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if fs::canonicalize(e.path()).ok().as_deref() == Some(dev) {
                    out.push(e.path());
                }
            }
        }
    }
    out.sort();
    out
}

fn bus_of(rec: &Recorder) -> String {
    let Some(dev) = sysfs_block(rec).and_then(|d| fs::canonicalize(d.join("device")).ok()) else {
        return "unknown".into();
    };
    let s = dev.to_string_lossy();
    if s.contains("/usb") {
        "usb".into()
    } else if s.contains("/ata") {
        "ata".into()
    } else if s.contains("/virtio") {
        "virtio-scsi".into()
    } else {
        "scsi".into()
    }
}

impl Recorder {
    /// A descriptor for drive commands. Identity queries are allowed while
    /// another client holds the drive (C10); commands that touch the medium
    /// or tray go through [`Recorder::with_exclusive_access`].
    fn command_fd(&self) -> Result<OwnedFd> {
        self.require_drive()?;
        let t = self.target();
        // Read-write where we may (the kernel allows more commands then).
        rustix::fs::open(&t.node, OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
            .or_else(|_| rustix::fs::open(&t.node, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty()))
            .map_err(|e| Error::io(&t.given, "cannot open", e.into()))
    }

    /// Drive commands need a drive: an image file is `E_INVALIDARG`, before
    /// any lock is looked at (a held image would otherwise be refused as
    /// locked, for something that can never work).
    fn require_drive(&self) -> Result<()> {
        let t = self.target();
        if t.kind != TargetKind::BlockDevice {
            return Err(Error::InvalidArgument(format!(
                "{} is an image file; drive commands need a drive (/dev/srN)",
                t.given.display()
            )));
        }
        Ok(())
    }

    /// INQUIRY: vendor, product, revision.
    #[doc(alias = "VendorId")]
    #[doc(alias = "ProductId")]
    #[doc(alias = "ProductRevision")]
    #[doc(alias = "get_VendorId")]
    #[doc(alias = "get_ProductId")]
    #[doc(alias = "get_ProductRevision")]
    pub fn inquiry(&self) -> Result<Inquiry> {
        let fd = self.command_fd()?;
        mmc::inquiry(fd.as_fd()).map_err(|e| Error::drive_command(&self.target().given, e))
    }

    /// The drive's identity across machines, for the cluster lock's key:
    /// from its vital product data (page 0x83's NAA, EUI-64 or T10
    /// designator, else page 0x80's serial number), so that two hosts that
    /// see one drive (over iSCSI or a SAN) name it alike. `None` for image
    /// files and drives without either page: the caller names the key.
    pub fn cluster_identity(&self) -> Option<String> {
        if self.target().kind != TargetKind::BlockDevice {
            return None;
        }
        let fd = self.command_fd().ok()?;
        mmc::drive_identity(fd.as_fd())
    }

    /// Tray and medium state.
    pub fn tray_state(&self) -> Result<TrayState> {
        let fd = self.command_fd()?;
        cdrom::drive_status(fd.as_fd())
            .map_err(|e| Error::io(&self.target().given, "cannot read the drive status of", e))
    }

    /// TEST UNIT READY: `Ok` when a medium is in and ready; otherwise
    /// `E_IMAPI_RECORDER_MEDIA_NO_MEDIA`, `..._BECOMING_READY`, or the
    /// decoded sense. It only reads, so it takes no lock, but while another
    /// discrec client holds the drive it is refused like every command on
    /// the medium (C10).
    pub fn check_medium(&self) -> Result<()> {
        self.refuse_if_held_by_another()?;
        let fd = self.command_fd()?;
        mmc::test_unit_ready(fd.as_fd()).map_err(|e| Error::drive_command(&self.target().given, e))
    }

    /// C10 for commands that read the medium without changing it.
    pub(crate) fn refuse_if_held_by_another(&self) -> Result<()> {
        if self.lock_count() > 0 {
            return Ok(());
        }
        match self.exclusive_access_owner()? {
            Some(owner) if owner.by_discrec && !self.held_across_exec(&owner) => {
                Err(Error::RecorderLocked { target: self.target().given.clone(), owner: Box::new(owner) })
            }
            _ => Ok(()),
        }
    }

    /// What `discrec list` shows.
    #[doc(alias = "VolumePathNames")]
    #[doc(alias = "get_VolumePathNames")]
    pub fn drive_info(&self) -> DriveInfo {
        let t = self.target();
        let mut error = None;
        let inq = self.inquiry().map_err(|e| error = Some(e.to_string())).ok();
        let owner = self.exclusive_access_owner().ok().flatten();
        DriveInfo {
            device: t.node.clone(),
            sg: sg_node(self),
            links: links_to(&t.node),
            vendor: inq.as_ref().map(|i| i.vendor.clone()),
            product: inq.as_ref().map(|i| i.product.clone()),
            revision: inq.as_ref().map(|i| i.revision.clone()),
            bus: bus_of(self),
            tray: self.tray_state().unwrap_or(TrayState::Unknown),
            mounts: mounts_of(&t.device_numbers()).iter().map(|m| m.to_string()).collect(),
            locked: owner.is_some(),
            owner,
            error,
        }
    }

    /// What `discrec info` shows.
    #[doc(alias = "SupportedProfiles")]
    #[doc(alias = "get_SupportedProfiles")]
    #[doc(alias = "CurrentProfiles")]
    #[doc(alias = "get_CurrentProfiles")]
    #[doc(alias = "SupportedFeaturePages")]
    #[doc(alias = "get_SupportedFeaturePages")]
    #[doc(alias = "CurrentFeaturePages")]
    #[doc(alias = "get_CurrentFeaturePages")]
    #[doc(alias = "SupportedModePages")]
    #[doc(alias = "get_SupportedModePages")]
    #[doc(alias = "DeviceCanLoadMedia")]
    #[doc(alias = "get_DeviceCanLoadMedia")]
    pub fn drive_details(&self) -> Result<DriveDetails> {
        let info = self.drive_info();
        let fd = self.command_fd()?;
        let given = &self.target().given;
        let conf = mmc::get_configuration(fd.as_fd()).map_err(|e| Error::drive_command(given, e))?;
        let pages = mmc::mode_pages(fd.as_fd());
        let medium = self.medium().ok();
        Ok(DriveDetails {
            info,
            current_profile: (conf.current_profile != 0).then(|| profile(conf.current_profile)),
            profiles: conf
                .profiles
                .iter()
                .map(|&(p, current)| NamedProfile { code: format!("{p:#06x}"), name: profile(p), current })
                .collect(),
            features: conf.features.clone(),
            can_load: conf.can_load,
            can_eject: conf.can_eject,
            can_lock: conf.can_lock,
            mode_pages: pages.iter().map(|p| format!("{p:#04x}")).collect(),
            medium,
        })
    }

    /// Eject the medium (open the tray). Takes exclusive access for itself
    /// under `client_name` unless this handle holds it (C8); refused with
    /// `E_IMAPI_RECORDER_LOCKED` while another client holds the drive (C10).
    #[doc(alias = "EjectMedia")]
    pub fn eject(&mut self, client_name: &str) -> Result<()> {
        self.require_drive()?;
        self.with_exclusive_access(client_name, |rec| {
            let fd = rec.command_fd()?;
            mmc::start_stop(fd.as_fd(), false).map_err(|e| Error::drive_command(&rec.target().given, e))
        })
    }

    /// Close the tray (load the medium). C8 and C10 as for [`Recorder::eject`].
    #[doc(alias = "CloseTray")]
    pub fn close_tray(&mut self, client_name: &str) -> Result<()> {
        self.require_drive()?;
        self.with_exclusive_access(client_name, |rec| {
            let fd = rec.command_fd()?;
            mmc::start_stop(fd.as_fd(), true).map_err(|e| Error::drive_command(&rec.target().given, e))
        })
    }

    /// Lock or unlock the tray (PREVENT ALLOW MEDIUM REMOVAL through the
    /// kernel's `CDROM_LOCKDOOR`, so that the lock outlasts this process:
    /// the cdrom layer unlocks on last close otherwise). C8 and C10 as for
    /// [`Recorder::eject`].
    pub fn set_tray_locked(&mut self, client_name: &str, locked: bool) -> Result<()> {
        self.require_drive()?;
        self.with_exclusive_access(client_name, |rec| {
            let fd = rec.command_fd()?;
            let given = &rec.target().given;
            let r = cdrom::lock_door(fd.as_fd(), locked)
                .map_err(|e| Error::io(given, "cannot lock or unlock the tray of", e))?;
            // The driver returns a positive SCSI result when the drive refused.
            if r != 0 {
                return Err(Error::DeviceCommand {
                    target: given.clone(),
                    what: "PREVENT ALLOW MEDIUM REMOVAL".into(),
                    detail: format!("the driver returned {r}"),
                });
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TrayState;

    #[test]
    fn tray_state_text_is_its_json_name() {
        for t in [TrayState::NoDisc, TrayState::TrayOpen, TrayState::NotReady, TrayState::DiscOk, TrayState::Unknown] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(t.to_string(), t.as_str());
        }
    }
}

//! Media-change notification (spec C11): after the last release, tell user
//! space the medium changed, so udev, udisks and desktops look at the drive
//! afresh, as Windows does by making the medium look removed and re-inserted.

use crate::target::{DriveKey, Target};

/// Send a `change` uevent for a block device. Needs write access to its
/// sysfs `uevent` file (root); returns the error otherwise.
pub fn media_changed(target: &Target) -> std::io::Result<()> {
    let DriveKey::Block { major, minor } = target.key else {
        return Ok(());
    };
    std::fs::write(format!("/sys/dev/block/{major}:{minor}/uevent"), "change")
}

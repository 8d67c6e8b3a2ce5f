//! Media-change notification (spec C11): after the last release, tell user
//! space the medium changed, so udev, udisks and desktops look at the drive
//! afresh, as Windows does by making the medium look removed and re-inserted.

use crate::key::DriveKey;
use crate::target::Target;

/// Send a `change` uevent for a block device. Needs write access to its
/// sysfs `uevent` file (root); returns the error otherwise.
pub fn media_changed(target: &Target) -> std::io::Result<()> {
    let DriveKey::Block { major, minor } = target.key else {
        return Ok(());
    };
    std::fs::write(format!("/sys/dev/block/{major}:{minor}/uevent"), "change")
}

/// Have the `change` uevent of `target` sent once this process, or the
/// program it becomes through `exec`, has ended: a detached process (see
/// `sys::detached`) waits on a pidfd of ours. Only for block devices, and
/// only where we may write the uevent file (root); it costs two forks.
/// Call only while the process has a single thread (`discrec lock --
/// COMMAND` calls it right before it becomes COMMAND).
pub fn media_changed_when_this_process_ends(target: &Target) {
    let DriveKey::Block { major, minor } = target.key else {
        return;
    };
    let path = format!("/sys/dev/block/{major}:{minor}/uevent");
    if rustix::fs::access(path.as_str(), rustix::fs::Access::WRITE_OK).is_err() {
        return;
    }
    let me = rustix::process::getpid();
    crate::sys::detached(move || {
        let Ok(pidfd) = rustix::process::pidfd_open(me, rustix::process::PidfdFlags::empty()) else { return };
        let mut fds = [rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN)];
        while !matches!(rustix::event::poll(&mut fds, None), Ok(n) if n > 0) {}
        let _ = std::fs::write(&path, "change");
    });
}

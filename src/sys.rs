//! The only `unsafe` in discrec: system calls whose safe wrappers need a
//! promise from the caller. Each function states the promise it keeps.

use std::os::fd::AsFd;

/// Run `f` on a fresh thread that has moved into the mount namespace of
/// `ns` (an open `/proc/PID/ns/mnt`), and return its result. Our own
/// threads never see that namespace.
pub fn in_mount_namespace<T: Send + 'static>(
    ns: std::fs::File,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    std::thread::spawn(move || {
        // SAFETY: CLONE_FS only separates this thread's root, cwd and umask
        // from the other threads (setns of a mount namespace requires it);
        // no file descriptor table is unshared, so no thread can observe a
        // descriptor from another table. The thread ends right after `f`.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }?;
        rustix::thread::move_into_link_name_space(ns.as_fd(), Some(rustix::thread::LinkNameSpaceType::Mount))?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("mount namespace helper thread panicked")))
}

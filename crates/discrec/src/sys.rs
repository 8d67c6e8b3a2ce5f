//! The only `unsafe` in the discrec library (the drive transport's is in
//! `discrec-mmc`): system calls whose safe wrappers need a promise from the
//! caller. Each function states the promise it keeps. Everything goes
//! through rustix except `fork(2)`, `close_range(2)` and byte-range
//! `fcntl` locks, which rustix does not offer, and `clock_gettime` and the
//! subreaper `prctl`s, through libc (valgrind misreads rustix's own).
#![allow(unsafe_code)]

use std::os::fd::AsFd;

/// Run `f` on a fresh thread that has moved into the mount namespace of
/// `ns` (an open `/proc/PID/ns/mnt`), and return its result. Our own
/// threads never see that namespace.
pub(crate) fn in_mount_namespace<T: Send + 'static>(
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

/// A `struct flock` of type `kind` over the `len` bytes from `start`.
fn byte_range(kind: libc::c_int, start: u64, len: u64) -> std::io::Result<libc::flock> {
    let out_of_range = || std::io::Error::other("lock range out of range");
    // SAFETY: all-zero is a valid `struct flock` (`l_pid` 0, as the OFD
    // commands require); every other field used is set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = libc::off_t::try_from(start).map_err(|_| out_of_range())?;
    fl.l_len = libc::off_t::try_from(len).map_err(|_| out_of_range())?;
    Ok(fl)
}

/// `fcntl(fd, cmd, fl)` for the record-lock commands.
fn lock_call(fd: &impl std::os::fd::AsFd, cmd: libc::c_int, fl: &mut libc::flock) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the lock commands read (and `F_GETLK`, `F_OFD_GETLK`
    // rewrite) the `struct flock` we own, for the duration of the call.
    if unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), cmd, fl as *mut libc::flock) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Take a POSIX write lock (`F_SETLK`) on the one byte at `offset` of the
/// file of `fd` (opened for writing). It shows in `/proc/locks` with our
/// pid and the offset, and goes away when this process ends or closes any
/// descriptor of the file. rustix only locks whole files.
pub(crate) fn posix_lock_byte(fd: &impl std::os::fd::AsFd, offset: u64) -> std::io::Result<()> {
    lock_call(fd, libc::F_SETLK, &mut byte_range(libc::F_WRLCK, offset, 1)?)
}

/// Which process holds a write lock on exactly the one byte at `offset`
/// of the file of `fd` (`F_GETLK`, `fcntl(2)`'s test for a lock): its pid
/// as our pid namespace sees it, or `None` when no other process holds
/// such a lock there (our own locks never conflict with us, so they are
/// not seen; nor is a lock over a wider range). One system call, whatever
/// the number of locks on the machine. rustix has no `F_GETLK`.
#[doc(alias = "F_GETLK")]
pub(crate) fn posix_byte_holder(fd: &impl std::os::fd::AsFd, offset: u64) -> std::io::Result<Option<i32>> {
    let mut fl = byte_range(libc::F_WRLCK, offset, 1)?;
    lock_call(fd, libc::F_GETLK, &mut fl)?;
    let exact = fl.l_type == libc::F_WRLCK as libc::c_short && fl.l_start == offset as libc::off_t && fl.l_len == 1;
    Ok((exact && fl.l_pid > 0).then_some(fl.l_pid))
}

/// A write lock that another owner holds on some of the `len` bytes from
/// `start` of the file of `fd` (`len` 0: to the end), as `F_GETLK` of a
/// read lock there reports it: `(start, len, pid)`, `len` 0 to the end,
/// `pid` -1 for an open-file-description lock. Our own POSIX locks are not
/// seen; our open-file-description locks are. `None`: no such lock.
#[doc(alias = "F_GETLK")]
pub(crate) fn write_lock_in(
    fd: &impl std::os::fd::AsFd,
    start: u64,
    len: u64,
) -> std::io::Result<Option<(u64, u64, i32)>> {
    let mut fl = byte_range(libc::F_RDLCK, start, len)?;
    lock_call(fd, libc::F_GETLK, &mut fl)?;
    if fl.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(None);
    }
    Ok(Some((fl.l_start.max(0) as u64, fl.l_len.max(0) as u64, fl.l_pid)))
}

/// Take (`lock`) or drop an open-file-description write lock
/// (`F_OFD_SETLK`) on the one byte at `offset` of the file of `fd`
/// (opened for writing): it belongs to the open file, not the process, so
/// it lasts until it is dropped or the open file's last descriptor is
/// closed, whatever else the process opens and closes.
#[doc(alias = "F_OFD_SETLK")]
pub(crate) fn ofd_lock_byte(fd: &impl std::os::fd::AsFd, offset: u64, lock: bool) -> std::io::Result<()> {
    let kind = if lock { libc::F_WRLCK } else { libc::F_UNLCK };
    lock_call(fd, libc::F_OFD_SETLK, &mut byte_range(kind, offset, 1)?)
}

/// [`posix_byte_holder`] through our own descriptor number `fd` (found in
/// `/proc/self/fd`), opening and closing nothing.
pub(crate) fn posix_byte_holder_own_fd(fd: i32, offset: u64) -> std::io::Result<Option<i32>> {
    // SAFETY: as in `pread_own_fd`: borrowed for one fcntl, never closed.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    posix_byte_holder(&fd, offset)
}

/// Read up to `buf.len()` bytes from offset 0 of our own descriptor `fd`
/// (a number found in `/proc/self/fd`), without opening or closing
/// anything: closing a descriptor of a file drops this process's POSIX
/// locks on it. The descriptor may have been opened for writing only;
/// then this fails.
pub(crate) fn pread_own_fd(fd: i32, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: `fd` was listed in /proc/self/fd just now, so it is open in
    // this process; it is only borrowed for one pread and never closed
    // here. Should another thread close it meanwhile, the read fails or
    // reads another file, whose contents the caller checks like any other.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    rustix::io::pread(fd, buf, 0).map_err(Into::into)
}

/// Run `f` in a detached process: forked twice, so that it is nobody's
/// child (its parent exits at once and is reaped here) and holds none of
/// our descriptors (every one from 3 up is closed before `f` runs, since
/// a fork without exec keeps even close-on-exec ones, and a copy of a lock
/// descriptor would keep the lock). Stdio is left as it is. Costs two
/// forks instead of two program starts.
///
/// Call only while the process has one thread (the `discrec` command line
/// does, right before it becomes a wrapped command): a forked child of a
/// threaded process may find an allocator lock held by a thread it does
/// not have.
pub(crate) fn detached(f: impl FnOnce()) {
    // SAFETY: fork in a single-threaded process (the caller's promise).
    // The child only forks again and exits with _exit, which runs no
    // destructors or atexit handlers of the parent's state.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => {}
        0 => {
            // SAFETY: as above; the grandchild runs `f` and ends with _exit.
            if unsafe { libc::fork() } == 0 {
                let _ = rustix::process::setsid();
                close_from(3);
                f();
            }
            // SAFETY: _exit ends this process at once, as a forked child should.
            unsafe { libc::_exit(0) }
        }
        child => {
            let _ =
                rustix::process::waitpid(rustix::process::Pid::from_raw(child), rustix::process::WaitOptions::empty());
        }
    }
}

/// Close every descriptor from `first` up.
fn close_from(first: i32) {
    // SAFETY: close_range(2) takes plain integers and touches no memory.
    let r =
        unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0 as libc::c_uint) };
    if r != 0 {
        // Kernels before 5.9: what /proc/self/fd lists.
        let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
            .unwrap_or_default();
        for fd in fds.into_iter().filter(|&fd| fd >= first) {
            // SAFETY: closing a descriptor number we own; nothing else in this
            // process uses it any more.
            unsafe { libc::close(fd) };
        }
    }
}

/// Nanoseconds of `CLOCK_BOOTTIME`: one clock for every process on the
/// machine, suspend included. Through libc rather than rustix: rustix
/// reads the clock from the vDSO it finds itself, which crashes programs
/// run under valgrind (libdiscrec's C users run theirs there).
pub(crate) fn boottime_ns() -> u128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_BOOTTIME exists
    // on every kernel discrec runs on (2.6.39+).
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if r != 0 {
        return 0;
    }
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// Whether this process is a child subreaper (`PR_GET_CHILD_SUBREAPER`).
/// Through libc rather than rustix, whose raw `prctl` valgrind reports as
/// passing uninitialised bytes (libdiscrec's C users run valgrind).
pub(crate) fn child_subreaper() -> bool {
    let mut on: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer,
    // which points to `on`.
    let r = unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut on as *mut libc::c_int) };
    r == 0 && on != 0
}

/// Make this process a child subreaper, or not (`PR_SET_CHILD_SUBREAPER`).
pub(crate) fn set_child_subreaper(on: bool) {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, libc::c_ulong::from(on)) };
}

/// Make `command`'s process get SIGKILL when this process dies (however:
/// a SIGKILL, a crash), so that it never outlives its supervisor.
pub(crate) fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes async-signal-safe system calls (prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The parent died before the line above: no signal will come.
            if rustix::process::getppid() != Some(parent) {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

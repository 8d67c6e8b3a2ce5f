//! The only `unsafe` in discrec: system calls whose safe wrappers need a
//! promise from the caller. Each function states the promise it keeps.
//! Everything goes through rustix except `fork(2)` and `close_range(2)`,
//! which rustix does not offer, through libc.

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

/// An ioctl whose return value is part of the answer. rustix's ready-made
/// patterns drop it, yet the CD-ROM ioctls return positive values that
/// matter: `CDROM_DRIVE_STATUS` answers with it, and `CDROMEJECT` on a
/// locked tray returns 2 (a SCSI CHECK CONDITION), which a wrapper that
/// only tests for -1 would report as success.
struct RawIoctl {
    opcode: rustix::ioctl::Opcode,
    arg: *mut std::ffi::c_void,
}

// SAFETY: the opcode and argument are passed through unchanged; callers
// below only pass opcodes whose argument is an integer or a pointer to
// memory they own for the duration of the call, and `output_from_ptr`
// does not touch the argument.
unsafe impl rustix::ioctl::Ioctl for RawIoctl {
    type Output = i32;
    const IS_MUTATING: bool = true;
    fn opcode(&self) -> rustix::ioctl::Opcode {
        self.opcode
    }
    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        self.arg
    }
    unsafe fn output_from_ptr(out: rustix::ioctl::IoctlOutput, _: *mut std::ffi::c_void) -> rustix::io::Result<i32> {
        Ok(out)
    }
}

/// A CD-ROM ioctl that takes an integer argument (`CDROM_DRIVE_STATUS`,
/// `CDROMEJECT`, `CDROMCLOSETRAY`, `CDROM_LOCKDOOR`, ...), returning what
/// the kernel returned.
pub fn cdrom_ioctl(fd: std::os::fd::BorrowedFd<'_>, opcode: u32, arg: usize) -> std::io::Result<i32> {
    // SAFETY: the CD-ROM ioctls this is used with take their argument by
    // value (an integer in the pointer slot); nothing is dereferenced.
    unsafe { rustix::ioctl::ioctl(fd, RawIoctl { opcode: opcode as _, arg: arg as *mut std::ffi::c_void }) }
        .map_err(Into::into)
}

/// `struct sg_io_hdr` of `<scsi/sg.h>`.
#[repr(C)]
struct SgIoHdr {
    interface_id: i32,
    dxfer_direction: i32,
    cmd_len: u8,
    mx_sb_len: u8,
    iovec_count: u16,
    dxfer_len: u32,
    dxferp: *mut std::ffi::c_void,
    cmdp: *const u8,
    sbp: *mut u8,
    timeout: u32,
    flags: u32,
    pack_id: i32,
    usr_ptr: *mut std::ffi::c_void,
    status: u8,
    masked_status: u8,
    msg_status: u8,
    sb_len_wr: u8,
    host_status: u16,
    driver_status: u16,
    resid: i32,
    duration: u32,
    info: u32,
}

const SG_IO: u32 = 0x2285;

/// Data phase of a SCSI command.
pub enum DataIn<'a> {
    /// No data.
    None,
    /// Data from the device into this buffer.
    FromDevice(&'a mut [u8]),
}

/// What the kernel and the device said about one SCSI command.
#[derive(Debug, Clone)]
pub struct SgStatus {
    /// SCSI status (2: CHECK CONDITION).
    pub status: u8,
    /// Host adapter status (e.g. 3: DID_TIME_OUT, 1: DID_NO_CONNECT).
    pub host_status: u16,
    /// Driver status.
    pub driver_status: u16,
    /// Bytes not transferred.
    pub resid: i32,
    /// Sense data, when the device sent some.
    pub sense: Vec<u8>,
}

/// Send one SCSI command with `SG_IO` (works on `/dev/srN` and `/dev/sgN`).
pub fn sg_io(
    fd: std::os::fd::BorrowedFd<'_>,
    cdb: &[u8],
    data: DataIn<'_>,
    timeout_ms: u32,
) -> std::io::Result<SgStatus> {
    let mut sense = [0u8; 64];
    let (dir, ptr, len) = match data {
        DataIn::None => (-1, std::ptr::null_mut(), 0),
        DataIn::FromDevice(buf) => (-3, buf.as_mut_ptr().cast(), buf.len() as u32),
    };
    let mut hdr = SgIoHdr {
        interface_id: b'S' as i32,
        dxfer_direction: dir,
        cmd_len: cdb.len() as u8,
        mx_sb_len: sense.len() as u8,
        iovec_count: 0,
        dxfer_len: len,
        dxferp: ptr,
        cmdp: cdb.as_ptr(),
        sbp: sense.as_mut_ptr(),
        timeout: timeout_ms,
        flags: 0,
        pack_id: 0,
        usr_ptr: std::ptr::null_mut(),
        status: 0,
        masked_status: 0,
        msg_status: 0,
        sb_len_wr: 0,
        host_status: 0,
        driver_status: 0,
        resid: 0,
        duration: 0,
        info: 0,
    };
    // SAFETY: every pointer in `hdr` points into `cdb`, `sense` or the
    // caller's buffer, with the lengths given, all alive until the ioctl
    // returns; SG_IO is synchronous.
    unsafe {
        rustix::ioctl::ioctl(fd, RawIoctl { opcode: SG_IO as _, arg: (&mut hdr as *mut SgIoHdr).cast() })?;
    }
    let n = (hdr.sb_len_wr as usize).min(sense.len());
    Ok(SgStatus {
        status: hdr.status,
        host_status: hdr.host_status,
        driver_status: hdr.driver_status,
        resid: hdr.resid,
        sense: sense[..n].to_vec(),
    })
}

/// Take a POSIX write lock (`F_SETLK`) on the one byte at `offset` of the
/// file of `fd` (opened for writing). It shows in `/proc/locks` with our
/// pid and the offset, and goes away when this process ends or closes any
/// descriptor of the file. rustix only locks whole files.
pub(crate) fn posix_lock_byte(fd: &impl std::os::fd::AsFd, offset: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: all-zero is a valid `struct flock`; every field used is set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = libc::off_t::try_from(offset).map_err(|_| std::io::Error::other("lock offset out of range"))?;
    fl.l_len = 1;
    // SAFETY: F_SETLK reads the `struct flock` we own for the duration of the call.
    if unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_SETLK, &fl) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
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

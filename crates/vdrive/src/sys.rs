//! The memory the kernel shares with us: the mapping of a `/dev/uioN`
//! region, read and written only through bounds-checked copies and atomic
//! 32-bit loads and stores. The only `unsafe` of this crate.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};

/// A shared, writable mapping of a uio region.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; every access goes through
// copies or atomics below, so moving or sharing the handle is sound.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Map `len` bytes of `fd` (a uio device) at offset 0, shared.
    #[doc(alias = "mmap")]
    pub fn new(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
        use rustix::mm::{mmap, MapFlags, ProtFlags};
        // SAFETY: a fresh mapping at an address the kernel picks; nothing
        // else refers to it.
        let ptr =
            unsafe { mmap(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, fd, 0)? };
        Ok(Mapping { ptr: ptr.cast(), len })
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: [`Mapping::new`] maps a region).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, off: usize, len: usize) -> io::Result<()> {
        match off.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the kernel pointed at bytes {off}+{len}, outside the {}-byte ring", self.len),
            )),
        }
    }

    fn atomic(&self, off: usize) -> io::Result<&AtomicU32> {
        self.check(off, 4)?;
        if off % 4 != 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unaligned ring word at {off}")));
        }
        // SAFETY: in bounds and aligned (checked above); the page is shared
        // with the kernel, which also accesses it as a 32-bit word.
        Ok(unsafe { &*self.ptr.add(off).cast::<AtomicU32>() })
    }

    /// Load the 32-bit word at `off` (acquire: data the kernel wrote before
    /// it is visible after).
    pub fn load_u32(&self, off: usize) -> io::Result<u32> {
        Ok(self.atomic(off)?.load(Ordering::Acquire))
    }

    /// Store the 32-bit word at `off` (release: what we wrote before it is
    /// visible to the kernel first).
    pub fn store_u32(&self, off: usize, v: u32) -> io::Result<()> {
        self.atomic(off)?.store(v, Ordering::Release);
        Ok(())
    }

    /// Copy `buf.len()` bytes at `off` out of the mapping.
    pub fn read(&self, off: usize, buf: &mut [u8]) -> io::Result<()> {
        self.check(off, buf.len())?;
        // SAFETY: in bounds (checked); `buf` is ours and cannot overlap the
        // mapping.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(off), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Write `len` bytes of the mapping at `off` to `file` at `file_off`
    /// (`pwrite` from the shared pages: no copy of our own).
    #[doc(alias = "pwrite")]
    pub fn write_to_file(&self, off: usize, len: usize, file: &std::fs::File, file_off: u64) -> io::Result<()> {
        self.check(off, len)?;
        // SAFETY: in bounds (checked). The bytes are a command's data,
        // which the kernel leaves alone until the command completes; the
        // slice lives only for these pwrite calls.
        let data = unsafe { std::slice::from_raw_parts(self.ptr.add(off), len) };
        std::os::unix::fs::FileExt::write_all_at(file, data, file_off)
    }

    /// Copy `data` into the mapping at `off`.
    pub fn write(&self, off: usize, data: &[u8]) -> io::Result<()> {
        self.check(off, data.len())?;
        // SAFETY: in bounds (checked); `data` cannot overlap the mapping.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(off), data.len()) };
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the region we mapped, unmapped once.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

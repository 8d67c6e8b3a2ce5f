//! A cancel signal for a wait or a write: raised from any thread, any
//! number of times, never blocking; seen by `poll` as a readable
//! descriptor; cleared when the next wait or write begins.
//!
//! An `eventfd` counter in non-blocking mode: raising adds one (a counter
//! near its 2^64 limit refuses with EAGAIN, which means raised already),
//! clearing reads it back to zero. A socket pair, which this replaced,
//! blocks its writer once about 280 unread cancels fill its buffer: a
//! `CancelWrite` repeated every 10 ms during a slow close hung the caller.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::{eventfd, EventfdFlags};

/// A cancel signal (see the module documentation).
#[derive(Debug)]
pub struct Cancel {
    fd: OwnedFd,
}

impl Cancel {
    /// A signal, not raised.
    pub fn new() -> std::io::Result<Cancel> {
        Ok(Cancel { fd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)? })
    }

    /// Raise it: whoever polls its descriptor wakes. Never blocks.
    pub fn raise(&self) {
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Clear it (before a new wait or write, so that an old cancel does
    /// not end it).
    pub fn clear(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
    }

    /// Whether it is raised, without clearing it.
    pub fn is_raised(&self) -> bool {
        let mut fds = [rustix::event::PollFd::new(&self.fd, rustix::event::PollFlags::IN)];
        let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
        matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
    }
}

impl AsFd for Cancel {
    /// Readable while raised.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::Cancel;

    #[test]
    fn raising_never_blocks_and_clearing_resets() {
        let c = Cancel::new().unwrap();
        assert!(!c.is_raised());
        // Far more than any socket buffer holds.
        for _ in 0..100_000 {
            c.raise();
        }
        assert!(c.is_raised());
        c.clear();
        assert!(!c.is_raised());
        c.raise();
        assert!(c.is_raised());
    }
}

//! SIGINT, SIGTERM and SIGHUP for `lock`: caught into one pipe
//! (signal-hook writes a byte from the handler) and a flag each, so that
//! `lock` can wait for them with `poll` and the library can end a wait on
//! them (its cancel descriptor).

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::process::Signal;

/// The caught signals.
pub struct StopSignals {
    pipe: UnixStream,
    flags: [(Signal, Arc<AtomicBool>); 3],
}

impl StopSignals {
    /// Catch them from now on.
    pub fn install() -> std::io::Result<StopSignals> {
        let (rd, wr) = UnixStream::pair()?;
        rd.set_nonblocking(true)?;
        let flags = [Signal::TERM, Signal::HUP, Signal::INT].map(|s| (s, Default::default()));
        for (sig, flag) in &flags {
            signal_hook::flag::register(sig.as_raw(), Arc::clone(flag))?;
            signal_hook::low_level::pipe::register(sig.as_raw(), wr.try_clone()?)?;
        }
        Ok(StopSignals { pipe: rd, flags })
    }

    /// Readable once a signal came.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.pipe)
    }

    /// The signal that came, if one did.
    pub fn which(&self) -> Option<Signal> {
        self.flags.iter().find(|(_, f)| f.load(Ordering::SeqCst)).map(|(s, _)| *s)
    }

    /// The signal that came, forgotten (so a later one is seen anew).
    pub fn take(&self) -> Option<Signal> {
        self.flags.iter().find(|(_, f)| f.swap(false, Ordering::SeqCst)).map(|(s, _)| *s)
    }

    /// Block until a signal comes or `limit` passes; true if one came.
    pub fn wait_for(&self, limit: std::time::Duration) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&self.pipe, PollFlags::IN)];
        let ts = Timespec { tv_sec: limit.as_secs() as _, tv_nsec: limit.subsec_nanos() as _ };
        if matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0) {
            let mut buf = [0u8; 16];
            while matches!((&self.pipe).read(&mut buf), Ok(n) if n > 0) {}
            return true;
        }
        false
    }

    /// Block until a signal comes.
    pub fn wait(&self) {
        use rustix::event::{poll, PollFd, PollFlags};
        loop {
            let mut fds = [PollFd::new(&self.pipe, PollFlags::IN)];
            if matches!(poll(&mut fds, None), Ok(n) if n > 0) {
                let mut buf = [0u8; 16];
                while matches!((&self.pipe).read(&mut buf), Ok(n) if n > 0) {}
                return;
            }
        }
    }
}

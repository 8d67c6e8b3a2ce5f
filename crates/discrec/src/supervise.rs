//! A command run while holding a drive, as a child that a supervisor
//! watches: [`Recorder::run_holding`]. It owns the command's process tree
//! (the command and every descendant seen, orphans included), reaping
//! what ends of it and stopping all of it when a cluster lock is lost,
//! and nothing else of the calling program's: its other children are
//! neither reaped nor signalled.

use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::error::{Error, Result};
use crate::recorder::Recorder;

/// The process's subreaper setting while commands are supervised: the
/// setting is the process's, so with several `run_holding` at once (on
/// other threads) only the last to end puts back what was there before
/// the first began.
struct Subreaper;

/// Supervisions running, and the setting from before the first.
static SUPERVISING: std::sync::Mutex<(usize, bool)> = std::sync::Mutex::new((0, false));

impl Subreaper {
    fn enter() {
        let mut s = SUPERVISING.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 == 0 {
            s.1 = crate::sys::child_subreaper();
        }
        s.0 += 1;
        crate::sys::set_child_subreaper(true);
    }

    fn leave() {
        let mut s = SUPERVISING.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = s.0.saturating_sub(1);
        if s.0 == 0 {
            crate::sys::set_child_subreaper(s.1);
        }
    }
}

/// How often [`Recorder::run_holding`] looks at its command, the signals
/// to forward and the cluster lock.
const POLL: Duration = Duration::from_millis(50);

impl Recorder {
    /// Run `command` while holding the drive, as a child, and return its
    /// exit status once it and every process it left running have ended:
    /// what `discrec lock TARGET -- COMMAND` does under a cluster lock.
    /// The child is started by [`Recorder::spawn_holding`] (call this
    /// from a thread that lives as long as the command). While it runs, each signal `forward` returns
    /// (it is asked every 50 ms) is sent to it; the processes it starts
    /// are followed, and those that end orphaned are reaped; if this
    /// handle's cluster lock is lost, the command and every process of
    /// its tree are stopped (SIGTERM, then SIGKILL after a sixth of the
    /// lease's time to live, so all are gone before the lease can
    /// expire) and the error says why. Every child this process gains
    /// while the command runs is taken for one of the command's orphans
    /// (its own environment is no proof), unless it carries another
    /// supervised command's `DISCREC_SUPERVISED` mark: a program that
    /// starts children from other threads meanwhile should mark them so.
    /// The calling program's children from before the call are left
    /// alone, and its subreaper setting is put back. The drive stays
    /// held: release it as usual.
    pub fn run_holding(
        &mut self,
        command: &mut std::process::Command,
        keep_claim: bool,
        forward: &mut dyn FnMut() -> Option<Signal>,
    ) -> Result<std::process::ExitStatus> {
        Subreaper::enter();
        let r = self.supervise(command, keep_claim, forward);
        Subreaper::leave();
        r
    }

    fn supervise(
        &mut self,
        command: &mut std::process::Command,
        keep_claim: bool,
        forward: &mut dyn FnMut() -> Option<Signal>,
    ) -> Result<std::process::ExitStatus> {
        use std::sync::mpsc::RecvTimeoutError;
        let program = command.get_program().to_string_lossy().into_owned();
        let token = Tree::token();
        command.env(TREE_VAR, &token);
        let mut tree = Tree::new(token);
        let child = self.spawn_holding(command, keep_claim)?;
        let pid = child.id() as i32;
        tree.add(pid);
        let (tx, ended) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut child = child;
            let _ = tx.send(child.wait());
        });
        let waiting = |e: std::io::Error| Error::Fail { what: format!("waiting for {program}"), source: e };
        let status = loop {
            if let (Some(sig), Some(p)) = (forward(), Pid::from_raw(pid)) {
                let _ = rustix::process::kill_process(p, sig);
            }
            match ended.recv_timeout(POLL) {
                Ok(st) => break st.map_err(waiting),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break Err(waiting(std::io::ErrorKind::Other.into())),
            }
            tree.grow();
            tree.reap(pid);
            if let Err(e) = self.check_cluster_lock() {
                // Everything is dead at 5/6 of the time to live: before
                // the lease can expire (it is reported lost at 2/3).
                let grace = self.cluster_hold_ttl().map(|t| t / 6).unwrap_or_default();
                tree.stop(grace, pid);
                break Err(e);
            }
        };
        let _ = waiter.join();
        // Reaped: its pid may be anyone's from now on (its orphans are
        // ours now, and carry the mark).
        tree.pids.retain(|&(p, _)| p != pid);
        let status = status?;
        // The command has ended; what it left running still runs under
        // the lock (as it would hold the local lock through the inherited
        // descriptor): the drive is held until the last of it ends.
        // Empty twice, a look apart: an orphan still being handed to this
        // process is seen on the second.
        let mut empty_once = false;
        loop {
            let living = tree.living(pid);
            if living.is_empty() {
                if empty_once {
                    return Ok(status);
                }
                empty_once = true;
                std::thread::sleep(POLL);
                continue;
            }
            empty_once = false;
            if let Some(sig) = forward() {
                for p in living.iter().filter_map(|&p| Pid::from_raw(p)) {
                    let _ = rustix::process::kill_process(p, sig);
                }
            }
            if let Err(e) = self.check_cluster_lock() {
                let grace = self.cluster_hold_ttl().map(|t| t / 6).unwrap_or_default();
                tree.stop(grace, pid);
                return Err(e);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The variable that marks the processes of one supervised command: they
/// inherit it, so an orphan of the tree reparented to this process is
/// told from the calling program's own children.
const TREE_VAR: &str = "DISCREC_SUPERVISED";

/// The processes of a supervised command: its pid and every descendant
/// seen since, each with its start time (so that a pid used again by
/// another process is not taken for it). An orphan reparented to this
/// process (a subreaper) is still known by the pid it had; one that left
/// the tree between two looks is known as a child this process gained
/// while the command ran that is not another command's (by the mark in
/// its environment): it is adopted, environment cleared or not.
struct Tree {
    pids: Vec<(i32, u64)>,
    /// This command's value of [`TREE_VAR`].
    token: String,
    /// This process's children before the command started: the caller's.
    theirs: Vec<(i32, u64)>,
}

/// This process's children, with their start times.
fn our_children() -> Vec<(i32, u64)> {
    crate::procfs::children(std::process::id() as i32)
        .into_iter()
        .filter_map(|c| Some((c, crate::procfs::start_time(c)?)))
        .collect()
}

impl Tree {
    fn new(token: String) -> Tree {
        Tree { pids: Vec::new(), token, theirs: our_children() }
    }

    /// A mark no other command of this process has.
    fn token() -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        format!("{}.{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// Whether process `pid` carries the mark of another supervised
    /// command of this process.
    fn anothers(&self, pid: i32) -> bool {
        let mine = format!("{TREE_VAR}={}", self.token);
        std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v.starts_with(TREE_VAR.as_bytes()) && v != mine.as_bytes()))
    }

    fn knows(&self, pid: i32) -> bool {
        self.pids.iter().any(|&(p, _)| p == pid)
    }

    fn add(&mut self, pid: i32) {
        if let (false, Some(t)) = (self.knows(pid), crate::procfs::start_time(pid)) {
            self.pids.push((pid, t));
        }
    }

    /// Note the descendants of every process known and the orphans of
    /// the tree among this process's children, and forget those that are
    /// gone (their pid may be another process's soon).
    fn grow(&mut self) {
        self.pids.retain(|&(p, t)| crate::procfs::start_time(p) == Some(t));
        for c in our_children() {
            // Only a live one: an ended child shows no environment, and
            // the caller may be about to wait for it.
            if !self.theirs.contains(&c) && !self.knows(c.0) && crate::procfs::is_running(c.0) && !self.anothers(c.0) {
                self.pids.push(c);
            }
        }
        let known: Vec<i32> = self.pids.iter().map(|&(p, _)| p).collect();
        for p in known {
            for d in crate::procfs::descendants(p) {
                self.add(d);
            }
        }
    }

    /// Reap the processes of the tree that ended as children of this
    /// process (orphans), except `spare`, which a waiting thread reaps.
    fn reap(&mut self, spare: i32) {
        let me = std::process::id() as i32;
        for p in crate::procfs::children(me) {
            if p == spare || !self.knows(p) || crate::procfs::is_running(p) {
                continue;
            }
            if let Some(pid) = Pid::from_raw(p) {
                let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
            }
            self.pids.retain(|&(q, _)| q != p);
        }
    }

    /// The processes of the tree still running.
    fn living(&mut self, spare: i32) -> Vec<i32> {
        self.grow();
        self.reap(spare);
        self.pids.iter().map(|&(p, _)| p).filter(|&p| crate::procfs::is_running(p)).collect()
    }

    /// Stop every process of the tree: SIGTERM, then SIGKILL to those
    /// still there after `grace`.
    fn stop(&mut self, grace: Duration, spare: i32) {
        let signal_all = |pids: Vec<i32>, sig: Signal| {
            for p in pids {
                if let Some(pid) = Pid::from_raw(p) {
                    let _ = rustix::process::kill_process(pid, sig);
                }
            }
        };
        signal_all(self.living(spare), Signal::TERM);
        let t = Instant::now();
        while t.elapsed() < grace {
            if self.living(spare).is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        signal_all(self.living(spare), Signal::KILL);
    }
}

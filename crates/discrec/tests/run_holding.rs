//! `Recorder::run_holding`: a command runs as a child holding the drive,
//! hears the signals its supervisor forwards, and its status comes back.

use std::process::Command;
use std::time::{Duration, Instant};

use discrec::{Error, Recorder};
use rustix::process::Signal;

use crate::support::Scratch;

/// run_holding takes the children this process gains meanwhile for its
/// command's; under `cargo test` (tests as threads of one process) these
/// tests would take each other's. One at a time. (nextest runs each test
/// in a process of its own.)
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_command_holds_the_drive_hears_forwarded_signals_and_its_status_comes_back() {
    let _one = one_at_a_time();
    let s = Scratch::new();
    let img = s.image("a.img");
    let started = s.dir.path().join("started");
    let mut rec = Recorder::open_in(&img, &s.run).unwrap();
    rec.acquire_exclusive_access(false, "Runner").unwrap();
    let other = Recorder::open_in(&img, &s.run).unwrap();
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!(
        "trap 'exit 7' TERM; echo \"$DISCREC_HOLDER_PID\" > '{}'; while :; do sleep 0.05; done",
        started.display()
    ));
    let (mut owner_seen, mut sent) = (None, false);
    let t = Instant::now();
    let mut forward = || {
        assert!(t.elapsed() < Duration::from_secs(20), "the command never started");
        if sent || !started.exists() {
            return None;
        }
        // While the command runs, the drive is held under our name.
        owner_seen = other.exclusive_access_owner().unwrap().and_then(|o| o.client_name);
        sent = true;
        Some(Signal::TERM)
    };
    let status = rec.run_holding(&mut c, false, &mut forward).unwrap();
    assert_eq!(status.code(), Some(7), "the forwarded SIGTERM reached the command's trap");
    assert_eq!(owner_seen.as_deref(), Some("Runner"));
    let holder_pid: u32 = std::fs::read_to_string(&started).unwrap().trim().parse().unwrap();
    assert_eq!(holder_pid, std::process::id(), "the command is told which process holds the drive for it");
    // Still held by this handle until it releases.
    assert_eq!(rec.lock_count(), 1);
    rec.release_exclusive_access().unwrap();
    assert!(other.exclusive_access_owner().unwrap().is_none());
}

#[test]
fn only_a_holder_runs_a_command_and_a_missing_one_is_named() {
    let _one = one_at_a_time();
    let s = Scratch::new();
    let img = s.image("a.img");
    let mut rec = Recorder::open_in(&img, &s.run).unwrap();
    let e = rec.run_holding(&mut Command::new("true"), false, &mut || None).unwrap_err();
    assert!(matches!(e, Error::NotLocked { .. }), "{e}");
    rec.acquire_exclusive_access(false, "Runner").unwrap();
    let e = rec.run_holding(&mut Command::new("/nonexistent/tool"), true, &mut || None).unwrap_err();
    assert_eq!(e.exit_code(), 127, "{e}");
    assert!(e.to_string().contains("/nonexistent/tool"), "{e}");
    let ok = rec.run_holding(&mut Command::new("true"), true, &mut || None).unwrap();
    assert!(ok.success());
}

#[test]
fn what_the_command_leaves_running_keeps_the_drive_and_the_callers_children_are_its_own() {
    let _one = one_at_a_time();
    let s = Scratch::new();
    let img = s.image("a.img");
    let mut rec = Recorder::open_in(&img, &s.run).unwrap();
    rec.acquire_exclusive_access(false, "Runner").unwrap();
    // Children of the calling program: one still running, one ended and
    // not yet waited for. run_holding must neither reap nor signal them.
    // (Marked as another's, as run_holding's docs ask of children started
    // meanwhile: under `cargo test` another test's run_holding runs on
    // another thread of this process.)
    let mark = ("DISCREC_SUPERVISED", "the caller");
    let mut running = Command::new("sleep").arg("2").env(mark.0, mark.1).spawn().unwrap();
    let mut ended = Command::new("true").env(mark.0, mark.1).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let subreaper = rustix::process::child_subreaper().unwrap();
    // The command leaves a process running: run_holding returns once
    // that one has ended too.
    let t = Instant::now();
    let st =
        rec.run_holding(Command::new("sh").args(["-c", "sleep 0.7 </dev/null & exit 3"]), true, &mut || None).unwrap();
    assert_eq!(st.code(), Some(3));
    assert!(t.elapsed() >= Duration::from_millis(600), "returned while the command's child ran: {:?}", t.elapsed());
    assert!(ended.wait().unwrap().success(), "the caller's ended child was reaped by run_holding");
    assert!(running.try_wait().unwrap().is_none(), "the caller's running child was signalled");
    assert_eq!(rustix::process::child_subreaper().unwrap(), subreaper, "the subreaper setting was not put back");
    let _ = running.kill();
    let _ = running.wait();
    rec.release_exclusive_access().unwrap();
}

#[test]
fn an_orphan_that_clears_its_environment_still_keeps_the_drive() {
    let _one = one_at_a_time();
    // A double fork whose grandchild clears its environment leaves the
    // tree within one look: it is still the command's.
    let s = Scratch::new();
    let img = s.image("a.img");
    let mut rec = Recorder::open_in(&img, &s.run).unwrap();
    rec.acquire_exclusive_access(false, "Runner").unwrap();
    let t = Instant::now();
    let st = rec
        .run_holding(
            Command::new("sh").args(["-c", "(setsid env -i sleep 0.7 </dev/null &); exit 0"]),
            true,
            &mut || None,
        )
        .unwrap();
    assert!(st.success());
    assert!(t.elapsed() >= Duration::from_millis(600), "returned while the orphan ran: {:?}", t.elapsed());
    rec.release_exclusive_access().unwrap();
}

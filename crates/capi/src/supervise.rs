//! A command run while holding a recorder, for C: `discrec lock TARGET --
//! COMMAND` as a call, with signals passed on to the command.

use std::ffi::c_char;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::{ffi, locked, recorder, run, Failure};

/// How long a command has to end after SIGTERM, when its handle is
/// closed, before it gets SIGKILL.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Run the command `argv` (`argv[0]` found in `PATH`; the array ends with
/// NULL) while this handle holds the recorder (acquire it first;
/// otherwise `DISCREC_E_NOT_LOCKED`), as a child the library watches, and
/// wait until it and every process it left running have ended: what
/// `discrec lock TARGET -- COMMAND` does. The command's own discrec calls
/// run under this hold; the kernel's claim on the drive is handed to it
/// unless `keep_claim`. Under a cluster lock that is lost, the command and
/// its processes are stopped and the call fails saying why. Its exit code
/// goes to `*exit_status` (128 + N when signal N ended it, as a shell
/// says). The handle is busy until it returns;
/// `discrec_recorder_signal_command` from another thread passes a signal
/// on to the command, and `discrec_recorder_close` from another thread
/// stops it (SIGTERM, SIGKILL two seconds later) and returns once this
/// call has (processes the command left running, which a close does not
/// signal, keep it waiting). While it runs, this process is a subreaper and
/// takes every child it gains for one of the command's orphans: a program
/// that starts children from other threads meanwhile should set
/// `DISCREC_SUPERVISED` (any value) in their environment, or they may be
/// reaped here.
/// The recorder stays held: release it as usual.
///
/// # Safety
/// `argv` is NULL or a NULL-terminated array of NUL-terminated strings;
/// `exit_status` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_run_holding(
    rec: *mut crate::discrec_recorder,
    argv: *const *const c_char,
    keep_claim: bool,
    exit_status: *mut i32,
) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let args = unsafe { ffi::args(argv, "argv") }?;
        ffi::required(exit_status, "exit_status")?;
        let Some((program, rest)) = args.split_first() else {
            return Err(Failure::invalid_arg("argv is empty: give the command to run, then NULL".into()));
        };
        let h = recorder(rec)?;
        let mut command = std::process::Command::new(program);
        command.args(rest);
        let mut r = locked(&h.rec);
        if h.closed.load(Ordering::SeqCst) {
            return Err(Failure::invalid_handle("the recorder handle was closed".into()));
        }
        // A signal asked for before this run is not for its command.
        h.signal.store(0, Ordering::SeqCst);
        // A close of the handle (from another thread) stops the command:
        // SIGTERM once, then SIGKILL once if it is still there after
        // CLOSE_GRACE.
        let mut closed_at: Option<Instant> = None;
        let mut killed = false;
        let mut forward = || {
            if h.closed.load(Ordering::SeqCst) {
                match closed_at {
                    None => {
                        closed_at = Some(Instant::now());
                        return Some(Signal::TERM);
                    }
                    Some(at) if !killed && at.elapsed() >= CLOSE_GRACE => {
                        killed = true;
                        return Some(Signal::KILL);
                    }
                    _ => return None,
                }
            }
            Signal::from_named_raw(h.signal.swap(0, Ordering::SeqCst))
        };
        let status = r.run_holding(&mut command, keep_claim, &mut forward)?;
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(255);
        // SAFETY: checked non-NULL, writable by the caller's guarantee.
        unsafe { ffi::put(exit_status, code, "exit_status") }
    })
}

/// Send signal `signo` (`SIGTERM`, `SIGINT`, ...) to the command
/// `discrec_recorder_run_holding` runs on this handle (from another
/// thread, or a signal handler's thread): it is passed on within 50 ms.
/// Without a command running, it is dropped. A number that is not one
/// of the named signals (1 to 31; real-time signals are not passed on)
/// is `DISCREC_E_INVALIDARG`.
#[no_mangle]
pub extern "C" fn discrec_recorder_signal_command(rec: *mut crate::discrec_recorder, signo: i32) -> i32 {
    run(|| {
        if Signal::from_named_raw(signo).is_none() {
            return Err(Failure::invalid_arg(format!(
                "{signo} is not a signal discrec passes on: give a named one, 1 to 31, such as SIGTERM (15)"
            )));
        }
        recorder(rec)?.signal.store(signo, Ordering::SeqCst);
        Ok(())
    })
}

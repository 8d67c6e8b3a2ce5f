//! `discrec._discrec`: the Python bindings (PyO3), wrapped by the pure
//! Python package `discrec` (`python/discrec`), which adds the exception
//! classes and the type stubs.
//!
//! The GIL is released while a call waits for a lock, talks to a drive or
//! writes, so other Python threads run (and can cancel a write). Errors
//! become the exception class of their IMAPI2 name (`discrec._errors`),
//! each carrying `hresult` and `name`.

use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The Python exception for a discrec error: the class its kind names
/// ([`discrec::error::ErrorKind::python_class`]) in `discrec._errors`.
fn raise(py: Python<'_>, e: discrec::Error) -> PyErr {
    let (name, message) = (e.name(), e.one_line());
    // Win32 codes as HRESULT_FROM_WIN32, as C gets them.
    let code = e.kind().hresult();
    let made = (|| -> PyResult<PyErr> {
        let errors = py.import("discrec._errors")?;
        let cls = errors.getattr(e.kind().python_class)?;
        Ok(PyErr::from_value(cls.call1((message.clone(), name, code))?))
    })();
    made.unwrap_or_else(|_| PyRuntimeError::new_err(format!("{message} ({name} 0x{code:08X})")))
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// [`locked`] if nobody holds it now, else `None`.
fn try_locked<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// Run `work` on a thread of its own while this one, without the GIL,
/// waits for it and every 50 ms lets Python run its signal handlers: a
/// KeyboardInterrupt (Ctrl-C) or another exception from a handler calls
/// `cancel`, waits for `work` to end, gives `undo` its result (to give
/// back what it got after all) and raises the exception.
fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    work: impl FnOnce() -> T + Send + 'static,
    cancel: impl Fn(),
    undo: impl FnOnce(T),
) -> PyResult<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let rx = Mutex::new(rx);
    let worker = std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    loop {
        match py.allow_threads(|| locked(&rx).recv_timeout(Duration::from_millis(50))) {
            Ok(v) => {
                let _ = worker.join();
                // A signal that came with the result: its exception is
                // raised, and what the call got is given back, so that an
                // exception out of the call always means nothing was taken.
                if let Err(e) = py.check_signals() {
                    undo(v);
                    return Err(e);
                }
                return Ok(v);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = worker.join();
                return Err(PyRuntimeError::new_err("discrec: the worker thread ended without a result"));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Err(e) = py.check_signals() {
            cancel();
            if let Ok(v) = py.allow_threads(|| locked(&rx).recv()) {
                undo(v);
            }
            let _ = worker.join();
            return Err(e);
        }
    }
}

/// The recorder at `path`, opened without the GIL.
fn open(py: Python<'_>, path: &std::path::Path) -> PyResult<discrec::Recorder> {
    py.allow_threads(|| discrec::Recorder::open(path)).map_err(|e| raise(py, e))
}

/// A duration of `t` seconds, or `InvalidArgumentError`.
fn seconds(py: Python<'_>, t: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(t).map_err(|_| {
        raise(
            py,
            discrec::Error::InvalidArgument(format!(
                "timeout {t} is not a number of seconds from 0 to 2^64; use None to wait forever"
            )),
        )
    })
}

/// An owner as a dict: client_name, pid, uid, user, since (seconds since
/// the epoch), by_discrec, command, host.
fn owner_dict<'py>(py: Python<'py>, o: &discrec::Owner) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("client_name", &o.client_name)?;
    d.set_item("pid", o.pid)?;
    d.set_item("uid", o.uid)?;
    d.set_item("user", &o.user)?;
    d.set_item("since", o.since.and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs_f64()))?;
    d.set_item("by_discrec", o.by_discrec)?;
    d.set_item("command", &o.command)?;
    d.set_item("host", &o.host)?;
    Ok(d)
}

/// A Rust value as Python objects (dicts, lists, str, int, float, None),
/// through its JSON form: the same fields C's `*_json` calls give.
fn to_py(py: Python<'_>, v: &impl serde::Serialize) -> PyResult<PyObject> {
    let text =
        serde_json::to_string(v).map_err(|e| PyRuntimeError::new_err(format!("discrec: cannot convert: {e}")))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// A wait as Python gives it: 0 none (fail at once when another client
/// holds the drive), a number of seconds, None forever.
fn wait_policy(py: Python<'_>, timeout: Option<f64>) -> PyResult<discrec::WaitPolicy> {
    Ok(match timeout {
        Some(0.0) => discrec::WaitPolicy::NoWait,
        Some(t) => discrec::WaitPolicy::at_most(Some(seconds(py, t)?)),
        None => discrec::WaitPolicy::at_most(None),
    })
}

/// The cancel signals of the waits in progress on one recorder, each with
/// the process that made it: every wait has its own, so that Ctrl-C in one
/// thread ends that thread's call only, and a forked child (which shares
/// the descriptors) never ends its parent's.
#[derive(Default)]
struct Waits(Mutex<Vec<(u32, Arc<discrec::cancel::Cancel>)>>);

impl Waits {
    /// A new signal for a wait that begins.
    fn start(&self) -> PyResult<Arc<discrec::cancel::Cancel>> {
        let c = Arc::new(
            discrec::cancel::Cancel::new()
                .map_err(|e| PyRuntimeError::new_err(format!("discrec: cannot make a cancel signal: {e}")))?,
        );
        locked(&self.0).push((std::process::id(), c.clone()));
        Ok(c)
    }

    /// The wait of `c` has ended.
    fn end(&self, c: &Arc<discrec::cancel::Cancel>) {
        locked(&self.0).retain(|(_, w)| !Arc::ptr_eq(w, c));
    }

    /// End every wait this process has in progress on the recorder.
    fn raise_all(&self) {
        let me = std::process::id();
        for (_, c) in locked(&self.0).iter().filter(|(pid, _)| *pid == me) {
            c.raise();
        }
    }
}

/// The recorder's lock, taken by a wait; while another call (a wait on
/// another thread) holds it, this wait ends when `cancel` is raised
/// (`Cancelled`) or its deadline passes (`RecorderLocked`, naming the
/// holder as a fresh look at the drive sees it).
fn lock_or_cancel<'a>(
    m: &'a Mutex<discrec::Recorder>,
    cancel: &discrec::cancel::Cancel,
    deadline: Option<std::time::Instant>,
    target: &std::path::Path,
) -> discrec::Result<MutexGuard<'a, discrec::Recorder>> {
    loop {
        if let Some(g) = try_locked(m) {
            return Ok(g);
        }
        if cancel.is_raised() {
            return Err(discrec::Error::Cancelled { target: target.to_path_buf() });
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            let owner = discrec::Recorder::open(target)?.exclusive_access_owner()?;
            return Err(match owner {
                Some(o) => discrec::Error::RecorderLocked { target: target.to_path_buf(), owner: Box::new(o) },
                // Free, but the call in the way has the recorder: as if cancelled.
                None => discrec::Error::Cancelled { target: target.to_path_buf() },
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `IDiscRecorder2`: one recorder, a drive or an image file.
#[pyclass(module = "discrec._discrec", name = "Recorder", subclass)]
struct PyRecorder {
    inner: Arc<Mutex<discrec::Recorder>>,
    /// The device node, kept apart so that reading it never waits for a
    /// call in progress.
    path: String,
    /// The waits in progress (ended by `cancel_wait`, `close` and Ctrl-C,
    /// without the recorder's lock, which a waiting call holds).
    waits: Arc<Waits>,
    /// The lock count as of the last call that ended, readable while a
    /// call (a wait) holds the recorder.
    count: Arc<std::sync::atomic::AtomicU32>,
    /// The process that made this object: in a forked child, the
    /// recorder's lock may have been copied held by a thread of the parent
    /// that the child does not have.
    made_by: u32,
    /// The process whose call holds the recorder's lock (0: none): tells a
    /// forked child's own busy thread from a parent's thread it lacks.
    busy: Arc<std::sync::atomic::AtomicU32>,
    /// A signal for the command `run_holding` runs (0: none).
    signal: Arc<std::sync::atomic::AtomicI32>,
}

impl PyRecorder {
    /// Whether this is a forked child's copy whose recorder lock was held,
    /// at the fork, by a thread of the parent: then it stays held here.
    fn stuck(&self) -> bool {
        let me = std::process::id();
        me != self.made_by
            && try_locked(&self.inner).is_none()
            && self.busy.load(std::sync::atomic::Ordering::SeqCst) != me
    }

    /// Run `f` on the recorder without the GIL. In a forked child whose
    /// copy of the recorder was in use by another thread at the fork, an
    /// error instead of a hang.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut discrec::Recorder) -> discrec::Result<T> + Send,
    ) -> PyResult<T> {
        let (inner, count, busy) = (self.inner.clone(), self.count.clone(), self.busy.clone());
        let me = std::process::id();
        let forked = me != self.made_by;
        let mut f = Some(f);
        // Another call (a wait on another thread) may hold the recorder:
        // looked at again every 50 ms, between which Ctrl-C is seen.
        let out = loop {
            let tried = py.allow_threads(|| {
                for _ in 0..5 {
                    let Some(mut r) = try_locked(&inner) else {
                        // In a forked child, a lock copied held (by a
                        // thread of the parent) stays held.
                        if forked && busy.load(std::sync::atomic::Ordering::SeqCst) != me {
                            return Some(Err(None));
                        }
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    busy.store(me, std::sync::atomic::Ordering::SeqCst);
                    let f = f.take().expect("run once");
                    let out = f(&mut r);
                    count.store(r.lock_count(), std::sync::atomic::Ordering::SeqCst);
                    busy.store(0, std::sync::atomic::Ordering::SeqCst);
                    return Some(out.map_err(Some));
                }
                None
            });
            match tried {
                Some(out) => break out,
                None => py.check_signals()?,
            }
        };
        out
        .map_err(|e| match e {
            Some(e) => raise(py, e),
            None => PyRuntimeError::new_err(
                "discrec: this Recorder was in use by another thread when this process forked, and that thread is not in this process; open the recorder again here",
            ),
        })
    }
}

#[pymethods]
impl PyRecorder {
    /// Open the recorder at `path` (`/dev/srN`, a by-id link, an sg node,
    /// or an image file).
    #[new]
    #[pyo3(signature = (path, *_args, **_kwargs))]
    fn new(
        py: Python<'_>,
        path: std::path::PathBuf,
        _args: &Bound<'_, pyo3::types::PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let r = open(py, &path)?;
        let path = r.target().node.to_string_lossy().into_owned();
        Ok(PyRecorder {
            inner: Arc::new(Mutex::new(r)),
            path,
            waits: Default::default(),
            count: Default::default(),
            made_by: std::process::id(),
            busy: Default::default(),
            signal: Default::default(),
        })
    }

    /// `AcquireExclusiveAccess(force, clientName)`: exclusive use, or
    /// `RecorderLockedError` at once if another client has it.
    #[pyo3(signature = (force, client_name))]
    fn acquire_exclusive_access(&self, py: Python<'_>, force: bool, client_name: String) -> PyResult<()> {
        self.with(py, move |r| r.acquire_exclusive_access(force, &client_name))
    }

    /// Wait for the recorder (first come, first served): at most
    /// `timeout` seconds, or forever when it is None.
    #[pyo3(signature = (force, client_name, timeout=None))]
    fn acquire_exclusive_access_wait(
        &self,
        py: Python<'_>,
        force: bool,
        client_name: String,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let timeout = timeout.map(|t| seconds(py, t)).transpose()?;
        if self.stuck() {
            // As `with` says: a forked copy in use at the fork.
            return self.with(py, |_| Ok(()));
        }
        // This call's own signal: Ctrl-C here ends this wait only.
        let own = self.waits.start()?;
        let (inner, rx, tx, busy) = (self.inner.clone(), own.clone(), own.clone(), self.busy.clone());
        let (undo_inner, count, undo_count) = (self.inner.clone(), self.count.clone(), self.count.clone());
        let target = std::path::PathBuf::from(&self.path);
        let r = interruptible(
            py,
            move || {
                // Another call (a wait on another thread) may hold the
                // recorder: this one's cancel and timeout end the wait for
                // it too, and what is left of the timeout goes on.
                let started = std::time::Instant::now();
                let deadline = timeout.and_then(|t| started.checked_add(t));
                let mut r = lock_or_cancel(&inner, &rx, deadline, &target)?;
                let me = std::process::id();
                busy.store(me, std::sync::atomic::Ordering::SeqCst);
                let timeout = timeout.map(|t| t.saturating_sub(started.elapsed()));
                let wait = discrec::recorder::Wait { timeout, cancel: Some(rx.as_fd()), on_wait: None };
                let out = r.wait_for_exclusive_access(force, &client_name, wait);
                count.store(r.lock_count(), std::sync::atomic::Ordering::SeqCst);
                busy.store(0, std::sync::atomic::Ordering::SeqCst);
                out
            },
            move || tx.raise(),
            // Granted just as Ctrl-C came: given back.
            move |r| {
                if r.is_ok() {
                    let mut rec = locked(&undo_inner);
                    let _ = rec.release_exclusive_access();
                    undo_count.store(rec.lock_count(), std::sync::atomic::Ordering::SeqCst);
                }
            },
        );
        self.waits.end(&own);
        r?.map_err(|e| raise(py, e))
    }

    /// End the waits in progress on this recorder (from another thread):
    /// each raises `CancelledError`, having taken nothing.
    fn cancel_wait(&self) {
        self.waits.raise_all();
    }

    /// `ReleaseExclusiveAccess`: one release per acquire.
    fn release_exclusive_access(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |r| r.release_exclusive_access())
    }

    /// `ExclusiveAccessOwner`: the holder's client name (for a program
    /// that is not a discrec client, `command (pid N)`), or None when free.
    #[getter]
    fn exclusive_access_owner(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.with(py, |r| r.exclusive_access_owner()).map(|o| o.map(|o| o.display_name()))
    }

    /// The whole owner as a dict, or None when free.
    fn owner<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match self.with(py, |r| r.exclusive_access_owner())? {
            Some(o) => Ok(Some(owner_dict(py, &o)?)),
            None => Ok(None),
        }
    }

    /// How many acquires this object holds.
    #[getter]
    fn lock_count(&self) -> u32 {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The device node (or image file).
    #[getter]
    fn path(&self) -> String {
        self.path.clone()
    }

    /// INQUIRY identity: a dict with vendor, product, revision.
    fn identity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inq = self.with(py, |r| r.inquiry())?;
        let d = PyDict::new(py);
        d.set_item("vendor", inq.vendor)?;
        d.set_item("product", inq.product)?;
        d.set_item("revision", inq.revision)?;
        Ok(d)
    }

    /// `EjectMedia`.
    #[pyo3(signature = (client_name="discrec".to_string()))]
    fn eject(&self, py: Python<'_>, client_name: String) -> PyResult<()> {
        self.with(py, move |r| r.eject(&client_name))
    }

    /// `CloseTray`.
    #[pyo3(signature = (client_name="discrec".to_string()))]
    fn close_tray(&self, py: Python<'_>, client_name: String) -> PyResult<()> {
        self.with(py, move |r| r.close_tray(&client_name))
    }

    /// Lock or unlock the tray.
    #[pyo3(signature = (lock, client_name="discrec".to_string()))]
    fn set_tray_locked(&self, py: Python<'_>, lock: bool, client_name: String) -> PyResult<()> {
        self.with(py, move |r| r.set_tray_locked(&client_name, lock))
    }

    /// `discrec status`: a dict with target, node, kind, locked, owner,
    /// mounts, other_locks.
    fn status(&self, py: Python<'_>) -> PyResult<PyObject> {
        let s = self.with(py, |r| r.status())?;
        to_py(py, &s)
    }

    /// `discrec info`: the drive as a dict (device, links, identity, bus,
    /// tray, mounts, owner, profiles, features, mode pages, medium).
    fn drive(&self, py: Python<'_>) -> PyResult<PyObject> {
        let d = self.with(py, |r| r.drive_details())?;
        to_py(py, &d)
    }

    /// The medium in the recorder as a dict (`CurrentPhysicalMediaType`,
    /// `CurrentMediaStatus`, `TotalSectorsOnMedia`, `FreeSectorsOnMedia`,
    /// `NextWritableAddress`, sessions, write speeds, whether discrec can
    /// write it and why not). `RecorderLockedError` while another client
    /// holds the drive.
    fn medium(&self, py: Python<'_>) -> PyResult<PyObject> {
        let m = self.with(py, |r| r.medium())?;
        to_py(py, &m)
    }

    /// The tray as the kernel says: "no_disc", "tray_open", "not_ready",
    /// "disc_ok" or "unknown".
    #[getter]
    fn tray_state(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.with(py, |r| r.tray_state()).map(|t| t.as_str())
    }

    /// TEST UNIT READY: None when a medium is in and ready, else
    /// `NoMediumError`, `MediumBecomingReadyError` or the drive's error.
    fn check_medium(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |r| r.check_medium())
    }

    /// Run `argv` (a command and its arguments) while this object holds
    /// the recorder (acquire first), as `discrec lock TARGET -- COMMAND`
    /// does, and return its exit code (-N when signal N ended it, as
    /// `subprocess` says) once it and every process it left have ended.
    /// Ctrl-C at a terminal reaches the command itself (it is in this
    /// process group); a second Ctrl-C sends it SIGTERM, a third SIGKILL;
    /// KeyboardInterrupt is raised once it has ended. `signal_command`
    /// from another thread passes any signal on. While
    /// it runs, a child another thread starts may be reaped as one of the
    /// command's orphans: start none meanwhile (or give it
    /// `DISCREC_SUPERVISED`, any value, in its environment).
    #[pyo3(signature = (argv, keep_claim=false))]
    fn run_holding(&self, py: Python<'_>, argv: Vec<std::ffi::OsString>, keep_claim: bool) -> PyResult<i32> {
        let Some((program, rest)) = argv.split_first() else {
            return Err(raise(py, discrec::Error::InvalidArgument("argv is empty: give the command to run".into())));
        };
        let mut command = std::process::Command::new(program);
        command.args(rest);
        if self.stuck() {
            // As `with` says: a forked copy in use at the fork.
            return self.with(py, |_| Ok(0));
        }
        let (inner, signal, interrupt, busy) =
            (self.inner.clone(), self.signal.clone(), self.signal.clone(), self.busy.clone());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopper = stop.clone();
        let target = std::path::PathBuf::from(&self.path);
        signal.store(0, std::sync::atomic::Ordering::SeqCst);
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            // Another call (a wait on another thread) may have the
            // recorder: Ctrl-C ends this one's wait for it.
            let out = (|| {
                let mut r = loop {
                    if let Some(g) = try_locked(&inner) {
                        break g;
                    }
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return Err(discrec::Error::Cancelled { target });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                };
                busy.store(std::process::id(), std::sync::atomic::Ordering::SeqCst);
                let mut forward =
                    || rustix::process::Signal::from_named_raw(signal.swap(0, std::sync::atomic::Ordering::SeqCst));
                let out = r.run_holding(&mut command, keep_claim, &mut forward);
                busy.store(0, std::sync::atomic::Ordering::SeqCst);
                out
            })();
            let _ = tx.send(out);
        });
        // Ctrl-C at a terminal reaches the command by itself (it is in
        // this process group): the first is not passed on; each one after
        // it is, harder (SIGTERM, then SIGKILL). The first exception is
        // raised once the command has ended.
        let mut raised: Option<PyErr> = None;
        let mut presses = 0;
        let rx = Mutex::new(rx);
        let status = loop {
            match py.allow_threads(|| locked(&rx).recv_timeout(Duration::from_millis(50))) {
                Ok(out) => {
                    let _ = worker.join();
                    break out;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = worker.join();
                    return Err(PyRuntimeError::new_err("discrec: the worker thread ended without a result"));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Err(e) = py.check_signals() {
                presses += 1;
                stopper.store(true, std::sync::atomic::Ordering::SeqCst);
                let harder = if presses == 2 { rustix::process::Signal::TERM } else { rustix::process::Signal::KILL };
                if presses >= 2 {
                    interrupt.store(harder.as_raw(), std::sync::atomic::Ordering::SeqCst);
                }
                raised.get_or_insert(e);
            }
        };
        if let Some(e) = raised {
            return Err(e);
        }
        let status = status.map_err(|e| raise(py, e))?;
        use std::os::unix::process::ExitStatusExt;
        Ok(status.code().or_else(|| status.signal().map(|s| -s)).unwrap_or(255))
    }

    /// Send signal `signo` to the command `run_holding` runs (from another
    /// thread); without one it is dropped.
    fn signal_command(&self, py: Python<'_>, signo: i32) -> PyResult<()> {
        if rustix::process::Signal::from_named_raw(signo).is_none() {
            return Err(raise(
                py,
                discrec::Error::InvalidArgument(format!(
                    "{signo} is not a signal discrec passes on: give a named one, 1 to 31, such as signal.SIGTERM"
                )),
            ));
        }
        self.signal.store(signo, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Share the recorder with other machines through etcd: `endpoints`
    /// (`http://HOST:2379`, comma-separated; None takes `DISCREC_ETCD`),
    /// `key` its name on every host (None: the drive's identity), `ttl`
    /// the lease in seconds (kept within 2 s and 30 days). Acquires then
    /// take the cluster lock too.
    #[pyo3(signature = (endpoints=None, key=None, ttl=10.0))]
    fn set_cluster(&self, py: Python<'_>, endpoints: Option<String>, key: Option<String>, ttl: f64) -> PyResult<()> {
        let mut cfg = match endpoints {
            Some(e) => discrec_cluster::Config::new(&e),
            None => discrec_cluster::Config::from_env().ok_or_else(|| {
                raise(
                    py,
                    discrec::Error::InvalidArgument(
                        "no endpoints given and neither DISCREC_ETCD nor ETCDCTL_ENDPOINTS is set: name the etcd (http://HOST:2379)"
                            .into(),
                    ),
                )
            })?,
        };
        if !(ttl.is_finite() && ttl > 0.0) {
            return Err(raise(
                py,
                discrec::Error::InvalidArgument(format!(
                    "ttl={ttl} is not a lease time; give seconds above 0 (kept within 2 s and 30 days)"
                )),
            ));
        }
        cfg.ttl = Duration::from_secs_f64(ttl.min(discrec_cluster::MAX_TTL.as_secs_f64()));
        self.with(py, move |r| discrec_cluster::attach(r, cfg, key))
    }

    /// The fencing token of this object's cluster lock while it holds one.
    #[getter]
    fn fencing_token(&self, py: Python<'_>) -> PyResult<Option<i64>> {
        self.with(py, |r| Ok(r.fencing_token()))
    }

    /// None while the cluster lock holds (or there is none); once lost,
    /// the error to stop with, saying why.
    fn check_cluster_lock(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |r| r.check_cluster_lock())
    }

    /// Release everything and invalidate this object (a wait in progress
    /// on another thread is cancelled first).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.waits.raise_all();
        if self.stuck() {
            // A forked child's copy, in use by a thread of the parent at
            // the fork: nothing of it can be reached here, and it holds
            // only copies, which go when this process ends (it never undoes
            // its parent's hold).
            return Ok(());
        }
        self.with(py, |r| r.close())
    }
}

/// Every recorder on this machine (`IDiscMaster2`): device paths.
#[pyfunction]
fn recorders() -> Vec<String> {
    discrec::drive::recorder_paths().iter().map(|p| p.to_string_lossy().into_owned()).collect()
}

/// Every recorder on this machine with what `discrec list` shows of it:
/// a list of dicts (device, sg, links, vendor, product, revision, bus,
/// tray, mounts, locked, owner, error).
#[pyfunction]
fn drives(py: Python<'_>) -> PyResult<PyObject> {
    let list = py.allow_threads(discrec::drive::list);
    to_py(py, &list)
}

/// `IDiscFormat2Data`: writes a source to the recorder at `path` while
/// holding it.
#[pyclass(module = "discrec._discrec", name = "DataWriter", subclass)]
struct PyDataWriter {
    inner: Arc<discrec::DataWriter>,
}

impl PyDataWriter {
    /// `write` or `append` (`append`), as `write` says.
    fn run_job<'py>(
        &self,
        py: Python<'py>,
        source: std::path::PathBuf,
        progress: Option<PyObject>,
        append: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let dw = self.inner.clone();
        // The callback's exception, and the update it was raised on.
        let raised: Arc<Mutex<Option<(PyErr, discrec::writer::Progress)>>> = Arc::new(Mutex::new(None));
        let seen = raised.clone();
        let cancel = self.inner.clone();
        // Ctrl-C (or an exception from a signal handler) cancels the write.
        let stopper = self.inner.clone();
        let report = interruptible(
            py,
            move || {
                let mut on_update = move |p: &discrec::writer::Progress| {
                    let Some(cb) = &progress else { return };
                    Python::with_gil(|py| {
                        let call = (|| -> PyResult<()> {
                            let d = PyDict::new(py);
                            d.set_item(
                                "action",
                                serde_json::to_value(p.action).ok().and_then(|v| v.as_str().map(str::to_string)),
                            )?;
                            d.set_item("elapsed", p.elapsed.as_secs_f64())?;
                            d.set_item("remaining", p.remaining.map(|r| r.as_secs_f64()))?;
                            d.set_item("start_lba", p.start_lba)?;
                            d.set_item("sector_count", p.sector_count)?;
                            d.set_item("last_written_lba", p.last_written_lba)?;
                            d.set_item("sectors_verified", p.sectors_verified)?;
                            d.set_item("percent", p.percent())?;
                            cb.call1(py, (d,))?;
                            Ok(())
                        })();
                        if let Err(e) = call {
                            locked(&seen).get_or_insert((e, p.clone()));
                            let _ = cancel.cancel_write();
                        }
                    });
                };
                // Opened once the write has begun: Ctrl-C while a
                // directory is read ends it.
                if append {
                    dw.append_path(&source, None, Some(&mut on_update))
                } else {
                    dw.write_path(&source, None, Some(&mut on_update))
                }
            },
            move || {
                let _ = stopper.cancel_write();
            },
            |_| {},
        )?;
        let callback_error = locked(&raised).take();
        let report = match (report, callback_error) {
            (Ok(r), None) => r,
            // The callback failed while the disc was closed or verified:
            // every sector was written, only the verify was stopped. Say
            // so (a retry would find the medium written).
            // (Told by what the writer says it wrote, not by the update the
            // callback was handed: a slow callback lags behind the writer.)
            (Err(discrec::Error::WriteCancelled { sectors_written, .. }), Some((e, p)))
                if sectors_written > 0 && sectors_written == p.sector_count =>
            {
                let d = PyDict::new(py);
                d.set_item("start_lba", p.start_lba)?;
                d.set_item("sectors", p.sector_count)?;
                d.set_item("write_time", p.elapsed.as_secs_f64())?;
                d.set_item("verify_time", 0.0)?;
                d.set_item("verified", false)?;
                let message = format!(
                    "the write completed ({} sectors, not verified); the progress callback raised (on an update while {}), which stopped the verify: {e}",
                    p.sector_count,
                    p.action.describe()
                );
                let cls = py.import("discrec._errors")?.getattr("ProgressCallbackError")?;
                let err = PyErr::from_value(cls.call1((message, d))?);
                err.set_cause(py, Some(e));
                return Err(err);
            }
            // The callback failed and the write stopped: its exception.
            (Err(_), Some((e, _))) => return Err(e),
            (Err(e), None) => return Err(raise(py, e)),
            // The write completed all the same (the callback failed on the
            // final update, or too late to stop it): say both.
            (Ok(r), Some((e, _))) => {
                let d = report_dict(py, &r)?;
                let message = format!(
                    "the write completed ({} sectors{}); the progress callback then raised: {e}",
                    r.sectors,
                    if r.verified { ", verified" } else { "" }
                );
                let cls = py.import("discrec._errors")?.getattr("ProgressCallbackError")?;
                let err = PyErr::from_value(cls.call1((message, d))?);
                err.set_cause(py, Some(e));
                return Err(err);
            }
        };
        report_dict(py, &report)
    }
}

#[pymethods]
impl PyDataWriter {
    #[new]
    #[pyo3(signature = (path, *_args, **_kwargs))]
    fn new(
        py: Python<'_>,
        path: std::path::PathBuf,
        _args: &Bound<'_, pyo3::types::PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        Ok(PyDataWriter { inner: Arc::new(discrec::DataWriter::new(open(py, &path)?)) })
    }

    /// `ClientName`.
    #[getter]
    fn get_client_name(&self) -> String {
        self.inner.client_name()
    }

    #[setter]
    fn set_client_name(&self, py: Python<'_>, name: String) -> PyResult<()> {
        self.inner.set_client_name(&name).map_err(|e| raise(py, e))
    }

    /// Read the written sectors back and compare (default True).
    #[getter]
    fn get_verify(&self) -> bool {
        self.inner.verify()
    }

    #[setter]
    fn set_verify(&self, py: Python<'_>, verify: bool) -> PyResult<()> {
        self.inner.set_verify(verify).map_err(|e| raise(py, e))
    }

    /// `ForceMediaToBeClosed`.
    #[getter]
    fn get_force_media_to_be_closed(&self) -> bool {
        self.inner.force_media_to_be_closed()
    }

    #[setter]
    fn set_force_media_to_be_closed(&self, py: Python<'_>, close: bool) -> PyResult<()> {
        self.inner.set_force_media_to_be_closed(close).map_err(|e| raise(py, e))
    }

    /// `Write`: write `source` (an ISO image, a block device, or a
    /// directory, made into ISO 9660 + Joliet + Rock Ridge as it is
    /// written). `progress`, if given, is called with a dict per update
    /// (action, elapsed, remaining, start_lba, sector_count,
    /// last_written_lba, sectors_verified, percent). Returns a dict:
    /// sectors, write_time, verify_time, verified. An exception raised by
    /// `progress` cancels the write and is raised; raised too late (while
    /// the disc is closed or verified, or on the final update), the data
    /// is all written: `ProgressCallbackError`, with the report (not
    /// verified, if the verify was stopped) and the callback's exception as
    /// its cause.
    #[pyo3(signature = (source, progress=None))]
    fn write<'py>(
        &self,
        py: Python<'py>,
        source: std::path::PathBuf,
        progress: Option<PyObject>,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.run_job(py, source, progress, false)
    }

    /// Add a session holding the directory `source` to what the disc holds
    /// (IMAPI2's `ImportFileSystem` and `Write`; `growisofs -M`): its
    /// entries go over the disc's root, a new file replacing an old one of
    /// the same name, every other file kept. A blank disc gets it as its
    /// first session. Refused before anything is written: a closed disc
    /// (`MediaNotAppendableError`), no ISO 9660 file system
    /// (`NoSupportedFileSystemError`), a damaged one (`FileSystemDamagedError`), too little room.
    /// Progress, Ctrl-C and the returned dict as `write`; the dict's
    /// `added_to` says where the previous session starts and how many of
    /// its files were kept.
    #[pyo3(signature = (source, progress=None))]
    fn append<'py>(
        &self,
        py: Python<'py>,
        source: std::path::PathBuf,
        progress: Option<PyObject>,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.run_job(py, source, progress, true)
    }

    /// `ForceOverwrite`: write a disc that holds data from its start, over
    /// what it holds (default False: `MediaNotBlankError`).
    #[getter]
    fn get_force_overwrite(&self) -> bool {
        self.inner.force_overwrite()
    }

    #[setter]
    fn set_force_overwrite(&self, py: Python<'_>, overwrite: bool) -> PyResult<()> {
        self.inner.set_force_overwrite(overwrite).map_err(|e| raise(py, e))
    }

    /// `SetWriteSpeed`: `sectors_per_second` (IMAPI2's unit) or `x` (a
    /// multiple of the medium's 1x, 8 for 8x DVD); neither: as fast as the
    /// drive writes the medium. A speed the drive does not offer is
    /// refused when the write begins, naming those it offers.
    #[pyo3(signature = (sectors_per_second=None, x=None))]
    fn set_write_speed(&self, py: Python<'_>, sectors_per_second: Option<u32>, x: Option<f64>) -> PyResult<()> {
        use discrec::medium::Speed;
        let speed = match (sectors_per_second, x) {
            (None, None) => Speed::Max,
            (Some(s), None) => Speed::SectorsPerSecond(s),
            (None, Some(x)) if x.is_finite() && x > 0.0 => Speed::X(x),
            (None, Some(x)) => {
                return Err(raise(
                    py,
                    discrec::Error::InvalidArgument(format!("x={x} is not a speed; give a multiple of 1x above 0")),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(raise(py, discrec::Error::InvalidArgument("give sectors_per_second or x, not both".into())))
            }
        };
        self.inner.set_write_speed(speed).map_err(|e| raise(py, e))
    }

    /// `SupportedWriteSpeedDescriptors`: the speeds the drive offers for
    /// the medium, fastest first, as dicts (kilobytes_per_second,
    /// sectors_per_second, x); empty for image files.
    fn supported_write_speeds(&self, py: Python<'_>) -> PyResult<PyObject> {
        let dw = self.inner.clone();
        let speeds = py.allow_threads(move || dw.supported_write_speeds()).map_err(|e| raise(py, e))?;
        to_py(py, &speeds)
    }

    /// Wait for a drive another client holds before writing: 0 (the
    /// default) not at all (`RecorderLockedError`), a number of seconds,
    /// or None forever; Ctrl-C ends the wait.
    fn set_wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let wait = wait_policy(py, timeout)?;
        self.inner.set_wait(wait).map_err(|e| raise(py, e))
    }

    /// The medium in the recorder, as `Recorder.medium`.
    fn medium(&self, py: Python<'_>) -> PyResult<PyObject> {
        let dw = self.inner.clone();
        let m = py.allow_threads(move || dw.medium()).map_err(|e| raise(py, e))?;
        to_py(py, &m)
    }

    /// `CancelWrite`, from any thread.
    fn cancel_write(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.cancel_write().map_err(|e| raise(py, e))
    }

    /// Whether a write is in progress.
    #[getter]
    fn is_writing(&self) -> bool {
        self.inner.is_writing()
    }
}

/// `IDiscFormat2Erase`: erases the rewritable disc in the recorder at
/// `path`, holding the drive while it does.
#[pyclass(module = "discrec._discrec", name = "Eraser", subclass)]
struct PyEraser {
    inner: Arc<discrec::Eraser>,
}

#[pymethods]
impl PyEraser {
    #[new]
    #[pyo3(signature = (path, *_args, **_kwargs))]
    fn new(
        py: Python<'_>,
        path: std::path::PathBuf,
        _args: &Bound<'_, pyo3::types::PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        Ok(PyEraser { inner: Arc::new(discrec::Eraser::new(open(py, &path)?)) })
    }

    /// `ClientName`: the name the drive is held under while it erases.
    #[getter]
    fn get_client_name(&self) -> String {
        self.inner.client_name()
    }

    #[setter]
    fn set_client_name(&self, py: Python<'_>, name: String) -> PyResult<()> {
        self.inner.set_client_name(&name).map_err(|e| raise(py, e))
    }

    /// `FullErase`: every sector (as long as writing the disc), not only
    /// what makes it read as blank (default False).
    #[getter]
    fn get_full_erase(&self) -> bool {
        self.inner.full_erase()
    }

    #[setter]
    fn set_full_erase(&self, full: bool) {
        self.inner.set_full_erase(full)
    }

    /// Wait for a drive another client holds before erasing: 0 (the
    /// default) not at all, a number of seconds, or None forever.
    fn set_wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        self.inner.set_wait(wait_policy(py, timeout)?);
        Ok(())
    }

    /// The medium in the recorder, as `Recorder.medium`.
    fn medium(&self, py: Python<'_>) -> PyResult<PyObject> {
        let er = self.inner.clone();
        let m = py.allow_threads(move || er.medium()).map_err(|e| raise(py, e))?;
        to_py(py, &m)
    }

    /// `EraseMedia`: erase the disc (CD-RW, DVD-RW, DVD+RW, DVD-RAM,
    /// BD-RE), holding the drive; `progress`, if given, gets a dict per
    /// update (elapsed_seconds, fraction or None, step). Returns the
    /// medium as it is after. A write-once disc is refused before anything
    /// is sent (`MediaNotErasableError`). A drive cannot stop an erase
    /// it began: Ctrl-C is raised once the erase has ended.
    #[pyo3(signature = (progress=None))]
    fn erase(&self, py: Python<'_>, progress: Option<PyObject>) -> PyResult<PyObject> {
        let er = self.inner.clone();
        let raised: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
        let seen = raised.clone();
        let m = interruptible(
            py,
            move || {
                let mut on_update = move |p: &discrec::erase::EraseProgress| {
                    let Some(cb) = &progress else { return };
                    Python::with_gil(|py| {
                        let call = (|| -> PyResult<()> {
                            let d = PyDict::new(py);
                            d.set_item("elapsed_seconds", p.elapsed_seconds)?;
                            d.set_item("fraction", p.fraction)?;
                            d.set_item("step", p.step)?;
                            cb.call1(py, (d,))?;
                            Ok(())
                        })();
                        if let Err(e) = call {
                            locked(&seen).get_or_insert(e);
                        }
                    });
                };
                er.erase(Some(&mut on_update))
            },
            || {},
            |_| {},
        )?
        .map_err(|e| raise(py, e))?;
        // The erase is done whatever the callback did: its exception,
        // raised after, says it failed (it could not stop the erase).
        if let Some(e) = locked(&raised).take() {
            return Err(e);
        }
        to_py(py, &m)
    }
}

/// A write's result as `write` returns it.
fn report_dict<'py>(py: Python<'py>, report: &discrec::writer::WriteReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("start_lba", report.start_lba)?;
    d.set_item("sectors", report.sectors)?;
    d.set_item("write_time", report.write_time.as_secs_f64())?;
    d.set_item("verify_time", report.verify_time.as_secs_f64())?;
    d.set_item("verified", report.verified)?;
    d.set_item("added_to", to_py(py, &report.added_to)?)?;
    Ok(d)
}

#[pymodule]
fn _discrec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRecorder>()?;
    m.add_class::<PyDataWriter>()?;
    m.add_class::<PyEraser>()?;
    m.add_function(wrap_pyfunction!(recorders, m)?)?;
    m.add_function(wrap_pyfunction!(drives, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The library's error table, so a test can hold the classes to it.
    let kinds: Vec<(&str, u32, u8, &str)> =
        discrec::error::KINDS.iter().map(|k| (k.name, k.hresult(), k.exit_code, k.python_class)).collect();
    m.add("ERROR_KINDS", kinds)?;
    Ok(())
}

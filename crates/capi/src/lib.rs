//! libdiscrec: discrec for C (and C++, and anything with a C FFI), with
//! IMAPI2's shape. A recorder is an opaque handle opened from a path;
//! `discrec_recorder_acquire_exclusive_access(rec, force, client_name)`
//! and its siblings are `IDiscRecorder2`'s methods; `discrec_writer_*`
//! is `IDiscFormat2Data`. Every call returns an HRESULT-valued `int32_t`:
//! 0 (`S_OK`) or the value IMAPI2 gives the same failure (`docs/design.md`,
//! "Errors"), and [`discrec_last_error_message`] says what went wrong on
//! the calling thread.
//!
//! Handles are unguessable numbers in a registry, not pointers to memory:
//! a handle that was closed, never opened or made up is
//! `HRESULT_FROM_WIN32(ERROR_INVALID_HANDLE)` (0x80070006), never a use
//! after free. Every failure is a negative HRESULT (Win32 codes as
//! `HRESULT_FROM_WIN32`), so `FAILED(hr)` and `hr < 0` hold. Thread safety: every function may be called from any
//! thread; calls on one recorder handle are serialized (a second thread
//! waits for the first; a waiting acquire holds the handle while it
//! waits, which `discrec_recorder_cancel_wait` or
//! `discrec_recorder_close` ends); a writer's
//! `discrec_writer_cancel_write` runs at once, from any thread, while
//! `discrec_writer_write` runs. No Rust panic crosses into C: one is
//! caught and returned as `E_FAIL`.
//!
//! All pointer work is in the `ffi` module; the functions here are `unsafe extern
//! "C"` only because C hands them pointers.

#![deny(unsafe_op_in_unsafe_fn)]
#![allow(non_camel_case_types)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{c_char, CString};
use std::os::fd::AsFd;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use discrec::Recorder;

pub use eraser::{discrec_erase_progress, discrec_erase_progress_fn, discrec_eraser};
pub use query::discrec_medium;
pub use writer::{discrec_progress, discrec_progress_fn, discrec_writer};

// In dependency order, bottom up (the layout test holds them to it).
mod ffi;
mod writer;
mod query;
mod eraser;
mod cluster;
mod supervise;

/// `S_OK`.
pub const DISCREC_S_OK: i32 = 0;
/// `E_FAIL`: an unexpected failure (the message says which). Value 0x80004005.
pub const DISCREC_E_FAIL: i32 = 0x8000_4005_u32 as i32;
/// `E_POINTER`: a pointer argument was NULL. Value 0x80004003.
pub const DISCREC_E_POINTER: i32 = 0x8000_4003_u32 as i32;
/// `E_INVALIDARG`: a bad argument (a string that is not UTF-8, a bad
/// client name, ...). Value 0x80070057.
pub const DISCREC_E_INVALIDARG: i32 = 0x8007_0057_u32 as i32;
/// `HRESULT_FROM_WIN32(ERROR_INVALID_HANDLE)`: a NULL, closed or unknown
/// handle. Value 0x80070006.
pub const DISCREC_ERROR_INVALID_HANDLE: i32 = 0x8007_0006_u32 as i32;
/// `E_ACCESSDENIED`: in use (mounted, or held by a program that is not a
/// discrec client), or no permission. Value 0x80070005.
pub const DISCREC_E_ACCESSDENIED: i32 = 0x8007_0005_u32 as i32;
/// `ERROR_INVALID_FUNCTION` as an HRESULT: release without an acquire. Value 0x80070001.
pub const DISCREC_ERROR_INVALID_FUNCTION: i32 = 0x8007_0001_u32 as i32;
/// The same value as [`DISCREC_ERROR_INVALID_FUNCTION`], by what it means
/// here: release without an acquire. Value 0x80070001.
pub const DISCREC_E_NOT_LOCKED: i32 = 0x8007_0001_u32 as i32;
/// `HRESULT_FROM_WIN32(ERROR_DEV_NOT_EXIST)`: no such device, or it went
/// away. Value 0x80070037.
pub const DISCREC_ERROR_DEV_NOT_EXIST: i32 = 0x8007_0037_u32 as i32;
/// `E_OUTOFMEMORY`. Value 0x8007000E.
pub const DISCREC_E_OUTOFMEMORY: i32 = 0x8007_000E_u32 as i32;
/// `E_IMAPI_RECORDER_MEDIA_BECOMING_READY`. Value 0xC0AA0205.
pub const DISCREC_E_IMAPI_RECORDER_MEDIA_BECOMING_READY: i32 = 0xC0AA_0205_u32 as i32;
/// `E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED`: the source cannot be written
/// (empty, not whole sectors, a pipe). Value 0xC0AA0403.
pub const DISCREC_E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED: i32 = 0xC0AA_0403_u32 as i32;
/// `E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED`. Value 0xC0AA0406.
pub const DISCREC_E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED: i32 = 0xC0AA_0406_u32 as i32;
/// `E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED`. Value 0xC0AA0407.
pub const DISCREC_E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED: i32 = 0xC0AA_0407_u32 as i32;
/// `E_IMAPI_RECORDER_LOCKED`: another client holds the recorder. Value 0xC0AA0210.
pub const DISCREC_E_IMAPI_RECORDER_LOCKED: i32 = 0xC0AA_0210_u32 as i32;
/// `E_IMAPI_RECORDER_MEDIA_NO_MEDIA`. Value 0xC0AA0202.
pub const DISCREC_E_IMAPI_RECORDER_MEDIA_NO_MEDIA: i32 = 0xC0AA_0202_u32 as i32;
/// `E_IMAPI_RECORDER_COMMAND_TIMEOUT`. Value 0xC0AA020D.
pub const DISCREC_E_IMAPI_RECORDER_COMMAND_TIMEOUT: i32 = 0xC0AA_020D_u32 as i32;
/// `E_IMAPI_REQUEST_CANCELLED`: a wait or a write was cancelled. Value 0xC0AA0002.
pub const DISCREC_E_IMAPI_REQUEST_CANCELLED: i32 = 0xC0AA_0002_u32 as i32;
/// `E_IMAPI_DF2DATA_WRITE_IN_PROGRESS`. Value 0xC0AA0400.
pub const DISCREC_E_IMAPI_DF2DATA_WRITE_IN_PROGRESS: i32 = 0xC0AA_0400_u32 as i32;
/// `E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS`. Value 0xC0AA0401.
pub const DISCREC_E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS: i32 = 0xC0AA_0401_u32 as i32;
/// `E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA`. Value 0xC0AA0404.
pub const DISCREC_E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA: i32 = 0xC0AA_0404_u32 as i32;
/// `E_IMAPI_DF2DATA_MEDIA_NOT_BLANK`. Value 0xC0AA0405.
pub const DISCREC_E_IMAPI_DF2DATA_MEDIA_NOT_BLANK: i32 = 0xC0AA_0405_u32 as i32;
/// `E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID`. Value 0xC0AA0408.
pub const DISCREC_E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID: i32 = 0xC0AA_0408_u32 as i32;
/// `E_IMAPI_ERASE_CLIENT_NAME_IS_NOT_VALID`. Value 0xC0AA090B.
pub const DISCREC_E_IMAPI_ERASE_CLIENT_NAME_IS_NOT_VALID: i32 = 0xC0AA_090B_u32 as i32;
/// `E_IMAPI_BURN_VERIFICATION_FAILED`. Value 0xC0AA0007.
pub const DISCREC_E_IMAPI_BURN_VERIFICATION_FAILED: i32 = 0xC0AA_0007_u32 as i32;
/// `E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE`: the disc is write-once, pressed
/// or protected, or the recorder is an image file or a disk, which has no
/// disc to erase. Value 0x80AA0904.
pub const DISCREC_E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE: i32 = 0x80AA_0904_u32 as i32;
/// `E_IMAPI_ERASE_DRIVE_FAILED_ERASE_COMMAND`: the drive refused or failed
/// to blank or format. Value 0x80AA0905.
pub const DISCREC_E_IMAPI_ERASE_DRIVE_FAILED_ERASE_COMMAND: i32 = 0x80AA_0905_u32 as i32;
/// `E_IMAPI_UNEXPECTED_RESPONSE_FROM_DEVICE`: the drive failed to write
/// (a medium or hardware error). Value 0xC0AA0301.
pub const DISCREC_E_IMAPI_UNEXPECTED_RESPONSE_FROM_DEVICE: i32 = 0xC0AA_0301_u32 as i32;
/// `IMAPI_E_NO_SUPPORTED_FILE_SYSTEM`: the disc's last session holds no
/// ISO 9660 file system to add a session to. Value 0xC0AAB151.
pub const DISCREC_IMAPI_E_NO_SUPPORTED_FILE_SYSTEM: i32 = 0xC0AA_B151_u32 as i32;
/// `IMAPI_E_FILE_SYSTEM_READ_CONSISTENCY_ERROR`: the file system on the
/// disc contradicts itself. Value 0xC0AAB153.
pub const DISCREC_IMAPI_E_FILE_SYSTEM_READ_CONSISTENCY_ERROR: i32 = 0xC0AA_B153_u32 as i32;
/// `IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE`: the disc takes no more
/// sessions. Value 0xC0AAB15C.
pub const DISCREC_IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE: i32 = 0xC0AA_B15C_u32 as i32;

/// A failure on its way to C: its HRESULT and its message.
#[derive(Debug)]
pub struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn pointer(message: String) -> Failure {
        Failure { code: DISCREC_E_POINTER, message: format!("{message} (E_POINTER 0x80004003)") }
    }

    /// A failure of `kind` (a row of the library's error table), its
    /// name and HRESULT at the end of the message.
    fn of(kind: &discrec::error::ErrorKind, message: String) -> Failure {
        let code = kind.hresult();
        Failure { code: code as i32, message: format!("{message} ({} 0x{code:08X})", kind.name) }
    }

    fn invalid_arg(message: String) -> Failure {
        Failure::of(&discrec::error::ErrorKind::INVALID_ARGUMENT, message)
    }

    fn invalid_handle(message: String) -> Failure {
        Failure::of(&discrec::error::ErrorKind::INVALID_HANDLE, message)
    }
}

impl From<discrec::Error> for Failure {
    fn from(e: discrec::Error) -> Failure {
        Failure::of(e.kind(), e.one_line())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Run an exported function's body: its result as an HRESULT, its error
/// kept as the thread's last, a panic caught.
fn run(f: impl FnOnce() -> Result<(), Failure>) -> i32 {
    let failure = match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return DISCREC_S_OK,
        Ok(Err(e)) => e,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Failure {
                code: DISCREC_E_FAIL,
                message: format!("internal error in libdiscrec ({what}); please report it (E_FAIL 0x80004005)"),
            }
        }
    };
    let text = CString::new(failure.message.replace('\0', "?")).unwrap_or_default();
    // During the thread's teardown (an atexit handler, a key destructor)
    // the message has nowhere to go; the code still says what failed.
    let _ = LAST_ERROR.try_with(|l| *l.borrow_mut() = text);
    failure.code
}

/// A recorder (`IDiscRecorder2`): opaque; a number, not memory.
pub struct discrec_recorder {
    _private: [u8; 0],
}

/// A recorder handle's state: the recorder, and a socket pair whose
/// readable end cancels a wait in progress on it (written by
/// `discrec_recorder_cancel_wait` and `discrec_recorder_close`, without
/// taking the recorder's lock, which the waiting call holds).
struct Handle {
    rec: Mutex<Recorder>,
    /// Raised by `discrec_recorder_cancel_wait` and `_close`: ends a wait.
    cancel: discrec::cancel::Cancel,
    /// Set by `discrec_recorder_close` before it cancels: a call that
    /// found the handle just before it was closed sees it and stops.
    closed: std::sync::atomic::AtomicBool,
    /// A signal for the command `discrec_recorder_run_holding` runs (0:
    /// none), set by `discrec_recorder_signal_command` without the
    /// recorder's lock, which the running call holds.
    signal: std::sync::atomic::AtomicI32,
}

impl Handle {
    /// Forget cancels meant for waits that ended already.
    fn drain(&self) {
        self.cancel.clear();
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(1);
static RECORDERS: Mutex<BTreeMap<usize, Arc<Handle>>> = Mutex::new(BTreeMap::new());
static WRITERS: Mutex<BTreeMap<usize, Arc<writer::WriterHandle>>> = Mutex::new(BTreeMap::new());
static ERASERS: Mutex<BTreeMap<usize, Arc<discrec::Eraser>>> = Mutex::new(BTreeMap::new());

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new handle number: never 0, never reused, and not guessable (a
/// counter scrambled with a key of this process), so that a made-up
/// handle is refused rather than taken for one that was handed out.
fn new_id() -> usize {
    use std::hash::{BuildHasher, Hasher};
    static KEY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let key = *KEY.get_or_init(|| std::collections::hash_map::RandomState::new().build_hasher().finish());
    let n = NEXT.fetch_add(1, Ordering::Relaxed) as u64;
    // An odd multiplier is a bijection on u64: no two counters collide.
    let id = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key) as usize;
    if id == 0 {
        new_id()
    } else {
        id
    }
}

fn recorder(h: *mut discrec_recorder) -> Result<Arc<Handle>, Failure> {
    let id = h as usize;
    if id == 0 {
        return Err(Failure::invalid_handle("the recorder handle is NULL".into()));
    }
    locked(&RECORDERS).get(&id).cloned().ok_or_else(|| {
        Failure::invalid_handle(format!(
            "recorder handle {id:#x} is closed or was never opened; open one with discrec_recorder_open"
        ))
    })
}

fn writer(h: *mut discrec_writer) -> Result<Arc<writer::WriterHandle>, Failure> {
    let id = h as usize;
    if id == 0 {
        return Err(Failure::invalid_handle("the writer handle is NULL".into()));
    }
    locked(&WRITERS).get(&id).cloned().ok_or_else(|| {
        Failure::invalid_handle(format!(
            "writer handle {id:#x} is closed or was never opened; open one with discrec_writer_open"
        ))
    })
}

/// The message of the last failure on the calling thread (empty if none):
/// what was wrong and what to do, ending with the error's name and value.
/// Valid until the next failing call on this thread; do not free it.
#[no_mangle]
pub extern "C" fn discrec_last_error_message() -> *const c_char {
    LAST_ERROR.try_with(|l| l.borrow().as_ptr()).unwrap_or(c"".as_ptr())
}

/// The library's version, e.g. "0.1.0". Static; do not free it.
#[no_mangle]
pub extern "C" fn discrec_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Give back a string the library returned. NULL is allowed.
///
/// # Safety
/// `s` is NULL or a string from this library not given back before.
#[no_mangle]
pub unsafe extern "C" fn discrec_free_string(s: *mut c_char) {
    // SAFETY: passed on from the caller.
    unsafe { ffi::free_owned(s) }
}

/// Give back an array of strings the library returned, with its count.
///
/// # Safety
/// `a` is NULL or an array from this library, with its count, not given
/// back before.
#[no_mangle]
pub unsafe extern "C" fn discrec_free_string_array(a: *mut *mut c_char, count: usize) {
    // SAFETY: passed on from the caller.
    unsafe { ffi::free_owned_array(a, count) }
}

/// Every recorder on this machine (`IDiscMaster2`): their device paths
/// (`/dev/srN`), in `*paths` (`*count` of them; give back with
/// `discrec_free_string_array`).
///
/// # Safety
/// `paths` and `count` point to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_list(paths: *mut *mut *mut c_char, count: *mut usize) -> i32 {
    run(|| {
        if paths.is_null() || count.is_null() {
            return Err(Failure::pointer("paths or count is NULL".into()));
        }
        let found: Vec<String> =
            discrec::drive::recorder_paths().iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let (a, n) = ffi::owned_array(&found);
        // SAFETY: both checked non-NULL, writable by the caller's guarantee.
        unsafe {
            ffi::put_if(paths, a);
            ffi::put_if(count, n);
        }
        Ok(())
    })
}

/// Open a recorder (`InitializeDiscRecorder`): a drive (`/dev/srN`, a
/// `/dev/disk/by-id` link, an `sg` node) or an image file (a virtual
/// recorder). The handle goes to `*rec`; close it with
/// `discrec_recorder_close`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `rec` points to writable
/// memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_open(path: *const c_char, rec: *mut *mut discrec_recorder) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let path = unsafe { ffi::text(path, "path") }?;
        if rec.is_null() {
            return Err(Failure::pointer("rec (where the handle goes) is NULL".into()));
        }
        let r = Recorder::open(path)?;
        let cancel = discrec::cancel::Cancel::new().map_err(|e| {
            Failure::from(discrec::Error::Fail { what: "cannot make the handle's cancel signal".into(), source: e })
        })?;
        let id = new_id();
        let closed = Default::default();
        let signal = Default::default();
        locked(&RECORDERS).insert(id, Arc::new(Handle { rec: Mutex::new(r), cancel, closed, signal }));
        // SAFETY: checked non-NULL, writable by the caller's guarantee.
        unsafe { ffi::put(rec, id as *mut discrec_recorder, "rec") }
    })
}

/// Close a recorder handle: a wait in progress on it (another thread's)
/// is cancelled, what it holds is released (every nested acquire), and
/// the handle is invalid from now on.
#[no_mangle]
pub extern "C" fn discrec_recorder_close(rec: *mut discrec_recorder) -> i32 {
    run(|| {
        let h = recorder(rec)?;
        locked(&RECORDERS).remove(&(rec as usize));
        h.closed.store(true, Ordering::SeqCst);
        h.cancel.raise();
        locked(&h.rec).close()?;
        Ok(())
    })
}

/// End a wait in progress on this handle (from another thread): the
/// waiting `discrec_recorder_acquire_exclusive_access_wait` returns
/// `DISCREC_E_IMAPI_REQUEST_CANCELLED` having taken nothing. Without a
/// wait, nothing happens (`DISCREC_S_OK`).
#[no_mangle]
pub extern "C" fn discrec_recorder_cancel_wait(rec: *mut discrec_recorder) -> i32 {
    run(|| {
        let h = recorder(rec)?;
        h.cancel.raise();
        Ok(())
    })
}

/// `AcquireExclusiveAccess(force, clientName)`: exclusive use of the
/// recorder, or an error at once if another client has it
/// (`E_IMAPI_RECORDER_LOCKED`, naming it). Nested acquires on one handle
/// count; release each.
///
/// # Safety
/// `client_name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_acquire_exclusive_access(
    rec: *mut discrec_recorder,
    force: bool,
    client_name: *const c_char,
) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let name = unsafe { ffi::text(client_name, "client_name") }?;
        let r = recorder(rec)?;
        locked(&r.rec).acquire_exclusive_access(force, name)?;
        Ok(())
    })
}

/// Like `discrec_recorder_acquire_exclusive_access`, but wait for the
/// recorder, first come first served: at most `timeout_ms` milliseconds,
/// or forever when it is negative. The handle is busy while it waits;
/// `discrec_recorder_cancel_wait` or `discrec_recorder_close` from another
/// thread ends the wait (`DISCREC_E_IMAPI_REQUEST_CANCELLED`).
///
/// # Safety
/// `client_name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_acquire_exclusive_access_wait(
    rec: *mut discrec_recorder,
    force: bool,
    client_name: *const c_char,
    timeout_ms: i64,
) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let name = unsafe { ffi::text(client_name, "client_name") }?;
        let h = recorder(rec)?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        let mut r = locked(&h.rec);
        h.drain();
        if h.closed.load(Ordering::SeqCst) {
            return Err(Failure::invalid_handle("the recorder handle was closed".into()));
        }
        let wait = discrec::recorder::Wait { timeout, cancel: Some(h.cancel.as_fd()), on_wait: None };
        r.wait_for_exclusive_access(force, name, wait)?;
        Ok(())
    })
}

/// `ReleaseExclusiveAccess`: one release per acquire; the recorder is free
/// when the count reaches zero. Releasing what is not held is
/// `DISCREC_E_NOT_LOCKED` (`ERROR_INVALID_FUNCTION` as an HRESULT,
/// 0x80070001).
#[no_mangle]
pub extern "C" fn discrec_recorder_release_exclusive_access(rec: *mut discrec_recorder) -> i32 {
    run(|| {
        let r = recorder(rec)?;
        locked(&r.rec).release_exclusive_access()?;
        Ok(())
    })
}

/// `ExclusiveAccessOwner`: the client name of whoever holds the recorder
/// (any process, any user), in `*client_name`, or NULL when it is free.
/// A holder that is not a discrec client is named `command (pid N)`. Give
/// the string back with `discrec_free_string`.
///
/// # Safety
/// `client_name` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_exclusive_access_owner(
    rec: *mut discrec_recorder,
    client_name: *mut *mut c_char,
) -> i32 {
    run(|| {
        if client_name.is_null() {
            return Err(Failure::pointer("client_name (where the owner goes) is NULL".into()));
        }
        let r = recorder(rec)?;
        let owner = locked(&r.rec).exclusive_access_owner()?;
        let name = owner.map(|o| o.display_name());
        // SAFETY: checked non-NULL, writable by the caller's guarantee.
        unsafe { ffi::put(client_name, name.as_deref().map(ffi::owned).unwrap_or(std::ptr::null_mut()), "client_name") }
    })
}

/// The whole owner as one JSON object, in `*json`: `locked`, and when
/// held `client_name`, `pid`, `uid`, `user`, `since` (RFC 3339),
/// `by_discrec`, `command`, and `host` for a holder on another machine;
/// when free `locked` is false and the rest null or false.
/// Give it back with `discrec_free_string`.
///
/// # Safety
/// `json` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_exclusive_access_owner_json(
    rec: *mut discrec_recorder,
    json: *mut *mut c_char,
) -> i32 {
    run(|| {
        if json.is_null() {
            return Err(Failure::pointer("json (where the owner goes) is NULL".into()));
        }
        let r = recorder(rec)?;
        let owner = locked(&r.rec).exclusive_access_owner()?;
        let text = discrec::Owner::answer_json(owner.as_ref()).to_string();
        // SAFETY: checked non-NULL, writable by the caller's guarantee.
        unsafe { ffi::put_text(json, &text, "json") }
    })
}

/// How many acquires this handle holds (0: none).
///
/// # Safety
/// `count` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_lock_count(rec: *mut discrec_recorder, count: *mut u32) -> i32 {
    run(|| {
        let r = recorder(rec)?;
        let n = locked(&r.rec).lock_count();
        // SAFETY: passed on from the caller.
        unsafe { ffi::put(count, n, "count") }
    })
}

/// The node this handle opened (the block device a link or an `sg` node
/// names, or the image file), in `*path`; give it back with
/// `discrec_free_string`.
///
/// # Safety
/// `path` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_path(rec: *mut discrec_recorder, path: *mut *mut c_char) -> i32 {
    run(|| {
        ffi::required(path, "path")?;
        let r = recorder(rec)?;
        let node = locked(&r.rec).target().node.to_string_lossy().into_owned();
        // SAFETY: passed on from the caller.
        unsafe { ffi::put_text(path, &node, "path") }
    })
}

/// The drive's identity from INQUIRY (`VendorId`, `ProductId`,
/// `ProductRevision`), each where its pointer is not NULL; give each back
/// with `discrec_free_string`. Answered while another client holds the
/// drive.
///
/// # Safety
/// Each pointer is NULL or points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_identity(
    rec: *mut discrec_recorder,
    vendor: *mut *mut c_char,
    product: *mut *mut c_char,
    revision: *mut *mut c_char,
) -> i32 {
    run(|| {
        let r = recorder(rec)?;
        let inq = locked(&r.rec).inquiry()?;
        // SAFETY: each NULL or writable by the caller's guarantee.
        unsafe {
            ffi::put_text_if(vendor, &inq.vendor);
            ffi::put_text_if(product, &inq.product);
            ffi::put_text_if(revision, &inq.revision);
        }
        Ok(())
    })
}

/// `EjectMedia`, under `client_name` for the moment it holds the drive
/// (or under this handle's own hold).
///
/// # Safety
/// `client_name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_eject(rec: *mut discrec_recorder, client_name: *const c_char) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let name = unsafe { ffi::text(client_name, "client_name") }?;
        let r = recorder(rec)?;
        locked(&r.rec).eject(name)?;
        Ok(())
    })
}

/// `CloseTray`.
///
/// # Safety
/// `client_name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_close_tray(rec: *mut discrec_recorder, client_name: *const c_char) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let name = unsafe { ffi::text(client_name, "client_name") }?;
        let r = recorder(rec)?;
        locked(&r.rec).close_tray(name)?;
        Ok(())
    })
}

/// Lock (`lock` true) or unlock the tray (PREVENT ALLOW MEDIUM REMOVAL).
///
/// # Safety
/// `client_name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_set_tray_locked(
    rec: *mut discrec_recorder,
    client_name: *const c_char,
    lock: bool,
) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let name = unsafe { ffi::text(client_name, "client_name") }?;
        let r = recorder(rec)?;
        locked(&r.rec).set_tray_locked(name, lock)?;
        Ok(())
    })
}

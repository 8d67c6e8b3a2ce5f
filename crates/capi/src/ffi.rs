//! Everything that touches a C pointer: strings in and out, out-parameters,
//! the progress callback's user data. Each function states what the
//! caller must guarantee; the exported functions in `lib.rs` pass those
//! guarantees on to C callers in their own `# Safety` sections.

use std::ffi::{c_char, c_void, CStr, CString};

use crate::Failure;

/// The string at `p`, which must be UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::pointer(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's guarantee.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| Failure::invalid_arg(format!("{what} is not UTF-8 (byte {} is not)", e.valid_up_to())))
}

/// The strings of a NULL-terminated array (`argv`), as bytes: a command
/// and its arguments need not be UTF-8.
///
/// # Safety
/// `p` is NULL or points to an array of pointers to NUL-terminated
/// strings, ended by a NULL pointer, all valid while this runs.
pub unsafe fn args(p: *const *const c_char, what: &str) -> Result<Vec<std::ffi::OsString>, Failure> {
    use std::os::unix::ffi::OsStrExt;
    if p.is_null() {
        return Err(Failure::pointer(format!("{what} is NULL")));
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: the array is NULL-terminated by the caller's guarantee,
        // and this is at or before its end.
        let item = unsafe { *p.add(out.len()) };
        if item.is_null() {
            return Ok(out);
        }
        // SAFETY: a NUL-terminated string by the caller's guarantee.
        let s = unsafe { CStr::from_ptr(item) };
        out.push(std::ffi::OsStr::from_bytes(s.to_bytes()).to_os_string());
    }
}

/// Store `v` through `out`.
///
/// # Safety
/// `out` is NULL or points to writable memory for a `T`.
pub unsafe fn put<T>(out: *mut T, v: T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::pointer(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and writable by the caller's guarantee.
    unsafe { out.write(v) };
    Ok(())
}

/// Store `v` through `out` when `out` is not NULL (an optional output).
///
/// # Safety
/// As [`put`].
pub unsafe fn put_if<T>(out: *mut T, v: T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable by the caller's guarantee.
        unsafe { out.write(v) };
    }
}

/// `Err(E_POINTER)` when the out-parameter `out` is NULL: checked before
/// a call does its work, so that nothing is made only to be lost.
pub fn required<T>(out: *mut T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::pointer(format!("{what} (where the answer goes) is NULL")));
    }
    Ok(())
}

/// Store a copy of `s` through `out`, for the caller to give back with
/// `discrec_free_string`; nothing is made when `out` is NULL.
///
/// # Safety
/// As [`put`].
pub unsafe fn put_text(out: *mut *mut c_char, s: &str, what: &str) -> Result<(), Failure> {
    required(out, what)?;
    // SAFETY: non-NULL, and writable by the caller's guarantee.
    unsafe { put(out, owned(s), what) }
}

/// [`put_text`] where `out` is optional: NULL skips it.
///
/// # Safety
/// As [`put`].
pub unsafe fn put_text_if(out: *mut *mut c_char, s: &str) {
    if !out.is_null() {
        // SAFETY: non-NULL, and writable by the caller's guarantee.
        unsafe { out.write(owned(s)) };
    }
}

/// A string the caller owns, to give back with `discrec_free_string`. An
/// inner NUL (never in discrec's texts) ends it early.
pub fn owned(s: &str) -> *mut c_char {
    let bytes: Vec<u8> = s.bytes().take_while(|&b| b != 0).collect();
    CString::new(bytes).map(CString::into_raw).unwrap_or(std::ptr::null_mut())
}

/// Give back a string made by [`owned`].
///
/// # Safety
/// `p` is NULL or came from [`owned`] and was not freed before.
pub unsafe fn free_owned(p: *mut c_char) {
    if !p.is_null() {
        // SAFETY: made by CString::into_raw, freed once.
        drop(unsafe { CString::from_raw(p) });
    }
}

/// An array of owned strings, as (pointer, count).
pub fn owned_array(items: &[String]) -> (*mut *mut c_char, usize) {
    let v: Vec<*mut c_char> = items.iter().map(|s| owned(s)).collect();
    let n = v.len();
    (Box::into_raw(v.into_boxed_slice()) as *mut *mut c_char, n)
}

/// Give back an array made by [`owned_array`].
///
/// # Safety
/// `p` is NULL or came from [`owned_array`] with this `count`, not freed.
pub unsafe fn free_owned_array(p: *mut *mut c_char, count: usize) {
    if p.is_null() {
        return;
    }
    // SAFETY: made by Box::into_raw of a boxed slice of `count` pointers.
    let items = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, count)) };
    for s in items.iter() {
        // SAFETY: each made by `owned`.
        unsafe { free_owned(*s) };
    }
}

/// A C callback and its user data, called from the library's progress
/// thread.
pub struct Callback<T> {
    f: unsafe extern "C" fn(*const T, *mut c_void),
    user: *mut c_void,
}

// SAFETY: the C caller promises (in discrec_writer_write's contract) that
// its callback may be called from another thread with this user data.
unsafe impl<T> Send for Callback<T> {}

impl<T> Callback<T> {
    /// # Safety
    /// `f` may be called with `user` from another thread for as long as
    /// the call that takes it runs.
    pub unsafe fn new(f: unsafe extern "C" fn(*const T, *mut c_void), user: *mut c_void) -> Callback<T> {
        Callback { f, user }
    }

    /// Call it with `v`.
    pub fn call(&self, v: &T) {
        // SAFETY: by the promise taken in `new`.
        unsafe { (self.f)(v, self.user) }
    }
}

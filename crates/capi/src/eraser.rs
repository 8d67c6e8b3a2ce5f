//! The eraser (`IDiscFormat2Erase`) for C: `discrec_eraser_*`, erasing a
//! rewritable disc while holding its drive.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use discrec::{Eraser, Recorder};

use crate::{ffi, locked, new_id, run, Failure, ERASERS};

/// An eraser (`IDiscFormat2Erase`): opaque; a number, not memory.
pub struct discrec_eraser {
    _private: [u8; 0],
}

/// One progress update of an erase (`DDiscFormat2EraseEvents::Update`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct discrec_erase_progress {
    /// Seconds since the erase started (`elapsedSeconds`).
    pub elapsed_seconds: f64,
    /// Done, from 0 to 1, when the drive says; else -1.
    pub fraction: f64,
    /// What is being done: "blanking", "formatting", "clearing" (or
    /// "erasing" for a step the library names otherwise); static, do not
    /// free.
    pub step: *const c_char,
}

/// Called with each erase update, on a thread of the library's.
pub type discrec_erase_progress_fn =
    Option<unsafe extern "C" fn(progress: *const discrec_erase_progress, user: *mut c_void)>;

fn eraser(h: *mut discrec_eraser) -> Result<Arc<Eraser>, Failure> {
    let id = h as usize;
    if id == 0 {
        return Err(Failure::invalid_handle("the eraser handle is NULL".into()));
    }
    locked(&ERASERS).get(&id).cloned().ok_or_else(|| {
        Failure::invalid_handle(format!(
            "eraser handle {id:#x} is closed or was never opened; open one with discrec_eraser_open"
        ))
    })
}

/// Open an eraser (`IDiscFormat2Erase`, `put_Recorder`) on the recorder at
/// `path`: client name "discrec", a quick erase, no wait. The handle goes
/// to `*e`; close it with `discrec_eraser_close`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `e` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_eraser_open(path: *const c_char, e: *mut *mut discrec_eraser) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let path = unsafe { ffi::text(path, "path") }?;
        if e.is_null() {
            return Err(Failure::pointer("e (where the handle goes) is NULL".into()));
        }
        let er = Eraser::new(Recorder::open(path)?);
        let id = new_id();
        locked(&ERASERS).insert(id, Arc::new(er));
        // SAFETY: checked non-NULL, writable by the caller's guarantee.
        unsafe { ffi::put(e, id as *mut discrec_eraser, "e") }
    })
}

/// Close an eraser handle (an erase in progress on another thread runs to
/// its end: a drive cannot stop an erase it began).
#[no_mangle]
pub extern "C" fn discrec_eraser_close(e: *mut discrec_eraser) -> i32 {
    run(|| {
        eraser(e)?;
        locked(&ERASERS).remove(&(e as usize));
        Ok(())
    })
}

/// `ClientName`: the name the drive is held under while it erases (a bad
/// one is `DISCREC_E_IMAPI_ERASE_CLIENT_NAME_IS_NOT_VALID`).
///
/// # Safety
/// `client_name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn discrec_eraser_set_client_name(e: *mut discrec_eraser, client_name: *const c_char) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let name = unsafe { ffi::text(client_name, "client_name") }?;
        eraser(e)?.set_client_name(name)?;
        Ok(())
    })
}

/// `FullErase`: erase every sector (as long as writing the whole disc)
/// rather than what makes it read as blank (the default).
#[no_mangle]
pub extern "C" fn discrec_eraser_set_full_erase(e: *mut discrec_eraser, full: bool) -> i32 {
    run(|| {
        eraser(e)?.set_full_erase(full);
        Ok(())
    })
}

/// Wait for a drive another client holds before erasing, first come first
/// served: at most `timeout_ms` milliseconds, forever when negative; 0 (the
/// default) fails at once (`E_IMAPI_RECORDER_LOCKED`).
#[no_mangle]
pub extern "C" fn discrec_eraser_set_wait(e: *mut discrec_eraser, timeout_ms: i64) -> i32 {
    run(|| {
        eraser(e)?.set_wait(crate::writer::wait_policy(timeout_ms));
        Ok(())
    })
}

/// `EraseMedia`: erase the rewritable disc in the recorder (CD-RW,
/// DVD-RW, DVD+RW, DVD-RAM, BD-RE), holding the drive for it, calling
/// `progress` (may be NULL) with `user` on each update. A write-once or
/// pressed disc is refused before anything is sent
/// (`DISCREC_E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE`).
///
/// # Safety
/// `progress`, when not NULL, may be called with `user` from another
/// thread until this returns.
#[no_mangle]
pub unsafe extern "C" fn discrec_eraser_erase(
    e: *mut discrec_eraser,
    progress: discrec_erase_progress_fn,
    user: *mut c_void,
) -> i32 {
    run(|| {
        let er = eraser(e)?;
        // SAFETY: the caller allows calls from another thread while this runs.
        let cb = progress.map(|f| unsafe { ffi::Callback::new(f, user) });
        let mut on_update = move |p: &discrec::erase::EraseProgress| {
            if let Some(cb) = &cb {
                let step = match p.step {
                    "blanking" => c"blanking",
                    "formatting" => c"formatting",
                    "clearing" => c"clearing",
                    _ => c"erasing",
                };
                cb.call(&discrec_erase_progress {
                    elapsed_seconds: p.elapsed_seconds,
                    fraction: p.fraction.unwrap_or(-1.0),
                    step: step.as_ptr(),
                });
            }
        };
        er.erase(Some(&mut on_update))?;
        Ok(())
    })
}

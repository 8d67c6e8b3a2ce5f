//! The data writer (`IDiscFormat2Data`) for C: `discrec_writer_*`, its
//! settings, `Write`, adding a session, cancel, and the last write's report.

use std::ffi::{c_char, c_void};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use discrec::writer::{Progress, WriteReport};
use discrec::{DataWriter, Recorder};

use crate::{ffi, locked, new_id, run, writer, Failure, WRITERS};

/// A data writer (`IDiscFormat2Data`): opaque; a number, not memory.
pub struct discrec_writer {
    _private: [u8; 0],
}

/// A writer handle's state: the writer and the report of its last write.
pub(crate) struct WriterHandle {
    dw: DataWriter,
    report: Mutex<Option<WriteReport>>,
}

impl std::ops::Deref for WriterHandle {
    type Target = DataWriter;
    fn deref(&self) -> &DataWriter {
        &self.dw
    }
}

/// A wait as C gives it: `timeout_ms` milliseconds, 0 none (fail at once
/// when another client holds the drive), negative forever.
pub(crate) fn wait_policy(timeout_ms: i64) -> discrec::WaitPolicy {
    match timeout_ms {
        0 => discrec::WaitPolicy::NoWait,
        t => discrec::WaitPolicy::at_most(u64::try_from(t).ok().map(Duration::from_millis)),
    }
}

/// A Rust value as a JSON string for C, in `*out`.
///
/// # Safety
/// `out` is NULL (refused) or points to writable memory.
pub(crate) unsafe fn put_json(out: *mut *mut c_char, what: &str, v: &impl serde::Serialize) -> Result<(), Failure> {
    ffi::required(out, what)?;
    let text = serde_json::to_string(v).map_err(|e| {
        Failure::from(discrec::Error::Fail { what: format!("cannot write {what} as JSON"), source: e.into() })
    })?;
    // SAFETY: passed on from the caller.
    unsafe { ffi::put_text(out, &text, what) }
}

/// One progress update of a write (`IDiscFormat2DataEventArgs`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct discrec_progress {
    /// `IMAPI_FORMAT2_DATA_WRITE_ACTION`: 0 validating media, 1
    /// formatting, 2 initializing hardware, 3 calibrating power, 4
    /// writing data, 5 finalization, 6 completed, 7 verifying.
    pub action: i32,
    /// Milliseconds since the write started.
    pub elapsed_ms: u64,
    /// Estimated milliseconds left in this action, or -1.
    pub remaining_ms: i64,
    /// First sector written.
    pub start_lba: u64,
    /// Sectors to write.
    pub sector_count: u64,
    /// Last sector written, or -1 before the first.
    pub last_written_lba: i64,
    /// Sectors read back and checked so far.
    pub sectors_verified: u64,
    /// Percent of the current action done, 0-100.
    pub percent: f64,
}

/// Called with each progress update, on a thread of the library's (never
/// two at once), at most every 100 ms and at each change of action.
pub type discrec_progress_fn = Option<unsafe extern "C" fn(progress: *const discrec_progress, user: *mut c_void)>;

/// Open a data writer (`IDiscFormat2Data`) on the recorder at `path`; the
/// handle goes to `*w`. Close it with `discrec_writer_close`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `w` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_writer_open(path: *const c_char, w: *mut *mut discrec_writer) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let path = unsafe { ffi::text(path, "path") }?;
        if w.is_null() {
            return Err(Failure::pointer("w (where the handle goes) is NULL".into()));
        }
        let dw = DataWriter::new(Recorder::open(path)?);
        let id = new_id();
        locked(&WRITERS).insert(id, Arc::new(WriterHandle { dw, report: Mutex::new(None) }));
        // SAFETY: checked non-NULL, writable by the caller's guarantee.
        unsafe { ffi::put(w, id as *mut discrec_writer, "w") }
    })
}

/// Close a writer handle (a write in progress on another thread runs to
/// its end; cancel it first).
#[no_mangle]
pub extern "C" fn discrec_writer_close(w: *mut discrec_writer) -> i32 {
    run(|| {
        writer(w)?;
        locked(&WRITERS).remove(&(w as usize));
        Ok(())
    })
}

/// `ClientName`: the name others see as the owner while it writes.
///
/// # Safety
/// `client_name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn discrec_writer_set_client_name(w: *mut discrec_writer, client_name: *const c_char) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let name = unsafe { ffi::text(client_name, "client_name") }?;
        writer(w)?.set_client_name(name)?;
        Ok(())
    })
}

/// Read the written sectors back and compare (default: on). Refused
/// while a write runs (`DISCREC_E_IMAPI_DF2DATA_WRITE_IN_PROGRESS`), as
/// every setting of the writer is.
#[no_mangle]
pub extern "C" fn discrec_writer_set_verify(w: *mut discrec_writer, verify: bool) -> i32 {
    run(|| {
        writer(w)?.set_verify(verify)?;
        Ok(())
    })
}

/// `ForceMediaToBeClosed`: close the disc so nothing can be appended.
#[no_mangle]
pub extern "C" fn discrec_writer_set_force_media_to_be_closed(w: *mut discrec_writer, close: bool) -> i32 {
    run(|| {
        writer(w)?.set_force_media_to_be_closed(close)?;
        Ok(())
    })
}

/// `ForceOverwrite`: write a disc that holds data (a rewritable one, or
/// an image file that is not blank) from its start, over what it holds;
/// off by default, when a disc with data is refused
/// (`DISCREC_E_IMAPI_DF2DATA_MEDIA_NOT_BLANK`).
#[no_mangle]
pub extern "C" fn discrec_writer_set_force_overwrite(w: *mut discrec_writer, overwrite: bool) -> i32 {
    run(|| {
        writer(w)?.set_force_overwrite(overwrite)?;
        Ok(())
    })
}

/// `SetWriteSpeed`: write at `sectors_per_second` (2048-byte sectors,
/// IMAPI2's unit; one of the speeds the drive offers for the medium, see
/// `discrec_writer_supported_write_speeds_json`), or as fast as the drive
/// writes the medium when it is 0 (the default). A speed the drive does
/// not offer is refused when the write begins, naming those it offers.
#[no_mangle]
pub extern "C" fn discrec_writer_set_write_speed(w: *mut discrec_writer, sectors_per_second: u32) -> i32 {
    run(|| {
        let speed = match sectors_per_second {
            0 => discrec::medium::Speed::Max,
            s => discrec::medium::Speed::SectorsPerSecond(s),
        };
        writer(w)?.set_write_speed(speed)?;
        Ok(())
    })
}

/// `SupportedWriteSpeedDescriptors`: the write speeds the drive offers for
/// the medium in it, fastest first, as a JSON array in `*json` (each
/// `{"kilobytes_per_second", "sectors_per_second", "x"}`; empty for image
/// files and block devices). Give it back with `discrec_free_string`.
///
/// # Safety
/// `json` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_writer_supported_write_speeds_json(
    w: *mut discrec_writer,
    json: *mut *mut c_char,
) -> i32 {
    run(|| {
        ffi::required(json, "json")?;
        let speeds = writer(w)?.supported_write_speeds()?;
        // SAFETY: passed on from the caller.
        unsafe { put_json(json, "json", &speeds) }
    })
}

/// Wait for a drive another client holds before writing, first come
/// first served: at most `timeout_ms` milliseconds, forever when it is
/// negative; 0 (the default) fails at once (`E_IMAPI_RECORDER_LOCKED`).
#[no_mangle]
pub extern "C" fn discrec_writer_set_wait(w: *mut discrec_writer, timeout_ms: i64) -> i32 {
    run(|| {
        writer(w)?.set_wait(wait_policy(timeout_ms))?;
        Ok(())
    })
}

/// Which of the writer's calls runs.
enum Job {
    Write,
    Append,
}

/// `Write` or add a session, with progress to `progress`; the report kept.
///
/// # Safety
/// As `discrec_writer_write`.
unsafe fn write(
    w: *mut discrec_writer,
    source: *const c_char,
    progress: discrec_progress_fn,
    user: *mut c_void,
    job: Job,
) -> i32 {
    run(|| {
        // SAFETY: passed on from the caller.
        let source = unsafe { ffi::text(source, "source") }?;
        let h = writer(w)?;
        // SAFETY: the caller allows calls from another thread while this runs.
        let cb = progress.map(|f| unsafe { ffi::Callback::new(f, user) });
        let mut on_update = move |p: &Progress| {
            if let Some(cb) = &cb {
                let ms = |d: Duration| d.as_millis().min(u64::MAX as u128) as u64;
                cb.call(&discrec_progress {
                    action: p.action as i32,
                    elapsed_ms: ms(p.elapsed),
                    remaining_ms: p.remaining.map(|d| ms(d) as i64).unwrap_or(-1),
                    start_lba: p.start_lba,
                    sector_count: p.sector_count,
                    last_written_lba: p.last_written_lba.map(|l| l as i64).unwrap_or(-1),
                    sectors_verified: p.sectors_verified,
                    percent: p.percent(),
                });
            }
        };
        // Opened once the write has begun: a cancel while a directory is
        // read ends it.
        let report = match job {
            Job::Write => h.write_path(Path::new(source), None, Some(&mut on_update))?,
            Job::Append => h.append_path(Path::new(source), None, Some(&mut on_update))?,
        };
        *locked(&h.report) = Some(report);
        Ok(())
    })
}

/// `Write`: write `source` (an ISO image, a block device, or a directory,
/// made into ISO 9660 + Joliet + Rock Ridge as it is written) while
/// holding the recorder, calling `progress` (may be NULL) with `user` on
/// each update. Blocks until done, failed or cancelled
/// (`E_IMAPI_REQUEST_CANCELLED`).
///
/// # Safety
/// `source` is NULL or a NUL-terminated string; `progress`, when not NULL,
/// may be called with `user` from another thread until this returns.
#[no_mangle]
pub unsafe extern "C" fn discrec_writer_write(
    w: *mut discrec_writer,
    source: *const c_char,
    progress: discrec_progress_fn,
    user: *mut c_void,
) -> i32 {
    // SAFETY: passed on from the caller.
    unsafe { write(w, source, progress, user, Job::Write) }
}

/// Add a session holding the directory `dir` to what the disc holds
/// (IMAPI2's `ImportFileSystem`, `AddTree`, `Write`; `growisofs -M`): its
/// entries go over the disc's root, a new file replacing an old one of the
/// same name, every other file kept. A blank disc gets it as its first
/// session. Refused before anything is written: a closed disc
/// (`DISCREC_IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE`), no ISO 9660 file
/// system (`DISCREC_IMAPI_E_NO_SUPPORTED_FILE_SYSTEM`), a damaged one
/// (`DISCREC_IMAPI_E_FILE_SYSTEM_READ_CONSISTENCY_ERROR`), too little room.
/// Progress and cancel as `discrec_writer_write`.
///
/// # Safety
/// As `discrec_writer_write`.
#[no_mangle]
pub unsafe extern "C" fn discrec_writer_append(
    w: *mut discrec_writer,
    dir: *const c_char,
    progress: discrec_progress_fn,
    user: *mut c_void,
) -> i32 {
    // SAFETY: passed on from the caller.
    unsafe { write(w, dir, progress, user, Job::Append) }
}

/// The report of this writer's last write that succeeded, as a JSON
/// object in `*json`: `start_lba`, `sectors`, `write_time` and
/// `verify_time` (seconds), `verified`, `added_to` (for an added session:
/// `previous_session_start`, `files_kept`; else null); `*json` is NULL
/// before the first. Give it back with `discrec_free_string`.
///
/// # Safety
/// `json` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_writer_last_report_json(w: *mut discrec_writer, json: *mut *mut c_char) -> i32 {
    run(|| {
        ffi::required(json, "json")?;
        let h = writer(w)?;
        let report = locked(&h.report).clone();
        match report {
            // SAFETY: passed on from the caller.
            Some(r) => unsafe { put_json(json, "json", &r) },
            // SAFETY: passed on from the caller.
            None => unsafe { ffi::put(json, std::ptr::null_mut(), "json") },
        }
    })
}

/// Whether a write (or an added session) is in progress on this writer,
/// in `*writing`.
///
/// # Safety
/// `writing` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_writer_is_writing(w: *mut discrec_writer, writing: *mut bool) -> i32 {
    run(|| {
        ffi::required(writing, "writing")?;
        let now = writer(w)?.is_writing();
        // SAFETY: passed on from the caller.
        unsafe { ffi::put(writing, now, "writing") }
    })
}

/// `CancelWrite`: stop a write in progress (from any thread); it returns
/// `E_IMAPI_REQUEST_CANCELLED`. Without one, `E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS`.
#[no_mangle]
pub extern "C" fn discrec_writer_cancel_write(w: *mut discrec_writer) -> i32 {
    run(|| {
        writer(w)?.cancel_write()?;
        Ok(())
    })
}

//! What C asks of a recorder without holding it: its status (`discrec
//! status`), the drive (`discrec info`), the medium in it
//! (`IDiscFormat2Data`'s `CurrentPhysicalMediaType`, `CurrentMediaStatus`,
//! ...), its tray, the test for a ready medium, and every drive on the
//! machine with its details (`discrec list`).

use std::ffi::c_char;

use crate::writer::put_json;
use crate::{locked, recorder, run, Failure};

/// The medium in a recorder, as IMAPI2's `IDiscFormat2Data` properties
/// give it (for everything, `discrec_recorder_medium_json`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct discrec_medium {
    /// `CurrentPhysicalMediaType`: an `IMAPI_MEDIA_PHYSICAL_TYPE` value
    /// (0 unknown, 1 CD-ROM, 2 CD-R, 3 CD-RW, 4 DVD-ROM, 5 DVD-RAM, 6
    /// DVD+R, 7 DVD+RW, 8 DVD+R DL, 9 DVD-R, 10 DVD-RW, 11 DVD-R DL, 12 a
    /// disk (an image file, a block device), 13 DVD+RW DL, 17 BD-ROM, 18
    /// BD-R, 19 BD-RE).
    pub physical_type: u32,
    /// `CurrentMediaStatus`: `IMAPI_FORMAT2_DATA_MEDIA_STATE` flags (0x1
    /// randomly writable, 0x2 blank, 0x4 appendable, 0x8 final session,
    /// 0x400 damaged, 0x800 erase required, 0x1000 non-empty session,
    /// 0x2000 write protected, 0x4000 finalized, 0x8000 unsupported).
    pub state: u32,
    /// The MMC profile, or -1 (not a drive).
    pub profile: i32,
    /// `TotalSectorsOnMedia`.
    pub total_sectors: u64,
    /// `FreeSectorsOnMedia`.
    pub free_sectors: u64,
    /// `NextWritableAddress`.
    pub next_writable_address: u64,
    /// Sessions holding data.
    pub sessions: u32,
    /// `StartAddressOfPreviousSession`, or -1 without one.
    pub previous_session_start: i64,
    /// The disc can be erased (`discrec_eraser_erase`).
    pub erasable: bool,
    /// A write formats the disc first.
    pub needs_format: bool,
    /// `IsRecorderSupported`.
    pub recorder_supported: bool,
    /// `IsCurrentMediaSupported`: discrec can write this medium.
    pub medium_supported: bool,
}

/// `discrec status` of one drive, as a JSON object in `*json`: `target`,
/// `node`, `kind`, `locked`, `owner` (as
/// `discrec_recorder_exclusive_access_owner_json`'s fields, or null),
/// `mounts`, `other_locks`. Give it back with `discrec_free_string`.
///
/// # Safety
/// `json` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_status_json(
    rec: *mut crate::discrec_recorder,
    json: *mut *mut c_char,
) -> i32 {
    run(|| {
        crate::ffi::required(json, "json")?;
        let status = locked(&recorder(rec)?.rec).status()?;
        // SAFETY: passed on from the caller.
        unsafe { put_json(json, "json", &status) }
    })
}

/// `discrec info` of one drive, as a JSON object in `*json`: its device,
/// links, identity, bus, tray, mounts, holder, profiles (`SupportedProfiles`,
/// `CurrentProfiles`), features, mode pages, and the medium (as
/// `discrec_recorder_medium_json`, null without one or while another
/// client holds the drive). Give it back with `discrec_free_string`.
///
/// # Safety
/// `json` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_drive_json(rec: *mut crate::discrec_recorder, json: *mut *mut c_char) -> i32 {
    run(|| {
        crate::ffi::required(json, "json")?;
        let details = locked(&recorder(rec)?.rec).drive_details()?;
        // SAFETY: passed on from the caller.
        unsafe { put_json(json, "json", &details) }
    })
}

/// Every recorder on this machine with what `discrec list` shows of it
/// (`IDiscMaster2`), as a JSON array in `*json`; a drive that cannot be
/// read has its `error` set. Give it back with `discrec_free_string`.
///
/// # Safety
/// `json` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_drives_json(json: *mut *mut c_char) -> i32 {
    run(|| {
        crate::ffi::required(json, "json")?;
        let drives = discrec::drive::list();
        // SAFETY: passed on from the caller.
        unsafe { put_json(json, "json", &drives) }
    })
}

/// The medium in the recorder, in `*medium`. Refused with
/// `DISCREC_E_IMAPI_RECORDER_LOCKED` while another client holds the
/// drive, `DISCREC_E_IMAPI_RECORDER_MEDIA_NO_MEDIA` without a disc.
///
/// # Safety
/// `medium` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_medium(
    rec: *mut crate::discrec_recorder,
    medium: *mut discrec_medium,
) -> i32 {
    run(|| {
        if medium.is_null() {
            return Err(Failure::pointer("medium (where the medium goes) is NULL".into()));
        }
        let m = locked(&recorder(rec)?.rec).medium()?;
        let out = discrec_medium {
            physical_type: m.physical_type.value(),
            state: m.state.0,
            profile: m.profile.map_or(-1, i32::from),
            total_sectors: m.total_sectors,
            free_sectors: m.free_sectors,
            next_writable_address: m.next_writable_address,
            sessions: u32::from(m.sessions),
            previous_session_start: m.previous_session_start.map_or(-1, |s| s as i64),
            erasable: m.erasable,
            needs_format: m.needs_format,
            recorder_supported: m.recorder_supported,
            medium_supported: m.medium_supported,
        };
        // SAFETY: checked non-NULL, writable by the caller's guarantee.
        unsafe { crate::ffi::put(medium, out, "medium") }
    })
}

/// The medium in the recorder as `discrec info --json` shows it, a JSON
/// object in `*json`: `physical_type` and `state` by name, capacity,
/// sessions, `write_speeds`, `method`, and `why_not` when discrec cannot
/// write it. Refused as `discrec_recorder_medium`. Give it back with
/// `discrec_free_string`.
///
/// # Safety
/// `json` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_medium_json(
    rec: *mut crate::discrec_recorder,
    json: *mut *mut c_char,
) -> i32 {
    run(|| {
        crate::ffi::required(json, "json")?;
        let m = locked(&recorder(rec)?.rec).medium()?;
        // SAFETY: passed on from the caller.
        unsafe { put_json(json, "json", &m) }
    })
}

/// The tray, as the kernel's `CDROM_DRIVE_STATUS` says, in `*state`: 0
/// unknown (`CDS_NO_INFO`), 1 closed without a disc, 2 open, 3 not ready
/// (a disc spinning up), 4 a disc in and ready.
///
/// # Safety
/// `state` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_tray_state(rec: *mut crate::discrec_recorder, state: *mut i32) -> i32 {
    use discrec::mmc::cdrom::TrayState;
    run(|| {
        crate::ffi::required(state, "state")?;
        let t = locked(&recorder(rec)?.rec).tray_state()?;
        let n = match t {
            TrayState::Unknown => 0,
            TrayState::NoDisc => 1,
            TrayState::TrayOpen => 2,
            TrayState::NotReady => 3,
            TrayState::DiscOk => 4,
        };
        // SAFETY: passed on from the caller.
        unsafe { crate::ffi::put(state, n, "state") }
    })
}

/// TEST UNIT READY: `DISCREC_S_OK` when a medium is in and ready, else
/// `DISCREC_E_IMAPI_RECORDER_MEDIA_NO_MEDIA`,
/// `DISCREC_E_IMAPI_RECORDER_MEDIA_BECOMING_READY` or the drive's error;
/// `DISCREC_E_IMAPI_RECORDER_LOCKED` while another client holds it.
#[no_mangle]
pub extern "C" fn discrec_recorder_check_medium(rec: *mut crate::discrec_recorder) -> i32 {
    run(|| {
        locked(&recorder(rec)?.rec).check_medium()?;
        Ok(())
    })
}

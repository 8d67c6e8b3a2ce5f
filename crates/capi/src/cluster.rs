//! The cluster lock for C: a recorder shared by machines through etcd
//! (`discrec lock --cluster`), its fencing token and its loss.

use std::ffi::c_char;
use std::time::Duration;

use crate::{ffi, locked, recorder, run, Failure};

/// Share the recorder with other machines through the etcd at `endpoints`
/// (`http://HOST:2379`, several separated by commas; NULL takes
/// `DISCREC_ETCD` or `ETCDCTL_ENDPOINTS`), under the name `key` (the same
/// on every host; NULL names it by the drive's identity, which image files
/// lack): from now on this handle's acquires also take the cluster lock,
/// with a lease of `ttl_seconds` (0: 10 s) that ends when the holder dies.
/// User, password and certificates come from `ETCDCTL_USER`,
/// `ETCDCTL_CACERT`, `ETCDCTL_CERT`, `ETCDCTL_KEY`. A mistake in them is
/// `DISCREC_E_INVALIDARG`; an etcd that cannot be reached fails here at
/// once (`DISCREC_E_FAIL`, the message says why and what to change).
/// Refused while the handle holds the drive.
///
/// # Safety
/// `endpoints` and `key` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_set_cluster(
    rec: *mut crate::discrec_recorder,
    endpoints: *const c_char,
    key: *const c_char,
    ttl_seconds: u32,
) -> i32 {
    run(|| {
        let mut cfg = if endpoints.is_null() {
            discrec_cluster::Config::from_env().ok_or_else(|| {
                Failure::invalid_arg(
                    "endpoints is NULL and neither DISCREC_ETCD nor ETCDCTL_ENDPOINTS is set: name the etcd (http://HOST:2379)"
                        .into(),
                )
            })?
        } else {
            // SAFETY: passed on from the caller.
            discrec_cluster::Config::new(unsafe { ffi::text(endpoints, "endpoints") }?)
        };
        let key = if key.is_null() {
            None
        } else {
            // SAFETY: passed on from the caller.
            Some(unsafe { ffi::text(key, "key") }?.to_string())
        };
        if ttl_seconds > 0 {
            cfg.ttl = Duration::from_secs(u64::from(ttl_seconds));
        }
        let h = recorder(rec)?;
        discrec_cluster::attach(&mut locked(&h.rec), cfg, key)?;
        Ok(())
    })
}

/// The fencing token of this handle's cluster lock while it holds one, in
/// `*token` (it grows with every grant: a storage service that remembers
/// the largest it saw refuses a former holder), or -1 without one.
///
/// # Safety
/// `token` points to writable memory.
#[no_mangle]
pub unsafe extern "C" fn discrec_recorder_fencing_token(rec: *mut crate::discrec_recorder, token: *mut i64) -> i32 {
    run(|| {
        ffi::required(token, "token")?;
        let t = locked(&recorder(rec)?.rec).fencing_token().unwrap_or(-1);
        // SAFETY: passed on from the caller.
        unsafe { ffi::put(token, t, "token") }
    })
}

/// `DISCREC_S_OK` while this handle's cluster lock holds (or it has
/// none); once it was lost (etcd unreachable past the lease, the lease
/// revoked), the error to stop with, saying why: another machine may be
/// granted the drive, so send it nothing more.
#[no_mangle]
pub extern "C" fn discrec_recorder_check_cluster_lock(rec: *mut crate::discrec_recorder) -> i32 {
    run(|| {
        locked(&recorder(rec)?.rec).check_cluster_lock()?;
        Ok(())
    })
}

//! The guard: keeps this host's programs off a shared drive while another
//! host holds its cluster lock.
//!
//! The cluster lock binds only clients that ask for it. A program run on
//! host B without discrec (xorriso, growisofs, wodim) knows nothing of
//! etcd and would write the disc host A is burning. The guard runs on each
//! host beside the drive: while the cluster lock is held by a client on
//! another host, it holds the drive's *local* exclusive access on that
//! client's behalf (owner record `"CLIENT on HOST"`, and the kernel's
//! `O_EXCL` claim), so those programs get `EBUSY` and `discrec owner`
//! names the remote holder. It lets go as soon as the cluster lock is
//! free or held from this host. While etcd cannot be reached it cannot
//! know, and holds the drive (fail closed).
//!
//! What it cannot do: a program that opened the drive before the remote
//! client was granted it keeps its descriptor (the guard reports the drive
//! busy); and between a grant in etcd and the guard's claim there is one
//! watch notification's delay (milliseconds on a LAN).

use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use discrec::{Error, Owner, Recorder, Result};

use crate::acquire::readable;
use crate::config::Config;
use crate::etcd::Etcd;
use crate::queue::prefix;
use crate::record::Record;
use crate::share::cluster_key;

/// What the guard did, for its caller to report.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardEvent {
    /// Holding the drive here for a holder on another host (owner record
    /// as etcd has it).
    Guarding(Owner),
    /// The cluster lock is free or held from this host: the drive is left
    /// to this host's programs.
    Free,
    /// The drive should be held here (for the holder on another host, or
    /// because etcd cannot be reached), but something here has it (a
    /// program that opened it before, a mount, a prober): it may be
    /// writing what the other host writes. Tried again every 200 ms.
    Busy(Option<Owner>, String),
    /// etcd cannot be reached: the drive is held here until it can.
    Unreachable(String),
}

/// A client name for the guard's own hold: `CLIENT on HOST`, kept to the
/// characters and length client names allow.
fn guard_name(remote: &Owner) -> String {
    let name = format!(
        "{} on {}",
        remote.client_name.as_deref().unwrap_or("a client"),
        remote.host.as_deref().unwrap_or("another host")
    );
    let clean: String = name
        .chars()
        .map(|c| if discrec::client_name::is_allowed_char(c) { c } else { '_' })
        .take(discrec::client_name::MAX_LEN)
        .collect();
    clean
}

/// Guard `target` (cluster name `key`, else its identity) until `stop`
/// becomes readable; `on_event` hears each change. Errors only when the
/// drive cannot be opened or has no cluster name at the start; after
/// that, whatever fails (etcd, the drive) is reported and tried again.
pub fn guard(
    target: &Path,
    cfg: Config,
    key: Option<String>,
    stop: BorrowedFd<'_>,
    mut on_event: impl FnMut(&GuardEvent),
) -> Result<()> {
    let mut local = Recorder::open(target)?;
    let key = cluster_key(&local, key)?;
    let host = cfg.host.clone();
    let service = cfg.endpoints.join(",");
    // etcd out of reach at the start is no reason to leave the drive
    // open: the guard holds it until etcd answers.
    let mut etcd: Option<Etcd> = None;
    let mut watch = None;
    let mut last: Option<GuardEvent> = None;
    let mut tell = |e: GuardEvent, last: &mut Option<GuardEvent>| {
        if last.as_ref() != Some(&e) {
            on_event(&e);
            *last = Some(e);
        }
    };
    // Fail closed from the start: the drive is held before the first call
    // to etcd, which may take its whole timeout to give up, and let go
    // below once etcd says nobody elsewhere holds it.
    let unreachable = "discrec guard: etcd unreachable";
    let _ = local.acquire_exclusive_access(false, unreachable);
    loop {
        if etcd.is_none() {
            // Out of reach: the drive is held below until it answers.
            etcd = Etcd::connect(cfg.clone()).ok();
        }
        // Whom the drive should be held for here, if anyone.
        let wanted = match etcd.as_ref().map(|e| e.first(&key)) {
            Some(Ok(Some(e))) => {
                let o = Record::decode(&e.record);
                (o.host.as_deref() != Some(host.as_str())).then_some(Ok(o))
            }
            Some(Ok(None)) => None,
            Some(Err(e)) => {
                watch = None;
                Some(Err(e.to_string()))
            }
            None => Some(Err(format!("cannot reach etcd at {service}"))),
        };
        let name = wanted.as_ref().map(|w| match w {
            Ok(o) => guard_name(o),
            Err(_) => unreachable.to_string(),
        });
        if local.lock_count() > 0 && name.as_deref() != local.client_name() {
            local.release_exclusive_access()?;
        }
        let mut retry_soon = false;
        match (wanted, name) {
            (Some(w), Some(name)) => {
                if local.lock_count() == 0 {
                    // Whatever keeps us from the drive (a holder here, a
                    // mount, a prober, a drive gone for a moment), the guard
                    // stays and tries again: giving up would leave the
                    // drive open to this host's programs.
                    match local.acquire_exclusive_access(false, &name) {
                        Ok(()) => {}
                        Err(e) => {
                            retry_soon = true;
                            let here = match &e {
                                Error::RecorderLocked { owner, .. } => owner.held_by(),
                                other => other.one_line(),
                            };
                            tell(GuardEvent::Busy(w.as_ref().ok().cloned(), here), &mut last);
                        }
                    }
                }
                if local.lock_count() > 0 {
                    match w {
                        Ok(o) => tell(GuardEvent::Guarding(o), &mut last),
                        Err(why) => tell(GuardEvent::Unreachable(why), &mut last),
                    }
                }
            }
            _ => tell(GuardEvent::Free, &mut last),
        }
        // Wait for a change of the drive's keys (or at most a second; a
        // busy drive is tried again sooner).
        if let (None, Some(etcd)) = (&watch, &etcd) {
            watch = etcd
                .call("cannot watch the drive's key", || {
                    let k = prefix(&key).into_bytes();
                    let req = crate::client::pb::WatchCreateRequest {
                        range_end: crate::client::prefix_end(&k),
                        key: k,
                        ..Default::default()
                    };
                    etcd.client.watch(req)
                })
                .ok();
        }
        let until = Instant::now() + if retry_soon { Duration::from_millis(200) } else { Duration::from_secs(1) };
        while Instant::now() < until {
            if readable(Some(stop)) {
                if local.lock_count() > 0 {
                    local.release_exclusive_access()?;
                }
                return Ok(());
            }
            let (Some(stream), Some(etcd)) = (watch.as_mut(), etcd.as_ref()) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let next = etcd.block(async { tokio::time::timeout(Duration::from_millis(50), stream.message()).await });
            match next {
                Err(_) => continue,
                // Cancelled (compacted): made anew next time round.
                Ok(Ok(Some(r))) if r.canceled => {
                    watch = None;
                    break;
                }
                Ok(Ok(Some(_))) => break,
                Ok(Ok(None)) | Ok(Err(_)) => {
                    watch = None;
                    break;
                }
            }
        }
    }
}

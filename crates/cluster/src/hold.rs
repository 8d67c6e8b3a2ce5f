//! A granted (or queued) key and its lease kept alive: [`Hold`], which
//! renews the lease every TTL/3, watches its key, knows when the lock is
//! lost, and releases it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use discrec::cluster::ClusterHold;

use crate::client::{pb, Client};
use crate::etcd::{block_on, retrying, Etcd};

/// Time on `CLOCK_BOOTTIME` ([`discrec::cluster::boot_time`]): a holder
/// that wakes from a suspend longer than its lease knows its lease may be
/// gone, as etcd's clock went on too.
pub(crate) fn boot_now() -> Duration {
    discrec::cluster::boot_time()
}

/// A held (or queued) key and the keep-alive of its lease.
pub(crate) struct Hold {
    lease: i64,
    key: String,
    revision: i64,
    /// The caller's runtime and connection (release).
    fg: Arc<tokio::runtime::Runtime>,
    client: Client,
    /// The keep-alive's runtime and connection.
    handle: tokio::runtime::Handle,
    bg_client: Client,
    stop: Arc<AtomicBool>,
    lost: Arc<Mutex<Option<String>>>,
    /// When the last renewal was sent, on [`boot_now`]'s clock.
    last_ok: Arc<Mutex<Duration>>,
    ttl: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold").field("key", &self.key).field("revision", &self.revision).finish_non_exhaustive()
    }
}

impl Hold {
    /// Keep `lease`, granted no earlier than `granted`, alive.
    pub(crate) fn start(etcd: &Etcd, lease: i64, key: String, revision: i64, granted: Duration) -> Hold {
        let hold = Hold {
            lease,
            key,
            revision,
            fg: etcd.fg.clone(),
            client: etcd.client.clone(),
            handle: etcd.bg.handle().clone(),
            bg_client: etcd.bg_client.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            lost: Arc::new(Mutex::new(None)),
            last_ok: Arc::new(Mutex::new(granted)),
            ttl: etcd.cfg.lease_ttl(),
            timeout: etcd.cfg.timeout,
        };
        hold.handle.spawn(keep_alive(
            hold.bg_client.clone(),
            lease,
            hold.ttl,
            hold.stop.clone(),
            hold.lost.clone(),
            hold.last_ok.clone(),
        ));
        // The key itself: deleted by anyone but us (an administrator's
        // `etcdctl del`, a client that may write to etcd), the drive may
        // be granted to another while our lease lives on.
        hold.handle.spawn(watch_key(
            hold.bg_client.clone(),
            hold.key.clone(),
            revision,
            hold.stop.clone(),
            hold.lost.clone(),
        ));
        hold
    }

    /// The lease.
    pub(crate) fn lease(&self) -> i64 {
        self.lease
    }

    /// The key bound to the lease.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The revision that created the key.
    pub(crate) fn revision(&self) -> i64 {
        self.revision
    }

    /// Stop the keep-alive and the watch on the key.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl ClusterHold for Hold {
    fn lost(&self) -> Option<String> {
        if let Some(why) = self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Some(why);
        }
        // Not renewed for 2/3 of the TTL: the lease may expire at any time
        // now (etcd counts from its last renewal, which was no later).
        let since = boot_now().saturating_sub(*self.last_ok.lock().unwrap_or_else(|e| e.into_inner()));
        (since > self.ttl.saturating_mul(2) / 3)
            .then(|| format!("the lease was not renewed for {:.1} s", since.as_secs_f64()))
    }

    fn fencing_token(&self) -> i64 {
        self.revision
    }

    fn time_to_live(&self) -> Duration {
        self.ttl
    }

    fn release(self: Box<Self>) {
        let lost = self.lost().is_some();
        self.stop();
        // Revoking the lease deletes the key bound to it, in one round
        // trip; waiters watching it see the deletion.
        let (lease, timeout) = (self.lease, self.timeout);
        // Retried over the members (one may be dead): a revoke lost here
        // would keep the drive from the next waiter for a whole TTL.
        let revoke = |c: Client| async move {
            let _ = retrying(timeout, || c.lease_revoke(lease)).await;
        };
        // A lock already lost is not waited for (etcd is likely out of
        // reach, and the lease expires by itself); otherwise the key is
        // gone before release returns, so the next waiter is next.
        if lost {
            self.handle.spawn(revoke(self.bg_client.clone()));
        } else {
            block_on(&self.fg, revoke(self.client.clone()));
        }
    }
}

/// Renew `lease` (time to live `ttl`) every third of it until `stop`,
/// over a keep-alive stream opened again whenever it breaks; each renewal
/// noted in `last_ok` when sent, the lease gone noted in `lost`.
async fn keep_alive(
    c: Client,
    lease: i64,
    ttl: Duration,
    stop: Arc<AtomicBool>,
    lost: Arc<Mutex<Option<String>>>,
    last_ok: Arc<Mutex<Duration>>,
) {
    let every = ttl / 3;
    let fail = |why: String| *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    let mut keep = None;
    // A renewal counts from when its request was sent (etcd
    // renewed the lease no earlier): never later than it was.
    let renewed_at = |t: Duration| *last_ok.lock().unwrap_or_else(|e| e.into_inner()) = t;
    // The lease was just granted with its whole TTL: the first
    // renewal is due a third of it later (a short hold never opens
    // the keep-alive stream at all).
    tokio::time::sleep(every).await;
    while !stop.load(Ordering::SeqCst) {
        // A broken keep-alive stream (the member it went to died,
        // a leader election) is opened again, on any member the
        // client knows; only etcd saying the lease is gone is
        // final. Renewals that keep failing show in `lost` once
        // 2/3 of the TTL passed without one.
        if keep.is_none() {
            // Opening the stream renews the lease once (the client
            // sends a first request and reads its answer).
            let sent = boot_now();
            match tokio::time::timeout(every, c.lease_keep_alive(lease)).await {
                Ok(Ok((_, 0))) => return fail("the lease expired in etcd".into()),
                Ok(Ok((k, _))) => {
                    renewed_at(sent);
                    keep = Some(k);
                    tokio::time::sleep(every).await;
                    continue;
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let Some(keeper) = keep.as_mut() else { continue };
        let sent = boot_now();
        match tokio::time::timeout(every, keeper.renew()).await {
            Ok(Ok(ttl)) if ttl > 0 => renewed_at(sent),
            Ok(Ok(_)) => return fail("the lease expired in etcd".into()),
            Ok(Err(_)) | Err(_) => {
                keep = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Watch `key`, created at `revision`, until `stop`; its deletion (or
/// its place taken by another key) noted in `lost`.
async fn watch_key(c: Client, key: String, revision: i64, stop: Arc<AtomicBool>, lost: Arc<Mutex<Option<String>>>) {
    let gone = || {
        if !stop.load(Ordering::SeqCst) {
            *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                "its key {key} was deleted from etcd (by an administrator, or a client that may write there)"
            ));
        }
    };
    // Watched from just after its creation, then from just after
    // each look at it (a start compacted away would be cancelled
    // again and again).
    let mut from = revision + 1;
    while !stop.load(Ordering::SeqCst) {
        let req = pb::WatchCreateRequest { key: key.clone().into_bytes(), start_revision: from, ..Default::default() };
        if let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_secs(3), c.watch(req)).await {
            while !stop.load(Ordering::SeqCst) {
                match tokio::time::timeout(Duration::from_millis(500), stream.message()).await {
                    Err(_) => continue,
                    Ok(Ok(Some(r))) if r.has_delete() => return gone(),
                    // Cancelled (compacted past its start) or broken:
                    // look at the key, then watch again.
                    Ok(Ok(Some(r))) if r.canceled => break,
                    Ok(Ok(Some(_))) => continue,
                    Ok(Ok(None)) | Ok(Err(_)) => break,
                }
            }
        }
        let req = pb::RangeRequest { key: key.clone().into_bytes(), ..Default::default() };
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(3), c.range(req)).await {
            if r.kvs.first().map(|kv| kv.create_revision) != Some(revision) {
                return gone();
            }
            if let Some(h) = r.header {
                from = from.max(h.revision + 1);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

//! The cluster lock in etcd: a [`discrec::cluster::Coordinator`] that
//! grants a drive to one client across machines, so that two hosts that
//! see one recorder (iSCSI, a SAN, a disc publisher) never write it at the
//! same time.
//!
//! One drive is one key prefix, `discrec/drive/KEY/`. A client that wants
//! the drive grants itself a lease (TTL, default 10 s, kept alive while it
//! holds the drive) and, in one transaction, creates
//! `discrec/drive/KEY/LEASE` if absent, holding its owner record (client
//! name, host, pid, user, since). The holder is the key with the lowest
//! creation revision; waiters queue by creation revision (first come,
//! first served) and each watches the one before it. Release deletes the
//! key and revokes the lease; a holder that dies without releasing loses
//! the drive when its lease expires, at most TTL later.
//!
//! The holder renews its lease every TTL/3 and counts the lock lost as
//! soon as no renewal has succeeded for 2/3 of the TTL: before the lease
//! can expire in etcd, so it knows before anyone else can be granted the
//! drive. etcd calls run on a runtime of this crate's own; the core stays
//! synchronous.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use discrec::cluster::{ClusterHold, Coordinator};
use discrec::{Error, Owner, Result};
pub mod client;
mod config;
mod record;
mod etcd;
mod queue;
pub mod guard;

use client::{pb, Client};
pub use config::{Config, MAX_TTL};
pub use etcd::Etcd;
use etcd::{block_on, retrying};
use pb::range_request::SortOrder;
use queue::{created_at, key_for, op, prefix, put, range};
use record::Record;

/// Share `rec`'s drive through the etcd of `cfg`, under `key`, or else
/// the drive's own identity (vital product data). An image file, or a
/// drive without one, needs a key named by the caller: two hosts must
/// agree on it, and a path does not name a drive across machines.
pub fn attach(rec: &mut discrec::Recorder, cfg: Config, key: Option<String>) -> Result<()> {
    let key = cluster_key(rec, key)?;
    let etcd = Etcd::connect(cfg)?;
    rec.set_cluster(Arc::new(etcd), key)
}

/// The drive's name in the cluster: `key` if given, else its identity.
pub fn cluster_key(rec: &discrec::Recorder, key: Option<String>) -> Result<String> {
    match key {
        Some(k) if !k.is_empty() => Ok(k),
        _ => rec.cluster_identity().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{} has no identity other machines would see alike (an image file, or a drive without vital product data); name it with --cluster-key KEY, the same on every host",
                rec.target().given.display()
            ))
        }),
    }
}

/// Time on `CLOCK_BOOTTIME`, which goes on while the machine is
/// suspended (the monotonic clock stops): a holder that wakes from a
/// suspend longer than its lease knows its lease may be gone, as etcd's
/// clock went on too.
fn boot_now() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

impl Etcd {
    /// Leave the queue: revoking the lease deletes the key bound to it.
    fn give_up(&self, _my_key: &str, lease: i64) {
        self.revoke(lease);
    }
}

fn readable(fd: Option<BorrowedFd<'_>>) -> bool {
    let Some(fd) = fd else { return false };
    let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, Some(&rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
}

impl Coordinator for Etcd {
    fn acquire(
        &self,
        key: &str,
        target: &std::path::Path,
        owner: &Owner,
        wait: Option<Option<Duration>>,
        cancel: Option<BorrowedFd<'_>>,
        on_wait: &mut dyn FnMut(&Owner),
    ) -> Result<Box<dyn ClusterHold>> {
        let started = Instant::now();
        let ttl = self.cfg.ttl.clamp(Duration::from_secs(2), MAX_TTL).as_secs() as i64;
        // The lease's time runs from no later than this.
        let granted = boot_now();
        let lease = self.call("cannot grant a lease", || self.client.lease_grant(ttl))?.id;
        let my_key = key_for(key, lease);
        let record = Record::new(owner, &self.cfg.host);
        let value = record.value();
        // Created only if absent, in one transaction, bound to the lease;
        // the same transaction reads the head of the queue, so that an
        // uncontended acquire is two round trips (grant, transaction).
        let txn = pb::TxnRequest {
            compare: vec![created_at(&my_key, 0)],
            success: vec![
                put(&my_key, value, lease),
                op(pb::request_op::Request::RequestRange(range(key, SortOrder::Ascend))),
            ],
            failure: vec![],
        };
        let queued = self.call("cannot queue for the drive", || self.client.txn(txn.clone()));
        // The revision that created our key: the transaction's, unless a
        // retry found the key made by an attempt whose answer was lost.
        let mut known_head = None;
        let my_rev = match queued {
            Ok(r) if r.succeeded => {
                for op in r.responses {
                    if let Some(pb::response_op::Response::ResponseRange(g)) = op.response {
                        known_head = Some(g.kvs.into_iter().next().map(|kv| (kv.key, kv.value, kv.create_revision)));
                    }
                }
                Ok(r.header.map(|h| h.revision).unwrap_or(0))
            }
            Ok(_) => {
                let req = pb::RangeRequest { key: my_key.clone().into_bytes(), ..Default::default() };
                self.call("cannot read our place in the queue", || self.client.range(req.clone()))
                    .map(|r| r.kvs.first().map(|kv| kv.create_revision).unwrap_or(0))
            }
            Err(e) => Err(e),
        };
        let my_rev = match my_rev {
            Ok(r) => r,
            Err(e) => {
                self.revoke(lease);
                return Err(e);
            }
        };
        // The lease is kept alive from now on, waiting included.
        let hold = Hold::start(self, lease, my_key.clone(), my_rev, granted);
        let mut told: Option<Vec<u8>> = None;
        loop {
            let first = match known_head.take().map(Ok).unwrap_or_else(|| self.first(key)) {
                Ok(f) => f,
                Err(e) => {
                    hold.stop();
                    self.give_up(&my_key, lease);
                    return Err(e);
                }
            };
            match first {
                Some((k, _, _)) if k == my_key.as_bytes() => {
                    if told.is_some() {
                        // Granted after waiting: the record says since
                        // when it holds, not since when it queued (best
                        // effort; only while the key is still ours).
                        let mut record = record;
                        record.since_now();
                        let value = record.value();
                        let txn = pb::TxnRequest {
                            compare: vec![created_at(&my_key, my_rev)],
                            success: vec![put(&my_key, value, lease)],
                            failure: vec![],
                        };
                        let _ = self.call("cannot update the owner record", || self.client.txn(txn.clone()));
                    }
                    return Ok(Box::new(hold));
                }
                Some((_, v, _)) if wait.is_none() => {
                    hold.stop();
                    self.give_up(&my_key, lease);
                    let owner = Record::decode(&v);
                    return Err(Error::RecorderLocked { target: target.to_path_buf(), owner: Box::new(owner) });
                }
                None => {
                    hold.stop();
                    self.give_up(&my_key, lease);
                    return Err(self.fail("the queue", "our key vanished (the lease expired while queueing)"));
                }
                Some((head, v, _)) => {
                    // Waiting: say for whom, then watch the waiter just
                    // before us until it goes.
                    if told.as_ref() != Some(&head) {
                        on_wait(&Record::decode(&v));
                        told = Some(head);
                    }
                    let limit = wait.flatten().and_then(|d| started.checked_add(d));
                    let quit = |e: Error| {
                        hold.stop();
                        self.give_up(&my_key, lease);
                        Err(e)
                    };
                    let before = match self.before(key, my_rev) {
                        Ok(b) => b,
                        Err(e) => return quit(e),
                    };
                    let Some((prev, seen)) = before else {
                        // Nobody queued before us, yet another key is
                        // first: unless the head just left, our own key
                        // is gone (deleted by someone).
                        match self.first(key) {
                            Ok(Some((k, _, _))) if k == my_key.as_bytes() => return Ok(Box::new(hold)),
                            Ok(_) => {
                                return quit(self.fail(
                                    "lost our place in the drive's queue",
                                    "our key was deleted from etcd while we waited",
                                ))
                            }
                            Err(e) => return quit(e),
                        }
                    };
                    let req = pb::WatchCreateRequest { key: prev, start_revision: seen + 1, ..Default::default() };
                    let stream = self.call("cannot watch the queue", || self.client.watch(req.clone()));
                    let mut stream = match stream {
                        Ok(s) => s,
                        Err(e) => return quit(e),
                    };
                    loop {
                        if readable(cancel) {
                            return quit(Error::Cancelled { target: target.to_path_buf() });
                        }
                        // Our own place in the queue lapsed (cut off while
                        // waiting, or our key deleted): waiting on would
                        // wait for nothing.
                        if let Some(why) = hold.lost() {
                            return quit(self.fail("lost our place in the drive's queue while waiting", why));
                        }
                        if limit.is_some_and(|l| Instant::now() >= l) {
                            let owner = Record::read(&v);
                            return quit(match owner {
                                Some(o) => Error::RecorderLocked { target: target.to_path_buf(), owner: Box::new(o) },
                                None => self.fail("waiting", "timed out"),
                            });
                        }
                        let next = self
                            .block(async { tokio::time::timeout(Duration::from_millis(50), stream.message()).await });
                        match next {
                            Err(_) => continue,
                            // A watch cancelled (compacted past its start)
                            // or broken: read the queue again.
                            Ok(Ok(Some(resp))) if resp.canceled => break,
                            Ok(Ok(Some(resp))) => {
                                if resp.has_delete() {
                                    break;
                                }
                            }
                            Ok(Ok(None)) | Ok(Err(_)) => break,
                        }
                    }
                }
            }
        }
    }

    fn owner(&self, key: &str) -> Result<Option<Owner>> {
        Ok(self.first(key)?.map(|(_, v, _)| Record::decode(&v)))
    }

    fn describe(&self) -> String {
        self.name()
    }
}

/// A held (or queued) key and the keep-alive of its lease.
struct Hold {
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
    fn start(etcd: &Etcd, lease: i64, key: String, revision: i64, granted: Duration) -> Hold {
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
            ttl: etcd.cfg.ttl.clamp(Duration::from_secs(2), MAX_TTL),
            timeout: etcd.cfg.timeout,
        };
        let (c, stop, lost, last_ok, ttl) =
            (hold.bg_client.clone(), hold.stop.clone(), hold.lost.clone(), hold.last_ok.clone(), hold.ttl);
        hold.handle.spawn(async move {
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
        });
        // The key itself: deleted by anyone but us (an administrator's
        // `etcdctl del`, a client that may write to etcd), the drive may
        // be granted to another while our lease lives on.
        let (c, key, stop, lost) = (hold.bg_client.clone(), hold.key.clone(), hold.stop.clone(), hold.lost.clone());
        hold.handle.spawn(async move {
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
                let req = pb::WatchCreateRequest {
                    key: key.clone().into_bytes(),
                    start_revision: from,
                    ..Default::default()
                };
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
        });
        hold
    }

    fn stop(&self) {
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

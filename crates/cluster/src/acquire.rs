//! The acquire algorithm of [`discrec::cluster::Coordinator`] on etcd: a
//! lease, the transaction that queues for the drive, and the wait behind
//! the waiter before us.
//!
//! Every way out of it but a grant leaves the queue, by construction: the
//! lease is a guard value, [`PendingLease`] until our key is queued, then
//! [`Place`], that revokes it when dropped (revoking deletes the key bound
//! to it), unless the drive is granted.

use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use discrec::cluster::{ClusterHold, Coordinator};
use discrec::{Error, Owner, Result, WaitPolicy};

use crate::client::pb;
use crate::etcd::Etcd;
use crate::hold::{boot_now, Hold};
use crate::queue::{created_at, entry, key_for, op, put, range, Entry};
use crate::record::Record;
use pb::range_request::SortOrder;

/// Whether `fd` (a cancel or stop signal) is readable, without waiting.
pub(crate) fn readable(fd: Option<BorrowedFd<'_>>) -> bool {
    let Some(fd) = fd else { return false };
    let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, Some(&rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
}

/// A lease granted for a place in a drive's queue, its key not queued
/// yet: revoked when dropped, unless [`PendingLease::keep_alive`] makes it
/// a [`Place`].
struct PendingLease<'a> {
    etcd: &'a Etcd,
    id: i64,
    /// Granted no earlier than this, on [`boot_now`]'s clock.
    granted: Duration,
    armed: bool,
}

impl<'a> PendingLease<'a> {
    /// Grant a lease of the configured TTL.
    fn grant(etcd: &'a Etcd) -> Result<PendingLease<'a>> {
        let ttl = etcd.cfg.lease_ttl().as_secs() as i64;
        // The lease's time runs from no later than this.
        let granted = boot_now();
        let id = etcd.call("cannot grant a lease", || etcd.client.lease_grant(ttl))?.id;
        Ok(PendingLease { etcd, id, granted, armed: true })
    }

    /// Our place in the queue: `key`, created at `revision`, bound to the
    /// lease, which is kept alive from now on, waiting included.
    fn keep_alive(mut self, key: String, revision: i64) -> Place<'a> {
        self.armed = false;
        Place { etcd: self.etcd, hold: Some(Hold::start(self.etcd, self.id, key, revision, self.granted)) }
    }
}

impl Drop for PendingLease<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.etcd.revoke(self.id);
        }
    }
}

/// Our place in a drive's queue: a key bound to a lease kept alive. When
/// dropped it leaves the queue (the keep-alive stopped, then the lease
/// revoked), unless [`Place::into_hold`] takes it, granted.
struct Place<'a> {
    etcd: &'a Etcd,
    /// Taken only by [`Place::into_hold`].
    hold: Option<Hold>,
}

impl Place<'_> {
    fn hold(&self) -> &Hold {
        self.hold.as_ref().expect("a place has its hold until into_hold")
    }

    /// Granted: the hold outlives the place.
    fn into_hold(mut self) -> Hold {
        self.hold.take().expect("a place has its hold until into_hold")
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take() {
            hold.stop();
            self.etcd.revoke(hold.lease());
        }
    }
}

/// How one acquire waits: whether at all, until when, what cancels it,
/// whom it tells.
struct Waiting<'a> {
    target: &'a Path,
    /// Whether to wait at all (else a drive held is refused at once).
    wait: bool,
    /// Until when, if not for ever.
    limit: Option<Instant>,
    cancel: Option<BorrowedFd<'a>>,
    on_wait: &'a mut dyn FnMut(&Owner),
}

impl Waiting<'_> {
    /// The error for a drive held by `owner`.
    fn locked(&self, owner: Owner) -> Error {
        Error::RecorderLocked { target: self.target.to_path_buf(), owner: Box::new(owner) }
    }

    /// Whether to wait on behind the head of the queue, whose value is
    /// `head`: not if cancelled, if our place is lost, or past the limit.
    fn check(&self, etcd: &Etcd, hold: &Hold, head: &[u8]) -> Result<()> {
        if readable(self.cancel) {
            return Err(Error::Cancelled { target: self.target.to_path_buf() });
        }
        // Our own place in the queue lapsed (cut off while waiting, or our
        // key deleted): waiting on would wait for nothing.
        if let Some(why) = hold.lost() {
            return Err(etcd.fail("lost our place in the drive's queue while waiting", why));
        }
        if self.limit.is_some_and(|l| Instant::now() >= l) {
            return Err(match Record::read(head) {
                Some(o) => self.locked(o),
                None => etcd.fail("waiting", "timed out"),
            });
        }
        Ok(())
    }
}

/// The head of a drive's queue, as the queueing transaction may have read
/// it.
enum Head {
    /// Not read: read it.
    Unread,
    /// Read: the first entry (`None`: the queue is empty).
    Read(Option<Entry>),
}

/// What a wait behind the waiter before us ended in.
enum Turn {
    /// Nobody is before us any more and our key is first.
    Granted,
    /// The one before us went (or the watch broke): read the queue again.
    Again,
}

impl Etcd {
    /// Queue for drive `key` under `lease`: our key created if absent,
    /// bound to the lease, holding `record`. Returns our place and the
    /// head of the queue, if the same transaction read it.
    fn queue_up<'a>(&'a self, lease: PendingLease<'a>, key: &str, record: &Record) -> Result<(Place<'a>, Head)> {
        let my_key = key_for(key, lease.id);
        // Created only if absent, in one transaction, bound to the lease;
        // the same transaction reads the head of the queue, so that an
        // uncontended acquire is two round trips (grant, transaction).
        let txn = pb::TxnRequest {
            compare: vec![created_at(&my_key, 0)],
            success: vec![
                put(&my_key, record.value(), lease.id),
                op(pb::request_op::Request::RequestRange(range(key, SortOrder::Ascend))),
            ],
            failure: vec![],
        };
        let r = self.call("cannot queue for the drive", || self.client.txn(txn.clone()))?;
        // The revision that created our key: the transaction's, unless a
        // retry found the key made by an attempt whose answer was lost.
        let (my_rev, head) = if r.succeeded {
            let head = r.responses.into_iter().rev().find_map(|op| match op.response {
                Some(pb::response_op::Response::ResponseRange(g)) => {
                    Some(Head::Read(g.kvs.into_iter().next().map(entry)))
                }
                _ => None,
            });
            (r.header.map(|h| h.revision).unwrap_or(0), head.unwrap_or(Head::Unread))
        } else {
            let req = pb::RangeRequest { key: my_key.clone().into_bytes(), ..Default::default() };
            let r = self.call("cannot read our place in the queue", || self.client.range(req.clone()))?;
            (r.kvs.first().map(|kv| kv.create_revision).unwrap_or(0), Head::Unread)
        };
        Ok((lease.keep_alive(my_key, my_rev), head))
    }

    /// Wait in `place` for drive `key` until our key is first: granted.
    /// `head`: the queue's head, if just read.
    fn take_turn(
        &self,
        place: Place<'_>,
        key: &str,
        record: Record,
        mut head: Head,
        waiting: &mut Waiting<'_>,
    ) -> Result<Hold> {
        let mut told: Option<Vec<u8>> = None;
        loop {
            let first = match std::mem::replace(&mut head, Head::Unread) {
                Head::Read(first) => first,
                Head::Unread => self.first(key)?,
            };
            match first {
                Some(e) if e.key == place.hold().key().as_bytes() => {
                    if told.is_some() {
                        self.held_since_now(place.hold(), record);
                    }
                    return Ok(place.into_hold());
                }
                Some(e) if !waiting.wait => return Err(waiting.locked(Record::decode(&e.record))),
                None => return Err(self.fail("the queue", "our key vanished (the lease expired while queueing)")),
                Some(e) => {
                    // Waiting: say for whom, then watch the waiter just
                    // before us until it goes.
                    if told.as_ref() != Some(&e.key) {
                        (waiting.on_wait)(&Record::decode(&e.record));
                        told = Some(e.key);
                    }
                    match self.wait_behind(place.hold(), key, &e.record, waiting)? {
                        Turn::Granted => {
                            // Granted after waiting, as above.
                            self.held_since_now(place.hold(), record);
                            return Ok(place.into_hold());
                        }
                        Turn::Again => {}
                    }
                }
            }
        }
    }

    /// Watch the waiter just before `hold`'s key in drive `key`'s queue
    /// until it goes, while `waiting` allows; `head`: the value of the
    /// queue's head, whom we wait for.
    fn wait_behind(&self, hold: &Hold, key: &str, head: &[u8], waiting: &Waiting<'_>) -> Result<Turn> {
        let Some((prev, seen)) = self.before(key, hold.revision())? else {
            // Nobody queued before us, yet another key is first: unless
            // the head just left, our own key is gone (deleted by someone).
            let deleted = "our key was deleted from etcd while we waited";
            return match self.first(key)? {
                Some(e) if e.key == hold.key().as_bytes() => Ok(Turn::Granted),
                _ => Err(self.fail("lost our place in the drive's queue", deleted)),
            };
        };
        let req = pb::WatchCreateRequest { key: prev, start_revision: seen + 1, ..Default::default() };
        let mut stream = self.call("cannot watch the queue", || self.client.watch(req.clone()))?;
        loop {
            waiting.check(self, hold, head)?;
            let next = self.block(async { tokio::time::timeout(Duration::from_millis(50), stream.message()).await });
            match next {
                Err(_) => continue,
                // A watch cancelled (compacted past its start) or broken:
                // read the queue again.
                Ok(Ok(Some(resp))) if resp.canceled => return Ok(Turn::Again),
                Ok(Ok(Some(resp))) if resp.has_delete() => return Ok(Turn::Again),
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return Ok(Turn::Again),
            }
        }
    }

    /// Granted after waiting: the record says since when it holds, not
    /// since when it queued (best effort; only while the key is still
    /// ours).
    fn held_since_now(&self, hold: &Hold, mut record: Record) {
        record.since_now();
        let txn = pb::TxnRequest {
            compare: vec![created_at(hold.key(), hold.revision())],
            success: vec![put(hold.key(), record.value(), hold.lease())],
            failure: vec![],
        };
        let _ = self.call("cannot update the owner record", || self.client.txn(txn.clone()));
    }
}

impl Coordinator for Etcd {
    fn acquire(
        &self,
        key: &str,
        target: &Path,
        owner: &Owner,
        wait: WaitPolicy,
        cancel: Option<BorrowedFd<'_>>,
        on_wait: &mut dyn FnMut(&Owner),
    ) -> Result<Box<dyn ClusterHold>> {
        let started = Instant::now();
        let lease = PendingLease::grant(self)?;
        let record = Record::new(owner, &self.cfg.host);
        let (place, head) = self.queue_up(lease, key, &record)?;
        let mut waiting = Waiting { target, wait: wait.waits(), limit: wait.deadline(started), cancel, on_wait };
        Ok(Box::new(self.take_turn(place, key, record, head, &mut waiting)?))
    }

    fn owner(&self, key: &str) -> Result<Option<Owner>> {
        Ok(self.first(key)?.map(|e| Record::decode(&e.record)))
    }

    fn describe(&self) -> String {
        self.name()
    }
}

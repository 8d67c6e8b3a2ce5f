//! The acquire algorithm of [`discrec::cluster::Coordinator`] on etcd: a
//! lease, the transaction that queues for the drive, and the wait behind
//! the waiter before us.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use discrec::cluster::{ClusterHold, Coordinator};
use discrec::{Error, Owner, Result};

use crate::client::pb;
use crate::etcd::Etcd;
use crate::hold::{boot_now, Hold};
use crate::queue::{created_at, key_for, op, put, range};
use crate::record::Record;
use pb::range_request::SortOrder;

impl Etcd {
    /// Leave the queue: revoking the lease deletes the key bound to it.
    fn give_up(&self, _my_key: &str, lease: i64) {
        self.revoke(lease);
    }
}

/// Whether `fd` (a cancel or stop signal) is readable, without waiting.
pub(crate) fn readable(fd: Option<BorrowedFd<'_>>) -> bool {
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
        let ttl = self.cfg.lease_ttl().as_secs() as i64;
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

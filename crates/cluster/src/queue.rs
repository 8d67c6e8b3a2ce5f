//! A drive's queue in etcd: its keys under `discrec/drive/KEY/`, one per
//! client, holder first by creation revision; the reads of its head and
//! of the waiter before a given one, and the operations and compares the
//! transactions on it are made of.

use discrec::Result;

use crate::client::{self, pb};
use crate::etcd::Etcd;
use pb::range_request::{SortOrder, SortTarget};

/// A key of the drive's queue.
pub(crate) struct Entry {
    /// Its name: `discrec/drive/KEY/LEASE`.
    pub key: Vec<u8>,
    /// Its value: the owner record of the client it queues.
    pub record: Vec<u8>,
}

/// The entry a key-value read from etcd is.
pub(crate) fn entry(kv: pb::KeyValue) -> Entry {
    Entry { key: kv.key, record: kv.value }
}

/// A read of drive `key`'s queue: its first key by creation revision
/// (`order` ascending: the holder).
pub(crate) fn range(key: &str, order: SortOrder) -> pb::RangeRequest {
    let p = prefix(key).into_bytes();
    pb::RangeRequest {
        range_end: client::prefix_end(&p),
        key: p,
        limit: 1,
        sort_order: order as i32,
        sort_target: SortTarget::Create as i32,
        ..Default::default()
    }
}

/// A transaction's operation.
pub(crate) fn op(request: pb::request_op::Request) -> pb::RequestOp {
    pb::RequestOp { request: Some(request) }
}

/// Put `value` at `key`, bound to `lease`.
pub(crate) fn put(key: &str, value: Vec<u8>, lease: i64) -> pb::RequestOp {
    op(pb::request_op::Request::RequestPut(pb::PutRequest { key: key.into(), value, lease, ..Default::default() }))
}

/// The comparison "`key` was created at revision `rev`" (0: does not exist).
pub(crate) fn created_at(key: &str, rev: i64) -> pb::Compare {
    pb::Compare {
        result: pb::compare::CompareResult::Equal as i32,
        target: pb::compare::CompareTarget::Create as i32,
        key: key.into(),
        target_union: Some(pb::compare::TargetUnion::CreateRevision(rev)),
        ..Default::default()
    }
}

/// The etcd prefix of drive `key`: `discrec/drive/KEY/`, with `%` and `/`
/// in KEY escaped, so that no key's range holds another's (`lab` and
/// `lab/2` are two drives).
pub(crate) fn prefix(key: &str) -> String {
    format!("discrec/drive/{}/", key.replace('%', "%25").replace('/', "%2F"))
}

/// The key of `lease`'s place in drive `key`'s queue:
/// `discrec/drive/KEY/LEASE`, the lease in hex.
pub(crate) fn key_for(key: &str, lease: i64) -> String {
    format!("{}{lease:x}", prefix(key))
}

impl Etcd {
    /// The first key under the drive's prefix: its holder.
    pub(crate) fn first(&self, key: &str) -> Result<Option<Entry>> {
        let req = range(key, SortOrder::Ascend);
        let r = self.call("cannot read the drive's holder", || self.client.range(req.clone()))?;
        Ok(r.kvs.into_iter().next().map(entry))
    }

    /// The waiter just before creation revision `rev`, if any, and the
    /// store's revision when it was read: a watch from the one after it
    /// misses nothing and starts in step with the store (etcd delivers
    /// to a watcher that starts in the past only on its next 100 ms
    /// catch-up round).
    pub(crate) fn before(&self, key: &str, rev: i64) -> Result<Option<(Vec<u8>, i64)>> {
        let req = pb::RangeRequest { max_create_revision: rev - 1, ..range(key, SortOrder::Descend) };
        let r = self.call("cannot read the drive's queue", || self.client.range(req.clone()))?;
        let now = r.header.map(|h| h.revision).unwrap_or(0);
        Ok(r.kvs.into_iter().next().map(|kv| (kv.key, now.max(kv.mod_revision))))
    }
}

//! A recorder's drive shared through etcd: its name in the cluster, and
//! the [`Etcd`] coordinator set on the recorder.

use std::sync::Arc;

use discrec::{Error, Result};

use crate::config::Config;
use crate::etcd::Etcd;

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

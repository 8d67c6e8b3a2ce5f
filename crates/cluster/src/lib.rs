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
//!
//! # Modules, bottom up
//!
//! Each module uses only modules listed before it, so the crate reads from
//! the top of this list down:
//!
//! | Module | Owns |
//! |---|---|
//! | [`client`] | a small etcd v3 client over gRPC: the calls the lock makes, auth tokens, streams kept open |
//! | `config` | [`Config`]: where etcd is, its checks, TLS, the environment; the hints naming the option that fixes a failed connection |
//! | `record` | the owner record a key holds, and its reading back as a [`discrec::Owner`], tamed |
//! | `etcd` | [`Etcd`], the connection: connecting, its two runtimes, bounded calls retried over the members |
//! | `queue` | a drive's queue: its keys, the reads of its head and of the waiter before one, the compares and puts |
//! | `hold` | a key granted and its lease kept alive: renewal, the watch on the key, loss, fencing token, release |
//! | `acquire` | the acquire algorithm: lease, queueing transaction, waiting behind the one before |
//! | `share` | [`attach`] and [`cluster_key`]: a recorder's drive shared under a name all hosts agree on |
//! | [`guard`] | the guard: this host's programs kept off a drive another host holds |

// In dependency order, bottom up (`rustfmt.toml` keeps this order).
pub mod client;
mod config;
mod record;
mod etcd;
mod queue;
mod hold;
mod acquire;
mod share;
pub mod guard;

pub use config::{Config, MAX_TTL};
pub use etcd::Etcd;
pub use share::{attach, cluster_key};

/// The crate's README (crates.io's page), compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

//! The owner record a holder's key holds in etcd (JSON), and how a
//! key's value is read back as a [`discrec::Owner`]: tamed, since anyone
//! who may write to etcd may have written it.

use std::time::{Duration, UNIX_EPOCH};

use discrec::Owner;

/// What a holder's key holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Record {
    client_name: String,
    host: String,
    pid: Option<i32>,
    uid: Option<u32>,
    user: Option<String>,
    since_ms: u128,
    command: Option<String>,
}

impl Record {
    /// The record of `owner`, a client on `host`.
    pub(crate) fn new(owner: &Owner, host: &str) -> Record {
        Record {
            client_name: owner.client_name.clone().unwrap_or_default(),
            host: host.to_string(),
            pid: owner.pid,
            uid: owner.uid,
            user: owner.user.clone(),
            since_ms: owner.since.and_then(|s| s.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_millis()).unwrap_or(0),
            command: owner.command.clone(),
        }
    }

    /// Held since now: for a drive granted after a wait, since when it is
    /// held, not since when its holder queued.
    pub(crate) fn since_now(&mut self) {
        self.since_ms = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    }

    /// The value stored in etcd.
    pub(crate) fn value(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The owner a key's value names, if it is a record.
    pub(crate) fn read(v: &[u8]) -> Option<Owner> {
        serde_json::from_slice::<Record>(v).map(Record::owner).ok()
    }

    /// The owner a key's value names; a value that is not a record still
    /// names someone (the drive is held), just not whom.
    pub(crate) fn decode(v: &[u8]) -> Owner {
        Record::read(v).unwrap_or_else(|| Owner {
            client_name: Some("an unknown client".into()),
            pid: None,
            uid: None,
            user: None,
            since: None,
            by_discrec: true,
            command: None,
            lock: discrec::holders::LockKind::Flock,
            host: Some("another host".into()),
        })
    }

    /// The owner it names. A record comes from whoever can write to etcd:
    /// its texts are kept to one line of printable characters and a
    /// bounded length before any message or terminal sees them.
    fn owner(self) -> Owner {
        Owner {
            client_name: Some(tame(&self.client_name)),
            pid: self.pid,
            uid: self.uid,
            user: self.user.as_deref().map(tame),
            since: Some(UNIX_EPOCH + Duration::from_millis(self.since_ms.min(u64::MAX as u128) as u64)),
            by_discrec: true,
            command: self.command.as_deref().map(tame),
            lock: discrec::holders::LockKind::Flock,
            host: Some(tame(&self.host)),
        }
    }
}

/// `text` with control characters as `?`, at most 255 characters.
fn tame(text: &str) -> String {
    text.chars().take(255).map(|c| if c.is_control() { '?' } else { c }).collect()
}

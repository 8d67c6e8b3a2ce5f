//! The owner of a drive, as `ExclusiveAccessOwner` reports it: who holds
//! it (client name, pid, user, since when, command), for a discrec client
//! and for any other program that holds it.

use std::fmt;
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::holders::LockKind;
use crate::procfs::{command_of, proc_label};

/// The owner of a drive, as `exclusive_access_owner` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Owner {
    /// The client name given at acquire; `None` for holders that are not
    /// discrec clients.
    pub client_name: Option<String>,
    /// Holder pid, when visible from our pid namespace.
    pub pid: Option<i32>,
    /// Holder uid.
    pub uid: Option<u32>,
    /// Holder user name.
    pub user: Option<String>,
    /// When the lock was taken (discrec holders only).
    #[serde(serialize_with = "ser_since")]
    pub since: Option<SystemTime>,
    /// True when the holder is a discrec client.
    pub by_discrec: bool,
    /// The holder's command name.
    pub command: Option<String>,
    /// The kind of lock the holder has on the drive (a discrec client: `flock`).
    #[serde(skip)]
    pub lock: LockKind,
    /// The machine the holder runs on, for a holder of the cluster lock
    /// (`None`: this machine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

fn ser_since<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&humantime::format_rfc3339_millis(displayable(*t)).to_string()),
        None => s.serialize_none(),
    }
}

impl Owner {
    /// The name to show a person: the client name, else `command (pid N)`.
    pub fn display_name(&self) -> String {
        match &self.client_name {
            Some(n) => n.clone(),
            None => proc_label(self.pid, self.command.as_deref()),
        }
    }
}

impl Owner {
    /// Whether the holder is this very process as a discrec client: a lock
    /// taken before `exec` (`discrec lock -- COMMAND`) and kept across it,
    /// by the same user.
    pub fn is_this_process(&self) -> bool {
        self.host.is_none()
            && self.by_discrec
            && self.pid == Some(own_pid())
            && self.uid == Some(rustix::process::geteuid().as_raw())
    }

    /// `held by OWNER since TIME` (RFC 3339, seconds), or without `since`
    /// for a holder that is not a discrec client: how the command line
    /// names whoever is in the way.
    pub fn held_by(&self) -> String {
        match self.since {
            Some(since) => format!("held by {self} since {}", humantime::format_rfc3339_seconds(displayable(since))),
            None => format!("held by {self}"),
        }
    }

    /// The answer of an owner query as JSON (`discrec owner --json`, and
    /// `owner` in `status --json`): the owner's fields with
    /// `"locked": true`, or every field `null` with `"locked": false`.
    pub fn answer_json(owner: Option<&Owner>) -> serde_json::Value {
        match owner {
            Some(o) => {
                let mut v = serde_json::to_value(o).unwrap_or_default();
                v["locked"] = true.into();
                v
            }
            None => serde_json::json!({
                "locked": false, "client_name": null, "pid": null, "uid": null, "user": null,
                "since": null, "by_discrec": false, "command": null,
            }),
        }
    }

    /// For `#[serde(serialize_with)]`: [`Owner::answer_json`].
    pub fn serialize_answer<S: serde::Serializer>(owner: &Option<Owner>, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&Owner::answer_json(owner.as_ref()), s)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.client_name {
            Some(n) => {
                write!(f, "\"{n}\" ({}", proc_label(self.pid, self.command.as_deref()))?;
                if let Some(h) = &self.host {
                    write!(f, " on {h}")?;
                }
                if let Some(u) = &self.user {
                    write!(f, ", user {u}")?;
                }
                write!(f, ")")
            }
            // A program that is not a discrec client: who runs it too (any
            // user who can read an image file can lock it).
            None => {
                write!(f, "{}", self.display_name())?;
                match &self.user {
                    Some(u) => write!(f, ", user {u}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Our own command name, read once.
pub(crate) fn own_command() -> &'static str {
    static ME: OnceLock<String> = OnceLock::new();
    ME.get_or_init(|| command_of(own_pid()).unwrap_or_default())
}

/// Our pid, as we see it.
pub(crate) fn own_pid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// Ourselves as the owner, holding a drive under `client` since `since`.
pub(crate) fn own_owner(client: &str, since: SystemTime) -> Owner {
    let uid = rustix::process::geteuid().as_raw();
    Owner {
        client_name: Some(client.to_string()),
        pid: Some(own_pid()),
        uid: Some(uid),
        user: crate::users::name_of(uid),
        since: Some(since),
        by_discrec: true,
        command: Some(own_command().to_string()),
        lock: LockKind::Flock,
        host: None,
    }
}

/// A holder that is not a discrec client: what the kernel says about it.
pub(crate) fn foreign_owner(pid: Option<i32>, lock: LockKind) -> Owner {
    let uid = pid.and_then(|p| rustix::fs::stat(format!("/proc/{p}").as_str()).ok()).map(|s| s.st_uid);
    Owner {
        client_name: None,
        pid,
        uid,
        user: uid.and_then(crate::users::name_of),
        since: None,
        by_discrec: false,
        command: pid.and_then(command_of),
        lock,
        host: None,
    }
}

/// `t`, brought within what RFC 3339 can write (years 1970 to 9999): a
/// record (a forged one in etcd, a corrupt one on disk) can claim any
/// time, and the formatter would panic beyond that.
fn displayable(t: std::time::SystemTime) -> std::time::SystemTime {
    // 9999-12-31T23:59:59Z.
    let last = std::time::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799);
    t.clamp(std::time::UNIX_EPOCH, last)
}

//! Owner records (spec C7): who holds a drive, readable by anyone.
//!
//! The holder of a drive is whoever holds the `flock` on its node, as
//! `/proc/locks` says (the kernel writes that table; nobody can fake it).
//! The holder's client name comes from a record file it writes into the
//! runtime directory (`/run/discrec`, mode 1777 like `/tmp`) and keeps
//! `flock`ed for as long as it holds the drive. A record is believed only
//! when all of these hold, so no other user can forge, pre-create,
//! redirect or leave one stale:
//!
//! * it is opened with `O_NOFOLLOW` (and `O_NONBLOCK`, so a planted FIFO
//!   cannot hang the reader), is a regular file with one link;
//! * `/proc/locks` shows it `flock`ed by the very pid that holds the drive:
//!   a dead holder's record is unlocked, a process that got a recycled pid
//!   does not hold the old file, and nobody can make the holder lock a
//!   file it did not create itself with `O_EXCL`;
//! * the pid, uid and drive key written in it agree with that pid, the
//!   file's owner (set by the kernel) and the drive.
//!
//! The record is named `KEY.PID`; when another user has taken that name
//! (which the sticky bit stops us from replacing) the holder keeps it
//! under `KEY.PID.RANDOM`, and readers look for those too.

use std::fmt;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Mode, OFlags};

use crate::holders::{self, LockEntry, LockKind};
use crate::target::DriveKey;

/// Default runtime directory for owner records.
pub const DEFAULT_RUN_DIR: &str = "/run/discrec";

/// Largest record we read; anything bigger is not ours.
const MAX_RECORD: usize = 4096;

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
}

fn ser_since<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&humantime::format_rfc3339_millis(*t).to_string()),
        None => s.serialize_none(),
    }
}

impl Owner {
    /// The name to show a person: the client name, else `command (pid N)`.
    pub fn display_name(&self) -> String {
        match &self.client_name {
            Some(n) => n.clone(),
            None => holders::proc_label(self.pid, self.command.as_deref()),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.client_name {
            Some(n) => {
                write!(f, "\"{n}\" ({}", holders::proc_label(self.pid, self.command.as_deref()))?;
                if let Some(u) = &self.user {
                    write!(f, ", user {u}")?;
                }
                write!(f, ")")
            }
            None => write!(f, "{}", self.display_name()),
        }
    }
}

/// What a record says. Only believed after the checks in the module docs.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Record {
    v: u32,
    key: String,
    pid: i32,
    uid: u32,
    since_ns: u128,
    client: String,
    node: String,
    /// The holder's command name as it was when it acquired (a process
    /// names itself in /proc too, so this is no less to be trusted).
    command: String,
}

/// Runtime directory for users who cannot create `/run/discrec` (only
/// root can) on systems where nobody has: sticky like `/tmp` itself.
pub const FALLBACK_RUN_DIR: &str = "/tmp/discrec";

/// The runtime directory: `$DISCREC_RUN_DIR` if set; else `/run/discrec`
/// when it exists or we are root (who creates it); else
/// [`FALLBACK_RUN_DIR`]. Writers and readers pick alike. Records are
/// believed for their lock and owner, never for their location, so the
/// fallback is as safe; another user who pre-creates it can at worst turn
/// client names off (the lock itself is unaffected). Install
/// `contrib/tmpfiles.d/discrec.conf` to have `/run/discrec` at boot.
pub fn run_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DISCREC_RUN_DIR") {
        return PathBuf::from(d);
    }
    if rustix::process::geteuid().is_root() || rustix::fs::lstat(DEFAULT_RUN_DIR).is_ok() {
        PathBuf::from(DEFAULT_RUN_DIR)
    } else {
        PathBuf::from(FALLBACK_RUN_DIR)
    }
}

/// Open the runtime directory for writing records into, creating it
/// (mode 1777) when it is missing and we may. It must be a real directory
/// (opened with `O_NOFOLLOW`), and sticky if others may write to it, so
/// that nobody else can remove or replace what we put there. Whoever owns
/// it can at worst delete names: records are believed for their lock and
/// file owner, never for their place. All writes go through the returned
/// descriptor (`openat`, `renameat`), so the directory cannot be swapped
/// for a link between this check and the writes.
pub fn open_run_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY;
    let fd = match rustix::fs::open(dir, flags, Mode::empty()) {
        Err(rustix::io::Errno::NOENT) => {
            match rustix::fs::mkdir(dir, Mode::from_raw_mode(0o1777)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let fd = rustix::fs::open(dir, flags, Mode::empty())?;
            // mkdir is subject to the umask: set the mode we mean on the
            // directory we made.
            let st = rustix::fs::fstat(&fd)?;
            if st.st_uid == rustix::process::geteuid().as_raw() && st.st_mode & 0o7777 != 0o1777 {
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o1777))?;
            }
            fd
        }
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
            return Err(std::io::Error::other(format!("{} is not a directory; owner records are off", dir.display())))
        }
        r => r?,
    };
    let st = rustix::fs::fstat(&fd)?;
    if st.st_mode & 0o022 != 0 && st.st_mode & 0o1000 == 0 {
        return Err(std::io::Error::other(format!(
            "{} is writable by others but not sticky; owner records are off (make it mode 1777)",
            dir.display()
        )));
    }
    Ok(fd)
}

/// Our own command name, read once.
fn own_command() -> &'static str {
    static ME: OnceLock<String> = OnceLock::new();
    ME.get_or_init(|| holders::command_of(rustix::process::getpid().as_raw_nonzero().get()).unwrap_or_default())
}

fn record_name(key: DriveKey, pid: i32) -> String {
    format!("{key}.{pid}")
}

/// A record this process wrote and keeps locked; removed on release.
#[derive(Debug)]
pub struct WrittenRecord {
    dir: OwnedFd,
    name: String,
    _lock: OwnedFd,
}

impl WrittenRecord {
    /// Remove the record (then its lock goes with the descriptor).
    pub fn remove(self) {
        let _ = rustix::fs::unlinkat(&self.dir, self.name.as_str(), rustix::fs::AtFlags::empty());
    }
}

/// Write our owner record for `key`. Fails softly: `Err` carries why, and
/// the lock works without a record (the owner shows without client name).
pub fn write_record(
    dir: &Path,
    key: DriveKey,
    node: &Path,
    client: &str,
    since: SystemTime,
) -> std::io::Result<WrittenRecord> {
    let dirfd = open_run_dir(dir)?;
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let rec = Record {
        v: 2,
        key: key.to_string(),
        pid,
        uid: rustix::process::geteuid().as_raw(),
        since_ns: since.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos(),
        client: client.to_string(),
        node: node.to_string_lossy().into_owned(),
        command: own_command().to_string(),
    };
    let body = serde_json::to_vec(&rec).map_err(std::io::Error::other)?;
    // Write under a fresh random name (O_EXCL|O_NOFOLLOW: never through a
    // link, never into someone else's file), lock it, then rename it onto
    // KEY.PID. The sticky bit refuses the rename when another user planted
    // that name; then the record keeps its random name, which readers also
    // look for.
    let final_name = record_name(key, pid);
    for _ in 0..8 {
        let tmp = format!("{final_name}.{:016x}", random_u64());
        let fd = match rustix::fs::openat(
            &dirfd,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        };
        let written = (|| -> std::io::Result<()> {
            rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
            // The umask may have taken read bits away; records are public.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644))?;
            if rustix::io::write(&fd, &body)? != body.len() {
                return Err(std::io::Error::other("short write of the owner record"));
            }
            Ok(())
        })();
        let unlink_tmp = || rustix::fs::unlinkat(&dirfd, tmp.as_str(), rustix::fs::AtFlags::empty());
        if let Err(e) = written {
            let _ = unlink_tmp();
            return Err(e);
        }
        return match rustix::fs::renameat(&dirfd, tmp.as_str(), &dirfd, final_name.as_str()) {
            Ok(()) => Ok(WrittenRecord { dir: dirfd, name: final_name, _lock: fd }),
            Err(rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) => {
                Ok(WrittenRecord { dir: dirfd, name: tmp, _lock: fd })
            }
            Err(e) => {
                let _ = unlink_tmp();
                Err(e.into())
            }
        };
    }
    Err(std::io::Error::other("could not create a record file with a fresh name"))
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        return t.as_nanos() as u64 ^ (rustix::process::getpid().as_raw_nonzero().get() as u64) << 32;
    }
    u64::from_ne_bytes(b)
}

/// Read and check the record of holder `pid`; `None` when there is no
/// record that passes every check. `locks` is all of `/proc/locks`.
fn read_record(dir: &Path, key: DriveKey, pid: i32, locks: &[LockEntry]) -> Option<(Record, u32)> {
    let primary = dir.join(record_name(key, pid));
    if let Some(r) = read_checked(&primary, key, pid, locks) {
        return Some(r);
    }
    // Fallback names, used when the primary name was taken by someone else.
    let prefix = format!("{}.", record_name(key, pid));
    let entries = fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)))
        .find_map(|e| read_checked(&e.path(), key, pid, locks))
}

/// A checked record and its owner's uid.
fn read_checked(path: &Path, key: DriveKey, pid: i32, locks: &[LockEntry]) -> Option<(Record, u32)> {
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
            .ok()?;
    let st = rustix::fs::fstat(fd.as_fd()).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
        || st.st_nlink != 1
        || st.st_size as usize > MAX_RECORD
    {
        return None;
    }
    let locked_by_holder = locks.iter().any(|l| {
        !l.waiting
            && l.kind == LockKind::Flock
            && l.exclusive
            && l.pid == Some(pid)
            && l.dev == st.st_dev
            && l.ino == st.st_ino
    });
    if !locked_by_holder {
        return None;
    }
    let mut buf = [0u8; MAX_RECORD];
    let n = holders::read_once(&fd, &mut buf).ok()?;
    let r: Record = serde_json::from_slice(&buf[..n]).ok()?;
    (r.v == 2 && r.pid == pid && r.uid == st.st_uid && r.key == key.to_string()).then_some((r, st.st_uid))
}

/// The owner of the drive whose node is `(dev, ino)`, from all of
/// `/proc/locks` and the holder's record. `None` when nothing holds an
/// exclusive lock on the node.
pub fn owner_from_locks(dir: &Path, key: DriveKey, dev: u64, ino: u64, locks: &[LockEntry]) -> Option<Owner> {
    let on_node = |l: &&LockEntry| !l.waiting && l.exclusive && l.dev == dev && l.ino == ino;
    let l = locks.iter().filter(on_node).find(|l| l.kind == LockKind::Flock).or_else(|| locks.iter().find(on_node))?;
    let Some(pid) = l.pid else {
        return Some(Owner {
            client_name: None,
            pid: None,
            uid: None,
            user: None,
            since: None,
            by_discrec: false,
            command: None,
        });
    };
    // The lock can outlive its taker for a moment (a child between fork and
    // exec holds copies of its descriptors): a dead taker is never
    // reported as a discrec owner.
    let alive = rustix::fs::stat(format!("/proc/{pid}").as_str()).ok();
    if l.kind == LockKind::Flock && alive.is_some() {
        if let Some((r, uid)) = read_record(dir, key, pid, locks) {
            return Some(Owner {
                client_name: Some(r.client),
                pid: Some(pid),
                uid: Some(uid),
                user: crate::users::name_of(uid),
                since: Some(UNIX_EPOCH + Duration::from_nanos(r.since_ns.min(u64::MAX as u128) as u64)),
                by_discrec: true,
                command: Some(r.command),
            });
        }
    }
    // Not a discrec client: what the kernel says about the process.
    let uid = alive.map(|s| s.st_uid);
    Some(Owner {
        client_name: None,
        pid: Some(pid),
        uid,
        user: uid.and_then(crate::users::name_of),
        since: None,
        by_discrec: false,
        command: holders::command_of(pid),
    })
}

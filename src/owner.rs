//! Owner records (spec C7): who holds a drive, readable by anyone.
//!
//! The holder of a drive is whoever holds the `flock` on its node, as
//! `/proc/locks` says (the kernel writes that table; nobody can fake it).
//! The holder's client name comes from a record file it writes into the
//! runtime directory (`/run/discrec`, mode 1777 like `/tmp`). A record is
//! believed only when all of these hold, so no other user can forge,
//! pre-create, redirect or leave one stale:
//!
//! * it is read through `O_NOFOLLOW`, is a regular file with one link, and
//!   is owned by the holder's uid (file owners are set by the kernel);
//! * its pid and process start time are those of the live lock holder (a
//!   record of a dead holder, or of an earlier process with a reused pid,
//!   never matches);
//! * its drive key is the drive's.
//!
//! The record is named `KEY.PID`; when another user has taken that name
//! (which the sticky bit stops us from replacing) the holder writes
//! `KEY.PID.RANDOM` and readers look for those too.

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Mode, OFlags};

use crate::holders::{self, LockEntry, LockKind, ProcIdentity};
use crate::target::DriveKey;

/// Default runtime directory for owner records.
pub const DEFAULT_RUN_DIR: &str = "/run/discrec";

/// Largest record we read; anything bigger is not ours.
const MAX_RECORD: u64 = 4096;

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
    start: u64,
    since_ns: u128,
    client: String,
    node: String,
}

/// The runtime directory: `$DISCREC_RUN_DIR` or `/run/discrec`.
pub fn run_dir() -> PathBuf {
    std::env::var_os("DISCREC_RUN_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_RUN_DIR))
}

/// Make sure the runtime directory exists and is safe to write into:
/// a real directory (not a link), owned by root or by us, sticky if others
/// may write to it. Creates it (mode 1777) when we can.
pub fn prepare_run_dir(dir: &Path) -> std::io::Result<()> {
    match rustix::fs::lstat(dir) {
        Err(rustix::io::Errno::NOENT) => {
            match rustix::fs::mkdir(dir, Mode::from_raw_mode(0o1777)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            // mkdir is subject to the umask; set the mode we mean, but only
            // on the directory we just checked is a real one of ours.
            let fd = rustix::fs::open(
                dir,
                OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY,
                Mode::empty(),
            )?;
            let mut st = rustix::fs::fstat(&fd)?;
            if st.st_uid == rustix::process::geteuid().as_raw() && st.st_mode & 0o7777 != 0o1777 {
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o1777))?;
                st = rustix::fs::fstat(&fd)?;
            }
            check_run_dir(dir, &st)
        }
        Err(e) => Err(e.into()),
        Ok(st) => check_run_dir(dir, &st),
    }
}

/// `st` must come from `lstat` or an `O_NOFOLLOW` open: a link is refused.
fn check_run_dir(dir: &Path, st: &rustix::fs::Stat) -> std::io::Result<()> {
    let me = rustix::process::geteuid().as_raw();
    let bad = |why: &str| Err(std::io::Error::other(format!("{} {why}; owner records are off", dir.display())));
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return bad("is not a directory");
    }
    if st.st_uid != 0 && st.st_uid != me {
        return bad("belongs to another user");
    }
    if st.st_mode & 0o022 != 0 && st.st_mode & 0o1000 == 0 {
        return bad("is writable by others but not sticky");
    }
    Ok(())
}

/// Our own start time, read once.
fn own_start_time() -> Option<u64> {
    static ME: OnceLock<Option<u64>> = OnceLock::new();
    *ME.get_or_init(|| holders::parse_start_time(&fs::read_to_string("/proc/self/stat").ok()?))
}

fn record_name(key: DriveKey, pid: i32) -> String {
    format!("{key}.{pid}")
}

/// A record this process wrote; removed on release.
#[derive(Debug)]
pub struct WrittenRecord {
    path: PathBuf,
}

impl WrittenRecord {
    /// Remove the record.
    pub fn remove(self) {
        let _ = fs::remove_file(&self.path);
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
    prepare_run_dir(dir)?;
    let start = own_start_time().ok_or_else(|| std::io::Error::other("cannot read /proc/self/stat"))?;
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let rec = Record {
        v: 1,
        key: key.to_string(),
        pid,
        uid: rustix::process::geteuid().as_raw(),
        start,
        since_ns: since.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos(),
        client: client.to_string(),
        node: node.to_string_lossy().into_owned(),
    };
    let body = serde_json::to_vec(&rec).map_err(std::io::Error::other)?;
    // Write under a fresh random name (O_EXCL|O_NOFOLLOW: never through a
    // link, never into someone else's file), then rename onto KEY.PID. The
    // sticky bit refuses the rename when another user planted that name;
    // then the record keeps a random name, which readers also look for.
    let final_path = dir.join(record_name(key, pid));
    for _ in 0..8 {
        let tmp = dir.join(format!("{}.{:016x}", record_name(key, pid), random_u64()));
        let fd = match rustix::fs::open(
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        };
        // The umask may have taken read bits away; records are public.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644))?;
        let mut f = fs::File::from(fd);
        f.write_all(&body)?;
        drop(f);
        return match fs::rename(&tmp, &final_path) {
            Ok(()) => Ok(WrittenRecord { path: final_path }),
            Err(e)
                if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error())
                    || e.raw_os_error() == Some(rustix::io::Errno::ACCESS.raw_os_error()) =>
            {
                Ok(WrittenRecord { path: tmp })
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
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
/// record that passes every check.
fn read_record(dir: &Path, key: DriveKey, pid: i32, who: &ProcIdentity) -> Option<Record> {
    let primary = dir.join(record_name(key, pid));
    if let Some(r) = read_checked(&primary, key, pid, who) {
        return Some(r);
    }
    // Fallback names, written when the primary name was taken by someone else.
    let prefix = format!("{}.", record_name(key, pid));
    let entries = fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)))
        .find_map(|e| read_checked(&e.path(), key, pid, who))
}

fn read_checked(path: &Path, key: DriveKey, pid: i32, who: &ProcIdentity) -> Option<Record> {
    // NONBLOCK: a planted FIFO must not hang the reader.
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
            .ok()?;
    let st = rustix::fs::fstat(fd.as_fd()).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
        || st.st_nlink != 1
        || !who.file_uid_matches(pid, st.st_uid)
        || st.st_size as u64 > MAX_RECORD
    {
        return None;
    }
    let mut buf = Vec::with_capacity(st.st_size as usize + 1);
    fs::File::from(fd).take(MAX_RECORD).read_to_end(&mut buf).ok()?;
    let r: Record = serde_json::from_slice(&buf).ok()?;
    (r.v == 1 && r.pid == pid && r.uid == st.st_uid && r.start == who.start_time && r.key == key.to_string())
        .then_some(r)
}

/// Look up the holder of the drive among the locks on its node and build
/// the owner. `locks` are the held locks on the node (see
/// [`holders::locks_on`]). Returns `None` when nothing holds an exclusive
/// lock.
pub fn owner_from_locks(dir: &Path, key: DriveKey, locks: &[LockEntry]) -> Option<Owner> {
    let l = locks
        .iter()
        .find(|l| l.exclusive && l.kind == LockKind::Flock)
        .or_else(|| locks.iter().find(|l| l.exclusive))?;
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
    let who = holders::identity_of(pid);
    let record = match (&who, l.kind) {
        (Some(w), LockKind::Flock) => read_record(dir, key, pid, w),
        _ => None,
    };
    // A checked record's uid is its file owner's: the holder's real
    // file-system uid even where /proc shows a non-dumpable process as root.
    let uid = record.as_ref().map(|r| r.uid).or(who.as_ref().map(|w| w.uid));
    Some(Owner {
        by_discrec: record.is_some(),
        since: record.as_ref().map(|r| UNIX_EPOCH + Duration::from_nanos(r.since_ns.min(u64::MAX as u128) as u64)),
        uid,
        client_name: record.map(|r| r.client),
        pid: Some(pid),
        user: uid.and_then(crate::users::name_of),
        command: who.map(|w| w.command),
    })
}

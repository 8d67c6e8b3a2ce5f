//! Owner records (spec C7): who holds a drive, readable by anyone, and
//! the owner query that reads them.
//!
//! The holder of a drive is whoever holds the `flock` on its node, as
//! `/proc/locks` says (the kernel writes that table; nobody can fake it).
//! The holder's client name comes from a record file it writes when it
//! wins the drive and keeps `flock`ed until it lets go. A record is
//! believed only when all of these hold, so no other user can forge,
//! pre-create, redirect or leave one stale:
//!
//! * the holder marks it with a POSIX lock on one byte at a random offset
//!   and names it after that offset, `discrec.KEY.MARK`; the reader takes
//!   the offset and the file's inode from the mark, which `/proc/locks`
//!   shows held by the very process that holds the drive, and opens that
//!   name only to find that inode: nobody can guess a name in advance, a
//!   planted file is another inode, and nobody can make the holder lock a
//!   file it did not create;
//! * it is opened with `O_NOFOLLOW` (and `O_NONBLOCK`, so a planted FIFO
//!   cannot hang the reader) and is a regular file owned by the holder's
//!   file-system uid (set by the kernel);
//! * the drive key and pid written in it are the holder's, as the holder
//!   sees its own pid (the reader maps the pid it sees through `NSpid` in
//!   `/proc/PID/status`, so holders in containers keep their names);
//! * the holder may open the drive for reading and writing: a user who can
//!   only read an image cannot pose as its client.
//!
//! Where records live ([`RecordDirs`]): `/run/discrec` (made by root, or
//! by `contrib/tmpfiles.d/discrec.conf` at boot), else `/run/lock`, else
//! `/tmp`, each only if it is a real directory owned by root that others
//! cannot write to or that is sticky. Users cannot create, replace or
//! unstick any of them, and the sticky bit keeps each user's records from
//! others; readers search all of them. Names are 62 random bits, so no
//! name can be taken in advance, and no hot path lists a directory. A holder killed before it could remove its
//! record leaves it behind, unlocked and never believed; the next acquire
//! of the same drive by the same user removes it (a per-user pointer
//! `discrec.KEY.last.UID` names it).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Mode, OFlags};

use crate::access::NodeAccess;
use crate::holders::{self, LockEntry, LockKind};
use crate::key::DriveKey;
use crate::owner::{foreign_owner, own_command, own_pid, Owner};
use crate::procfs::{command_of, proc_info, read_once};

/// Largest record we read; anything bigger is not ours.
const MAX_RECORD: usize = 4096;

/// What a record says. Only believed after the checks in the module docs.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Record {
    v: u32,
    key: String,
    /// The holder's pid as it sees itself (its own pid namespace).
    pid: i32,
    /// The holder's uid as it sees itself (informational; the file owner
    /// is what is checked).
    uid: u32,
    since_ns: u128,
    client: String,
    node: String,
    /// The holder's command name as it was when it acquired (a process
    /// names itself in /proc too, so this is no less to be trusted).
    command: String,
}

const RECORD_VERSION: u32 = 3;

/// The system's record directories, in the order writers prefer them.
pub const SYSTEM_RECORD_DIRS: [&str; 3] = ["/run/discrec", "/run/lock", "/tmp"];

/// The directory root creates for records (and `contrib/tmpfiles.d` at boot).
pub const DEFAULT_RUN_DIR: &str = SYSTEM_RECORD_DIRS[0];

/// Where owner records and waiting tickets live: the system directories
/// (see the module docs), or one directory given by `$DISCREC_RUN_DIR` or
/// [`RecordDirs::only`] (tests, or systems that keep them elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDirs {
    only: Option<PathBuf>,
}

impl RecordDirs {
    /// `$DISCREC_RUN_DIR` if set, else the system directories.
    pub fn from_env() -> RecordDirs {
        RecordDirs { only: std::env::var_os("DISCREC_RUN_DIR").filter(|d| !d.is_empty()).map(PathBuf::from) }
    }

    /// Exactly this directory (which must be owned by root or by us, and
    /// sticky if others may write to it).
    pub fn only(dir: impl Into<PathBuf>) -> RecordDirs {
        RecordDirs { only: Some(dir.into()) }
    }

    fn candidates(&self) -> Vec<&Path> {
        match &self.only {
            Some(d) => vec![d.as_path()],
            None => SYSTEM_RECORD_DIRS.iter().map(Path::new).collect(),
        }
    }

    /// Open a directory to search, if it passes the checks.
    fn open_checked(&self, dir: &Path, create: bool) -> std::io::Result<OwnedFd> {
        let me = rustix::process::geteuid();
        let may_create = create && (self.only.is_some() || (me.is_root() && dir == Path::new(DEFAULT_RUN_DIR)));
        let (fd, st) = open_sticky_dir(rustix::fs::CWD, dir, may_create)?;
        let owner_ok = st.st_uid == 0 || (self.only.is_some() && st.st_uid == me.as_raw());
        if !owner_ok {
            return Err(std::io::Error::other(format!(
                "{} belongs to uid {}, not root; owner records are not kept there",
                dir.display(),
                st.st_uid
            )));
        }
        Ok(fd)
    }

    /// The directory to write records and tickets into: the first that
    /// passes the checks and that we may write to.
    pub(crate) fn open_for_writing(&self) -> std::io::Result<OwnedFd> {
        let mut why = Vec::new();
        for dir in self.candidates() {
            match self.open_checked(dir, true) {
                Ok(fd) => {
                    match rustix::fs::accessat(&fd, ".", rustix::fs::Access::WRITE_OK, rustix::fs::AtFlags::EACCESS) {
                        Ok(()) => return Ok(fd),
                        Err(e) => why.push(format!("{}: {e}", dir.display())),
                    }
                }
                Err(e) => why.push(format!("{}: {e}", dir.display())),
            }
        }
        Err(std::io::Error::other(format!("no directory for owner records ({})", why.join("; "))))
    }

    /// The directories to search that sit on file system `dev`.
    fn open_on_device(&self, dev: u64) -> impl Iterator<Item = OwnedFd> + '_ {
        self.candidates().into_iter().filter_map(move |dir| {
            let st = rustix::fs::stat(dir).ok()?;
            (st.st_dev == dev).then(|| self.open_checked(dir, false).ok()).flatten()
        })
    }
}

/// Open the directory `name` under `at` (never through a link), with its
/// `stat`. When it is missing and `create`, make it sticky and writable
/// for all, like /tmp (the mode set after mkdir, which the umask trims).
/// A directory others may write to but that is not sticky is refused: in
/// it, anyone could remove or replace what we put there.
pub(crate) fn open_sticky_dir(
    at: std::os::fd::BorrowedFd<'_>,
    name: &Path,
    create: bool,
) -> std::io::Result<(OwnedFd, rustix::fs::Stat)> {
    let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY;
    let fd = match rustix::fs::openat(at, name, flags, Mode::empty()) {
        Err(rustix::io::Errno::NOENT) if create => {
            match rustix::fs::mkdirat(at, name, Mode::from_raw_mode(0o1777)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let fd = rustix::fs::openat(at, name, flags, Mode::empty())?;
            let st = rustix::fs::fstat(&fd)?;
            if st.st_uid == rustix::process::geteuid().as_raw() && st.st_mode & 0o7777 != 0o1777 {
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o1777))?;
            }
            fd
        }
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
            return Err(std::io::Error::other(format!("{} is not a directory", name.display())))
        }
        r => r?,
    };
    let st = rustix::fs::fstat(&fd)?;
    if st.st_mode & 0o022 != 0 && st.st_mode & 0o1000 == 0 {
        return Err(std::io::Error::other(format!(
            "{} is writable by others but not sticky; nothing of discrec's is kept there (make it mode 1777)",
            name.display()
        )));
    }
    Ok((fd, st))
}

/// Open a file another process made, to read it: never through a link,
/// never blocking on a FIFO someone planted.
pub(crate) fn open_public(dir: &OwnedFd, name: &str) -> std::io::Result<OwnedFd> {
    rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
        .map_err(Into::into)
}

impl Default for RecordDirs {
    fn default() -> Self {
        RecordDirs::from_env()
    }
}

/// A record's name: the drive's key and the offset of its POSIX mark.
fn record_name(key: DriveKey, mark: u64) -> String {
    format!("discrec.{key}.{mark}")
}

/// The per-user pointer to the last record written for `key`.
fn pointer_name(key: DriveKey) -> String {
    format!("discrec.{key}.last.{}", rustix::process::geteuid().as_raw())
}

/// A record this process wrote and keeps locked; removed on release.
#[derive(Debug)]
pub struct WrittenRecord {
    dir: OwnedFd,
    name: String,
    fd: OwnedFd,
}

impl WrittenRecord {
    /// Remove the record (then its lock goes with the descriptor).
    pub fn remove(self) {
        let _ = rustix::fs::unlinkat(&self.dir, self.name.as_str(), rustix::fs::AtFlags::empty());
    }

    /// The descriptor that holds the record's lock (kept across `exec` by
    /// a wrapped command).
    pub(crate) fn lock_fds(&self) -> impl Iterator<Item = &OwnedFd> {
        std::iter::once(&self.fd)
    }
}

/// Write our owner record for `key`. Call it holding the drive. Fails
/// softly: `Err` carries why, and the lock works without a record (the
/// owner then shows without client name).
pub fn write_record(
    dirs: &RecordDirs,
    key: DriveKey,
    node: &Path,
    client: &str,
    since: SystemTime,
) -> std::io::Result<WrittenRecord> {
    let dirfd = dirs.open_for_writing()?;
    remove_previous(&dirfd, key);
    let rec = Record {
        v: RECORD_VERSION,
        key: key.to_string(),
        pid: own_pid(),
        uid: rustix::process::geteuid().as_raw(),
        since_ns: since.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos(),
        client: client.to_string(),
        node: node.to_string_lossy().into_owned(),
        command: own_command().to_string(),
    };
    let body = serde_json::to_vec(&rec).map_err(std::io::Error::other)?;
    // Write under a fresh random name (O_EXCL|O_NOFOLLOW: never through a
    // link, never into someone else's file), lock it, mark it with a POSIX
    // lock on one byte at a random offset, then give it the name of that
    // offset without replacing anything. /proc/locks shows the offset to
    // every reader, next to our pid and the file's inode; nobody can guess
    // it in advance, so nobody can take the name before us.
    for _ in 0..8 {
        let (tmp, fd) = make_locked(&dirfd, key, &body)?;
        let unlink_tmp = || rustix::fs::unlinkat(&dirfd, tmp.as_str(), rustix::fs::AtFlags::empty());
        let mark = random_u64() >> 2 | 1;
        if let Err(e) = crate::sys::posix_lock_byte(&fd, mark) {
            let _ = unlink_tmp();
            return Err(e);
        }
        let name = record_name(key, mark);
        match rustix::fs::renameat_with(&dirfd, tmp.as_str(), &dirfd, name.as_str(), rustix::fs::RenameFlags::NOREPLACE)
        {
            Ok(()) => {
                point_to(&dirfd, key, &name);
                return Ok(WrittenRecord { dir: dirfd, name, fd });
            }
            Err(rustix::io::Errno::EXIST) => {
                let _ = unlink_tmp();
                continue;
            }
            Err(e) => {
                let _ = unlink_tmp();
                return Err(e.into());
            }
        }
    }
    Err(std::io::Error::other("every name tried for the owner record was taken"))
}

/// A new record file under a random name: locked, public, holding `body`.
fn make_locked(dir: &OwnedFd, key: DriveKey, body: &[u8]) -> std::io::Result<(String, OwnedFd)> {
    for _ in 0..8 {
        let tmp = format!("discrec.{key}.new.{:016x}", random_u64());
        let fd = match rustix::fs::openat(
            dir,
            tmp.as_str(),
            // Readable too: a holder that became another program reads its
            // own record through this descriptor (see record_files).
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
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
            if rustix::io::write(&fd, body)? != body.len() {
                return Err(std::io::Error::other("short write of the owner record"));
            }
            Ok(())
        })();
        return match written {
            Ok(()) => Ok((tmp, fd)),
            Err(e) => {
                let _ = rustix::fs::unlinkat(dir, tmp.as_str(), rustix::fs::AtFlags::empty());
                Err(e)
            }
        };
    }
    Err(std::io::Error::other("could not create a record file with a fresh name"))
}

/// Point our per-user pointer for `key` at `name` (best effort: another
/// user may hold the pointer's name, which only turns the clean-up off).
fn point_to(dir: &OwnedFd, key: DriveKey, name: &str) {
    let ptr = pointer_name(key);
    let tmp = format!("{ptr}.new.{:016x}", random_u64());
    if rustix::fs::symlinkat(name, dir, tmp.as_str()).is_ok()
        && rustix::fs::renameat(dir, tmp.as_str(), dir, ptr.as_str()).is_err()
    {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), rustix::fs::AtFlags::empty());
    }
}

/// Remove the record our user last wrote for `key`, if its writer died
/// without removing it (nobody holds its lock). We hold the drive, so no
/// live client of ours can be using it.
fn remove_previous(dir: &OwnedFd, key: DriveKey) {
    let Ok(target) = rustix::fs::readlinkat(dir, pointer_name(key).as_str(), Vec::new()) else { return };
    let Ok(name) = target.into_string() else { return };
    if !name.starts_with(&format!("discrec.{key}.")) || name.contains('/') {
        return;
    }
    let Ok(fd) = open_public(dir, name.as_str()) else { return };
    let Ok(st) = rustix::fs::fstat(&fd) else { return };
    let mine = st.st_uid == rustix::process::geteuid().as_raw()
        && FileType::from_raw_mode(st.st_mode) == FileType::RegularFile;
    if mine && rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockShared).is_ok() {
        // Still the same file under that name?
        if rustix::fs::statat(dir, name.as_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|now| now.st_ino == st.st_ino && now.st_dev == st.st_dev)
        {
            let _ = rustix::fs::unlinkat(dir, name.as_str(), rustix::fs::AtFlags::empty());
        }
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        return t.as_nanos() as u64 ^ (own_pid() as u64) << 32;
    }
    u64::from_ne_bytes(b)
}

/// The record named after inode `(dev, ino)`, which `/proc/locks` shows
/// `flock`ed by holder `pid`: checked as the module docs say. `node` is the
/// drive node's `stat` (for the may-open check).
fn read_record(
    dirs: &RecordDirs,
    key: DriveKey,
    pid: i32,
    (dev, ino, mark): (u64, u64, u64),
    node: &NodeAccess,
) -> Option<Owner> {
    for (st, buf) in record_files(dirs, key, pid, (dev, ino, mark)) {
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
            || st.st_ino != ino
            || st.st_dev != dev
            || st.st_size as usize > MAX_RECORD
        {
            continue;
        }
        let Ok(r) = serde_json::from_slice::<Record>(&buf) else { continue };
        if r.v != RECORD_VERSION || r.key != key.to_string() {
            continue;
        }
        // Who the holder is, from /proc (as our namespaces see it). The
        // owner of /proc/PID is its effective uid; where that and the pid
        // settle every check, nothing more is read. Else its status file
        // says (file-system uid, groups, its own pid in a container).
        let proc_uid = rustix::fs::stat(format!("/proc/{pid}").as_str()).ok()?.st_uid;
        let quick = r.pid == pid && st.st_uid == proc_uid && node.allows_rw_by_uid(proc_uid) == Some(true);
        if !quick {
            let info = proc_info(pid)?;
            if r.pid != info.own_pid || st.st_uid != info.fsuid || !info.may_open_rw(node) {
                continue;
            }
        }
        let command = command_of(pid).filter(|c| !c.is_empty()).unwrap_or(r.command);
        return Some(Owner {
            client_name: Some(r.client),
            pid: Some(pid),
            uid: Some(st.st_uid),
            user: crate::users::name_of(st.st_uid),
            since: Some(UNIX_EPOCH + Duration::from_nanos(r.since_ns.min(u64::MAX as u128) as u64)),
            by_discrec: true,
            // What it runs now: a `discrec lock -- COMMAND` holder became COMMAND.
            command: Some(command),
            lock: LockKind::Flock,
            host: None,
        });
    }
    None
}

/// The files that may be the record marked at `(dev, ino, mark)`, with
/// their `stat` and contents (at most [`MAX_RECORD`] bytes). Another
/// process's record is opened by its name. Our own is read through the
/// descriptor we already have (we are a holder that became another
/// program through `exec`, such as `discrec lock -- sh -c '... && discrec
/// owner ...'` whose shell execs its last command): opening and closing
/// the file again would drop our mark, since a process's POSIX locks on a
/// file go with any close of it.
fn record_files(
    dirs: &RecordDirs,
    key: DriveKey,
    pid: i32,
    (dev, ino, mark): (u64, u64, u64),
) -> Vec<(rustix::fs::Stat, Vec<u8>)> {
    let mut out = Vec::new();
    if pid == own_pid() {
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return out };
        for e in fds.flatten() {
            let Some(n) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
            // stat through the link: the file itself, with nothing opened.
            let Ok(st) = rustix::fs::stat(format!("/proc/self/fd/{n}").as_str()) else { continue };
            if (st.st_dev, st.st_ino) != (dev, ino) {
                continue;
            }
            let mut buf = vec![0u8; MAX_RECORD];
            if let Ok(len) = crate::sys::pread_own_fd(n, &mut buf) {
                buf.truncate(len);
                out.push((st, buf));
                break;
            }
        }
        return out;
    }
    let name = record_name(key, mark);
    for dir in dirs.open_on_device(dev) {
        let Ok(fd) = open_public(&dir, name.as_str()) else { continue };
        let Ok(st) = rustix::fs::fstat(&fd) else { continue };
        let mut buf = vec![0u8; MAX_RECORD];
        let Ok(len) = read_once(&fd, &mut buf) else { continue };
        buf.truncate(len);
        out.push((st, buf));
    }
    out
}

/// How many locks read just before the drive's lock are kept as candidates
/// for the holder's record mark (taken right after the drive's lock on the
/// same CPU, it comes just before it in `/proc/locks`).
const RECENT: usize = 64;

/// The owner of the drive whose node `node_path` has `stat` `node_st`, from `/proc/locks`
/// and the holder's record; `None` when nothing holds an exclusive lock on
/// the node. Reads `/proc/locks` only as far as it must: up to the drive's
/// lock and the holder's record mark (a POSIX lock of the holder on one
/// byte of its record, at the offset that names it).
pub fn find_owner(
    dirs: &RecordDirs,
    key: DriveKey,
    node_path: &Path,
    node_st: &rustix::fs::Stat,
) -> std::io::Result<Option<Owner>> {
    use std::ops::ControlFlow::{Break, Continue};
    let (dev, ino) = (node_st.st_dev, node_st.st_ino);
    let node = &NodeAccess::of(node_path, node_st);
    let mut recent: std::collections::VecDeque<LockEntry> = std::collections::VecDeque::with_capacity(RECENT);
    let mut holder: Option<LockEntry> = None;
    let mut fcntl_holder: Option<LockEntry> = None;
    let mut found: Option<Owner> = None;
    // The holder's marks, each tried once.
    let mut tried: Vec<(u64, u64, u64)> = Vec::new();
    let mut seen_before_holder = 0usize;
    let is_mark = |l: &LockEntry| !l.waiting && l.exclusive && l.kind == LockKind::Posix;
    let try_mark = |l: &LockEntry, pid: i32, tried: &mut Vec<(u64, u64, u64)>| -> Option<Owner> {
        let m = (l.dev, l.ino, l.start);
        if !is_mark(l) || l.pid != Some(pid) || (l.dev, l.ino) == (dev, ino) || tried.contains(&m) {
            return None;
        }
        tried.push(m);
        read_record(dirs, key, pid, m, node)
    };
    holders::scan_proc_locks(|l| match &holder {
        None => {
            if !l.waiting && l.exclusive && l.dev == dev && l.ino == ino {
                if l.kind != LockKind::Flock {
                    fcntl_holder.get_or_insert(l);
                    return Continue(());
                }
                let pid = l.pid;
                holder = Some(l);
                let Some(pid) = pid else { return Break(()) };
                for r in recent.iter().rev() {
                    if let Some(o) = try_mark(r, pid, &mut tried) {
                        found = Some(o);
                        return Break(());
                    }
                }
                return Continue(());
            }
            seen_before_holder += 1;
            if is_mark(&l) {
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(l);
            }
            Continue(())
        }
        Some(h) => match h.pid.and_then(|pid| try_mark(&l, pid, &mut tried)) {
            Some(o) => {
                found = Some(o);
                Break(())
            }
            None => Continue(()),
        },
    })?;
    let Some(holder) = holder.or(fcntl_holder) else { return Ok(None) };
    if let (None, LockKind::Flock, Some(pid)) = (&found, holder.kind, holder.pid) {
        // The mark came before the drive's lock, out of reach of the recent
        // ones: look again up to the drive's lock.
        let mut left = seen_before_holder;
        holders::scan_proc_locks(|l| {
            if left == 0 {
                return Break(());
            }
            left -= 1;
            match try_mark(&l, pid, &mut tried) {
                Some(o) => {
                    found = Some(o);
                    Break(())
                }
                None => Continue(()),
            }
        })?;
    }
    if let Some(o) = found {
        return Ok(Some(o));
    }
    Ok(Some(foreign_owner(holder.pid, holder.kind)))
}

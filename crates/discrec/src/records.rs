//! Owner records (spec C7): who holds a drive, readable by anyone, and
//! the owner query that reads them.
//!
//! The holder of a drive is whoever holds the `flock` on its node, as the
//! kernel says (`/proc/locks`, or `/proc/PID/fdinfo` of the holder's
//! descriptor; nobody can fake either). The holder's client name comes
//! from a record file it writes before it tries the lock and keeps
//! `flock`ed until it lets go, so a holder without a record is not a
//! discrec client. A record is believed only when all of these hold, so
//! no other user can forge, pre-create, redirect or leave one stale:
//!
//! * the holder marks it with a POSIX lock on one byte at a random offset
//!   and names it after that offset, `discrec.KEY.MARK`; the kernel names
//!   the process that holds that byte (`F_GETLK` on the file, or the
//!   mark's line in `/proc/locks`), and that process must be the one that
//!   holds the drive: nobody can guess a name in advance, and nobody can
//!   make the holder lock a file it did not create;
//! * it is opened with `O_NOFOLLOW` (and `O_NONBLOCK`, so a planted FIFO
//!   cannot hang the reader) and is a regular file owned by the holder's
//!   file-system uid (set by the kernel);
//! * the drive key and pid written in it are the holder's, as the holder
//!   sees its own pid (the reader maps the pid it sees through `NSpid` in
//!   `/proc/PID/status`, so holders in containers keep their names);
//! * the holder may open the drive for reading and writing: a user who can
//!   only read an image cannot pose as its client.
//!
//! Finding the record: symbolic links point at it, the per-drive
//! `discrec.KEY.holder` (set by each holder that wins the drive, removed
//! on release) and the per-user `discrec.KEY.last.UID`. A reader that may
//! read the holder's `fdinfo` (root, or the same user) follows them and is
//! done in a few system calls at any number of locks on the machine
//! ([`owner_by_pointers`]). Anyone else finds the holder's pid in
//! `/proc/locks` first, then follows the pointers; only when a pointer is
//! someone else's (a name another user took) or names another live client
//! of that user is the mark looked for in the table ([`find_owner`]).
//!
//! Where records live ([`RecordDirs`]): `/run/discrec` (made by root, or
//! by `contrib/tmpfiles.d/discrec.conf` at boot), else `/run/lock`, else
//! `/tmp`, each only if it is a real directory owned by root that others
//! cannot write to or that is sticky. Users cannot create, replace or
//! unstick any of them, and the sticky bit keeps each user's records from
//! others; readers search all of them. Names are 62 random bits, so no
//! name can be taken in advance, and no hot path lists a directory. A
//! client killed before it could remove its record leaves it behind,
//! unlocked and never believed; the next acquire of the same drive by the
//! same user removes it (the per-user pointer names it).

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
    client: String,
    node: String,
    /// The holder's command name as it was when it acquired (a process
    /// names itself in /proc too, so this is no less to be trusted).
    command: String,
    /// The holder's descriptor of the drive's node, the one whose `flock`
    /// holds the drive: `/proc/PID/fdinfo/FD` lists that lock.
    fd: i32,
}

/// Version 4: written before the lock is taken; since when it is held is
/// the record's modification time, set once the lock is won.
const RECORD_VERSION: u32 = 4;

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

    /// Every directory to search that passes the checks.
    fn open_all(&self) -> impl Iterator<Item = OwnedFd> + '_ {
        self.candidates().into_iter().filter_map(move |dir| self.open_checked(dir, false).ok())
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

/// The mark in a record's name, when `name` is one of `key`'s records.
fn mark_of(key: DriveKey, name: &str) -> Option<u64> {
    let mark = name.strip_prefix(&format!("discrec.{key}."))?;
    if mark.is_empty() || !mark.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    mark.parse().ok()
}

/// The per-user pointer to the last record user `uid` wrote for `key`.
fn pointer_name(key: DriveKey, uid: u32) -> String {
    format!("discrec.{key}.last.{uid}")
}

/// The per-drive pointer to the record of the drive's holder, set by
/// each holder that wins the drive (where the sticky bit lets it: whoever
/// made the link owns the name until it is removed on release).
fn holder_pointer(key: DriveKey) -> String {
    format!("discrec.{key}.holder")
}

/// A record this process wrote and keeps locked; removed on release.
#[derive(Debug)]
pub struct WrittenRecord {
    dir: OwnedFd,
    key: DriveKey,
    name: String,
    fd: OwnedFd,
}

impl WrittenRecord {
    /// The drive is ours now: stamp the record with since when (its
    /// modification time; a pending record carries time 0), and point the
    /// per-drive and per-user pointers at it, which lets readers find it
    /// in a few system calls (see [`find_owner`]).
    pub fn won(&self, since: SystemTime) {
        let at = since.duration_since(UNIX_EPOCH).unwrap_or_default();
        let t = rustix::fs::Timespec { tv_sec: at.as_secs() as i64, tv_nsec: at.subsec_nanos() as _ };
        let _ = rustix::fs::futimens(&self.fd, &rustix::fs::Timestamps { last_access: t, last_modification: t });
        // Ours since the record was written, unless another client of
        // our user pointed it at its own meanwhile.
        let mine = pointer_name(self.key, rustix::process::geteuid().as_raw());
        if !points_to(&self.dir, &mine, &self.name) {
            point_to(&self.dir, &mine, &self.name);
        }
        point_to(&self.dir, &holder_pointer(self.key), &self.name);
    }

    /// Remove the record and the per-drive pointer to it (then its lock
    /// goes with the descriptor).
    pub fn remove(self) {
        let ptr = holder_pointer(self.key);
        if points_to(&self.dir, &ptr, &self.name) {
            let _ = rustix::fs::unlinkat(&self.dir, ptr.as_str(), rustix::fs::AtFlags::empty());
        }
        let _ = rustix::fs::unlinkat(&self.dir, self.name.as_str(), rustix::fs::AtFlags::empty());
        if let Ok(st) = rustix::fs::fstat(&self.fd) {
            note_written(st.st_dev, st.st_ino, false);
        }
    }

    /// The descriptor that holds the record's lock (kept across `exec` by
    /// a wrapped command).
    pub(crate) fn lock_fds(&self) -> impl Iterator<Item = &OwnedFd> {
        std::iter::once(&self.fd)
    }
}

/// Write our owner record for `key`, pending: call it before trying the
/// drive's lock, with `node_fd` the descriptor that will take it, and
/// [`WrittenRecord::won`] once the lock is ours. A holder thus never holds
/// the drive without its record, so a holder without one is not a discrec
/// client, at once. Fails softly: `Err` carries why, and the lock works
/// without a record (the owner then shows without client name).
pub fn write_record(
    dirs: &RecordDirs,
    key: DriveKey,
    node: &Path,
    client: &str,
    node_fd: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<WrittenRecord> {
    let dirfd = dirs.open_for_writing()?;
    remove_previous(&dirfd, key);
    let rec = Record {
        v: RECORD_VERSION,
        key: key.to_string(),
        pid: own_pid(),
        uid: rustix::process::geteuid().as_raw(),
        client: client.to_string(),
        node: node.to_string_lossy().into_owned(),
        command: own_command().to_string(),
        fd: std::os::fd::AsRawFd::as_raw_fd(&node_fd),
    };
    let body = serde_json::to_vec(&rec).map_err(std::io::Error::other)?;
    // Write under a fresh random name (O_EXCL|O_NOFOLLOW: never through a
    // link, never into someone else's file), lock it, mark it with a POSIX
    // lock on one byte at a random offset, then give it the name of that
    // offset without replacing anything. /proc/locks shows the offset to
    // every reader, next to our pid and the file's inode, and F_GETLK
    // tells our pid to whoever asks about that byte; nobody can guess it
    // in advance, so nobody can take the name before us.
    for _ in 0..8 {
        let (tmp, fd) = make_locked(&dirfd, key, &body)?;
        let unlink_tmp = || rustix::fs::unlinkat(&dirfd, tmp.as_str(), rustix::fs::AtFlags::empty());
        let mark = random_u64() >> 2 | 1;
        // Marked, then public (see make_locked).
        if let Err(e) = crate::sys::posix_lock_byte(&fd, mark)
            .and_then(|()| rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644)).map_err(Into::into))
        {
            let _ = unlink_tmp();
            return Err(e);
        }
        let name = record_name(key, mark);
        match rustix::fs::renameat_with(&dirfd, tmp.as_str(), &dirfd, name.as_str(), rustix::fs::RenameFlags::NOREPLACE)
        {
            Ok(()) => {
                // Pointed at while pending too, so that the next acquire
                // of ours removes it should we be killed while waiting.
                point_to(&dirfd, &pointer_name(key, rustix::process::geteuid().as_raw()), &name);
                if let Ok(st) = rustix::fs::fstat(&fd) {
                    note_written(st.st_dev, st.st_ino, true);
                }
                return Ok(WrittenRecord { dir: dirfd, key, name, fd });
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

/// A new record file under a random name: locked, private (0600, made
/// public once marked), holding `body`.
fn make_locked(dir: &OwnedFd, key: DriveKey, body: &[u8]) -> std::io::Result<(String, OwnedFd)> {
    for _ in 0..8 {
        let tmp = format!("discrec.{key}.new.{:016x}", random_u64());
        let fd = match rustix::fs::openat(
            dir,
            tmp.as_str(),
            // Readable too: a holder that became another program reads its
            // own record through this descriptor (see record_files).
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            // Private until it is locked and marked: a file others could
            // open in between could be locked by them first (a read lock
            // over the mark's byte makes our mark fail).
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        };
        let written = (|| -> std::io::Result<()> {
            rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
            if rustix::io::write(&fd, body)? != body.len() {
                return Err(std::io::Error::other("short write of the owner record"));
            }
            // Modification time 0: pending, not yet holding (see `won`).
            let zero = rustix::fs::Timespec { tv_sec: 0, tv_nsec: 0 };
            rustix::fs::futimens(&fd, &rustix::fs::Timestamps { last_access: zero, last_modification: zero })?;
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

/// Whether the pointer `ptr` points at `name`.
fn points_to(dir: &OwnedFd, ptr: &str, name: &str) -> bool {
    rustix::fs::readlinkat(dir, ptr, Vec::new()).is_ok_and(|t| t.as_bytes() == name.as_bytes())
}

/// Point the pointer `ptr` at `name` (best effort: another user may hold
/// the pointer's name, which only costs readers the quick way to the
/// record and turns the clean-up off).
fn point_to(dir: &OwnedFd, ptr: &str, name: &str) {
    let tmp = format!("{ptr}.new.{:016x}", random_u64());
    if rustix::fs::symlinkat(name, dir, tmp.as_str()).is_ok()
        && rustix::fs::renameat(dir, tmp.as_str(), dir, ptr).is_err()
    {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), rustix::fs::AtFlags::empty());
    }
}

/// Remove the record our user last wrote for `key`, if its writer died
/// without removing it (nobody holds its lock). We hold the drive, so no
/// live client of ours can be using it.
fn remove_previous(dir: &OwnedFd, key: DriveKey) {
    let ptr = pointer_name(key, rustix::process::geteuid().as_raw());
    let Ok(target) = rustix::fs::readlinkat(dir, ptr.as_str(), Vec::new()) else { return };
    let Ok(name) = target.into_string() else { return };
    if mark_of(key, &name).is_none() {
        return;
    }
    // Never one of our own (another handle's, pending): opening and
    // closing it would drop its mark.
    let Ok(st) = rustix::fs::statat(dir, name.as_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW) else { return };
    if own_fd_of(st.st_dev, st.st_ino).is_some() {
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
            // And the per-drive pointer, if it still names it (a holder that
            // became `lock -- COMMAND` and ended as COMMAND leaves both).
            let ptr = holder_pointer(key);
            if points_to(dir, &ptr, &name) {
                let _ = rustix::fs::unlinkat(dir, ptr.as_str(), rustix::fs::AtFlags::empty());
            }
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
    node_st: &rustix::fs::Stat,
) -> Option<Owner> {
    let claim = |dirs: &RecordDirs| {
        record_files(dirs, key, pid, (dev, ino, mark))
            .into_iter()
            .filter(|(st, _)| (st.st_dev, st.st_ino) == (dev, ino))
            .find_map(|(st, buf)| believe(key, pid, &st, &buf, node))
    };
    let mut c = claim(dirs)?;
    // A pending record we cannot check through fdinfo (another user's) is
    // its client's only once it is stamped as won, which a winner does at
    // once; a waiter's stays pending (a pid taken over by a waiter must
    // not lend the waiter's name to the lock's real holder).
    for _ in 0..PENDING_LOOKS {
        match holds_flock(pid, c.fd, node_st, c.pending) {
            Some(held) => return held.then_some(c.owner),
            None if !c.pending => return Some(c.owner),
            None => {
                std::thread::sleep(PENDING_PAUSE);
                c = claim(dirs)?;
            }
        }
    }
    None
}

/// How often, and how far apart, a pending record is looked at again
/// before it is taken for a waiter's: a winner stamps its record right
/// after its `flock`.
const PENDING_LOOKS: usize = 3;
const PENDING_PAUSE: Duration = Duration::from_millis(2);

/// What the record `buf` (with `stat` `st`) says, if it is `key`'s record
/// of the live process `pid` (as we see it) and passes the checks in the
/// module docs: the owner it names, and the holder's descriptor of the
/// node. Whether `pid` holds the drive is the caller's to know.
fn believe(key: DriveKey, pid: i32, st: &rustix::fs::Stat, buf: &[u8], node: &NodeAccess) -> Option<Claim> {
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_size as usize > MAX_RECORD {
        return None;
    }
    let r = serde_json::from_slice::<Record>(buf).ok()?;
    if r.v != RECORD_VERSION || r.key != key.to_string() {
        return None;
    }
    // A name no client could have acquired under is a forgery (and may
    // carry terminal escapes or a newline to forge a line of output).
    crate::client_name::validate(&r.client).ok()?;
    // Who the holder is, from /proc (as our namespaces see it). The
    // owner of /proc/PID is its effective uid; where that and the pid
    // settle every check, nothing more is read. Else its status file
    // says (file-system uid, groups, its own pid in a container).
    let proc_uid = rustix::fs::stat(format!("/proc/{pid}").as_str()).ok()?.st_uid;
    let quick = r.pid == pid && st.st_uid == proc_uid && node.allows_rw_by_uid(proc_uid) == Some(true);
    if !quick {
        let info = proc_info(pid)?;
        if r.pid != info.own_pid || st.st_uid != info.fsuid || !info.may_open_rw(node) {
            return None;
        }
    }
    // Since when: the modification time its writer set on winning the
    // drive; 0 while pending, so a holder seen between winning and that
    // stamp has held it for an instant.
    let pending = (st.st_mtime, st.st_mtime_nsec) == (0, 0);
    let since = match (st.st_mtime, st.st_mtime_nsec) {
        (0, 0) => SystemTime::now(),
        (s, ns) => UNIX_EPOCH + Duration::new(u64::try_from(s).unwrap_or(0), u32::try_from(ns).unwrap_or(0)),
    };
    let command = command_of(pid).filter(|c| !c.is_empty()).unwrap_or(r.command);
    let owner = Owner {
        client_name: Some(r.client),
        pid: Some(pid),
        uid: Some(st.st_uid),
        user: crate::users::name_of(st.st_uid),
        since: Some(since),
        by_discrec: true,
        // What it runs now: a `discrec lock -- COMMAND` holder became COMMAND.
        command: Some(command),
        lock: LockKind::Flock,
        host: None,
    };
    Some(Claim { owner, fd: r.fd, pending })
}

/// What a record that passed [`believe`]'s checks claims: its owner, the
/// holder's descriptor of the node, and whether it is still pending
/// (written before its client took the lock, not yet stamped as won).
struct Claim {
    owner: Owner,
    fd: i32,
    pending: bool,
}

/// Our own descriptor of the file `(dev, ino)`, if we may have one: a
/// record this process wrote (another handle of ours) or kept across
/// `exec`. Such a record is read through that descriptor, never opened by
/// name: closing any descriptor of a file drops this process's POSIX locks
/// on it, its mark among them. Only those files are looked for (see
/// [`may_be_own`]), so a reader with many descriptors does not `stat`
/// them all on every query.
fn own_fd_of(dev: u64, ino: u64) -> Option<i32> {
    if !may_be_own(dev, ino) {
        return None;
    }
    let fds = std::fs::read_dir("/proc/self/fd").ok()?;
    fds.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok())).find(|n| {
        // stat through the link: the file itself, with nothing opened.
        rustix::fs::stat(format!("/proc/self/fd/{n}").as_str()).is_ok_and(|st| (st.st_dev, st.st_ino) == (dev, ino))
    })
}

/// Records this process wrote and has not removed.
static WRITTEN: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

/// The files this process had open when it first looked (once per
/// program: what it may have inherited across `exec`, a record among
/// them).
static INHERITED: std::sync::OnceLock<Vec<(u64, u64)>> = std::sync::OnceLock::new();

/// Whether `(dev, ino)` may be a record this process holds a mark on:
/// one it wrote, or a file it had open when it first asked.
fn may_be_own(dev: u64, ino: u64) -> bool {
    if WRITTEN.lock().unwrap_or_else(|e| e.into_inner()).contains(&(dev, ino)) {
        return true;
    }
    INHERITED
        .get_or_init(|| {
            let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return Vec::new() };
            fds.flatten()
                .filter_map(|e| rustix::fs::stat(e.path()).ok())
                .filter(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
                .map(|st| (st.st_dev, st.st_ino))
                .collect()
        })
        .contains(&(dev, ino))
}

/// Note a record this process wrote (`add`) or removed.
fn note_written(dev: u64, ino: u64, add: bool) {
    let mut w = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    w.retain(|&f| f != (dev, ino));
    if add {
        w.push((dev, ino));
    }
}

/// Whether this process holds the mark at `mark` on the file of its
/// descriptor `fd`: `/proc/self/fdinfo/FD` lists the POSIX locks we took
/// through it (a lock is not seen by our own `F_GETLK`).
fn own_mark(fd: i32, mark: u64) -> bool {
    holders::fdinfo_locks(&format!("/proc/self/fdinfo/{fd}")).is_ok_and(|locks| {
        locks.iter().any(|l| l.kind == LockKind::Posix && l.exclusive && !l.waiting && l.start == mark)
    })
}

/// Read our own descriptor `fd` of the file with `stat` `st`.
fn read_own(fd: i32, st: &rustix::fs::Stat) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; MAX_RECORD];
    let len = crate::sys::pread_own_fd(fd, &mut buf).ok()?;
    buf.truncate(len);
    // Still that file (another thread may have closed the descriptor)?
    let now = rustix::fs::stat(format!("/proc/self/fd/{fd}").as_str()).ok()?;
    ((now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)).then_some(buf)
}

/// The files that may be the record marked at `(dev, ino, mark)`, with
/// their `stat` and contents (at most [`MAX_RECORD`] bytes). Another
/// process's record is opened by its name. Our own is read through the
/// descriptor we already have (we are a holder that became another
/// program through `exec`, such as `discrec lock -- sh -c '... && discrec
/// owner ...'` whose shell execs its last command), see [`own_fd_of`].
fn record_files(
    dirs: &RecordDirs,
    key: DriveKey,
    pid: i32,
    (dev, ino, mark): (u64, u64, u64),
) -> Vec<(rustix::fs::Stat, Vec<u8>)> {
    let mut out = Vec::new();
    if pid == own_pid() {
        let Some(n) = own_fd_of(dev, ino) else { return out };
        let Ok(st) = rustix::fs::stat(format!("/proc/self/fd/{n}").as_str()) else { return out };
        out.extend(read_own(n, &st).map(|buf| (st, buf)));
        return out;
    }
    let name = record_name(key, mark);
    out.extend(dirs.open_on_device(dev).filter_map(|dir| read_public(&dir, &name)).map(|(_, st, buf)| (st, buf)));
    out
}

/// Another process's record `name` in `dir`, opened as [`open_public`]
/// does: its descriptor, `stat` and contents (at most [`MAX_RECORD`]
/// bytes).
fn read_public(dir: &OwnedFd, name: &str) -> Option<(OwnedFd, rustix::fs::Stat, Vec<u8>)> {
    let fd = open_public(dir, name).ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    let mut buf = vec![0u8; MAX_RECORD];
    let len = read_once(&fd, &mut buf).ok()?;
    buf.truncate(len);
    Some((fd, st, buf))
}

/// The record the pointer `ptr` in `dir` names, if its mark is held (the
/// kernel tells by whom: `F_GETLK`, one call at any number of locks) and
/// it passes the checks in the module docs: its owner, and the holder's
/// descriptor of the node.
fn via_pointer(dir: &OwnedFd, key: DriveKey, ptr: &str, node: &NodeAccess) -> Option<Claim> {
    let target = rustix::fs::readlinkat(dir, ptr, Vec::new()).ok()?;
    let name = target.to_str().ok()?;
    let mark = mark_of(key, name)?;
    let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    let own = (st.st_uid == rustix::process::geteuid().as_raw()).then(|| own_fd_of(st.st_dev, st.st_ino)).flatten();
    if let Some(n) = own {
        // Ours to read without opening: its mark's holder is another
        // process (we inherited a descriptor of its record), us (we wrote
        // it, or were exec'd by its writer), or nobody.
        let pid = match crate::sys::posix_byte_holder_own_fd(n, mark).ok()? {
            Some(pid) => pid,
            None if own_mark(n, mark) => own_pid(),
            None => return None,
        };
        let buf = read_own(n, &st)?;
        return believe(key, pid, &st, &buf, node);
    }
    let (fd, st, buf) = read_public(dir, name)?;
    let pid = crate::sys::posix_byte_holder(&fd, mark).ok()??;
    believe(key, pid, &st, &buf, node)
}

/// What `/proc/PID/fdinfo/FD` says of process `pid` holding the
/// exclusive `flock` on the node with `stat` `node` through its descriptor
/// `fd`: `Some(true)` or `Some(false)` (the kernel writes that file), or
/// `None` when we may not read it (it is ptrace-guarded: root and the
/// holder's own user may).
fn holds_flock(pid: i32, fd: i32, node: &rustix::fs::Stat, pending: bool) -> Option<bool> {
    match holders::fdinfo_locks(&format!("/proc/{pid}/fdinfo/{fd}")) {
        Ok(locks) if locks.iter().any(|l| l.is_exclusive_flock_on(node.st_dev, node.st_ino)) => Some(true),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
        // A pending record whose very descriptor is the node's and has
        // not won it: its client is still waiting (or gave up), even if
        // another descriptor of the same process holds the drive (a
        // program that took a flock of its own, then asked discrec). A
        // won record's descriptor may have been moved and its number
        // reused for the node (`exec 7<&4 4<&-; exec 4<NODE`): searched.
        Ok(_) if pending && is_node(pid, fd, node) => Some(false),
        // The holder may have moved its descriptor (`exec 7<&4 4<&-`): all
        // of its descriptors.
        _ => holders::holds_flock_on(pid, node.st_dev, node.st_ino),
    }
}

/// Whether descriptor `fd` of process `pid` is open on the node with
/// `stat` `node`.
fn is_node(pid: i32, fd: i32, node: &rustix::fs::Stat) -> bool {
    rustix::fs::stat(format!("/proc/{pid}/fd/{fd}").as_str())
        .is_ok_and(|st| (st.st_dev, st.st_ino) == (node.st_dev, node.st_ino))
}

/// Whether the record of `pid` naming descriptor `fd` may be believed for
/// a drive `/proc/locks` shows `pid` holding: unless its `fdinfo` (where we
/// may read it) says that this process does not hold it. `/proc/locks`
/// keeps the pid of the process that took a lock after it has exited
/// (a descendant has the descriptor), and another process may have that
/// pid now and have written a record for it.
fn not_disproved(pid: i32, claim: &Claim, node: &rustix::fs::Stat) -> bool {
    match holds_flock(pid, claim.fd, node, claim.pending) {
        Some(held) => held,
        None => !claim.pending,
    }
}

/// The owner of a held drive without `/proc/locks`: the holder's record
/// through the per-drive pointer or our own user's, its mark's holder
/// from `F_GETLK`, and proof from `/proc/PID/fdinfo` that this process
/// holds the drive's `flock`. A few system calls at any number of locks
/// on the machine; `None` when any step fails (a holder that is not a
/// discrec client, another user's holder we may not look at, a pointer
/// someone else holds): then [`find_owner`] answers.
pub fn owner_by_pointers(
    dirs: &RecordDirs,
    key: DriveKey,
    node_path: &Path,
    node_st: &rustix::fs::Stat,
) -> Option<Owner> {
    let node = &NodeAccess::of(node_path, node_st);
    let ptrs = [holder_pointer(key), pointer_name(key, rustix::process::geteuid().as_raw())];
    dirs.open_all().find_map(|dir| {
        ptrs.iter().find_map(|ptr| {
            let c = via_pointer(&dir, key, ptr, node)?;
            (holds_flock(c.owner.pid?, c.fd, node_st, c.pending) == Some(true)).then_some(c.owner)
        })
    })
}

/// What the pointers say of the holder `pid` that `/proc/locks` shows.
enum ByPointer {
    /// Its record.
    Found(Owner),
    /// No record of it, and nothing in the way of its pointers: not a
    /// discrec client (they write their record, and point at it, before
    /// they take the lock).
    NoRecord,
    /// The pointers cannot tell: a name held by another user, or pointing
    /// at another live client of the same user (which it may have just
    /// beaten to the drive). Its mark must be looked for in `/proc/locks`.
    Search,
}

/// The record of `pid`, which `/proc/locks` shows holding the drive, found
/// through the per-drive pointer or the pointer of `pid`'s user.
fn owner_of_holder(
    dirs: &RecordDirs,
    key: DriveKey,
    pid: i32,
    node: &NodeAccess,
    node_st: &rustix::fs::Stat,
) -> ByPointer {
    let Ok(uid) = rustix::fs::stat(format!("/proc/{pid}").as_str()).map(|st| st.st_uid) else {
        return ByPointer::Search;
    };
    let mut search = false;
    for dir in dirs.open_all() {
        for ptr in [holder_pointer(key), pointer_name(key, uid)] {
            match rustix::fs::statat(&dir, ptr.as_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                Err(_) => continue,
                Ok(link) if link.st_uid != uid => {
                    search = true;
                    continue;
                }
                Ok(_) => {}
            }
            match via_pointer(&dir, key, &ptr, node) {
                Some(c) if c.owner.pid == Some(pid) && not_disproved(pid, &c, node_st) => {
                    return ByPointer::Found(c.owner)
                }
                // Its pid, but its fdinfo says it does not hold the drive.
                Some(c) if c.owner.pid == Some(pid) => {}
                Some(_) => search = true,
                None => {}
            }
        }
    }
    if search {
        ByPointer::Search
    } else {
        ByPointer::NoRecord
    }
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
    // Whether the holder's mark is to be looked for in the table.
    let mut search_marks = true;
    let is_mark = |l: &LockEntry| !l.waiting && l.exclusive && l.kind == LockKind::Posix;
    let try_mark = |l: &LockEntry, pid: i32, tried: &mut Vec<(u64, u64, u64)>| -> Option<Owner> {
        let m = (l.dev, l.ino, l.start);
        if !is_mark(l) || l.pid != Some(pid) || (l.dev, l.ino) == (dev, ino) || tried.contains(&m) {
            return None;
        }
        tried.push(m);
        read_record(dirs, key, pid, m, node, node_st)
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
                // The holder's record through the pointers: no more of
                // the table to read, and nothing that churn can shift.
                match owner_of_holder(dirs, key, pid, node, node_st) {
                    ByPointer::Found(o) => {
                        found = Some(o);
                        return Break(());
                    }
                    ByPointer::NoRecord => {
                        search_marks = false;
                        return Break(());
                    }
                    ByPointer::Search => {}
                }
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
    if let (None, LockKind::Flock, Some(pid), true) = (&found, holder.kind, holder.pid, search_marks) {
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
    // A flock's pid is the process that took it, which may be gone.
    let pid = match holder.kind {
        LockKind::Flock => holders::live_flock_holder(holder.pid, dev, ino),
        _ => holder.pid,
    };
    Ok(Some(foreign_owner(pid, holder.kind)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_record_is_private_until_it_is_marked() {
        // Another user who could open the new file before its mark could
        // take a read lock over the mark's byte first, and the client would
        // go without a record: it is 0600 until then, 0644 after.
        let dir = std::env::temp_dir().join(format!("discrec-records-test.{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fd = rustix::fs::open(&dir, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let key = DriveKey::File { dev: 1, ino: 2 };
        let (tmp, rec) = make_locked(&fd, key, b"{}").unwrap();
        assert_eq!(rustix::fs::fstat(&rec).unwrap().st_mode & 0o777, 0o600, "{tmp} readable before its mark");
        drop(rec);
        let node = dir.join("node");
        std::fs::write(&node, b"").unwrap();
        let node_fd = rustix::fs::open(&node, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let written = write_record(&RecordDirs::only(&dir), key, &node, "Me", node_fd.as_fd()).unwrap();
        let st = rustix::fs::statat(&fd, written.name.as_str(), rustix::fs::AtFlags::empty()).unwrap();
        assert_eq!(st.st_mode & 0o777, 0o644, "a marked record is public");
        written.remove();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_record_names_its_holder_only_once_won_and_until_removed() {
        let dir = std::env::temp_dir().join(format!("discrec-records-won.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let node = dir.join("node");
        std::fs::write(&node, b"").unwrap();
        let node_fd = rustix::fs::open(&node, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let st = rustix::fs::fstat(&node_fd).unwrap();
        let key = DriveKey::File { dev: st.st_dev, ino: st.st_ino };
        let dirs = RecordDirs::only(&dir);
        let written = write_record(&dirs, key, &node, "Pending Then Won", node_fd.as_fd()).unwrap();
        // Pending: written before the lock, so no pointer names it yet.
        assert!(owner_by_pointers(&dirs, key, &node, &st).is_none());
        rustix::fs::flock(&node_fd, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        let since = SystemTime::now();
        written.won(since);
        let o = owner_by_pointers(&dirs, key, &node, &st).expect("a won record is found through its pointers");
        assert_eq!(o.client_name.as_deref(), Some("Pending Then Won"));
        assert_eq!(o.pid, Some(std::process::id() as i32));
        assert!(o.by_discrec);
        // Its flock given up: the record no longer names a holder.
        rustix::fs::flock(&node_fd, rustix::fs::FlockOperation::Unlock).unwrap();
        assert!(owner_by_pointers(&dirs, key, &node, &st).is_none(), "a record without the flock is not believed");
        rustix::fs::flock(&node_fd, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        written.remove();
        assert!(owner_by_pointers(&dirs, key, &node, &st).is_none(), "a removed record names nobody");
        // A name no client could acquire under (escapes, a newline to
        // forge a line of output) is a forgery: never shown.
        let forged = write_record(&dirs, key, &node, "Evil\u{1b}[2J\ndiscrec: free", node_fd.as_fd()).unwrap();
        forged.won(SystemTime::now());
        assert!(owner_by_pointers(&dirs, key, &node, &st).is_none(), "a record with a bad name was believed");
        forged.remove();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

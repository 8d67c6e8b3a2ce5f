//! The source tree, read once: every entry's name, type, mode, owner,
//! times, size and identity (device and inode), with children sorted by
//! name bytes so that the same tree always gives the same image.
//!
//! The walk goes through directory descriptors, never through paths:
//! each entry is looked at with `statat(dirfd, name, AT_SYMLINK_NOFOLLOW)`
//! and each subdirectory opened with `O_NOFOLLOW | O_DIRECTORY` and checked
//! to be the inode just looked at. So another user who owns part of the
//! tree cannot swap a directory for a symlink mid-walk and have files from
//! elsewhere (`/etc`) put into the image. Symbolic links are kept as links,
//! never followed; sockets are left out (no file system on a disc holds
//! one); regular files and directories must be readable by the caller,
//! checked here, before anything is written.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Access, AtFlags, FileType, Mode, OFlags, Stat};

use crate::Error;

/// Longest symlink target an image holds: libisofs (xorriso, cdrskin)
/// refuses to load an image with a longer one ("Rock Ridge path too
/// long"), so the walk refuses it first, naming the link.
pub const MAX_LINK_TARGET: usize = 1023;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory, with the indices of its children in [`Tree::nodes`].
    Dir(Vec<usize>),
    /// A regular file of this many bytes.
    File(u64),
    /// A symbolic link and its target.
    Symlink(Vec<u8>),
    /// A FIFO, or a character or block device (`rdev` set).
    Special,
}

/// Who an entry is, as the kernel tells it: what a file must still be
/// when its data is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Identity {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_mtime`, seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// `st_ctime`, seconds and nanoseconds: any write or attribute change
    /// moves it, even one that keeps size and mtime.
    pub ctime: (i64, i64),
}

impl Identity {
    /// Of a `stat`.
    pub fn of(st: &Stat) -> Identity {
        Identity {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        }
    }
}

/// One entry of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its name in its directory (the root's is empty). No node keeps a
    /// path: a deep tree's paths would cost memory by their length, not by
    /// the number of files ([`Tree::path_of`] makes one for a message).
    pub name: OsString,
    /// Its parent's index (the root is its own parent).
    pub parent: usize,
    /// What it is.
    pub kind: Kind,
    /// `st_mode`, type bits included.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Device number of a device node.
    pub rdev: u64,
    /// What it was when it was looked at.
    pub id: Identity,
    /// A file of a session already on the disc ([`crate::import`]): the
    /// extents (first sector, bytes) its data has there. It is pointed
    /// to, never read or written again.
    pub on_disc: Option<Box<[(u32, u32)]>>,
}

impl Node {
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }

    /// Its size in bytes (files only; 0 otherwise).
    pub fn size(&self) -> u64 {
        match self.kind {
            Kind::File(n) => n,
            _ => 0,
        }
    }
}

/// Why a directory of the tree did not open.
#[derive(Debug)]
pub enum OpenDirError {
    /// Opening it (or a directory on its way) failed.
    Io(std::io::Error),
    /// It, or a directory on its way, is no longer the inode the walk saw.
    Replaced,
}

/// The directories from the root down to the one in use, each opened by
/// name from its parent with `O_NOFOLLOW | O_DIRECTORY` and checked to be
/// the inode the walk saw; no path is ever given to the kernel whole, so a
/// tree deeper than `PATH_MAX` opens as any other. At most
/// [`DirStack::MAX_OPEN`] stay open (the deepest); one closed is opened
/// again by name from the nearest open one above it.
#[derive(Debug)]
pub struct DirStack {
    /// (node, descriptor if open), root first.
    chain: Vec<(usize, Option<OwnedFd>)>,
}

impl DirStack {
    /// Most descriptors held open at once.
    pub const MAX_OPEN: usize = 32;

    /// A stack starting at the tree's root, open as `root`.
    pub fn new(root: OwnedFd) -> DirStack {
        DirStack { chain: vec![(0, Some(root))] }
    }

    /// Directory `d` of `nodes`, open.
    pub fn open(&mut self, nodes: &[Node], d: usize) -> Result<BorrowedFd<'_>, OpenDirError> {
        let mut want = vec![d];
        let mut at = d;
        while at != 0 {
            at = nodes[at].parent;
            want.push(at);
        }
        want.reverse();
        let same = self.chain.iter().zip(&want).take_while(|((open, _), w)| open == *w).count();
        self.chain.truncate(same.max(1));
        for &next in &want[self.chain.len()..] {
            self.chain.push((next, None));
        }
        // Open what is closed, from the nearest open directory above it.
        let first_open = self.chain.iter().rposition(|(_, fd)| fd.is_some()).unwrap_or(0);
        for k in first_open + 1..self.chain.len() {
            let node = &nodes[self.chain[k].0];
            let parent = self.chain[k - 1].1.as_ref().ok_or(OpenDirError::Replaced)?;
            let fd = rustix::fs::openat(parent, node.name.as_os_str(), dir_flags(), Mode::empty())
                .map_err(|e| OpenDirError::Io(e.into()))?;
            let st = rustix::fs::fstat(&fd).map_err(|e| OpenDirError::Io(e.into()))?;
            if (st.st_dev, st.st_ino) != (node.id.dev, node.id.ino) {
                return Err(OpenDirError::Replaced);
            }
            self.chain[k].1 = Some(fd);
        }
        // Close the shallowest beyond the bound (never the root).
        let mut open = self.chain.iter().filter(|(_, fd)| fd.is_some()).count();
        for entry in self.chain.iter_mut().skip(1) {
            if open <= Self::MAX_OPEN {
                break;
            }
            if entry.1.take().is_some() {
                open -= 1;
            }
        }
        match self.chain.last() {
            Some((_, Some(fd))) => Ok(fd.as_fd()),
            _ => Err(OpenDirError::Replaced),
        }
    }
}

/// The whole tree; the root is node 0.
#[derive(Debug)]
pub struct Tree {
    /// Every entry, each directory before its children.
    pub nodes: Vec<Node>,
    /// Sockets left out, for the caller to tell.
    pub skipped: Vec<PathBuf>,
    /// The root directory, kept open: files are reopened beneath it.
    pub root: OwnedFd,
    /// The root as the caller named it (for messages).
    pub root_path: PathBuf,
}

/// A path shown in a message: control characters (a newline in a file
/// name) escaped, so a message stays one line and no name can forge one.
pub fn shown(path: &Path) -> String {
    one_line(&path.display().to_string())
}

/// `s` with its control characters escaped (a newline as `\n`), so that
/// it stays on one line.
pub fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

fn read_err(path: &Path, e: impl Into<std::io::Error>) -> Error {
    Error::Read { path: path.to_path_buf(), cause: e.into() }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

impl Tree {
    /// Read the tree under `root` (a directory, or a symlink to one).
    pub fn read(root: &Path, cancel: Option<&AtomicBool>) -> Result<Tree, Error> {
        let st = rustix::fs::stat(root).map_err(|e| read_err(root, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Err(Error::NotADirectory(root.to_path_buf()));
        }
        let fd = rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| read_err(root, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| read_err(root, e))?;
        rustix::fs::accessat(&fd, ".", Access::READ_OK | Access::EXEC_OK, AtFlags::EACCESS)
            .map_err(|e| read_err(root, e))?;
        let first = Node {
            name: OsString::new(),
            parent: 0,
            kind: Kind::Dir(Vec::new()),
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            mtime: st.st_mtime,
            rdev: 0,
            id: Identity::of(&st),
            on_disc: None,
        };
        let mut tree = Tree { nodes: vec![first], skipped: Vec::new(), root: fd, root_path: root.to_path_buf() };
        tree.walk(cancel)?;
        Ok(tree)
    }

    /// Node `i`'s path on disk, for a message.
    pub fn path_of(&self, i: usize) -> PathBuf {
        let mut names = Vec::new();
        let mut at = i;
        while at != 0 {
            names.push(self.nodes[at].name.as_os_str());
            at = self.nodes[at].parent;
        }
        let mut p = self.root_path.clone();
        p.extend(names.iter().rev());
        p
    }

    /// Read every directory below the root, depth first, without
    /// recursion (a chain of thousands of directories would overflow the
    /// stack) and with a bounded number of descriptors open ([`DirStack`]):
    /// no path is kept per directory either, so memory follows the number
    /// of entries, not their depth.
    fn walk(&mut self, cancel: Option<&AtomicBool>) -> Result<(), Error> {
        let root = self.root.try_clone().map_err(|e| read_err(&self.root_path, e))?;
        let mut dirs = DirStack::new(root);
        let mut todo = vec![0usize];
        while let Some(d) = todo.pop() {
            let fd = match dirs.open(&self.nodes, d) {
                Ok(fd) => fd,
                Err(OpenDirError::Replaced) => return Err(Error::Changed(self.path_of(d))),
                Err(OpenDirError::Io(e)) => return Err(read_err(&self.path_of(d), e)),
            };
            if d != 0 {
                rustix::fs::accessat(fd, ".", Access::READ_OK | Access::EXEC_OK, AtFlags::EACCESS)
                    .map_err(|e| read_err(&self.path_of(d), e))?;
            }
            let mut names: Vec<OsString> = Vec::new();
            let mut dir = rustix::fs::Dir::read_from(fd).map_err(|e| read_err(&self.path_of(d), e))?;
            while let Some(e) = dir.read() {
                if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    return Err(Error::Cancelled);
                }
                let e = e.map_err(|e| read_err(&self.path_of(d), e))?;
                let name = e.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(OsStr::from_bytes(name).to_os_string());
                }
            }
            drop(dir);
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let mut children = Vec::with_capacity(names.len());
            let mut subdirs = Vec::new();
            for name in names {
                if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    return Err(Error::Cancelled);
                }
                let path = || self.path_of(d).join(&name);
                let st = rustix::fs::statat(fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| read_err(&path(), e))?;
                let ft = FileType::from_raw_mode(st.st_mode);
                let kind = match ft {
                    FileType::Directory => Kind::Dir(Vec::new()),
                    FileType::RegularFile => {
                        rustix::fs::accessat(fd, name.as_os_str(), Access::READ_OK, AtFlags::EACCESS)
                            .map_err(|e| read_err(&path(), e))?;
                        Kind::File(st.st_size as u64)
                    }
                    FileType::Symlink => {
                        let t = rustix::fs::readlinkat(fd, name.as_os_str(), Vec::new())
                            .map_err(|e| read_err(&path(), e))?;
                        let t = t.into_bytes();
                        if t.len() > MAX_LINK_TARGET {
                            return Err(Error::LinkTooLong { path: path(), len: t.len() });
                        }
                        Kind::Symlink(t)
                    }
                    FileType::Socket => {
                        self.skipped.push(path());
                        continue;
                    }
                    _ => Kind::Special,
                };
                let is_dev = matches!(ft, FileType::CharacterDevice | FileType::BlockDevice);
                children.push(self.nodes.len());
                if matches!(kind, Kind::Dir(_)) {
                    subdirs.push(self.nodes.len());
                }
                self.nodes.push(Node {
                    name,
                    parent: d,
                    kind,
                    mode: st.st_mode,
                    uid: st.st_uid,
                    gid: st.st_gid,
                    mtime: st.st_mtime,
                    rdev: if is_dev { st.st_rdev } else { 0 },
                    id: Identity::of(&st),
                    on_disc: None,
                });
            }
            self.nodes[d].kind = Kind::Dir(children);
            // Depth first, in name order.
            todo.extend(subdirs.into_iter().rev());
        }
        Ok(())
    }

    /// The children of directory `i`.
    pub fn children(&self, i: usize) -> &[usize] {
        match &self.nodes[i].kind {
            Kind::Dir(c) => c,
            _ => &[],
        }
    }

    /// Put the tree `old` (a session on the disc, root first: see
    /// [`crate::import`]) under this one: an entry of this tree replaces
    /// the old one of the same name, two directories of the same name
    /// become one (this tree's attributes, both trees' entries), and
    /// every other old entry is kept. Children stay sorted by name bytes.
    pub fn graft(&mut self, old: &[Node]) {
        if old.is_empty() {
            return;
        }
        let mut todo = vec![(0usize, 0usize)];
        while let Some((new_dir, old_dir)) = todo.pop() {
            let mut kids = self.children(new_dir).to_vec();
            let by_name: std::collections::HashMap<&[u8], usize> =
                kids.iter().map(|&k| (self.nodes[k].name.as_bytes(), k)).collect();
            let mut both = Vec::new();
            let mut keep = Vec::new();
            let old_kids: &[usize] = match &old[old_dir].kind {
                Kind::Dir(c) => c,
                _ => &[],
            };
            for &o in old_kids {
                match by_name.get(old[o].name.as_bytes()) {
                    Some(&n) if self.nodes[n].is_dir() && old[o].is_dir() => both.push((n, o)),
                    Some(_) => {}
                    None => keep.push(o),
                }
            }
            for o in keep {
                kids.push(self.copy_subtree(old, o, new_dir));
            }
            kids.sort_by(|&a, &b| self.nodes[a].name.as_bytes().cmp(self.nodes[b].name.as_bytes()));
            self.nodes[new_dir].kind = Kind::Dir(kids);
            todo.extend(both);
        }
    }

    /// Copy `old[o]` and everything below it under directory `parent`;
    /// its new index.
    fn copy_subtree(&mut self, old: &[Node], o: usize, parent: usize) -> usize {
        let top = self.nodes.len();
        let mut todo = vec![(o, parent)];
        while let Some((o, parent)) = todo.pop() {
            let at = self.nodes.len();
            let mut node = old[o].clone();
            node.parent = parent;
            if let Kind::Dir(c) = &mut node.kind {
                todo.extend(c.iter().rev().map(|&k| (k, at)));
                c.clear();
            }
            self.nodes.push(node);
            if at != top {
                if let Kind::Dir(c) = &mut self.nodes[parent].kind {
                    c.push(at);
                }
            }
        }
        top
    }
}

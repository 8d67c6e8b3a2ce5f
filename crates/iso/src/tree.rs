//! The source tree, read once: every entry's name, type, mode, owner,
//! times and size, with children sorted by name bytes so that the same
//! tree always gives the same image. Symbolic links are kept as links
//! (never followed); sockets are left out (no file system can hold one).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::Error;

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

/// One entry of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its name in its directory (the root's is empty).
    pub name: OsString,
    /// Where it is on disk.
    pub path: PathBuf,
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
    /// Depth below the root (the root is 0).
    pub depth: usize,
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

/// The whole tree; the root is node 0.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Every entry, directories before their children.
    pub nodes: Vec<Node>,
    /// Sockets left out, for the caller to tell.
    pub skipped: Vec<PathBuf>,
}

fn node(path: &Path, name: OsString, parent: usize, depth: usize) -> Result<(Node, bool), Error> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::Read { path: path.to_path_buf(), cause: e })?;
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir(Vec::new())
    } else if ft.is_file() {
        Kind::File(meta.len())
    } else if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| Error::Read { path: path.to_path_buf(), cause: e })?;
        Kind::Symlink(target.as_os_str().as_bytes().to_vec())
    } else if ft.is_socket() {
        return Ok((
            Node {
                name,
                path: path.to_path_buf(),
                parent,
                kind: Kind::Special,
                mode: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
                rdev: 0,
                depth,
            },
            false,
        ));
    } else {
        Kind::Special
    };
    Ok((
        Node {
            name,
            path: path.to_path_buf(),
            parent,
            kind,
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
            rdev: if ft.is_char_device() || ft.is_block_device() { meta.rdev() } else { 0 },
            depth,
        },
        true,
    ))
}

impl Tree {
    /// Read the tree under `root` (which must be a directory).
    pub fn read(root: &Path) -> Result<Tree, Error> {
        let (first, _) = node(root, OsString::new(), 0, 0)?;
        if !first.is_dir() {
            return Err(Error::NotADirectory(root.to_path_buf()));
        }
        let mut tree = Tree { nodes: vec![first], skipped: Vec::new() };
        // Breadth first: a directory's children are read when it is reached.
        let mut i = 0;
        while i < tree.nodes.len() {
            if tree.nodes[i].is_dir() {
                let dir = tree.nodes[i].path.clone();
                let depth = tree.nodes[i].depth + 1;
                let mut names: Vec<OsString> = std::fs::read_dir(&dir)
                    .map_err(|e| Error::Read { path: dir.clone(), cause: e })?
                    .map(|e| e.map(|e| e.file_name()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| Error::Read { path: dir.clone(), cause: e })?;
                names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                let mut children = Vec::with_capacity(names.len());
                for name in names {
                    let path = dir.join(&name);
                    let (n, keep) = node(&path, name, i, depth)?;
                    if keep {
                        children.push(tree.nodes.len());
                        tree.nodes.push(n);
                    } else {
                        tree.skipped.push(path);
                    }
                }
                tree.nodes[i].kind = Kind::Dir(children);
            }
            i += 1;
        }
        Ok(tree)
    }

    /// The children of directory `i`.
    pub fn children(&self, i: usize) -> &[usize] {
        match &self.nodes[i].kind {
            Kind::Dir(c) => c,
            _ => &[],
        }
    }
}

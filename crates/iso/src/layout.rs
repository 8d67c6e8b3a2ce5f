//! The image laid out from the tree's metadata alone, before any file is
//! read: volume descriptors (primary, Joliet, terminator), the four path
//! tables, the directories of both trees, Rock Ridge continuation areas,
//! then each file's data in one run of sectors (several extents for files
//! of 4 GiB and more). The metadata bytes are built here; file data is
//! streamed by [`crate::stream`].

use crate::names;
use crate::rrip::{self, both16, both32, date17, date7};
use crate::tree::{Kind, Tree};
use crate::{Error, Options};

/// Bytes per logical block of an ISO 9660 image (ECMA-119 allows others;
/// discs use this one, and `discrec` checks it is the drive's sector).
pub const SECTOR: u64 = 2048;
/// Largest extent: 4 GiB less one sector, so every extent but a file's
/// last is whole sectors.
pub const MAX_EXTENT: u64 = 0xFFFF_F800;
/// First sector after the system area.
const FIRST_VD: u32 = 16;

/// One file's data in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileData {
    /// Its node in [`Layout::tree`]: its name and directory.
    pub node: usize,
    /// Its size when the tree was read.
    pub size: u64,
    /// What it was when the tree was read: it must still be that.
    pub id: crate::tree::Identity,
    /// First sector of its data.
    pub start: u64,
}

/// A laid-out image.
#[derive(Debug)]
pub struct Layout {
    /// The tree read: its root directory, where files are reopened, and
    /// each entry's name and parent.
    pub tree: Tree,
    /// Every byte before the first file's data.
    pub meta: Vec<u8>,
    /// Files with data, in the order of their sectors.
    pub files: Vec<FileData>,
    /// Files that were empty: no data to read, but they must still be
    /// empty (and unchanged) when the image has been read.
    pub empty: Vec<FileData>,
    /// Sectors in the image: from its first ([`Layout::start`]) to its
    /// end.
    pub sectors: u64,
    /// The sector of the disc where the image starts
    /// ([`Options::session_start`]): every address in it counts from the
    /// disc's first sector.
    pub start: u32,
}

/// One of the two directory trees: ISO 9660 (with Rock Ridge) or Joliet.
struct View {
    /// Identifier bytes per node (empty for nodes not in this tree).
    ids: Vec<Vec<u8>>,
    /// Children of each directory in this tree, sorted by identifier.
    children: Vec<Vec<usize>>,
    /// Directories in path-table order; `num[node]` is the 1-based number.
    dirs: Vec<usize>,
    num: Vec<u32>,
    /// Directory extents: first sector and size in bytes.
    extent: Vec<(u32, u32)>,
}

impl View {
    fn new(tree: &Tree, joliet: bool) -> View {
        let n = tree.nodes.len();
        let mut ids = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        for (d, node) in tree.nodes.iter().enumerate() {
            if !node.is_dir() {
                continue;
            }
            // Joliet holds directories and files only: no symlink or device
            // stand-ins for readers that cannot show them.
            let kids: Vec<usize> = tree
                .children(d)
                .iter()
                .copied()
                .filter(|&c| !joliet || matches!(tree.nodes[c].kind, Kind::Dir(_) | Kind::File(_)))
                .collect();
            let real: Vec<(String, bool)> = kids
                .iter()
                .map(|&c| (tree.nodes[c].name.to_string_lossy().into_owned(), tree.nodes[c].is_dir()))
                .collect();
            if joliet {
                for (&c, id) in kids.iter().zip(names::joliet_names(&real)) {
                    ids[c] = id.iter().flat_map(|u| u.to_be_bytes()).collect();
                }
            } else {
                for (&c, id) in kids.iter().zip(names::iso_names(&real)) {
                    ids[c] = id.into_bytes();
                }
            }
            let mut sorted = kids;
            if joliet {
                sorted.sort_by(|&a, &b| ids[a].cmp(&ids[b]));
            } else {
                sorted.sort_by(|&a, &b| names::iso_order(&ids[a], &ids[b]));
            }
            children[d] = sorted;
        }
        // Path-table order: by level, then parent, then identifier (BFS).
        let mut dirs = vec![0usize];
        let mut i = 0;
        while i < dirs.len() {
            let d = dirs[i];
            dirs.extend(children[d].iter().copied().filter(|&c| tree.nodes[c].is_dir()));
            i += 1;
        }
        let mut num = vec![0u32; n];
        for (k, &d) in dirs.iter().enumerate() {
            num[d] = k as u32 + 1;
        }
        View { ids, children, dirs, num, extent: vec![(0, 0); n] }
    }

    /// The path table, little-endian (L) or big-endian (M), for the
    /// directory locations in `extent`.
    fn path_table(&self, tree: &Tree, big: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for &d in &self.dirs {
            let id: &[u8] = if d == 0 { &[0] } else { &self.ids[d] };
            let parent = self.num[tree.nodes[d].parent] as u16;
            out.push(id.len() as u8);
            out.push(0);
            let loc = self.extent[d].0;
            out.extend_from_slice(&if big { loc.to_be_bytes() } else { loc.to_le_bytes() });
            out.extend_from_slice(&if big { parent.to_be_bytes() } else { parent.to_le_bytes() });
            out.extend_from_slice(id);
            if id.len() % 2 == 1 {
                out.push(0);
            }
        }
        out
    }
}

/// A directory record.
fn record(id: &[u8], loc: u32, len: u32, date: [u8; 7], flags: u8, su: &[u8]) -> Vec<u8> {
    let pad = usize::from(id.len() % 2 == 0);
    let mut total = 33 + id.len() + pad + su.len();
    total += total % 2;
    let mut r = Vec::with_capacity(total);
    r.push(total as u8);
    r.push(0);
    r.extend_from_slice(&both32(loc));
    r.extend_from_slice(&both32(len));
    r.extend_from_slice(&date);
    r.push(flags);
    r.push(0);
    r.push(0);
    r.extend_from_slice(&both16(1));
    r.push(id.len() as u8);
    r.extend_from_slice(id);
    r.resize(33 + id.len() + pad, 0);
    r.extend_from_slice(su);
    r.resize(total, 0);
    r
}

/// Rock Ridge entries of one record, split between the record (up to
/// `room` bytes) and a continuation area when they do not all fit.
struct Su {
    inline: Vec<u8>,
    spill: Vec<Vec<u8>>,
}

fn split_su(entries: Vec<Vec<u8>>, room: usize) -> Su {
    let total: usize = entries.iter().map(Vec::len).sum();
    if total <= room {
        return Su { inline: entries.concat(), spill: Vec::new() };
    }
    let mut inline = Vec::new();
    let mut spill = Vec::new();
    for e in entries {
        if spill.is_empty() && inline.len() + e.len() + rrip::CE_LEN <= room {
            inline.extend(e);
        } else {
            spill.push(e);
        }
    }
    Su { inline, spill }
}

/// Space for System Use in a record with identifier `id_len` bytes long.
fn su_room(id_len: usize) -> usize {
    254 - (33 + id_len + usize::from(id_len % 2 == 0))
}

/// Continuation areas: whole entries packed into sectors, no area
/// crossing a sector boundary; entries that do not fit one area go on in
/// the next, chained by a CE entry at the end of the first.
struct Continuations {
    bytes: Vec<u8>,
    first_sector: u32,
}

impl Continuations {
    /// Place `entries` (each at most 255 bytes); the CE entry that points
    /// to the first area.
    fn place(&mut self, entries: &[Vec<u8>]) -> Vec<u8> {
        let room = SECTOR as usize - rrip::CE_LEN;
        // Group whole entries into areas of at most `room` bytes.
        let mut areas: Vec<Vec<u8>> = vec![Vec::new()];
        for e in entries {
            if areas.last().unwrap().len() + e.len() > room {
                areas.push(Vec::new());
            }
            areas.last_mut().unwrap().extend_from_slice(e);
        }
        let n = areas.len();
        let mut places = Vec::with_capacity(n);
        for (i, a) in areas.iter().enumerate() {
            let len = a.len() + if i + 1 < n { rrip::CE_LEN } else { 0 };
            let used = self.bytes.len() % SECTOR as usize;
            if used + len > SECTOR as usize {
                self.bytes.resize(self.bytes.len() + SECTOR as usize - used, 0);
            }
            places.push((self.bytes.len(), len));
            self.bytes.resize(self.bytes.len() + len, 0);
        }
        let at = |(off, len): (usize, usize)| {
            (self.first_sector + (off / SECTOR as usize) as u32, (off % SECTOR as usize) as u32, len as u32)
        };
        for (i, a) in areas.iter().enumerate() {
            let (off, len) = places[i];
            self.bytes[off..off + a.len()].copy_from_slice(a);
            if i + 1 < n {
                let (b, o, l) = at(places[i + 1]);
                self.bytes[off + a.len()..off + len].copy_from_slice(&rrip::ce(b, o, l));
            }
        }
        let (b, o, l) = at(places[0]);
        rrip::ce(b, o, l)
    }
}

/// Pack records into directory sectors: a record never crosses a sector.
fn pack(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        let used = out.len() % SECTOR as usize;
        if used + r.len() > SECTOR as usize {
            out.resize(out.len() + SECTOR as usize - used, 0);
        }
        out.extend_from_slice(r);
    }
    let rem = out.len() % SECTOR as usize;
    if rem != 0 || out.is_empty() {
        out.resize(out.len() + SECTOR as usize - rem, 0);
    }
    out
}

fn sectors(bytes: usize) -> u32 {
    (bytes as u64).div_ceil(SECTOR) as u32
}

/// Extents of file `c` placed at sector `start`; a file already on the
/// disc keeps its own.
fn extents_of(tree: &Tree, c: usize, start: u64) -> Vec<(u32, u32)> {
    match &tree.nodes[c].on_disc {
        Some(on_disc) => on_disc.to_vec(),
        None => extents(start, tree.nodes[c].size()),
    }
}

/// Extents of a file of `size` bytes starting at sector `start`.
fn extents(start: u64, size: u64) -> Vec<(u32, u32)> {
    if size == 0 {
        return vec![(0, 0)];
    }
    let mut out = Vec::new();
    let (mut at, mut left) = (start, size);
    while left > 0 {
        let len = left.min(MAX_EXTENT);
        out.push((at as u32, len as u32));
        at += len / SECTOR;
        left -= len;
    }
    out
}

impl Layout {
    /// Lay out `tree` with `opts`: check that it fits, size the ISO
    /// directories' records (`iso_records`), give everything its
    /// sectors (`Placed::new`), then write the metadata's bytes.
    pub fn new(tree: Tree, opts: &Options) -> Result<Layout, Error> {
        check_data_fits(&tree, opts.session_start)?;
        let (iso, jol) = (View::new(&tree, false), View::new(&tree, true));
        if iso.dirs.len() > u16::MAX as usize {
            return Err(Error::TooManyDirectories(iso.dirs.len()));
        }
        let recs = iso_records(&tree, &iso);
        let placed = Placed::new(&tree, iso, jol, &recs, opts.session_start)?;
        let meta = placed.metadata(&tree, &recs, opts);
        let Placed { files, empty, total, start, .. } = placed;
        Ok(Layout { tree, meta, files, empty, sectors: total - u64::from(start), start })
    }
}

/// The files' data alone past what ISO 9660 addresses is refused before
/// a record is made (a sparse file of 4 EiB, which any user can make,
/// would need a billion 4 GiB extents).
fn check_data_fits(tree: &Tree, start: u32) -> Result<(), Error> {
    // No disc has 2^31 sectors (4 TiB): a start past that is refused, so
    // the metadata after it can never run past what 32 bits address.
    if start >= 1 << 31 {
        return Err(Error::TooLarge(u64::from(start) * SECTOR));
    }
    let data = tree.nodes.iter().fold(u64::from(start), |t, x| match x.kind {
        Kind::File(size) if x.on_disc.is_none() => t.saturating_add(size.div_ceil(SECTOR)),
        _ => t,
    });
    if data > u64::from(u32::MAX) {
        return Err(Error::TooLarge(data.saturating_mul(SECTOR)));
    }
    Ok(())
}

/// One record of an ISO directory, its System Use split to fit.
struct Rec {
    id: Vec<u8>,
    node: usize,
    /// "." or "..".
    dir_self: bool,
    su: Su,
}

/// Pass 1: each ISO directory's records (".", "..", then one per extent
/// of each child) with their Rock Ridge System Use, split, so that the
/// directories can be sized.
fn iso_records(tree: &Tree, iso: &View) -> Vec<Vec<Rec>> {
    // Links and serial numbers for PX: directories count "." and each
    // subdirectory's "..".
    let links: Vec<u32> = (0..tree.nodes.len())
        .map(|i| match &tree.nodes[i].kind {
            Kind::Dir(c) => 2 + c.iter().filter(|&&k| tree.nodes[k].is_dir()).count() as u32,
            _ => 1,
        })
        .collect();
    let serial = |i: usize| i as u32 + 1;
    let mut iso_recs: Vec<Vec<Rec>> = (0..tree.nodes.len()).map(|_| Vec::new()).collect();
    for &d in &iso.dirs {
        let node = &tree.nodes[d];
        let mut dot = rrip::entries(node, false, links[d], serial(d));
        if d == 0 {
            dot.insert(0, rrip::sp());
            dot.push(rrip::er());
        }
        let p = node.parent;
        let dotdot = rrip::entries(&tree.nodes[p], false, links[p], serial(p));
        let mut recs = vec![
            Rec { id: vec![0], node: d, dir_self: true, su: split_su(dot, su_room(1)) },
            Rec { id: vec![1], node: p, dir_self: true, su: split_su(dotdot, su_room(1)) },
        ];
        for &c in &iso.children[d] {
            let e = rrip::entries(&tree.nodes[c], true, links[c], serial(c));
            let count = extents_of(tree, c, 0).len();
            for _ in 0..count {
                recs.push(Rec {
                    id: iso.ids[c].clone(),
                    node: c,
                    dir_self: false,
                    su: split_su(e.clone(), su_room(iso.ids[c].len())),
                });
            }
        }
        iso_recs[d] = recs;
    }
    iso_recs
}

/// Bytes of an ISO record with identifier `id` and System Use `su`.
fn rec_len(id: &[u8], su: &Su) -> usize {
    let base = 33 + id.len() + usize::from(id.len() % 2 == 0);
    let l = base + su.inline.len() + if su.spill.is_empty() { 0 } else { rrip::CE_LEN };
    l + l % 2
}

/// Bytes of a Joliet record with identifier `id`.
fn jol_rec_len(id: &[u8]) -> usize {
    let l = 33 + id.len() + usize::from(id.len() % 2 == 0);
    l + l % 2
}

/// Bytes of a directory of records of lengths `lens`: no record crosses
/// a sector boundary.
fn dir_bytes(lens: &[usize]) -> u32 {
    let mut used = 0usize;
    for &l in lens {
        let in_sector = used % SECTOR as usize;
        if in_sector + l > SECTOR as usize {
            used += SECTOR as usize - in_sector;
        }
        used += l;
    }
    sectors(used.max(1)) * SECTOR as u32
}

/// Pass 2: where everything goes, from the session's start: its sector
/// 16 is the primary descriptor, 17 Joliet's, 18 the terminator; then the path tables, the
/// directories, the continuation areas and the files' data.
struct Placed {
    iso: View,
    jol: View,
    /// ISO path tables: little-endian, big-endian, and the sector after.
    pt: [u32; 3],
    /// Joliet path tables: little-endian, big-endian.
    pt_jol: [u32; 2],
    pt_iso_len: usize,
    pt_jol_len: usize,
    /// Rock Ridge continuation areas.
    cont: Continuations,
    /// Each ISO record's CE entry (empty when it needs none), by directory.
    ce_of: Vec<Vec<Vec<u8>>>,
    data_start: u64,
    /// The image's first sector on the disc.
    start: u32,
    /// Each file's first sector.
    file_start: Vec<u64>,
    files: Vec<FileData>,
    empty: Vec<FileData>,
    total: u64,
}

impl Placed {
    fn new(tree: &Tree, mut iso: View, mut jol: View, recs: &[Vec<Rec>], start: u32) -> Result<Placed, Error> {
        let n = tree.nodes.len();
        let pt_iso_len = iso.path_table(tree, false).len();
        let pt_jol_len = jol.path_table(tree, false).len();
        let mut next = start + FIRST_VD + 3;
        let pt = [next, next + sectors(pt_iso_len), next + 2 * sectors(pt_iso_len)];
        let pt_jol = [pt[2] + sectors(pt_iso_len), pt[2] + sectors(pt_iso_len) + sectors(pt_jol_len)];
        next = pt_jol[1] + sectors(pt_jol_len);
        for &d in &iso.dirs.clone() {
            let lens: Vec<usize> = recs[d].iter().map(|r| rec_len(&r.id, &r.su)).collect();
            let size = dir_bytes(&lens);
            iso.extent[d] = (next, size);
            next += size / SECTOR as u32;
        }
        for &d in &jol.dirs.clone() {
            let mut lens = vec![jol_rec_len(&[0]), jol_rec_len(&[1])];
            for &c in &jol.children[d] {
                lens.extend(std::iter::repeat_n(jol_rec_len(&jol.ids[c]), extents_of(tree, c, 0).len()));
            }
            let size = dir_bytes(&lens);
            jol.extent[d] = (next, size);
            next += size / SECTOR as u32;
        }
        let mut cont = Continuations { bytes: Vec::new(), first_sector: next };
        let mut ce_of: Vec<Vec<Vec<u8>>> = (0..n).map(|_| Vec::new()).collect();
        for &d in &iso.dirs {
            ce_of[d] = recs[d]
                .iter()
                .map(|r| if r.su.spill.is_empty() { Vec::new() } else { cont.place(&r.su.spill) })
                .collect();
        }
        let data_start = u64::from(next) + u64::from(sectors(cont.bytes.len()));
        let mut placed = Placed {
            iso,
            jol,
            pt,
            pt_jol,
            pt_iso_len,
            pt_jol_len,
            cont,
            ce_of,
            data_start,
            start,
            file_start: vec![0u64; n],
            files: Vec::new(),
            empty: Vec::new(),
            total: 0,
        };
        placed.place_files(tree)?;
        Ok(placed)
    }

    /// File data after the metadata, in the ISO tree's directory order.
    fn place_files(&mut self, tree: &Tree) -> Result<(), Error> {
        let mut at = self.data_start;
        for &d in &self.iso.dirs {
            for &c in &self.iso.children[d] {
                if let Kind::File(size) = tree.nodes[c].kind {
                    if tree.nodes[c].on_disc.is_some() {
                        // Already on the disc: pointed to, not written.
                    } else if size > 0 {
                        self.file_start[c] = at;
                        self.files.push(FileData { node: c, size, id: tree.nodes[c].id, start: at });
                        at += size.div_ceil(SECTOR);
                    } else {
                        self.empty.push(FileData { node: c, size, id: tree.nodes[c].id, start: 0 });
                    }
                }
            }
        }
        if at > u64::from(u32::MAX) {
            return Err(Error::TooLarge(at * SECTOR));
        }
        self.total = at;
        Ok(())
    }

    /// Pass 3: every byte before the first file's data.
    fn metadata(&self, tree: &Tree, recs: &[Vec<Rec>], opts: &Options) -> Vec<u8> {
        let mut meta = vec![0u8; (self.data_start - u64::from(self.start)) as usize * SECTOR as usize];
        let mut put = |sector: u32, bytes: &[u8]| put(&mut meta, sector - self.start, bytes);
        for &d in &self.iso.dirs {
            put(self.iso.extent[d].0, &pack(&self.iso_directory(tree, recs, d)));
        }
        for &d in &self.jol.dirs {
            put(self.jol.extent[d].0, &pack(&self.joliet_directory(tree, d)));
        }
        put(self.cont.first_sector, &self.cont.bytes);
        put(self.pt[0], &self.iso.path_table(tree, false));
        put(self.pt[1], &self.iso.path_table(tree, true));
        put(self.pt_jol[0], &self.jol.path_table(tree, false));
        put(self.pt_jol[1], &self.jol.path_table(tree, true));
        self.put_descriptors(&mut put, tree, opts);
        meta
    }

    /// The record of child `c` of a directory of view `v`, for its extent
    /// `(loc, len)` (a directory's own extent for a directory).
    fn child_record(&self, tree: &Tree, v: &View, c: usize, (loc, len): (u32, u32), last: bool, su: &[u8]) -> Vec<u8> {
        let node = &tree.nodes[c];
        let mut flags = if node.is_dir() { 0x02 } else { 0 };
        if !last {
            flags |= 0x80;
        }
        let (loc, len) = if node.is_dir() { v.extent[c] } else { (loc, len) };
        record(&v.ids[c], loc, len, date7(node.mtime), flags, su)
    }

    /// The records of ISO directory `d`, with their System Use and CE
    /// entries.
    fn iso_directory(&self, tree: &Tree, recs: &[Vec<Rec>], d: usize) -> Vec<Vec<u8>> {
        let su_of = |k: usize| {
            let mut su = recs[d][k].su.inline.clone();
            su.extend_from_slice(&self.ce_of[d][k]);
            su
        };
        let mut out = Vec::new();
        let mut k = 0;
        while k < recs[d].len() {
            let r = &recs[d][k];
            if r.dir_self {
                let (loc, len) = self.iso.extent[r.node];
                out.push(record(&r.id, loc, len, date7(tree.nodes[r.node].mtime), 0x02, &su_of(k)));
                k += 1;
            } else {
                let ext = extents_of(tree, r.node, self.file_start[r.node]);
                for (e, x) in ext.iter().enumerate() {
                    let node = recs[d][k + e].node;
                    out.push(self.child_record(tree, &self.iso, node, *x, e + 1 == ext.len(), &su_of(k + e)));
                }
                k += ext.len();
            }
        }
        out
    }

    /// The records of Joliet directory `d`.
    fn joliet_directory(&self, tree: &Tree, d: usize) -> Vec<Vec<u8>> {
        let (jol, node) = (&self.jol, &tree.nodes[d]);
        let p = node.parent;
        let mut out = vec![
            record(&[0], jol.extent[d].0, jol.extent[d].1, date7(node.mtime), 0x02, &[]),
            record(&[1], jol.extent[p].0, jol.extent[p].1, date7(tree.nodes[p].mtime), 0x02, &[]),
        ];
        for &c in &jol.children[d] {
            let ext = extents_of(tree, c, self.file_start[c]);
            for (e, x) in ext.iter().enumerate() {
                out.push(self.child_record(tree, jol, c, *x, e + 1 == ext.len(), &[]));
            }
        }
        out
    }

    /// The primary and Joliet volume descriptors and the terminator.
    fn put_descriptors(&self, put: &mut impl FnMut(u32, &[u8]), tree: &Tree, opts: &Options) {
        let volume_date = opts.date.unwrap_or_else(|| tree.nodes.iter().map(|x| x.mtime).max().unwrap_or(0));
        let root = |v: &View| record(&[0], v.extent[0].0, v.extent[0].1, date7(tree.nodes[0].mtime), 0x02, &[]);
        let vid = names::volume_id(&opts.volume_id);
        let total = self.total as u32;
        let iso = Descriptor {
            joliet: false,
            vid: &vid,
            label: &opts.volume_id,
            total,
            pt_len: self.pt_iso_len as u32,
            pt: self.pt,
            root: &root(&self.iso),
            date: volume_date,
        };
        let jol_root = root(&self.jol);
        let jol = Descriptor {
            joliet: true,
            pt_len: self.pt_jol_len as u32,
            pt: [self.pt_jol[0], self.pt_jol[1], 0],
            root: &jol_root,
            ..iso
        };
        put(self.start + FIRST_VD, &iso.bytes());
        put(self.start + FIRST_VD + 1, &jol.bytes());
        let mut term = vec![255u8];
        term.extend_from_slice(b"CD001");
        term.push(1);
        put(self.start + FIRST_VD + 2, &term);
    }
}

/// Write `bytes` into `meta` from `sector`.
fn put(meta: &mut [u8], sector: u32, bytes: &[u8]) {
    let at = sector as usize * SECTOR as usize;
    meta[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A text field: `a`/`d` characters padded with spaces, or UCS-2 BE
/// padded with UCS-2 spaces for Joliet.
fn text(joliet: bool, s: &str, bytes: usize) -> Vec<u8> {
    let mut out: Vec<u8> = if joliet {
        s.encode_utf16().take(bytes / 2).flat_map(|u| u.to_be_bytes()).collect()
    } else {
        s.bytes().take(bytes).collect()
    };
    while out.len() < bytes {
        out.extend_from_slice(if joliet && bytes - out.len() >= 2 { &[0, b' '] } else { b" " });
    }
    out
}

/// A volume descriptor: primary (ISO 9660) or supplementary (Joliet).
#[derive(Clone, Copy)]
struct Descriptor<'a> {
    joliet: bool,
    /// The ISO volume identifier.
    vid: &'a str,
    /// The label as given (Joliet's identifier is made from it).
    label: &'a str,
    /// Sectors in the image.
    total: u32,
    pt_len: u32,
    /// Path tables: little-endian, big-endian (and a spare).
    pt: [u32; 3],
    /// The root directory's record.
    root: &'a [u8],
    date: i64,
}

impl Descriptor<'_> {
    fn bytes(&self) -> Vec<u8> {
        let Descriptor { joliet, vid, label, total, pt_len, pt, root, date } = *self;
        let mut d = vec![0u8; SECTOR as usize];
        d[0] = if joliet { 2 } else { 1 };
        d[1..6].copy_from_slice(b"CD001");
        d[6] = 1;
        d[8..40].copy_from_slice(&text(joliet, "LINUX", 32));
        let volume = if joliet { names::joliet_volume_id(label) } else { vid.to_string() };
        d[40..72].copy_from_slice(&text(joliet, &volume, 32));
        d[80..88].copy_from_slice(&both32(total));
        if joliet {
            // UCS-2 level 3.
            d[88..91].copy_from_slice(b"%/E");
        }
        d[120..124].copy_from_slice(&both16(1));
        d[124..128].copy_from_slice(&both16(1));
        d[128..132].copy_from_slice(&both16(SECTOR as u16));
        d[132..140].copy_from_slice(&both32(pt_len));
        d[140..144].copy_from_slice(&pt[0].to_le_bytes());
        d[148..152].copy_from_slice(&pt[1].to_be_bytes());
        d[156..190].copy_from_slice(root);
        d[190..318].copy_from_slice(&text(joliet, "", 128));
        d[318..446].copy_from_slice(&text(joliet, "", 128));
        d[446..574].copy_from_slice(&text(joliet, "", 128));
        d[574..702].copy_from_slice(&text(joliet, "DISCREC", 128));
        d[702..739].copy_from_slice(&text(joliet, "", 37));
        d[739..776].copy_from_slice(&text(joliet, "", 37));
        d[776..813].copy_from_slice(&text(joliet, "", 37));
        d[813..830].copy_from_slice(&date17(date));
        d[830..847].copy_from_slice(&date17(date));
        d[847..863].copy_from_slice(b"0000000000000000");
        d[864..880].copy_from_slice(b"0000000000000000");
        d[881] = 1;
        d
    }
}

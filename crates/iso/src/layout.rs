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
    /// Sectors in the image.
    pub sectors: u64,
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
    /// Lay out `tree` with `opts`.
    pub fn new(tree: Tree, opts: &Options) -> Result<Layout, Error> {
        // The files' data alone past what ISO 9660 addresses: refused
        // before a record is made (a sparse file of 4 EiB, which any user
        // can make, would need a billion 4 GiB extents).
        let data = tree.nodes.iter().fold(0u64, |t, x| match x.kind {
            Kind::File(size) => t.saturating_add(size.div_ceil(SECTOR)),
            _ => t,
        });
        if data > u64::from(u32::MAX) {
            return Err(Error::TooLarge(data.saturating_mul(SECTOR)));
        }
        let n = tree.nodes.len();
        let iso = View::new(&tree, false);
        let jol = View::new(&tree, true);
        if iso.dirs.len() > u16::MAX as usize {
            return Err(Error::TooManyDirectories(iso.dirs.len()));
        }
        let volume_date = opts.date.unwrap_or_else(|| tree.nodes.iter().map(|x| x.mtime).max().unwrap_or(0));
        // Links and serial numbers for PX: directories count "." and each
        // subdirectory's "..".
        let links: Vec<u32> = (0..n)
            .map(|i| match &tree.nodes[i].kind {
                Kind::Dir(c) => 2 + c.iter().filter(|&&k| tree.nodes[k].is_dir()).count() as u32,
                _ => 1,
            })
            .collect();
        let serial = |i: usize| i as u32 + 1;

        // Pass 1: ISO records' System Use, split, to size the directories.
        // For each directory: ".", "..", then each child (one record per extent).
        struct Rec {
            id: Vec<u8>,
            node: usize,
            dir_self: bool,
            su: Su,
        }
        let mut iso_recs: Vec<Vec<Rec>> = (0..n).map(|_| Vec::new()).collect();
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
                let count = extents(0, tree.nodes[c].size()).len();
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
        let rec_len = |id: &[u8], su: &Su| {
            let base = 33 + id.len() + usize::from(id.len() % 2 == 0);
            let l = base + su.inline.len() + if su.spill.is_empty() { 0 } else { rrip::CE_LEN };
            l + l % 2
        };
        let dir_bytes = |lens: &[usize]| {
            let mut used = 0usize;
            for &l in lens {
                let in_sector = used % SECTOR as usize;
                if in_sector + l > SECTOR as usize {
                    used += SECTOR as usize - in_sector;
                }
                used += l;
            }
            sectors(used.max(1)) * SECTOR as u32
        };
        let jol_rec_len = |id: &[u8]| {
            let l = 33 + id.len() + usize::from(id.len() % 2 == 0);
            l + l % 2
        };

        // Pass 2: sectors. 16 PVD, 17 Joliet SVD, 18 terminator, then the
        // path tables, the directories, the continuation areas, the data.
        let mut iso_v = iso;
        let mut jol_v = jol;
        let pt_iso_len = iso_v.path_table(&tree, false).len();
        let pt_jol_len = jol_v.path_table(&tree, false).len();
        let mut next = FIRST_VD + 3;
        let pt = [next, next + sectors(pt_iso_len), next + 2 * sectors(pt_iso_len)];
        let pt_jol = [pt[2] + sectors(pt_iso_len), pt[2] + sectors(pt_iso_len) + sectors(pt_jol_len)];
        next = pt_jol[1] + sectors(pt_jol_len);
        for &d in &iso_v.dirs.clone() {
            let lens: Vec<usize> = iso_recs[d].iter().map(|r| rec_len(&r.id, &r.su)).collect();
            let size = dir_bytes(&lens);
            iso_v.extent[d] = (next, size);
            next += size / SECTOR as u32;
        }
        for &d in &jol_v.dirs.clone() {
            let mut lens = vec![jol_rec_len(&[0]), jol_rec_len(&[1])];
            for &c in &jol_v.children[d] {
                lens.extend(std::iter::repeat_n(jol_rec_len(&jol_v.ids[c]), extents(0, tree.nodes[c].size()).len()));
            }
            let size = dir_bytes(&lens);
            jol_v.extent[d] = (next, size);
            next += size / SECTOR as u32;
        }
        let mut cont = Continuations { bytes: Vec::new(), first_sector: next };
        let mut ce_of: Vec<Vec<Vec<u8>>> = (0..n).map(|_| Vec::new()).collect();
        for &d in &iso_v.dirs {
            ce_of[d] = iso_recs[d]
                .iter()
                .map(|r| if r.su.spill.is_empty() { Vec::new() } else { cont.place(&r.su.spill) })
                .collect();
        }
        let data_start = u64::from(next) + u64::from(sectors(cont.bytes.len()));
        // File data, in the ISO tree's directory order.
        let (mut files, mut empty) = (Vec::new(), Vec::new());
        let mut file_start = vec![0u64; n];
        let mut at = data_start;
        for &d in &iso_v.dirs {
            for &c in &iso_v.children[d] {
                if let Kind::File(size) = tree.nodes[c].kind {
                    if size > 0 {
                        file_start[c] = at;
                        files.push(FileData { node: c, size, id: tree.nodes[c].id, start: at });
                        at += size.div_ceil(SECTOR);
                    } else {
                        empty.push(FileData { node: c, size, id: tree.nodes[c].id, start: 0 });
                    }
                }
            }
        }
        let total = at;
        if total > u64::from(u32::MAX) {
            return Err(Error::TooLarge(total * SECTOR));
        }

        // Pass 3: the bytes.
        let mut meta = vec![0u8; data_start as usize * SECTOR as usize];
        let put = |meta: &mut Vec<u8>, sector: u32, bytes: &[u8]| {
            let at = sector as usize * SECTOR as usize;
            meta[at..at + bytes.len()].copy_from_slice(bytes);
        };
        let rec_for = |v: &View, c: usize, (loc, len): (u32, u32), last: bool, su: &[u8]| {
            let node = &tree.nodes[c];
            let mut flags = if node.is_dir() { 0x02 } else { 0 };
            if !last {
                flags |= 0x80;
            }
            let (loc, len) = if node.is_dir() { v.extent[c] } else { (loc, len) };
            record(&v.ids[c], loc, len, date7(node.mtime), flags, su)
        };
        // ISO directories.
        for &d in &iso_v.dirs {
            let mut out = Vec::new();
            let mut k = 0;
            while k < iso_recs[d].len() {
                let r = &iso_recs[d][k];
                let mut su = r.su.inline.clone();
                su.extend_from_slice(&ce_of[d][k]);
                if r.dir_self {
                    let node = &tree.nodes[r.node];
                    out.push(record(
                        &r.id,
                        iso_v.extent[r.node].0,
                        iso_v.extent[r.node].1,
                        date7(node.mtime),
                        0x02,
                        &su,
                    ));
                    k += 1;
                } else {
                    let ext = extents(file_start[r.node], tree.nodes[r.node].size());
                    for (e, x) in ext.iter().enumerate() {
                        let r = &iso_recs[d][k + e];
                        let mut su = r.su.inline.clone();
                        su.extend_from_slice(&ce_of[d][k + e]);
                        out.push(rec_for(&iso_v, r.node, *x, e + 1 == ext.len(), &su));
                    }
                    k += ext.len();
                }
            }
            put(&mut meta, iso_v.extent[d].0, &pack(&out));
        }
        // Joliet directories.
        for &d in &jol_v.dirs {
            let node = &tree.nodes[d];
            let p = node.parent;
            let mut out = vec![
                record(&[0], jol_v.extent[d].0, jol_v.extent[d].1, date7(node.mtime), 0x02, &[]),
                record(&[1], jol_v.extent[p].0, jol_v.extent[p].1, date7(tree.nodes[p].mtime), 0x02, &[]),
            ];
            for &c in &jol_v.children[d] {
                let ext = extents(file_start[c], tree.nodes[c].size());
                for (e, x) in ext.iter().enumerate() {
                    out.push(rec_for(&jol_v, c, *x, e + 1 == ext.len(), &[]));
                }
            }
            put(&mut meta, jol_v.extent[d].0, &pack(&out));
        }
        put(&mut meta, cont.first_sector, &cont.bytes);
        // Path tables.
        put(&mut meta, pt[0], &iso_v.path_table(&tree, false));
        put(&mut meta, pt[1], &iso_v.path_table(&tree, true));
        put(&mut meta, pt_jol[0], &jol_v.path_table(&tree, false));
        put(&mut meta, pt_jol[1], &jol_v.path_table(&tree, true));
        // Volume descriptors.
        let root_iso = record(&[0], iso_v.extent[0].0, iso_v.extent[0].1, date7(tree.nodes[0].mtime), 0x02, &[]);
        let root_jol = record(&[0], jol_v.extent[0].0, jol_v.extent[0].1, date7(tree.nodes[0].mtime), 0x02, &[]);
        let vid = names::volume_id(&opts.volume_id);
        let pvd = descriptor(false, &vid, &opts.volume_id, total as u32, pt_iso_len as u32, pt, &root_iso, volume_date);
        let svd = descriptor(
            true,
            &vid,
            &opts.volume_id,
            total as u32,
            pt_jol_len as u32,
            [pt_jol[0], pt_jol[1], 0],
            &root_jol,
            volume_date,
        );
        put(&mut meta, FIRST_VD, &pvd);
        put(&mut meta, FIRST_VD + 1, &svd);
        let mut term = vec![255u8];
        term.extend_from_slice(b"CD001");
        term.push(1);
        put(&mut meta, FIRST_VD + 2, &term);
        Ok(Layout { tree, meta, files, empty, sectors: total })
    }
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

#[allow(clippy::too_many_arguments)]
fn descriptor(
    joliet: bool,
    vid: &str,
    label: &str,
    total: u32,
    pt_len: u32,
    pt: [u32; 3],
    root: &[u8],
    date: i64,
) -> Vec<u8> {
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
    let _ = label.as_bytes();
    d
}

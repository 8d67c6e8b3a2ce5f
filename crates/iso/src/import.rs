//! A session already on a disc, read back as a tree: IMAPI2's
//! `IFileSystemImage::ImportFileSystem`, what `growisofs -M` and
//! `xorriso -dev` do before adding a session.
//!
//! The last session's volume descriptors are read at its sector 16, then
//! its directories: through Rock Ridge when the root says so (SP), which
//! gives back every name, mode, owner, time, symlink target and device
//! number (NM, PX, TF, SL, PN, continuation areas, directories moved by
//! mkisofs to `rr_moved` put back where they belong, CL/RE); else through
//! Joliet (names only), else ISO 9660 (names without `;1`, case kept). A file
//! of several extents (4 GiB and more) is one file. Each file keeps the
//! extents its data has on the disc ([`Node::on_disc`]): a new session
//! points to them, it does not copy them.
//!
//! A disc is input like any other: every length, address and count is
//! checked before it is used (a directory, a continuation area or a
//! file's data must lie inside the volume; a directory met twice is a
//! loop), so a damaged or hostile disc is an error, never a panic, a
//! loop or memory without bound.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::layout::SECTOR;
use crate::tree::{Identity, Kind, Node};
use crate::Error;

/// Most entries imported, counting each extent of a file of several:
/// past this a disc is refused as damaged (a real one holds far fewer; a
/// made one could otherwise take any memory or time).
pub const MAX_ENTRIES: usize = 10_000_000;
/// Most bytes of directories and continuation areas read, all together.
const MAX_METADATA_BYTES: u64 = 1 << 30;
/// Most bytes of one directory.
const MAX_DIRECTORY_BYTES: u32 = 256 << 20;
/// Longest name: what Linux (and every reader) takes.
const MAX_NAME: usize = 255;
/// Most volume descriptors before the terminator.
const MAX_DESCRIPTORS: u32 = 64;
/// Most continuation areas followed from one record.
const MAX_CONTINUATIONS: usize = 64;

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// How the names of an imported session were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Rock Ridge: names, modes, owners, times, links and devices.
    RockRidge,
    /// Joliet: names (up to 64 UCS-2 characters); modes and owners are
    /// ISO 9660's defaults (directories 0555, files 0444, owned by root).
    Joliet,
    /// ISO 9660 alone: names without their version, case kept (as
    /// xorriso and genisoimage import them).
    Iso9660,
}

/// A session on a disc, read back.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its first sector (its volume descriptors are at this plus 16).
    pub start: u32,
    /// The volume's name (Joliet's when there is one: it keeps case).
    pub volume_id: String,
    /// The primary descriptor's volume space size: the sectors from the
    /// disc's first to the volume's end. On a disc written at random, a
    /// new session goes after them.
    pub volume_sectors: u32,
    /// Its entries, the root first, each directory before its children,
    /// children sorted by name bytes; files carry their extents
    /// ([`Node::on_disc`]).
    pub nodes: Vec<Node>,
    /// How its names were read.
    pub names: Names,
}

impl Session {
    /// Read the session starting at sector `start` through `read`, which
    /// fills its buffer (whole sectors) from the given sector.
    #[doc(alias = "ImportFileSystem")]
    pub fn read(read: &mut dyn FnMut(u32, &mut [u8]) -> std::io::Result<()>, start: u32) -> Result<Session, Error> {
        let mut disc = Disc { read, budget: MAX_METADATA_BYTES, volume: u32::MAX };
        let (pvd, joliet) = disc.descriptors(start)?;
        if u16::from_le_bytes([pvd[128], pvd[129]]) != SECTOR as u16 {
            return Err(damaged(format!(
                "its logical blocks are {} bytes, not 2048",
                u16::from_le_bytes([pvd[128], pvd[129]])
            )));
        }
        disc.volume = le32(&pvd[80..84]);
        fn root_of(vd: &[u8]) -> Option<Raw<'_>> {
            Raw::parse(&vd[156..190])
        }
        let volume_text = |vd: &[u8], jol: bool| -> String {
            let f = &vd[40..72];
            let s = if jol {
                let units: Vec<u16> = f.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                String::from_utf16_lossy(&units)
            } else {
                String::from_utf8_lossy(f).into_owned()
            };
            s.trim_end_matches([' ', '\0']).to_string()
        };
        let pvd_root = root_of(&pvd).ok_or_else(|| damaged("its root directory record is malformed".into()))?;
        // Rock Ridge: SP first in the root's "." record.
        let first = disc.directory(pvd_root.loc, pvd_root.len, "/")?;
        let dot =
            records(&first, "/")?.into_iter().next().ok_or_else(|| damaged("its root directory is empty".into()))?;
        let skip = susp_skip(dot.su(0));
        let (names, root) = match (skip, &joliet) {
            (Some(_), _) => (Names::RockRidge, pvd_root),
            (None, Some(j)) => {
                (Names::Joliet, root_of(j).ok_or_else(|| damaged("its Joliet root record is malformed".into()))?)
            }
            (None, None) => (Names::Iso9660, pvd_root),
        };
        let volume_id = match &joliet {
            Some(j) => volume_text(j, true),
            None => volume_text(&pvd, false),
        };
        let mut walk = Walk { disc, names, skip: skip.unwrap_or(0), nodes: Vec::new(), seen: HashSet::new() };
        walk.tree(root)?;
        let volume_sectors = walk.disc.volume;
        Ok(Session { start, volume_id, volume_sectors, nodes: walk.nodes, names })
    }

    /// Files in it.
    pub fn files(&self) -> usize {
        self.nodes.iter().filter(|n| matches!(n.kind, Kind::File(_))).count()
    }
}

fn damaged(what: String) -> Error {
    Error::Damaged(what)
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The disc, read a sector range at a time, every range checked.
struct Disc<'a> {
    read: &'a mut dyn FnMut(u32, &mut [u8]) -> std::io::Result<()>,
    /// Bytes of directories and continuation areas still allowed.
    budget: u64,
    /// Sectors in the volume (once known).
    volume: u32,
}

impl Disc<'_> {
    fn sectors(&mut self, lba: u32, count: u32) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; count as usize * SECTOR as usize];
        (self.read)(lba, &mut buf).map_err(|cause| Error::ReadDisc { lba, cause })?;
        Ok(buf)
    }

    /// The primary descriptor and Joliet's (if any) of the session at
    /// `start`.
    fn descriptors(&mut self, start: u32) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
        let (mut pvd, mut joliet) = (None, None);
        for i in 0..MAX_DESCRIPTORS {
            let lba = start.checked_add(16 + i).ok_or(Error::NoFileSystem { start })?;
            let d = self.sectors(lba, 1)?;
            if &d[1..6] != b"CD001" {
                if i == 0 {
                    return Err(Error::NoFileSystem { start });
                }
                return Err(damaged(format!("its volume descriptor set ends without a terminator at sector {lba}")));
            }
            match d[0] {
                1 if pvd.is_none() => pvd = Some(d),
                2 if joliet.is_none() && &d[88..90] == b"%/" && matches!(d[90], b'@' | b'C' | b'E') => joliet = Some(d),
                255 => break,
                _ => {}
            }
        }
        Ok((pvd.ok_or(Error::NoFileSystem { start })?, joliet))
    }

    /// The bytes of the directory at `loc`, `len` bytes, checked to lie in
    /// the volume.
    fn directory(&mut self, loc: u32, len: u32, path: &str) -> Result<Vec<u8>, Error> {
        let count = u64::from(len).div_ceil(SECTOR);
        if len == 0 || u64::from(loc) + count > u64::from(self.volume) {
            return Err(damaged(format!(
                "directory {path} is said to be {len} bytes at sector {loc}, outside the volume of {} sectors",
                self.volume
            )));
        }
        if len > MAX_DIRECTORY_BYTES {
            return Err(damaged(format!(
                "directory {path} is said to be {len} bytes; discrec reads directories of at most {MAX_DIRECTORY_BYTES}"
            )));
        }
        self.spend(count)?;
        self.sectors(loc, count as u32)
    }

    /// Count `sectors` of metadata read against the budget.
    fn spend(&mut self, sectors: u64) -> Result<(), Error> {
        self.budget = self.budget.checked_sub(sectors * SECTOR).ok_or_else(|| {
            damaged(format!("its directories and continuation areas add up to more than {MAX_METADATA_BYTES} bytes"))
        })?;
        Ok(())
    }
}

/// One directory record, as it is on the disc.
#[derive(Clone, Copy)]
struct Raw<'a> {
    bytes: &'a [u8],
    loc: u32,
    len: u32,
    flags: u8,
    id: &'a [u8],
}

impl<'a> Raw<'a> {
    /// The record in `bytes` (its length byte first); `None` if malformed.
    fn parse(bytes: &'a [u8]) -> Option<Raw<'a>> {
        let n = *bytes.first()? as usize;
        if n < 34 || n > bytes.len() {
            return None;
        }
        let bytes = &bytes[..n];
        let id_len = bytes[32] as usize;
        let id = bytes.get(33..33 + id_len)?;
        Some(Raw { bytes, loc: le32(&bytes[2..6]), len: le32(&bytes[10..14]), flags: bytes[25], id })
    }

    /// Its System Use area, `skip` bytes in (SUSP's SP).
    fn su(&self, skip: usize) -> &'a [u8] {
        let start = 33 + self.id.len() + usize::from(self.id.len() % 2 == 0) + skip;
        self.bytes.get(start..).unwrap_or(&[])
    }

    fn is_dir(&self) -> bool {
        self.flags & 0x02 != 0
    }

    /// The 7-byte recording date, seconds since the epoch.
    fn date(&self) -> i64 {
        date7(&self.bytes[18..25])
    }
}

/// The records of a directory's bytes: none crosses a sector, a zero
/// length byte pads to the next sector.
fn records<'a>(dir: &'a [u8], path: &str) -> Result<Vec<Raw<'a>>, Error> {
    let mut out = Vec::new();
    let mut off = 0usize;
    let s = SECTOR as usize;
    while off < dir.len() {
        let n = dir[off] as usize;
        if n == 0 {
            off = (off / s + 1) * s;
            continue;
        }
        let end = off / s * s + s;
        let r = Raw::parse(&dir[off..end.min(dir.len())])
            .ok_or_else(|| damaged(format!("directory {path} has a malformed record at byte {off}")))?;
        out.push(r);
        off += n;
    }
    Ok(out)
}

/// SUSP's SP in a root "." record's System Use: the bytes to skip in
/// every other record's; `None` without SP (no Rock Ridge).
fn susp_skip(su: &[u8]) -> Option<usize> {
    (su.len() >= 7 && &su[0..2] == b"SP" && su[2] >= 7 && su[4..6] == [0xBE, 0xEF]).then(|| su[6] as usize)
}

/// The 7-byte date of records and TF: years since 1900, month, day,
/// hour, minute, second, offset from GMT in 15-minute steps.
fn date7(b: &[u8]) -> i64 {
    if b.len() < 7 || b[1] == 0 {
        return 0;
    }
    let days = days_from_civil(1900 + i64::from(b[0]), i64::from(b[1].clamp(1, 12)), i64::from(b[2].clamp(1, 31)));
    let offset = i64::from(b[6] as i8).clamp(-48, 52) * 15 * 60;
    days * 86_400 + i64::from(b[3]) * 3600 + i64::from(b[4]) * 60 + i64::from(b[5]) - offset
}

/// The 17-byte date of TF's long form: `YYYYMMDDHHMMSScc` and the offset.
fn date17(b: &[u8]) -> i64 {
    let num = |r: std::ops::Range<usize>| -> i64 {
        std::str::from_utf8(&b[r]).ok().and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    if b.len() < 17 {
        return 0;
    }
    let (y, m, d) = (num(0..4), num(4..6), num(6..8));
    if y == 0 || m == 0 {
        return 0;
    }
    let offset = i64::from(b[16] as i8).clamp(-48, 52) * 15 * 60;
    days_from_civil(y, m.clamp(1, 12), d.clamp(1, 31)) * 86_400 + num(8..10) * 3600 + num(10..12) * 60 + num(12..14)
        - offset
}

/// (year, month, day) to days since 1970-01-01 (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What a record's Rock Ridge entries say.
#[derive(Default)]
struct Rock {
    name: Option<Vec<u8>>,
    /// mode, uid, gid
    px: Option<(u32, u32, u32)>,
    mtime: Option<i64>,
    link: Option<Vec<u8>>,
    rdev: Option<u64>,
    /// RE: a directory moved to `rr_moved`, listed where it belongs.
    relocated: bool,
    /// CL: where the moved directory this record stands for is.
    child: Option<u32>,
}

/// The tree being read.
struct Walk<'a> {
    disc: Disc<'a>,
    names: Names,
    skip: usize,
    nodes: Vec<Node>,
    /// Directory extents read: one met again is a loop.
    seen: HashSet<u32>,
}

/// A directory to read: its node, extent and path (for messages).
struct Todo {
    node: usize,
    loc: u32,
    len: u32,
    path: String,
}

/// One entry of a directory being read, before it becomes a node.
struct Entry {
    name: Vec<u8>,
    node: Node,
    /// A directory's extent.
    dir: Option<(u32, u32)>,
    /// A file's extents so far (they go to [`Node::on_disc`] once all
    /// are read).
    extents: Vec<(u32, u32)>,
}

impl Walk<'_> {
    fn tree(&mut self, root: Raw<'_>) -> Result<(), Error> {
        let (loc, len, date) = (root.loc, root.len, root.date());
        let mut root_node = node(Vec::new(), 0, Kind::Dir(Vec::new()), S_IFDIR | 0o555, date);
        if self.names == Names::RockRidge {
            let dir = self.disc.directory(loc, len, "/")?;
            let dot = records(&dir, "/")?;
            if let Some(dot) = dot.first() {
                let rock = self.rock(dot.su(0), "/")?;
                apply(&mut root_node, &rock);
            }
        }
        self.nodes.push(root_node);
        let mut todo = vec![Todo { node: 0, loc, len, path: String::new() }];
        while let Some(d) = todo.pop() {
            if !self.seen.insert(d.loc) {
                return Err(damaged(format!("directory {}/ loops back to one above it (sector {})", d.path, d.loc)));
            }
            let bytes = self.disc.directory(d.loc, d.len, &format!("{}/", d.path))?;
            if bytes.first().is_none_or(|&n| n < 34) || bytes.get(33) != Some(&0) {
                return Err(damaged(format!("directory {}/ does not begin with its \".\" record", d.path)));
            }
            let entries = self.entries(&bytes, &d.path)?;
            let mut kids = Vec::with_capacity(entries.len());
            let mut subdirs = Vec::new();
            for mut e in entries {
                if self.nodes.len() >= MAX_ENTRIES {
                    return Err(damaged(format!("it has more than {MAX_ENTRIES} entries")));
                }
                let at = self.nodes.len();
                e.node.parent = d.node;
                if matches!(e.node.kind, Kind::File(_)) {
                    e.node.on_disc = Some(std::mem::take(&mut e.extents).into_boxed_slice());
                }
                if let Some((loc, len)) = e.dir {
                    let path = format!("{}/{}", d.path, String::from_utf8_lossy(&e.name));
                    subdirs.push(Todo { node: at, loc, len, path });
                }
                kids.push(at);
                self.nodes.push(e.node);
            }
            self.nodes[d.node].kind = Kind::Dir(kids);
            todo.extend(subdirs.into_iter().rev());
        }
        self.drop_empty_rr_moved();
        Ok(())
    }

    /// mkisofs leaves `rr_moved` behind, emptied by the RE entries it
    /// holds: it is not part of the tree it was written from.
    fn drop_empty_rr_moved(&mut self) {
        if self.names != Names::RockRidge {
            return;
        }
        let nodes = &self.nodes;
        let gone: Vec<usize> = match &nodes[0].kind {
            Kind::Dir(c) => c
                .iter()
                .copied()
                .filter(|&k| {
                    matches!(nodes[k].name.as_bytes(), b"rr_moved" | b".rr_moved")
                        && matches!(&nodes[k].kind, Kind::Dir(c) if c.is_empty())
                })
                .collect(),
            _ => Vec::new(),
        };
        if let Kind::Dir(c) = &mut self.nodes[0].kind {
            c.retain(|k| !gone.contains(k));
        }
    }

    /// The entries of one directory: "." and ".." left out, the extents
    /// of a file of several joined, sorted by name, one per name (a later
    /// record replaces an earlier one of the same name, as a newer ISO
    /// 9660 version does).
    fn entries(&mut self, bytes: &[u8], path: &str) -> Result<Vec<Entry>, Error> {
        let mut out: Vec<Entry> = Vec::new();
        let mut by_name: HashMap<Vec<u8>, usize> = HashMap::new();
        // Records read so far, extents included, against MAX_ENTRIES.
        let mut records_seen = 0usize;
        // A file whose last record said more extents follow.
        let mut open: Option<(Vec<u8>, usize)> = None;
        for r in records(bytes, path)? {
            records_seen += 1;
            if self.nodes.len() + records_seen > MAX_ENTRIES {
                return Err(damaged(format!("it has more than {MAX_ENTRIES} entries and extents")));
            }
            if r.id == [0] || r.id == [1] || r.flags & 0x04 != 0 {
                continue;
            }
            if let Some((id, i)) = open.take() {
                if id == r.id && !r.is_dir() {
                    self.add_extent(&mut out[i], r, path)?;
                    if r.flags & 0x80 != 0 {
                        open = Some((id, i));
                    }
                    continue;
                }
            }
            let Some(e) = self.entry(r, path)? else { continue };
            valid_name(&e.name).map_err(|why| damaged(format!("directory {path}/ has an entry {why}")))?;
            let multi = r.flags & 0x80 != 0 && e.dir.is_none();
            let i = match by_name.get(&e.name) {
                Some(&i) => {
                    out[i] = e;
                    i
                }
                None => {
                    by_name.insert(e.name.clone(), out.len());
                    out.push(e);
                    out.len() - 1
                }
            };
            if multi {
                open = Some((r.id.to_vec(), i));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Another extent of the file `e`.
    fn add_extent(&self, e: &mut Entry, r: Raw<'_>, path: &str) -> Result<(), Error> {
        self.check_data(r.loc, r.len, &e.name, path)?;
        e.extents.push((r.loc, r.len));
        let size = e.node.size() + u64::from(r.len);
        e.node.kind = Kind::File(size);
        e.node.id.size = size;
        Ok(())
    }

    /// A file's data at `loc`, `len` bytes, must lie inside the volume.
    fn check_data(&self, loc: u32, len: u32, name: &[u8], path: &str) -> Result<(), Error> {
        let end = u64::from(loc) + u64::from(len).div_ceil(SECTOR);
        if len > 0 && end > u64::from(self.disc.volume) {
            return Err(damaged(format!(
                "file {path}/{}'s data (sectors {loc} to {}) lies past the volume's end (sector {})",
                String::from_utf8_lossy(name),
                end - 1,
                self.disc.volume
            )));
        }
        Ok(())
    }

    /// The entry a record stands for; `None` for one to leave out (a
    /// directory moved here by mkisofs, listed where it belongs).
    fn entry(&mut self, r: Raw<'_>, path: &str) -> Result<Option<Entry>, Error> {
        let date = r.date();
        let (name, rock) = match self.names {
            Names::RockRidge => {
                let rock = self.rock(r.su(self.skip), path)?;
                if rock.relocated {
                    return Ok(None);
                }
                let name = rock.name.clone().unwrap_or_else(|| iso_name(r.id));
                (name, Some(rock))
            }
            Names::Joliet => (joliet_name(r.id), None),
            Names::Iso9660 => (iso_name(r.id), None),
        };
        let child = rock.as_ref().and_then(|k| k.child);
        let mut dir = r.is_dir().then_some((r.loc, r.len));
        if let Some(loc) = child {
            // A directory mkisofs moved: its extent from its own ".".
            let first = self.disc.directory(loc, SECTOR as u32, &format!("{path}/"))?;
            let dot = *records(&first, path)?
                .first()
                .ok_or_else(|| damaged(format!("a moved directory of {path}/ is empty")))?;
            dir = Some((loc, dot.len));
        }
        let kind = match (&dir, &rock) {
            (Some(_), _) => Kind::Dir(Vec::new()),
            (None, Some(Rock { link: Some(t), .. })) => Kind::Symlink(t.clone()),
            // FIFOs, character and block devices, sockets.
            (None, Some(Rock { px: Some((mode, ..)), .. }))
                if matches!(mode & S_IFMT, 0o010_000 | 0o020_000 | 0o060_000 | 0o140_000) =>
            {
                Kind::Special
            }
            _ => Kind::File(u64::from(r.len)),
        };
        let default_mode = match kind {
            Kind::Dir(_) => S_IFDIR | 0o555,
            _ => S_IFREG | 0o444,
        };
        let mut n = node(name.clone(), 0, kind, default_mode, date);
        if let Some(rock) = &rock {
            apply(&mut n, rock);
        }
        let mut extents = Vec::new();
        if let Kind::File(size) = n.kind {
            self.check_data(r.loc, r.len, &name, path)?;
            n.id.size = size;
            extents.push((r.loc, r.len));
        }
        Ok(Some(Entry { name, node: n, dir, extents }))
    }

    /// The Rock Ridge entries of a System Use area and the continuation
    /// areas it leads to.
    fn rock(&mut self, su: &[u8], path: &str) -> Result<Rock, Error> {
        let mut rock = Rock::default();
        let mut name: Option<Vec<u8>> = None;
        let mut link = LinkReader::default();
        let mut area = su.to_vec();
        let mut hops = 0;
        loop {
            let mut next = None;
            let mut pos = 0;
            while pos + 4 <= area.len() {
                let (sig, len) = ([area[pos], area[pos + 1]], area[pos + 2] as usize);
                if len < 4 || pos + len > area.len() {
                    break;
                }
                let data = &area[pos + 4..pos + len];
                match &sig {
                    b"NM" if !data.is_empty() && data[0] & 0x06 == 0 => {
                        let n = name.get_or_insert_with(Vec::new);
                        n.extend_from_slice(&data[1..]);
                        if n.len() > MAX_NAME {
                            return Err(damaged(format!(
                                "an entry of {path}/ has a Rock Ridge name longer than {MAX_NAME} bytes"
                            )));
                        }
                    }
                    b"PX" if data.len() >= 32 => {
                        rock.px = Some((le32(&data[0..4]), le32(&data[16..20]), le32(&data[24..28])));
                    }
                    b"TF" if !data.is_empty() => rock.mtime = rock.mtime.or(tf_mtime(data)),
                    b"SL" if !data.is_empty() => {
                        link.add(data).map_err(|why| damaged(format!("a symbolic link in {path}/ {why}")))?
                    }
                    b"PN" if data.len() >= 16 => {
                        rock.rdev = Some((u64::from(le32(&data[0..4])) << 32) | u64::from(le32(&data[8..12])));
                    }
                    b"RE" => rock.relocated = true,
                    b"CL" if data.len() >= 8 => rock.child = Some(le32(&data[0..4])),
                    b"CE" if data.len() >= 24 => {
                        next = Some((le32(&data[0..4]), le32(&data[8..12]), le32(&data[16..20])))
                    }
                    b"ST" => break,
                    _ => {}
                }
                pos += len;
            }
            let Some((block, offset, len)) = next else { break };
            hops += 1;
            if hops > MAX_CONTINUATIONS || u64::from(offset) + u64::from(len) > SECTOR || block >= self.disc.volume {
                return Err(damaged(format!(
                    "an entry of {path}/ has a continuation area outside its sector (sector {block}, byte {offset}, {len} bytes) or a chain of more than {MAX_CONTINUATIONS}"
                )));
            }
            self.disc.spend(1)?;
            let sector = self.disc.sectors(block, 1)?;
            area = sector[offset as usize..(offset + len) as usize].to_vec();
        }
        rock.name = name;
        rock.link = link.done();
        Ok(rock)
    }
}

/// A node made from a disc's entry.
fn node(name: Vec<u8>, parent: usize, kind: Kind, mode: u32, mtime: i64) -> Node {
    Node {
        name: OsString::from_vec(name),
        parent,
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime,
        rdev: 0,
        id: Identity::default(),
        on_disc: None,
    }
}

/// What Rock Ridge says of `n`, its type bits kept to its kind.
fn apply(n: &mut Node, rock: &Rock) {
    if let Some((mode, uid, gid)) = rock.px {
        let kind_bits = match n.kind {
            Kind::Dir(_) => S_IFDIR,
            Kind::File(_) => S_IFREG,
            Kind::Symlink(_) => S_IFLNK,
            Kind::Special => mode & S_IFMT,
        };
        n.mode = kind_bits | (mode & 0o7777);
        (n.uid, n.gid) = (uid, gid);
    } else if let Kind::Symlink(_) = n.kind {
        n.mode = S_IFLNK | 0o777;
    }
    if let Some(t) = rock.mtime {
        n.mtime = t;
    }
    if matches!(n.kind, Kind::Special) {
        n.rdev = rock.rdev.unwrap_or(0);
    }
}

/// TF's modification time (its second field when creation is given).
fn tf_mtime(data: &[u8]) -> Option<i64> {
    let flags = data[0];
    let size = if flags & 0x80 != 0 { 17 } else { 7 };
    if flags & 0x02 == 0 {
        return None;
    }
    let at = 1 + usize::from(flags & 0x01 != 0) * size;
    let b = data.get(at..at + size)?;
    Some(if size == 17 { date17(b) } else { date7(b) })
}

/// A symlink target from SL entries, joined as Linux's isofs joins them:
/// a slash after each component that is not continued and not the root,
/// and between two SL entries when the first is continued.
#[derive(Default)]
struct LinkReader {
    target: Option<Vec<u8>>,
}

impl LinkReader {
    /// The components of one SL entry's data; what is wrong with them.
    fn add(&mut self, data: &[u8]) -> Result<(), String> {
        let continued = data[0] & 1 != 0;
        let t = self.target.get_or_insert_with(Vec::new);
        let mut rest = &data[1..];
        while !rest.is_empty() {
            let (flags, len) = (rest[0], *rest.get(1).ok_or("has a component cut short")? as usize);
            let text = rest.get(2..2 + len).ok_or("has a component longer than its entry")?;
            if text.contains(&0) || (flags & !1 == 0 && text.contains(&b'/')) {
                return Err("has a component with a NUL or a slash".into());
            }
            let root = flags & !1 == 8;
            match flags & !1 {
                0 => t.extend_from_slice(text),
                2 => t.push(b'.'),
                4 => t.extend_from_slice(b".."),
                8 => t.push(b'/'),
                _ => {}
            }
            rest = &rest[2 + len..];
            let last = rest.is_empty();
            if !root && flags & 1 == 0 && (!last || continued) {
                t.push(b'/');
            }
            if t.len() > crate::tree::MAX_LINK_TARGET {
                return Err(format!("has a target longer than {} bytes", crate::tree::MAX_LINK_TARGET));
            }
        }
        Ok(())
    }

    fn done(self) -> Option<Vec<u8>> {
        self.target
    }
}

/// The name of an ISO 9660 identifier without Rock Ridge: no
/// `;version`, no trailing dot, its case kept (as xorriso and genisoimage
/// import it: a new `README.TXT` replaces the old one, and Windows goes
/// on showing the names it showed).
fn iso_name(id: &[u8]) -> Vec<u8> {
    let id = id.split(|&b| b == b';').next().unwrap_or(id);
    id.strip_suffix(b".").unwrap_or(id).to_vec()
}

/// A Joliet identifier (UCS-2 big-endian) as UTF-8, without `;version`.
fn joliet_name(id: &[u8]) -> Vec<u8> {
    let units: Vec<u16> = id.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
    let s = String::from_utf16_lossy(&units);
    let s = s.split(';').next().unwrap_or(&s);
    s.as_bytes().to_vec()
}

/// A name no file can have is refused.
fn valid_name(name: &[u8]) -> Result<(), String> {
    match name {
        b"" => Err("with no name".into()),
        b"." | b".." => Err(format!("named {}", String::from_utf8_lossy(name))),
        _ if name.contains(&b'/') || name.contains(&0) => {
            Err(format!("named {:?}, which holds a slash or a NUL", String::from_utf8_lossy(name)))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_come_back_as_written() {
        for t in [0i64, 1_795_891_507, 951_782_400, -1] {
            assert_eq!(date7(&crate::rrip::date7(t)), t, "{t}");
            assert_eq!(date17(&crate::rrip::date17(t)), t, "{t}");
        }
    }

    #[test]
    fn links_come_back_as_written() {
        for t in [
            &b"a//b/"[..],
            b"/",
            b"/x",
            b"./..",
            b"../a/b",
            b"dir/",
            &[b'x'; 300],
            &[b"/".as_slice(), &[b'y'; 600], b"/../z"].concat(),
        ] {
            let mut r = LinkReader::default();
            for e in crate::rrip::sl(t) {
                r.add(&e[4..]).unwrap();
            }
            assert_eq!(r.done().unwrap(), t, "{}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn names_as_linux_shows_them() {
        assert_eq!(iso_name(b"README.TXT;1"), b"README.TXT");
        assert_eq!(iso_name(b"NOEXT.;1"), b"NOEXT");
        let jol: Vec<u8> = "Héllo.txt;1".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(joliet_name(&jol), "Héllo.txt".as_bytes());
        assert!(valid_name(b"a/b").is_err() && valid_name(b"..").is_err() && valid_name(b"ok").is_ok());
    }
}

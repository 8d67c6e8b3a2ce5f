//! A session added to a disc (here an image file grown in place, as
//! growisofs grows a DVD+RW): the old session read back, the new tree put
//! over it, judged by xorriso extracting every file of the grown image;
//! discs made by genisoimage and xorriso read back too; a damaged disc is
//! an error, never a panic.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{root, tree, walk, write_image, xorriso, xorriso_ok};
use discrec_iso::import::{Names, Session};
use discrec_iso::tree::{Kind, Tree};
use discrec_iso::{Error, Image, Options};

/// The session at `start` of the image file `iso`.
fn import(iso: &Path, start: u32) -> Result<Session, Error> {
    let f = std::fs::File::open(iso).unwrap();
    Session::read(&mut |lba, buf| f.read_exact_at(buf, u64::from(lba) * 2048), start)
}

/// Grow the image `iso` by a session of `dir` put over `old`: written
/// after the volume, its volume descriptors copied to sector 16.
fn grow(iso: &Path, dir: &Path, old: &Session) -> Image {
    let start = old.volume_sectors.div_ceil(16) * 16;
    let opts = Options { session_start: start, ..Options::new(old.volume_id.clone()) };
    let img = Image::append(dir, &opts, old).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(iso).unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut img.reader(), &mut bytes).unwrap();
    assert_eq!(bytes.len() as u64, img.len());
    f.write_all_at(&bytes, u64::from(start) * 2048).unwrap();
    f.write_all_at(img.volume_descriptors(), 16 * 2048).unwrap();
    img
}

/// An entry as a reader sees it: mode, bytes or link target, mtime
/// (files), owner (as root).
type Seen = (u32, Option<Vec<u8>>, i64, (u32, u32));

/// Every entry below `dir` by its path.
fn listing(dir: &Path) -> BTreeMap<PathBuf, Seen> {
    let mut all = Vec::new();
    walk(dir, &mut all);
    all.into_iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(&p).unwrap();
            let content = if m.file_type().is_symlink() {
                Some(std::os::unix::ffi::OsStrExt::as_bytes(std::fs::read_link(&p).unwrap().as_os_str()).to_vec())
            } else if m.is_file() {
                Some(std::fs::read(&p).unwrap())
            } else {
                None
            };
            let mtime = if m.is_dir() { 0 } else { m.mtime() };
            let owner = if root() { (m.uid(), m.gid()) } else { (0, 0) };
            (p.strip_prefix(dir).unwrap().to_path_buf(), (m.mode(), content, mtime, owner))
        })
        .collect()
}

/// What xorriso extracts from the image `iso`.
fn extracted(iso: &Path, out: &Path) -> BTreeMap<PathBuf, Seen> {
    let o = xorriso().args(["-osirrox", "on", "-indev"]).arg(iso).arg("-extract").arg("/").arg(out).output().unwrap();
    assert!(o.status.success(), "osirrox: {}", String::from_utf8_lossy(&o.stderr));
    listing(out)
}

#[test]
fn a_session_reads_back_as_the_tree_it_was_made_of() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let iso = d.path().join("one.iso");
    write_image(&Image::from_dir(&t, &Options::new("Première")).unwrap(), &iso);
    let s = import(&iso, 0).unwrap();
    assert_eq!(s.names, Names::RockRidge);
    assert_eq!(s.volume_id, "Première", "Joliet's volume name, which keeps case and accents");
    let src = Tree::read(&t, None).unwrap();
    assert_eq!(s.nodes.len(), src.nodes.len(), "one node per entry");
    // Both trees in the same order (children sorted by name bytes), so
    // node by node they must agree.
    let path = |nodes: &[discrec_iso::tree::Node], mut i: usize| {
        let mut names = Vec::new();
        while i != 0 {
            names.push(nodes[i].name.clone());
            i = nodes[i].parent;
        }
        names.reverse();
        names.iter().collect::<PathBuf>()
    };
    let mut by_path = BTreeMap::new();
    for (i, n) in s.nodes.iter().enumerate() {
        by_path.insert(path(&s.nodes, i), n.clone());
    }
    for (i, want) in src.nodes.iter().enumerate() {
        let p = path(&src.nodes, i);
        let got = by_path.get(&p).unwrap_or_else(|| panic!("{} was not imported", p.display()));
        assert_eq!(got.mode, want.mode, "{}: mode", p.display());
        assert_eq!((got.uid, got.gid), (want.uid, want.gid), "{}: owner", p.display());
        assert_eq!(got.mtime, want.mtime, "{}: mtime", p.display());
        assert_eq!(got.rdev, want.rdev, "{}: device", p.display());
        match (&got.kind, &want.kind) {
            (Kind::Dir(_), Kind::Dir(_)) | (Kind::Special, Kind::Special) => {}
            (Kind::File(a), Kind::File(b)) => {
                assert_eq!(a, b, "{}: size", p.display());
                assert!(got.on_disc.is_some(), "{}: a file keeps its extents", p.display());
            }
            (Kind::Symlink(a), Kind::Symlink(b)) => assert_eq!(a, b, "{}: target", p.display()),
            (a, b) => panic!("{}: {a:?} came back as {b:?}", p.display()),
        }
    }
}

#[test]
fn an_added_session_holds_the_old_files_and_the_new_ones_replace_theirs() {
    if !xorriso_ok() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let t1 = tree(d.path());
    let iso = d.path().join("grown.iso");
    write_image(&Image::from_dir(&t1, &Options::new("GROWN")).unwrap(), &iso);
    let before = std::fs::metadata(&iso).unwrap().len();
    // The second session: a file replaced, a file added into an old deep
    // directory, a new directory, an old directory replaced by a file.
    let t2 = d.path().join("two");
    std::fs::create_dir_all(t2.join("sub/d1")).unwrap();
    std::fs::create_dir_all(t2.join("new/inner")).unwrap();
    std::fs::write(t2.join("a.txt"), "the second a.txt, longer than the first\n").unwrap();
    std::fs::write(t2.join("sub/d1/extra.txt"), "beside d2\n").unwrap();
    std::fs::write(t2.join("new/inner/n.bin"), vec![7u8; 5000]).unwrap();
    std::fs::write(t2.join("emptydir"), "a file where a directory was\n").unwrap();
    let old = import(&iso, 0).unwrap();
    let img = grow(&iso, &t2, &old);
    let grown = std::fs::metadata(&iso).unwrap().len();
    assert!(img.start() >= old.volume_sectors && grown > before);
    assert!(
        img.len() < 64 * 2048 + 6 * 4096,
        "the new session holds the new files and the metadata, not the old files ({} bytes)",
        img.len()
    );
    // What must be there: every entry of the second tree, and every entry
    // of the first that the second does not replace.
    let new = listing(&t2);
    let mut want = new.clone();
    for (p, e) in listing(&t1) {
        let shadowed =
            p.ancestors().filter(|a| !a.as_os_str().is_empty()).any(|a| new.get(a).is_some_and(|x| x.1.is_some()));
        if !new.contains_key(&p) && !shadowed {
            want.insert(p, e);
        }
    }
    let got = extracted(&iso, &d.path().join("out"));
    let missing: Vec<_> = want.keys().filter(|p| !got.contains_key(*p)).collect();
    let extra: Vec<_> = got.keys().filter(|p| !want.contains_key(*p)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, extra {extra:?}");
    for (p, w) in &want {
        let g = &got[p];
        // Directories: this session's mode where both trees have one.
        assert_eq!((g.0, &g.1, g.2, g.3), (w.0, &w.1, w.2, w.3), "{}", p.display());
    }
    // And again: a third session over the second.
    let t3 = d.path().join("three");
    std::fs::create_dir_all(&t3).unwrap();
    std::fs::write(t3.join("third.txt"), "3\n").unwrap();
    let second = import(&iso, 0).unwrap();
    assert_eq!(second.volume_sectors as u64 * 2048, grown);
    grow(&iso, &t3, &second);
    let got = extracted(&iso, &d.path().join("out3"));
    assert!(got.contains_key(Path::new("third.txt")) && got.contains_key(Path::new("new/inner/n.bin")));
    assert_eq!(got[Path::new("a.txt")].1.as_deref(), Some(&b"the second a.txt, longer than the first\n"[..]));
}

/// An image made by another tool.
fn made_by(tool: &[&str], dir: &Path, iso: &Path) -> bool {
    let o = Command::new(tool[0]).args(&tool[1..]).arg("-o").arg(iso).arg(dir).output();
    match o {
        Ok(o) if o.status.success() => true,
        Ok(o) => panic!("{tool:?}: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => {
            assert!(std::env::var("DISCREC_REQUIRE_ALL").as_deref() != Ok("1"), "{} is required", tool[0]);
            println!("SKIP: {} is not installed", tool[0]);
            false
        }
    }
}

#[test]
fn discs_made_by_genisoimage_and_xorriso_are_read_and_grown() {
    if !xorriso_ok() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    // Nine levels: genisoimage moves the deepest to rr_moved (CL/RE).
    let deep = src.join("l1/l2/l3/l4/l5/l6/l7/l8/l9");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("bottom.txt"), "at the bottom\n").unwrap();
    std::fs::write(src.join("Mixed Case Name.TXT"), "x\n").unwrap();
    std::fs::write(src.join("plain"), vec![1u8; 70_000]).unwrap();
    let add = d.path().join("add");
    std::fs::create_dir_all(&add).unwrap();
    std::fs::write(add.join("added.txt"), "added\n").unwrap();
    let mixed = Path::new("Mixed Case Name.TXT");
    let bottom = Path::new("l1/l2/l3/l4/l5/l6/l7/l8/l9/bottom.txt");
    for (tool, names, keeps_case) in [
        (&["genisoimage", "-quiet", "-R", "-J"][..], Names::RockRidge, true),
        (&["xorriso", "-as", "mkisofs", "-quiet", "-R"][..], Names::RockRidge, true),
        (&["genisoimage", "-quiet", "-J"][..], Names::Joliet, true),
        (&["genisoimage", "-quiet", "-l"][..], Names::Iso9660, false),
    ] {
        let iso = d.path().join("other.iso");
        if !made_by(tool, &src, &iso) {
            continue;
        }
        let old = import(&iso, 0).unwrap();
        assert_eq!(old.names, names, "{tool:?}");
        grow(&iso, &add, &old);
        let out = d.path().join(format!("out-{}", tool.join("-")));
        let got = extracted(&iso, &out);
        // ISO 9660 alone: its names (8.3, upper case) as the disc has
        // them, without version, as xorriso and genisoimage import them.
        let plain = if keeps_case { "plain" } else { "PLAIN" };
        if keeps_case {
            assert!(got.contains_key(mixed), "{tool:?}: {:?}", got.keys());
        } else {
            assert!(got.keys().any(|p| p.to_string_lossy().starts_with("MIXED")), "{tool:?}: {:?}", got.keys());
        }
        assert_eq!(got[Path::new("added.txt")].1.as_deref(), Some(&b"added\n"[..]), "{tool:?}");
        assert_eq!(got[Path::new(plain)].1.as_deref(), Some(&vec![1u8; 70_000][..]), "{tool:?}");
        // A new file of an old one's name (as the disc shows it) replaces it.
        let again = d.path().join(format!("again-{}", tool.join("-")));
        std::fs::create_dir_all(&again).unwrap();
        std::fs::write(again.join(plain), "replaced\n").unwrap();
        grow(&iso, &again, &import(&iso, 0).unwrap());
        let got = extracted(&iso, &d.path().join(format!("out2-{}", tool.join("-"))));
        assert_eq!(got[Path::new(plain)].1.as_deref(), Some(&b"replaced\n"[..]), "{tool:?}");
        let plains = got.keys().filter(|p| p.to_string_lossy().to_lowercase().starts_with("plain")).count();
        assert_eq!(plains, 1, "{tool:?}: one {plain}: {:?}", got.keys());
        if names == Names::RockRidge {
            assert_eq!(got[bottom].1.as_deref(), Some(&b"at the bottom\n"[..]), "{tool:?}: a moved directory");
            assert!(!got.keys().any(|p| p.starts_with("rr_moved")), "{tool:?}: rr_moved is left out");
        }
    }
}

/// The session at sector 0 of the image `bytes`.
fn import_bytes(bytes: &[u8]) -> Result<Session, Error> {
    Session::read(
        &mut |lba, buf| match bytes.get(lba as usize * 2048..lba as usize * 2048 + buf.len()) {
            Some(b) => {
                buf.copy_from_slice(b);
                Ok(())
            }
            None => Err(std::io::Error::other("past the end")),
        },
        0,
    )
}

/// The offset of the first record of the root directory (at `root`)
/// after "." and ".." for which `pick` holds.
fn first_record(image: &[u8], root: u32, pick: impl Fn(&[u8]) -> bool) -> usize {
    let mut off = root as usize * 2048;
    let mut k = 0;
    loop {
        let n = image[off] as usize;
        assert!(n > 0, "no such record in the root");
        if k >= 2 && pick(&image[off..off + n]) {
            return off;
        }
        (off, k) = (off + n, k + 1);
    }
}

#[test]
fn a_disc_without_iso_9660_or_damaged_is_an_error_never_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let blank = d.path().join("blank.iso");
    std::fs::write(&blank, vec![0u8; 64 * 2048]).unwrap();
    let e = import(&blank, 0).unwrap_err();
    assert!(matches!(e, Error::NoFileSystem { start: 0 }), "{e}");
    assert!(e.to_string().contains("sector 16"), "{e}");
    // A directory whose record points back at the root: a loop, said.
    let t = tree(d.path());
    let iso = d.path().join("t.iso");
    write_image(&Image::from_dir(&t, &Options::new("T")).unwrap(), &iso);
    let good = std::fs::read(&iso).unwrap();
    let root_loc = u32::from_le_bytes(good[16 * 2048 + 158..16 * 2048 + 162].try_into().unwrap());
    let mut looped = good.clone();
    let dir = root_loc as usize * 2048;
    let mut off = dir;
    let mut seen = 0;
    loop {
        let n = looped[off] as usize;
        assert!(n > 0, "a subdirectory in the root");
        if looped[off + 25] & 2 != 0 {
            seen += 1;
            if seen == 3 {
                looped[off + 2..off + 6].copy_from_slice(&root_loc.to_le_bytes());
                looped[off + 6..off + 10].copy_from_slice(&root_loc.to_be_bytes());
                break;
            }
        }
        off += n;
    }
    let at_dir = off + 2;
    let bad = d.path().join("loop.iso");
    std::fs::write(&bad, &looped).unwrap();
    let e = import(&bad, 0).unwrap_err();
    assert!(e.to_string().contains("loops"), "{e}");
    // A subdirectory pointed at the system area (zeros): no "." record.
    let mut zeros = good.clone();
    zeros[at_dir..at_dir + 4].copy_from_slice(&0u32.to_le_bytes());
    zeros[at_dir + 4..at_dir + 8].copy_from_slice(&0u32.to_be_bytes());
    let e = import_bytes(&zeros).unwrap_err();
    assert!(e.to_string().contains("does not begin with its \".\" record"), "{e}");
    // A Rock Ridge name of 260 bytes: 10 in the record, 250 more in a
    // continuation area added past the volume (which is made one sector
    // longer to hold it).
    let file = first_record(&good, root_loc, |r| r[25] & 2 == 0);
    let mut long = good.clone();
    let volume = u32::from_le_bytes(long[16 * 2048 + 80..16 * 2048 + 84].try_into().unwrap());
    long[16 * 2048 + 80..16 * 2048 + 84].copy_from_slice(&(volume + 1).to_le_bytes());
    long[16 * 2048 + 84..16 * 2048 + 88].copy_from_slice(&(volume + 1).to_be_bytes());
    long.resize((volume as usize + 1) * 2048, 0);
    let area = [&b"NM"[..], &[255, 1, 0], &[b'y'; 250]].concat();
    long[volume as usize * 2048..volume as usize * 2048 + 255].copy_from_slice(&area);
    let su = file + 33 + long[file + 32] as usize + usize::from(long[file + 32] % 2 == 0);
    let mut entries = [&b"NM"[..], &[15, 1, 1], b"aaaaaaaaaa"].concat();
    let both = |v: u32| [v.to_le_bytes(), v.to_be_bytes()].concat();
    entries.extend([&b"CE"[..], &[28, 1]].concat());
    entries.extend([both(volume), both(0), both(255)].concat());
    assert!(su + entries.len() <= file + long[file] as usize, "room in the record");
    long[su..su + entries.len()].copy_from_slice(&entries);
    let e = import_bytes(&long).unwrap_err();
    assert!(e.to_string().contains("longer than 255 bytes"), "{e}");
    // A symbolic link whose component runs past its SL entry.
    let link = first_record(&good, root_loc, |r| r.windows(2).any(|w| w == b"SL"));
    let mut bad_link = good.clone();
    let sl = link + bad_link[link..link + bad_link[link] as usize].windows(2).position(|w| w == b"SL").unwrap();
    bad_link[sl + 6] = 200;
    let e = import_bytes(&bad_link).unwrap_err();
    assert!(e.to_string().contains("longer than its entry"), "{e}");
    // Thousands of random corruptions of the metadata: each an answer
    // (the tree or an error), none a panic, a hang or a huge allocation.
    let meta_end = (good.len() / 2048).min(200);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut errors = 0;
    for _ in 0..3000 {
        let mut m = good.clone();
        for _ in 0..1 + next() % 6 {
            let at = 16 * 2048 + (next() as usize % ((meta_end - 16) * 2048));
            m[at] = next() as u8;
        }
        errors += usize::from(import_bytes(&m).is_err());
    }
    assert!(errors > 0, "some corruptions must be seen");
}

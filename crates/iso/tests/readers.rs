//! Images judged by what readers see: xorriso through Rock Ridge (what
//! Linux shows; `osirrox` extracts every file with its bytes, name, mode,
//! owner, symlink target and time) and through Joliet alone (`-read_fs
//! norock`: what Windows shows). The guest tier mounts a burned image with
//! the kernel's isofs as well.

mod common;

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::{root, tree, walk, write_image, xorriso, xorriso_ok};
use discrec_iso::{Image, Options};

#[test]
fn rock_ridge_gives_back_every_file() {
    if !xorriso_ok() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let img = Image::from_dir(&t, &Options::new("RRTEST")).unwrap();
    let iso = d.path().join("t.iso");
    write_image(&img, &iso);
    let out = d.path().join("out");
    let o = xorriso().args(["-osirrox", "on", "-indev"]).arg(&iso).arg("-extract").arg("/").arg(&out).output().unwrap();
    assert!(o.status.success(), "osirrox: {}", String::from_utf8_lossy(&o.stderr));
    let mut src = Vec::new();
    walk(&t, &mut src);
    assert!(src.len() > 20);
    for s in &src {
        let rel = s.strip_prefix(&t).unwrap();
        let x = out.join(rel);
        let (a, b) = (
            std::fs::symlink_metadata(s).unwrap(),
            std::fs::symlink_metadata(&x).unwrap_or_else(|e| panic!("{} missing after extraction: {e}", rel.display())),
        );
        assert_eq!(a.mode(), b.mode(), "{}: mode", rel.display());
        if root() {
            assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "{}: owner", rel.display());
        }
        if a.file_type().is_symlink() {
            // As bytes: paths compare by components, and "sub/" == "sub".
            let (ta, tb) = (std::fs::read_link(s).unwrap(), std::fs::read_link(&x).unwrap());
            assert_eq!(ta.as_os_str(), tb.as_os_str(), "{}: target", rel.display());
            continue;
        }
        if a.is_file() {
            assert_eq!(std::fs::read(s).unwrap(), std::fs::read(&x).unwrap(), "{}: bytes", rel.display());
        }
        if !a.is_dir() {
            assert_eq!(a.mtime(), b.mtime(), "{}: mtime", rel.display());
        }
    }
    let mut back = Vec::new();
    walk(&out, &mut back);
    assert_eq!(back.len(), src.len(), "extra or missing entries");
}

#[test]
fn joliet_names_are_short_unique_and_keep_extensions() {
    if !xorriso_ok() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let iso = d.path().join("t.iso");
    write_image(&Image::from_dir(&t, &Options::new("JOLIET")).unwrap(), &iso);
    let o = xorriso().args(["-read_fs", "norock", "-indev"]).arg(&iso).args(["-find", "/"]).output().unwrap();
    assert!(o.status.success());
    let listing = String::from_utf8(o.stdout).unwrap();
    let paths: Vec<&str> =
        listing.lines().map(|l| l.trim().trim_matches('\'')).filter(|l| l.starts_with('/')).collect();
    let names: Vec<&str> = paths.iter().map(|p| p.rsplit('/').next().unwrap()).collect();
    assert!(names.iter().all(|n| n.chars().count() <= 64), "{names:?}");
    let jpegs: Vec<&&str> = names.iter().filter(|n| n.ends_with(".jpeg")).collect();
    assert_eq!(jpegs.len(), 2, "long names keep their extension: {names:?}");
    let mut lower: Vec<String> = paths.iter().map(|p| p.to_lowercase()).collect();
    lower.sort();
    lower.dedup();
    assert_eq!(lower.len(), paths.len(), "names collide without regard to case: {paths:?}");
    assert!(!listing.contains("rr_moved"), "{listing}");
    for absent in ["link", "abs", "longlink", "fifo"] {
        assert!(!names.contains(&absent), "{absent} has a stand-in in the Joliet tree");
    }
    assert!(paths.contains(&"/sub/d1/d2/d3/d4/d5/d6/d7/d8/d9/deep.txt"), "deep paths stay: {paths:?}");
    assert!(names.contains(&"héllo wörld ☃.txt"), "{names:?}");
}

#[test]
fn the_same_tree_gives_the_same_bytes() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let a = d.path().join("a.iso");
    let b = d.path().join("b.iso");
    write_image(&Image::from_dir(&t, &Options::new("SAME")).unwrap(), &a);
    // Reading the files (atime) and waiting do not change the image.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write_image(&Image::from_dir(&t, &Options::new("SAME")).unwrap(), &b);
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "two images of one tree differ");
    // File dates, not the build time: the volume date is the newest file's.
    let bytes = std::fs::read(&a).unwrap();
    let created = &bytes[16 * 2048 + 813..16 * 2048 + 829];
    let newest =
        std::fs::symlink_metadata(&t).unwrap().mtime().max(std::fs::symlink_metadata(t.join("exact")).unwrap().mtime());
    assert!(created.starts_with(b"20") && newest > 0, "{:?}", String::from_utf8_lossy(created));
}

#[test]
fn a_file_that_changes_or_vanishes_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("stable"), vec![1u8; 5000]).unwrap();
    std::fs::write(t.join("grows"), vec![2u8; 5000]).unwrap();
    let img = Image::from_dir(&t, &Options::new("X")).unwrap();
    std::fs::OpenOptions::new().append(true).open(t.join("grows")).unwrap().write_all(b"more").unwrap();
    let mut sink = Vec::new();
    let e = img.reader().read_to_end(&mut sink).unwrap_err();
    assert!(e.to_string().contains("grows") && e.to_string().contains("changed"), "{e}");

    let img = Image::from_dir(&t, &Options::new("X")).unwrap();
    std::fs::remove_file(t.join("stable")).unwrap();
    let e = img.reader().read_to_end(&mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("stable") && e.to_string().contains("vanish"), "{e}");
}

#[test]
fn files_over_4_gib_come_back_whole() {
    if !xorriso_ok() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    std::fs::create_dir_all(&t).unwrap();
    // Sparse: 4 GiB + 1 MiB, with data at the end (past the first extent).
    let big = t.join("big.bin");
    let size = (4u64 << 30) + (1 << 20);
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(size).unwrap();
    let tail: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 253) as u8).collect();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&tail, size - tail.len() as u64).unwrap();
    drop(f);
    std::fs::write(t.join("small.txt"), "after the big one\n").unwrap();
    let img = Image::from_dir(&t, &Options::new("BIG")).unwrap();
    assert!(img.len() > size);
    // Write the image sparsely (its zeros as holes), so the test costs
    // little disk.
    let iso = d.path().join("big.iso");
    let out = std::fs::File::create(&iso).unwrap();
    let mut r = img.reader();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            out.write_all_at(&buf[..n], at).unwrap();
        }
        at += n as u64;
    }
    out.set_len(at).unwrap();
    assert_eq!(at, img.len());
    // xorriso sees one file of the full size under its Rock Ridge name,
    // and its last MiB (in the second extent) is the source's.
    let o = xorriso().arg("-indev").arg(&iso).args(["-find", "/", "-exec", "lsdl"]).output().unwrap();
    let listing = String::from_utf8_lossy(&o.stdout);
    let line = listing.lines().find(|l| l.contains("'/big.bin'")).unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains(&size.to_string()) && line.starts_with("-rw"), "{line}");
    let part = d.path().join("tail.bin");
    let o = xorriso()
        .arg("-indev")
        .arg(&iso)
        .args([
            "-osirrox",
            "on",
            "-extract_cut",
            "/big.bin",
            &(size - tail.len() as u64).to_string(),
            &tail.len().to_string(),
        ])
        .arg(&part)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&part).unwrap() == tail, "the bytes past 4 GiB differ");
    let o = xorriso()
        .args(["-read_fs", "norock", "-indev"])
        .arg(&iso)
        .args(["-find", "/", "-exec", "lsdl"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(listing.lines().any(|l| l.contains("'/big.bin'") && l.contains(&size.to_string())), "Joliet: {listing}");
    assert!(listing.as_bytes().windows(9).any(|w| w == b"small.txt"), "{listing}");
    let _ = std::ffi::OsStr::new("").as_bytes();
}

/// What another user who owns part of the tree could do between layout and
/// read: swap a file for a symlink (to a file only the burner may read), a
/// directory on its path for a symlink, a file for a FIFO, or rewrite a
/// file keeping its size and second. Each is an error naming the file; no
/// foreign byte, no hang.
#[test]
fn swaps_after_layout_are_refused_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    let secret = d.path().join("secret");
    std::fs::write(&secret, b"top secret, 24 bytes ok\n").unwrap();
    let setup = || {
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(t.join("sub")).unwrap();
        std::fs::write(t.join("sub/notes"), b"harmless, same size: 24\n").unwrap();
        Image::from_dir(&t, &Options::new("X")).unwrap()
    };
    let read_all = |img: &Image| {
        let mut sink = Vec::new();
        img.reader().read_to_end(&mut sink).map(|_| sink)
    };
    // The file becomes a symlink to the secret.
    let img = setup();
    std::fs::remove_file(t.join("sub/notes")).unwrap();
    std::os::unix::fs::symlink(&secret, t.join("sub/notes")).unwrap();
    let e = read_all(&img).unwrap_err();
    assert!(e.to_string().contains("sub/notes") && e.to_string().contains("symbolic link"), "{e}");
    // A directory on its path becomes a symlink to a tree with the same name in it.
    let img = setup();
    let elsewhere = d.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(&secret, elsewhere.join("notes")).unwrap();
    std::fs::rename(t.join("sub"), d.path().join("old-sub")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, t.join("sub")).unwrap();
    let e = read_all(&img).unwrap_err();
    assert!(e.to_string().contains("sub/notes"), "{e}");
    let _ = std::fs::remove_dir_all(d.path().join("old-sub"));
    // A FIFO in its place: an error at once, not a write that hangs.
    let img = setup();
    std::fs::remove_file(t.join("sub/notes")).unwrap();
    assert!(Command::new("mkfifo").arg(t.join("sub/notes")).status().unwrap().success());
    let start = std::time::Instant::now();
    let e = read_all(&img).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(2) && e.to_string().contains("sub/notes"), "{e}");
    // Rewritten in place with the same size, within the same second.
    let img = setup();
    std::fs::write(t.join("sub/notes"), b"HARMLESS, SAME SIZE: 24\n").unwrap();
    let e = read_all(&img).unwrap_err();
    assert!(e.to_string().contains("sub/notes") && e.to_string().contains("modified"), "{e}");
    // Untouched, it reads.
    let img = setup();
    assert_eq!(read_all(&img).unwrap().len() as u64, img.len());
}

#[test]
fn unreadable_files_and_overlong_links_are_refused_before_any_byte() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    std::fs::create_dir_all(&t).unwrap();
    std::os::unix::fs::symlink("a".repeat(1024), t.join("long")).unwrap();
    let e = Image::from_dir(&t, &Options::new("X")).unwrap_err();
    assert!(e.to_string().contains("long") && e.to_string().contains("1024 bytes"), "{e}");
    std::fs::remove_file(t.join("long")).unwrap();
    std::os::unix::fs::symlink("a".repeat(1023), t.join("long")).unwrap();
    assert!(Image::from_dir(&t, &Options::new("X")).is_ok(), "a 1023-byte target is fine");
    if !root() {
        std::fs::write(t.join("private"), "x").unwrap();
        std::fs::set_permissions(t.join("private"), std::fs::Permissions::from_mode(0o000)).unwrap();
        let e = Image::from_dir(&t, &Options::new("X")).unwrap_err();
        assert!(e.to_string().contains("private"), "{e}");
    }
}

#[test]
fn a_1023_byte_link_beside_a_254_byte_name_reads_back() {
    if !xorriso_ok() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    std::fs::create_dir_all(&t).unwrap();
    let target: String = (0..114).map(|i| format!("dir{i:03}/")).collect::<String>() + &"z".repeat(225);
    assert_eq!(target.len(), 1023);
    let name = "ß".repeat(127);
    std::os::unix::fs::symlink(&target, t.join(&name)).unwrap();
    let iso = d.path().join("t.iso");
    write_image(&Image::from_dir(&t, &Options::new("X")).unwrap(), &iso);
    let out = d.path().join("out");
    let o = xorriso().args(["-osirrox", "on", "-indev"]).arg(&iso).args(["-extract", "/"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_link(out.join(&name)).unwrap().as_os_str().as_bytes(), target.as_bytes());
}

/// A file that was empty when the image was laid out has no data to read,
/// but written meanwhile it would be on the disc as 0 bytes: the stream's
/// end says so, as it does for a file with data that changed.
#[test]
fn a_file_empty_at_layout_and_written_since_fails_the_stream() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    std::fs::create_dir_all(t.join("sub")).unwrap();
    std::fs::write(t.join("data"), vec![1u8; 5000]).unwrap();
    std::fs::write(t.join("sub/late"), "").unwrap();
    let img = Image::from_dir(&t, &Options::new("X")).unwrap();
    let mut r = img.reader();
    let mut first = vec![0u8; 2048];
    r.read_exact(&mut first).unwrap();
    std::fs::write(t.join("sub/late"), "written during the burn").unwrap();
    let mut rest = Vec::new();
    let e = r.read_to_end(&mut rest).unwrap_err();
    assert!(e.to_string().contains("late: changed size from 0 to 23 bytes"), "{e}");
    // Untouched, the same tree streams whole.
    std::fs::write(t.join("sub/late"), "").unwrap();
    let img = Image::from_dir(&t, &Options::new("X")).unwrap();
    assert_eq!(std::io::copy(&mut img.reader(), &mut std::io::sink()).unwrap(), img.len());
}

/// A sparse file past what ISO 9660 addresses is refused at once, not
/// after a record was made for each of its 4 GiB extents.
#[test]
fn a_huge_sparse_file_is_refused_before_the_layout_takes_memory() {
    // tmpfs holds files of any size (ext4 stops at 16 TiB).
    let d = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();
    let t = d.path().join("t");
    std::fs::create_dir_all(&t).unwrap();
    let f = std::fs::File::create(t.join("huge")).unwrap();
    // 4 EiB where the file system allows it, else its largest file.
    if f.set_len(1 << 62).is_err() && f.set_len(1 << 44).is_err() {
        println!("SKIP: this file system holds no file over 16 TiB");
        return;
    }
    let t0 = std::time::Instant::now();
    let e = Image::from_dir(&t, &Options::new("X")).unwrap_err();
    assert!(matches!(e, discrec_iso::Error::TooLarge(_)), "{e}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(2), "took {:?}", t0.elapsed());
}

/// A tree far deeper than PATH_MAX (2,000 directories of 250-byte names,
/// half a megabyte of path) is read and streamed whole: no recursion (the
/// stack would overflow), a bounded number of descriptors, no path kept
/// per level (the walk held each level's full path: 500 MB here), and
/// files reopened one name at a time from their directory, never by a path
/// the kernel would refuse.
#[test]
fn a_tree_deeper_than_path_max_streams_whole() {
    use rustix::fs::{Mode, OFlags};
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t");
    std::fs::create_dir_all(&t).unwrap();
    let mut dir = rustix::fs::open(&t, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
    for i in 0..2000 {
        let name = format!("{i:04}{}", "d".repeat(246));
        rustix::fs::mkdirat(&dir, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        dir = rustix::fs::openat(&dir, name.as_str(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
    let bottom = b"at the bottom of a very deep tree\n";
    let f = rustix::fs::openat(&dir, "deep.txt", OFlags::WRONLY | OFlags::CREATE, Mode::from_raw_mode(0o644)).unwrap();
    rustix::io::write(&f, bottom).unwrap();
    drop(f);
    let img = Image::from_dir(&t, &Options::new("DEEP")).unwrap();
    let mut bytes = Vec::new();
    img.reader().read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes.len() as u64, img.len());
    assert!(bytes.windows(bottom.len()).any(|w| w == bottom), "the deep file's bytes are in the image");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kb < 200 * 1024, "peak resident size {} MB", peak_kb / 1024);
    // Clean up by descriptor too (remove_dir_all copes, but say so).
    let _ = std::fs::remove_dir_all(&t);
}

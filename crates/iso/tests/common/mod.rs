//! What the tests of images share: xorriso as the referee, a tree with
//! what readers trip over, writing an image, walking a directory.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use discrec_iso::Image;

/// xorriso in a UTF-8 locale: without one (a bare machine has no `LANG`)
/// it prints every non-ASCII character of a name as `_`.
pub fn xorriso() -> Command {
    let mut c = Command::new("xorriso");
    c.env("LC_ALL", "C.UTF-8");
    c
}

pub fn xorriso_ok() -> bool {
    if xorriso().arg("-version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(std::env::var("DISCREC_REQUIRE_ALL").as_deref() != Ok("1"), "xorriso is required (DISCREC_REQUIRE_ALL=1)");
    println!("SKIP: xorriso is needed to read the images");
    false
}

pub fn root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A tree with what readers trip over: deep and empty directories, long
/// and colliding names, Unicode, symlinks (relative, absolute, 300-byte
/// target, a trailing slash), modes with setuid, an owner (as root), old times, a FIFO, a
/// 255-byte name, files of 0, 1 and 2048 bytes.
pub fn tree(dir: &Path) -> PathBuf {
    let t = dir.join("tree");
    let deep = t.join("sub/d1/d2/d3/d4/d5/d6/d7/d8/d9");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir_all(t.join("emptydir")).unwrap();
    std::fs::write(deep.join("deep.txt"), "deep\n").unwrap();
    std::fs::write(t.join("a.txt"), "hello\n").unwrap();
    std::fs::set_permissions(t.join("a.txt"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let long = "x".repeat(100);
    std::fs::write(t.join(format!("{long}1.jpeg")), "1").unwrap();
    std::fs::write(t.join(format!("{long}2.jpeg")), "2").unwrap();
    std::fs::write(t.join("Readme.TXT"), "r1").unwrap();
    std::fs::write(t.join("README.txt"), "r2").unwrap();
    std::fs::write(t.join("héllo wörld ☃.txt"), "u").unwrap();
    std::fs::write(t.join("n".repeat(255)), "max").unwrap();
    std::fs::write(t.join("empty"), "").unwrap();
    std::fs::write(t.join("one"), "1").unwrap();
    let exact: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(t.join("exact"), exact).unwrap();
    std::fs::set_permissions(t.join("exact"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("a.txt", t.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", t.join("abs")).unwrap();
    std::os::unix::fs::symlink("y".repeat(300), t.join("longlink")).unwrap();
    // Targets exactly as readlink gives them: a trailing slash, `.` and
    // `..` kept. (A doubled slash is written too, as an empty component,
    // and Linux's isofs reads it back; libisofs, and so xorriso, reads
    // it as one slash: see rrip's unit test.)
    std::os::unix::fs::symlink("sub/", t.join("slashed")).unwrap();
    std::os::unix::fs::symlink("./b/../c/", t.join("dotted")).unwrap();
    assert!(Command::new("mkfifo").arg(t.join("fifo")).status().unwrap().success());
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options().write(true).open(t.join("Readme.TXT")).unwrap().set_modified(old).unwrap();
    if root() {
        std::os::unix::fs::chown(t.join("exact"), Some(1234), Some(5678)).unwrap();
    }
    t
}

pub fn write_image(img: &Image, to: &Path) {
    let mut out = std::fs::File::create(to).unwrap();
    let n = std::io::copy(&mut img.reader(), &mut out).unwrap();
    assert_eq!(n, img.len(), "the stream is as long as announced");
}

pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.clone());
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            walk(&p, out);
        }
    }
}

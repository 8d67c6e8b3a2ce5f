//! `discrec burn` and the library's `DataWriter` on image files (virtual
//! recorders) and loop devices: real processes, real signals, real
//! `SIGKILL`. The DVD+R on the kernel `sr` driver is the guest tier's
//! (`guest/src/burn.rs`).
//!
//! The library's half (`DataWriter`); `discrec burn` is tested in
//! `tests/burn.rs`.

use std::time::{Duration, Instant};

use crate::support::{blank, eventually, source, Scratch};
use discrec::{DataWriter, Recorder, Source};

#[test]
fn library_writer_cancel_and_second_write() {
    let s = Scratch::new();
    let img = blank(&s, "disc.img");
    let writer = DataWriter::new(Recorder::open_in(&img, &s.run).unwrap());
    assert_eq!(writer.cancel_write().unwrap_err().code(), 0xC0AA_0401);
    assert_eq!(writer.set_client_name("").unwrap_err().code(), 0xC0AA_0408);
    assert_eq!(writer.set_client_name(&"x".repeat(64)).unwrap_err().code(), 0xC0AA_0408);
    writer.set_client_name("Library Writer").unwrap();
    let (rd, wr) = std::os::unix::net::UnixStream::pair().unwrap();
    let src = Source::stream("a socket", rd, 2048 * 50).unwrap();
    std::thread::scope(|sc| {
        let h = sc.spawn(|| writer.write(src, None));
        assert!(eventually(Duration::from_secs(5), || writer.is_writing()));
        let second = writer.write(Source::stream("x", std::io::empty(), 2048).unwrap(), None);
        assert_eq!(second.unwrap_err().code(), 0xC0AA_0400);
        // The settings of a running write are fixed, as in IMAPI2.
        assert_eq!(writer.set_client_name("Other").unwrap_err().code(), 0xC0AA_0400);
        assert_eq!(writer.set_verify(false).unwrap_err().code(), 0xC0AA_0400);
        assert_eq!(writer.set_force_media_to_be_closed(true).unwrap_err().code(), 0xC0AA_0400);
        assert_eq!(writer.set_wait(discrec::WaitPolicy::Forever).unwrap_err().code(), 0xC0AA_0400);
        assert!(writer.verify() && !writer.force_media_to_be_closed() && writer.client_name() == "Library Writer");
        // A write is running from its start; it holds the drive a moment
        // later, under the writer's client name.
        let owner = || Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap();
        assert!(eventually(Duration::from_secs(5), || owner().is_some()), "the write never held the drive");
        assert_eq!(owner().unwrap().client_name.as_deref(), Some("Library Writer"));
        let t = Instant::now();
        writer.cancel_write().unwrap();
        let e = h.join().unwrap().unwrap_err();
        assert_eq!((e.code(), e.exit_code()), (0xC0AA_0002, 15), "{e}");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    });
    drop(wr);
    assert!(!writer.is_writing());
    assert_eq!(writer.cancel_write().unwrap_err().code(), 0xC0AA_0401);
    // The handle is usable again: a real write goes through.
    let data: Vec<u8> = (0..2048 * 8).map(|i| (i % 251) as u8).collect();
    std::fs::File::create(&img).unwrap();
    let r = writer
        .write(Source::stream("bytes", std::io::Cursor::new(data.clone()), data.len() as u64).unwrap(), None)
        .unwrap();
    assert!(r.verified && r.sectors == 8, "{r:?}");
    assert_eq!(std::fs::read(&img).unwrap(), data);
}

/// A cancel while a large tree is read ends the write there: the walk is
/// part of the write (`write_path`), not a prelude a cancel cannot reach
/// (the CLI, C and Python write paths through it).
#[test]
fn a_cancel_while_a_large_tree_is_read_ends_the_write() {
    let s = Scratch::new();
    let tree = s.dir.path().join("tree");
    for d in 0..20 {
        let dir = tree.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..500 {
            std::fs::File::create(dir.join(format!("f{f}"))).unwrap();
        }
    }
    // How long reading the whole tree takes here, now.
    let t = Instant::now();
    Source::directory(&tree, "T").unwrap();
    let walk = t.elapsed();
    let img = blank(&s, "disc.img");
    let writer = DataWriter::new(Recorder::open_in(&img, &s.run).unwrap());
    let (r, took) = std::thread::scope(|sc| {
        let h = sc.spawn(|| writer.write_path(&tree, None, None));
        assert!(eventually(Duration::from_secs(5), || writer.is_writing()));
        let t = Instant::now();
        writer.cancel_write().expect("a write reading its tree is in progress");
        (h.join().unwrap(), t.elapsed())
    });
    let e = r.unwrap_err();
    assert_eq!(e.code(), 0xC0AA_0002, "{e}");
    assert!(e.to_string().contains("nothing was written"), "{e}");
    assert!(took < walk / 2, "the cancel took {took:?}, the whole walk {walk:?}");
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 0);
    assert!(!writer.is_writing());
}

/// A single file rewritten while it is burned (here: between its opening
/// and its end) fails the burn naming it: the disc would match neither its
/// old nor its new bytes, yet be reported verified.
#[test]
fn a_source_file_rewritten_during_the_burn_fails_it() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 64);
    let img = blank(&s, "disc.img");
    let writer = DataWriter::new(Recorder::open_in(&img, &s.run).unwrap());
    let opened = Source::open(&src).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&src, vec![0xEEu8; 64 * 2048]).unwrap();
    let e = writer.write(opened, None).unwrap_err();
    assert_eq!(e.exit_code(), 25, "{e}");
    assert!(e.to_string().contains("changed while it was read"), "{e}");
    // Unchanged, it burns.
    std::fs::File::create(&img).unwrap();
    writer.write(Source::open(&src).unwrap(), None).unwrap();
}

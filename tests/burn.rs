//! `discrec burn` and the library's `DataWriter` on image files (virtual
//! recorders) and loop devices: real processes, real signals, real
//! `SIGKILL`. The DVD+R on the kernel `sr` driver is the guest tier's
//! (`guest/src/burn.rs`).
//!
//! The command line's half; the library's `DataWriter` tests are in
//! `crates/discrec/tests/burn.rs`.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{blank, eventually, loop_ok, source, spawn_holder, tool_ok, Loop, Scratch};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn owner_code(s: &Scratch, target: &Path) -> Option<i32> {
    s.discrec().arg("owner").arg(target).output().unwrap().status.code()
}

#[test]
fn burn_writes_the_image_byte_for_byte_and_verifies() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 3000);
    let img = blank(&s, "disc.img");
    let o = s.discrec().arg("burn").arg(&img).arg(&src).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("burned ") && out.contains("3000 sectors") && out.contains("verified"), "{out}");
    assert_eq!(std::fs::read(&img).unwrap(), std::fs::read(&src).unwrap(), "the image differs from the source");
    // The drive is free again, and the written image is a closed disc.
    assert_eq!(owner_code(&s, &img), Some(1));
    let again = s.discrec().arg("burn").arg(&img).arg(&src).output().unwrap();
    assert_eq!(again.status.code(), Some(20), "{}", stderr(&again));
    assert!(stderr(&again).contains("E_IMAPI_DF2DATA_MEDIA_NOT_BLANK 0xC0AA0405"), "{}", stderr(&again));
}

#[test]
fn burn_json_gives_progress_then_the_result() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 1024);
    let img = blank(&s, "disc.img");
    let o = s.discrec().args(["burn", "--json"]).arg(&img).arg(&src).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let done = &lines.last().unwrap()["done"];
    assert_eq!((done["sectors"].as_u64(), done["verified"].as_bool()), (Some(1024), Some(true)), "{done}");
    assert_eq!(done["medium"]["state"], serde_json::json!(["blank"]), "{done}");
    let last_progress = &lines[lines.len() - 2]["progress"];
    assert_eq!(last_progress["action"], "completed", "{last_progress}");
    assert_eq!(last_progress["last_written_lba"], 1023, "{last_progress}");
    assert_eq!(last_progress["sector_count"], 1024, "{last_progress}");
}

#[test]
fn bad_input_is_refused_before_the_first_sector() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 600);
    let check = |args: &[&str], paths: &[&Path], code: i32, says: &str| {
        let mut c = s.discrec();
        c.arg("burn").args(args).args(paths);
        let o = c.stdin(Stdio::null()).output().unwrap();
        assert_eq!(o.status.code(), Some(code), "{args:?} {paths:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "one line per failure: {}", stderr(&o));
    };
    // Too large for a 1 MiB virtual disc: nothing written.
    let small = s.dir.path().join("small.img");
    std::fs::File::create(&small).unwrap().set_len(1 << 20).unwrap();
    check(&[], &[&small, &src], 19, "needs 600 sectors but the medium in");
    let mut f = std::fs::File::open(&small).unwrap();
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0), "a refused burn wrote to the disc");
    // Not whole sectors; empty.
    let odd = s.dir.path().join("odd.bin");
    std::fs::write(&odd, vec![1u8; 5000]).unwrap();
    let img = blank(&s, "disc.img");
    check(&[], &[&img, &odd], 18, "not a whole number of 2048-byte sectors");
    let empty = s.dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    check(&[], &[&img, &empty], 18, "is empty");
    // A missing source.
    check(&[], &[&img, Path::new("/nonexistent.iso")], 25, "cannot open it");
    // Standard input needs its size; a file has one.
    check(&[], &[&img, Path::new("-")], 2, "needs its size: --size BYTES");
    check(&["--size", "4096"], &[&img, &src], 2, "--size is for a SOURCE of `-`");
    // Client names as IMAPI2's writer checks them.
    check(&["--client", "no/slash"], &[&img, &src], 23, "E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID 0xC0AA0408");
    // A target that does not exist.
    check(&[], &[Path::new("/nonexistent.img"), &src], 6, "ERROR_DEV_NOT_EXIST");
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 0, "a refused burn wrote to the disc");
}

#[test]
fn standard_input_of_the_announced_size_and_a_short_one() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 700);
    let img = blank(&s, "disc.img");
    let o = s
        .discrec()
        .args(["burn", "--size", &(700 * 2048).to_string()])
        .arg(&img)
        .arg("-")
        .stdin(std::fs::File::open(&src).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&img).unwrap(), std::fs::read(&src).unwrap());

    // Announced 800 sectors, delivered 700: the write stops with the cause.
    let img2 = blank(&s, "disc2.img");
    let o = s
        .discrec()
        .args(["burn", "--size", &(800 * 2048).to_string()])
        .arg(&img2)
        .arg("-")
        .stdin(std::fs::File::open(&src).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(25), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("standard input: ended after 1433600 of the 1638400 bytes announced"),
        "{}",
        stderr(&o)
    );
    assert_eq!(owner_code(&s, &img2), Some(1), "the drive is free after a failed burn");
}

#[test]
fn a_held_recorder_is_refused_naming_its_owner() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 64);
    let img = blank(&s, "disc.img");
    let mut c = s.discrec();
    c.args(["lock", "--client", "Other Burner"]).arg(&img);
    let (mut holder, line) = spawn_holder(c);
    assert!(line.starts_with("locked "), "{line}");
    let o = s.discrec().arg("burn").arg(&img).arg(&src).output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("\"Other Burner\"") && stderr(&o).contains("E_IMAPI_RECORDER_LOCKED"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 0);
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// A burn waiting on a source that delivers nothing, with the drive held
/// under `client`; the caller owns the pipe's writing end.
fn stalled_burn(s: &Scratch, img: &Path, client: &str) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = s
        .discrec()
        .args(["burn", "--client", client, "--size", &(16000 * 2048).to_string()])
        .arg(img)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    assert!(eventually(Duration::from_secs(10), || owner_code(s, img) == Some(0)), "the burn never held the drive");
    (child, stdin)
}

#[test]
fn a_signal_cancels_a_stalled_burn_within_a_second() {
    let s = Scratch::new();
    let img = blank(&s, "disc.img");
    for sig in [rustix::process::Signal::TERM, rustix::process::Signal::INT, rustix::process::Signal::HUP] {
        let (mut child, mut stdin) = stalled_burn(&s, &img, "Stalled");
        // Two whole buffers (the writer writes CHUNK bytes at a time), then nothing.
        let chunk = discrec::writer::CHUNK;
        stdin.write_all(&vec![7u8; 2 * chunk]).unwrap();
        assert!(eventually(Duration::from_secs(5), || std::fs::metadata(&img).unwrap().len() >= 2 * chunk as u64));
        let t = Instant::now();
        rustix::process::kill_process(rustix::process::Pid::from_child(&child), sig).unwrap();
        let o = {
            let status = child.wait().unwrap();
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            (status, err)
        };
        let took = t.elapsed();
        assert_eq!(o.0.code(), Some(15), "{sig:?}: {}", o.1);
        assert!(
            o.1.contains("E_IMAPI_REQUEST_CANCELLED 0xC0AA0002")
                && o.1.contains(&format!("cancelled after {} sectors", 2 * chunk / 2048)),
            "{}",
            o.1
        );
        assert!(took < Duration::from_secs(1), "{sig:?}: the cancel took {took:?}");
        assert_eq!(owner_code(&s, &img), Some(1), "the drive is free after a cancel");
        // The blocks reserved for the whole burn are given back past what
        // was written (a cancelled burn keeps no hidden space).
        let allocated = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&img).unwrap()) * 512;
        assert!(allocated <= 4 * chunk as u64, "{sig:?}: {allocated} bytes still allocated");
        drop(stdin);
        // What was written before the cancel is there; start afresh.
        std::fs::File::create(&img).unwrap();
    }
}

#[test]
fn sigkill_mid_burn_leaves_the_recorder_free() {
    let s = Scratch::new();
    let img = blank(&s, "disc.img");
    let (mut child, mut stdin) = stalled_burn(&s, &img, "Killed");
    let chunk = discrec::writer::CHUNK;
    stdin.write_all(&vec![9u8; chunk]).unwrap();
    assert!(eventually(Duration::from_secs(5), || std::fs::metadata(&img).unwrap().len() >= chunk as u64));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(owner_code(&s, &img), Some(1), "a SIGKILLed burn left the drive held");
    // The medium is reported as it is: partly written, so not blank.
    let o = s.discrec().arg("burn").arg(&img).arg(source(&s, "src.iso", 4)).output().unwrap();
    assert_eq!(o.status.code(), Some(20), "{}", stderr(&o));
    assert!(stderr(&o).contains("already holds data"), "{}", stderr(&o));
}

#[test]
fn burn_to_a_loop_device_and_again() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let l = Loop::new(8);
    let src = source(&s, "src.iso", 2000);
    for round in 0..2 {
        let o = s.discrec().arg("burn").arg(&l.dev).arg(&src).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "round {round}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("verified"));
        let mut got = vec![0u8; 2000 * 2048];
        std::fs::File::open(&l.dev).unwrap().read_exact(&mut got).unwrap();
        assert!(got == std::fs::read(&src).unwrap(), "round {round}: the device differs from the source");
    }
    // The device as a SOURCE: read from its first byte, all of it.
    let copy = blank(&s, "copy.img");
    let o = s.discrec().arg("burn").arg(&copy).arg(&l.dev).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "burn from a block device: {}", stderr(&o));
    let mut whole = Vec::new();
    std::fs::File::open(&l.dev).unwrap().read_to_end(&mut whole).unwrap();
    assert!(std::fs::read(&copy).unwrap() == whole, "the copy differs from the device");
    // Too large for the 8 MiB device.
    let big = source(&s, "big.iso", 5000);
    let o = s.discrec().arg("burn").arg(&l.dev).arg(&big).output().unwrap();
    assert_eq!(o.status.code(), Some(19), "{}", stderr(&o));
    // A mounted device is in use: refused, nothing written.
    l.mkfs("ext2");
    let mnt = s.dir.path().join("mnt");
    common::mount(&l.dev, &mnt);
    let o = s.discrec().arg("burn").arg(&l.dev).arg(&src).output().unwrap();
    let _ = Command::new("umount").arg(&mnt).status();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn odd_sources_are_refused_cleanly() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 64);
    let img = blank(&s, "disc.img");
    let run = |args: &[&std::ffi::OsStr]| {
        let o = s.discrec().arg("burn").args(args).stdin(Stdio::null()).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), stderr(&o))
    };
    // A source written onto itself.
    let (c, _, e) = run(&[src.as_os_str(), src.as_os_str()]);
    assert_eq!(c, Some(2), "{e}");
    let sparse = s.dir.path().join("sparse.img");
    std::fs::File::create(&sparse).unwrap().set_len(1 << 20).unwrap();
    let (c, _, e) = run(&[sparse.as_os_str(), sparse.as_os_str()]);
    assert_eq!(c, Some(2), "{e}");
    assert!(e.contains("cannot be written onto itself"), "{e}");
    // A FIFO: refused at once, not a wait for a writer.
    let fifo = s.dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let t = Instant::now();
    let (c, _, e) = run(&[img.as_os_str(), fifo.as_os_str()]);
    assert_eq!(c, Some(18), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2) && e.contains("hint: write a pipe as `-`"), "{e}");
    // A size whose padding would overflow: a clean refusal, no panic.
    let (c, _, e) = run(&["--size".as_ref(), "18446744073709551615".as_ref(), img.as_os_str(), "-".as_ref()]);
    assert_eq!(c, Some(18), "{e}");
    // A name with a newline stays on one line.
    let odd = s.dir.path().join("no\nsuch.iso");
    let (c, _, e) = run(&[img.as_os_str(), odd.as_os_str()]);
    assert_eq!((c, e.lines().count()), (Some(25), 1), "{e}");
    assert!(e.contains("no\\nsuch.iso"), "{e}");
    // With --json a failure is a JSON line too.
    let (c, out, _) = run(&["--json".as_ref(), img.as_os_str(), odd.as_os_str()]);
    assert_eq!(c, Some(25));
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["error"]["code"], 0x8000_4005u32, "{v}");
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 0, "a refused burn wrote to the disc");
}

#[test]
fn standard_input_longer_than_announced_is_an_error() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 10);
    let img = blank(&s, "disc.img");
    let o = s
        .discrec()
        .args(["burn", "--size", "4096"])
        .arg(&img)
        .arg("-")
        .stdin(std::fs::File::open(&src).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(25), "{}", stderr(&o));
    assert!(stderr(&o).contains("delivered more than the 4096 bytes announced"), "{}", stderr(&o));
    assert!(stderr(&o).contains("incomplete recording of 2 sectors"), "{}", stderr(&o));
}

#[test]
fn burn_runs_inside_discrec_lock_under_its_lock() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 32);
    let img = blank(&s, "disc.img");
    let o = s
        .discrec()
        .args(["lock", "--client", "Wrapper"])
        .arg(&img)
        .arg("--")
        .arg(common::DISCREC)
        .arg("burn")
        .arg(&img)
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&img).unwrap(), std::fs::read(&src).unwrap());
    assert_eq!(owner_code(&s, &img), Some(1));
}

/// Any descendant of the holder burns under the inherited lock (a script,
/// make, xargs), as with flock(1); a process that is not one is refused.
#[test]
fn a_script_under_discrec_lock_burns_and_outsiders_are_refused() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 32);
    let img = blank(&s, "disc.img");
    let script = format!(
        "{d} burn --client Inner '{img}' '{src}' && {d} owner '{img}' && sh -c 'sleep 0.2; {d} info --json '\\''{img}'\\'' >/dev/null'",
        d = common::DISCREC,
        img = img.display(),
        src = src.display()
    );
    let o =
        s.discrec().args(["lock", "--client", "Wrapper"]).arg(&img).args(["--", "sh", "-c", &script]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&img).unwrap(), std::fs::read(&src).unwrap());
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().last(), Some("Wrapper"), "the owner seen inside");
    // A waiting burn under the inherited lock has nothing to wait for.
    let img3 = blank(&s, "disc3.img");
    let o = s
        .discrec()
        .args(["lock", "--client", "Wrapper"])
        .arg(&img3)
        .args(["--", common::DISCREC, "burn", "--wait=5"])
        .arg(&img3)
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&img3).unwrap(), std::fs::read(&src).unwrap());
    // An outsider, while a script holds the drive: refused, nothing written.
    let img2 = blank(&s, "disc2.img");
    let mut holder = s
        .discrec()
        .args(["lock", "--client", "Wrapper"])
        .arg(&img2)
        .args(["--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || owner_code(&s, &img2) == Some(0)));
    let o = s.discrec().arg("burn").arg(&img2).arg(&src).output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(&img2).unwrap().len(), 0, "an outsider wrote");
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn a_stdout_nobody_reads_does_not_hold_the_drive_after_a_cancel() {
    let s = Scratch::new();
    let img = blank(&s, "disc.img");
    // stdout: a pipe whose reader never reads (kept open, never drained).
    let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut child = s
        .discrec()
        .args(["burn", "--json", "--size", &(100_000 * 2048).to_string()])
        .arg(&img)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(writer)))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    assert!(eventually(Duration::from_secs(10), || owner_code(&s, &img) == Some(0)));
    // Long enough for the progress lines to fill the socket's buffer.
    for _ in 0..20 {
        stdin.write_all(&[1u8; 1 << 20]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = Instant::now();
    rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::INT).unwrap();
    assert!(
        eventually(Duration::from_secs(1), || owner_code(&s, &img) == Some(1)),
        "the drive is still held {:?} after SIGINT",
        t.elapsed()
    );
    drop(reader);
    drop(stdin);
    let st = child.wait().unwrap();
    assert!(matches!(st.code(), Some(15) | Some(11)), "{st:?}");
}

#[test]
fn burn_wait_queues_for_the_drive_and_a_signal_ends_the_wait() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 16);
    let img = blank(&s, "disc.img");
    let mut c = s.discrec();
    c.args(["lock", "--client", "First"]).arg(&img);
    let (mut holder, _) = spawn_holder(c);
    // Waits, then burns once the holder lets go.
    let burn = s.discrec().args(["burn", "--wait=10"]).arg(&img).arg(&src).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 0, "burned while the drive was held");
    rustix::process::kill_process(rustix::process::Pid::from_child(&holder), rustix::process::Signal::TERM).unwrap();
    holder.wait().unwrap();
    let o = burn.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read(&img).unwrap() == std::fs::read(&src).unwrap());

    // A signal while waiting: exit 15 at once, nothing written.
    let img2 = blank(&s, "disc2.img");
    let mut c = s.discrec();
    c.args(["lock", "--client", "First"]).arg(&img2);
    let (mut holder, _) = spawn_holder(c);
    let mut burn = s.discrec().args(["burn", "--wait"]).arg(&img2).arg(&src).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    rustix::process::kill_process(rustix::process::Pid::from_child(&burn), rustix::process::Signal::INT).unwrap();
    let st = burn.wait().unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "the wait took {:?} to end", t.elapsed());
    let mut err = String::new();
    burn.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(st.code(), Some(15), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::metadata(&img2).unwrap().len(), 0);
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn info_tells_an_image_files_medium_before_and_after_a_burn() {
    let s = Scratch::new();
    let src = source(&s, "src.iso", 8);
    let img = blank(&s, "disc.img");
    let info = || {
        let o = s.discrec().args(["info", "--json"]).arg(&img).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let before = info();
    assert_eq!(before["medium"]["state"], serde_json::json!(["blank"]), "{before}");
    assert!(before["medium"]["free_sectors"].as_u64().unwrap() > 8, "{before}");
    let o = s.discrec().args(["burn", "--volume", "My Label"]).arg(&img).arg(&src).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "--volume is for directories: {}", stderr(&o));
    assert!(s.discrec().arg("burn").arg(&img).arg(&src).status().unwrap().success());
    let after = info();
    assert_eq!(after["medium"]["state"], serde_json::json!(["non_empty_session", "finalized"]), "{after}");
    assert_eq!(after["medium"]["free_sectors"], 0, "{after}");
    let text = String::from_utf8(s.discrec().arg("info").arg(&img).output().unwrap().stdout).unwrap();
    assert!(text.contains("already holds data") && text.contains("truncate it"), "{text}");
    // An ISO 9660 image takes another session: appendable, its next
    // writable address after the volume, as much free as its file system.
    let iso = blank(&s, "iso.img");
    let dir = tree_of(&s, "d", &[("f.txt", b"f\n")]);
    assert!(s.discrec().arg("burn").arg(&iso).arg(&dir).status().unwrap().success());
    let o = s.discrec().args(["info", "--json"]).arg(&iso).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["medium"]["state"], serde_json::json!(["appendable", "non_empty_session"]), "{v}");
    let len = std::fs::metadata(&iso).unwrap().len() / 2048;
    assert_eq!(v["medium"]["next_writable_address"], len.div_ceil(32) * 32, "{v}");
    assert!(v["medium"]["free_sectors"].as_u64().unwrap() > 0, "{v}");
}

/// Memory follows the number of files, not the length of their paths:
/// 10,000 one-byte files 19 directories deep (200-byte names) took 15 KB
/// of paths each (full and relative paths per node, cloned in the layout).
/// The peak resident size of the whole burn is measured by the kernel
/// (RUSAGE_CHILDREN, read by python3).
#[test]
fn memory_follows_the_number_of_files_not_their_depth() {
    let s = Scratch::new();
    let mut deep = s.dir.path().join("tree");
    for i in 0..19 {
        deep.push(format!("{i:02}{}", "n".repeat(198)));
    }
    std::fs::create_dir_all(&deep).unwrap();
    for f in 0..10_000 {
        std::fs::write(deep.join(format!("f{f}")), "x").unwrap();
    }
    let img = blank(&s, "disc.img");
    let o = Command::new("python3")
        .args([
            "-c",
            "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); \
             print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
            common::DISCREC,
            "burn",
            "--no-verify",
        ])
        .arg(&img)
        .arg(s.dir.path().join("tree"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let mut it = out.split_whitespace();
    let (code, kb): (i32, u64) = (it.next().unwrap().parse().unwrap(), it.next().unwrap().parse().unwrap());
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!("peak resident size of the burn: {} MB", kb / 1024);
    assert!(kb < 80 * 1024, "the burn of 10,000 deep files peaked at {} MB", kb / 1024);
}

/// `erase` on what holds no disc is refused at once with advice for what
/// it is, even while another client holds it and the caller would wait;
/// `info` on a loop device shows its medium as a block device.
#[test]
fn erase_refuses_what_holds_no_disc_at_once_and_info_shows_a_loop_device() {
    let s = Scratch::new();
    let img = blank(&s, "disc.img");
    let (mut holder, _) = spawn_holder({
        let mut c = s.discrec();
        c.args(["lock", "--json", "--client", "Holder"]).arg(&img);
        c
    });
    let t = Instant::now();
    let o = s.discrec().args(["erase", "--wait=3"]).arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(27), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE") && stderr(&o).contains("truncate -s 0"),
        "{}",
        stderr(&o)
    );
    assert!(t.elapsed() < Duration::from_secs(5), "erase waited {:?} for a drive it could never erase", t.elapsed());
    // A directory: said as erase sees it (it takes a drive).
    let o = s.discrec().arg("erase").arg(s.dir.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a directory; erase takes a drive"), "{}", stderr(&o));
    let _ = holder.kill();
    let _ = holder.wait();
    if !loop_ok() {
        return;
    }
    let l = Loop::new(8);
    let o = s.discrec().arg("erase").arg(&l.dev).output().unwrap();
    assert_eq!(o.status.code(), Some(27), "{}", stderr(&o));
    assert!(stderr(&o).contains("written over by `discrec burn`"), "{}", stderr(&o));
    let o = s.discrec().args(["info", "--json"]).arg(&l.dev).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["medium"]["method"], "block_device", "{v}");
    assert_eq!(v["medium"]["total_sectors"], 8 * 512, "{v}");
}

/// The files xorriso extracts from the image or device `target`, each
/// path with its bytes.
fn xorriso_files(s: &Scratch, target: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let out = s.dir.path().join(format!("x{}", std::process::id() ^ rand_suffix()));
    let o = Command::new("xorriso")
        .env("LC_ALL", "C.UTF-8")
        .args(["-osirrox", "on", "-indev"])
        // `stdio:` lets it read a block device that is no drive.
        .arg(format!("stdio:{}", target.display()))
        .arg("-extract")
        .arg("/")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "xorriso: {}", stderr(&o));
    let mut files = std::collections::BTreeMap::new();
    let mut todo = vec![out.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(&out).unwrap().to_string_lossy().into_owned();
                files.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let _ = Command::new("chmod").arg("-R").arg("u+w").arg(&out).status();
    let _ = std::fs::remove_dir_all(&out);
    files
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}

/// A directory of `files` (path, bytes) under the scratch.
fn tree_of(s: &Scratch, name: &str, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    let d = s.dir.path().join(name);
    for (p, bytes) in files {
        let p = d.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    d
}

#[test]
fn burn_append_adds_sessions_to_an_image_file_and_a_loop_device() {
    if !tool_ok("xorriso", "-version") {
        return;
    }
    let s = Scratch::new();
    let one = tree_of(&s, "one", &[("a.txt", b"first a\n"), ("keep/k.bin", &[5u8; 10_000])]);
    let two = tree_of(&s, "two", &[("a.txt", b"second a\n"), ("keep/new.txt", b"new\n")]);
    let three = tree_of(&s, "three", &[("c.txt", b"c\n")]);
    let mut targets = vec![blank(&s, "disc.img")];
    let l = loop_ok().then(|| Loop::new(8));
    targets.extend(l.as_ref().map(|l| l.dev.clone()));
    for t in &targets {
        // A blank target gets a first session; then two more are added.
        let o = s.discrec().args(["burn", "--append"]).arg(t).arg(&one).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}: {}", t.display(), stderr(&o));
        let o = s.discrec().args(["burn", "--append", "--json"]).arg(t).arg(&two).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}: {}", t.display(), stderr(&o));
        let last = String::from_utf8_lossy(&o.stdout).lines().last().unwrap().to_string();
        let done: serde_json::Value = serde_json::from_str(&last).unwrap();
        assert_eq!(done["done"]["added_to"]["previous_session_start"], 0, "{last}");
        assert_eq!(done["done"]["added_to"]["files_kept"], 1, "k.bin kept, a.txt replaced: {last}");
        assert_eq!(done["done"]["start_lba"].as_u64().unwrap() % 32, 0, "{last}");
        let o = s.discrec().args(["burn", "--append"]).arg(t).arg(&three).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}: {}", t.display(), stderr(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("3 old files kept"),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        let files = xorriso_files(&s, t);
        let want: Vec<(&str, &[u8])> = vec![
            ("a.txt", b"second a\n"),
            ("c.txt", b"c\n"),
            ("keep/k.bin", &[5u8; 10_000]),
            ("keep/new.txt", b"new\n"),
        ];
        let got: Vec<(&str, &[u8])> = files.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
        assert_eq!(got, want, "{}", t.display());
    }
}

#[test]
fn burn_append_refuses_what_it_cannot_add_to_and_writes_nothing() {
    let s = Scratch::new();
    let dir = tree_of(&s, "dir", &[("x.txt", b"x\n")]);
    let iso = source(&s, "src.iso", 64);
    // Not a directory; with --overwrite: mistakes of the command line.
    let t = blank(&s, "disc.img");
    let o = s.discrec().args(["burn", "--append"]).arg(&t).arg(&iso).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a directory"), "{}", stderr(&o));
    let o = s.discrec().args(["burn", "--append", "--overwrite"]).arg(&t).arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Data that is no ISO 9660: exit 30, the target untouched.
    std::fs::copy(&iso, &t).unwrap();
    let o = s.discrec().args(["burn", "--append"]).arg(&t).arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(30), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("IMAPI_E_NO_SUPPORTED_FILE_SYSTEM") && stderr(&o).contains("sector 16"),
        "{}",
        stderr(&o)
    );
    assert!(std::fs::read(&t).unwrap() == std::fs::read(&iso).unwrap(), "the target changed");
    // A damaged ISO 9660 file system (its root directory said to lie
    // past the volume): exit 31, untouched.
    let t2 = blank(&s, "damaged.img");
    assert_eq!(s.discrec().arg("burn").arg(&t2).arg(&dir).output().unwrap().status.code(), Some(0));
    let mut bytes = std::fs::read(&t2).unwrap();
    let root = 16 * 2048 + 156;
    bytes[root + 2..root + 6].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
    std::fs::write(&t2, &bytes).unwrap();
    let o = s.discrec().args(["burn", "--append"]).arg(&t2).arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(31), "{}", stderr(&o));
    assert!(stderr(&o).contains("damaged") && stderr(&o).contains("outside the volume"), "{}", stderr(&o));
    assert!(std::fs::read(&t2).unwrap() == bytes, "the damaged target changed");
    // An image cut short: its volume said to be longer than the file
    // (exit 31), and one cut inside its directories (exit 31 too).
    let whole = blank(&s, "whole.img");
    let big = tree_of(&s, "big", &[("a.bin", &[3u8; 200_000]), ("b/c.txt", b"c\n")]);
    assert_eq!(s.discrec().arg("burn").arg(&whole).arg(&big).output().unwrap().status.code(), Some(0));
    let bytes = std::fs::read(&whole).unwrap();
    for keep in [bytes.len() - 20 * 2048, 19 * 2048 + 100] {
        let cut = s.dir.path().join(format!("cut{keep}.img"));
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let o = s.discrec().args(["burn", "--append"]).arg(&cut).arg(&dir).output().unwrap();
        assert_eq!(o.status.code(), Some(31), "cut at {keep}: {}", stderr(&o));
        assert!(stderr(&o).contains("cut short"), "{}", stderr(&o));
        assert!(std::fs::read(&cut).unwrap() == bytes[..keep], "the cut image changed");
    }
    // A hybrid image with a partition after its volume: growing would
    // overwrite it (exit 32).
    if tool_ok("xorriso", "-version") {
        let part = s.dir.path().join("part.bin");
        std::fs::write(&part, vec![0xEFu8; 64 * 1024]).unwrap();
        let hybrid = s.dir.path().join("hybrid.img");
        let o = Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-R", "-o"])
            .arg(&hybrid)
            .args(["-append_partition", "2", "0xef"])
            .arg(&part)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "xorriso: {}", stderr(&o));
        let before = std::fs::read(&hybrid).unwrap();
        let o = s.discrec().args(["burn", "--append"]).arg(&hybrid).arg(&dir).output().unwrap();
        assert_eq!(o.status.code(), Some(32), "{}", stderr(&o));
        assert!(stderr(&o).contains("partition after its ISO 9660 volume"), "{}", stderr(&o));
        assert!(std::fs::read(&hybrid).unwrap() == before, "the hybrid image changed");
        // The same partition in a GPT whose entries lie away from the
        // system area (the primary header pointed at the backup array):
        // still seen, still refused.
        let gpt = s.dir.path().join("gpt.img");
        let o = Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-R", "-o"])
            .arg(&gpt)
            .args(["-appended_part_as_gpt", "-append_partition", "2", "0xef"])
            .arg(&part)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "xorriso: {}", stderr(&o));
        let mut bytes = std::fs::read(&gpt).unwrap();
        assert_eq!(&bytes[512..520], b"EFI PART", "xorriso made a GPT");
        let backup = &bytes[bytes.len() - 512..];
        let backup_array = u64::from_le_bytes(backup[72..80].try_into().unwrap());
        let primary_array = u64::from_le_bytes(bytes[512 + 72..512 + 80].try_into().unwrap()) as usize;
        bytes[512 + 72..512 + 80].copy_from_slice(&backup_array.to_le_bytes());
        bytes[primary_array * 512..primary_array * 512 + 128 * 4].fill(0);
        std::fs::write(&gpt, &bytes).unwrap();
        let o = s.discrec().args(["burn", "--append"]).arg(&gpt).arg(&dir).output().unwrap();
        assert_eq!(o.status.code(), Some(32), "{}", stderr(&o));
        assert!(std::fs::read(&gpt).unwrap() == bytes, "the GPT image changed");
    }
    // A loop device holding ext2: not ISO 9660, untouched.
    if loop_ok() {
        let l = Loop::new(8);
        l.mkfs("ext2");
        let before = std::fs::read(&l.dev).unwrap();
        let o = s.discrec().args(["burn", "--append"]).arg(&l.dev).arg(&dir).output().unwrap();
        assert_eq!(o.status.code(), Some(30), "{}", stderr(&o));
        assert!(std::fs::read(&l.dev).unwrap() == before, "the ext2 device changed");
    }
}

#[test]
fn a_cancelled_append_leaves_an_image_as_it_was() {
    let s = Scratch::new();
    let img = blank(&s, "disc.img");
    let one = tree_of(&s, "one", &[("a.txt", b"a\n")]);
    assert_eq!(s.discrec().arg("burn").arg(&img).arg(&one).output().unwrap().status.code(), Some(0));
    let before = std::fs::read(&img).unwrap();
    // A sparse 1 GiB file: long enough to be cancelled mid-write.
    let big = s.dir.path().join("big");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::File::create(big.join("huge.bin")).unwrap().set_len(1 << 30).unwrap();
    let child = s.discrec().args(["burn", "--append"]).arg(&img).arg(&big).stderr(Stdio::piped()).spawn().unwrap();
    let grew = eventually(Duration::from_secs(60), || {
        std::fs::metadata(&img).map(|m| m.len() > before.len() as u64 + (16 << 20)).unwrap_or(false)
    });
    rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::INT).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(grew, "the append never got going: {}", stderr(&o));
    assert_eq!(o.status.code(), Some(15), "{}", stderr(&o));
    assert!(stderr(&o).contains("the session was not added"), "{}", stderr(&o));
    assert!(std::fs::read(&img).unwrap() == before, "the image is not as it was");
    // SIGKILL: nothing can cut the image back, but the next append ends
    // it with its own session.
    let child = s.discrec().args(["burn", "--append"]).arg(&img).arg(&big).spawn().unwrap();
    let grew = eventually(Duration::from_secs(60), || {
        std::fs::metadata(&img).map(|m| m.len() > before.len() as u64 + (16 << 20)).unwrap_or(false)
    });
    rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::KILL).unwrap();
    let _ = child.wait_with_output();
    assert!(grew, "the append never got going");
    let small = tree_of(&s, "small", &[("b.txt", b"b\n")]);
    let o = s.discrec().args(["burn", "--append"]).arg(&img).arg(&small).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let len = std::fs::metadata(&img).unwrap().len();
    assert!(len < before.len() as u64 + (1 << 20), "the image kept the killed write's tail: {len} bytes");
}

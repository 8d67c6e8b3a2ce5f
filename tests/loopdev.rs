//! Root tier: exclusive access on real block devices (loop devices) with
//! real ext2/ext4 mounts, real O_EXCL/flock/fcntl holders, real SIGKILL.
//! Needs root; skips with a reason elsewhere (fails under CI).
//!
//! The command line's half: `discrec lock -- COMMAND` and `burn` on loop
//! devices; the library's is `crates/discrec/tests/loopdev.rs`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use discrec::Recorder;

#[test]
fn c11_lock_command_sends_a_change_uevent_when_the_command_ends() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(8);
    let mut events = Uevents::new();
    let name = lo.dev.file_name().unwrap().to_str().unwrap().to_string();
    let mut c = s.discrec();
    c.args(["lock", "--client", "Notifier"]).arg(&lo.dev).args(["--", "sh", "-c", "echo go; exec sleep 1"]);
    let (mut holder, line) = spawn_holder(c);
    assert_eq!(line.trim(), "go");
    assert!(!events.change_of(&name, Duration::from_millis(600)), "no change event while the command runs");
    holder.wait().unwrap();
    assert!(events.change_of(&name, Duration::from_secs(2)), "change event after the command ended");
}

#[test]
fn cli_lock_keep_claim_keeps_mount_out_while_a_plain_writer_runs() {
    // A writer that does not open the drive exclusively itself (dd, a
    // script) keeps the kernel claim with --keep-claim: nothing mounts the
    // drive while it runs, whoever is killed, until the writer ends.
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(16);
    lo.mkfs("ext2");
    let mnt = s.dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mut c = s.discrec();
    c.args(["lock", "--keep-claim", "--client", "Plain Writer"]).arg(&lo.dev).args([
        "--",
        "sh",
        "-c",
        "echo go; exec sleep 30",
    ]);
    let (mut holder, line) = spawn_holder(c);
    assert_eq!(line.trim(), "go");
    assert!(excl_open_fails(&lo.dev), "the claim is kept for the command");
    let m = Command::new("mount").arg(&lo.dev).arg(&mnt).stderr(Stdio::null()).status().unwrap();
    assert!(!m.success(), "mount must fail while the command runs");
    let o = Recorder::open_in(&lo.dev, &s.run).unwrap().exclusive_access_owner().unwrap().unwrap();
    assert_eq!((o.client_name.as_deref(), o.pid), (Some("Plain Writer"), Some(holder.id() as i32)));
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(!excl_open_fails(&lo.dev), "free when the command is gone");
}

#[test]
fn cli_lock_hands_the_drive_to_an_exclusive_tool_and_keeps_the_owner() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(8);
    // The wrapped tool opens the device with O_EXCL itself, and meanwhile
    // another discrec client still sees our client name as the owner.
    let script = format!(
        "python3 -c \"import os; os.open('{dev}', os.O_RDONLY|os.O_EXCL)\" && DISCREC_RUN_DIR={run} {DISCREC} owner {dev}",
        dev = lo.dev.display(),
        run = s.run.display()
    );
    let o = s
        .discrec()
        .args(["lock", "--client", "Wrapped Burn"])
        .arg(&lo.dev)
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Wrapped Burn\n");
}

#[test]
fn force_without_root_says_it_needs_root() {
    if !loop_ok() || !second_user() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(16);
    lo.mkfs("ext2");
    let mnt = s.dir.path().join("mnt");
    mount(&lo.dev, &mnt);
    chmod(&lo.dev, 0o666);
    let exe = world_readable_copy(DISCREC);
    let o = Command::new("setpriv")
        .args(["--reuid", USER2, "--regid", USER2, "--init-groups", "env"])
        .arg(format!("DISCREC_RUN_DIR={}", s.run.display()))
        .arg(exe)
        .args(["lock", "--force"])
        .arg(&lo.dev)
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("only root may unmount") && err.contains("E_ACCESSDENIED"), "{err}");
    assert!(!err.contains("busy"), "{err}");
    assert!(is_mounted(&mnt), "nothing was unmounted");
    Command::new("umount").arg(&mnt).status().unwrap();
}

/// A sparse image's size promises nothing: `truncate -s 100M` on a 10 MiB
/// file system. Its free space is what the file system holds, and a
/// larger source is refused before the first sector, leaving it blank
/// (it was written up to ENOSPC and left closed).
#[test]
fn a_sparse_image_larger_than_its_file_system_is_refused_before_the_first_sector() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let small = s.dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let o = Command::new("mount").args(["-t", "tmpfs", "-o", "size=10M", "tmpfs"]).arg(&small).output().unwrap();
    assert!(o.status.success(), "mount tmpfs: {}", String::from_utf8_lossy(&o.stderr));
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&small);
    let img = small.join("disc.img");
    std::fs::File::create(&img).unwrap().set_len(100 << 20).unwrap();
    let m = Recorder::open_in(&img, &s.run).unwrap().medium().unwrap();
    assert_eq!(m.total_sectors, 51200);
    assert!(m.free_sectors <= 5120, "free sectors {} on a 10 MiB file system", m.free_sectors);
    let src = s.dir.path().join("src.iso");
    std::fs::write(&src, vec![5u8; 20 << 20]).unwrap();
    let o = s.discrec().arg("burn").arg(&img).arg(&src).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(19), "{err}");
    assert!(err.contains("needs 10240 sectors"), "{err}");
    let m = Recorder::open_in(&img, &s.run).unwrap().medium().unwrap();
    assert!(m.state.contains(discrec::medium::MediaState::BLANK), "the image was written: {}", m.state);
    // What fits is written.
    let fits = s.dir.path().join("fits.iso");
    std::fs::write(&fits, vec![6u8; 4 << 20]).unwrap();
    let o = s.discrec().arg("burn").arg(&img).arg(&fits).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

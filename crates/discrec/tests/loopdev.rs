//! Root tier: exclusive access on real block devices (loop devices) with
//! real ext2/ext4 mounts, real O_EXCL/flock/fcntl holders, real SIGKILL.
//! Needs root; skips with a reason elsewhere (fails under CI).
//!
//! The library's half; the command line's (`discrec lock -- COMMAND`,
//! `burn`) is `tests/loopdev.rs`.

use std::os::unix::fs::FileTypeExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;
use discrec::Recorder;

#[test]
fn held_drive_refuses_mount_and_exclusive_open_until_sigkill() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(16);
    lo.mkfs("ext4");
    let mnt = s.dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mut a = s.probe();
    a.cmd(&format!("open h {}", lo.dev.display()));
    assert_eq!(a.cmd("acquire h 0 Block Holder")["ok"], true);
    let m = Command::new("mount").arg(&lo.dev).arg(&mnt).stderr(Stdio::null()).status().unwrap();
    assert!(!m.success(), "mount must fail while discrec holds the drive");
    assert!(excl_open_fails(&lo.dev), "O_EXCL open must fail while held");
    let o = Recorder::open_in(&lo.dev, &s.run).unwrap().exclusive_access_owner().unwrap().unwrap();
    assert_eq!((o.client_name.as_deref(), o.pid), (Some("Block Holder"), Some(a.pid)));
    a.kill9();
    assert!(!excl_open_fails(&lo.dev), "SIGKILL frees the kernel claim");
    mount(&lo.dev, &mnt);
    assert!(is_mounted(&mnt));
    Command::new("umount").arg(&mnt).status().unwrap();
}

#[test]
fn c2_mounted_without_force_is_refused_and_left_mounted() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(16);
    lo.mkfs("ext2");
    let mnt = s.dir.path().join("my disc");
    mount(&lo.dev, &mnt);
    let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    let e = r.acquire_exclusive_access(false, "Polite").unwrap_err();
    assert_eq!((e.name(), e.exit_code()), ("E_ACCESSDENIED", 3));
    assert!(e.to_string().contains(mnt.to_str().unwrap()), "names the mount point: {e}");
    assert!(is_mounted(&mnt), "force=false unmounts nothing");
    assert!(r.exclusive_access_owner().unwrap().is_none(), "no lock left behind");
    Command::new("umount").arg(&mnt).status().unwrap();
}

#[test]
fn c3_force_unmounts_and_keeps_written_data() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(32);
    lo.mkfs("ext4");
    let mnt = s.dir.path().join("mnt");
    mount(&lo.dev, &mnt);
    // Written, not synced: unmount must flush it.
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(mnt.join("data.bin"), &payload).unwrap();
    let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    r.acquire_exclusive_access(true, "Forceful").unwrap();
    assert!(!is_mounted(&mnt), "force unmounted it");
    assert!(r.volume_still_mounted().is_empty());
    assert!(excl_open_fails(&lo.dev), "and holds the kernel claim");
    r.release_exclusive_access().unwrap();
    mount(&lo.dev, &mnt);
    assert_eq!(std::fs::read(mnt.join("data.bin")).unwrap(), payload, "no data lost");
    Command::new("umount").arg(&mnt).status().unwrap();
}

#[test]
fn c3_busy_mount_is_granted_and_reported() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(16);
    lo.mkfs("ext4");
    let mnt = s.dir.path().join("mnt");
    mount(&lo.dev, &mnt);
    std::fs::write(mnt.join("f"), b"keep me").unwrap();
    // A process with an open file keeps the mount busy.
    let mut busy = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 3<'{}'; exec sleep 30", mnt.join("f").display()))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    r.acquire_exclusive_access(true, "Forceful").unwrap();
    assert_eq!(r.volume_still_mounted().len(), 1);
    assert_eq!(r.volume_still_mounted()[0].mount_point, mnt);
    assert!(is_mounted(&mnt), "never lazily detached");
    assert_eq!(std::fs::read(mnt.join("f")).unwrap(), b"keep me");
    // Other clients still see it held.
    let e = Recorder::open_in(&lo.dev, &s.run).unwrap().acquire_exclusive_access(false, "Other").unwrap_err();
    assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED");
    let _ = busy.kill();
    let _ = busy.wait();
    drop(r);
    Command::new("umount").arg(&mnt).status().unwrap();
}

/// Start a foreign holder and wait until it holds.
fn foreign(script: &str) -> std::process::Child {
    let mut c = Command::new("python3").arg("-c").arg(script).stdout(Stdio::piped()).spawn().unwrap();
    use std::io::Read;
    let mut b = [0u8; 1];
    c.stdout.as_mut().unwrap().read_exact(&mut b).unwrap();
    c
}

#[test]
fn foreign_holders_are_refused_with_their_name() {
    if !loop_ok() {
        return;
    }
    if !tool_ok("python3", "-V") {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(8);
    let dev = lo.dev.display().to_string();
    let cases = [
        ("O_EXCL open", format!("import os,sys,time; fd=os.open('{dev}', os.O_RDONLY|os.O_EXCL); print(1,flush=True); time.sleep(30)"), "open in python3"),
        ("fcntl lock", format!("import os,sys,time,fcntl; fd=os.open('{dev}', os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX); print(1,flush=True); time.sleep(30)"), "fcntl lock held by python3"),
        ("flock", format!("import os,sys,time,fcntl; fd=os.open('{dev}', os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); print(1,flush=True); time.sleep(30)"), "flock held by python3"),
        // In the range of discrec's hints, but not one (POSIX, not OFD).
        ("fcntl lock far out", format!("import os,sys,time,fcntl; fd=os.open('{dev}', os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX, 1, (1<<62)+5); print(1,flush=True); time.sleep(30)"), "fcntl lock held by python3"),
    ];
    for (what, script, expect) in cases {
        let mut h = foreign(&script);
        let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
        let e = r.acquire_exclusive_access(false, "Hopeful").unwrap_err();
        assert_eq!(e.name(), "E_ACCESSDENIED", "{what}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(&format!("{expect} (pid {})", h.id())), "{what}: {msg}");
        if what != "O_EXCL open" {
            // Lock holders are owners other programs can ask about.
            let o = r.exclusive_access_owner().unwrap().expect("foreign owner");
            assert_eq!(
                (o.by_discrec, o.pid, o.command.as_deref(), o.client_name.as_deref()),
                (false, Some(h.id() as i32), Some("python3"), None)
            );
        }
        let _ = h.kill();
        let _ = h.wait();
        r.acquire_exclusive_access(false, "Hopeful").unwrap();
        r.release_exclusive_access().unwrap();
    }
    // flock(1) around a command: the holder is named as flock.
    let mut f = Command::new("flock").arg(&lo.dev).args(["sleep", "30"]).spawn().unwrap();
    let r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    assert!(eventually(Duration::from_secs(3), || r.exclusive_access_owner().unwrap().is_some()));
    let mut r = r;
    let e = r.acquire_exclusive_access(false, "Hopeful").unwrap_err();
    assert!(e.to_string().contains(&format!("flock (pid {})", f.id())), "{e}");
    let _ = Command::new("pkill").args(["-P", &f.id().to_string()]).status();
    let _ = f.kill();
    let _ = f.wait();
}

#[test]
fn transient_exclusive_opener_is_waited_out() {
    if !loop_ok() || !tool_ok("python3", "-V") {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(8);
    // Like udev's cdrom_id: an O_EXCL open for 100 ms.
    let mut h = foreign(&format!(
        "import os,time; fd=os.open('{}', os.O_RDONLY|os.O_EXCL); print(1,flush=True); time.sleep(0.1)",
        lo.dev.display()
    ));
    let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    r.acquire_exclusive_access(false, "Patient enough").unwrap();
    assert!(r.holds_kernel_claim());
    let _ = h.wait();
}

#[test]
fn the_lock_belongs_to_the_drive_not_the_node() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(8);
    // A by-id style link and a second node made with mknod.
    let link = s.dir.path().join("by-id-link");
    std::os::unix::fs::symlink(&lo.dev, &link).unwrap();
    let st = rustix::fs::stat(&lo.dev).unwrap();
    let node = s.dir.path().join("other-node");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &node,
        rustix::fs::FileType::BlockDevice,
        rustix::fs::Mode::from_raw_mode(0o660),
        st.st_rdev,
    )
    .unwrap();
    assert!(std::fs::metadata(&node).unwrap().file_type().is_block_device());
    let mut a = Recorder::open_in(&link, &s.run).unwrap();
    a.acquire_exclusive_access(false, "Via Link").unwrap();
    for p in [&lo.dev, &node] {
        let mut b = Recorder::open_in(p, &s.run).unwrap();
        let e = b.acquire_exclusive_access(false, "Via Node").unwrap_err();
        assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED", "{}: {e}", p.display());
        assert_eq!(b.exclusive_access_owner().unwrap().unwrap().client_name.as_deref(), Some("Via Link"));
    }
}

#[test]
fn c11_release_sends_a_change_uevent() {
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(8);
    let mut events = Uevents::new();
    let name = lo.dev.file_name().unwrap().to_str().unwrap().to_string();
    let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    r.acquire_exclusive_access(false, "Notifier").unwrap();
    r.acquire_exclusive_access(false, "Notifier").unwrap();
    r.release_exclusive_access().unwrap();
    assert!(!events.change_of(&name, Duration::from_secs(2)), "no change event while still held (count 1)");
    r.release_exclusive_access().unwrap();
    assert!(events.change_of(&name, Duration::from_secs(2)), "change event after the last release");
}

#[test]
fn force_unmounts_in_other_mount_namespaces() {
    if !loop_ok() {
        return;
    }
    if !tool_ok("unshare", "--version") {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(16);
    lo.mkfs("ext4");
    let mnt = s.dir.path().join("ns-mnt");
    std::fs::create_dir(&mnt).unwrap();
    // A private mount namespace that mounts the drive and stays alive.
    let mut ns = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!("mount {} {} && echo ready && exec sleep 30", lo.dev.display(), mnt.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(ns.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    assert!(!is_mounted(&mnt), "not visible in our namespace");
    let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    let e = r.acquire_exclusive_access(false, "Ns").unwrap_err();
    assert!(
        e.to_string().contains(&format!("in the mount namespace of pid {}", ns.id()))
            || e.to_string().contains("mounted at"),
        "{e}"
    );
    r.acquire_exclusive_access(true, "Ns").unwrap();
    assert!(r.volume_still_mounted().is_empty());
    assert!(r.holds_kernel_claim(), "unmounted there too, so the claim is ours");
    let _ = ns.kill();
    let _ = ns.wait();
}

#[test]
fn force_is_granted_with_a_locked_copy_in_another_users_namespace() {
    // A sandbox (`unshare -Urm`) of another user keeps a copy of the mount
    // that root cannot remove: force unmounts the real one, and is granted
    // with the copy reported as still mounted, naming its process (C3).
    if !loop_ok() || !second_user() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(16);
    lo.mkfs("ext4");
    let mnt = s.dir.path().join("mnt");
    mount(&lo.dev, &mnt);
    let mut sandbox = Command::new("setpriv")
        .args([
            "--reuid",
            USER2,
            "--regid",
            USER2,
            "--init-groups",
            "unshare",
            "-Urm",
            "sh",
            "-c",
            "echo ready; exec sleep 30",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(sandbox.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    r.acquire_exclusive_access(true, "Forced").unwrap();
    assert!(!is_mounted(&mnt), "the real mount is gone");
    let still = r.volume_still_mounted().to_vec();
    assert_eq!(still.len(), 1, "{still:?}");
    assert_eq!(still[0].namespace_pid, Some(sandbox.id() as i32), "{still:?}");
    assert!(still[0].to_string().contains(&format!("sleep (pid {})", sandbox.id())), "{}", still[0]);
    let o = r.exclusive_access_owner().unwrap().unwrap();
    assert_eq!(o.client_name.as_deref(), Some("Forced"));
    let _ = sandbox.kill();
    let _ = sandbox.wait();
}

/// Whether a descriptor of the watched node that was open for writing is
/// closed within `within` (what udevd watches a disk for).
fn closed_after_writing(watch: &rustix::fd::OwnedFd, within: Duration) -> bool {
    let mut fds = [rustix::event::PollFd::new(watch, rustix::event::PollFlags::IN)];
    let timeout = rustix::event::Timespec::try_from(within).unwrap();
    if rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) == 0 {
        return false;
    }
    let mut buf = [0u8; 4096];
    rustix::io::read(watch, &mut buf).is_ok_and(|n| n > 0)
}

/// udevd's record of discrec's rule having run on `dev` (a fake: this
/// host has no udevd; the guest tier runs the real one), removed on drop.
struct RuleRan(std::path::PathBuf);

impl RuleRan {
    fn on(dev: &std::path::Path, held: bool) -> RuleRan {
        let rdev = std::fs::metadata(dev).map(|m| std::os::unix::fs::MetadataExt::rdev(&m)).unwrap();
        let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
        std::fs::create_dir_all("/run/udev/data").unwrap();
        let path = std::path::PathBuf::from(format!("/run/udev/data/b{major}:{minor}"));
        std::fs::write(&path, format!("E:DISCREC_HOLD={}\n", held as u8)).unwrap();
        RuleRan(path)
    }
}

impl Drop for RuleRan {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_desktop_hears_every_end_of_a_hold() {
    use rustix::fs::inotify;
    if !loop_ok() {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(8);
    let hold = || discrec::udev::properties(&lo.dev).unwrap();
    assert_eq!(hold(), vec![("DISCREC_HOLD", "0")], "a free drive");
    let watch = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).unwrap();
    inotify::add_watch(&watch, &lo.dev, inotify::WatchFlags::CLOSE_WRITE).unwrap();

    // A disk discrec's rule does not watch gets no tripwire: closing it
    // would only have udev read it again.
    let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    r.acquire_exclusive_access(false, "Tripwire").unwrap();
    r.release_exclusive_access().unwrap();
    assert!(!closed_after_writing(&watch, Duration::from_millis(300)), "no tripwire without the rule");

    // The rule ran (and said held: nothing to announce).
    let _rule = RuleRan::on(&lo.dev, true);
    // Killed: the kernel closes the holder's tripwire.
    let mut a = s.probe();
    a.cmd(&format!("open h {}", lo.dev.display()));
    assert_eq!(a.cmd("acquire h 0 Tripwire")["ok"], true);
    assert_eq!(hold(), vec![("DISCREC_HOLD", "1")], "held by another process");
    assert!(!closed_after_writing(&watch, Duration::from_millis(300)), "taking the drive closes nothing");
    a.kill9();
    assert!(closed_after_writing(&watch, Duration::from_secs(2)), "udevd hears a SIGKILLed holder go");
    assert_eq!(hold(), vec![("DISCREC_HOLD", "0")], "free after the SIGKILL");

    // Released, after a nested acquire: once, at the last release.
    r.acquire_exclusive_access(false, "Tripwire").unwrap();
    r.acquire_exclusive_access(false, "Tripwire").unwrap();
    assert_eq!(hold(), vec![("DISCREC_HOLD", "1")], "held by this process");
    r.release_exclusive_access().unwrap();
    assert!(!closed_after_writing(&watch, Duration::from_millis(300)), "still held at count 1");
    r.release_exclusive_access().unwrap();
    assert!(closed_after_writing(&watch, Duration::from_secs(2)), "udevd hears the release");
    assert_eq!(hold(), vec![("DISCREC_HOLD", "0")]);
}

#[test]
fn a_hint_is_no_hold() {
    if !loop_ok() || !tool_ok("python3", "-V") {
        return;
    }
    let s = Scratch::new();
    let lo = Loop::new(8);
    let dev = lo.dev.display().to_string();
    // Another process's hint: one byte, an open file's write lock, in range.
    let mut h = foreign(&format!(
        "import os,time,fcntl,struct; fd=os.open('{dev}', os.O_WRONLY); \
         fcntl.fcntl(fd, 37, struct.pack('hhqqi', fcntl.F_WRLCK, 0, (1<<62)+12345, 1, 0)); \
         print(1,flush=True); time.sleep(30)"
    ));
    assert_eq!(discrec::udev::properties(&lo.dev).unwrap(), vec![("DISCREC_HOLD", "1")], "udev hears of it");
    let mut r = Recorder::open_in(&lo.dev, &s.run).unwrap();
    assert!(r.exclusive_access_owner().unwrap().is_none(), "nobody is named for a hint");
    assert!(r.status().unwrap().other_locks.is_empty(), "no lock is listed for a hint");
    r.acquire_exclusive_access(false, "Past a hint").unwrap();
    r.release_exclusive_access().unwrap();
    let _ = h.kill();
    let _ = h.wait();
    assert_eq!(discrec::udev::properties(&lo.dev).unwrap(), vec![("DISCREC_HOLD", "0")]);
}

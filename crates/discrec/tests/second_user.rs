//! Second-user tier: a real unprivileged user attacks another user's lock
//! and owner records (`docs/design.md`, "What it means on Linux": records cannot be forged,
//! pre-created, redirected or left stale; no lock without access; nobody
//! deletes someone else's lock). Needs root to create the user.
//!
//! The library's half; the command line's (`discrec burn`) is
//! `tests/second_user.rs`.

use std::time::{Duration, Instant};

use crate::probe::*;
use crate::support::*;
use discrec::{Recorder, Target};

fn key_of(p: &std::path::Path) -> String {
    Target::resolve(p).unwrap().key.to_string()
}

fn uid_of(user: &str) -> u32 {
    let o = std::process::Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().parse().unwrap()
}

fn forged_json(key: &str, pid: i32, uid: u32) -> String {
    format!(r#"{{"v":4,"key":"{key}","pid":{pid},"uid":{uid},"client":"Evil","node":"/x","command":"evil","fd":3}}"#)
}

#[test]
fn mutual_exclusion_across_users_both_ways() {
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("shared.iso");
    let mut root = s.probe();
    let mut other = Probe::spawn(&s.run, Some(USER2));
    let p = img.display().to_string();
    root.cmd(&format!("open h {p}"));
    assert_eq!(other.cmd(&format!("open h {p}"))["ok"], true);
    root.cmd("acquire h 0 Root Burner");
    let r = other.cmd("acquire h 0 User Burner");
    assert_eq!(r["error"], "E_IMAPI_RECORDER_LOCKED");
    assert_eq!(other.cmd("owner h")["owner"]["client_name"], "Root Burner");
    root.cmd("release h");
    assert_eq!(other.cmd("acquire h 0 User Burner")["ok"], true);
    let o = root.cmd("owner h")["owner"].clone();
    assert_eq!(
        (o["client_name"].as_str(), o["user"].as_str(), o["by_discrec"].as_bool()),
        (Some("User Burner"), Some(USER2), Some(true))
    );
    assert_eq!(root.cmd("acquire h 0 Root Burner")["error"], "E_IMAPI_RECORDER_LOCKED");
}

#[test]
fn no_lock_without_access_but_owner_query_works() {
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("private.iso");
    chmod(&img, 0o644);
    let mut other = Probe::spawn(&s.run, Some(USER2));
    other.cmd(&format!("open h {}", img.display()));
    let r = other.cmd("acquire h 0 Intruder");
    assert_eq!((r["error"].as_str(), r["code"].as_u64()), (Some("E_ACCESSDENIED"), Some(0x8007_0005)));
    assert!(r["msg"].as_str().unwrap().contains("no permission"), "{r}");
    let mut root = s.probe();
    root.cmd(&format!("open h {}", img.display()));
    root.cmd("acquire h 0 Owner");
    assert_eq!(other.cmd("owner h")["owner"]["client_name"], "Owner", "anyone who can see it may ask");
    // A waiter without access cannot even queue.
    let r = other.cmd("wait h 0.2 Intruder");
    assert_eq!(r["error"], "E_ACCESSDENIED");
}

/// The inode number the next file made in `dir` is likely to get (tmpfs
/// and ext4 hand them out nearly in order): an attacker's best guess at
/// the name of the next owner record.
fn next_inode_guess(dir: &std::path::Path) -> u64 {
    let p = dir.join(format!(".guess.{}", std::process::id()));
    std::fs::write(&p, b"").unwrap();
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).unwrap());
    std::fs::remove_file(&p).unwrap();
    ino
}

#[test]
fn precreated_forged_symlinked_and_fifo_records_are_never_believed() {
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("target.iso");
    let key = key_of(&img);
    let sentinel = s.dir.path().join("sentinel");
    std::fs::write(&sentinel, b"untouched").unwrap();
    for attack in ["forged-file", "symlink-to-root-file", "symlink-to-forgery", "fifo"] {
        // The victim, an unprivileged user like the attacker, exists (its
        // pid is known) but has not locked yet. The attacker takes every
        // record name the victim's record is likely to get: the next 3,000
        // inode numbers of the runtime directory's file system.
        let mut victim = Probe::spawn(&s.run, Some(USER3));
        let pid = victim.pid;
        let guess = next_inode_guess(&s.run);
        let forged = forged_json(&key, pid, uid_of(USER3));
        let plant = match attack {
            "forged-file" => format!("printf '%s' '{forged}' > \"$n\""),
            "symlink-to-root-file" => format!("ln -s '{}' \"$n\"", sentinel.display()),
            "symlink-to-forgery" => format!("ln -s '{run}/mine' \"$n\"", run = s.run.display()),
            _ => "mkfifo \"$n\"".to_string(),
        };
        let script = format!(
            "printf '%s' '{forged}' > '{run}/mine'; i={guess}; end=$((i + 3000)); \
             while [ $i -lt $end ]; do n='{run}/discrec.{key}.'$i; {plant} || exit 1; i=$((i + 1)); done",
            run = s.run.display()
        );
        let (ok, err) = as_user2(&script);
        assert!(ok, "{attack}: the attacker could not even plant: {err}");
        victim.cmd(&format!("open h {}", img.display()));
        assert_eq!(victim.cmd("acquire h 0 Real Owner")["ok"], true, "{attack}");
        let t = Instant::now();
        let o = Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "{attack}: the reader must not hang");
        assert_eq!(o.client_name.as_deref(), Some("Real Owner"), "{attack}: {o:?}");
        assert_eq!((o.pid, o.user.as_deref()), (Some(pid), Some(USER3)));
        assert_eq!(std::fs::read(&sentinel).unwrap(), b"untouched", "{attack}: written through a link");
        victim.cmd("release h");
        assert!(Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().is_none());
        let _ = as_user2(&format!("rm -f '{}'/discrec.* '{}/mine'", s.run.display(), s.run.display()));
    }
}

#[test]
fn records_of_another_user_for_a_live_holder_are_not_believed() {
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("target.iso");
    let key = key_of(&img);
    let mut victim = Probe::spawn(&s.run, Some(USER3));
    victim.cmd(&format!("open h {}", img.display()));
    assert_eq!(victim.cmd("acquire h 0 Real Owner")["ok"], true);
    let pid = victim.pid;
    let real: Vec<_> = std::fs::read_dir(&s.run)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&format!("discrec.{key}.")))
        .filter(|p| p.symlink_metadata().unwrap().file_type().is_file())
        .collect();
    assert_eq!(real.len(), 1, "one record: {real:?}");
    // The attacker cannot remove or replace the real record (sticky)...
    let forged = forged_json(&key, pid, uid_of(USER3));
    let (removed, _) = as_user2(&format!("rm -f '{}'", real[0].display()));
    assert!(!removed, "another user removed the record");
    let (replaced, _) = as_user2(&format!(
        "printf '%s' '{forged}' > '{run}/f' && mv -f '{run}/f' '{}'",
        real[0].display(),
        run = s.run.display()
    ));
    assert!(!replaced, "another user replaced the record");
    // ...and a forgery exact in every field, locked by a live process of
    // the attacker, is not the holder's.
    let script = format!(
        "exec python3 -c \"import os,fcntl,time; fd=os.open('{run}/f', os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); \
         os.link('{run}/f', '{run}/discrec.{key}.%d' % os.fstat(fd).st_ino); print('ok', flush=True); time.sleep(30)\"",
        run = s.run.display()
    );
    let mut attacker = spawn_as_user2_ready(&script);
    let o = Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().unwrap();
    assert_eq!((o.client_name.as_deref(), o.pid), (Some("Real Owner"), Some(pid)));
    let _ = attacker.kill();
    let _ = attacker.wait();
}

#[test]
fn read_access_is_not_enough_to_pose_as_a_client() {
    // A user who may only read an image takes its flock and writes a
    // record in its own name, as a discrec client would: it must show as
    // the foreign program it is, and the owner's acquire says so.
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("mine.iso");
    chmod(&img, 0o644);
    let key = key_of(&img);
    let mut attacker = spawn_as_user2_ready(&pose_script(&img, &s.run, &key));
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    let o = r.exclusive_access_owner().unwrap().unwrap();
    assert_eq!((o.client_name.as_deref(), o.by_discrec, o.user.as_deref()), (None, false, Some(USER2)), "{o:?}");
    let e = r.acquire_exclusive_access(false, "Owner").unwrap_err();
    assert_eq!(e.name(), "E_ACCESSDENIED", "{e}");
    assert!(e.to_string().contains("python3"), "names the program: {e}");
    assert!(e.to_string().contains(&format!("user {USER2}")), "names the user: {e}");
    let _ = attacker.kill();
    let _ = attacker.wait();
}

#[test]
fn stale_records_never_show_and_no_one_deletes_a_lock() {
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("target.iso");
    let mut other = Probe::spawn(&s.run, Some(USER2));
    other.cmd(&format!("open h {}", img.display()));
    other.cmd("acquire h 0 Crashed App");
    other.kill9();
    // Its record is still on disk, owned by the second user...
    assert!(std::fs::read_dir(&s.run).unwrap().count() >= 1);
    // ...but the drive is free and nobody is reported.
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    assert!(r.exclusive_access_owner().unwrap().is_none(), "stale record shown");
    r.acquire_exclusive_access(false, "Root Holder").unwrap();
    // The second user removes every file it can in the runtime directory:
    // the lock lives in the kernel, not in a file, so it stays.
    let _ = as_user2(&format!("rm -rf '{}'/* 2>/dev/null", s.run.display()));
    let mut other = Probe::spawn(&s.run, Some(USER2));
    other.cmd(&format!("open h {}", img.display()));
    assert_eq!(other.cmd("acquire h 0 Thief")["error"], "E_IMAPI_RECORDER_LOCKED");
    assert_eq!(other.cmd("owner h")["owner"]["client_name"], "Root Holder");
}

#[test]
fn planted_tickets_cannot_hold_up_waiters() {
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("target.iso");
    chmod(&img, 0o644); // the second user may read but not use it
    let key = key_of(&img);
    let mut holder = s.probe();
    holder.cmd(&format!("open h {}", img.display()));
    holder.cmd("acquire h 0 Holder");
    // An "older" ticket, really flocked by a live process of the attacker.
    let script = format!(
        "exec python3 -c \"import os,fcntl,time; q='{run}/discrec.{key}.q'; os.path.isdir(q) or (os.mkdir(q), os.chmod(q, 0o1777)); p=q+'/000000000000000000000001.%d' % os.getpid(); fd=os.open(p, os.O_WRONLY|os.O_CREAT, 0o644); fcntl.flock(fd, fcntl.LOCK_EX); print('ok', flush=True); time.sleep(30)\"",
        run = s.run.display()
    );
    let mut attacker = spawn_as_user2_ready(&script);
    let mut waiter = s.probe();
    waiter.cmd(&format!("open h {}", img.display()));
    waiter.send("wait h 10 Waiter");
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    holder.cmd("release h");
    assert_eq!(waiter.answer()["ok"], true);
    assert!(t.elapsed() < Duration::from_secs(1), "held up by a planted ticket: {:?}", t.elapsed());
    let _ = attacker.kill();
    let _ = attacker.wait();
}

/// Give `path` a POSIX access ACL: the mode's owner, group and other bits,
/// plus `user` with `perm` (as setfacl would write it; root only).
fn set_acl_user(path: &std::path::Path, user: &str, perm: u16) {
    let uid = uid_of(user);
    let mut b = 2u32.to_le_bytes().to_vec();
    for (tag, p, id) in [(1u16, 6u16, 0u32), (2, perm, uid), (4, 6, 0), (0x10, 6, 0), (0x20, 6, 0)] {
        b.extend(tag.to_le_bytes());
        b.extend(p.to_le_bytes());
        b.extend(id.to_le_bytes());
    }
    rustix::fs::setxattr(path, "system.posix_acl_access", &b, rustix::fs::XattrFlags::empty())
        .expect("set a POSIX ACL (the file system must support them)");
}

#[test]
fn an_acl_that_denies_writing_is_not_enough_to_pose_as_a_client() {
    // The image is 0666, but an ACL gives the second user read access only:
    // it may not use the drive, so its flock and record (with a mark) are
    // those of a foreign program.
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("acl.iso");
    set_acl_user(&img, USER2, 4);
    let key = key_of(&img);
    let mut attacker = spawn_as_user2_ready(&pose_script(&img, &s.run, &key));
    let o = Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().unwrap();
    assert_eq!((o.client_name.as_deref(), o.by_discrec), (None, false), "{o:?}");
    let _ = attacker.kill();
    let _ = attacker.wait();

    // And a user the ACL lets write to a 0640 image is a real client.
    let img2 = s.image("acl-rw.iso");
    chmod(&img2, 0o640);
    set_acl_user(&img2, USER3, 6);
    let mut user = Probe::spawn(&s.run, Some(USER3));
    user.cmd(&format!("open h {}", img2.display()));
    assert_eq!(user.cmd("acquire h 0 ACL Burner")["ok"], true);
    let o = Recorder::open_in(&img2, &s.run).unwrap().exclusive_access_owner().unwrap().unwrap();
    assert_eq!((o.client_name.as_deref(), o.by_discrec), (Some("ACL Burner"), true), "{o:?}");
}

/// A script that poses as a discrec client named "Victim Burner" on `img`
/// the way a real one holds a drive: the image's flock (a read-only open
/// is enough for that), and a record with a mark, as write_record makes it.
fn pose_script(img: &std::path::Path, run: &std::path::Path, key: &str) -> String {
    format!(
        "exec python3 -c \"import os,fcntl,time,json; d=os.open('{img}', os.O_RDONLY); fcntl.flock(d, fcntl.LOCK_EX); \
         p='{run}/t'; fd=os.open(p, os.O_WRONLY|os.O_CREAT, 0o644); fcntl.flock(fd, fcntl.LOCK_EX); \
         os.write(fd, json.dumps(dict(v=4,key='{key}',pid=os.getpid(),uid=os.getuid(),client='Victim Burner',node='{img}',command='discrec',fd=d)).encode()); \
         fcntl.lockf(fd, fcntl.LOCK_EX, 1, 4242); os.rename(p, '{run}/discrec.{key}.4242'); print('ok', flush=True); time.sleep(30)\"",
        img = img.display(),
        run = run.display()
    )
}

#[test]
fn pointers_taken_by_another_user_cost_speed_not_the_owners_name() {
    // The second user takes the names of the per-drive pointer and of
    // the third user's pointer before the third user's client comes, and points them
    // at a record of its own, marked and locked as a real one (it may
    // write the image, so it passes the may-open check). That client
    // cannot set them; everyone must still be told its name.
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("squat.iso");
    let key = key_of(&img);
    let run = s.run.display();
    let squat = format!(
        "exec python3 -c \"import os,fcntl,time,json; d=os.open('{img}', os.O_RDWR); \
         p='{run}/t'; fd=os.open(p, os.O_WRONLY|os.O_CREAT, 0o644); fcntl.flock(fd, fcntl.LOCK_EX); \
         os.write(fd, json.dumps(dict(v=4,key='{key}',pid=os.getpid(),uid=os.getuid(),client='Squatter',node='{img}',command='discrec',fd=d)).encode()); \
         fcntl.lockf(fd, fcntl.LOCK_EX, 1, 4242); os.rename(p, '{run}/discrec.{key}.4242'); \
         [os.symlink('discrec.{key}.4242', '{run}/discrec.{key}.' + n) for n in ('holder', 'last.{uid3}')]; \
         print('ok', flush=True); time.sleep(60)\"",
        img = img.display(),
        uid3 = uid_of(USER3),
    );
    let _squatter = spawn_as_user2_ready(&squat);
    let mut victim = Probe::spawn(&s.run, Some(USER3));
    victim.cmd(&format!("open h {}", img.display()));
    assert_eq!(victim.cmd("acquire h 0 Victim Burner")["ok"], true);
    let holder = s.run.join(format!("discrec.{key}.holder"));
    assert_eq!(std::fs::read_link(&holder).unwrap().to_str(), Some(&*format!("discrec.{key}.4242")), "still taken");
    let o = Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().unwrap();
    assert_eq!((o.client_name.as_deref(), o.pid), (Some("Victim Burner"), Some(victim.pid)), "{o:?}");
    let mut third = Probe::spawn(&s.run, Some(USER3));
    third.cmd(&format!("open h {}", img.display()));
    assert_eq!(third.cmd("owner h")["owner"]["client_name"], "Victim Burner");
    assert_eq!(third.cmd("acquire h 0 Third")["error"], "E_IMAPI_RECORDER_LOCKED");
}

#[test]
fn names_do_not_vanish_whatever_another_user_does_to_shared_directories() {
    // The system's record directories, no DISCREC_RUN_DIR: /run/discrec
    // does not exist (no tmpfiles.d yet), a user holds an image, another
    // user squats every name the old design used and floods /run/lock;
    // root and users must still see the holder as a discrec client.
    if !second_user() {
        return;
    }
    let _serial = system_dirs_lock();
    let _ = std::fs::remove_dir_all(discrec::records::DEFAULT_RUN_DIR);
    let s = Scratch::new();
    let img = s.image("shared.iso");
    let (ok, err) = as_user2(
        "rm -rf /tmp/discrec; ln -s /etc /tmp/discrec && mkdir -p /tmp/discrec.d && \
         for i in $(seq 1 2000); do : > /run/lock/discrec.junk.$i; done",
    );
    assert!(ok, "{err}");
    let mut victim = Probe::spawn_system(USER3);
    victim.cmd(&format!("open h {}", img.display()));
    assert_eq!(victim.cmd("acquire h 0 Victim Burner")["ok"], true);
    // Root, with the system directories (and now creating /run/discrec).
    std::env::remove_var("DISCREC_RUN_DIR");
    let mut r = Recorder::open(&img).unwrap();
    let o = r.exclusive_access_owner().unwrap().expect("held");
    assert_eq!((o.client_name.as_deref(), o.by_discrec, o.user.as_deref()), (Some("Victim Burner"), true, Some(USER3)));
    let e = r.acquire_exclusive_access(false, "Root").unwrap_err();
    assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED", "{e}");
    let mut other = Probe::spawn_system(USER2);
    other.cmd(&format!("open h {}", img.display()));
    let a = other.cmd("acquire h 0 Other");
    assert_eq!(a["error"], "E_IMAPI_RECORDER_LOCKED", "{a}");
    assert_eq!(other.cmd("owner h")["owner"]["client_name"], "Victim Burner");
    // /run/discrec appears (root made it) while the record sits elsewhere.
    let mut rooted = Recorder::open(s.image("other.iso")).unwrap();
    rooted.acquire_exclusive_access(false, "Root").unwrap();
    assert!(std::path::Path::new(discrec::records::DEFAULT_RUN_DIR).is_dir());
    assert_eq!(other.cmd("owner h")["owner"]["client_name"], "Victim Burner");
    victim.cmd("release h");
    assert!(Recorder::open(&img).unwrap().exclusive_access_owner().unwrap().is_none());
    let _ = as_user2("rm -f /tmp/discrec /run/lock/discrec.junk.*; rmdir /tmp/discrec.d");
}

/// Tests that use the system's record directories run one at a time.
fn system_dirs_lock() -> std::fs::File {
    let f = std::fs::File::create("/tmp/discrec-test-system-dirs.lock").unwrap();
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).unwrap();
    f
}

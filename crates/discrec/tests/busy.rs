//! A busy machine: tens of thousands of unrelated locks, thousands of
//! processes, a flooded runtime directory, stopped waiters, holders in
//! other pid namespaces, an image renamed over while it is opened. Every
//! answer must stay right; times are printed (`timing:` lines), and the
//! costs are measured in `cargo bench --bench scale`.
//!
//! The library's half; the command line's (a burn under load) is
//! `tests/busy.rs`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::probe::*;
use crate::support::*;
use discrec::Recorder;

#[test]
fn owner_status_and_refusal_are_right_with_50000_unrelated_locks() {
    let _alone = alone();
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let _load = timed("taking 50,000 unrelated flocks", || LockLoad::new(LOCKS));
    let r = Recorder::open_in(&img, &s.run).unwrap();
    assert!(timed("owner of a free drive", || r.exclusive_access_owner().unwrap()).is_none());

    let mut holder = s.probe();
    holder.cmd(&format!("open h {}", img.display()));
    assert_eq!(holder.cmd("acquire h 0 Busy Burner")["ok"], true);
    // Many looks: the holder's locks land on either CPU's list.
    for _ in 0..5 {
        let o = timed("owner of a held drive", || r.exclusive_access_owner().unwrap()).expect("held");
        assert_eq!((o.client_name.as_deref(), o.pid), (Some("Busy Burner"), Some(holder.pid)));
    }
    let st = timed("status of a held drive", || r.status().unwrap());
    assert!(st.locked && st.owner.as_ref().unwrap().by_discrec, "{st:?}");

    let mut other = Recorder::open_in(&img, &s.run).unwrap();
    let t = Instant::now();
    let e = other.acquire_exclusive_access(false, "Second").unwrap_err();
    eprintln!("timing: refusal: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED", "{e}");
    assert!(e.to_string().contains("Busy Burner"), "{e}");

    // A holder that is not a discrec client is named for what it is.
    holder.cmd("release h");
    let mut flock =
        Command::new("flock").arg("--no-fork").arg(&img).args(["sleep", "30"]).stdout(Stdio::null()).spawn().unwrap();
    assert!(eventually(Duration::from_secs(5), || r.exclusive_access_owner().unwrap().is_some()));
    let o = timed("owner held by flock(1)", || r.exclusive_access_owner().unwrap()).unwrap();
    assert_eq!((o.by_discrec, o.pid, o.command.as_deref()), (false, Some(flock.id() as i32), Some("sleep")));
    let _ = flock.kill();
    let _ = flock.wait();
}

#[test]
fn a_flooded_runtime_directory_costs_no_deadline() {
    let _alone = alone();
    // Anyone may write to the runtime directory: 200,000 files in it and
    // in the drive's queue must not slow a query or stretch a deadline.
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let key = discrec::Target::resolve(&img).unwrap().key.to_string();
    let queue = s.run.join(format!("discrec.{key}.q"));
    std::fs::create_dir(&queue).unwrap();
    chmod(&queue, 0o1777);
    timed("flooding the runtime directory", || {
        for i in 0..150_000u32 {
            std::fs::File::create(s.run.join(format!("junk.{i}"))).unwrap();
        }
        for i in 0..50_000u32 {
            // Names that sort first and look like tickets.
            std::fs::File::create(queue.join(format!("{i:024}.1"))).unwrap();
        }
    });
    let mut flock =
        Command::new("flock").arg("--no-fork").arg(&img).args(["sleep", "30"]).stdout(Stdio::null()).spawn().unwrap();
    let r = Recorder::open_in(&img, &s.run).unwrap();
    assert!(eventually(Duration::from_secs(5), || r.exclusive_access_owner().unwrap().is_some()));
    // A holder that is not a discrec client costs up to two reads of
    // /proc/locks (whatever else the machine holds); listing 200,000
    // directory entries would cost far more than that.
    let t = Instant::now();
    discrec::holders::read_proc_locks().unwrap();
    let table = t.elapsed();
    let t = Instant::now();
    let o = r.exclusive_access_owner().unwrap().unwrap();
    let took = t.elapsed();
    eprintln!(
        "timing: owner query, flooded directory: {:.2} ms (a read of /proc/locks: {:.2} ms)",
        took.as_secs_f64() * 1e3,
        table.as_secs_f64() * 1e3
    );
    assert!(!o.by_discrec);
    assert!(took < Duration::from_millis(100) + 3 * table, "an owner query lists no directory: {took:?}");

    let t = Instant::now();
    let mut late = Recorder::open_in(&img, &s.run).unwrap();
    let e = late.acquire_exclusive_access_wait(false, "Late", Some(Duration::from_secs(1))).unwrap_err();
    let took = t.elapsed();
    eprintln!("timing: a wait of 1 s, flooded directory: {:.2} ms", took.as_secs_f64() * 1e3);
    assert_eq!(e.name(), "E_ACCESSDENIED", "held by flock(1), no discrec client: {e}");
    assert!(took < Duration::from_millis(1600), "the deadline holds: {took:?}");

    // When the holder goes, a waiter gets the drive at once.
    let mut w = s.probe();
    w.cmd(&format!("open h {}", img.display()));
    w.send("wait h 10 Waiter");
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let _ = flock.kill();
    let _ = flock.wait();
    assert_eq!(w.answer()["ok"], true);
    eprintln!("timing: waiter after the holder's death, flooded directory: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_stopped_waiter_loses_its_turn() {
    let _alone = alone();
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let p = img.display().to_string();
    let mut holder = s.probe();
    holder.cmd(&format!("open h {p}"));
    holder.cmd("acquire h 0 Holder");
    let mut first = s.probe();
    first.cmd(&format!("open h {p}"));
    first.send("wait h - First");
    std::thread::sleep(Duration::from_millis(100));
    let mut second = s.probe();
    second.cmd(&format!("open h {p}"));
    second.send("wait h 10 Second");
    std::thread::sleep(Duration::from_millis(100));
    // Ctrl-Z on the first waiter.
    let pid = rustix::process::Pid::from_raw(first.pid).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let t = Instant::now();
    holder.cmd("release h");
    assert_eq!(second.answer()["ok"], true, "the second waiter gets the drive");
    eprintln!("timing: past a stopped waiter: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    second.cmd("release h");
    assert_eq!(first.answer()["ok"], true, "the first gets it when it runs again");
}

#[test]
fn a_waiter_that_never_takes_its_turn_loses_it() {
    let _alone = alone();
    // A live, running process that holds an older ticket but never tries
    // (a hostile or hung waiter) holds the line up for a bounded time only.
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let key = discrec::Target::resolve(&img).unwrap().key.to_string();
    let queue = s.run.join(format!("discrec.{key}.q"));
    std::fs::create_dir(&queue).unwrap();
    chmod(&queue, 0o1777);
    let script = format!(
        "import os,fcntl,time; fd=os.open('{q}/000000000000000000000001.%d' % os.getpid(), os.O_WRONLY|os.O_CREAT, 0o644); fcntl.flock(fd, fcntl.LOCK_EX); print('ok', flush=True); time.sleep(60)",
        q = queue.display()
    );
    let mut squatter = spawn_ready(Command::new("python3").args(["-c", &script]), "ok");
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    let t = Instant::now();
    r.acquire_exclusive_access_wait(false, "Next", Some(Duration::from_secs(5))).unwrap();
    eprintln!("timing: past a waiter that never tries: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let _ = squatter.kill();
    let _ = squatter.wait();
}

#[test]
fn a_holder_in_another_pid_namespace_keeps_its_name() {
    let _alone = alone();
    if !is_root() {
        skip("needs root (unshare --pid)");
        return;
    }
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut inner = Probe::spawn_wrapped(&s.run, &["unshare", "--pid", "--fork", "--mount-proc"]);
    assert_eq!(inner.pid, 1, "the probe sees itself as pid 1 in its namespace");
    inner.cmd(&format!("open h {}", img.display()));
    assert_eq!(inner.cmd("acquire h 0 Container Burner")["ok"], true);
    let r = Recorder::open_in(&img, &s.run).unwrap();
    let o = r.exclusive_access_owner().unwrap().expect("held");
    assert_eq!(o.client_name.as_deref(), Some("Container Burner"), "{o:?}");
    assert!(o.by_discrec);
    let host_pid = o.pid.unwrap();
    assert_ne!(host_pid, 1, "the pid is given as the reader's namespace sees it");
    let comm = std::fs::read_to_string(format!("/proc/{host_pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "discrec-probe");
    let mut other = Recorder::open_in(&img, &s.run).unwrap();
    assert_eq!(other.acquire_exclusive_access(false, "Host").unwrap_err().name(), "E_IMAPI_RECORDER_LOCKED");
}

#[test]
fn an_image_renamed_over_while_opening_never_splits_lock_and_record() {
    let _alone = alone();
    // A loop renames other files over the target; every acquire either
    // fails cleanly or holds the inode its owner record names.
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let (dir, img, stop) = (s.dir.path().to_path_buf(), img.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let tmp = dir.join(format!("swap.{i}"));
                std::fs::write(&tmp, [0u8; 512]).unwrap();
                chmod(&tmp, 0o666);
                std::fs::rename(&tmp, &img).unwrap();
                i += 1;
            }
        })
    };
    let (mut ok, mut gone) = (0, 0);
    for _ in 0..300 {
        let Ok(mut r) = Recorder::open_in(&img, &s.run) else { continue };
        match r.acquire_exclusive_access(false, "Swapped") {
            Ok(()) => {
                // The record names the inode this handle locked (the key),
                // and that inode is the one the lock is on.
                let key = r.target().key;
                let discrec::key::DriveKey::File { dev, ino } = key else { panic!("a file") };
                let locks = discrec::holders::locks_on(dev, ino).unwrap();
                let me = std::process::id() as i32;
                assert!(locks.iter().any(|l| l.exclusive && l.pid == Some(me)), "the lock is on the key's inode");
                let records: Vec<serde_json::Value> = std::fs::read_dir(&s.run)
                    .unwrap()
                    .flatten()
                    .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("discrec.f") && !n.contains(".q")))
                    .filter(|e| e.file_type().unwrap().is_file())
                    .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
                    .filter(|v: &serde_json::Value| v["pid"] == me)
                    .collect();
                assert_eq!(records.len(), 1, "{records:?}");
                assert_eq!(records[0]["key"], key.to_string(), "the record is for the locked inode");
                ok += 1;
            }
            Err(e) => {
                assert_eq!(e.name(), "ERROR_DEV_NOT_EXIST", "{e}");
                gone += 1;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    renamer.join().unwrap();
    eprintln!("renamed over: {ok} acquires held their inode, {gone} saw the image replaced");
    assert!(ok > 0);
}

#[test]
fn a_held_drive_is_never_reported_free_while_others_churn_locks() {
    let _alone = alone();
    // /proc/locks is read a page at a time by position; another user who
    // frees and retakes thousands of locks ahead of the holder's shifts it
    // past the reader. The drive must never be reported free.
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut holder = s.probe();
    holder.cmd(&format!("open h {}", img.display()));
    assert_eq!(holder.cmd("acquire h 0 Victim Burner")["ok"], true);
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "import fcntl,os\nfds=[os.open('{d}/%d' % i, os.O_CREAT|os.O_RDWR, 0o600) for i in range(2000)]\nprint('ready', flush=True)\nwhile True:\n    for fd in fds: fcntl.flock(fd, fcntl.LOCK_EX)\n    for fd in fds: fcntl.flock(fd, fcntl.LOCK_UN)\n",
        d = dir.path().display()
    );
    let mut churn = spawn_ready(Command::new("python3").args(["-c", &script]), "ready");
    let r = Recorder::open_in(&img, &s.run).unwrap();
    let (mut named, mut unknown) = (0, 0);
    for _ in 0..60 {
        let o = r.exclusive_access_owner().unwrap().expect("a held drive is never reported free");
        if o.client_name.as_deref() == Some("Victim Burner") {
            named += 1;
        } else {
            assert_eq!((o.pid, o.by_discrec), (None, false), "never a wrong owner: {o:?}");
            unknown += 1;
        }
        let st = r.status().unwrap();
        assert!(st.locked, "status must not say free");
    }
    eprintln!("churning: {named} named, {unknown} holder not found in /proc/locks");
    let _ = churn.kill();
    let _ = churn.wait();
}

/// The owner of `img` as a library client sees it where `/proc/locks`
/// reads as empty (a private mount namespace with `/dev/null` bound over
/// it), running as `user`: the `owner` JSON, `null` when free.
fn owner_without_lock_table(s: &Scratch, img: &std::path::Path, user: Option<&str>) -> serde_json::Value {
    let exe = world_readable_copy(PROBE);
    let script = format!(
        "mount --bind /dev/null /proc/locks && exec setpriv {} '{}'",
        match user {
            Some(u) => format!("--reuid {u} --regid {u} --init-groups"),
            None => String::new(),
        },
        exe.display(),
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", &script]);
    let mut p = Probe::start(&s.run, c);
    assert_eq!(p.cmd(&format!("open h {}", img.display()))["ok"], true);
    let o = p.cmd("owner h");
    assert_eq!(o["ok"], true, "{o}");
    o["owner"].clone()
}

#[test]
fn the_owner_of_a_discrec_holder_is_told_without_the_lock_table() {
    // Root, and the holder's own user, are told the owner of a drive
    // held by a discrec client from the client's record and the kernel's
    // word for its lock (F_GETLK, /proc/PID/fdinfo), at any number of locks
    // on the machine: here with no lock table at all.
    if !second_user() {
        return;
    }
    let _alone = alone();
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut holder = Probe::spawn(&s.run, Some(USER2));
    holder.cmd(&format!("open h {}", img.display()));
    assert_eq!(holder.cmd("acquire h 0 Table Free")["ok"], true);
    for user in [None, Some(USER2)] {
        let o = owner_without_lock_table(&s, &img, user);
        assert_eq!((o["client_name"].as_str(), o["user"].as_str()), (Some("Table Free"), Some(USER2)), "{user:?}: {o}");
        assert_eq!(o["pid"], holder.pid, "{o}");
    }
    // A holder that is no discrec client cannot be named that way: the
    // drive is still reported held.
    holder.cmd("release h");
    let flock = Reaped(Command::new("flock").arg("--no-fork").arg(&img).args(["sleep", "30"]).spawn().unwrap());
    let r = Recorder::open_in(&img, &s.run).unwrap();
    assert!(eventually(Duration::from_secs(3), || r.exclusive_access_owner().unwrap().is_some()));
    let o = owner_without_lock_table(&s, &img, None);
    assert!(o.is_object() && o["client_name"].is_null() && o["by_discrec"] == false, "{o}");
    drop(flock);
}

#[test]
fn a_holder_without_a_record_is_refused_at_once() {
    // A discrec client writes its record before it takes the lock, so a
    // holder without one is named and refused without a grace period for
    // a record to appear (it used to cost half a second). Alone: another
    // busy test's 50,000 locks would make the table itself slow to read.
    let _alone = alone();
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let flock = Reaped(Command::new("flock").arg("--no-fork").arg(&img).args(["sleep", "30"]).spawn().unwrap());
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    assert!(eventually(Duration::from_secs(3), || r.exclusive_access_owner().unwrap().is_some()));
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let e = r.acquire_exclusive_access(false, "Second").unwrap_err();
        slowest = slowest.max(t.elapsed());
        assert_eq!(e.name(), "E_ACCESSDENIED", "{e}");
        assert!(e.to_string().contains(&format!("flock held by sleep (pid {})", flock.id())), "{e}");
    }
    eprintln!("timing: refusal of a flock(1) holder, slowest of 5: {slowest:?}");
    assert!(slowest < Duration::from_millis(400), "refused after {slowest:?}: a grace period is back");
    drop(flock);
}

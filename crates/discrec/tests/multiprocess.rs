//! Multi-process tier on virtual recorders (image files): real processes on
//! both sides of every lock, real SIGKILL.
//!
//! The library's half; the command line's (`discrec lock`, `owner`,
//! `status`) is `tests/multiprocess.rs`.

use std::time::{Duration, Instant};

use crate::probe::*;
use crate::support::*;
use discrec::Recorder;

#[test]
fn c1_c5_c10_mutual_exclusion_and_nesting_across_processes() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut a = s.probe();
    let mut b = s.probe();
    let p = img.display().to_string();
    assert_eq!(a.cmd(&format!("open h {p}"))["ok"], true);
    assert_eq!(b.cmd(&format!("open h {p}"))["ok"], true);
    assert_eq!(a.cmd("acquire h 0 Burner A")["count"], 1);
    assert_eq!(a.cmd("acquire h 0 Burner A")["count"], 2, "nested acquire counts");
    let r = b.cmd("acquire h 0 Burner B");
    assert_eq!(r["error"], "E_IMAPI_RECORDER_LOCKED");
    assert_eq!(r["code"], 0xC0AA_0210u32);
    assert!(r["msg"].as_str().unwrap().contains("Burner A"), "error names the owner: {r}");
    assert_eq!(a.cmd("release h")["count"], 1);
    assert_eq!(b.cmd("acquire h 0 Burner B")["error"], "E_IMAPI_RECORDER_LOCKED", "still held at count 1");
    assert_eq!(a.cmd("release h")["count"], 0);
    assert_eq!(b.cmd("acquire h 0 Burner B")["ok"], true, "free at count 0");
    assert_eq!(a.cmd("owner h")["owner"]["client_name"], "Burner B");
    let r = a.cmd("release h");
    assert_eq!((r["error"].as_str(), r["code"].as_u64()), (Some("ERROR_INVALID_FUNCTION"), Some(0x8007_0001)));
}

#[test]
fn c5_two_handles_in_one_process_are_two_clients() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut h1 = Recorder::open_in(&img, &s.run).unwrap();
    let mut h2 = Recorder::open_in(&img, &s.run).unwrap();
    h1.acquire_exclusive_access(false, "First").unwrap();
    let e = h2.acquire_exclusive_access(false, "Second").unwrap_err();
    assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED");
    assert!(e.to_string().contains("First"));
    h1.release_exclusive_access().unwrap();
    h2.acquire_exclusive_access(false, "Second").unwrap();
    assert_eq!(h1.exclusive_access_owner().unwrap().unwrap().client_name.as_deref(), Some("Second"));
    // h1 released after h2 took over: its release must not remove h2's record.
    drop(h1);
    assert_eq!(h2.exclusive_access_owner().unwrap().unwrap().client_name.as_deref(), Some("Second"));
}

#[test]
fn c7_owner_seen_from_another_process_with_pid_user_since() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let before = std::time::SystemTime::now();
    let mut a = s.probe();
    a.cmd(&format!("open h {}", img.display()));
    a.cmd("acquire h 0 Owner Test 1.0");
    let r = Recorder::open_in(&img, &s.run).unwrap();
    let o = r.exclusive_access_owner().unwrap().expect("held");
    assert_eq!(o.client_name.as_deref(), Some("Owner Test 1.0"));
    assert_eq!(o.pid, Some(a.pid));
    assert_eq!(o.uid, Some(rustix::process::geteuid().as_raw()));
    assert!(o.user.is_some());
    assert!(o.by_discrec);
    assert_eq!(o.command.as_deref(), Some("discrec-probe"));
    let since = o.since.unwrap();
    assert!(since >= before - Duration::from_secs(1) && since <= std::time::SystemTime::now());
}

#[test]
fn c6_sigkill_releases_lock_and_owner() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut a = s.probe();
    a.cmd(&format!("open h {}", img.display()));
    a.cmd("acquire h 0 Doomed");
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    assert!(r.exclusive_access_owner().unwrap().is_some());
    a.kill9();
    assert!(r.exclusive_access_owner().unwrap().is_none(), "no stale owner after SIGKILL");
    r.acquire_exclusive_access(false, "Survivor").unwrap();
    assert_eq!(r.exclusive_access_owner().unwrap().unwrap().client_name.as_deref(), Some("Survivor"));
}

#[test]
fn c8_operation_takes_and_returns_the_lock() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    let run = s.run.clone();
    let seen = r
        .with_exclusive_access("Writer", |rec| {
            let other = Recorder::open_in(rec.target().node.clone(), &run).unwrap();
            Ok(other.exclusive_access_owner()?.and_then(|o| o.client_name))
        })
        .unwrap();
    assert_eq!(seen.as_deref(), Some("Writer"), "held under the writer's name during the operation");
    assert_eq!(r.lock_count(), 0);
    assert!(r.exclusive_access_owner().unwrap().is_none(), "released after");
    // Already held: the operation nests and leaves the lock held.
    r.acquire_exclusive_access(false, "App").unwrap();
    r.with_exclusive_access("Writer", |rec| {
        assert_eq!(rec.lock_count(), 2);
        Ok(())
    })
    .unwrap();
    assert_eq!(r.lock_count(), 1);
    // C10: another client holds it: the operation is refused.
    let mut other = Recorder::open_in(&img, &s.run).unwrap();
    let e = other.with_exclusive_access("Writer", |_| Ok(())).unwrap_err();
    assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED");
}

#[test]
fn closed_handle_is_invalid_and_released() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    r.acquire_exclusive_access(false, "Closer").unwrap();
    r.close().unwrap();
    let e = r.acquire_exclusive_access(false, "Closer").unwrap_err();
    assert_eq!((e.name(), e.code(), e.exit_code()), ("ERROR_INVALID_HANDLE", 6, 9));
    let r2 = Recorder::open_in(&img, &s.run).unwrap();
    assert!(r2.exclusive_access_owner().unwrap().is_none(), "close released the lock");
}

#[test]
fn gone_or_missing_target_is_dev_not_exist() {
    let s = Scratch::new();
    let e = Recorder::open_in(s.dir.path().join("nope.iso"), &s.run).unwrap_err();
    assert_eq!((e.name(), e.code()), ("ERROR_DEV_NOT_EXIST", 55));
    let img = s.image("rec.iso");
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    std::fs::remove_file(&img).unwrap();
    let e = r.acquire_exclusive_access(false, "Late").unwrap_err();
    assert_eq!(e.name(), "ERROR_DEV_NOT_EXIST");
}

#[test]
fn wait_is_fifo_and_wakes_on_release() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let p = img.display().to_string();
    let mut holder = s.probe();
    holder.cmd(&format!("open h {p}"));
    holder.cmd("acquire h 0 Holder");
    let mut waiters: Vec<Probe> = (0..3).map(|_| s.probe()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.cmd(&format!("open h {p}"));
        w.send(&format!("wait h 30 Waiter {i}"));
        // Let each waiter take its ticket before the next arrives.
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut order = Vec::new();
    holder.cmd("release h");
    for _ in 0..3 {
        // Whoever got the drive answers; find it by asking the owner.
        let r = Recorder::open_in(&img, &s.run).unwrap();
        assert!(eventually(Duration::from_secs(5), || r
            .exclusive_access_owner()
            .unwrap()
            .is_some_and(|o| o.by_discrec)));
        let o = r.exclusive_access_owner().unwrap().unwrap();
        let i = waiters.iter().position(|w| Some(w.pid) == o.pid).expect("owner is a waiter");
        assert_eq!(waiters[i].answer()["ok"], true);
        assert_eq!(o.client_name, Some(format!("Waiter {i}")));
        order.push(i);
        std::thread::sleep(Duration::from_millis(50));
        waiters[i].cmd("release h");
    }
    assert_eq!(order, vec![0, 1, 2], "waiters served in arrival order");
}

#[test]
fn wait_wakes_on_holder_death_and_times_out_with_owner() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let p = img.display().to_string();
    let mut holder = s.probe();
    holder.cmd(&format!("open h {p}"));
    holder.cmd("acquire h 0 Mortal");
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    let t = Instant::now();
    let e = r.acquire_exclusive_access_wait(false, "Patient", Some(Duration::from_millis(300))).unwrap_err();
    let took = t.elapsed();
    assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED");
    assert!(e.to_string().contains("Mortal"));
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "{took:?}");

    let mut w = s.probe();
    w.cmd(&format!("open h {p}"));
    w.send("wait h - Patient");
    std::thread::sleep(Duration::from_millis(100));
    let killed = Instant::now();
    holder.kill9();
    assert_eq!(w.answer()["ok"], true);
    assert!(killed.elapsed() < Duration::from_millis(500), "woken by the death, not a poll: {:?}", killed.elapsed());
}

#[test]
fn c7_leftover_record_of_a_recycled_pid_is_not_believed() {
    // A record left by a dead discrec client whose pid now belongs to
    // another program that holds the drive (here `flock --no-fork`): same
    // user, same pid, right key, but the record is not locked by the
    // holder, so the holder is reported as what it is.
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut holder =
        std::process::Command::new("flock").arg("--no-fork").arg(&img).args(["sleep", "30"]).spawn().unwrap();
    let r = Recorder::open_in(&img, &s.run).unwrap();
    assert!(eventually(Duration::from_secs(3), || r.exclusive_access_owner().unwrap().is_some()));
    let key = discrec::Target::resolve(&img).unwrap().key.to_string();
    let pid = holder.id();
    let uid = rustix::process::geteuid().as_raw();
    // Named after its own inode, as a real record is.
    let tmp = s.run.join("ghost");
    std::fs::write(
        &tmp,
        format!(
            r#"{{"v":4,"key":"{key}","pid":{pid},"uid":{uid},"client":"Ghost","node":"/x","command":"discrec","fd":3}}"#
        ),
    )
    .unwrap();
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&tmp).unwrap());
    std::fs::rename(&tmp, s.run.join(format!("discrec.{key}.{ino}"))).unwrap();
    let o = r.exclusive_access_owner().unwrap().unwrap();
    assert_eq!((o.client_name.as_deref(), o.by_discrec, o.command.as_deref()), (None, false, Some("sleep")));
    assert_eq!(o.pid, Some(pid as i32));
    let _ = holder.kill();
    let _ = holder.wait();
}

/// The regular files in the runtime directory whose names start with `prefix`.
fn files_named(run: &std::path::Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
fn next_acquire_removes_leftovers_of_killed_holders() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let key = discrec::Target::resolve(&img).unwrap().key.to_string();
    let prefix = format!("discrec.{key}.");
    for round in 0..20 {
        let mut a = s.probe();
        a.cmd(&format!("open h {}", img.display()));
        assert_eq!(a.cmd("acquire h 0 Doomed")["ok"], true);
        assert_eq!(files_named(&s.run, &prefix).len(), 1, "round {round}: the holder's record");
        a.kill9();
        assert_eq!(files_named(&s.run, &prefix).len(), 1, "SIGKILL leaves the record file behind (never believed)");
        let r = Recorder::open_in(&img, &s.run).unwrap();
        assert!(r.exclusive_access_owner().unwrap().is_none(), "a leftover is not an owner");
    }
    // One plain acquire of the drive (no waiting) clears what is left.
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    r.acquire_exclusive_access(false, "Next").unwrap();
    let left = files_named(&s.run, &prefix);
    assert_eq!(left.len(), 1, "only the new holder's record is left: {left:?}");
    r.release_exclusive_access().unwrap();
    assert!(files_named(&s.run, &prefix).is_empty(), "release removes the record");
}

#[test]
fn a_timeout_past_what_the_clock_counts_waits_forever_instead_of_panicking() {
    let s = Scratch::new();
    let img = s.image("disc.img");
    // Free: granted at once, whatever the timeout.
    let mut a = Recorder::open_in(&img, &s.run).unwrap();
    a.acquire_exclusive_access_wait(false, "Patient", Some(Duration::MAX)).unwrap();
    // Held: the wait lasts until the holder lets go.
    let mut b = Recorder::open_in(&img, &s.run).unwrap();
    std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            a.release_exclusive_access().unwrap();
        });
        let t = Instant::now();
        b.acquire_exclusive_access_wait(false, "Waiter", Some(Duration::MAX)).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(250), "granted while held");
    });
    assert_eq!(b.lock_count(), 1);
}

#[test]
fn a_record_of_a_process_that_no_longer_holds_the_drive_is_not_believed() {
    // /proc/locks keeps the pid of the process that took a flock after it
    // has handed the descriptor on (or exited, and another process got its
    // pid). Such a process may write a record for itself: the kernel's
    // fdinfo, where the reader may read it, says it does not hold the drive.
    let s = Scratch::new();
    let img = s.image("handed.iso");
    let key = discrec::Target::resolve(&img).unwrap().key.to_string();
    let script = format!(
        "import os,fcntl,time,json
img,run,key='{img}','{run}','{key}'
d=os.open(img, os.O_RDWR); fcntl.flock(d, fcntl.LOCK_EX)
parent=os.getpid()
if os.fork()==0:
    while os.getppid()==parent: time.sleep(0.05)
    os._exit(0)
os.close(d)
p=run+'/t'; fd=os.open(p, os.O_WRONLY|os.O_CREAT, 0o644); fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps(dict(v=4,key=key,pid=parent,uid=os.getuid(),client='Not Holding',node=img,command='discrec',fd=d)).encode())
fcntl.lockf(fd, fcntl.LOCK_EX, 1, 4242); os.rename(p, run+'/discrec.'+key+'.4242')
for n in ('holder', 'last.%d' % os.getuid()): os.symlink('discrec.'+key+'.4242', run+'/discrec.'+key+'.'+n)
print('ok', flush=True); time.sleep(30)
",
        img = img.display(),
        run = s.run.display(),
    );
    let helper = spawn_ready(std::process::Command::new("python3").args(["-c", &script]), "ok");
    let r = Recorder::open_in(&img, &s.run).unwrap();
    let o = r.exclusive_access_owner().unwrap().expect("the child holds it");
    assert_eq!((o.client_name.as_deref(), o.by_discrec), (None, false), "{o:?}");
    assert!(Recorder::open_in(&img, &s.run).unwrap().acquire_exclusive_access(false, "Other").is_err());
    drop(helper);
}

#[test]
fn a_lock_whose_taker_exited_is_named_by_the_process_that_holds_it() {
    // flock(1) takes the lock through the shell's descriptor 3 and exits;
    // the shell, become sleep, holds it. /proc/locks still gives flock's
    // pid: the owner is the process that holds it, refused at once.
    let s = Scratch::new();
    let img = s.image("taker.iso");
    let script = format!("exec 3<'{}'; flock -x 3; echo ready; exec sleep 30", img.display());
    let holder = spawn_ready(std::process::Command::new("sh").args(["-c", &script]), "ready");
    let pid = holder.id() as i32;
    let r = Recorder::open_in(&img, &s.run).unwrap();
    assert!(
        eventually(Duration::from_secs(3), || {
            let o = r.exclusive_access_owner().unwrap().expect("held");
            (o.pid, o.command.as_deref(), o.by_discrec) == (Some(pid), Some("sleep"), false)
        }),
        "{:?}",
        r.exclusive_access_owner()
    );
    let t = Instant::now();
    let e = Recorder::open_in(&img, &s.run).unwrap().acquire_exclusive_access(false, "Other").unwrap_err();
    assert!(e.to_string().contains(&format!("sleep (pid {pid})")), "{e}");
    eprintln!("timing: refused in {:?}", t.elapsed());
    drop(holder);
}

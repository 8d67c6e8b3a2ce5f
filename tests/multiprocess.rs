//! Multi-process tier on virtual recorders (image files): real processes on
//! both sides of every lock, real SIGKILL.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
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
fn c6_sigkill_at_any_point_never_leaves_a_stale_lock() {
    // Kill holders at random moments of their acquire/release cycle; after
    // each kill the drive must be free (or held by a live process) and any
    // owner reported must be alive.
    let s = Scratch::new();
    let img = s.image("rec.iso");
    for i in 0..25u64 {
        let mut c = s.discrec();
        c.args(["lock", "--wait", "--client", "Cycler"]).arg(&img).args(["--", "true"]);
        let mut children: Vec<_> =
            (0..3).map(|_| c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()).collect();
        std::thread::sleep(Duration::from_micros(200 + (i * 7919) % 3000));
        for ch in &mut children {
            let _ = ch.kill();
        }
        for ch in &mut children {
            let _ = ch.wait();
        }
        // A holder killed while spawning its command leaves copies of its
        // descriptors in the child until that child's exec closes them
        // (they are close-on-exec): the lock lives exactly that long.
        let r = Recorder::open_in(&img, &s.run).unwrap();
        assert!(
            eventually(Duration::from_millis(500), || r.exclusive_access_owner().unwrap().is_none()),
            "round {i}: stale owner {:?} after every holder was killed",
            r.exclusive_access_owner().unwrap()
        );
    }
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    r.acquire_exclusive_access(false, "After").unwrap();
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
fn cli_lock_owner_status_contract() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    // Free: owner prints nothing and exits 1.
    let o = s.discrec().arg("owner").arg(&img).output().unwrap();
    assert_eq!((o.status.code(), o.stdout.len()), (Some(1), 0));
    let o = s.discrec().args(["owner", "--json"]).arg(&img).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["locked"].as_bool(), o.status.code()), (Some(false), Some(1)));

    // Held by a CLI holder.
    let mut c = s.discrec();
    c.args(["lock", "--client", "CLI Holder"]).arg(&img);
    let (mut holder, line) = spawn_holder(c);
    assert_eq!(line.trim_end(), format!("locked {}", img.display()));
    let o = s.discrec().arg("owner").arg(&img).output().unwrap();
    assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()), (Some(0), "CLI Holder\n"));
    let o = s.discrec().args(["owner", "--json"]).arg(&img).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["locked"], true);
    assert_eq!(v["client_name"], "CLI Holder");
    assert_eq!(v["pid"].as_u64(), Some(holder.id() as u64));
    assert_eq!(v["by_discrec"], true);
    assert_eq!(v["command"], "discrec");
    assert!(v["uid"].is_u64() && v["user"].is_string());
    humantime::parse_rfc3339(v["since"].as_str().unwrap()).expect("since is RFC 3339");

    let o = s.discrec().arg("status").arg(&img).arg(s.image("free.iso")).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<_> = out.lines().collect();
    assert!(lines[0].contains("held by \"CLI Holder\""), "{out}");
    assert!(lines[1].ends_with(": free"), "{out}");
    let o = s.discrec().args(["status", "--json"]).arg(&img).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["locked"].as_bool(), v["owner"]["client_name"].as_str()), (Some(true), Some("CLI Holder")));

    // Contender: exit code 5 and the documented stderr shape.
    let o = s.discrec().arg("lock").arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(5));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    // `discrec: MESSAGE (NAME 0xHEX)`, then the command line's hint.
    assert!(
        lines.len() == 2
            && lines[0].starts_with("discrec: ")
            && lines[0].contains("CLI Holder")
            && lines[0].ends_with("(E_IMAPI_RECORDER_LOCKED 0xC0AA0210)")
            && lines[1].starts_with("discrec: hint: "),
        "{err}"
    );

    // --wait=0.2 gives up with E_IMAPI_RECORDER_LOCKED.
    let t = Instant::now();
    let o = s.discrec().args(["lock", "--wait=0.2"]).arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(5));
    assert!(t.elapsed() >= Duration::from_millis(200));

    // SIGTERM: releases and exits 0.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(holder.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert_eq!(holder.wait().unwrap().code(), Some(0));
    let o = s.discrec().arg("owner").arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "released on SIGTERM");
}

#[test]
fn cli_lock_runs_command_and_passes_its_status() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let script = format!("DISCREC_RUN_DIR={} {DISCREC} owner {}; exit 7", s.run.display(), img.display());
    let o =
        s.discrec().args(["lock", "--client", "Wrapper"]).arg(&img).args(["--", "sh", "-c", &script]).output().unwrap();
    assert_eq!(o.status.code(), Some(7), "exit status of the command");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Wrapper\n", "stdout is the command's alone");
    let o = s.discrec().arg("lock").arg(&img).args(["--", "/nonexistent/cmd"]).output().unwrap();
    assert_eq!(o.status.code(), Some(127));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("discrec: cannot run /nonexistent/cmd") && err.trim_end().ends_with("(E_FAIL 0x80004005)"),
        "{err}"
    );
    // The command is the process: its death by a signal is the status.
    let o = s.discrec().arg("lock").arg(&img).args(["--", "sh", "-c", "kill -9 $$"]).output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(9));
    let o = s.discrec().args(["lock", "--wait=abc"]).arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    // --json with a command: stdout is still the command's.
    let o = s.discrec().args(["lock", "--json", "--client", "J"]).arg(&img).args(["--", "true"]).output().unwrap();
    assert_eq!((o.status.code(), o.stdout.len()), (Some(0), 0));
    // `--wait 5 IMG` (with a space) is not a drive named 5.
    let o = s.discrec().args(["lock", "--wait", "5"]).arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--wait=5"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn cli_lock_a_command_that_becomes_discrec_owner_names_its_client() {
    // `sh -c '... && discrec owner ...'` may exec its last command: the
    // holder itself then asks who holds the drive. It must name the client
    // and must not lose its record's mark by asking (others still see it).
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let script = format!("DISCREC_RUN_DIR={} exec {DISCREC} owner {}", s.run.display(), img.display());
    let o = s
        .discrec()
        .args(["lock", "--client", "Self Aware"])
        .arg(&img)
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()), (Some(0), "Self Aware\n"));
    // A holder that asks twice, then is asked by another process.
    let script = format!(
        "DISCREC_RUN_DIR={run} {DISCREC} lock --client Twice {img} -- sh -c 'exec {DISCREC} owner {img}' && \
         DISCREC_RUN_DIR={run} {DISCREC} lock --client Twice {img} -- sh -c '{DISCREC} owner {img}; exec {DISCREC} owner {img}'",
        run = s.run.display(),
        img = img.display()
    );
    let o = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Twice\nTwice\nTwice\n");
}

#[test]
fn cli_lock_output_of_the_command_is_its_own() {
    // `discrec lock F -- cat FILE | wc -l` counts FILE's lines only.
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let file = s.dir.path().join("three-lines");
    std::fs::write(&file, "a\nb\nc\n").unwrap();
    let script = format!(
        "DISCREC_RUN_DIR={} {DISCREC} lock {} -- cat {} | wc -l",
        s.run.display(),
        img.display(),
        file.display()
    );
    let o = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "3");
}

#[test]
fn cli_lock_the_command_keeps_the_lock_whoever_is_killed() {
    // The command is the holder: the pid discrec was started as runs the
    // command, holds the drive under the client name, and frees it when
    // the command ends, however it ends.
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut c = s.discrec();
    c.args(["lock", "--client", "Keeper"]).arg(&img).args(["--", "sh", "-c", "echo $$; exec sleep 30"]);
    let (mut holder, line) = spawn_holder(c);
    assert_eq!(line.trim().parse::<u32>().unwrap(), holder.id(), "the command runs as the pid discrec was");
    let r = Recorder::open_in(&img, &s.run).unwrap();
    // `sh` becomes `sleep` a moment after it printed its pid.
    assert!(eventually(Duration::from_secs(2), || {
        r.exclusive_access_owner().unwrap().is_some_and(|o| o.command.as_deref() == Some("sleep"))
    }));
    let o = r.exclusive_access_owner().unwrap().expect("held while the command runs");
    assert_eq!(
        (o.client_name.as_deref(), o.pid, o.command.as_deref()),
        (Some("Keeper"), Some(holder.id() as i32), Some("sleep"))
    );
    let mut other = Recorder::open_in(&img, &s.run).unwrap();
    assert_eq!(other.acquire_exclusive_access(false, "Other").unwrap_err().name(), "E_IMAPI_RECORDER_LOCKED");
    // kill -9 of the pid `discrec lock ... &` gave ($!): the command itself.
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(eventually(Duration::from_secs(1), || r.exclusive_access_owner().unwrap().is_none()));
    other.acquire_exclusive_access(false, "Other").unwrap();
}

#[test]
fn cli_lock_wait_gives_up_on_a_signal_and_takes_nothing() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let mut holder = s.probe();
    holder.cmd(&format!("open h {}", img.display()));
    holder.cmd("acquire h 0 First");
    for (sig, code) in [(rustix::process::Signal::TERM, 143), (rustix::process::Signal::INT, 130)] {
        let mut w = s
            .discrec()
            .args(["lock", "--wait", "--verbose", "--client", "Waiter"])
            .arg(&img)
            .args(["--", "true"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // It says whom it waits for.
        let mut err = std::io::BufReader::new(w.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        assert!(line.contains("waiting for") && line.contains("\"First\""), "{line}");
        let t = Instant::now();
        rustix::process::kill_process(rustix::process::Pid::from_raw(w.id() as i32).unwrap(), sig).unwrap();
        let st = w.wait().unwrap();
        assert_eq!(st.code(), Some(code), "{sig:?}");
        assert!(t.elapsed() < Duration::from_millis(500), "gave up at once: {:?}", t.elapsed());
        // It took nothing, not even when the drive frees later.
        let o = Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().unwrap();
        assert_eq!(o.client_name.as_deref(), Some("First"));
    }
    holder.cmd("release h");
    std::thread::sleep(Duration::from_millis(100));
    assert!(Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().is_none());
}

#[test]
fn help_lists_exit_codes() {
    for sub in [&[][..], &["lock"][..], &["owner"][..], &["status"][..]] {
        let o = std::process::Command::new(DISCREC).args(sub).arg("--help").output().unwrap();
        let h = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success());
        assert!(h.contains("E_IMAPI_RECORDER_LOCKED 0xC0AA0210") && h.contains("ERROR_DEV_NOT_EXIST"), "{sub:?}: {h}");
    }
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

#[test]
fn a_holder_that_moved_its_lock_descriptor_keeps_its_name() {
    // The record names the descriptor that holds the lock; a wrapped
    // command may move it (`exec 7<&4 4<&-`). Its fdinfo then shows the
    // lock under another number, which is still proof.
    let s = Scratch::new();
    let img = s.image("moved.iso");
    let script = format!(
        "fd=$(for f in /proc/$$/fd/*; do [ \"$(readlink $f)\" = '{img}' ] && basename $f; done | head -n 1); \
         eval \"exec 7<&$fd $fd<&-\"; echo ready; exec sleep 30",
        img = img.display()
    );
    let mut c = s.discrec();
    c.args(["lock", "--client", "Alice"]).arg(&img).args(["--", "sh", "-c", &script]);
    let holder = spawn_ready(&mut c, "ready");
    let o = Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().expect("held");
    assert_eq!((o.client_name.as_deref(), o.pid), (Some("Alice"), Some(holder.id() as i32)), "{o:?}");
    drop(holder);
}

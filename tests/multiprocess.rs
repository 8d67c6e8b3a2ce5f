//! Multi-process tier on virtual recorders (image files): real processes on
//! both sides of every lock, real SIGKILL.
//!
//! The command line's half: `discrec lock`, `owner`, `status` and their
//! exit codes; the library's is `crates/discrec/tests/multiprocess.rs`.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use discrec::Recorder;

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
    let holder = s.hold(&img, "First");
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
    drop(holder);
    let free = || Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().is_none();
    assert!(eventually(Duration::from_secs(2), free), "the holder's drive is free once it is gone");
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
fn a_holder_that_moved_its_lock_descriptor_keeps_its_name() {
    // The record names the descriptor that holds the lock; a wrapped
    // command may move it (`exec 7<&4 4<&-`). Its fdinfo then shows the
    // lock under another number, which is still proof.
    let s = Scratch::new();
    let img = s.image("moved.iso");
    // Then it may open the node again under the number it freed: that
    // descriptor holds nothing, and the record is still the holder's.
    for reopen in [false, true] {
        let script = format!(
            "fd=$(for f in /proc/$$/fd/*; do [ \"$(readlink $f)\" = '{img}' ] && basename $f; done | head -n 1); \
             eval \"exec 7<&$fd $fd<&-\"; {again} echo ready; exec sleep 30",
            img = img.display(),
            again = if reopen { "eval \"exec $fd<'$0'\";" } else { "" },
        );
        let mut c = s.discrec();
        c.args(["lock", "--client", "Alice"]).arg(&img).args(["--", "sh", "-c", &script]).arg(&img);
        let holder = spawn_ready(&mut c, "ready");
        let o = Recorder::open_in(&img, &s.run).unwrap().exclusive_access_owner().unwrap().expect("held");
        assert_eq!((o.client_name.as_deref(), o.pid), (Some("Alice"), Some(holder.id() as i32)), "{reopen}: {o:?}");
        let refused = s.discrec().args(["lock", "--client", "Bob"]).arg(&img).output().unwrap();
        assert_eq!(refused.status.code(), Some(5), "{reopen}: {}", String::from_utf8_lossy(&refused.stderr));
        drop(holder);
    }
}

//! Second-user tier: a real unprivileged user attacks another user's lock
//! and owner records (`docs/design.md`, "What it means on Linux": records cannot be forged,
//! pre-created, redirected or left stale; no lock without access; nobody
//! deletes someone else's lock). Needs root to create the user.
//!
//! The command line's half: a second user against `discrec burn`; the
//! library's is `crates/discrec/tests/second_user.rs`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn a_second_user_cannot_burn_over_or_stop_a_burn() {
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let discrec = world_readable_copy(DISCREC);
    let src = s.dir.path().join("src.iso");
    std::fs::write(&src, vec![0x42u8; 64 * 2048]).unwrap();
    chmod(&src, 0o644);
    // An image the second user may only read: no burn, nothing written.
    let private = s.dir.path().join("private.img");
    std::fs::File::create(&private).unwrap();
    chmod(&private, 0o644);
    let run = s.run.display();
    let (ok, err) = as_user2(&format!(
        "DISCREC_RUN_DIR='{run}' '{}' burn '{}' '{}'; echo \"exit=$?\" >&2",
        discrec.display(),
        private.display(),
        src.display()
    ));
    assert!(!ok || err.contains("exit=4"), "{err}");
    assert!(err.contains("exit=4") && err.contains("E_ACCESSDENIED"), "{err}");
    assert_eq!(std::fs::metadata(&private).unwrap().len(), 0);

    // A shared image that root is burning (its source stalls): the second
    // user's burn is refused naming root's client, and a signal from the
    // second user cannot cancel root's burn.
    let shared = s.dir.path().join("shared.img");
    std::fs::File::create(&shared).unwrap();
    chmod(&shared, 0o666);
    let mut burn = s
        .discrec()
        .args(["burn", "--client", "Root Burner", "--size", &(64 * 2048).to_string()])
        .arg(&shared)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = burn.stdin.take().unwrap();
    assert!(eventually(std::time::Duration::from_secs(10), || {
        s.discrec().arg("owner").arg(&shared).output().unwrap().status.code() == Some(0)
    }));
    let (_, err) = as_user2(&format!(
        "DISCREC_RUN_DIR='{run}' '{}' burn '{}' '{}'; echo \"exit=$?\" >&2; kill -TERM {} 2>&1 >&2; echo \"kill=$?\" >&2",
        discrec.display(),
        shared.display(),
        src.display(),
        burn.id()
    ));
    assert!(err.contains("exit=5") && err.contains("\"Root Burner\""), "{err}");
    assert!(err.contains("kill=1"), "the second user signalled root's burn: {err}");
    use std::io::Write;
    stdin.write_all(&std::fs::read(&src).unwrap()).unwrap();
    drop(stdin);
    let st = burn.wait().unwrap();
    assert!(st.success(), "root's burn did not finish");
    assert!(std::fs::read(&shared).unwrap() == std::fs::read(&src).unwrap());
}

#[test]
fn a_waiter_that_takes_over_the_holders_pid_does_not_lend_it_its_name() {
    // The lock's taker (`sh`) exits and leaves it to its child (`sleep`),
    // so /proc/locks keeps naming the taker's pid. Another user's waiter
    // that gets that pid has a record (pending: it never won) with the
    // right pid; a third user, who may not read fdinfo, must not be told
    // the lock is the waiter's. Root picks the waiter's pid through
    // ns_last_pid; another busy process may take it first, so it tries
    // a few times.
    if !second_user() {
        return;
    }
    let s = Scratch::new();
    let img = s.image("reused.iso");
    let discrec = world_readable_copy(DISCREC);
    let mut c = s.discrec();
    let script = "sleep 60 </dev/null >/dev/null 2>&1 & echo $$ $!; exit 0";
    c.args(["lock", "--client", "Real Holder"]).arg(&img).args(["--", "sh", "-c", script]);
    let (mut taker, line) = spawn_holder(c);
    let pids: Vec<i32> = line.split_whitespace().map(|p| p.parse().unwrap()).collect();
    let (taker_pid, sleeper) = (pids[0], KillOnDrop(pids[1]));
    taker.wait().unwrap();
    let run = s.run.display();
    let mut forged = None;
    for _ in 0..5 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (taker_pid - 1).to_string()).unwrap();
        let w = Command::new("setpriv")
            .args(["--reuid", USER2, "--regid", USER2, "--init-groups", "env"])
            .arg(format!("DISCREC_RUN_DIR={run}"))
            .arg(&discrec)
            .args(["lock", "--wait", "--client", "Forged"])
            .arg(&img)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if w.id() as i32 == taker_pid {
            forged = Some(Reaped(w));
            break;
        }
        drop(Reaped(w));
    }
    let Some(_waiter) = forged else {
        eprintln!("note: pid {taker_pid} was taken by another process five times; nothing to check this run");
        return;
    };
    // The waiter has queued and written its record.
    std::thread::sleep(Duration::from_millis(300));
    let o = Command::new("setpriv")
        .args(["--reuid", USER3, "--regid", USER3, "--init-groups", "env"])
        .arg(format!("DISCREC_RUN_DIR={run}"))
        .arg(&discrec)
        .args(["owner", "--json"])
        .arg(&img)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {o:?}"));
    assert_eq!(v["locked"], true, "{v}");
    assert_ne!(v["client_name"], "Forged", "a waiter's pending record named the holder: {v}");
    drop(sleeper);
}

/// A process this test started indirectly, killed when dropped.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

//! Second-user tier: a real unprivileged user attacks another user's lock
//! and owner records (`docs/design.md`, "What it means on Linux": records cannot be forged,
//! pre-created, redirected or left stale; no lock without access; nobody
//! deletes someone else's lock). Needs root to create the user.
//!
//! The command line's half: a second user against `discrec burn`; the
//! library's is `crates/discrec/tests/second_user.rs`.

mod common;

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

//! A busy machine: tens of thousands of unrelated locks, thousands of
//! processes, a flooded runtime directory, stopped waiters, holders in
//! other pid namespaces, an image renamed over while it is opened. Every
//! answer must stay right; times are printed (`timing:` lines), and the
//! costs are measured in `cargo bench --bench scale`.
//!
//! The command line's half: a burn and `discrec owner` under load; the
//! library's is `crates/discrec/tests/busy.rs`.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn burn_is_right_and_unslowed_with_50000_unrelated_locks_and_2000_processes() {
    let _alone = alone();
    let s = Scratch::new();
    let src = s.dir.path().join("src.iso");
    std::fs::write(&src, (0..8192 * 2048u32).map(|i| (i % 247) as u8).collect::<Vec<u8>>()).unwrap();
    let _locks = timed("taking 50,000 unrelated flocks", || LockLoad::new(LOCKS));
    let _procs = timed("starting 2,000 processes", || ProcLoad::new(2_000, 0));
    // Held by another client: refused, naming it, while the machine is busy.
    let img = s.dir.path().join("disc.img");
    std::fs::File::create(&img).unwrap();
    let holder = s.hold(&img, "Busy Holder");
    let out = timed("discrec owner", || s.discrec().args(["owner"]).arg(&img).output().unwrap());
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).trim()), (Some(0), "Busy Holder"));
    let o = timed("refused burn", || s.discrec().arg("burn").arg(&img).arg(&src).output().unwrap());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("\"Busy Holder\""), "{err}");
    drop(holder);
    assert!(
        eventually(Duration::from_secs(5), || s.discrec().arg("owner").arg(&img).status().unwrap().code() == Some(1))
    );
    // Free: a 16 MiB burn with verification, byte for byte.
    let t = Instant::now();
    let o = timed("16 MiB burn, verified", || s.discrec().arg("burn").arg(&img).arg(&src).output().unwrap());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&img).unwrap() == std::fs::read(&src).unwrap());
    assert!(t.elapsed() < Duration::from_secs(10), "a 16 MiB burn took {:?} on the busy machine", t.elapsed());
}

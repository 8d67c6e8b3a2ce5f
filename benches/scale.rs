//! How discrec's costs grow on a busy machine, each beside its raw
//! baseline in the same run, printed as a table with ratios:
//!
//! * the lock table: reading `/proc/locks` to its end (what `cat` does)
//!   against discrec's owner query (free, held by a discrec client, held
//!   by `flock(1)`), a refusal and `status`, at 0 to 50,000 unrelated locks;
//! * processes and mount namespaces (root, loop devices): `discrec lock
//!   /dev/loopN -- true` against `flock /dev/loopN true` with 0 and 2,000
//!   more processes, and 200 more mount namespaces;
//! * a flooded runtime directory: the owner query and `lock --wait=0.2`
//!   with 0 and 200,000 files in it.
//!
//! Run: `cargo bench --bench scale` (as root for the process rows).
//! Each figure is the median of its runs.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use discrec::Recorder;

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn row(what: &str, ours: Duration, base: Option<(&str, Duration)>) {
    match base {
        Some((name, b)) => {
            println!("| {what} | {} | {name}: {} | {:.2}x |", ms(ours), ms(b), ours.as_secs_f64() / b.as_secs_f64())
        }
        None => println!("| {what} | {} | | |", ms(ours)),
    }
}

fn read_proc_locks_to_end() {
    let b = discrec::procfs::read_small_file("/proc/locks").unwrap();
    std::hint::black_box(b);
}

fn lock_table(s: &Scratch) {
    println!("\n### The lock table\n");
    println!("| unrelated locks: what | discrec | baseline | ratio |\n|---|---|---|---|");
    let img = s.image("table.iso");
    let r = Recorder::open_in(&img, &s.run).unwrap();
    for n in [0usize, 1_000, 10_000, 50_000] {
        let _load = LockLoad::new(n);
        let cat = median(read_proc_locks_to_end, 9);
        row(&format!("{n}: `cat /proc/locks`"), cat, None);
        row(
            &format!("{n}: owner, free"),
            median(|| assert!(r.exclusive_access_owner().unwrap().is_none()), 21),
            Some(("cat", cat)),
        );
        let holder = s.hold(&img, "Bench Holder");
        row(
            &format!("{n}: owner, held by discrec"),
            median(|| assert!(r.exclusive_access_owner().unwrap().unwrap().by_discrec), 21),
            Some(("cat", cat)),
        );
        let mut other = Recorder::open_in(&img, &s.run).unwrap();
        row(
            &format!("{n}: refusal (E_IMAPI_RECORDER_LOCKED)"),
            median(|| assert!(other.acquire_exclusive_access(false, "Other").is_err()), 21),
            Some(("cat", cat)),
        );
        row(&format!("{n}: status, held"), median(|| assert!(r.status().unwrap().locked), 5), Some(("cat", cat)));
        drop(holder);
        let mut flock = Command::new("flock").arg("--no-fork").arg(&img).args(["sleep", "60"]).spawn().unwrap();
        while r.exclusive_access_owner().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        row(
            &format!("{n}: owner, held by flock(1)"),
            median(|| assert!(!r.exclusive_access_owner().unwrap().unwrap().by_discrec), 5),
            Some(("cat", cat)),
        );
        let _ = flock.kill();
        let _ = flock.wait();
    }
}

fn lock_command(dev: &Path, run: &Path) -> Duration {
    median(
        || {
            let st = Command::new(DISCREC)
                .env("DISCREC_RUN_DIR", run)
                .arg("lock")
                .arg(dev)
                .args(["--", "true"])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        },
        41,
    )
}

fn flock_command(dev: &Path) -> Duration {
    median(|| assert!(Command::new("flock").arg(dev).arg("true").status().unwrap().success()), 41)
}

fn processes(s: &Scratch) {
    println!("\n### Processes and mount namespaces (a free loop device)\n");
    if !is_root() || !Path::new("/dev/loop-control").exists() {
        println!("skipped: needs root and loop devices");
        return;
    }
    println!("| load | `discrec lock DEV -- true` | baseline | ratio |\n|---|---|---|---|");
    let lo = Loop::new(8);
    for (procs, ns) in [(0usize, 0usize), (2_000, 0), (2_000, 200)] {
        let _load = ProcLoad::new(procs, ns);
        std::thread::sleep(Duration::from_millis(500));
        let total = std::fs::read_dir("/proc").unwrap().filter(|e| {
            e.as_ref().is_ok_and(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        });
        let total = total.count();
        let ours = lock_command(&lo.dev, &s.run);
        let base = flock_command(&lo.dev);
        row(&format!("{total} processes, {ns} more mount namespaces"), ours, Some(("flock(1)", base)));
    }
}

fn flooded(s: &Scratch) {
    println!("\n### A flooded runtime directory\n");
    println!("| files in it: what | discrec | baseline | ratio |\n|---|---|---|---|");
    let img = s.image("flood.iso");
    let r = Recorder::open_in(&img, &s.run).unwrap();
    let mut flock = Command::new("flock").arg("--no-fork").arg(&img).args(["sleep", "600"]).spawn().unwrap();
    while r.exclusive_access_owner().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut made = 0u32;
    for n in [0u32, 200_000] {
        while made < n {
            std::fs::File::create(s.run.join(format!("junk.{made}"))).unwrap();
            made += 1;
        }
        let cat = median(read_proc_locks_to_end, 9);
        row(
            &format!("{n}: owner, held by flock(1)"),
            median(|| assert!(r.exclusive_access_owner().unwrap().is_some()), 21),
            Some(("cat /proc/locks", cat)),
        );
        let wait = median(
            || {
                let st = Command::new(DISCREC)
                    .env("DISCREC_RUN_DIR", &s.run)
                    .args(["lock", "--wait=0.2"])
                    .arg(&img)
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert_eq!(st.code(), Some(3));
            },
            5,
        );
        row(
            &format!("{n}: `lock --wait=0.2`, held by flock(1)"),
            wait,
            Some(("the 200 ms deadline", Duration::from_millis(200))),
        );
    }
    let _ = flock.kill();
    let _ = flock.wait();
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is not supported.
    let s = Scratch::new();
    println!("## discrec at scale ({} CPUs)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    lock_table(&s);
    processes(&s);
    flooded(&s);
}

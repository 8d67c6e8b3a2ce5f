//! Benchmarks, each beside its closest raw baseline in the same run, with
//! the ratio printed at the end (criterion measures; this file reads back
//! criterion's medians to print the table).
//!
//! Run: `cargo bench --bench lock` (as root for the `discrec lock -- true`
//! vs `flock` and hand-off rows it makes no difference).

use std::fs;
use std::hint::black_box;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use discrec::Recorder;
use rustix::fs::{FlockOperation, Mode, OFlags};

struct Setup {
    _dir: tempfile::TempDir,
    run: PathBuf,
    img: PathBuf,
}

fn setup() -> Setup {
    // Like /run/discrec on a real system: on tmpfs where there is one.
    let base = ["/run", "/dev/shm"].into_iter().find(|d| {
        rustix::fs::statfs(*d).map(|s| s.f_type == 0x0102_1994 /* TMPFS_MAGIC */).unwrap_or(false)
    });
    let dir = match base {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let run = dir.path().join("run");
    fs::create_dir(&run).unwrap();
    rustix::fs::chmod(&run, Mode::from_raw_mode(0o1777)).unwrap();
    let img = dir.path().join("rec.iso");
    fs::write(&img, [0u8; 4096]).unwrap();
    Setup { _dir: dir, run, img }
}

/// The system calls a discrec acquire+release on a file makes, done bare:
/// access check, open + fstat of the image, the record directory (open,
/// fstat, access), the last-record pointer (readlink, stat of what it
/// names), the pending owner record (create, flock, chmod, write, mtime 0,
/// POSIX mark, rename without replace) and the per-user pointer (symlink,
/// rename), then the image's flock, then what winning makes (the record's
/// mtime, a readlink of the per-user pointer, the per-drive pointer:
/// symlink, rename), the foreign fcntl-lock probe (POSIX read lock and
/// unlock), and the release: unlock and close, readlink and unlink of the
/// per-drive pointer, unlink and close of the record.
fn bare_acquire_release(node: &Path, run: &Path, body: &[u8], n: u64) {
    use rustix::fs::{Access, AtFlags};
    rustix::fs::accessat(rustix::fs::CWD, node, Access::READ_OK | Access::WRITE_OK, AtFlags::EACCESS).unwrap();
    let fd: OwnedFd =
        rustix::fs::open(node, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())
            .unwrap();
    let _ = rustix::fs::fstat(&fd).unwrap();
    let dir =
        rustix::fs::open(run, OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY, Mode::empty())
            .unwrap();
    let _ = rustix::fs::fstat(&dir).unwrap();
    rustix::fs::accessat(&dir, ".", Access::WRITE_OK, AtFlags::EACCESS).unwrap();
    if let Ok(prev) = rustix::fs::readlinkat(&dir, "ptr", Vec::new()) {
        let _ = rustix::fs::statat(&dir, prev.as_c_str(), AtFlags::SYMLINK_NOFOLLOW);
    }
    let tmp = format!("k.new.{n:016x}");
    let rec = rustix::fs::openat(
        &dir,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    rustix::fs::flock(&rec, FlockOperation::NonBlockingLockExclusive).unwrap();
    rustix::fs::fchmod(&rec, Mode::from_raw_mode(0o644)).unwrap();
    rustix::io::write(&rec, body).unwrap();
    let t = |s| rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec { tv_sec: s, tv_nsec: 0 },
        last_modification: rustix::fs::Timespec { tv_sec: s, tv_nsec: 0 },
    };
    rustix::fs::futimens(&rec, &t(0)).unwrap();
    // The mark: a POSIX lock on one byte at the offset that names the record
    // (rustix locks whole files only; a whole-file lock costs the same call).
    rustix::fs::fcntl_lock(&rec, FlockOperation::NonBlockingLockExclusive).unwrap();
    let name = format!("k.{n}");
    rustix::fs::renameat_with(&dir, tmp.as_str(), &dir, name.as_str(), rustix::fs::RenameFlags::NOREPLACE).unwrap();
    let ptmp = format!("ptr.new.{n:016x}");
    rustix::fs::symlinkat(name.as_str(), &dir, ptmp.as_str()).unwrap();
    rustix::fs::renameat(&dir, ptmp.as_str(), &dir, "ptr").unwrap();
    rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).unwrap();
    rustix::fs::futimens(&rec, &t(1)).unwrap();
    let _ = rustix::fs::readlinkat(&dir, "ptr", Vec::new());
    let htmp = format!("holder.new.{n:016x}");
    rustix::fs::symlinkat(name.as_str(), &dir, htmp.as_str()).unwrap();
    rustix::fs::renameat(&dir, htmp.as_str(), &dir, "holder").unwrap();
    rustix::fs::fcntl_lock(&fd, FlockOperation::NonBlockingLockShared).unwrap();
    rustix::fs::fcntl_lock(&fd, FlockOperation::NonBlockingUnlock).unwrap();
    rustix::fs::flock(&fd, FlockOperation::NonBlockingUnlock).unwrap();
    drop(fd);
    let _ = rustix::fs::readlinkat(&dir, "holder", Vec::new());
    rustix::fs::unlinkat(&dir, "holder", AtFlags::empty()).unwrap();
    rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty()).unwrap();
    drop(rec);
}

fn benches(c: &mut Criterion, s: &Setup) {
    // 1. acquire + release vs the bare system calls.
    let mut g = c.benchmark_group("acquire_release");
    let mut r = Recorder::open_in(&s.img, &s.run).unwrap();
    g.bench_function("discrec", |b| {
        b.iter(|| {
            r.acquire_exclusive_access(false, "Bench Client").unwrap();
            r.release_exclusive_access().unwrap();
        })
    });
    let body = br#"{"v":1,"key":"fabc:123456","pid":12345,"uid":0,"start":123456789,"since_ns":1764294000000000000,"client":"Bench Client","node":"/tmp/x/rec.iso"}"#;
    let mut n = 0u64;
    g.bench_function("bare_syscalls", |b| {
        b.iter(|| {
            n += 1;
            bare_acquire_release(&s.img, &s.run, body, n)
        })
    });
    g.finish();

    // 2. Nested acquire + release on a held handle: no system call.
    let mut g = c.benchmark_group("nested");
    r.acquire_exclusive_access(false, "Bench Client").unwrap();
    g.bench_function("acquire_release", |b| {
        b.iter(|| {
            r.acquire_exclusive_access(false, black_box("Bench Client")).unwrap();
            r.release_exclusive_access().unwrap();
        })
    });
    g.finish();

    r.release_exclusive_access().unwrap();

    // 3. Owner query (held by another process) vs one read of /proc/locks.
    // (A process asking about a drive it holds itself is answered from
    // memory; the query that matters is another process's.)
    let mut g = c.benchmark_group("owner");
    let mut holder = Command::new(env!("CARGO_BIN_EXE_discrec"))
        .env("DISCREC_RUN_DIR", &s.run)
        .args(["lock", "--client", "Bench Client"])
        .arg(&s.img)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("locked"));
    }
    let q = Recorder::open_in(&s.img, &s.run).unwrap();
    assert!(q.exclusive_access_owner().unwrap().unwrap().by_discrec);
    g.bench_function("discrec", |b| b.iter(|| black_box(q.exclusive_access_owner().unwrap())));
    g.bench_function("read_proc_locks", |b| {
        b.iter(|| black_box(discrec::procfs::read_small_file("/proc/locks").unwrap()))
    });
    g.finish();
    let _ = holder.kill();
    let _ = holder.wait();

    // 5. `discrec lock F -- true` vs `flock F true`, and `discrec owner F`
    // on a free drive vs `flock -n F true`: the command line's start-up.
    // Both `discrec`s: this build's (with the cluster lock) and, when
    // `cargo xtask dist` has made it, the installed one without it
    // (target/dist/bin/discrec, which runs discrec-cluster only for
    // cluster options).
    let mut exes = vec![("discrec", PathBuf::from(env!("CARGO_BIN_EXE_discrec")))];
    let lean = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dist/bin/discrec");
    if lean.is_file() {
        exes.push(("discrec_without_cluster", lean));
    } else {
        eprintln!("note: no target/dist/bin/discrec (run cargo xtask dist): the build without the cluster lock is not measured");
    }
    // Each `discrec` with `args` (the image after them), its exit code
    // `code`, beside `flock` with `flock_args` (the image, then `true`).
    let mut group = |id: &str, args: &[&str], code: i32, flock_args: &[&str]| {
        let mut g = c.benchmark_group(id);
        g.sample_size(30);
        for (name, exe) in &exes {
            g.bench_function(*name, |b| {
                b.iter(|| {
                    let st = Command::new(exe)
                        .env("DISCREC_RUN_DIR", &s.run)
                        .arg(args[0])
                        .arg(&s.img)
                        .args(&args[1..])
                        .stdout(Stdio::null())
                        .status()
                        .unwrap();
                    assert_eq!(st.code(), Some(code), "discrec {args:?}");
                })
            });
        }
        g.bench_function("flock", |b| {
            b.iter(|| {
                assert!(Command::new("flock").args(flock_args).arg(&s.img).arg("true").status().unwrap().success())
            })
        });
        g.finish();
    };
    group("lock_command", &["lock", "--", "true"], 0, &[]);
    // A free drive: exit 1.
    group("owner_command", &["owner"], 1, &["-n"]);
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Latency samples: p50 and p99.
struct Lat {
    p50: Duration,
    p99: Duration,
}

fn lat(mut v: Vec<Duration>) -> Lat {
    Lat { p50: percentile(&mut v, 0.5), p99: percentile(&mut v, 0.99) }
}

/// A waiting discrec handle in a thread; returns when it holds the drive.
fn discrec_waiter(s: &Setup) -> std::thread::JoinHandle<Instant> {
    let (img, run) = (s.img.clone(), s.run.clone());
    let (tx, rx) = mpsc::channel();
    let w = std::thread::spawn(move || {
        let mut r = Recorder::open_in(&img, &run).unwrap();
        tx.send(()).unwrap();
        r.acquire_exclusive_access_wait(false, "Waiter", Some(Duration::from_secs(10))).unwrap();
        Instant::now()
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    w
}

/// A thread blocked in a bare flock(LOCK_EX) on its own descriptor.
fn raw_waiter(s: &Setup) -> std::thread::JoinHandle<Instant> {
    let b = rustix::fs::open(&s.img, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
    let (tx, rx) = mpsc::channel();
    let w = std::thread::spawn(move || {
        tx.send(()).unwrap();
        rustix::fs::flock(&b, FlockOperation::LockExclusive).unwrap();
        Instant::now()
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    w
}

/// Kill `holder` and time until `waiter` holds the drive.
fn kill_and_time(mut holder: std::process::Child, waiter: std::thread::JoinHandle<Instant>) -> Duration {
    let t0 = Instant::now();
    holder.kill().unwrap();
    let d = waiter.join().unwrap() - t0;
    let _ = holder.wait();
    d
}

/// Hand-off latency (benchmark 4), from the holder's release (or SIGKILL)
/// to the waiter holding the drive; baselines are the same hand-offs done
/// with a bare blocking flock.
fn handoff(s: &Setup, rounds: usize) -> Vec<(&'static str, Lat, Lat)> {
    let exe = env!("CARGO_BIN_EXE_discrec");
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut holder = Recorder::open_in(&s.img, &s.run).unwrap();
        holder.acquire_exclusive_access(false, "Holder").unwrap();
        let w = discrec_waiter(s);
        let t0 = Instant::now();
        holder.release_exclusive_access().unwrap();
        ours.push(w.join().unwrap() - t0);

        let a = rustix::fs::open(&s.img, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        rustix::fs::flock(&a, FlockOperation::LockExclusive).unwrap();
        let w = raw_waiter(s);
        let t0 = Instant::now();
        drop(a);
        raw.push(w.join().unwrap() - t0);
    }
    let release = ("release → waiter", lat(ours), lat(raw));

    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut holder = Command::new(exe)
            .env("DISCREC_RUN_DIR", &s.run)
            .arg("lock")
            .arg(&s.img)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()), &mut line).unwrap();
        ours.push(kill_and_time(holder, discrec_waiter(s)));

        let holder = Command::new("flock").arg("--no-fork").arg(&s.img).args(["sleep", "100"]).spawn().unwrap();
        while !fs::read_to_string("/proc/locks").unwrap().contains(&format!(" {} ", holder.id())) {
            std::thread::sleep(Duration::from_micros(200));
        }
        raw.push(kill_and_time(holder, raw_waiter(s)));
    }
    vec![release, ("SIGKILL of holder → waiter", lat(ours), lat(raw))]
}

/// Criterion's median for a benchmark id, in ns, if this run measured it
/// (a filtered run leaves older results on disk).
fn median_ns(id: &str, run_start: std::time::SystemTime) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let file = target.join("criterion").join(id).join("new/estimates.json");
    if fs::metadata(&file).and_then(|m| m.modified()).ok()? < run_start {
        return None;
    }
    let text = fs::read_to_string(file).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn fmt_d(d: Duration) -> String {
    fmt_ns(d.as_nanos() as f64)
}

fn main() {
    let run_start = std::time::SystemTime::now();
    let s = setup();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    benches(&mut c, &s);
    c.final_summary();
    let hand = handoff(&s, 200);

    println!("\n| benchmark | discrec | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    for (what, ours, base, target) in [
        (
            "acquire+release (file) vs the bare syscalls",
            "acquire_release/discrec",
            "acquire_release/bare_syscalls",
            "≤ 1.5×",
        ),
        ("owner query vs one read of /proc/locks", "owner/discrec", "owner/read_proc_locks", "≤ 2×"),
        ("`discrec lock F -- true` vs `flock F true`", "lock_command/discrec", "lock_command/flock", "≤ 1.1×"),
        (
            "the same, built without the cluster lock",
            "lock_command/discrec_without_cluster",
            "lock_command/flock",
            "≤ 1.1×",
        ),
        ("`discrec owner F` (free) vs `flock -n F true`", "owner_command/discrec", "owner_command/flock", "≤ 1.1×"),
        (
            "the same, built without the cluster lock",
            "owner_command/discrec_without_cluster",
            "owner_command/flock",
            "≤ 1.1×",
        ),
    ] {
        match (median_ns(ours, run_start), median_ns(base, run_start)) {
            (Some(a), Some(b)) => {
                println!("| {what} | {} | {} | {:.2}× | {target} |", fmt_ns(a), fmt_ns(b), a / b)
            }
            _ => println!("| {what} | (not measured in this run) | | | {target} |"),
        }
    }
    if let Some(n) = median_ns("nested/acquire_release", run_start) {
        println!("| nested acquire+release | {} | (no system call) | | ≤ 50 ns |", fmt_ns(n));
    }
    for (what, ours, raw) in &hand {
        println!(
            "| hand-off {what} (p50 / p99) | {} / {} | {} / {} (bare flock) | {:.0}× / {:.0}× | p99 ≤ 1 ms |",
            fmt_d(ours.p50),
            fmt_d(ours.p99),
            fmt_d(raw.p50),
            fmt_d(raw.p99),
            ours.p50.as_secs_f64() / raw.p50.as_secs_f64(),
            ours.p99.as_secs_f64() / raw.p99.as_secs_f64()
        );
    }
}

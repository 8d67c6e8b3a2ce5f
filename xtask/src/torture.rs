//! `cargo xtask torture [--minutes N] [--quick]`: the lock under abuse.
//!
//! 1. Witness: 16 library clients (`discrec-probe cycle`) × N rounds on
//!    one image; each round proves it is alone with an independent
//!    witness file created with `O_EXCL`, and that the owner query names
//!    it. Any overlap is a double grant.
//! 2. Kills: clients in every phase (waiting, acquiring, holding,
//!    releasing, and `discrec lock --wait IMG -- sleep` in its exec
//!    hand-over) are `SIGKILL`ed at random moments and replaced, while a
//!    monitor asks for the owner without pause: every owner it is told
//!    must be a live client under its own name. After the last kill the
//!    drive must be free at once (no stale lock).
//! 3. Both again with 50,000 unrelated locks and 2,000 more processes.
//! 4. Every fuzz target for N runs (`cargo fuzz`, with overflow checks).
//!
//! The default is the long run CONTRIBUTING.md quotes (10,000 rounds per
//! client, ≥ 10,000 kills, 10 million fuzz runs per target); `--quick` is
//! CI's short run. `--minutes N` bounds the kill phase instead of its count;
//! `--fuzz-runs N` sets the fuzzing (0: none).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Plan {
    rounds: u64,
    kills: u64,
    minutes: Option<f64>,
    fuzz_runs: u64,
    load_locks: usize,
    load_procs: usize,
}

/// A small xorshift: the kill schedule needs spread, not secrecy.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Rng(t.as_nanos() as u64 | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Bins {
    discrec: PathBuf,
    probe: PathBuf,
}

fn build(root: &Path) -> Result<Bins, String> {
    // The command line, and the library's test client (a feature of the
    // library package, off for its users).
    for args in [
        &["-p", "discrec-cli", "--bin", "discrec"][..],
        &["-p", "discrec-core", "--bin", "discrec-probe", "--features", "test-probe"],
    ] {
        let st = Command::new("cargo")
            .current_dir(root)
            .args(["build", "--release", "--quiet"])
            .args(args)
            .status()
            .map_err(|e| format!("cargo build: {e}"))?;
        if !st.success() {
            return Err(format!("cargo build {} failed", args.join(" ")));
        }
    }
    let dir = root.join("target/release");
    Ok(Bins { discrec: dir.join("discrec"), probe: dir.join("discrec-probe") })
}

/// A scratch directory with a runtime directory and an image.
struct Scratch {
    dir: PathBuf,
    run: PathBuf,
    img: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Result<Scratch, String> {
        let dir = std::env::temp_dir().join(format!("discrec-torture-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = dir.join("run");
        std::fs::create_dir_all(&run).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o1777)).map_err(|e| e.to_string())?;
        let img = dir.join("rec.iso");
        std::fs::write(&img, [0u8; 4096]).map_err(|e| e.to_string())?;
        Ok(Scratch { dir, run, img })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A probe that runs `cycle` rounds; its answer (and any violation it
/// prints) comes on stdout.
fn spawn_cycler(bins: &Bins, s: &Scratch, rounds: u64) -> Result<Child, String> {
    let mut c = Command::new(&bins.probe)
        .env("DISCREC_RUN_DIR", &s.run)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn discrec-probe: {e}"))?;
    use std::io::Write;
    let mut stdin = c.stdin.take().expect("piped");
    writeln!(stdin, "open h {}", s.img.display()).map_err(|e| e.to_string())?;
    writeln!(stdin, "cycle h {rounds} {}", s.dir.join("witness").display()).map_err(|e| e.to_string())?;
    // Closing stdin would end the probe after the cycle; keep it open.
    std::mem::forget(stdin);
    Ok(c)
}

fn phase_witness(bins: &Bins, rounds: u64, tag: &str) -> Result<(u64, u64, Duration), String> {
    let s = Scratch::new(tag)?;
    let t = Instant::now();
    let children: Vec<Child> = (0..16).map(|_| spawn_cycler(bins, &s, rounds)).collect::<Result<_, _>>()?;
    let (mut done, mut violations) = (0u64, 0u64);
    for mut c in children {
        // Lines: the greeting, `open`, then the cycle's answer.
        let mut out = std::io::BufReader::new(c.stdout.take().expect("piped"));
        let mut answer = String::new();
        for _ in 0..3 {
            answer.clear();
            std::io::BufRead::read_line(&mut out, &mut answer).map_err(|e| e.to_string())?;
        }
        let _ = c.kill();
        let _ = c.wait();
        if answer.is_empty() {
            return Err("a client gave no answer".into());
        }
        let v: serde_json::Value = serde_json::from_str(&answer).map_err(|e| format!("{e}: {answer}"))?;
        done += v["cycles"].as_u64().unwrap_or(0);
        for m in v["violations"].as_array().into_iter().flatten() {
            eprintln!("torture: violation: {m}");
            violations += 1;
        }
    }
    Ok((done, violations, t.elapsed()))
}

struct KillReport {
    kills: u64,
    wrong_owners: u64,
    stale: u64,
    owner_checks: u64,
    elapsed: Duration,
}

enum Worker {
    /// A library client in `cycle`: its name is `Torture PID`.
    Probe(Child),
    /// `discrec lock --wait --client "Torture Lock" IMG -- sleep S`.
    Cli(Child),
}

impl Worker {
    fn child(&mut self) -> &mut Child {
        match self {
            Worker::Probe(c) | Worker::Cli(c) => c,
        }
    }
}

fn spawn_worker(bins: &Bins, s: &Scratch, i: u64, rng: &mut Rng) -> Result<Worker, String> {
    if i.is_multiple_of(2) {
        return spawn_cycler(bins, s, u64::MAX / 2).map(Worker::Probe);
    }
    let secs = format!("0.00{}", 1 + rng.below(9));
    Command::new(&bins.discrec)
        .env("DISCREC_RUN_DIR", &s.run)
        .args(["lock", "--wait", "--client", "Torture Lock"])
        .arg(&s.img)
        .args(["--", "sleep", &secs])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Worker::Cli)
        .map_err(|e| format!("spawn discrec lock: {e}"))
}

fn phase_kills(bins: &Bins, plan: &Plan, tag: &str) -> Result<KillReport, String> {
    let s = Scratch::new(tag)?;
    let mut rng = Rng::new();
    // pid → the client name it must be reported under.
    let names: Arc<Mutex<HashMap<i32, String>>> = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let wrong = Arc::new(AtomicU64::new(0));
    let checks = Arc::new(AtomicU64::new(0));
    let monitor = {
        let (names, stop, wrong, checks) = (names.clone(), stop.clone(), wrong.clone(), checks.clone());
        let (img, run) = (s.img.clone(), s.run.clone());
        std::thread::spawn(move || {
            let r = discrec::Recorder::open_in(&img, &run).expect("open the image");
            while !stop.load(Ordering::Relaxed) {
                checks.fetch_add(1, Ordering::Relaxed);
                let Ok(Some(o)) = r.exclusive_access_owner() else { continue };
                if !o.by_discrec {
                    // A holder whose record is not (yet, or any more) there:
                    // never a wrong name, only none.
                    continue;
                }
                let pid = o.pid.unwrap_or(0);
                let want = names.lock().unwrap_or_else(|e| e.into_inner()).get(&pid).cloned();
                let alive = Path::new(&format!("/proc/{pid}")).exists();
                // A worker spawned this instant may not be in the map yet.
                let name_ok = match want {
                    Some(w) => o.client_name.as_deref() == Some(w.as_str()),
                    None => o.client_name.as_deref().is_some_and(|n| n.starts_with("Torture")),
                };
                if !name_ok || !alive {
                    // Reported, then checked again: a holder killed between the
                    // query and the check is not a wrong answer.
                    let again = r.exclusive_access_owner().ok().flatten();
                    if again.as_ref().is_some_and(|a| a.pid == o.pid && a.by_discrec)
                        && !Path::new(&format!("/proc/{pid}")).exists()
                    {
                        eprintln!("torture: wrong owner {o:?}");
                        wrong.fetch_add(1, Ordering::Relaxed);
                    } else if !name_ok {
                        eprintln!("torture: owner under a wrong name {o:?}");
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let mut workers: Vec<Worker> = Vec::new();
    let mut spawned = 0u64;
    let mut add = |workers: &mut Vec<Worker>, rng: &mut Rng| -> Result<(), String> {
        let mut w = spawn_worker(bins, &s, spawned, rng)?;
        spawned += 1;
        let pid = w.child().id() as i32;
        let name = match &w {
            Worker::Probe(_) => format!("Torture {pid}"),
            Worker::Cli(_) => "Torture Lock".to_string(),
        };
        names.lock().unwrap_or_else(|e| e.into_inner()).insert(pid, name);
        workers.push(w);
        Ok(())
    };
    for _ in 0..6 {
        add(&mut workers, &mut rng)?;
    }
    let t = Instant::now();
    let deadline = plan.minutes.map(|m| t + Duration::from_secs_f64(m * 60.0));
    let mut kills = 0u64;
    let mut stale = 0u64;
    while deadline.map_or(kills < plan.kills, |d| Instant::now() < d) {
        while workers.len() < 6 {
            add(&mut workers, &mut rng)?;
        }
        std::thread::sleep(Duration::from_micros(200 + rng.below(3000)));
        let i = rng.below(workers.len() as u64) as usize;
        let mut w = workers.swap_remove(i);
        let _ = w.child().kill();
        let _ = w.child().wait();
        kills += 1;
        // Reap CLI workers that finished by themselves.
        workers.retain_mut(|w| !matches!(w.child().try_wait(), Ok(Some(_))));
        while workers.len() < 6 {
            add(&mut workers, &mut rng)?;
        }
        // Now and then: everyone dies at once; the drive must be free.
        if kills.is_multiple_of(500) {
            for w in &mut workers {
                let _ = w.child().kill();
                let _ = w.child().wait();
            }
            workers.clear();
            if !drive_free_soon(&s) {
                eprintln!("torture: a stale lock after every client was killed (at kill {kills})");
                stale += 1;
            }
        }
    }
    for w in &mut workers {
        let _ = w.child().kill();
        let _ = w.child().wait();
    }
    stop.store(true, Ordering::Relaxed);
    monitor.join().map_err(|_| "the monitor panicked")?;
    if !drive_free_soon(&s) {
        stale += 1;
    }
    Ok(KillReport {
        kills,
        wrong_owners: wrong.load(Ordering::Relaxed),
        stale,
        owner_checks: checks.load(Ordering::Relaxed),
        elapsed: t.elapsed(),
    })
}

/// Free within 500 ms of the last holder's death (a holder killed while
/// spawning its command leaves descriptor copies in the child until its
/// exec closes them), and a new client gets it.
fn drive_free_soon(s: &Scratch) -> bool {
    let r = match discrec::Recorder::open_in(&s.img, &s.run) {
        Ok(r) => r,
        Err(_) => return false,
    };
    let end = Instant::now() + Duration::from_millis(500);
    while Instant::now() < end {
        if r.exclusive_access_owner().is_ok_and(|o| o.is_none()) {
            let mut r = r;
            return r.acquire_exclusive_access(false, "Torture Check").is_ok();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Unrelated load: `locks` flocks held by python3 processes and `procs`
/// idle processes.
fn load(locks: usize, procs: usize) -> Result<Vec<Child>, String> {
    let dir = std::env::temp_dir().join(format!("discrec-torture-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut left = locks;
    let mut part = 0;
    while left > 0 {
        let k = left.min(15_000);
        let script = format!(
            "import fcntl,os,sys\nfds=[]\nfor i in range({k}):\n    fd=os.open('{d}/{part}.%d' % i, os.O_CREAT|os.O_RDWR, 0o600)\n    fcntl.flock(fd, fcntl.LOCK_EX)\n    fds.append(fd)\nprint('ready', flush=True)\nsys.stdin.read()\n",
            d = dir.display()
        );
        let mut c = Command::new("python3")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("python3: {e}"))?;
        let mut b = [0u8; 6];
        c.stdout.as_mut().expect("piped").read_exact(&mut b).map_err(|e| e.to_string())?;
        out.push(c);
        left -= k;
        part += 1;
    }
    for _ in 0..procs {
        out.push(Command::new("sleep").arg("3600").stdin(Stdio::null()).spawn().map_err(|e| format!("sleep: {e}"))?);
    }
    Ok(out)
}

/// The fuzz crates: the MMC crate's (drive replies) and the library's
/// (kernel tables). They share one target directory, as in `scripts/fuzz`.
const FUZZ_CRATES: [&str; 2] = ["crates/mmc/fuzz", "crates/discrec/fuzz"];

fn fuzz(root: &Path, runs: u64) -> Result<(), String> {
    for dir in FUZZ_CRATES {
        let fuzz = root.join(dir);
        let cargo = || {
            let mut c = Command::new("cargo");
            c.current_dir(&fuzz).env("RUSTC_BOOTSTRAP", "1").env("CARGO_TARGET_DIR", root.join("target/fuzz"));
            c
        };
        let list = match cargo().args(["fuzz", "list"]).output() {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            _ => return Err("cargo fuzz is not installed (cargo install cargo-fuzz --locked)".into()),
        };
        for t in list.lines().map(str::trim).filter(|t| !t.is_empty()) {
            let started = Instant::now();
            let st = cargo()
                .args(["fuzz", "run", "--debug-assertions", t, "--", &format!("-runs={runs}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| e.to_string())?;
            if !st.success() {
                return Err(format!("fuzz target {t} failed (see {dir}/artifacts/{t})"));
            }
            println!("torture: fuzz {t}: {runs} runs, no crash ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

pub fn torture(root: &Path, args: &[String]) -> Result<bool, String> {
    let quick = args.iter().any(|a| a == "--quick");
    let value = |name: &str| args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse::<f64>().ok());
    let minutes = value("--minutes");
    let mut plan = if quick {
        Plan { rounds: 300, kills: 600, minutes, fuzz_runs: 0, load_locks: 50_000, load_procs: 2_000 }
    } else {
        Plan { rounds: 10_000, kills: 10_000, minutes, fuzz_runs: 10_000_000, load_locks: 50_000, load_procs: 2_000 }
    };
    if let Some(n) = value("--fuzz-runs") {
        plan.fuzz_runs = n as u64;
    }
    let bins = build(root)?;
    let mut ok = true;
    for loaded in [false, true] {
        let _load = if loaded { Some(load(plan.load_locks, plan.load_procs)?) } else { None };
        let what = if loaded {
            format!("with {} unrelated locks and {} more processes", plan.load_locks, plan.load_procs)
        } else {
            "on an idle machine".to_string()
        };
        let tag = if loaded { "loaded" } else { "idle" };
        let (done, violations, took) = phase_witness(&bins, plan.rounds, tag)?;
        println!(
            "torture: witness {what}: 16 clients x {} rounds = {done} grants in {:.1} s, {violations} double grants or wrong owners",
            plan.rounds,
            took.as_secs_f64()
        );
        ok &= violations == 0 && done == 16 * plan.rounds;
        let k = phase_kills(&bins, &plan, tag)?;
        println!(
            "torture: kills {what}: {} SIGKILLs in {:.1} s, {} owner queries, {} wrong owners, {} stale locks",
            k.kills,
            k.elapsed.as_secs_f64(),
            k.owner_checks,
            k.wrong_owners,
            k.stale
        );
        ok &= k.wrong_owners == 0 && k.stale == 0;
        if let Some(mut children) = _load {
            for c in &mut children {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    if plan.fuzz_runs > 0 {
        if let Err(e) = fuzz(root, plan.fuzz_runs) {
            eprintln!("torture: {e}");
            ok = false;
        }
    }
    println!("torture: {}", if ok { "passed" } else { "FAILED" });
    Ok(ok)
}

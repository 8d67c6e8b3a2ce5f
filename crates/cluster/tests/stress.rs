//! Many processes on two "hosts" contend for one cluster key, each
//! through its own recorder: 8 processes per host name, each on its host's
//! image file (the drive as that host sees it, with the host's own run
//! directory for the local lock), 16 in all, each acquiring and releasing
//! `DISCREC_STRESS_CYCLES` times (default 1,000). An independent witness
//! (a file created with `O_EXCL` by whoever holds the drive, removed
//! before release) catches two holders at once; every process must finish
//! all its cycles (every waiter served).
//!
//! The processes are this test binary run again with `DISCREC_STRESS_WORKER`
//! set; the entry point below does nothing otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use discrec::Recorder;
use discrec_cluster::{Config, Etcd};

mod support {
    pub mod etcd_server;
}
use support::etcd_server::EtcdServer;

const PROCESSES_PER_HOST: usize = 8;

fn cycles() -> usize {
    std::env::var("DISCREC_STRESS_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000)
}

/// One worker: `cycles` acquire/release rounds; prints `violations N`.
fn worker(url: &str, host: &str, dir: &Path, cycles: usize) {
    let mut cfg = Config::new(url);
    cfg.host = host.into();
    cfg.timeout = Duration::from_secs(10);
    let etcd = Arc::new(Etcd::connect(cfg).expect("etcd"));
    let mut rec = Recorder::open_in(dir.join(format!("{host}.img")), dir.join(format!("run-{host}"))).unwrap();
    rec.set_cluster(etcd, "stress-dvd").unwrap();
    let witness = dir.join("witness");
    let mut violations = 0;
    for _ in 0..cycles {
        rec.acquire_exclusive_access_wait(false, "Stress", Some(Duration::from_secs(120))).expect("acquire");
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&witness) {
            Ok(_) => {
                std::thread::yield_now();
                std::fs::remove_file(&witness).unwrap();
            }
            Err(_) => violations += 1,
        }
        rec.release_exclusive_access().unwrap();
    }
    println!("violations {violations}");
}

#[test]
fn stress_worker_entry_point() {
    // Only a worker process of the test below does anything here.
    let Ok(spec) = std::env::var("DISCREC_STRESS_WORKER") else { return };
    let mut parts = spec.splitn(4, '|');
    let (url, host, dir, n) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap(), parts.next());
    worker(url, host, Path::new(dir), n.and_then(|n| n.parse().ok()).unwrap_or(1000));
}

#[test]
fn sixteen_processes_on_two_hosts_never_hold_at_once() {
    let Some(server) = EtcdServer::start() else { return };
    let d = tempfile::tempdir().unwrap();
    for host in ["host-a", "host-b"] {
        std::fs::File::create(d.path().join(format!("{host}.img"))).unwrap();
        std::fs::create_dir_all(d.path().join(format!("run-{host}"))).unwrap();
    }
    let n = cycles();
    let exe = std::env::current_exe().unwrap();
    let t = Instant::now();
    let children: Vec<_> = (0..2 * PROCESSES_PER_HOST)
        .map(|i| {
            let host = if i < PROCESSES_PER_HOST { "host-a" } else { "host-b" };
            let dir: PathBuf = d.path().to_path_buf();
            Command::new(&exe)
                .args(["--exact", "stress_worker_entry_point", "--nocapture", "--test-threads=1"])
                .env("DISCREC_STRESS_WORKER", format!("{}|{host}|{}|{n}", server.url, dir.display()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut violations = 0;
    for c in children {
        let o = c.wait_with_output().unwrap();
        // (libtest may pass a test's output to either stream.)
        let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "a worker failed: {out}");
        let v: usize = out
            .lines()
            .find_map(|l| l.split_once("violations ").map(|(_, v)| v))
            .unwrap_or_else(|| panic!("a worker did not finish its cycles: {out}"))
            .split_whitespace()
            .next()
            .unwrap_or("")
            .parse()
            .unwrap();
        violations += v;
    }
    let took = t.elapsed();
    let total = 2 * PROCESSES_PER_HOST * n;
    println!(
        "{total} acquire/release cycles by 16 processes on 2 hosts in {:.1} s ({:.2} ms each): {violations} violations",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / total as f64
    );
    assert_eq!(violations, 0, "two holders at once {violations} times");
}

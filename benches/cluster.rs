//! `cargo bench --bench cluster`: the cluster lock against the closest
//! raw baselines on the same single-member etcd (started here on
//! 127.0.0.1, data in /dev/shm), side by side in one run, with ratios.
//!
//! * `discrec lock --cluster URL --cluster-key K IMG -- true` against
//!   `etcdctl lock K true`: wall time of the whole command, alternating,
//!   median of `DISCREC_BENCH_ROUNDS` (default 30);
//! * the library's acquire + release (local lock on an image file, then
//!   the cluster lock) against the bare etcd round trips a lock needs
//!   (lease grant, transaction, delete, revoke) made with the same etcd
//!   client (`discrec_cluster::client`): median of 10 × rounds;
//! * hand-over from a release by a client of "host-a" to a waiter of
//!   "host-b" (another connection, another process's worth of state):
//!   p50 and p99 of 10 × rounds.

use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use discrec::Recorder;
use discrec_cluster::client::{pb, Client, Options};
use discrec_cluster::{Config, Etcd};

#[path = "../crates/cluster/tests/support/etcd_server.rs"]
mod etcd_server;

const DISCREC: &str = env!("CARGO_BIN_EXE_discrec");

fn rounds() -> usize {
    std::env::var("DISCREC_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(30)
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn timed(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let o = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    let took = t.elapsed();
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
    took
}

fn recorder(dir: &std::path::Path, url: &str, host: &str) -> Recorder {
    let img = dir.join(format!("{host}.img"));
    std::fs::File::create(&img).unwrap();
    let run = dir.join(format!("run-{host}"));
    std::fs::create_dir_all(&run).unwrap();
    let mut cfg = Config::new(url);
    cfg.host = host.into();
    let mut r = Recorder::open_in(&img, &run).unwrap();
    r.set_cluster(Arc::new(Etcd::connect(cfg).unwrap()), "bench-dvd").unwrap();
    r
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(etcd) = etcd_server::EtcdServer::start() else { return };
    let n = rounds();
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("cli.img");
    std::fs::File::create(&img).unwrap();

    // 1. The commands.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..n {
        ours.push(timed(
            Command::new(DISCREC)
                .args(["lock", "--cluster", &etcd.url, "--cluster-key", "bench-cli"])
                .arg(&img)
                .args(["--", "true"]),
        ));
        theirs.push(timed(Command::new("etcdctl").env("ETCDCTL_API", "3").args([
            "--endpoints",
            &etcd.url,
            "lock",
            "bench-cli",
            "true",
        ])));
    }
    let (a, b) = (pct(ours, 0.5), pct(theirs, 0.5));
    println!("command, median of {n}:");
    println!("  discrec lock --cluster URL --cluster-key K IMG -- true   {:8.2} ms", ms(a));
    println!("  etcdctl lock KEY true                    {:8.2} ms", ms(b));
    println!("  ratio discrec / etcdctl                  {:8.2}x", a.as_secs_f64() / b.as_secs_f64());

    // 2. The library against the bare round trips.
    let m = 10 * n;
    let mut rec = recorder(dir.path(), &etcd.url, "host-a");
    std::fs::create_dir_all(dir.path().join("run-local")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = rt.block_on(Client::connect(std::slice::from_ref(&etcd.url), Options::default())).unwrap();
    let (mut lib, mut bare) = (Vec::new(), Vec::new());
    for i in 0..m {
        let t = Instant::now();
        rec.acquire_exclusive_access(false, "Bench").unwrap();
        rec.release_exclusive_access().unwrap();
        lib.push(t.elapsed());
        let t = Instant::now();
        rt.block_on(async {
            let lease = client.lease_grant(10).await.unwrap().id;
            let key = format!("bare/{i}").into_bytes();
            let txn = pb::TxnRequest {
                compare: vec![pb::Compare {
                    key: key.clone(),
                    target: pb::compare::CompareTarget::Create as i32,
                    target_union: Some(pb::compare::TargetUnion::CreateRevision(0)),
                    ..Default::default()
                }],
                success: vec![pb::RequestOp {
                    request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                        key: key.clone(),
                        value: b"x".to_vec(),
                        lease,
                        ..Default::default()
                    })),
                }],
                failure: vec![],
            };
            client.txn(txn).await.unwrap();
            client.delete_range(pb::DeleteRangeRequest { key, ..Default::default() }).await.unwrap();
            client.lease_revoke(lease).await.unwrap();
        });
        bare.push(t.elapsed());
    }
    let mut local = Recorder::open_in(dir.path().join("host-a.img"), dir.path().join("run-local")).unwrap();
    let mut alone = Vec::new();
    for _ in 0..m {
        let t = Instant::now();
        local.acquire_exclusive_access(false, "Bench").unwrap();
        local.release_exclusive_access().unwrap();
        alone.push(t.elapsed());
    }
    let (a, b) = (pct(lib, 0.5), pct(bare, 0.5));
    println!("acquire + release, median of {m}:");
    println!("  library, local lock only (no cluster)    {:8.3} ms", ms(pct(alone, 0.5)));
    println!("  library (local lock + cluster lock)      {:8.3} ms", ms(a));
    println!("  bare grant + txn + delete + revoke       {:8.3} ms", ms(b));
    println!("  ratio library / bare                     {:8.2}x", a.as_secs_f64() / b.as_secs_f64());

    // 3. Hand-over across hosts.
    let barrier = Arc::new(Barrier::new(2));
    let (url, path) = (etcd.url.clone(), dir.path().to_path_buf());
    let b2 = barrier.clone();
    let waiter = std::thread::spawn(move || {
        let mut r = recorder(&path, &url, "host-b");
        let mut got = Vec::new();
        for _ in 0..m {
            b2.wait();
            r.acquire_exclusive_access_wait(false, "Waiter", Some(Duration::from_secs(10))).unwrap();
            got.push(Instant::now());
            r.release_exclusive_access().unwrap();
            b2.wait();
        }
        got
    });
    let mut released = Vec::new();
    for _ in 0..m {
        rec.acquire_exclusive_access(false, "Holder").unwrap();
        barrier.wait();
        std::thread::sleep(Duration::from_millis(3));
        released.push(Instant::now());
        rec.release_exclusive_access().unwrap();
        barrier.wait();
    }
    let got = waiter.join().unwrap();
    let d: Vec<Duration> = got.iter().zip(&released).map(|(g, r)| g.duration_since(*r)).collect();
    println!("hand-over host-a release -> host-b granted, {m} times:");
    println!("  p50 {:.2} ms   p99 {:.2} ms", ms(pct(d.clone(), 0.5)), ms(pct(d, 0.99)));
}

//! The command line's cluster lock against a real etcd: two "hosts" (two
//! host names, each with its own image file standing for one shared
//! drive) hold, refuse, name and hand over the drive through `--cluster`.
//! The two-guest test on one iSCSI drive is the guest tier's.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `discrec` on "host" `host`, pointed at etcd by `$DISCREC_ETCD`.
fn on(host: &str, s: &Scratch, url: &str) -> Command {
    let mut c = s.discrec();
    c.env("DISCREC_HOSTNAME", host).env("DISCREC_ETCD", url);
    c
}

#[test]
fn two_hosts_share_one_drive_through_etcd() {
    let Some(etcd) = EtcdServer::start() else { return };
    let s = Scratch::new();
    let (img_a, img_b) = (s.dir.path().join("a.img"), s.dir.path().join("b.img"));
    std::fs::File::create(&img_a).unwrap();
    std::fs::File::create(&img_b).unwrap();
    let key = ["--cluster-key", "shared-dvd", "--cluster-ttl", "2"];
    // Host A holds it.
    let mut a = on("host-a", &s, &etcd.url);
    a.arg("lock").args(key).args(["--client", "A Burner"]).arg(&img_a);
    let (mut holder, line) = spawn_holder(a);
    assert!(line.starts_with("locked "), "{line}");
    // Host B sees who holds it, and where.
    let o = on("host-b", &s, &etcd.url).arg("owner").args(key).arg(&img_b).output().unwrap();
    assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stdout).trim()), (Some(0), "A Burner"));
    let o = on("host-b", &s, &etcd.url).args(["owner", "--json"]).args(key).arg(&img_b).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["client_name"].as_str(), v["host"].as_str()), (Some("A Burner"), Some("host-a")), "{v}");
    // Host B is refused, naming client and host; its burn writes nothing.
    let o = on("host-b", &s, &etcd.url).arg("lock").args(key).arg(&img_b).args(["--", "true"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(
        err.contains("\"A Burner\"") && err.contains("on host-a") && err.contains("E_IMAPI_RECORDER_LOCKED"),
        "{err}"
    );
    let src = s.dir.path().join("src.iso");
    std::fs::write(&src, vec![7u8; 4096]).unwrap();
    let o = on("host-b", &s, &etcd.url).arg("burn").args(key).arg(&img_b).arg(&src).output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::metadata(&img_b).unwrap().len(), 0, "host B wrote while host A held the drive");
    // Host A is SIGKILLed: its lease expires within the TTL (2 s) and a
    // waiter on host B gets the drive.
    let waiter = on("host-b", &s, &etcd.url)
        .arg("lock")
        .args(key)
        .args(["--wait=15", "--client", "B Burner"])
        .arg(&img_b)
        .args(["--", "true"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    holder.kill().unwrap();
    holder.wait().unwrap();
    let st = waiter.wait_with_output().unwrap().status;
    let took = killed.elapsed();
    println!("host B got the drive {took:?} after host A's holder was SIGKILLed (TTL 2 s)");
    assert!(st.success() && took < Duration::from_secs(3), "{st:?} after {took:?}");
    drop(etcd);
}

#[test]
fn an_image_needs_a_cluster_key_and_etcd_must_answer() {
    let s = Scratch::new();
    let img = s.image("x.img");
    let Some(etcd) = EtcdServer::start() else { return };
    let o = s.discrec().args(["lock", "--cluster", &etcd.url]).arg(&img).args(["--", "true"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--cluster-key"), "{err}");
    drop(etcd);
    // Nothing listening: a bounded error naming the URL, not a hang and not
    // a silent fallback to the local lock.
    let url = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let t = Instant::now();
    let o = s
        .discrec()
        .args(["lock", "--cluster", &url, "--cluster-key", "k"])
        .arg(&img)
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(26), "{err}");
    assert!(err.contains(&url) && t.elapsed() < Duration::from_secs(8), "{err} after {:?}", t.elapsed());
}

//! The cluster lock against a real etcd (Debian's etcd-server 3.4, started
//! here on 127.0.0.1 with a temporary data directory). Two "hosts" are two
//! clients with distinct host names sharing one cluster key, each on its
//! own image file: the same drive as two machines would see it.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use discrec::{Recorder, WaitPolicy};
use discrec_cluster::{Config, Etcd};

mod support {
    pub mod etcd_server;
}
use support::etcd_server::{etcdctl, EtcdServer};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn host(url: &str, name: &str, ttl: u64) -> Arc<Etcd> {
    let mut cfg = Config::new(url);
    cfg.host = name.into();
    cfg.ttl = Duration::from_secs(ttl);
    Arc::new(Etcd::connect(cfg).unwrap())
}

fn recorder(dir: &Path, name: &str, service: Arc<Etcd>) -> Recorder {
    let img = dir.join(name);
    std::fs::File::create(&img).unwrap();
    let run = dir.join(format!("run-{name}"));
    std::fs::create_dir_all(&run).unwrap();
    let mut r = Recorder::open_in(&img, &run).unwrap();
    r.set_cluster(service, "drive-under-test").unwrap();
    r
}

#[test]
fn one_holder_across_hosts_named_with_its_host() {
    let Some(server) = EtcdServer::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let mut a = recorder(d.path(), "a.img", host(&server.url, "host-a", 10));
    let mut b = recorder(d.path(), "b.img", host(&server.url, "host-b", 10));
    a.acquire_exclusive_access(false, "Burner A").unwrap();
    assert!(a.fencing_token().unwrap() > 0);
    let e = b.acquire_exclusive_access(false, "Burner B").unwrap_err();
    assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED", "{e}");
    assert!(e.to_string().contains("\"Burner A\"") && e.to_string().contains("on host-a"), "{e}");
    let o = b.exclusive_access_owner().unwrap().expect("B sees A's hold");
    assert_eq!((o.client_name.as_deref(), o.host.as_deref()), (Some("Burner A"), Some("host-a")));
    // B's refusal left B's local lock free.
    assert!(Recorder::open_in(d.path().join("b.img"), d.path().join("run-b.img")).unwrap().lock_count() == 0);
    // Nested acquires count on the handle; the cluster lock goes at zero.
    a.acquire_exclusive_access(false, "Burner A").unwrap();
    a.release_exclusive_access().unwrap();
    assert!(b.acquire_exclusive_access(false, "Burner B").is_err(), "released at a count of 1");
    a.release_exclusive_access().unwrap();
    b.acquire_exclusive_access(false, "Burner B").unwrap();
    let o = a.exclusive_access_owner().unwrap().unwrap();
    assert_eq!((o.client_name.as_deref(), o.host.as_deref()), (Some("Burner B"), Some("host-b")));
    let (ta, tb) = (0, b.fencing_token().unwrap());
    assert!(tb > ta);
    b.release_exclusive_access().unwrap();
    assert!(a.exclusive_access_owner().unwrap().is_none());
}

#[test]
fn a_waiter_on_another_host_gets_the_drive_on_release() {
    let Some(server) = EtcdServer::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let mut a = recorder(d.path(), "a.img", host(&server.url, "host-a", 10));
    a.acquire_exclusive_access(false, "First").unwrap();
    let url = server.url.clone();
    let dir = d.path().to_path_buf();
    let waiter = std::thread::spawn(move || {
        let mut b = recorder(&dir, "b.img", host(&url, "host-b", 10));
        let t = Instant::now();
        b.acquire_exclusive_access_wait(false, "Second", Some(Duration::from_secs(10))).map(|_| t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));
    let released = Instant::now();
    a.release_exclusive_access().unwrap();
    let waited = waiter.join().unwrap().unwrap();
    println!("hand-over across hosts: {:?} after release", released.elapsed());
    assert!(waited >= Duration::from_millis(400) && released.elapsed() < Duration::from_secs(2), "{waited:?}");
}

#[test]
fn unreachable_etcd_is_a_bounded_error_naming_the_url() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    let e = Etcd::connect(Config::new(&url)).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(8), "took {:?}", t.elapsed());
    assert_eq!((e.name(), e.exit_code()), ("E_FAIL", 26), "{e}");
    assert!(e.to_string().contains(&url), "{e}");
}

#[test]
fn a_holder_cut_off_from_etcd_knows_before_its_lease_expires() {
    let Some(mut server) = EtcdServer::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let mut a = recorder(d.path(), "a.img", host(&server.url, "host-a", 3));
    a.acquire_exclusive_access(false, "Cut Off").unwrap();
    assert!(a.cluster_lock_lost().is_none());
    let cut = Instant::now();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    while a.cluster_lock_lost().is_none() {
        assert!(cut.elapsed() < Duration::from_secs(3), "not told within the 3 s TTL");
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("lost after {:?}: {}", cut.elapsed(), a.cluster_lock_lost().unwrap());
    assert!(cut.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_forged_owner_record_is_tamed_before_it_is_shown() {
    let Some(server) = EtcdServer::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let b = recorder(d.path(), "b.img", host(&server.url, "host-b", 10));
    // Anyone who may write to etcd can put a record with terminal escapes
    // and a huge host name under the drive's prefix.
    let forged = serde_json::json!({"client_name": "Evil\u{1b}[2J\nBurner", "host": "h".repeat(100_000),
        "pid": 1, "uid": 0, "user": "root\r", "since_ms": 253_402_300_800_000u64, "command": null});
    let o = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &server.url, "put", "discrec/drive/drive-under-test/forged", &forged.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let owner = b.exclusive_access_owner().unwrap().expect("the forged record names a holder");
    let (name, host) = (owner.client_name.clone().unwrap(), owner.host.clone().unwrap());
    assert_eq!(name, "Evil?[2J?Burner");
    assert!(host.len() <= 255 && !host.chars().any(char::is_control), "{} chars", host.len());
    assert_eq!(owner.user.as_deref(), Some("root?"));
    // A time past year 9999 is shown, not a panic.
    assert!(owner.held_by().contains("9999-12-31"), "{}", owner.held_by());
    assert!(discrec::Owner::answer_json(Some(&owner)).to_string().contains("9999-12-31"));
}

#[test]
fn a_holder_whose_key_is_deleted_knows_it_lost_the_drive() {
    let Some(server) = EtcdServer::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let mut a = recorder(d.path(), "a.img", host(&server.url, "host-a", 10));
    let mut b = recorder(d.path(), "b.img", host(&server.url, "host-b", 10));
    a.acquire_exclusive_access(false, "Holder").unwrap();
    // An administrator (or anyone who may write to etcd) deletes the key.
    etcdctl(&server.url, &[], &["del", "--prefix", "discrec/drive/drive-under-test/"]);
    let t = Instant::now();
    while a.cluster_lock_lost().is_none() {
        assert!(t.elapsed() < Duration::from_secs(3), "the holder never noticed its key was deleted");
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("told {:?} after the delete: {}", t.elapsed(), a.cluster_lock_lost().unwrap());
    assert!(a.check_cluster_lock().is_err());
    b.acquire_exclusive_access(false, "Other").unwrap();
}

#[test]
fn a_waiter_whose_key_is_deleted_stops_waiting() {
    let Some(server) = EtcdServer::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let mut a = recorder(d.path(), "a.img", host(&server.url, "host-a", 10));
    a.acquire_exclusive_access(false, "Holder").unwrap();
    let (url, dir) = (server.url.clone(), d.path().to_path_buf());
    let waiter = std::thread::spawn(move || {
        let mut b = recorder(&dir, "b.img", host(&url, "host-b", 10));
        let t = Instant::now();
        let r = b.acquire_exclusive_access_wait(false, "Waiter", Some(Duration::from_secs(20)));
        (r, t.elapsed())
    });
    // The waiter's key is the second under the prefix.
    let t = Instant::now();
    let keys = loop {
        let keys: Vec<String> =
            etcdctl(&server.url, &[], &["get", "--prefix", "--keys-only", "discrec/drive/drive-under-test/"])
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
        if keys.len() == 2 || t.elapsed() > Duration::from_secs(5) {
            break keys;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(keys.len(), 2, "{keys:?}");
    let holder_key = etcdctl(
        &server.url,
        &[],
        &["get", "--prefix", "--keys-only", "--limit", "1", "--sort-by", "CREATE", "discrec/drive/drive-under-test/"],
    );
    let waiter_key = keys.iter().find(|k| !holder_key.contains(k.as_str())).unwrap().clone();
    etcdctl(&server.url, &[], &["del", &waiter_key]);
    let (r, took) = waiter.join().unwrap();
    let e = r.unwrap_err();
    assert!(e.to_string().contains("lost our place"), "{e}");
    assert!(took < Duration::from_secs(5), "the waiter took {took:?}");
    assert!(a.check_cluster_lock().is_ok());
}

/// Every way out of a wait but a grant leaves the queue: a refusal, a wait
/// that timed out and a cancelled one each revoke their lease before they
/// return, so the holder's key and lease are all that is left in etcd and
/// the next client is served as soon as the holder releases.
#[test]
fn every_way_out_of_a_wait_but_a_grant_leaves_the_queue() {
    use discrec::cluster::Coordinator;
    use std::io::Write;
    use std::os::fd::AsFd;

    let Some(server) = EtcdServer::start() else { return };
    let (a, b) = (host(&server.url, "host-a", 10), host(&server.url, "host-b", 10));
    let owner = |name: &str| discrec::Owner {
        client_name: Some(name.into()),
        pid: None,
        uid: None,
        user: None,
        since: None,
        by_discrec: true,
        command: None,
        lock: discrec::holders::LockKind::Flock,
        host: None,
    };
    let target = Path::new("shared.img");
    // What etcd holds: keys under the drive's prefix, leases.
    let left = || {
        let keys = etcdctl(&server.url, &[], &["get", "--prefix", "--keys-only", "discrec/drive/ways-out/"]);
        let leases = etcdctl(&server.url, &[], &["lease", "list"]);
        (keys.lines().filter(|l| !l.is_empty()).count(), leases.lines().next().unwrap_or("").to_string())
    };
    let held = a.acquire("ways-out", target, &owner("Holder"), WaitPolicy::NoWait, None, &mut |_| {}).unwrap();
    assert_eq!(left(), (1, "found 1 leases".to_string()));

    let e = b.acquire("ways-out", target, &owner("Refused"), WaitPolicy::NoWait, None, &mut |_| {}).unwrap_err();
    assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED", "{e}");
    assert_eq!(left(), (1, "found 1 leases".to_string()), "after a refusal");

    let mut heard = Vec::new();
    let wait = WaitPolicy::AtMost(Duration::from_millis(300));
    let e = b.acquire("ways-out", target, &owner("Timed out"), wait, None, &mut |o| heard.push(o.clone())).unwrap_err();
    assert!(e.to_string().contains("\"Holder\""), "{e}");
    assert_eq!(heard.iter().map(|o| o.client_name.as_deref()).collect::<Vec<_>>(), [Some("Holder")]);
    assert_eq!(left(), (1, "found 1 leases".to_string()), "after a wait that timed out");

    let (mut raise, cancel) = std::os::unix::net::UnixStream::pair().unwrap();
    raise.write_all(b"x").unwrap();
    let e = b.acquire("ways-out", target, &owner("Cancelled"), WaitPolicy::Forever, Some(cancel.as_fd()), &mut |_| {});
    assert!(matches!(e, Err(discrec::Error::Cancelled { .. })), "{e:?}");
    assert_eq!(left(), (1, "found 1 leases".to_string()), "after a cancelled wait");

    held.release();
    assert_eq!(left(), (0, "found 0 leases".to_string()), "after the release");
    let next = b.acquire("ways-out", target, &owner("Next"), WaitPolicy::NoWait, None, &mut |_| {}).unwrap();
    next.release();
}

/// etcd's tokens for a user expire (`--auth-token-ttl`, 5 min by default),
/// and a guard or a long burn holds for hours: a client whose token
/// expired gets a new one and goes on, the keep-alive included.
#[test]
fn an_expired_auth_token_is_renewed_while_holding() {
    let ttl_flag = ["--auth-token".to_string(), "simple".into(), "--auth-token-ttl".into(), "1".into()];
    let Some(server) = EtcdServer::start_with("http", &ttl_flag) else { return };
    let ctl = |args: &[&str]| etcdctl(&server.url, &[], args);
    ctl(&["user", "add", "root:s3cret"]);
    ctl(&["auth", "enable"]);
    let with_user = |name: &str| {
        let mut cfg = Config::new(&server.url);
        cfg.host = name.into();
        cfg.ttl = Duration::from_secs(3);
        cfg.user = Some(("root".into(), "s3cret".into()));
        Arc::new(Etcd::connect(cfg).unwrap())
    };
    let d = tempfile::tempdir().unwrap();
    let mut a = recorder(d.path(), "a.img", with_user("host-a"));
    a.acquire_exclusive_access(false, "Long Burn").unwrap();
    // Several token lifetimes and more than the lease's TTL: only renewals
    // made with a fresh token keep the lease.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(a.cluster_lock_lost(), None, "the hold lapsed once the first token expired");
    let o = a.exclusive_access_owner().unwrap().expect("A's reads work with a new token");
    assert_eq!(o.client_name.as_deref(), Some("Long Burn"));
    let mut b = recorder(d.path(), "b.img", with_user("host-b"));
    std::thread::sleep(Duration::from_secs(2));
    let e = b.acquire_exclusive_access(false, "Other").unwrap_err();
    assert_eq!(e.name(), "E_IMAPI_RECORDER_LOCKED", "{e}");
    a.release_exclusive_access().unwrap();
    b.acquire_exclusive_access(false, "Other").unwrap();
    b.release_exclusive_access().unwrap();
}

/// With a user: a dead member among the URLs is passed over by the
/// authentication too, and a change of users or roles (which outdates
/// every token: "revision of auth store is old") does not keep a released
/// drive held until its lease expires.
#[test]
fn auth_survives_a_dead_member_and_a_change_of_users() {
    let Some(server) = EtcdServer::start() else { return };
    etcdctl(&server.url, &[], &["user", "add", "root:s3cret"]);
    let ctl = |args: &[&str]| etcdctl(&server.url, &["--user", "root:s3cret"], args);
    ctl(&["auth", "enable"]);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let d = tempfile::tempdir().unwrap();
    for i in 0..6 {
        let mut cfg = Config::new(&format!("{dead},{}", server.url));
        cfg.host = format!("host-{i}");
        cfg.user = Some(("root".into(), "s3cret".into()));
        let etcd = Etcd::connect(cfg).unwrap_or_else(|e| panic!("try {i}: {e}"));
        let mut r = recorder(d.path(), &format!("r{i}.img"), Arc::new(etcd));
        r.acquire_exclusive_access(false, "Holder").unwrap();
        // Every token is outdated by this.
        ctl(&["user", "add", &format!("user{i}:pw")]);
        r.release_exclusive_access().unwrap();
        let mut other = Config::new(&server.url);
        other.user = Some(("root".into(), "s3cret".into()));
        let o = recorder(d.path(), &format!("o{i}.img"), Arc::new(Etcd::connect(other).unwrap()));
        assert!(o.exclusive_access_owner().unwrap().is_none(), "try {i}: the released drive is still held");
    }
}

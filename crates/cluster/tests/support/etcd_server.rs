//! etcd for the tests: a single member, or a cluster of several members on
//! different ports, on 127.0.0.1 with temporary data directories (in
//! /dev/shm where there is one: fsync costs nothing there), killed on
//! drop. Shared by the cluster crate's tests, the command line's
//! (`tests/common/mod.rs` includes this file by path) and the two-guest
//! tier (`xtask/src/cluster.rs`, likewise).
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A single-member etcd.
pub struct EtcdServer {
    pub child: Child,
    pub url: String,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// One member of an [`EtcdCluster`]; `child` is `None` once killed.
pub struct Member {
    pub name: String,
    pub child: Option<Child>,
    pub port: u16,
    pub url: String,
}

/// An etcd cluster of several members.
pub struct EtcdCluster {
    pub members: Vec<Member>,
    _dir: tempfile::TempDir,
}

/// Whether etcd is installed; if not, says so (or fails under
/// `DISCREC_REQUIRE_ALL=1`).
pub fn etcd_installed() -> bool {
    if Command::new("etcd").arg("--version").stdout(Stdio::null()).status().is_err() {
        assert!(
            std::env::var("DISCREC_REQUIRE_ALL").as_deref() != Ok("1"),
            "etcd is required (DISCREC_REQUIRE_ALL=1): apt install etcd-server"
        );
        println!("SKIP: etcd is needed for this test (apt install etcd-server)");
        return false;
    }
    true
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "etcd did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scratch() -> tempfile::TempDir {
    if std::path::Path::new("/dev/shm").is_dir() {
        if let Ok(d) = tempfile::tempdir_in("/dev/shm") {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

/// Start `n` members named m0, m1, ... as one cluster, clients served
/// over `scheme` (http or https), with `extra` arguments to each.
fn spawn_members(n: usize, dir: &std::path::Path, scheme: &str, extra: &[String]) -> Vec<Member> {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
        .collect::<Vec<_>>()
        .join(",");
    let members: Vec<Member> = ports
        .iter()
        .enumerate()
        .map(|(i, (client, peer))| {
            let url = format!("{scheme}://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let child = Command::new("etcd")
                .args(["--name", &format!("m{i}"), "--data-dir"])
                .arg(dir.join(format!("m{i}")))
                .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
                .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial, "--initial-cluster-token", "discrec-test"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            Member { name: format!("m{i}"), child: Some(child), port: *client, url }
        })
        .collect();
    for m in &members {
        wait_for_port(m.port);
    }
    members
}

impl EtcdServer {
    /// Start one, or `None` (with the reason printed) where etcd is not
    /// installed; with `DISCREC_REQUIRE_ALL=1` a missing etcd fails.
    pub fn start() -> Option<EtcdServer> {
        EtcdServer::start_with("http", &[])
    }

    /// One serving clients over `scheme`, with `extra` arguments (TLS
    /// files, say).
    pub fn start_with(scheme: &str, extra: &[String]) -> Option<EtcdServer> {
        if !etcd_installed() {
            return None;
        }
        let dir = scratch();
        let mut m = spawn_members(1, dir.path(), scheme, extra).pop().unwrap();
        Some(EtcdServer { child: m.child.take().unwrap(), url: m.url, port: m.port, _dir: dir })
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl EtcdCluster {
    /// Start `n` members, or `None` as [`EtcdServer::start`]. Returns once
    /// the cluster has a leader.
    pub fn start(n: usize) -> Option<EtcdCluster> {
        if !etcd_installed() {
            return None;
        }
        let dir = scratch();
        let members = spawn_members(n, dir.path(), "http", &[]);
        let c = EtcdCluster { members, _dir: dir };
        let t = Instant::now();
        while c.leader().is_none() {
            assert!(t.elapsed() < Duration::from_secs(20), "the etcd cluster elected no leader");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(c)
    }

    /// All client URLs, comma-separated.
    pub fn urls(&self) -> String {
        self.members.iter().map(|m| m.url.as_str()).collect::<Vec<_>>().join(",")
    }

    /// The index of the leader, as the live members' `etcdctl endpoint
    /// status` tell it.
    pub fn leader(&self) -> Option<usize> {
        let live: Vec<&str> = self.members.iter().filter(|m| m.child.is_some()).map(|m| m.url.as_str()).collect();
        let o = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--command-timeout=2s", "--endpoints", &live.join(","), "endpoint", "status", "-w", "json"])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let st = v.as_array()?.iter().find(|s| s["Status"]["leader"] == s["Status"]["header"]["member_id"])?;
        let url = st["Endpoint"].as_str()?;
        self.members.iter().position(|m| m.url == url)
    }

    /// SIGKILL member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// Run `etcdctl` (API 3) against `url` with `global` options (TLS files,
/// `--user`) and `args`: its output; a failure panics with its message.
#[allow(dead_code)]
pub fn etcdctl(url: &str, global: &[&str], args: &[&str]) -> String {
    let o = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", url])
        .args(global)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

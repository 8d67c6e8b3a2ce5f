//! A single-member etcd on 127.0.0.1 with a temporary data directory,
//! killed on drop. Shared by the cluster crate's tests and the command
//! line's (`tests/common/mod.rs` includes this file by path).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct EtcdServer {
    pub child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl EtcdServer {
    /// Start one, or `None` (with the reason printed) where etcd is not
    /// installed; with `DISCREC_REQUIRE_ALL=1` a missing etcd fails.
    pub fn start() -> Option<EtcdServer> {
        if Command::new("etcd").arg("--version").output().is_err() {
            assert!(
                std::env::var("DISCREC_REQUIRE_ALL").as_deref() != Ok("1"),
                "etcd is required (DISCREC_REQUIRE_ALL=1): apt install etcd-server"
            );
            println!("SKIP: etcd is needed for this test (apt install etcd-server)");
            return None;
        }
        let port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (port(), port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--name", "t", "--data-dir"])
            .arg(dir.path())
            .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("t={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "etcd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(EtcdServer { child, url, _dir: dir })
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! The drive the cluster guests share (`cargo xtask cluster-test`): a
//! blank DVD+R that `tgtd` (the Linux SCSI target framework, in user
//! space) exports from a 0-byte file as an MMC LUN over iSCSI on
//! 127.0.0.1, and QEMU attaches in each guest with `scsi-block`, which
//! passes MMC commands through. (The guest of `guest-test` serves its own
//! drives with `discrec-vdrive`.)
//!
//! tgtd runs with a control port and an iSCSI port of its own, so a tgtd
//! of the system is left alone; it ignores SIGTERM, so it is stopped with
//! `tgtadm --op delete --mode system` (and killed if that fails).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// tgtd's management channel (`/var/run/tgtd/socket.N`).
const CONTROL_PORT: &str = "17";
/// The iSCSI portal, on the loopback only.
pub const PORTAL: &str = "127.0.0.1:3261";
/// The target's name.
pub const IQN: &str = "iqn.2026-11.test.discrec:dvd";

pub struct Tgt {
    child: Child,
    /// The file behind the LUN: the disc.
    pub backing: PathBuf,
}

fn adm(args: &[&str]) -> Result<String, String> {
    let o = Command::new("tgtadm")
        .args(["-C", CONTROL_PORT, "--lld", "iscsi"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run tgtadm: {e} (install tgt)"))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!("tgtadm {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim()))
    }
}

impl Tgt {
    /// Start tgtd and export a blank DVD+R backed by `dir/blank.img`.
    pub fn start(dir: &Path) -> Result<Tgt, String> {
        // A tgtd left over from an interrupted run holds our ports.
        let _ = adm(&["--op", "delete", "--force", "--mode", "target", "--tid", "1"]);
        let _ = adm(&["--op", "delete", "--mode", "system"]);
        std::thread::sleep(Duration::from_millis(100));
        let child = Command::new("tgtd")
            .args(["-f", "-C", CONTROL_PORT, "--iscsi", &format!("portal={PORTAL}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start tgtd: {e} (install tgt)"))?;
        let tgt = Tgt { child, backing: dir.join("blank.img") };
        let t = Instant::now();
        while adm(&["--op", "show", "--mode", "target"]).is_err() {
            if t.elapsed() > Duration::from_secs(10) {
                return Err("tgtd did not answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        adm(&["--op", "new", "--mode", "target", "--tid", "1", "-T", IQN])?;
        std::fs::File::create(&tgt.backing).map_err(|e| format!("{}: {e}", tgt.backing.display()))?;
        tgt.add_lun()?;
        adm(&["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"])?;
        Ok(tgt)
    }

    fn add_lun(&self) -> Result<(), String> {
        let path = self.backing.to_string_lossy();
        adm(&["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "--device-type", "cd", "-b", &path])
            .map(|_| ())
    }

    /// QEMU's `-drive` for the LUN.
    pub fn drive_url() -> String {
        format!("iscsi://{PORTAL}/{IQN}/1")
    }
}

impl Drop for Tgt {
    fn drop(&mut self) {
        let _ = adm(&["--op", "delete", "--force", "--mode", "target", "--tid", "1"]);
        let _ = adm(&["--op", "delete", "--mode", "system"]);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Drive tests inside the QEMU guest, on the kernel `sr` driver (run by
//! `cargo xtask guest-test`). `/dev/sr0` is an IDE/ATAPI drive holding an
//! ISO 9660 medium, `/dev/sr1` an empty SCSI drive on virtio-scsi, and
//! `/dev/sr2` a blank DVD+R that `discrec-vdrive` serves in the guest
//! (see `burn.rs` and `vdrive.rs`). Each
//! test prints `PASS name` or `FAIL name: why`; the last line is
//! `guest: N passed, N failed`.
//!
//! `discrec-guest excl-open PATH` is a helper mode: open PATH with
//! `O_EXCL`, exit 0 on success, 16 on EBUSY.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use discrec::{Recorder, Target};

type R = Result<(), String>;
/// A named test.
type Test = (&'static str, fn() -> R);

const IDE: &str = "/dev/sr0";
const SCSI: &str = "/dev/sr1";

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

mod agent;
mod append;
mod burn;
mod desktop;
mod doors;
mod media;
mod vdrive;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// The `sg` node of a block device, from sysfs.
fn sg_of(block: &str) -> Result<PathBuf, String> {
    let name = Path::new(block).file_name().unwrap().to_string_lossy().into_owned();
    for e in ok(std::fs::read_dir("/sys/class/scsi_generic"), "scsi_generic")?.flatten() {
        let b = e.path().join("device/block").join(&name);
        if b.exists() {
            return Ok(Path::new("/dev").join(e.file_name()));
        }
    }
    Err(format!("no sg node for {block}"))
}

fn excl_open(path: &str) -> Result<bool, String> {
    let st = ok(Command::new("/bin/discrec-guest").args(["excl-open", path]).status(), "excl-open")?;
    Ok(st.success())
}

fn mounted(at: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines().any(|l| l.split(' ').nth(4) == Some(at))
}

/// `len` bytes of xorshift noise, the state `seed` carried on (files made
/// one after another from one seed differ).
fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

fn sh(cmd: &str) -> (bool, String) {
    match Command::new("/bin/sh").arg("-c").arg(cmd).output() {
        Ok(o) => (
            o.status.success(),
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// `discrec lock ARGS` in the background, once it printed `locked`.
fn holder(args: &[&str]) -> Result<Child, String> {
    let mut c = ok(
        Command::new("/bin/discrec").arg("lock").args(args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn(),
        "spawn discrec lock",
    )?;
    let mut line = String::new();
    ok(BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut line), "read")?;
    ensure!(line.starts_with("locked "), "discrec lock said {line:?}");
    Ok(c)
}

fn owner_cli(target: &str) -> (Option<i32>, String) {
    let o = Command::new("/bin/discrec").args(["owner", target]).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).trim_end().to_string())
}

fn t_drives_and_sg_siblings() -> R {
    for dev in [IDE, SCSI] {
        let t = ok(Target::resolve(Path::new(dev)), dev)?;
        ensure!(t.kind == discrec::TargetKind::BlockDevice, "{dev} is not a block device");
        let sg = sg_of(dev)?;
        let via_sg = ok(Target::resolve(&sg), "resolve sg")?;
        ensure!(
            via_sg.key == t.key && via_sg.node == Path::new(dev),
            "{} resolves to {:?}, not {dev}",
            sg.display(),
            via_sg.node
        );
    }
    Ok(())
}

fn t_acquire_nest_owner_and_kernel_claim() -> R {
    let mut r = ok(Recorder::open(IDE), "open")?;
    ok(r.acquire_exclusive_access(false, "Guest Burner"), "acquire")?;
    ok(r.acquire_exclusive_access(false, "Guest Burner"), "nested acquire")?;
    ensure!(r.lock_count() == 2, "count {}", r.lock_count());
    ensure!(r.holds_kernel_claim(), "no O_EXCL claim on sr0");
    let (code, name) = owner_cli(IDE);
    ensure!(code == Some(0) && name == "Guest Burner", "discrec owner said {code:?} {name:?}");
    ensure!(!excl_open(IDE)?, "another O_EXCL open of sr0 succeeded while held");
    let (m, out) = sh("mount -t iso9660 -o ro /dev/sr0 /mnt");
    ensure!(!m, "mount succeeded while held: {out}");
    ok(r.release_exclusive_access(), "release")?;
    ensure!(owner_cli(IDE).0 == Some(0), "released at count 1");
    ok(r.release_exclusive_access(), "release")?;
    ensure!(owner_cli(IDE).0 == Some(1), "still held at count 0");
    ensure!(excl_open(IDE)?, "O_EXCL open fails after release");
    Ok(())
}

fn t_sg_node_and_block_node_are_one_lock() -> R {
    let sg = sg_of(SCSI)?;
    let mut a = ok(Recorder::open(&sg), "open sg")?;
    ok(a.acquire_exclusive_access(false, "Via SG"), "acquire via sg")?;
    let mut b = ok(Recorder::open(SCSI), "open sr1")?;
    match b.acquire_exclusive_access(false, "Via SR") {
        Err(e) if e.name() == "E_IMAPI_RECORDER_LOCKED" && e.to_string().contains("Via SG") => {}
        other => return Err(format!("acquire of sr1 while held through sg: {other:?}")),
    }
    let (code, name) = owner_cli(sg.to_str().unwrap());
    ensure!(code == Some(0) && name == "Via SG", "owner via sg: {code:?} {name:?}");
    Ok(())
}

fn t_empty_drive_locks_without_medium() -> R {
    let mut r = ok(Recorder::open(SCSI), "open")?;
    ok(r.acquire_exclusive_access(false, "Empty Drive"), "acquire empty drive")?;
    ensure!(r.holds_kernel_claim(), "no claim");
    ensure!(owner_cli(SCSI).1 == "Empty Drive", "owner");
    Ok(())
}

fn t_sigkill_releases_the_drive() -> R {
    let mut h = holder(&["--client", "Doomed", IDE])?;
    ensure!(!excl_open(IDE)?, "not claimed while held by the CLI");
    let t = Instant::now();
    ok(h.kill(), "kill")?;
    let _ = h.wait();
    let mut r = ok(Recorder::open(IDE), "open")?;
    ok(r.acquire_exclusive_access(false, "Next"), "acquire after SIGKILL")?;
    ensure!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    Ok(())
}

fn t_wrapped_command_keeps_the_drive_whoever_is_killed() -> R {
    // `lock --keep-claim -- COMMAND`: COMMAND is the holder, with the
    // kernel claim, for as long as it runs; killing the pid discrec was
    // started as kills COMMAND and frees the drive.
    let mut c = ok(
        Command::new("/bin/discrec")
            .args(["lock", "--keep-claim", "--client", "Plain Writer", IDE, "--", "sh", "-c", "echo $$; exec sleep 30"])
            .stdout(Stdio::piped())
            .spawn(),
        "spawn discrec lock",
    )?;
    let mut line = String::new();
    ok(BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut line), "read")?;
    ensure!(line.trim() == c.id().to_string(), "the command runs as discrec's pid: {line:?} vs {}", c.id());
    ensure!(!excl_open(IDE)?, "the command keeps the kernel claim");
    let (m, _) = sh("mount -t iso9660 -o ro /dev/sr0 /mnt");
    ensure!(!m, "mounted while the command held the drive");
    let (code, name) = owner_cli(IDE);
    ensure!(code == Some(0) && name == "Plain Writer", "owner: {code:?} {name:?}");
    ok(c.kill(), "kill")?;
    let _ = c.wait();
    ensure!(excl_open(IDE)?, "free once the command is gone");
    Ok(())
}

fn t_mounted_refused_then_forced() -> R {
    let (m, out) = sh("mount -t iso9660 -o ro /dev/sr0 /mnt");
    ensure!(m, "mount: {out}");
    let mut r = ok(Recorder::open(IDE), "open")?;
    match r.acquire_exclusive_access(false, "Polite") {
        Err(e) if e.name() == "E_ACCESSDENIED" && e.to_string().contains("/mnt") => {}
        other => return Err(format!("force=false on a mounted drive: {other:?}")),
    }
    ensure!(mounted("/mnt"), "force=false unmounted it");
    ok(r.acquire_exclusive_access(true, "Forceful"), "force")?;
    ensure!(!mounted("/mnt"), "force left it mounted");
    ensure!(r.volume_still_mounted().is_empty() && r.holds_kernel_claim(), "state after force");
    let (m, _) = sh("mount -t iso9660 -o ro /dev/sr0 /mnt");
    ensure!(!m, "mount succeeded while held");
    Ok(())
}

fn t_busy_mount_is_granted_and_reported() -> R {
    let (m, out) = sh("mount -t iso9660 -o ro /dev/sr0 /mnt");
    ensure!(m, "mount: {out}");
    let f = ok(std::fs::File::open("/mnt/hello.txt"), "open file on the disc")?;
    let mut r = ok(Recorder::open(IDE), "open")?;
    ok(r.acquire_exclusive_access(true, "Forceful"), "force on busy mount")?;
    ensure!(
        r.volume_still_mounted().len() == 1 && mounted("/mnt"),
        "busy mount not reported: {:?}",
        r.volume_still_mounted()
    );
    ensure!(owner_cli(IDE).1 == "Forceful", "owner");
    drop(r);
    drop(f);
    let (u, out) = sh("umount /mnt");
    ensure!(u, "umount: {out}");
    Ok(())
}

fn t_wrapped_tool_gets_o_excl_and_owner_stays() -> R {
    let o = ok(
        Command::new("/bin/discrec")
            .args([
                "lock",
                "--client",
                "Wrapped",
                IDE,
                "--",
                "sh",
                "-c",
                "/bin/discrec-guest excl-open /dev/sr0 && /bin/discrec owner /dev/sr0",
            ])
            .output(),
        "run",
    )?;
    let out = String::from_utf8_lossy(&o.stdout);
    ensure!(o.status.success() && out == "Wrapped\n", "{:?} {out:?} {}", o.status, String::from_utf8_lossy(&o.stderr));
    Ok(())
}

fn t_change_uevent_after_last_release() -> R {
    use rustix::net::{netlink, socket_with, AddressFamily, SocketFlags, SocketType};
    let sock = ok(
        socket_with(AddressFamily::NETLINK, SocketType::DGRAM, SocketFlags::CLOEXEC, Some(netlink::KOBJECT_UEVENT)),
        "netlink",
    )?;
    ok(rustix::net::bind(&sock, &netlink::SocketAddrNetlink::new(0, 1)), "bind")?;
    ok(
        rustix::net::sockopt::set_socket_timeout(
            &sock,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_millis(200)),
        ),
        "timeout",
    )?;
    let saw = |sock: &rustix::fd::OwnedFd| {
        let end = Instant::now() + Duration::from_secs(2);
        let mut buf = vec![0u8; 8192];
        while Instant::now() < end {
            if let Ok((n, _)) = rustix::net::recv(sock, &mut buf, rustix::net::RecvFlags::empty()) {
                let head = String::from_utf8_lossy(&buf[..n.min(200)]).into_owned();
                let first = head.split('\0').next().unwrap_or("");
                if first.starts_with("change@") && first.ends_with("/block/sr1") {
                    return true;
                }
            }
        }
        false
    };
    let mut r = ok(Recorder::open(SCSI), "open")?;
    ok(r.acquire_exclusive_access(false, "Notifier"), "acquire")?;
    ensure!(!saw(&sock), "change event while held");
    ok(r.release_exclusive_access(), "release")?;
    ensure!(saw(&sock), "no change@.../block/sr1 uevent after the last release");
    Ok(())
}

/// What QEMU was told to emulate (the same values as in `xtask`).
/// The third drive, the virtual DVD+R (`/dev/sr2`), says what
/// `discrec-vdrive` answers.
const EMULATED: [(&str, &str, &str, &str, &str); 3] = [
    (IDE, "QEMU", "QEMU DVD-ROM", "1.5", "ata"),
    (SCSI, "DSCRC", "SCSI BURNER", "4.2", "virtio-scsi"),
    ("/dev/sr2", "DISCREC", "VIRTUAL BURNER", "0100", "scsi"),
];

fn sysfs(dev: &str, attr: &str) -> String {
    let name = Path::new(dev).file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_to_string(format!("/sys/class/block/{name}/device/{attr}")).unwrap_or_default().trim().to_string()
}

fn t_identity_matches_qemu_and_sysfs() -> R {
    let o = ok(Command::new("/bin/discrec").args(["list", "--json"]).output(), "discrec list")?;
    let list: serde_json::Value = ok(serde_json::from_slice(&o.stdout), "list json")?;
    let arr = list.as_array().ok_or("list --json is not an array")?;
    ensure!(arr.len() == 3, "list shows {} drives, not 3: {list}", arr.len());
    for (dev, vendor, product, rev, bus) in EMULATED {
        let r = ok(Recorder::open(dev), "open")?;
        let i = ok(r.inquiry(), "INQUIRY")?;
        ensure!(
            (i.vendor.as_str(), i.product.as_str(), i.revision.as_str()) == (vendor, product, rev),
            "{dev}: INQUIRY says {i:?}"
        );
        ensure!(i.device_type == 5 && i.removable, "{dev}: type {} removable {}", i.device_type, i.removable);
        // The kernel's own INQUIRY at scan time, through sysfs.
        ensure!(
            (sysfs(dev, "vendor"), sysfs(dev, "model"), sysfs(dev, "rev"))
                == (vendor.into(), product.into(), rev.into()),
            "{dev}: sysfs disagrees"
        );
        let e = arr.iter().find(|e| e["device"] == dev).ok_or(format!("{dev} missing from list"))?;
        ensure!(
            e["vendor"] == vendor && e["product"] == product && e["revision"] == rev && e["bus"] == bus,
            "{dev} in list: {e}"
        );
        ensure!(e["sg"] == sg_of(dev)?.to_str().unwrap(), "{dev} sg in list: {e}");
    }
    Ok(())
}

fn t_info_profiles_features_mode_pages() -> R {
    let o = ok(Command::new("/bin/discrec").args(["info", "--json", IDE]).output(), "discrec info")?;
    ensure!(o.status.success(), "info failed: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = ok(serde_json::from_slice(&o.stdout), "info json")?;
    let names: Vec<&str> =
        v["profiles"].as_array().map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect()).unwrap_or_default();
    ensure!(names.contains(&"CD-ROM") && names.contains(&"DVD-ROM"), "profiles {names:?}");
    let current = v["current_profile"].as_str().unwrap_or("");
    ensure!(current == "CD-ROM" || current == "DVD-ROM", "current profile {current:?} with an ISO loaded");
    let pages: Vec<&str> =
        v["mode_pages"].as_array().map(|a| a.iter().filter_map(|p| p.as_str()).collect()).unwrap_or_default();
    ensure!(pages.contains(&"0x2a"), "mode pages {pages:?} lack the capabilities page 0x2a");
    // The empty drive: no current profile.
    let o = ok(Command::new("/bin/discrec").args(["info", "--json", SCSI]).output(), "discrec info sr1")?;
    let v: serde_json::Value = ok(serde_json::from_slice(&o.stdout), "info json")?;
    ensure!(
        v["current_profile"].is_null() && v["tray"] == "no_disc",
        "empty drive: {} {}",
        v["current_profile"],
        v["tray"]
    );
    // QEMU's ATAPI drive reports only its profile list; its SCSI drive
    // reports features too.
    let features: Vec<&str> =
        v["features"].as_array().map(|a| a.iter().filter_map(|f| f["name"].as_str()).collect()).unwrap_or_default();
    ensure!(features.contains(&"Core") && features.contains(&"Removable Medium"), "sr1 features {features:?}");
    ensure!(v["can_eject"] == true, "sr1 can_eject {}", v["can_eject"]);
    Ok(())
}

fn tray(dev: &str) -> Result<discrec::drive::TrayState, String> {
    ok(ok(Recorder::open(dev), "open")?.tray_state(), "tray state")
}

fn cli(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new("/bin/discrec").args(args).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn t_eject_close_and_tray_lock() -> R {
    use discrec::drive::TrayState;
    ensure!(tray(IDE)? == TrayState::DiscOk, "sr0 not ready: {:?}", tray(IDE)?);
    let (c, e) = cli(&["eject", IDE]);
    ensure!(c == Some(0), "eject: {c:?} {e}");
    ensure!(tray(IDE)? == TrayState::TrayOpen, "after eject: {:?}", tray(IDE)?);
    let (c, e) = cli(&["eject", "--close", IDE]);
    ensure!(c == Some(0), "close: {c:?} {e}");
    let t = Instant::now();
    while tray(IDE)? != TrayState::DiscOk && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    ensure!(tray(IDE)? == TrayState::DiscOk, "after close: {:?}", tray(IDE)?);
    // Locked tray: eject is refused with the decoded reason.
    let (c, e) = cli(&["tray", "lock", IDE]);
    ensure!(c == Some(0), "tray lock: {c:?} {e}");
    let (c, e) = cli(&["eject", IDE]);
    ensure!(c == Some(14) && e.contains("tray") && e.contains("sense 2/53/"), "eject of a locked tray: {c:?} {e}");
    ensure!(tray(IDE)? == TrayState::DiscOk, "a locked tray opened");
    let (c, e) = cli(&["tray", "unlock", IDE]);
    ensure!(c == Some(0), "tray unlock: {c:?} {e}");
    let (c, e) = cli(&["eject", IDE]);
    ensure!(c == Some(0), "eject after unlock: {c:?} {e}");
    let (c, e) = cli(&["eject", "--close", IDE]);
    ensure!(c == Some(0), "close: {c:?} {e}");
    Ok(())
}

fn t_tray_commands_respect_the_lock() -> R {
    let mut h = holder(&["--client", "Burning Now", SCSI])?;
    for args in [&["eject", SCSI][..], &["eject", "--close", SCSI][..], &["tray", "lock", SCSI][..]] {
        let (c, e) = cli(args);
        ensure!(
            c == Some(5) && e.contains("Burning Now") && e.contains("E_IMAPI_RECORDER_LOCKED 0xC0AA0210"),
            "{args:?} while held: {c:?} {e}"
        );
    }
    // Reading the medium's state is refused too (C10)...
    match ok(Recorder::open(SCSI), "open")?.check_medium() {
        Err(e) if e.name() == "E_IMAPI_RECORDER_LOCKED" && e.to_string().contains("Burning Now") => {}
        other => return Err(format!("TEST UNIT READY while held: {other:?}")),
    }
    // ...while identity still answers (C10).
    ensure!(ok(Recorder::open(SCSI), "open")?.inquiry().is_ok(), "INQUIRY refused while held");
    let _ = h.kill();
    let _ = h.wait();
    // The holder itself may.
    let mut r = ok(Recorder::open(SCSI), "open")?;
    ok(r.acquire_exclusive_access(false, "Holder"), "acquire")?;
    ok(r.eject("Holder"), "holder's own eject")?;
    ok(r.close_tray("Holder"), "holder's own close")?;
    ensure!(r.lock_count() == 1, "count {}", r.lock_count());
    Ok(())
}

fn t_no_medium_maps_to_imapi_code() -> R {
    let r = ok(Recorder::open(SCSI), "open")?;
    match r.check_medium() {
        Err(e) if e.name() == "E_IMAPI_RECORDER_MEDIA_NO_MEDIA" && e.code() == 0xC0AA_0202 => Ok(()),
        other => Err(format!("TEST UNIT READY on the empty drive: {other:?}")),
    }?;
    let r = ok(Recorder::open(IDE), "open")?;
    ok(r.check_medium(), "TEST UNIT READY with the ISO")
}

/// Ask the host to run a QMP command; its answer.
fn qmp(req: &str) -> Result<serde_json::Value, String> {
    use std::io::Write;
    let mut tty = ok(std::fs::OpenOptions::new().read(true).write(true).open("/dev/ttyS1"), "/dev/ttyS1")?;
    ok(writeln!(tty, "{req}"), "write request")?;
    let mut line = String::new();
    ok(BufReader::new(tty).read_line(&mut line), "read answer")?;
    let v: serde_json::Value = ok(serde_json::from_str(line.trim()), "answer")?;
    ensure!(v.get("error").is_none(), "QMP {req} failed: {v}");
    Ok(v)
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) -> R {
    let t = Instant::now();
    while !f() {
        ensure!(t.elapsed() < within, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn t_media_change_is_seen() -> R {
    use discrec::drive::TrayState;
    ensure!(tray(SCSI)? == TrayState::NoDisc, "sr1 not empty at start: {:?}", tray(SCSI)?);
    qmp(
        r#"{"execute":"blockdev-change-medium","arguments":{"id":"scsicd","filename":"@OUT@/disc2.iso","format":"raw","read-only-mode":"read-only"}}"#,
    )?;
    wait_for("the new medium", Duration::from_secs(10), || tray(SCSI).ok() == Some(TrayState::DiscOk))?;
    let r = ok(Recorder::open(SCSI), "open")?;
    ok(r.check_medium(), "TEST UNIT READY with the new medium")?;
    let (m, out) = sh("mount -t iso9660 -o ro /dev/sr1 /mnt && cat /mnt/hello.txt && umount /mnt");
    ensure!(m && out.contains("second disc"), "reading the new medium: {out}");
    qmp(r#"{"execute":"eject","arguments":{"id":"scsicd","force":true}}"#)?;
    wait_for("the medium to go", Duration::from_secs(10), || tray(SCSI).ok() != Some(TrayState::DiscOk))?;
    match r.check_medium() {
        Err(e) if e.name() == "E_IMAPI_RECORDER_MEDIA_NO_MEDIA" => Ok(()),
        other => Err(format!("after the host ejected the medium: {other:?}")),
    }
}

fn t_xorriso_refused_while_discrec_holds() -> R {
    let mut r = ok(Recorder::open(IDE), "open")?;
    ok(r.acquire_exclusive_access(false, "Holder"), "acquire")?;
    let (ok_, out) = sh("xorriso -outdev /dev/sr0 -toc 2>&1");
    ensure!(!ok_, "xorriso got the drive while discrec held it: {out}");
    Ok(())
}

/// xorriso in dialog mode on `dev`: it keeps the drive acquired while it
/// waits for input (stop it with [`stop_xorriso`]).
fn xorriso_holding(dev: &str) -> Result<Child, String> {
    ok(
        Command::new("xorriso")
            .args(["-dialog", "on", "-outdev", dev])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn(),
        "start xorriso",
    )
}

fn stop_xorriso(mut x: Child) {
    drop(x.stdin.take());
    let _ = x.kill();
    let _ = x.wait();
}

fn t_discrec_names_xorriso_when_it_holds() -> R {
    let x = xorriso_holding(IDE)?;
    let pid = x.id();
    let mut last = String::new();
    let named = wait_for("xorriso to hold the drive", Duration::from_secs(20), || {
        let o = Command::new("/bin/discrec").args(["lock", IDE, "--", "true"]).output().unwrap();
        last = String::from_utf8_lossy(&o.stderr).into_owned();
        o.status.code() == Some(3) && last.contains(&format!("xorriso (pid {pid})"))
    });
    stop_xorriso(x);
    named.map_err(|e| format!("{e}; last answer: {last}"))?;
    ensure!(last.contains("E_ACCESSDENIED 0x80070005"), "{last}");
    Ok(())
}

fn t_wrapped_xorriso_works_while_owner_is_ours() -> R {
    let script = "xorriso -outdev /dev/sr0 -toc >/tmp/toc 2>&1 & x=$!; sleep 0.2; /bin/discrec owner /dev/sr0; wait $x; echo xorriso=$?";
    let o = ok(
        Command::new("/bin/discrec").args(["lock", "--client", "Wrapper", IDE, "--", "sh", "-c", script]).output(),
        "run",
    )?;
    let out = String::from_utf8_lossy(&o.stdout);
    let toc = std::fs::read_to_string("/tmp/toc").unwrap_or_default();
    ensure!(o.status.success() && out == "Wrapper\nxorriso=0\n", "{out:?}; xorriso said: {toc}");
    Ok(())
}

fn t_cdrskin_refused_while_held_and_works_wrapped() -> R {
    let mut r = ok(Recorder::open(IDE), "open")?;
    ok(r.acquire_exclusive_access(false, "Holder"), "acquire")?;
    let (got, out) = sh("cdrskin dev=/dev/sr0 -toc 2>&1");
    ensure!(!got, "cdrskin got the drive while discrec held it: {out}");
    drop(r);
    let o = ok(
        Command::new("/bin/discrec")
            .args(["lock", "--client", "Wrapper", IDE, "--", "sh", "-c"])
            .arg("cdrskin dev=/dev/sr0 -toc >/tmp/cdrskin 2>&1 & c=$!; sleep 0.2; /bin/discrec owner /dev/sr0; wait $c; echo cdrskin=$?")
            .output(),
        "run",
    )?;
    let out = String::from_utf8_lossy(&o.stdout);
    let said = std::fs::read_to_string("/tmp/cdrskin").unwrap_or_default();
    ensure!(o.status.success() && out == "Wrapper\ncdrskin=0\n", "{out:?}; cdrskin said: {said}");
    Ok(())
}

fn t_list_shows_mounts_and_owner() -> R {
    let (m, out) = sh("mount -t iso9660 -o ro /dev/sr0 /mnt");
    ensure!(m, "mount: {out}");
    let mut h = holder(&["--client", "Listed Holder", SCSI])?;
    let o = ok(Command::new("/bin/discrec").args(["list", "--json"]).output(), "list")?;
    let _ = h.kill();
    let _ = h.wait();
    let v: serde_json::Value = ok(serde_json::from_slice(&o.stdout), "json")?;
    let find = |dev: &str| v.as_array().and_then(|a| a.iter().find(|d| d["device"] == dev).cloned());
    let sr0 = find(IDE).ok_or("sr0 missing")?;
    let sr1 = find(SCSI).ok_or("sr1 missing")?;
    // Against /proc/self/mountinfo and the holder we started.
    ensure!(mounted("/mnt") && sr0["mounts"] == serde_json::json!(["/mnt"]) && sr0["locked"] == false, "sr0: {sr0}");
    ensure!(
        sr1["locked"] == true
            && sr1["owner"]["client_name"] == "Listed Holder"
            && sr1["owner"]["pid"] == h.id()
            && sr1["mounts"] == serde_json::json!([]),
        "sr1: {sr1}"
    );
    Ok(())
}

fn t_listings_agree_with_lsblk_and_xorriso() -> R {
    let time = |cmd: &str| {
        let t = Instant::now();
        let r = sh(cmd);
        (r, t.elapsed())
    };
    let ((ok1, ours), t_ours) = time("/bin/discrec list --json");
    let ((ok2, lsblk), t_lsblk) =
        time("lsblk --json -d -o NAME,VENDOR,MODEL,REV,TRAN,RM,TYPE /dev/sr0 /dev/sr1 /dev/sr2");
    let ((ok3, xorr), t_xorr) = time("xorriso -devices 2>&1");
    ensure!(ok1 && ok2 && ok3, "listing failed: {ours} {lsblk} {xorr}");
    let ours: serde_json::Value = ok(serde_json::from_str(&ours), "list json")?;
    let lsblk: serde_json::Value = ok(serde_json::from_str(&lsblk), "lsblk json")?;
    for d in ours.as_array().ok_or("not an array")? {
        let name = d["device"].as_str().unwrap_or("").trim_start_matches("/dev/");
        let l = lsblk["blockdevices"]
            .as_array()
            .and_then(|a| a.iter().find(|b| b["name"] == name))
            .ok_or(format!("lsblk lacks {name}"))?;
        for (ours_k, lsblk_k) in [("vendor", "vendor"), ("product", "model"), ("revision", "rev")] {
            let a = d[ours_k].as_str().unwrap_or("");
            let b = l[lsblk_k].as_str().unwrap_or("").trim();
            ensure!(a == b, "{name} {ours_k}: discrec {a:?}, lsblk {b:?}");
        }
        ensure!(xorr.contains(&format!("'/dev/{name}'")), "xorriso -devices lacks {name}: {xorr}");
        println!(
            "  {name}: discrec bus {} tray {} sg {} | lsblk tran {} rm {} type {}",
            d["bus"], d["tray"], d["sg"], l["tran"], l["rm"], l["type"]
        );
    }
    // Tray and medium against what QEMU itself reports (QMP query-block).
    let blocks = qmp(r#"{"execute":"query-block"}"#)?;
    for (dev, qdev) in [(IDE, "idecd"), (SCSI, "scsicd")] {
        let q = blocks["return"]
            .as_array()
            .and_then(|a| a.iter().find(|b| b["qdev"].as_str().is_some_and(|s| s.contains(qdev))))
            .ok_or(format!("query-block lacks {qdev}: {blocks}"))?;
        let want = match (q["tray_open"].as_bool(), q.get("inserted").is_some()) {
            (Some(true), _) => "tray_open",
            (_, true) => "disc_ok",
            _ => "no_disc",
        };
        let d = ours.as_array().unwrap().iter().find(|d| d["device"] == dev).ok_or("missing")?;
        ensure!(d["tray"] == want, "{dev}: discrec tray {}, QEMU says {want}", d["tray"]);
        // Bus against lsblk's transport, where lsblk has one.
        let name = dev.trim_start_matches("/dev/");
        let tran = lsblk["blockdevices"]
            .as_array()
            .and_then(|a| a.iter().find(|b| b["name"] == name))
            .map(|b| b["tran"].clone());
        if let Some(serde_json::Value::String(t)) = tran {
            ensure!(d["bus"] == t.as_str(), "{dev}: discrec bus {}, lsblk tran {t}", d["bus"]);
        }
    }
    println!("  wall time: discrec list {t_ours:?}, lsblk {t_lsblk:?}, xorriso -devices {t_xorr:?}");
    for l in xorr.lines().filter(|l| l.contains("/dev/")) {
        println!("  xorriso: {l}");
    }
    Ok(())
}

/// Runs last: the SCSI drive is gone afterwards.
fn t_hot_unplug_of_a_held_drive() -> R {
    let mut r = ok(Recorder::open(SCSI), "open")?;
    ok(r.acquire_exclusive_access(false, "Unplugged"), "acquire")?;
    qmp(r#"{"execute":"device_del","arguments":{"id":"scsicd"}}"#)?;
    wait_for("sr1 to vanish", Duration::from_secs(20), || !Path::new("/sys/class/block/sr1").exists())?;
    held_drive_is_gone(&mut r, SCSI)
}

/// A drive unplugged while `r` holds it: every call says
/// `ERROR_DEV_NOT_EXIST` (55), so does `discrec owner` (exit 6), the
/// release still succeeds, all within 5 s.
fn held_drive_is_gone(r: &mut Recorder, dev: &str) -> R {
    let t = Instant::now();
    let gone = |what: &str, r: discrec::Result<()>| -> R {
        match r {
            Err(e) if e.name() == "ERROR_DEV_NOT_EXIST" && e.code() == 55 => Ok(()),
            other => Err(format!("{what} after unplug: {other:?}")),
        }
    };
    gone("INQUIRY", r.inquiry().map(|_| ()))?;
    gone("owner query", r.exclusive_access_owner().map(|_| ()))?;
    gone("eject", r.eject("Unplugged"))?;
    let (c, e) = cli(&["owner", dev]);
    ensure!(c == Some(6) && e.contains("ERROR_DEV_NOT_EXIST 0x00000037"), "discrec owner after unplug: {c:?} {e}");
    ok(r.release_exclusive_access(), "release after unplug")?;
    ensure!(t.elapsed() < Duration::from_secs(5), "calls after unplug took {:?}", t.elapsed());
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("excl-open") {
        use rustix::fs::{Mode, OFlags};
        let r = rustix::fs::open(args[2].as_str(), OFlags::RDONLY | OFlags::NONBLOCK | OFlags::EXCL, Mode::empty());
        std::process::exit(match r {
            Ok(_) => 0,
            Err(e) => e.raw_os_error(),
        });
    }
    if args.get(1).map(String::as_str) == Some("agent") {
        if let Err(e) = agent::serve(args.get(2).map(String::as_str).unwrap_or("/dev/ttyS1")) {
            println!("guest: agent: {e}");
        }
        return;
    }
    let tests: &[Test] = &[
        ("drives_and_sg_siblings", t_drives_and_sg_siblings),
        ("identity_matches_qemu_and_sysfs", t_identity_matches_qemu_and_sysfs),
        ("info_profiles_features_mode_pages", t_info_profiles_features_mode_pages),
        ("eject_close_and_tray_lock", t_eject_close_and_tray_lock),
        ("tray_commands_respect_the_lock", t_tray_commands_respect_the_lock),
        ("no_medium_maps_to_imapi_code", t_no_medium_maps_to_imapi_code),
        ("acquire_nest_owner_and_kernel_claim", t_acquire_nest_owner_and_kernel_claim),
        ("sg_node_and_block_node_are_one_lock", t_sg_node_and_block_node_are_one_lock),
        ("wrapped_command_keeps_the_drive_whoever_is_killed", t_wrapped_command_keeps_the_drive_whoever_is_killed),
        ("empty_drive_locks_without_medium", t_empty_drive_locks_without_medium),
        ("sigkill_releases_the_drive", t_sigkill_releases_the_drive),
        ("mounted_refused_then_forced", t_mounted_refused_then_forced),
        ("busy_mount_is_granted_and_reported", t_busy_mount_is_granted_and_reported),
        ("wrapped_tool_gets_o_excl_and_owner_stays", t_wrapped_tool_gets_o_excl_and_owner_stays),
        ("change_uevent_after_last_release", t_change_uevent_after_last_release),
        ("xorriso_refused_while_discrec_holds", t_xorriso_refused_while_discrec_holds),
        ("discrec_names_xorriso_when_it_holds", t_discrec_names_xorriso_when_it_holds),
        ("wrapped_xorriso_works_while_owner_is_ours", t_wrapped_xorriso_works_while_owner_is_ours),
        ("cdrskin_refused_while_held_and_works_wrapped", t_cdrskin_refused_while_held_and_works_wrapped),
        ("list_shows_mounts_and_owner", t_list_shows_mounts_and_owner),
        ("listings_agree_with_lsblk_and_xorriso", t_listings_agree_with_lsblk_and_xorriso),
        ("media_change_is_seen", t_media_change_is_seen),
        ("dvd_is_a_blank_dvd_plus_r", burn::t_dvd_is_a_blank_dvd_plus_r),
        ("cancel_ends_a_stalled_write_within_a_second", burn::t_cancel_ends_a_stalled_write_within_a_second),
        (
            "burn_refused_for_unsupported_recorder_and_oversized_source",
            burn::t_burn_refused_for_unsupported_recorder_and_oversized_source,
        ),
        ("progress_follows_imapi_actions", burn::t_progress_follows_imapi_actions),
        ("burn_iso_verify_mount_and_read_back", burn::t_burn_iso_verify_mount_and_read_back),
        ("burn_directory_mounts_with_every_attribute", burn::t_burn_directory_mounts_with_every_attribute),
        ("burn_to_an_empty_drive_is_no_medium", burn::t_burn_to_an_empty_drive_is_no_medium),
        (
            "sigterm_mid_burn_closes_the_disc_and_frees_the_drive",
            burn::t_sigterm_mid_burn_closes_the_disc_and_frees_the_drive,
        ),
        (
            "peers_refused_while_burning_and_sigkill_frees_the_drive",
            burn::t_peers_refused_while_burning_and_sigkill_frees_the_drive,
        ),
        ("burn_speed_against_growisofs_and_xorriso", burn::t_burn_speed_against_growisofs_and_xorriso),
        ("verification_catches_a_device_that_drops_writes", burn::t_verification_catches_a_device_that_drops_writes),
        (
            "vdrive_swap_is_a_unit_attention_and_unplug_while_held_is_gone",
            vdrive::t_swap_is_a_unit_attention_and_unplug_while_held_is_gone,
        ),
        ("vdrive_peers_burn_every_medium", vdrive::t_peers_burn_every_medium),
        ("discrec_erases_and_overwrites_every_rewritable", media::t_discrec_erases_and_overwrites_every_rewritable),
        ("discrec_write_speeds_are_offered_and_checked", media::t_discrec_write_speeds_are_offered_and_checked),
        ("discrec_faults_mid_write", media::t_discrec_faults_mid_write),
        ("discrec_speed_against_peers_on_every_medium", media::t_discrec_speed_against_peers_on_every_medium),
        (
            "discrec_refuses_before_spending_a_write_once_disc",
            media::t_discrec_refuses_before_spending_a_write_once_disc,
        ),
        ("discrec_appends_sessions_on_every_medium", append::t_discrec_appends_sessions_on_every_medium),
        ("discrec_and_the_peers_append_each_others_discs", append::t_discrec_and_the_peers_append_each_others_discs),
        ("c_library_writes_appends_and_erases_a_drive", doors::t_c_library_writes_appends_and_erases_a_drive),
        ("udisks_keeps_off_a_held_drive", desktop::t_udisks_keeps_off_a_held_drive),
        ("vdrive_dd_to_the_virtual_dvd_ram_against_virtio_blk", vdrive::t_dd_to_the_virtual_dvd_ram_against_virtio_blk),
        // Last: it removes the SCSI drive.
        ("hot_unplug_of_a_held_drive", t_hot_unplug_of_a_held_drive),
    ];
    match vdrive::start_dvd() {
        Ok(dev) if dev == "/dev/sr2" => {}
        other => println!("guest: the virtual DVD+R is not /dev/sr2: {other:?}"),
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let only = cmdline.split_whitespace().find_map(|w| w.strip_prefix("discrec.only=")).unwrap_or("");
    let (mut passed, mut failed) = (0, 0);
    for (name, f) in tests.iter().filter(|(name, _)| name.contains(only)) {
        let t = Instant::now();
        match std::panic::catch_unwind(f) {
            Ok(Ok(())) => {
                passed += 1;
                println!("PASS {name} ({} ms)", t.elapsed().as_millis());
            }
            Ok(Err(why)) => {
                failed += 1;
                println!("FAIL {name}: {why}");
            }
            Err(_) => {
                failed += 1;
                println!("FAIL {name}: panicked");
            }
        }
        // Leave no mount behind for the next test.
        if mounted("/mnt") {
            let _ = sh("umount /mnt");
        }
    }
    println!("guest: {passed} passed, {failed} failed");
}

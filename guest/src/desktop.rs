//! The desktop kept off a held drive, with the real daemons: udevd (with
//! Debian's rules and discrec's `90-discrec.rules`), dbus-daemon, polkitd
//! and udisksd. While discrec holds a drive, udisks2 shows it ignored
//! and `udisksctl mount` is refused before any command reaches the drive
//! (the virtual drive logs every command it gets); after a release, and
//! after a `SIGKILL` of the holder, it mounts. A holder that is not root
//! (who cannot write the drive's `uevent`) is kept off it as well.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::vdrive::{fresh, log_tail, source, tail, Served};
use crate::{ok, sh, wait_for, R};

/// Where the drive logs its commands.
const LOG: &str = "/tmp/vd-desktop.log";

/// The second user (see the guest image's `/etc/passwd`).
const BURNER: u32 = 1000;

/// The daemons, stopped (and udev's database removed, so later tests see
/// no udev) on drop.
struct Desktop {
    daemons: Vec<Child>,
}

impl Desktop {
    fn start() -> Result<Desktop, String> {
        for d in ["/run/dbus", "/run/udisks2", "/var/lib/udisks2", "/media", "/etc/udev/rules.d"] {
            ok(std::fs::create_dir_all(d), d)?;
        }
        // Where D-Bus clients look for the system bus.
        if !std::path::Path::new("/var/run").exists() {
            ok(std::os::unix::fs::symlink("/run", "/var/run"), "/var/run")?;
        }
        // Debian's rules give optical drives to group cdrom, which this
        // guest has not: let the second user at them.
        ok(std::fs::write("/etc/udev/rules.d/99-guest.rules", "KERNEL==\"sr[0-9]*\", MODE=\"0666\"\n"), "rules")?;
        let mut desk = Desktop { daemons: Vec::new() };
        desk.spawn("/lib/systemd/systemd-udevd", &[])?;
        wait_for("udevd", Duration::from_secs(20), || std::path::Path::new("/run/udev/control").exists())?;
        let (t, out) = sh("udevadm trigger --action=add --subsystem-match=block && udevadm settle -t 60 2>&1");
        ensure!(t, "udevadm trigger: {out}");
        desk.spawn(
            "/usr/bin/dbus-daemon",
            &["--config-file=/etc/dbus-1/guest-system.conf", "--nofork", "--nopidfile"],
        )?;
        wait_for("the system bus", Duration::from_secs(20), || {
            std::path::Path::new("/run/dbus/system_bus_socket").exists()
        })?;
        desk.spawn("/usr/lib/polkit-1/polkitd", &["--no-debug"])?;
        desk.spawn("/usr/libexec/udisks2/udisksd", &["--no-sigint"])?;
        wait_for("udisksd", Duration::from_secs(60), || sh("udisksctl status").0)?;
        Ok(desk)
    }

    fn spawn(&mut self, program: &str, args: &[&str]) -> R {
        let log =
            ok(std::fs::File::create(format!("/tmp/desktop-{}.log", program.rsplit('/').next().unwrap())), "log")?;
        let child = ok(
            Command::new(program).args(args).stdout(Stdio::null()).stderr(log).spawn(),
            &format!("start {program}"),
        )?;
        self.daemons.push(child);
        Ok(())
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for c in self.daemons.iter_mut().rev() {
            let _ = rustix::process::kill_process(rustix::process::Pid::from_child(c), rustix::process::Signal::KILL);
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all("/run/udev");
        let _ = std::fs::remove_file("/etc/udev/rules.d/99-guest.rules");
    }
}

/// udev's properties of `dev`.
fn udev_props(dev: &str) -> String {
    sh(&format!("udevadm info --query=property --name={dev}")).1
}

/// What `udisksctl info -b DEV` says, one line per property.
fn udisks_info(dev: &str) -> String {
    sh(&format!("udisksctl info -b {dev} 2>&1")).1
}

/// Whether udisks2 shows `dev` with property `name` equal to `value`.
fn udisks_says(dev: &str, name: &str, value: &str) -> bool {
    udisks_info(dev).lines().any(|l| {
        let l = l.trim();
        l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).is_some_and(|v| v.trim() == value)
    })
}

/// `discrec lock DEV` as `uid`, once it printed `locked`; and how long
/// that took.
fn hold_as(dev: &str, uid: u32) -> Result<(Child, Duration), String> {
    let t = Instant::now();
    let mut cmd = Command::new("/bin/discrec");
    cmd.args(["lock", "--client", "Desktop test", dev]).stdout(Stdio::piped()).stderr(Stdio::inherit());
    if uid != 0 {
        cmd.uid(uid).gid(uid);
    }
    let mut c = ok(cmd.spawn(), "spawn discrec lock")?;
    let mut line = String::new();
    ok(BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut line), "read")?;
    ensure!(line.starts_with("locked "), "discrec lock said {line:?}");
    Ok((c, t.elapsed()))
}

/// READ commands the drive got so far (`vdrive: 28 ` READ(10), `a8`
/// READ(12)).
fn reads(log: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("vdrive: 28 ") || l.starts_with("vdrive: a8 "))
        .count()
}

/// While held (by `holder`): udev and udisks2 say so, and a mount is
/// refused before a single READ reaches the drive.
fn kept_off(dev: &str) -> R {
    let props = udev_props(dev);
    ensure!(
        props.contains("DISCREC_HOLD=1\n") && props.contains("UDISKS_IGNORE=1\n") && !props.contains("ID_FS_USAGE="),
        "udev's properties of a held drive: {props}"
    );
    ensure!(udisks_says(dev, "HintIgnore", "true"), "udisksctl info while held: {}", udisks_info(dev));
    let before = reads(LOG);
    let (mounted, out) = sh(&format!("udisksctl mount -b {dev} 2>&1"));
    ensure!(!mounted, "udisksctl mounted a held drive: {out}");
    ensure!(out.contains("not a mountable filesystem"), "udisksctl mount of a held drive said: {out}");
    let after = reads(LOG);
    ensure!(after == before, "the refused mount read the drive ({} READs)", after - before);
    Ok(())
}

/// Once free: udisks2 shows the drive and its file system again, and it
/// mounts (and unmounts) through udisks2.
fn mounts_again(dev: &str, after: &str) -> R {
    wait_for(&format!("udisks2 to show the drive again after {after}"), Duration::from_secs(30), || {
        udisks_says(dev, "HintIgnore", "false") && udisks_says(dev, "IdUsage", "filesystem")
    })
    .map_err(|e| format!("{e}: {} / {}", udev_props(dev), udisks_info(dev)))?;
    let (m, out) = sh(&format!("udisksctl mount -b {dev} 2>&1"));
    ensure!(m && out.contains("Mounted"), "udisksctl mount after {after}: {out}");
    let (u, out) = sh(&format!("udisksctl unmount -b {dev} 2>&1"));
    ensure!(u, "udisksctl unmount: {out}");
    Ok(())
}

fn stop(mut c: Child, signal: rustix::process::Signal) {
    let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&c), signal);
    let _ = c.wait();
}

/// udisks2 keeps off a drive discrec holds, for root and for another
/// user, and mounts it again after a release and after a `SIGKILL`.
pub fn t_udisks_keeps_off_a_held_drive() -> R {
    use rustix::process::Signal;
    // A DVD+RW with an ISO 9660 file system, burned before udev runs.
    let src = source(1, 64)?;
    let drive = Served::start("dvd+rw", &fresh("dvd+rw"), None, LOG)?;
    let dev = drive.dev.clone();
    let (b, out) = sh(&format!("/bin/discrec burn {dev} {src} 2>&1"));
    ensure!(b, "discrec burn: {out}");
    drive.cycle_tray()?;
    let (c, bare) = hold_as(&dev, 0)?;
    stop(c, Signal::TERM);

    let desk = Desktop::start().map_err(|e| format!("{e}: {}", sh("tail -n 5 /tmp/desktop-*.log").1))?;
    let r = (|| {
        mounts_again(&dev, "udev started")?;
        // Root: the change uevent.
        let (c, announced) = hold_as(&dev, 0)?;
        println!(
            "desktop: discrec lock took {} ms with udev and udisks2, {} ms without",
            announced.as_millis(),
            bare.as_millis()
        );
        kept_off(&dev)?;
        stop(c, Signal::TERM);
        mounts_again(&dev, "a release")?;
        // Another user: a close after writing, which udevd watches.
        let (c, _) = hold_as(&dev, BURNER)?;
        kept_off(&dev)?;
        stop(c, Signal::KILL);
        mounts_again(&dev, "a SIGKILL of the holder")?;
        Ok::<(), String>(())
    })();
    drop(desk);
    r.map_err(|e| {
        format!(
            "{e}\n    udevd: {}\n    drive: {}",
            tail(&sh("cat /tmp/desktop-systemd-udevd.log").1),
            log_tail(LOG, 5)
        )
    })?;
    drive.stop()
}

//! The image every guest tier boots: the newest kernel in `/boot` with its
//! modules (or `DISCREC_GUEST_KERNEL` and `DISCREC_GUEST_MODULES`) and an
//! initramfs of its own making, with the statically linked
//! `discrec` and `discrec-guest`, a static busybox, the peer tools the
//! tests drive (with their libraries), the kernel modules of the
//! `sr`/`sg`/ATA/virtio-scsi/isofs/network stack in dependency order, and
//! the `/init` that starts the test driver or, in a cluster guest, the
//! agent. [`build_guest`] makes it; [`crate::qemu`] boots it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{root, run};

/// Modules the guest loads (with their dependencies, in order).
/// `brd` and `dm_flakey` make a block device that drops every write, the
/// real fault behind the verification test.
/// `virtio_net` (with `failover`, `net_failover`) is the cluster guests'
/// network to etcd on the host.
const MODULES: &[&str] = &[
    "sr_mod",
    "sg",
    "ata_piix",
    "virtio_pci",
    "virtio_scsi",
    "isofs",
    "brd",
    "dm_flakey",
    "failover",
    "net_failover",
    "virtio_net",
    // The disk the virtual drive's benchmark compares with.
    "virtio_blk",
    // The virtual drive (discrec-vdrive): LIO's user backstore on the
    // loopback fabric.
    "target_core_user",
    "tcm_loop",
];

/// Host tools copied into the guest (dynamically linked: their libraries
/// and the loader come along).
const GUEST_TOOLS: &[&str] = &[
    "/usr/bin/xorriso",
    "/usr/bin/cdrskin",
    "/usr/bin/wodim",
    "/usr/bin/growisofs",
    "/usr/bin/genisoimage",
    "/usr/bin/dvd+rw-format",
    "/usr/bin/dvd+rw-mediainfo",
    "/usr/bin/lsblk",
    "/usr/sbin/dmsetup",
];

/// The desktop the udisks test runs (`guest/src/desktop.rs`): udevd and
/// dbus-daemon from the base system, udisks2 with the libblockdev plugins
/// it loads, polkitd, the tools that talk to them, with their libraries.
const DESKTOP_TOOLS: &[&str] = &[
    "/bin/udevadm",
    "/lib/udev/cdrom_id",
    "/usr/bin/dbus-daemon",
    "/usr/libexec/udisks2/udisksd",
    "/usr/bin/udisksctl",
    "/usr/lib/polkit-1/polkitd",
    "/usr/lib/x86_64-linux-gnu/libbd_fs.so.2",
    "/usr/lib/x86_64-linux-gnu/libbd_loop.so.2",
    "/usr/lib/x86_64-linux-gnu/libbd_part.so.2",
    "/usr/lib/x86_64-linux-gnu/libbd_swap.so.2",
];

/// Their data: udev's rules for disks and optical drives, udisks2's rules
/// and polkit actions, libblockdev's plugin list, udisks2's settings.
const DESKTOP_FILES: &[&str] = &[
    "/lib/udev/rules.d/50-udev-default.rules",
    "/lib/udev/rules.d/60-block.rules",
    "/lib/udev/rules.d/60-cdrom_id.rules",
    "/lib/udev/rules.d/60-persistent-storage.rules",
    "/lib/udev/rules.d/80-udisks2.rules",
    "/etc/libblockdev/conf.d/00-default.cfg",
    "/etc/udisks2/udisks2.conf",
    "/usr/share/polkit-1/actions/org.freedesktop.UDisks2.policy",
];

/// The guest's system bus: anyone may own and call anything (the test is
/// about udisks2, not about bus policy).
const DBUS_CONF: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#;

/// The desktop stack under `root`, with discrec's udev rule as the
/// package installs it (`/usr/bin/discrec` links to the guest's).
fn add_desktop(root: &Path, repo: &Path) -> Result<(), String> {
    for tool in DESKTOP_TOOLS {
        copy_with_libs(tool, root)
            .map_err(|e| format!("{e} (the udisks test needs udisks2 and polkitd: scripts/install-deps)"))?;
    }
    let mut files: Vec<(PathBuf, PathBuf)> =
        DESKTOP_FILES.iter().map(|f| (PathBuf::from(f), root.join(f.trim_start_matches('/')))).collect();
    files.push((repo.join("contrib/udev/90-discrec.rules"), root.join("lib/udev/rules.d/90-discrec.rules")));
    for (from, to) in files {
        fs::create_dir_all(to.parent().unwrap()).map_err(|e| e.to_string())?;
        fs::copy(&from, &to).map_err(|e| format!("{}: {e} (scripts/install-deps installs it)", from.display()))?;
    }
    fs::create_dir_all(root.join("lib/systemd")).map_err(|e| e.to_string())?;
    fs::create_dir_all(root.join("usr/lib")).map_err(|e| e.to_string())?;
    fs::create_dir_all(root.join("etc/dbus-1")).map_err(|e| e.to_string())?;
    let links = [
        ("/bin/udevadm", "lib/systemd/systemd-udevd"),
        ("/lib/udev", "usr/lib/udev"),
        ("/bin/discrec", "usr/bin/discrec"),
    ];
    for (to, at) in links {
        let _ = fs::remove_file(root.join(at));
        std::os::unix::fs::symlink(to, root.join(at)).map_err(|e| format!("{at}: {e}"))?;
    }
    fs::write(root.join("etc/dbus-1/guest-system.conf"), DBUS_CONF).map_err(|e| e.to_string())?;
    fs::write(root.join("etc/machine-id"), "3ea1d2c38c4b4b6c9f0e2a7d5b1c0f42\n").map_err(|e| e.to_string())?;
    Ok(())
}

/// Copy `bin` and every library `ldd` names into the same paths under `root`.
fn copy_with_libs(bin: &str, root: &Path) -> Result<(), String> {
    let out = Command::new("ldd").arg(bin).output().map_err(|e| format!("ldd {bin}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{bin} is missing or not dynamic (install it: xorriso, util-linux)"));
    }
    let mut files = vec![PathBuf::from(bin)];
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        // "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        if let Some(p) = l.split_whitespace().find(|w| w.starts_with('/')) {
            files.push(PathBuf::from(p));
        }
    }
    for f in files {
        let dst = root.join(f.strip_prefix("/").unwrap_or(&f));
        fs::create_dir_all(dst.parent().unwrap()).map_err(|e| e.to_string())?;
        fs::copy(&f, &dst).map_err(|e| format!("{}: {e}", f.display()))?;
    }
    Ok(())
}

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ln -s /proc/self/fd /dev/fd
mkdir -p /tmp /run /mnt
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || echo "guest: insmod $m failed"; done
# A cluster guest (cargo xtask cluster-test): one drive, a network to the
# host's etcd, and the agent that runs what the host asks on ttyS1.
if grep -q 'discrec.role=agent' /proc/cmdline; then
    hostname "$(sed -n 's/.*discrec.host=\([^ ]*\).*/\1/p' /proc/cmdline)"
    ip link set lo up
    ip link set eth0 up
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
    i=0
    while [ $i -lt 100 ] && ! [ -b /dev/sr0 ]; do sleep 0.1; i=$((i+1)); done
    stty -F /dev/ttyS1 raw -echo 2>/dev/null
    echo "guest $(hostname): ready after $(cut -d' ' -f1 /proc/uptime) s of uptime"
    /bin/discrec-guest agent /dev/ttyS1
    poweroff -f
fi
# Wait (at most 10 s) for QEMU's two drives and their sg nodes (the
# guest serves its third, /dev/sr2, itself).
i=0
while [ $i -lt 100 ]; do
    [ -b /dev/sr0 ] && [ -b /dev/sr1 ] && [ -c /dev/sg1 ] && break
    sleep 0.1; i=$((i+1))
done
stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "guest: ready after $(cut -d' ' -f1 /proc/uptime) s of uptime"
/bin/discrec-guest
echo "guest: done"
poweroff -f
"#;

/// `crates/capi/tests/c/drive.c` built against the release C library
/// (linked by its soname, found through an rpath that `copy_with_libs`
/// follows, so the guest gets the library at the same path).
fn c_drive_program(root: &Path, out: &Path) -> Result<PathBuf, String> {
    run(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "discrec-capi",
        "--lib",
    ]))?;
    let dir = out.join("capi");
    let lib = dir.join("lib");
    fs::create_dir_all(&lib).map_err(|e| e.to_string())?;
    fs::create_dir_all(dir.join("include")).map_err(|e| e.to_string())?;
    fs::write(dir.join("include/discrec.h"), crate::dist::header(root)?).map_err(|e| e.to_string())?;
    let so = lib.join("libdiscrec.so.0");
    fs::copy(root.join("target/release/libdiscrec_capi.so"), &so).map_err(|e| format!("libdiscrec_capi.so: {e}"))?;
    let _ = fs::remove_file(lib.join("libdiscrec.so"));
    std::os::unix::fs::symlink("libdiscrec.so.0", lib.join("libdiscrec.so")).map_err(|e| e.to_string())?;
    let program = dir.join("drive");
    run(Command::new("cc")
        .args(["-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&program)
        .arg(root.join("crates/capi/tests/c/drive.c"))
        .arg(format!("-I{}", dir.join("include").display()))
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-ldiscrec", "-lpthread"]))?;
    Ok(program)
}

/// The newest kernel in /boot that has its modules installed.
fn kernel() -> Result<(PathBuf, PathBuf), String> {
    if let (Ok(k), Ok(m)) = (std::env::var("DISCREC_GUEST_KERNEL"), std::env::var("DISCREC_GUEST_MODULES")) {
        return Ok((k.into(), m.into()));
    }
    let mut found: Vec<(PathBuf, PathBuf)> = fs::read_dir("/boot")
        .map_err(|e| format!("/boot: {e}"))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let ver = name.strip_prefix("vmlinuz-")?.to_string();
            let modules = PathBuf::from(format!("/lib/modules/{ver}"));
            modules.join("modules.dep").exists().then(|| (e.path(), modules))
        })
        .collect();
    found.sort();
    found.pop().ok_or_else(|| "no kernel with modules in /boot (install linux-image-amd64)".to_string())
}

/// `name` and everything it needs, dependencies first.
fn module_order(modules_dir: &Path, wanted: &[&str]) -> Result<Vec<String>, String> {
    let dep = fs::read_to_string(modules_dir.join("modules.dep")).map_err(|e| format!("modules.dep: {e}"))?;
    let deps: Vec<(String, Vec<String>)> = dep
        .lines()
        .filter_map(|l| {
            let (m, d) = l.split_once(':')?;
            Some((m.to_string(), d.split_whitespace().map(str::to_string).collect()))
        })
        .collect();
    let find = |name: &str| {
        deps.iter().find(|(p, _)| {
            let file = p.rsplit('/').next().unwrap_or(p);
            file.split('.').next() == Some(name) || file.split('.').next() == Some(&name.replace('_', "-"))
        })
    };
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(path: &str, deps: &[(String, Vec<String>)], seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
        if !seen.insert(path.to_string()) {
            return;
        }
        if let Some((_, ds)) = deps.iter().find(|(p, _)| p == path) {
            for d in ds {
                visit(d, deps, seen, order);
            }
        }
        order.push(path.to_string());
    }
    for w in wanted {
        match find(w) {
            Some((p, _)) => visit(p, &deps, &mut seen, &mut order),
            None => {
                // Built into the kernel: nothing to load.
                let builtin = fs::read_to_string(modules_dir.join("modules.builtin")).unwrap_or_default();
                if !builtin.lines().any(|l| l.ends_with(&format!("/{w}.ko"))) {
                    return Err(format!("module {w} is neither in modules.dep nor built in"));
                }
            }
        }
    }
    Ok(order)
}

/// What a guest boots: its kernel and initramfs, and the harness's
/// output directory.
pub struct Boot {
    pub vmlinuz: PathBuf,
    pub initrd: PathBuf,
    pub out: PathBuf,
}

/// Build the static binaries and the initramfs (steps 1 and 2 of both
/// guest tiers).
pub fn build_guest() -> Result<Boot, String> {
    let root = root();
    let out = root.join("target/guest");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;

    // 1. Static binaries for the guest.
    run(Command::new(env!("CARGO"))
        .current_dir(&root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args(["build", "--release", "--quiet", "--target", "x86_64-unknown-linux-gnu", "--target-dir"])
        .arg(&out)
        .args(["-p", "discrec-cli", "-p", "discrec-guest", "-p", "discrec-vdrive"])
        .args(["--bin", "discrec", "--bin", "discrec-guest", "--bin", "discrec-vdrive"]))?;
    let bins = out.join("x86_64-unknown-linux-gnu/release");

    // 2. The initramfs.
    let (vmlinuz, modules_dir) = kernel()?;
    let fsroot = out.join("initramfs");
    let _ = fs::remove_dir_all(&fsroot);
    for d in ["bin", "lib/modules", "etc", "proc", "sys", "dev"] {
        fs::create_dir_all(fsroot.join(d)).map_err(|e| e.to_string())?;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("busybox not found (install busybox-static)")?;
    for (from, to) in [
        (PathBuf::from(busybox), "bin/busybox"),
        (bins.join("discrec"), "bin/discrec"),
        (bins.join("discrec-guest"), "bin/discrec-guest"),
        (bins.join("discrec-vdrive"), "bin/discrec-vdrive"),
    ] {
        fs::copy(&from, fsroot.join(to)).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    // Peer tools the tests drive, with their shared libraries.
    for tool in GUEST_TOOLS {
        copy_with_libs(tool, &fsroot)?;
    }
    add_desktop(&fsroot, &root)?;
    // The C library's program for real drives, with libdiscrec.so.0.
    let c_drive = c_drive_program(&root, &out)?;
    copy_with_libs(&c_drive.to_string_lossy(), &fsroot)?;
    fs::copy(&c_drive, fsroot.join("bin/discrec-c-drive")).map_err(|e| format!("{}: {e}", c_drive.display()))?;
    let order = module_order(&modules_dir, MODULES)?;
    let mut names = Vec::new();
    for m in &order {
        let file = Path::new(m).file_name().unwrap().to_string_lossy().into_owned();
        fs::copy(modules_dir.join(m), fsroot.join("lib/modules").join(&file)).map_err(|e| format!("{m}: {e}"))?;
        names.push(file);
    }
    fs::write(fsroot.join("lib/modules/order"), names.join("\n")).map_err(|e| e.to_string())?;
    // A second user, `burner`, holds drives in the udisks test; polkitd
    // runs as its own.
    fs::write(
        fsroot.join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\nburner:x:1000:1000:burner:/tmp:/bin/sh\npolkitd:x:998:998:polkitd:/:/bin/false\n",
    )
    .map_err(|e| e.to_string())?;
    fs::write(fsroot.join("etc/group"), "root:x:0:\nburner:x:1000:\npolkitd:x:998:\n").map_err(|e| e.to_string())?;
    fs::write(fsroot.join("init"), INIT).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(fsroot.join("init"), fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let initrd = out.join("initrd.cpio");
    run(Command::new("sh")
        .current_dir(&fsroot)
        .arg("-c")
        .arg(format!("find . | cpio -o -H newc --quiet > '{}'", initrd.display())))?;
    Ok(Boot { vmlinuz, initrd, out })
}

//! The kernel side of a virtual drive: LIO's user backstore
//! (`target_core_user`, a `/dev/uioN` ring) exposed as a local SCSI
//! device by the loopback fabric (`tcm_loop`), all set up through
//! configfs. Creating the LUN link makes the kernel scan the device (its
//! INQUIRY says type 5, so `sr` and `sg` attach); removing it is a
//! hot-unplug.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;

const CONFIGFS: &str = "/sys/kernel/config";
const TARGET: &str = "/sys/kernel/config/target";
/// The loopback target every virtual drive of this machine hangs off.
const WWN: &str = "naa.5001405d15c00001";
const NEXUS: &str = "naa.5001405d15c00002";
/// Backstores are named `vdrive-PID`.
pub const PREFIX: &str = "vdrive-";

/// Kernel modules a drive needs, with the option that builds each.
const MODULES: &[(&str, &str)] = &[
    ("configfs", "CONFIG_CONFIGFS_FS"),
    ("target_core_mod", "CONFIG_TARGET_CORE"),
    ("uio", "CONFIG_UIO"),
    ("target_core_user", "CONFIG_TCM_USER2"),
    ("tcm_loop", "CONFIG_LOOPBACK_TARGET"),
    ("cdrom", "CONFIG_CDROM"),
    ("sr_mod", "CONFIG_BLK_DEV_SR"),
];

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

fn loaded(module: &str) -> bool {
    if Path::new("/sys/module").join(module).exists() {
        return true;
    }
    // Built into the kernel (and without parameters, so not in /sys/module).
    let release = rustix::system::uname().release().to_string_lossy().into_owned();
    std::fs::read_to_string(format!("/lib/modules/{release}/modules.builtin"))
        .is_ok_and(|b| b.lines().any(|l| l.ends_with(&format!("/{module}.ko"))))
}

/// Root, the modules (loading the missing ones with `modprobe`) and
/// configfs mounted: checked before anything is created.
pub fn prepare() -> Result<(), Error> {
    if !rustix::process::geteuid().is_root() {
        return Err(Error::NotRoot);
    }
    for (module, option) in MODULES {
        if loaded(module) {
            continue;
        }
        let _ = std::process::Command::new("modprobe")
            .arg(module)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !loaded(module) {
            return Err(Error::NoModule { module, option });
        }
    }
    if !Path::new(TARGET).exists() {
        if !Path::new(CONFIGFS).join("target").exists() && fs::read_dir(CONFIGFS).is_ok_and(|mut d| d.next().is_none())
        {
            use rustix::mount::{mount, MountFlags};
            mount("configfs", CONFIGFS, "configfs", MountFlags::empty(), None)
                .map_err(|e| io_err(format!("mount -t configfs none {CONFIGFS}"))(e.into()))?;
        }
        if !Path::new(TARGET).exists() {
            return Err(Error::NoModule { module: "target_core_mod", option: "CONFIG_TARGET_CORE" });
        }
    }
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    fs::write(path, value).map_err(io_err(format!("echo {value} > {}", path.display())))
}

fn mkdir(path: &Path) -> Result<(), Error> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(format!("mkdir {}", path.display()))(e)),
    }
}

/// A user backstore: configfs directory and its ring.
pub struct Backstore {
    pub name: String,
    dir: PathBuf,
    /// `uioN`.
    pub uio: String,
}

impl Backstore {
    /// Create and enable `vdrive-PID`'s backstore.
    pub fn create(blocks: u32) -> Result<Backstore, Error> {
        let name = format!("{PREFIX}{}", std::process::id());
        let hba = Path::new(TARGET).join("core/user_1");
        mkdir(&hba)?;
        let dir = hba.join(&name);
        if dir.exists() {
            // A killed serve that had our PID: its LUN goes, then it.
            unlink_luns_of(&name);
            let _ = fs::remove_dir(&dir);
        }
        fs::create_dir(&dir).map_err(io_err(format!("mkdir {}", dir.display())))?;
        let b = Backstore { name: name.clone(), dir, uio: String::new() };
        let config = format!("discrec/{name}");
        let size = (blocks.max(1) as u64) * 2048;
        write(
            &b.dir.join("control"),
            &format!("dev_config={config},dev_size={size},hw_block_size=2048,max_data_area_mb=32"),
        )?;
        write(&b.dir.join("enable"), "1")?;
        let want = format!("tcm-user/1/{name}/{config}");
        let uio = fs::read_dir("/sys/class/uio")
            .map_err(io_err("/sys/class/uio"))?
            .flatten()
            .find(|e| fs::read_to_string(e.path().join("name")).is_ok_and(|n| n.trim() == want))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .ok_or_else(|| Error::Kernel(format!("no /dev/uioN named {want} after enabling the backstore")))?;
        Ok(Backstore { uio, ..b })
    }

    /// Disable and remove (the ring goes with it).
    pub fn remove(self) -> Result<(), Error> {
        fs::remove_dir(&self.dir).map_err(io_err(format!("rmdir {}", self.dir.display())))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The loopback target's portal group.
fn tpg() -> PathBuf {
    Path::new(TARGET).join("loopback").join(WWN).join("tpgt_1")
}

/// A LUN of the loopback target backed by our backstore: the drive the
/// kernel sees.
pub struct Lun {
    dir: PathBuf,
    link: PathBuf,
    /// `H:C:T:L` on the SCSI bus.
    pub address: String,
}

impl Lun {
    /// Link the backstore into the loopback target (the kernel sends its
    /// INQUIRY now: the ring must be served meanwhile).
    pub fn attach(b: &Backstore) -> Result<Lun, Error> {
        let tpg = tpg();
        mkdir(&Path::new(TARGET).join("loopback"))?;
        mkdir(&Path::new(TARGET).join("loopback").join(WWN))?;
        mkdir(&tpg)?;
        let nexus = fs::read_to_string(tpg.join("nexus")).unwrap_or_default();
        if nexus.trim().is_empty() {
            write(&tpg.join("nexus"), NEXUS)?;
        }
        let mut k = 0;
        let dir = loop {
            let dir = tpg.join(format!("lun/lun_{k}"));
            match fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && k < 255 => k += 1,
                Err(e) => return Err(io_err(format!("mkdir {}", dir.display()))(e)),
            }
        };
        let link = dir.join(&b.name);
        if let Err(e) = std::os::unix::fs::symlink(&b.dir, &link) {
            let _ = fs::remove_dir(&dir);
            return Err(io_err(format!("ln -s {} {}", b.dir.display(), link.display()))(e));
        }
        let hct = fs::read_to_string(tpg.join("address")).map_err(io_err("the loopback target's address"))?;
        Ok(Lun { dir, link, address: format!("{}:{k}", hct.trim()) })
    }

    /// The drive's block device (`/dev/srN`) once `sr` has attached it.
    pub fn block_device(&self, within: Duration) -> Result<String, Error> {
        let t = Instant::now();
        let sys = Path::new("/sys/bus/scsi/devices").join(&self.address);
        loop {
            if let Some(name) = fs::read_dir(sys.join("block"))
                .ok()
                .and_then(|mut d| d.next())
                .and_then(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
            {
                let dev = format!("/dev/{name}");
                if Path::new(&dev).exists() {
                    return Ok(dev);
                }
            }
            if t.elapsed() > within {
                let why = if sys.exists() {
                    "the kernel found the device but attached no block driver (is sr_mod loaded?)"
                } else {
                    "the kernel did not scan the LUN"
                };
                return Err(Error::Kernel(format!(
                    "no /dev/srN for SCSI device {} within {within:?}: {why}",
                    self.address
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Remove the LUN: the kernel sees the drive unplugged.
    pub fn detach(self) -> Result<(), Error> {
        fs::remove_file(&self.link).map_err(io_err(format!("rm {}", self.link.display())))?;
        fs::remove_dir(&self.dir).map_err(io_err(format!("rmdir {}", self.dir.display())))
    }
}

/// Remove every LUN of the loopback target that links backstore `name`.
fn unlink_luns_of(name: &str) {
    for lun in fs::read_dir(tpg().join("lun")).into_iter().flatten().flatten() {
        let link = lun.path().join(name);
        if fs::symlink_metadata(&link).is_ok() {
            let _ = fs::remove_file(&link);
            let _ = fs::remove_dir(lun.path());
        }
    }
}

/// Remove what a `serve` killed without cleaning up left behind: LUNs
/// and backstores of a serve that no longer holds its lock file
/// (`RUN_DIR/vdrive-PID.lock`), and LUN directories left empty.
pub fn remove_stale(run_dir: &Path) {
    use rustix::fs::{flock, FlockOperation};
    let Ok(bs) = fs::read_dir(Path::new(TARGET).join("core/user_1")) else { return };
    let dead = |name: &str| {
        let lock = run_dir.join(format!("{name}.lock"));
        match fs::File::open(&lock) {
            // Free: its serve is gone (a live one holds it).
            Ok(f) => flock(&f, FlockOperation::NonBlockingLockExclusive).is_ok(),
            Err(_) => true,
        }
    };
    let stale: Vec<PathBuf> = bs
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(PREFIX) && dead(&name)
        })
        .map(|e| e.path())
        .collect();
    if let Ok(luns) = fs::read_dir(tpg().join("lun")) {
        for lun in luns.flatten() {
            let links: Vec<_> = fs::read_dir(lun.path()).into_iter().flatten().flatten().collect();
            let ours_dead = links.iter().any(|link| {
                fs::read_link(link.path())
                    .is_ok_and(|t| stale.iter().any(|s| s.file_name().is_some_and(|n| t.ends_with(n))))
            });
            if ours_dead {
                for link in &links {
                    let _ = fs::remove_file(link.path());
                }
            }
            // A LUN directory with no backstore linked (a serve killed
            // between its mkdir and its link, or cleaned above).
            if lun.file_name().to_string_lossy().starts_with("lun_") {
                let _ = fs::remove_dir(lun.path());
            }
        }
    }
    for s in stale {
        let _ = fs::remove_dir(&s);
        if let Some(name) = s.file_name() {
            let _ = fs::remove_file(run_dir.join(format!("{}.lock", name.to_string_lossy())));
        }
    }
}

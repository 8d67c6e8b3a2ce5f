//! What the threads of a serving drive share: the drive, its LUN and
//! device node, the hang fault and the stop flag; plugging and unplugging
//! the LUN; checking a medium and image before serving them.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use crate::drive::Drive;
use crate::image::Plan;
use crate::medium::Kind;
use crate::target::{Backstore, Lun};
use crate::Error;

/// Where control sockets live.
pub const RUN_DIR: &str = "/run/discrec-vdrive";

/// What the threads of a serving drive share.
pub struct Shared {
    pub drive: Mutex<Drive>,
    pub lun: Mutex<Option<Lun>>,
    pub device: Mutex<Option<String>>,
    pub hang: AtomicBool,
    pub stop: AtomicBool,
    pub events: Mutex<mpsc::Sender<Event>>,
    pub backstore: Backstore,
}

/// What the main thread waits for.
pub enum Event {
    Stop,
    /// An injected fault: unplug now.
    Unplug,
}

/// Check `medium`/`image` and what serving them would do, touching nothing.
pub fn plan(medium: Option<Kind>, image: Option<&Path>, capacity: Option<u32>) -> Result<Option<Plan>, Error> {
    match (medium, image) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(Error::Usage("--image needs --medium (the kind of disc it holds)".into())),
        (Some(k), None) => Err(Error::Usage(format!("--medium {k} needs --image FILE: the file that holds the disc"))),
        (Some(k), Some(p)) => Plan::new(p, k, capacity).map(Some),
    }
}

/// Plug the drive in: the kernel scans it, and `sr` names it.
pub fn plug(shared: &Shared) -> Result<String, Error> {
    // Not while another serve sets up (it may clean empty LUN directories).
    let _setup = setup_lock(false)?;
    plug_during_setup(shared)
}

/// The machine's setup lock (`RUN_DIR/.setup.lock`): one serve at a time
/// numbers LUNs and cleans up after dead ones. Waits for it, saying so
/// when `say_waiting`.
pub fn setup_lock(say_waiting: bool) -> Result<std::fs::File, Error> {
    use rustix::fs::{flock, FlockOperation};
    let path = Path::new(RUN_DIR).join(".setup.lock");
    let setup =
        std::fs::File::create(&path).map_err(|source| Error::Io { what: path.display().to_string(), source })?;
    if flock(&setup, FlockOperation::NonBlockingLockExclusive).is_err() {
        if say_waiting {
            eprintln!("discrec-vdrive: waiting for another discrec-vdrive serve to finish setting up its drive");
        }
        flock(&setup, FlockOperation::LockExclusive)
            .map_err(|e| Error::Io { what: format!("lock {}", path.display()), source: e.into() })?;
    }
    Ok(setup)
}

/// [`plug`], by a serve that holds the setup lock already.
pub fn plug_during_setup(shared: &Shared) -> Result<String, Error> {
    let mut lun = shared.lun.lock().unwrap_or_else(|p| p.into_inner());
    if lun.is_some() {
        return Err(Error::Control("the drive is plugged in already".into()));
    }
    let l = Lun::attach(&shared.backstore)?;
    match l.block_device(Duration::from_secs(30)) {
        Ok(dev) => {
            *lun = Some(l);
            *shared.device.lock().unwrap_or_else(|p| p.into_inner()) = Some(dev.clone());
            Ok(dev)
        }
        Err(e) => {
            let _ = l.detach();
            Err(e)
        }
    }
}

/// Pull the drive out (the backstore and the disc stay).
pub fn unplug(shared: &Shared) -> Result<(), Error> {
    let mut lun = shared.lun.lock().unwrap_or_else(|p| p.into_inner());
    let l = lun.take().ok_or_else(|| Error::Control("the drive is unplugged already".into()))?;
    *shared.device.lock().unwrap_or_else(|p| p.into_inner()) = None;
    l.detach()?;
    shared.drive.lock().unwrap_or_else(|p| p.into_inner()).sync();
    Ok(())
}

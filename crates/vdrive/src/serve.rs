//! One drive's life: check everything (root, modules, the image) before
//! creating anything, create the backstore and serve its ring on a thread
//! of its own, plug the LUN in and name the device, then serve until
//! SIGINT/SIGTERM (or `stop`), unplug and leave the image consistent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::drive::Drive;
use crate::medium::Kind;
use crate::shared::{plan, plug_during_setup, setup_lock, unplug, Event, Shared, RUN_DIR};
use crate::target::Backstore;
use crate::tcmu::Ring;
use crate::{control, target, Error};

/// What `serve` was asked for.
pub struct Options {
    /// `None`: an empty drive.
    pub medium: Option<Kind>,
    pub image: Option<PathBuf>,
    pub capacity: Option<u32>,
    pub control: Option<PathBuf>,
    /// Log every command on stderr.
    pub log: bool,
}

/// Serve until stopped; `ready` gets the device node once the kernel has
/// attached it.
pub fn serve(opts: Options, ready: impl FnOnce(&str)) -> Result<(), Error> {
    let plan = plan(opts.medium, opts.image.as_deref(), opts.capacity)?;
    target::prepare()?;
    // SIGINT and SIGTERM from now on end the serve cleanly, even during
    // the setup.
    let (tx, rx) = mpsc::channel();
    {
        let tx = tx.clone();
        let mut signals =
            signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
                .map_err(|source| Error::Io { what: "signal handlers".into(), source })?;
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let _ = tx.send(Event::Stop);
            }
        });
    }
    run_dir()?;
    let setup = setup_lock(true)?;
    use rustix::fs::{flock, FlockOperation};
    // This serve is alive while it holds its lock file: the next serve's
    // cleanup leaves its objects alone (whatever /proc shows).
    let alive_path = Path::new(RUN_DIR).join(format!("{}{}.lock", target::PREFIX, std::process::id()));
    let alive = std::fs::File::create(&alive_path)
        .map_err(|source| Error::Io { what: alive_path.display().to_string(), source })?;
    flock(&alive, FlockOperation::LockExclusive)
        .map_err(|e| Error::Io { what: format!("lock {}", alive_path.display()), source: e.into() })?;
    target::remove_stale(Path::new(RUN_DIR));
    let image = plan.map(|p| p.open()).transpose()?;
    let blocks = image.as_ref().map_or(1, |i| i.disc.capacity);
    let backstore = Backstore::create(blocks)?;
    let ring = match Ring::open(&backstore.uio) {
        Ok(r) => r,
        Err(source) => {
            let what = format!("/dev/{}", backstore.uio);
            let _ = backstore.remove();
            return Err(Error::Io { what, source });
        }
    };
    let mut drive = Drive::new(image, &backstore.name);
    drive.log = opts.log;
    let shared = Arc::new(Shared {
        drive: Mutex::new(drive),
        lun: Mutex::new(None),
        device: Mutex::new(None),
        hang: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        events: Mutex::new(tx.clone()),
        backstore,
    });
    let ring_thread = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || serve_ring(ring, &shared))
    };
    let attached = plug_during_setup(&shared);
    let dev = match attached {
        Ok(dev) => dev,
        Err(e) => {
            let _ = shutdown(&shared, ring_thread);
            return Err(e);
        }
    };
    let socket =
        opts.control.unwrap_or_else(|| Path::new(RUN_DIR).join(format!("{}.sock", dev.trim_start_matches("/dev/"))));
    let listener = match control::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            let _ = shutdown(&shared, ring_thread);
            return Err(e);
        }
    };
    drop(setup);
    {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || control::serve(listener, &shared));
    }
    eprintln!("discrec-vdrive: serving {dev}; control socket {}", socket.display());
    ready(&dev);
    for ev in rx {
        match ev {
            Event::Stop => break,
            Event::Unplug => {
                if let Err(e) = unplug(&shared) {
                    eprintln!("discrec-vdrive: unplug: {e}");
                }
            }
        }
    }
    let _ = std::fs::remove_file(&socket);
    let synced = shutdown(&shared, ring_thread);
    drop(alive);
    let _ = std::fs::remove_file(&alive_path);
    if !synced {
        return Err(Error::Kernel(format!(
            "the disc's image could not be written out at the end (the reason is above): {} may be incomplete",
            opts.image.as_deref().unwrap_or(Path::new("the image")).display()
        )));
    }
    Ok(())
}

/// `/run/discrec-vdrive`: a root-owned directory (not a link), created
/// when missing.
fn run_dir() -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let _ = std::fs::DirBuilder::new().mode(0o755).create(RUN_DIR);
    let meta = std::fs::symlink_metadata(RUN_DIR).map_err(|source| Error::Io { what: RUN_DIR.into(), source })?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(Error::Control(format!(
            "{RUN_DIR} is not a directory that only root can write: remove it, and serve again"
        )));
    }
    Ok(())
}

/// The ring, served until the backstore goes or the drive stops.
fn serve_ring(mut ring: Ring, shared: &Shared) {
    loop {
        while shared.hang.load(Ordering::Relaxed) && !shared.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let served = ring.serve(&mut |cmd, data| {
            let mut drive = shared.drive.lock().unwrap_or_else(|p| p.into_inner());
            let n = cmd.data_len();
            let r = drive.execute(&cmd.cdb, data, n);
            if drive.unplug_requested {
                drive.unplug_requested = false;
                let _ = shared.events.lock().map(|tx| tx.send(Event::Unplug));
            }
            r
        });
        if let Err(e) = served {
            if !shared.stop.load(Ordering::Relaxed) {
                eprintln!("discrec-vdrive: the command ring failed: {e}");
            }
            return;
        }
        if ring.wait().is_err() {
            return;
        }
    }
}

/// Unplug, flush, remove the backstore; whether the disc was written out.
fn shutdown(shared: &Shared, ring_thread: std::thread::JoinHandle<()>) -> bool {
    shared.hang.store(false, Ordering::Relaxed);
    if shared.lun.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
        if let Err(e) = unplug(shared) {
            eprintln!("discrec-vdrive: unplug: {e}");
        }
    }
    let synced = shared.drive.lock().unwrap_or_else(|p| p.into_inner()).sync();
    shared.stop.store(true, Ordering::Relaxed);
    let dir = shared.backstore.dir().to_owned();
    if let Err(e) = std::fs::remove_dir(&dir) {
        eprintln!("discrec-vdrive: rmdir {}: {e}", dir.display());
    }
    // The ring's read fails once the backstore is gone.
    for _ in 0..100 {
        if ring_thread.is_finished() {
            let _ = ring_thread.join();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    synced
}

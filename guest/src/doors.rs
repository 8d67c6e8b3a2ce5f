//! The doors other than the command line, on a real drive: the C
//! library's program (`crates/capi/tests/c/drive.c`, built by the guest
//! image as `/bin/discrec-c-drive`) writes, appends, erases and closes a
//! DVD-RW that `discrec-vdrive` serves through `sr`, and the kernel's isofs
//! reads back what it wrote.

use std::process::Command;

use crate::vdrive::{fresh, read_back_sources, source, tail, Served};
use crate::{ok, R};

/// Where the drive logs its commands.
const LOG: &str = "/tmp/vd-doors.log";

/// `/bin/discrec-c-drive ARGS`: its output, and Err naming its failed
/// checks unless every one passed.
fn c_drive(args: &[&str]) -> Result<String, String> {
    let o = ok(Command::new("/bin/discrec-c-drive").args(args).output(), "/bin/discrec-c-drive")?;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let failed: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    ensure!(
        o.status.success() && failed.is_empty() && out.contains("drive: 0 failed"),
        "discrec-c-drive {args:?} exited {:?}: {} {}",
        o.status.code(),
        failed.join(" | "),
        tail(&String::from_utf8_lossy(&o.stderr))
    );
    Ok(out)
}

/// The C library on a DVD-RW: write at an offered speed, eject, close,
/// add a session that closes the disc (adding more is refused), lock the
/// tray; isofs reads both sessions' files; then erase it with progress
/// and write it again, and isofs reads that alone.
pub fn t_c_library_writes_appends_and_erases_a_drive() -> R {
    let first = source(1, 300)?;
    let more = source(2, 200)?;
    let drive = Served::start("dvd-rw", &fresh("dvd-rw"), None, LOG)?;
    let out = c_drive(&[&drive.dev, "write", &first, &more])?;
    ensure!(out.lines().filter(|l| l.starts_with("PASS")).count() >= 25, "too few checks ran: {}", tail(&out));
    drive.cycle_tray()?;
    read_back_sources(&drive.dev, &[1, 2], &[])?;
    c_drive(&[&drive.dev, "erase", &first])?;
    drive.cycle_tray()?;
    read_back_sources(&drive.dev, &[1], &[2])?;
    drive.stop()
}

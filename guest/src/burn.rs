//! Burning tests on the blank DVD+R that `discrec-vdrive` serves in the
//! guest ([`crate::vdrive`]): a blank disc is swapped in on request
//! (`reblank`), and what a burn put on the disc is the disc's image file.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use discrec::medium::{MediaState, PhysicalType};
use discrec::writer::WriteAction;
use discrec::{DataWriter, Recorder, Source};

use crate::{ok, sh, wait_for, R};

/// The DVD+R drive's block device.
pub fn dvd() -> Result<String, String> {
    crate::vdrive::dvd()
}

/// A blank disc in the drive again; the drive's (possibly new) node.
fn reblank() -> Result<String, String> {
    crate::vdrive::insert_blank_dvd()?;
    let dev = dvd()?;
    wait_for("the new drive to show a blank disc", Duration::from_secs(20), || dvd_is_blank(&dev))?;
    Ok(dev)
}

/// The DVD+R drive with a blank disc in it: a test that failed before its
/// own `reblank` does not spoil the next one.
fn blank_dvd() -> Result<String, String> {
    let dev = dvd()?;
    if dvd_is_blank(&dev) && disc_on_host()?.0 == 0 {
        return Ok(dev);
    }
    reblank()
}

fn dvd_is_blank(dev: &str) -> bool {
    Recorder::open(dev).and_then(|r| r.medium()).is_ok_and(|m| m.state.contains(MediaState::BLANK))
}

/// (size, BLAKE3 hex) of the disc's image: what was burned on it.
fn disc_on_host() -> Result<(u64, String), String> {
    crate::vdrive::dvd_image()
}

/// An ISO image of a few files with known contents, made by xorriso in
/// the guest; its path and the source directory.
fn make_iso(name: &str, megabytes: usize) -> Result<(String, String), String> {
    let dir = format!("/tmp/{name}-src");
    let iso = format!("/tmp/{name}.iso");
    let _ = std::fs::remove_dir_all(&dir);
    ok(std::fs::create_dir_all(format!("{dir}/sub")), "mkdir")?;
    let mut seed = 0x9e3779b97f4a7c15u64;
    for (i, size) in [megabytes * 1_000_000 / 2, megabytes * 1_000_000 / 2, 12_345, 0].iter().enumerate() {
        let data = crate::noise(&mut seed, *size);
        let path = if i == 2 { format!("{dir}/sub/small.txt") } else { format!("{dir}/file{i}.bin") };
        ok(std::fs::write(&path, data), "write source file")?;
    }
    let (made, out) = sh(&format!("xorriso -as mkisofs -quiet -R -J -V {name} -o {iso} {dir} 2>&1"));
    ensure!(made, "xorriso -as mkisofs: {out}");
    Ok((iso, dir))
}

fn blake3_of(path: &str) -> Result<String, String> {
    Ok(blake3::hash(&ok(std::fs::read(path), path)?).to_hex().to_string())
}

fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new("/bin/discrec").args(args).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Cycle the tray in separate opens so that the kernel drops the blank
/// capacity it read before the burn: eject, an open that sees no disc, close.
fn cycle_tray(dev: &str) -> R {
    let (c, _, e) = cli(&["eject", dev]);
    ensure!(c == Some(0), "eject: {e}");
    let r = ok(Recorder::open(dev), "open")?;
    let t = ok(r.tray_state(), "tray state")?;
    ensure!(t != discrec::drive::TrayState::DiscOk, "the tray still shows a disc after eject: {t:?}");
    let (c, _, e) = cli(&["eject", "--close", dev]);
    ensure!(c == Some(0), "close: {e}");
    wait_for("the disc after closing", Duration::from_secs(10), || {
        r.tray_state().ok() == Some(discrec::drive::TrayState::DiscOk)
    })
}

pub fn t_dvd_is_a_blank_dvd_plus_r() -> R {
    let dev = dvd()?;
    let m = ok(ok(Recorder::open(&dev), "open")?.medium(), "medium")?;
    ensure!(m.physical_type == PhysicalType::DvdPlusR, "{m:?}");
    ensure!(m.state.contains(MediaState::BLANK) && m.medium_supported && m.recorder_supported, "{m:?}");
    ensure!(m.free_sectors == 2_295_104 && m.next_writable_address == 0, "{m:?}");
    let (c, out, e) = cli(&["info", "--json", &dev]);
    ensure!(c == Some(0), "info: {e}");
    let v: serde_json::Value = ok(serde_json::from_str(&out), "info JSON")?;
    ensure!(
        v["medium"]["state"] == serde_json::json!(["blank"]) && v["medium"]["free_sectors"] == 2_295_104,
        "info --json medium: {}",
        v["medium"]
    );
    let (_, out, _) = cli(&["info", &dev]);
    ensure!(out.contains("medium:    DvdPlusR, blank; 2295104 of"), "info: {out}");
    Ok(())
}

pub fn t_burn_iso_verify_mount_and_read_back() -> R {
    let dev = blank_dvd()?;
    let (iso, src) = make_iso("BURNTEST", 4)?;
    let iso_len = ok(std::fs::metadata(&iso), "iso")?.len();
    let (c, out, e) = cli(&["burn", "--json", "--client", "Guest Burner", &dev, &iso]);
    ensure!(c == Some(0), "burn exited {c:?}: {e}");
    let lines: Vec<serde_json::Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let done = lines.last().and_then(|l| l.get("done")).ok_or(format!("no result line: {out}"))?;
    ensure!(done["verified"] == true && done["sectors"] == iso_len / 2048, "{done}");
    let actions: Vec<&str> = lines.iter().filter_map(|l| l["progress"]["action"].as_str()).collect();
    ensure!(actions.last() == Some(&"completed"), "progress actions: {actions:?}");
    // The disc on the host is the image, byte for byte.
    let (size, digest) = disc_on_host()?;
    ensure!(size == iso_len && digest == blake3_of(&iso)?, "host disc: {size} bytes {digest}; image {iso_len}");
    // The drive now reports what is on it (a closed session on a disc
    // left appendable, as a real DVD+R after CLOSE SESSION), and the
    // writer, which does not append yet, refuses a second burn.
    let m = ok(ok(Recorder::open(&dev), "open")?.medium(), "medium after burn")?;
    ensure!(!m.state.contains(MediaState::BLANK), "still blank after a burn: {m:?}");
    let (c, _, e) = cli(&["burn", &dev, &iso]);
    ensure!(c == Some(20) && e.contains("E_IMAPI_DF2DATA_MEDIA_NOT_BLANK 0xC0AA0405"), "second burn: {c:?} {e}");
    // The kernel mounts it (isofs) and every file matches.
    cycle_tray(&dev)?;
    let (m, out) = sh(&format!(
        "mount -t iso9660 -o ro {dev} /mnt && cmp /mnt/file0.bin {src}/file0.bin && cmp /mnt/file1.bin {src}/file1.bin && cmp /mnt/sub/small.txt {src}/sub/small.txt && echo same; umount /mnt"
    ));
    ensure!(m && out.contains("same"), "mounted disc: {out}");
    // xorriso reads it too: lists it and extracts with matching bytes.
    let (x, out) = sh(&format!(
        "rm -rf /tmp/x && xorriso -indev {dev} -osirrox on -extract / /tmp/x >/dev/null 2>&1 && cmp /tmp/x/file1.bin {src}/file1.bin && cmp /tmp/x/sub/small.txt {src}/sub/small.txt && echo same"
    ));
    ensure!(x && out.contains("same"), "xorriso -indev/-extract: {out}");
    reblank().map(|_| ())
}

pub fn t_burn_refused_for_unsupported_recorder_and_oversized_source() -> R {
    // QEMU's ATAPI drive reads only.
    let (iso, _) = make_iso("SMALL", 1)?;
    let (c, _, e) = cli(&["burn", crate::IDE, &iso]);
    ensure!(
        c == Some(22) && e.contains("E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED 0xC0AA0407"),
        "burn to the read-only drive: {c:?} {e}"
    );
    // 5.1 GB announced on a 4.7 GB disc: refused before a sector is written.
    let dev = blank_dvd()?;
    let o = ok(
        Command::new("/bin/discrec").args(["burn", "--size", "5120000000", &dev, "-"]).stdin(Stdio::null()).output(),
        "burn 5 GB",
    )?;
    let e = String::from_utf8_lossy(&o.stderr);
    ensure!(
        o.status.code() == Some(19) && e.contains("E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA 0xC0AA0404"),
        "{:?} {e}",
        o.status.code()
    );
    ensure!(disc_on_host()?.0 == 0, "a refused burn wrote to the disc");
    ensure!(dvd_is_blank(&dev), "a refused burn changed the disc");
    Ok(())
}

/// A writer on a source that delivers nothing: cancel ends it within a
/// second, nothing is written, the drive is free and the disc blank.
pub fn t_cancel_ends_a_stalled_write_within_a_second() -> R {
    let dev = blank_dvd()?;
    let (rd, wr) = ok(std::os::unix::net::UnixStream::pair(), "pair")?;
    let writer = DataWriter::new(ok(Recorder::open(&dev), "open")?);
    ok(writer.set_client_name("Stalled"), "client name")?;
    match writer.cancel_write() {
        Err(e) if e.code() == 0xC0AA_0401 => {}
        other => return Err(format!("cancel with no write: {other:?}")),
    }
    let source = ok(Source::stream("a stalled pipe", rd, 64 * 2048), "source")?;
    let t = std::thread::scope(|s| -> Result<Duration, String> {
        let h = s.spawn(|| writer.write(source, None));
        wait_for("the write to start", Duration::from_secs(10), || writer.is_writing())?;
        // The drive is held under the writer's name meanwhile.
        let (c, out, _) = cli(&["owner", &dev]);
        ensure!(c == Some(0) && out.trim() == "Stalled", "owner while writing: {c:?} {out}");
        let extra = ok(Source::stream("x", std::io::empty(), 2048), "source")?;
        match writer.write(extra, None) {
            Err(e) if e.code() == 0xC0AA_0400 => {}
            other => return Err(format!("second write: {other:?}")),
        }
        let t = Instant::now();
        ok(writer.cancel_write(), "cancel")?;
        match h.join().unwrap() {
            Err(e) if e.code() == 0xC0AA_0002 && e.exit_code() == 15 => Ok(t.elapsed()),
            other => Err(format!("cancelled write returned {other:?}")),
        }
    })?;
    drop(wr);
    ensure!(t < Duration::from_secs(1), "cancel took {t:?}");
    let (c, _, _) = cli(&["owner", &dev]);
    ensure!(c == Some(1), "the drive is not free after a cancel");
    ensure!(dvd_is_blank(&dev), "a cancelled empty write changed the disc");
    println!("  cancel of a stalled write returned in {} ms", t.as_millis());
    Ok(())
}

/// While discrec burns, xorriso and growisofs are refused; while xorriso
/// holds the drive, discrec burn is refused naming it. A SIGKILLed burn
/// leaves the drive free and the disc reported as the drive sees it.
pub fn t_peers_refused_while_burning_and_sigkill_frees_the_drive() -> R {
    let dev = blank_dvd()?;
    let (iso, _) = make_iso("PEER", 1)?;
    // A burn that writes a little, then waits on its source.
    let mut burn = ok(
        Command::new("/bin/discrec")
            .args(["burn", "--no-verify", "--size", &(64 * 2048 * 64).to_string(), &dev, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn(),
        "spawn burn",
    )?;
    let mut stdin = burn.stdin.take().unwrap();
    ok(stdin.write_all(&vec![0x5a; 64 * 2048 * 8]), "feed the burn")?;
    wait_for("the burn to hold the drive", Duration::from_secs(10), || cli(&["owner", &dev]).0 == Some(0))?;
    let (x, out) = sh(&format!("xorriso -outdev {dev} -toc 2>&1"));
    ensure!(!x, "xorriso got the drive during a burn: {out}");
    let (g, out) = sh(&format!("growisofs -Z {dev}={iso} 2>&1"));
    ensure!(!g, "growisofs got the drive during a burn: {out}");
    ok(burn.kill(), "SIGKILL the burn")?;
    let _ = burn.wait();
    drop(stdin);
    wait_for("the drive to be free", Duration::from_secs(5), || cli(&["owner", &dev]).0 == Some(1))?;
    // The disc is reported as the drive sees it, and info still answers.
    let (c, _, e) = cli(&["info", &dev]);
    ensure!(c == Some(0), "info after a killed burn: {e}");

    // xorriso holds the drive: discrec burn is refused, naming it.
    let dev = reblank()?;
    let x = crate::xorriso_holding(&dev)?;
    let pid = x.id();
    // Only once xorriso holds it (a probe that takes nothing), try the burn.
    let held = wait_for("xorriso to hold the drive", Duration::from_secs(20), || {
        let o = Command::new("/bin/discrec").args(["lock", &dev, "--", "true"]).output().unwrap();
        o.status.code() == Some(3)
    });
    let (c, _, last) = cli(&["burn", &dev, &iso]);
    crate::stop_xorriso(x);
    held?;
    ensure!(
        c == Some(3) && last.contains(&format!("xorriso (pid {pid})")) && last.contains("E_ACCESSDENIED"),
        "burn while xorriso holds the drive: {c:?} {last}"
    );
    ensure!(disc_on_host()?.0 == 0, "a refused burn wrote to the disc");
    Ok(())
}

/// Wall time of discrec burn against growisofs -Z and xorriso (TAO) on
/// the same image and drive (reported, not asserted: the guest is TCG).
pub fn t_burn_speed_against_growisofs_and_xorriso() -> R {
    let (iso, _) = make_iso("SPEED", 16)?;
    let digest = blake3_of(&iso)?;
    let mut times = Vec::new();
    for (name, cmd) in [
        ("discrec burn --no-verify", "/bin/discrec burn --no-verify DEV ISO"),
        ("growisofs -Z", "growisofs -Z DEV=ISO"),
        ("xorriso -as cdrecord -tao", "xorriso -as cdrecord dev=DEV -tao padsize=0 ISO"),
    ] {
        let dev = reblank()?;
        let cmd = cmd.replace("DEV", &dev).replace("ISO", &iso);
        let t = Instant::now();
        let (done, out) = sh(&format!("{cmd} 2>&1"));
        let took = t.elapsed();
        ensure!(done, "{name} failed: {}", out.lines().rev().take(5).collect::<Vec<_>>().join(" | "));
        let (size, d) = disc_on_host()?;
        let len = ok(std::fs::metadata(&iso), "iso")?.len();
        // xorriso and growisofs may pad; the image itself must be there.
        ensure!(size >= len && (size > len || d == digest), "{name}: disc has {size} bytes, image {len}");
        times.push((name, took));
    }
    let ours = times[0].1.as_secs_f64();
    for (name, t) in &times {
        println!("  {name}: {:.2} s ({:.2}x discrec's time)", t.as_secs_f64(), t.as_secs_f64() / ours);
    }
    reblank().map(|_| ())
}

/// The progress callback sees IMAPI2's actions in order and sane numbers.
pub fn t_progress_follows_imapi_actions() -> R {
    let dev = blank_dvd()?;
    // Large enough that writing and verifying each last several updates.
    let (iso, _) = make_iso("PROGRESS", 48)?;
    let writer = DataWriter::new(ok(Recorder::open(&dev), "open")?);
    let mut seen: Vec<(WriteAction, u64, Instant)> = Vec::new();
    let mut update = |p: &discrec::writer::Progress| {
        seen.push((p.action, p.last_written_lba.unwrap_or(0), Instant::now()));
    };
    let r = ok(writer.write(ok(Source::open(Path::new(&iso)), "source")?, Some(&mut update)), "write")?;
    ensure!(r.verified, "{r:?}");
    let order: Vec<u32> = seen.iter().map(|s| s.0 as u32).collect();
    let rank = |a: u32| [0, 1, 2, 3, 4, 5, 7, 6].iter().position(|&x| x == a).unwrap();
    ensure!(order.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "actions out of order: {order:?}");
    ensure!(seen.last().map(|s| s.0) == Some(WriteAction::Completed), "last update: {:?}", seen.last());
    ensure!(seen.iter().any(|s| s.0 == WriteAction::WritingData), "no writing update: {order:?}");
    ensure!(seen.windows(2).all(|w| w[0].1 <= w[1].1 || w[1].0 != WriteAction::WritingData), "LBA went back");
    let gaps = seen.windows(2).filter(|w| w[1].2.duration_since(w[0].2) < Duration::from_millis(90)).count();
    ensure!(gaps <= 1, "{gaps} updates came less than 100 ms apart");
    reblank().map(|_| ())
}

/// A block device that drops every write (dm-flakey with `drop_writes`
/// over a RAM disk): the burn "succeeds", and the read-back finds the
/// sectors unchanged: `E_IMAPI_BURN_VERIFICATION_FAILED`, naming them.
pub fn t_verification_catches_a_device_that_drops_writes() -> R {
    let (made, out) = sh(
        "mkdir -p /dev/mapper; dmsetup create flaky --table \"0 $(blockdev --getsz /dev/ram0) flakey /dev/ram0 0 0 1 1 drop_writes\" 2>&1 && dmsetup mknodes 2>&1",
    );
    ensure!(made, "dmsetup: {out}");
    let (iso, _) = make_iso("FLAKY", 1)?;
    let (c, _, e) = cli(&["burn", "/dev/mapper/flaky", &iso]);
    let _ = sh("dmsetup remove flaky");
    ensure!(
        c == Some(24) && e.contains("E_IMAPI_BURN_VERIFICATION_FAILED 0xC0AA0007") && e.contains("sectors 0 to "),
        "burn to a device that drops writes: {c:?} {e}"
    );
    Ok(())
}

/// A directory burned as ISO 9660 + Joliet + Rock Ridge: the kernel's
/// isofs shows every file with its bytes, name, mode, owner, symlink
/// target and modification time.
pub fn t_burn_directory_mounts_with_every_attribute() -> R {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dev = blank_dvd()?;
    let t = Path::new("/tmp/dirburn");
    let _ = std::fs::remove_dir_all(t);
    let deep = t.join("deep/d1/d2/d3/d4/d5/d6/d7/d8");
    ok(std::fs::create_dir_all(&deep), "mkdir")?;
    ok(std::fs::create_dir_all(t.join("empty dir")), "mkdir")?;
    ok(std::fs::write(deep.join("bottom.txt"), "at the bottom\n"), "write")?;
    ok(std::fs::write(t.join("Straße ☃.txt"), "unicode\n"), "write")?;
    ok(std::fs::write(t.join(format!("{}.jpeg", "p".repeat(120))), vec![3u8; 70_000]), "write")?;
    ok(std::fs::write(t.join("run.sh"), "#!/bin/sh\n"), "write")?;
    ok(std::fs::set_permissions(t.join("run.sh"), std::fs::Permissions::from_mode(0o4750)), "chmod")?;
    ok(std::fs::write(t.join("owned"), "owned\n"), "write")?;
    ok(std::os::unix::fs::chown(t.join("owned"), Some(4321), Some(8765)), "chown")?;
    ok(std::os::unix::fs::symlink("run.sh", t.join("rel-link")), "symlink")?;
    ok(std::os::unix::fs::symlink("/etc/passwd", t.join("abs-link")), "symlink")?;
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    ok(ok(std::fs::File::options().write(true).open(t.join("owned")), "open")?.set_modified(old), "set mtime")?;
    let (c, out, e) = cli(&["burn", &dev, "/tmp/dirburn"]);
    ensure!(c == Some(0) && out.contains("verified"), "burn of a directory: {c:?} {out} {e}");
    cycle_tray(&dev)?;
    let (m, out) = sh(&format!("mount -t iso9660 -o ro {dev} /mnt 2>&1"));
    ensure!(m, "mount: {out}");
    let mut checked = 0;
    let mut todo = vec![t.to_path_buf()];
    let mut problems = Vec::new();
    while let Some(dir) = todo.pop() {
        for e in ok(std::fs::read_dir(&dir), "read_dir")?.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(t).unwrap();
            let on_disc = Path::new("/mnt").join(rel);
            let a = ok(std::fs::symlink_metadata(&p), "stat source")?;
            let Ok(b) = std::fs::symlink_metadata(&on_disc) else {
                problems.push(format!("{} is missing on the disc", rel.display()));
                continue;
            };
            if (a.mode(), a.uid(), a.gid()) != (b.mode(), b.uid(), b.gid()) {
                problems.push(format!(
                    "{}: mode/uid/gid {:o}/{}/{} on disc, {:o}/{}/{} in the source",
                    rel.display(),
                    b.mode(),
                    b.uid(),
                    b.gid(),
                    a.mode(),
                    a.uid(),
                    a.gid()
                ));
            }
            if a.file_type().is_symlink() {
                if std::fs::read_link(&p).ok() != std::fs::read_link(&on_disc).ok() {
                    problems.push(format!("{}: symlink target differs", rel.display()));
                }
            } else if a.mtime() != b.mtime() && !a.is_dir() {
                problems.push(format!("{}: mtime {} on disc, {} in the source", rel.display(), b.mtime(), a.mtime()));
            }
            if a.is_file() && std::fs::read(&p).ok() != std::fs::read(&on_disc).ok() {
                problems.push(format!("{}: bytes differ", rel.display()));
            }
            if a.is_dir() {
                todo.push(p);
            }
            checked += 1;
        }
    }
    let _ = sh("umount /mnt");
    ensure!(problems.is_empty(), "{problems:#?}");
    ensure!(checked >= 16, "only {checked} entries checked");
    println!("  {checked} entries read back through isofs with their attributes");
    reblank().map(|_| ())
}

/// An empty drive: `E_IMAPI_RECORDER_MEDIA_NO_MEDIA` before anything else.
pub fn t_burn_to_an_empty_drive_is_no_medium() -> R {
    let (iso, _) = make_iso("NOMEDIUM", 1)?;
    let (c, _, e) = cli(&["burn", crate::SCSI, &iso]);
    ensure!(
        c == Some(12) && e.contains("E_IMAPI_RECORDER_MEDIA_NO_MEDIA 0xC0AA0202"),
        "burn to an empty drive: {c:?} {e}"
    );
    Ok(())
}

/// A burn cancelled by SIGTERM after some sectors: exit 15, the track and
/// session closed (the drive reports a written disc, no longer blank), the
/// drive free; the next burn is refused by what is on the disc.
pub fn t_sigterm_mid_burn_closes_the_disc_and_frees_the_drive() -> R {
    let dev = blank_dvd()?;
    let chunk = discrec::writer::CHUNK;
    let mut burn = ok(
        Command::new("/bin/discrec")
            .args(["burn", "--no-verify", "--size", &(8 * chunk).to_string(), &dev, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn(),
        "spawn burn",
    )?;
    let mut stdin = burn.stdin.take().unwrap();
    ok(stdin.write_all(&vec![0x33; 2 * chunk]), "feed the burn")?;
    wait_for("two buffers on the disc", Duration::from_secs(20), || {
        disc_on_host().is_ok_and(|(size, _)| size >= 2 * chunk as u64)
    })?;
    let t = Instant::now();
    ok(
        rustix::process::kill_process(rustix::process::Pid::from_child(&burn), rustix::process::Signal::TERM),
        "SIGTERM",
    )?;
    let st = ok(burn.wait(), "wait")?;
    let took = t.elapsed();
    drop(stdin);
    let mut err = String::new();
    use std::io::Read;
    let _ = burn.stderr.take().unwrap().read_to_string(&mut err);
    ensure!(st.code() == Some(15) && err.contains("E_IMAPI_REQUEST_CANCELLED"), "{st:?} {err}");
    ensure!(took < Duration::from_secs(1), "the cancel took {took:?}");
    ensure!(cli(&["owner", &dev]).0 == Some(1), "the drive is held after a cancel");
    let m = ok(ok(Recorder::open(&dev), "open")?.medium(), "medium after the cancel")?;
    ensure!(!m.state.contains(MediaState::BLANK), "the cancelled burn left the disc blank: {m:?}");
    println!("  SIGTERM mid-burn: exit 15 in {} ms; disc now {:?}, {}", took.as_millis(), m.physical_type, m.state);
    reblank().map(|_| ())
}

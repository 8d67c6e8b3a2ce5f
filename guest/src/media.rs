//! discrec on every medium of the virtual drive, beyond the first burn
//! the matrix shows ([`crate::vdrive`]): erase and burn again on each
//! rewritable, `--overwrite`, closing, and the refusals that must come
//! before any command that changes a disc (the drive's own log of
//! commands is the witness).

use crate::vdrive::{fresh, iso_of, read_back_sources, source, Served};
use crate::{ok, R};

/// Where these drives log their commands.
const LOG: &str = "/tmp/vd-media.log";

/// `discrec ARGS`: exit code, standard output, standard error.
pub(crate) fn discrec(args: &[&str]) -> (Option<i32>, String, String) {
    let o = std::process::Command::new("/bin/discrec").args(args).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn run(args: &[&str]) -> R {
    let (c, _, e) = discrec(args);
    ensure!(c == Some(0), "discrec {}: exit {c:?}: {e}", args.join(" "));
    Ok(())
}

/// Commands in the drive's log that change a disc: WRITE, CLOSE TRACK
/// SESSION, BLANK, FORMAT UNIT, RESERVE TRACK, SEND CUE SHEET.
fn changing_commands() -> usize {
    changing_commands_in(LOG)
}

/// [`changing_commands`] in the log `log`.
pub(crate) fn changing_commands_in(log: &str) -> usize {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let ops = ["2a", "aa", "5b", "a1", "04", "53", "5d"];
    log.lines().filter(|l| ops.iter().any(|op| l.starts_with(&format!("vdrive: {op} ")))).count()
}

/// `discrec info --json`'s medium.
fn medium(dev: &str) -> Result<serde_json::Value, String> {
    let (c, out, e) = discrec(&["info", "--json", dev]);
    ensure!(c == Some(0), "info: {e}");
    let v: serde_json::Value = ok(serde_json::from_str(&out), "info JSON")?;
    Ok(v["medium"].clone())
}

fn state_has(m: &serde_json::Value, flag: &str) -> bool {
    m["state"].as_array().is_some_and(|a| a.iter().any(|f| f == flag))
}

/// A refused command: its exit code, its error's name, and not one
/// command that changes the disc sent.
fn refused(args: &[&str], code: i32, name: &str) -> R {
    let before = changing_commands();
    let (c, _, e) = discrec(args);
    ensure!(
        c == Some(code) && e.contains(name),
        "discrec {}: wanted exit {code} ({name}), got {c:?}: {e}",
        args.join(" ")
    );
    let after = changing_commands();
    ensure!(
        after == before,
        "discrec {} was refused but sent {} commands that change the disc",
        args.join(" "),
        after - before
    );
    Ok(())
}

const REWRITABLE: &[&str] = &["cd-rw", "dvd-rw", "dvd+rw", "dvd-ram", "bd-re"];
const WRITE_ONCE: &[&str] = &["cd-r", "dvd-r", "dvd+r", "dvd+r-dl", "bd-r"];

/// Each rewritable disc: burned; a second burn refused over its data;
/// erased (the disc then reads as blank); burned again (only the new
/// files on it); burned with `--overwrite` over its data.
pub fn t_discrec_erases_and_overwrites_every_rewritable() -> R {
    let isos = [(1, iso_of(&source(1, 300)?, 1)?), (3, iso_of(&source(3, 100)?, 3)?)];
    let src2 = source(2, 200)?;
    let outcome = crate::vdrive::each(
        REWRITABLE,
        |kind| kind.to_string(),
        LOG,
        |kind| -> R {
            let drive = Served::start(kind, &fresh(kind), None, LOG)?;
            let dev = drive.dev.clone();
            let before = changing_commands();
            run(&["burn", &dev, &isos[0].1])?;
            // The witness sees a burn (a refusal's silence below means something).
            ensure!(
                changing_commands() > before + 4,
                "the drive's log shows no burn: {}",
                changing_commands() - before
            );
            drive.cycle_tray()?;
            read_back_sources(&dev, &[1], &[])?;
            let m = medium(&dev)?;
            ensure!(state_has(&m, "non_empty_session") && m["erasable"] == true, "after a burn: {m}");
            refused(&["burn", &dev, &isos[1].1], 20, "E_IMAPI_DF2DATA_MEDIA_NOT_BLANK")?;
            // A source the whole disc cannot hold is refused before the
            // disc is erased for it.
            let total = m["total_sectors"].as_u64().ok_or(format!("no total_sectors: {m}"))?;
            let size = ((total + 1) * 2048).to_string();
            refused(
                &["burn", "--overwrite", "--size", &size, &dev, "-"],
                19,
                "E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA",
            )?;
            let (c, out, e) = discrec(&["erase", "--json", &dev]);
            ensure!(c == Some(0), "erase: {c:?} {e}");
            let done: serde_json::Value =
                ok(serde_json::from_str(out.lines().last().unwrap_or("")), "erase's last JSON line")?;
            ensure!(state_has(&done["done"]["medium"], "blank"), "after erase: {out}");
            drive.cycle_tray()?;
            let (mounted, _) = crate::sh(&format!("mount -t iso9660 -o ro {dev} /mnt 2>&1"));
            if mounted {
                let _ = crate::sh("umount /mnt");
            }
            ensure!(!mounted, "the erased disc still mounts as ISO 9660");
            run(&["burn", &dev, &src2])?;
            drive.cycle_tray()?;
            read_back_sources(&dev, &[2], &[1])?;
            run(&["burn", "--overwrite", &dev, &isos[1].1])?;
            drive.cycle_tray()?;
            read_back_sources(&dev, &[3], &[1, 2])?;
            drive.stop()
        },
    );
    outcome
}

/// Each write-once disc: burned (closed with `--close` on half of them,
/// appendable on the others, as `info` says); erase, a second burn and
/// `--overwrite` refused without a command that changes it; too large a
/// source refused counting the track's overhead.
pub fn t_discrec_refuses_before_spending_a_write_once_disc() -> R {
    let iso = iso_of(&source(1, 300)?, 1)?;
    let outcome = crate::vdrive::each(
        WRITE_ONCE.iter().enumerate(),
        |&(_, kind)| kind.to_string(),
        LOG,
        |&(i, kind)| -> R {
            let close = i % 2 == 0;
            let drive = Served::start(kind, &fresh(kind), None, LOG)?;
            let dev = drive.dev.clone();
            refused(&["erase", &dev], 27, "E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE")?;
            let mut args = vec!["burn", &dev, &iso];
            if close {
                args.insert(1, "--close");
            }
            run(&args)?;
            drive.cycle_tray()?;
            let m = medium(&dev)?;
            let want = if close { "finalized" } else { "appendable" };
            ensure!(state_has(&m, want) && m["sessions"] == 1 && m["previous_session_start"] == 0, "after a burn: {m}");
            refused(&["erase", &dev], 27, "E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE")?;
            refused(&["burn", &dev, &iso], 20, "E_IMAPI_DF2DATA_MEDIA_NOT_BLANK")?;
            refused(&["burn", "--overwrite", &dev, &iso], 20, "E_IMAPI_DF2DATA_MEDIA_NOT_BLANK")?;
            read_back_sources(&dev, &[1], &[])?;
            drive.stop()
        },
    );
    // 1000 sectors of CD-R: 999 of data and the 2 run-out blocks do not fit.
    let drive = Served::start("cd-r", &fresh("cd-r"), Some(1000), LOG)?;
    let dev = drive.dev.clone();
    let before = changing_commands();
    let o = ok(
        std::process::Command::new("/bin/discrec")
            .args(["burn", "--size", &(999 * 2048).to_string(), &dev, "-"])
            .stdin(std::process::Stdio::null())
            .output(),
        "burn 999 sectors",
    )?;
    let e = String::from_utf8_lossy(&o.stderr);
    ensure!(
        o.status.code() == Some(19) && e.contains("needs 1001 sectors") && e.contains("has 1000 free"),
        "999 sectors on a 1000-sector CD-R: {:?} {e}",
        o.status.code()
    );
    ensure!(changing_commands() == before, "the refused burn sent commands that change the disc");
    drive.stop()?;
    outcome
}

/// The drive's write speeds: listed by `info`; one it does not offer
/// refused before any command that changes the disc, naming those it
/// does; one it offers sent to it (SET STREAMING on a DVD, SET CD SPEED
/// on a CD) before the first WRITE.
pub fn t_discrec_write_speeds_are_offered_and_checked() -> R {
    let iso = iso_of(&source(1, 100)?, 1)?;
    // (medium, its speeds in `info`, one not offered, one offered, what
    // the drive's log shows for it)
    let cases = [
        ("dvd+r", "8x (11080 kB/s), 4x (5540 kB/s), 2x (2770 kB/s)", "12", "4x", "b6 00 00 00 00 00 00 00 00 00 1c 00"),
        ("cd-r", "40x (7056 kB/s), 20x (3528 kB/s), 10x (1764 kB/s)", "48x", "20", "bb 00 ff ff 0d c8"),
        (
            "bd-r",
            "4x (17984 kB/s), 2x (8992 kB/s), 1x (4496 kB/s)",
            "6",
            "4390s",
            "b6 00 00 00 00 00 00 00 00 00 1c 00",
        ),
    ];
    for (kind, listed, bad, good, sent) in cases {
        let drive = Served::start(kind, &fresh(kind), None, LOG)?;
        let dev = drive.dev.clone();
        let (c, out, e) = discrec(&["info", &dev]);
        ensure!(c == Some(0) && out.contains(&format!("speeds:    {listed}")), "{kind}: info: {e}{out}");
        refused(&["burn", "--speed", bad, &dev, &iso], 2, listed)?;
        let log_before = std::fs::read_to_string(LOG).unwrap_or_default().len();
        run(&["burn", "--speed", good, &dev, &iso])?;
        let log = std::fs::read_to_string(LOG).unwrap_or_default();
        let new = &log[log_before.min(log.len())..];
        let at = new.find(&format!("vdrive: {sent}"));
        let first_write = new.find("vdrive: 2a ");
        ensure!(
            at.is_some() && at < first_write,
            "{kind}: --speed {good} sent no `{sent}` before the first WRITE:\n    {}",
            crate::vdrive::log_tail(LOG, 20)
        );
        if kind != "cd-r" {
            // The write speed in the performance descriptor: kB per 1000 ms.
            let kbs: u32 = if kind == "dvd+r" { 5540 } else { 17984 / 2 };
            let want = format!("{:02x} {:02x} 00 00 03 e8", (kbs >> 8) & 0xff, kbs & 0xff);
            let line = new[at.unwrap_or(0)..].lines().next().unwrap_or("");
            ensure!(line.contains(&want), "{kind}: SET STREAMING does not ask for {kbs} kB/s: {line}");
        }
        drive.stop()?;
    }
    Ok(())
}

/// `discrec owner DEV`'s exit code: 1 when nobody holds the drive.
fn owner_code(dev: &str) -> Option<i32> {
    discrec(&["owner", dev]).0
}

/// Faults of the drive in the middle of a burn, as a user meets them: a
/// medium error is the drive's write error naming the sectors, the track
/// closed so that `info` says what is on the disc; a drive unplugged is
/// ERROR_DEV_NOT_EXIST and frees the lock; a drive that stops answering
/// is E_IMAPI_RECORDER_COMMAND_TIMEOUT once the WRITE's timeout (30 s)
/// and the kernel's error handling are over (the abort waits for LIO's own
/// command timeout), and frees the lock too.
pub fn t_discrec_faults_mid_write() -> R {
    // About 4,100 sectors.
    let iso = iso_of(&source(4, 8_000)?, 4)?;

    // A medium error at sector 2000: the WRITE of 1984-2015 fails.
    let drive = Served::start("dvd+r", &fresh("dvd+r"), None, LOG)?;
    let dev = drive.dev.clone();
    drive.ctl_args(&["fault"], &["--medium-error", "2000-2001"])?;
    let (c, _, e) = discrec(&["burn", &dev, &iso]);
    ensure!(
        c == Some(29)
            && e.contains("E_IMAPI_UNEXPECTED_RESPONSE_FROM_DEVICE 0xC0AA0301")
            && e.contains("sectors 1984 to 2015"),
        "a medium error at sector 2000: exit {c:?}: {e}"
    );
    drive.ctl_args(&["fault"], &["--clear"])?;
    let m = medium(&dev)?;
    ensure!(
        state_has(&m, "appendable")
            && m["sessions"] == 1
            && m["next_writable_address"].as_u64().is_some_and(|n| n >= 1984),
        "after the medium error, info says: {m}"
    );
    ensure!(owner_code(&dev) == Some(1), "the drive is still held after the failed burn");
    drive.stop()?;

    // Unplugged after 1,000 sectors.
    let drive = Served::start("dvd+rw", &fresh("dvd+rw"), None, LOG)?;
    let dev = drive.dev.clone();
    let name = dev.trim_start_matches("/dev/").to_string();
    let socket = format!("/run/discrec-vdrive/{name}.sock");
    drive.ctl_args(&["fault"], &["--unplug-after", "1000"])?;
    let t = std::time::Instant::now();
    let (c, _, e) = discrec(&["burn", &dev, &iso]);
    ensure!(c == Some(6) && e.contains("ERROR_DEV_NOT_EXIST"), "unplugged mid-burn: exit {c:?}: {e}");
    ensure!(t.elapsed() < std::time::Duration::from_secs(30), "the unplugged burn took {:?}", t.elapsed());
    let o = ok(std::process::Command::new("/bin/discrec-vdrive").args(["plug", &socket]).output(), "plug")?;
    ensure!(o.status.success(), "plug: {}", String::from_utf8_lossy(&o.stderr));
    let again = String::from_utf8_lossy(&o.stdout).trim().to_string();
    ensure!(owner_code(&again) == Some(1), "{again} is held after the unplugged burn ended");
    drive.ctl_socket(&socket, &["stop"])?;

    // The drive stops answering during the burn.
    let drive = Served::start("cd-r", &fresh("cd-r"), None, LOG)?;
    let dev = drive.dev.clone();
    drive.ctl_args(&["fault"], &["--write-delay", "20"])?;
    let t = std::time::Instant::now();
    let burn = ok(
        std::process::Command::new("/bin/discrec")
            .args(["burn", &dev, &iso])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn(),
        "spawn burn",
    )?;
    std::thread::sleep(std::time::Duration::from_secs(2));
    drive.ctl_args(&["fault"], &["--hang"])?;
    let hung_at = t.elapsed();
    let o = ok(burn.wait_with_output(), "wait for the burn")?;
    let took = t.elapsed() - hung_at;
    let e = String::from_utf8_lossy(&o.stderr);
    drive.ctl_args(&["fault"], &["--no-hang"])?;
    ensure!(
        o.status.code() == Some(8) && e.contains("E_IMAPI_RECORDER_COMMAND_TIMEOUT 0xC0AA020D"),
        "a hung drive mid-burn: exit {:?} after {took:?}: {e}",
        o.status.code()
    );
    println!("  a hung drive: E_IMAPI_RECORDER_COMMAND_TIMEOUT {:.1} s after it stopped answering", took.as_secs_f64());
    ensure!(took < std::time::Duration::from_secs(150), "the timeout took {took:?}");
    ensure!(owner_code(&dev) == Some(1), "the drive is still held after the timeout");
    drive.stop()
}

/// The same 64 MiB image burned on each writable medium by discrec and
/// by the peers, each on a fresh disc of the same drive, timed side by
/// side; the disc then holds the image. Reported, not asserted (the guest
/// is TCG): one `SPEED |` row per medium, gathered in the README.
pub fn t_discrec_speed_against_peers_on_every_medium() -> R {
    // The guest's /tmp is memory: the 64 MiB source and image go when the
    // test ends, however it ends.
    struct Cleanup;
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all("/tmp/vd/speed-src");
            let _ = std::fs::remove_file("/tmp/vd/speed.iso");
        }
    }
    let _cleanup = Cleanup;
    let dir = "/tmp/vd/speed-src";
    let _ = std::fs::remove_dir_all(dir);
    ok(std::fs::create_dir_all(dir), "mkdir")?;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let data = crate::noise(&mut seed, 64 << 20);
    ok(std::fs::write(format!("{dir}/data.bin"), &data), "write source")?;
    drop(data);
    let iso = "/tmp/vd/speed.iso";
    let (made, out) = crate::sh(&format!("xorriso -as mkisofs -quiet -R -V SPEED -o {iso} {dir} 2>&1"));
    ensure!(made, "mkisofs: {out}");
    let image = ok(std::fs::read(iso), "iso")?;
    let digest = blake3::hash(&image);
    let cd: &[(&str, &str)] = &[
        ("xorriso -as cdrecord", "xorriso -as cdrecord dev=DEV -tao padsize=0 ISO"),
        ("cdrskin", "cdrskin dev=DEV -tao padsize=0 ISO"),
    ];
    let dvd: &[(&str, &str)] =
        &[("growisofs -Z", "growisofs -Z DEV=ISO"), ("cdrskin", "cdrskin dev=DEV padsize=0 ISO")];
    println!("SPEED | medium | discrec burn --no-verify | discrec burn (verified) | peers | discrec / fastest peer |");
    for kind in ["cd-r", "cd-rw", "dvd-r", "dvd-rw", "dvd+r", "dvd+r-dl", "dvd+rw", "dvd-ram", "bd-r", "bd-re"] {
        let peers = if kind.starts_with("cd") { cd } else { dvd };
        let mut times = Vec::new();
        let tools = [
            ("discrec --no-verify", "/bin/discrec burn --no-verify DEV ISO"),
            ("discrec", "/bin/discrec burn DEV ISO"),
        ];
        for (name, cmd) in tools.iter().chain(peers.iter()) {
            let image_path = fresh(kind);
            let drive = Served::start(kind, &image_path, None, LOG)?;
            let dev = drive.dev.clone();
            if matches!(kind, "dvd+rw" | "bd-re") {
                // Formatted first for every tool alike.
                run(&["erase", &dev])?;
            }
            let cmd = cmd.replace("DEV", &dev).replace("ISO", iso);
            let t = std::time::Instant::now();
            let (done, out) = crate::sh(&format!("{cmd} 2>&1"));
            let took = t.elapsed().as_secs_f64();
            ensure!(done, "{kind}: {name} failed: {}", crate::vdrive::tail(&out));
            drive.stop()?;
            let on_disc = ok(std::fs::read(&image_path), "the disc's image")?;
            // The guest's /tmp is memory: one disc at a time.
            crate::vdrive::forget_disc(&image_path);
            ensure!(
                on_disc.len() >= image.len() && blake3::hash(&on_disc[..image.len()]) == digest,
                "{kind}: {name} left a disc without the image"
            );
            times.push((*name, took));
        }
        let fastest = times[2..].iter().map(|t| t.1).fold(f64::INFINITY, f64::min);
        let peers: Vec<String> = times[2..].iter().map(|(n, t)| format!("{n} {t:.2} s")).collect();
        println!(
            "SPEED | {kind} | {:.2} s | {:.2} s | {} | {:.2}x |",
            times[0].1,
            times[1].1,
            peers.join(", "),
            times[0].1 / fastest
        );
    }
    Ok(())
}

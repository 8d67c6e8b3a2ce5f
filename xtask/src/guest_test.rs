//! `cargo xtask guest-test`: the test bed for real drives.
//!
//! The host has no SCSI layer, so the drive tests run in a small QEMU guest
//! (TCG; see [`crate::qemu`]) booting the image of [`crate::guest_image`]:
//! Debian's kernel, its `.ko` modules for the `sr`/`sg`/ATA/virtio-scsi/isofs
//! stack, a static busybox and the statically linked `discrec` and
//! `discrec-guest` binaries in an initramfs. The guest gets three drives:
//! an IDE/ATAPI `ide-cd` holding an ISO 9660 medium, an empty `scsi-cd` on
//! virtio-scsi and tgt's blank DVD+R over iSCSI ([`crate::tgt`]). The
//! guest prints its results and a closing `N passed, N failed` line; this
//! harness echoes them and exits non-zero when a test failed, the line is
//! missing, or the guest ran out of time.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::guest_image::build_guest;
use crate::{qemu, root, run, tgt};

/// What QEMU is told to emulate; the guest tests check that discrec reads
/// exactly this (they hold the same values in `guest/src/main.rs`).
/// (QEMU's ATAPI INQUIRY always says "QEMU DVD-ROM"; `model` only reaches
/// ATA IDENTIFY, so only the revision of the IDE drive is set.)
const IDE_VER: &str = "1.5";
const SCSI_VENDOR: &str = "DSCRC";
const SCSI_PRODUCT: &str = "SCSI BURNER";
const SCSI_VER: &str = "4.2";

/// Longest a guest run may take.
const GUEST_TIMEOUT: Duration = Duration::from_secs(900);

/// Run the tier; true when every test passed.
pub fn guest_test() -> Result<bool, String> {
    let t0 = Instant::now();
    let boot = build_guest()?;
    let out = boot.out.clone();

    // 3. The medium: an ISO 9660 image.
    let iso_src = out.join("iso-src");
    fs::create_dir_all(&iso_src).map_err(|e| e.to_string())?;
    fs::write(iso_src.join("hello.txt"), "hello from the disc\n").map_err(|e| e.to_string())?;
    let iso = out.join("disc.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", "DISCREC_TEST", "-o"])
        .arg(&iso)
        .arg(&iso_src)
        .stderr(Stdio::null()))?;
    let built = t0.elapsed();

    // A second medium for media-change tests.
    fs::write(iso_src.join("hello.txt"), "hello from the second disc\n").map_err(|e| e.to_string())?;
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", "DISCREC_SECOND", "-o"])
        .arg(out.join("disc2.iso"))
        .arg(&iso_src)
        .stderr(Stdio::null()))?;
    // The writable blank DVD+R, exported by tgtd over iSCSI on the loopback.
    let tgt = std::sync::Arc::new(tgt::Tgt::start(&out)?);

    // 4. Boot.
    let vm = qemu::Vm::new(&boot, 512, "")
        // IDE/ATAPI drive with an ISO 9660 medium.
        .arg("-drive")
        .arg(format!("if=none,id=cd0,media=cdrom,readonly=on,file={}", iso.display()))
        .arg("-device")
        .arg(format!("ide-cd,drive=cd0,bus=ide.1,unit=0,id=idecd,ver={IDE_VER}"))
        // SCSI drive on virtio-scsi, empty.
        .args(["-drive", "if=none,id=cd1,media=cdrom"])
        .args(["-device", "virtio-scsi-pci,id=scsi0", "-device"])
        .arg(format!(
            "scsi-cd,bus=scsi0.0,drive=cd1,id=scsicd,vendor={SCSI_VENDOR},product={SCSI_PRODUCT},ver={SCSI_VER}"
        ))
        // A blank DVD+R on its own virtio-scsi controller, passed through.
        .iscsi_dvd("guest", "scsi1");
    // DISCREC_GUEST_ONLY=WORD: only the tests whose name has WORD.
    let vm = match std::env::var("DISCREC_GUEST_ONLY") {
        Ok(only) if !only.is_empty() => vm.cmdline(&format!("discrec.only={only}")),
        _ => vm,
    };
    // DISCREC_GUEST_CASES=WORD: of the virtual drive's matrix, only the
    // cases (medium and tool) that have WORD.
    let vm = match std::env::var("DISCREC_GUEST_CASES") {
        Ok(only) if !only.is_empty() => vm.cmdline(&format!("discrec.cases={only}")),
        _ => vm,
    };
    let started = Instant::now();
    let mut qemu = vm.spawn()?;
    {
        let (sockets, tgt) = (qemu.sockets().clone(), std::sync::Arc::clone(&tgt));
        std::thread::spawn(move || {
            if let Err(e) = serve_guest_requests(&sockets, &tgt) {
                eprintln!("xtask: guest request channel: {e}");
            }
        });
    }
    let rx = qemu.console();
    let mut summary: Option<(u32, u32)> = None;
    let mut ready_at = None;
    loop {
        let left = GUEST_TIMEOUT.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                println!("{line}");
                if line.starts_with("guest: ready") && ready_at.is_none() {
                    ready_at = Some(started.elapsed());
                }
                if let Some(s) = parse_summary(&line) {
                    summary = Some(s);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                qemu.kill();
                eprintln!("xtask guest-test: the guest did not finish within {GUEST_TIMEOUT:?}");
                break;
            }
        }
    }
    qemu.wait();
    drop(tgt);
    println!(
        "xtask: built in {:.1} s; guest ready {} after start; tier took {:.1} s",
        built.as_secs_f64(),
        ready_at.map(|d| format!("{:.1} s", d.as_secs_f64())).unwrap_or_else(|| "never".into()),
        started.elapsed().as_secs_f64()
    );
    match summary {
        Some((_, 0)) => Ok(true),
        Some(_) => Ok(false),
        None => Err("the guest printed no `N passed, N failed` line".into()),
    }
}

fn parse_summary(line: &str) -> Option<(u32, u32)> {
    // "guest: 12 passed, 0 failed"
    let rest = line.split(": ").last()?;
    let (p, f) = rest.split_once(" passed, ")?;
    let f = f.strip_suffix(" failed")?;
    Some((p.trim().parse().ok()?, f.trim().parse().ok()?))
}

/// The harness's own requests (`{"discrec": "..."}`), which QMP alone
/// cannot do:
/// * `reblank`: a blank DVD+R in the drive again. The drive is unplugged
///   (QEMU lets go of the LUN), tgt's LUN is recreated on an empty file,
///   and a new drive is plugged in on the same controller.
/// * `disc`: size and BLAKE3 digest of the file behind the DVD+R, the
///   bytes the burn put on the disc.
fn host_request(
    req: &serde_json::Value,
    qmp: &mut qemu::Qmp,
    tgt: &tgt::Tgt,
    generation: &mut u32,
) -> Result<serde_json::Value, String> {
    match req["discrec"].as_str() {
        Some("reblank") => {
            let node = if *generation == 0 { "dvd".to_string() } else { format!("dvd{generation}") };
            qmp.call(r#"{"execute":"device_del","arguments":{"id":"dvdw"}}"#)?;
            // The -drive node goes with its device; a blockdev-add one is deleted here.
            let t = Instant::now();
            loop {
                let v = qmp.call(r#"{"execute":"query-named-block-nodes"}"#)?;
                let nodes = v["return"].as_array().cloned().unwrap_or_default();
                let present = nodes.iter().any(|n| n["node-name"] == node.as_str());
                if !present {
                    break;
                }
                if *generation > 0 {
                    let del = format!(r#"{{"execute":"blockdev-del","arguments":{{"node-name":"{node}"}}}}"#);
                    if qmp.call(&del).is_ok() {
                        break;
                    }
                }
                if t.elapsed() > Duration::from_secs(10) {
                    return Err(format!("QEMU did not let go of {node}"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            tgt.reblank()?;
            *generation += 1;
            let node = format!("dvd{generation}");
            let (host, port) = tgt::PORTAL.split_once(':').unwrap_or((tgt::PORTAL, "3260"));
            let add = serde_json::json!({"execute": "blockdev-add", "arguments": {
                "driver": "iscsi", "node-name": node, "transport": "tcp",
                "portal": format!("{host}:{port}"), "target": tgt::IQN, "lun": 1,
                "initiator-name": qemu::initiator("guest")}});
            qmp.call(&add.to_string())?;
            let dev = serde_json::json!({"execute": "device_add", "arguments": {
                "driver": "scsi-block", "drive": node, "bus": "scsi1.0", "id": "dvdw"}});
            qmp.call(&dev.to_string())
        }
        Some("disc") => {
            let bytes = fs::read(&tgt.backing).map_err(|e| format!("{}: {e}", tgt.backing.display()))?;
            Ok(
                serde_json::json!({"return": {"size": bytes.len(), "blake3": blake3::hash(&bytes).to_hex().to_string()}}),
            )
        }
        other => Err(format!("unknown harness request {other:?}")),
    }
}

/// Execute the guest's requests: each line on its second serial port is a
/// QMP command (JSON), or one of the harness's own ([`host_request`]); the
/// answer (`return` or `error` object) goes back as one line. `@OUT@` in a
/// request stands for the harness's output directory (where the ISO
/// images are).
fn serve_guest_requests(sockets: &qemu::Sockets, tgt: &tgt::Tgt) -> Result<(), String> {
    use std::io::Write;
    let ctl = sockets.ctl()?;
    let mut qmp = sockets.qmp()?;
    let out_dir = root().join("target/guest");
    let mut ctl_out = ctl.try_clone().map_err(|e| e.to_string())?;
    let mut generation = 0;
    for req in BufReader::new(ctl).lines() {
        let req = req.map_err(|e| e.to_string())?;
        let req = req.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if !req.starts_with('{') {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(req) {
            if v.get("discrec").is_some() {
                let answer = host_request(&v, &mut qmp, tgt, &mut generation)
                    .unwrap_or_else(|e| serde_json::json!({"error": {"desc": e}}));
                writeln!(ctl_out, "{answer}").map_err(|e| e.to_string())?;
                continue;
            }
        }
        let req = req.replace("@OUT@", &out_dir.to_string_lossy());
        let answer = qmp.send(&req)?;
        writeln!(ctl_out, "{answer}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

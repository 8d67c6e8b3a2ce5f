//! `cargo xtask guest-test`: the test bed for real drives.
//!
//! The host has no SCSI layer, so the drive tests run in a small QEMU guest
//! (TCG; see [`crate::qemu`]) booting the image of [`crate::guest_image`]:
//! Debian's kernel, its `.ko` modules for the `sr`/`sg`/ATA/virtio-scsi/isofs
//! stack, a static busybox and the statically linked `discrec`,
//! `discrec-guest` and `discrec-vdrive` binaries in an initramfs. QEMU
//! gives the guest two drives: an IDE/ATAPI `ide-cd` holding an ISO 9660
//! medium and an empty `scsi-cd` on virtio-scsi; the guest serves its
//! writable drives itself with `discrec-vdrive` (a blank DVD+R for the burn
//! tests, every medium for the peers' matrix). The guest prints its results and a closing `N passed, N failed` line; this
//! harness echoes them and exits non-zero when a test failed, the line is
//! missing, or the guest ran out of time.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::guest_image::build_guest;
use crate::{qemu, root, run};

/// What QEMU is told to emulate; the guest tests check that discrec reads
/// exactly this (they hold the same values in `guest/src/main.rs`).
/// (QEMU's ATAPI INQUIRY always says "QEMU DVD-ROM"; `model` only reaches
/// ATA IDENTIFY, so only the revision of the IDE drive is set.)
const IDE_VER: &str = "1.5";
const SCSI_VENDOR: &str = "DSCRC";
const SCSI_PRODUCT: &str = "SCSI BURNER";
const SCSI_VER: &str = "4.2";

/// Longest a guest run may take: it takes about 950 s under TCG (the
/// matrix 430 s, the speed table 200 s, the faults 100 s, the appends
/// 175 s), so a hang is cut off with room for a slower machine.
const GUEST_TIMEOUT: Duration = Duration::from_secs(1500);

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
    // A plain disk, the baseline of the virtual drive's benchmark.
    let disk = out.join("bench-disk.img");
    fs::File::create(&disk).and_then(|f| f.set_len(320 << 20)).map_err(|e| format!("{}: {e}", disk.display()))?;

    // 4. Boot (memory for the benchmark's 256 MiB disc image in tmpfs).
    let vm = qemu::Vm::new(&boot, 1024, "")
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
        // The benchmark's virtio-blk disk (/dev/vda).
        .arg("-drive")
        .arg(format!("if=none,id=bench,format=raw,file={}", disk.display()))
        .args(["-device", "virtio-blk-pci,drive=bench"]);
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
        let sockets = qemu.sockets().clone();
        std::thread::spawn(move || {
            if let Err(e) = serve_guest_requests(&sockets) {
                eprintln!("xtask: guest request channel: {e}");
            }
        });
    }
    let rx = qemu.console();
    let mut summary: Option<(u32, u32)> = None;
    let mut matrix = Vec::new();
    let mut ready_at = None;
    loop {
        let left = GUEST_TIMEOUT.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                println!("{line}");
                if line.starts_with("guest: ready") && ready_at.is_none() {
                    ready_at = Some(started.elapsed());
                }
                if line.starts_with("MATRIX |") {
                    matrix.push(line.trim_start_matches("MATRIX").trim().to_string());
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
    println!(
        "xtask: built in {:.1} s; guest ready {} after start; tier took {:.1} s",
        built.as_secs_f64(),
        ready_at.map(|d| format!("{:.1} s", d.as_secs_f64())).unwrap_or_else(|| "never".into()),
        started.elapsed().as_secs_f64()
    );
    // The README's table of the virtual drive is what this run produced
    // (checked only when the whole matrix ran).
    let whole = std::env::var("DISCREC_GUEST_CASES").map_or(true, |c| c.is_empty())
        && std::env::var("DISCREC_GUEST_ONLY")
            .map_or(true, |c| c.is_empty() || "vdrive_peers_burn_every_medium".contains(&c));
    if whole && !matrix.is_empty() && !matrix_in_readme(&matrix)? {
        return Ok(false);
    }
    match summary {
        Some((_, 0)) => Ok(true),
        Some(_) => Ok(false),
        None => Err("the guest printed no `N passed, N failed` line".into()),
    }
}

/// Compare the README's table (between its `vdrive-matrix` markers) with
/// the rows this run printed; `DISCREC_BLESS=1` writes them in.
fn matrix_in_readme(rows: &[String]) -> Result<bool, String> {
    const BEGIN: &str = "<!-- BEGIN GENERATED: vdrive-matrix (cargo xtask guest-test) -->\n";
    const END: &str = "<!-- END GENERATED: vdrive-matrix -->";
    let path = root().join("README.md");
    let readme = fs::read_to_string(&path).map_err(|e| format!("README.md: {e}"))?;
    let (Some(b), Some(e)) = (readme.find(BEGIN), readme.find(END)) else {
        return Err("README.md has no vdrive-matrix markers".into());
    };
    let table = format!("| medium | tool | mode | result |\n|---|---|---|---|\n{}\n", rows.join("\n"));
    fs::write(root().join("target/guest/vdrive-matrix.md"), &table).map_err(|e| e.to_string())?;
    if readme[b + BEGIN.len()..e] == table {
        return Ok(true);
    }
    if std::env::var_os("DISCREC_BLESS").is_some() {
        let new = format!("{}{table}{}", &readme[..b + BEGIN.len()], &readme[e..]);
        fs::write(&path, new).map_err(|e| format!("README.md: {e}"))?;
        println!("xtask: wrote the virtual drive's table into README.md");
        return Ok(true);
    }
    eprintln!(
        "xtask guest-test: README.md's table of the virtual drive differs from this run's \
         (target/guest/vdrive-matrix.md): DISCREC_BLESS=1 cargo xtask guest-test writes it"
    );
    Ok(false)
}

fn parse_summary(line: &str) -> Option<(u32, u32)> {
    // "guest: 12 passed, 0 failed"
    let rest = line.split(": ").last()?;
    let (p, f) = rest.split_once(" passed, ")?;
    let f = f.strip_suffix(" failed")?;
    Some((p.trim().parse().ok()?, f.trim().parse().ok()?))
}

/// Execute the guest's requests: each line on its second serial port is a
/// QMP command (JSON); the answer (`return` or `error` object) goes back
/// as one line. `@OUT@` in a request stands for the harness's output
/// directory (where the ISO images are).
fn serve_guest_requests(sockets: &qemu::Sockets) -> Result<(), String> {
    use std::io::Write;
    let ctl = sockets.ctl()?;
    let mut qmp = sockets.qmp()?;
    let out_dir = root().join("target/guest");
    let mut ctl_out = ctl.try_clone().map_err(|e| e.to_string())?;
    for req in BufReader::new(ctl).lines() {
        let req = req.map_err(|e| e.to_string())?;
        let req = req.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if !req.starts_with('{') {
            continue;
        }
        let req = req.replace("@OUT@", &out_dir.to_string_lossy());
        let answer = qmp.send(&req)?;
        writeln!(ctl_out, "{answer}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

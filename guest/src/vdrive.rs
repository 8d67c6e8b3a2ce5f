//! The virtual drive (`discrec-vdrive serve`) refereed by the peer tools:
//! xorriso, cdrskin, wodim and growisofs burn each medium through `sr`,
//! dvd+rw-format and the tools' own blank/format commands erase the
//! rewritables, and the kernel's isofs reads every file back. Each case
//! prints a `MATRIX |` row; the harness gathers them into the README's
//! table.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{ok, sh, wait_for, R};

/// A drive served by `discrec-vdrive serve`; stopped (SIGTERM) on drop.
pub struct Served {
    child: Option<Child>,
    pub dev: String,
}

impl Served {
    /// Serve `kind` from `image` (`capacity` sectors when new).
    pub fn start(kind: &str, image: &str, capacity: Option<u32>) -> Result<Served, String> {
        let mut cmd = Command::new("/bin/discrec-vdrive");
        cmd.args(["serve", "--medium", kind]);
        if kind != "none" {
            cmd.args(["--image", image]);
        }
        if let Some(c) = capacity {
            cmd.args(["--capacity", &c.to_string()]);
        }
        // Every command and its answer, for the report of a failed case.
        let log = ok(std::fs::File::create(LOG), LOG)?;
        cmd.arg("--verbose");
        let mut child = ok(cmd.stdout(Stdio::piped()).stderr(log).spawn(), "spawn discrec-vdrive")?;
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let dev = line.trim().to_string();
        if !dev.starts_with("/dev/sr") {
            let _ =
                rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM);
            let _ = child.wait();
            return Err(format!("discrec-vdrive serve --medium {kind} printed {line:?}: {}", log_tail(5)));
        }
        Ok(Served { child: Some(child), dev })
    }

    /// Stop serving: exit status 0 and the device gone.
    pub fn stop(mut self) -> R {
        let mut child = self.child.take().unwrap();
        ok(
            rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM),
            "SIGTERM",
        )?;
        let st = ok(child.wait(), "wait")?;
        ensure!(st.success(), "discrec-vdrive serve exited {st:?} after SIGTERM");
        let name = self.dev.trim_start_matches("/dev/").to_string();
        wait_for("the drive to go", Duration::from_secs(10), || !Path::new("/sys/class/block").join(&name).exists())
    }

    /// `discrec-vdrive ARGS DEV`.
    pub fn ctl(&self, args: &[&str]) -> R {
        let o = ok(Command::new("/bin/discrec-vdrive").args(args).arg(&self.dev).output(), "discrec-vdrive")?;
        ensure!(o.status.success(), "discrec-vdrive {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        Ok(())
    }

    /// Eject and close the tray: the kernel forgets what it knew of the
    /// disc (its capacity) and reads it anew.
    pub fn cycle_tray(&self) -> R {
        self.ctl(&["eject"])?;
        self.ctl(&["close"])?;
        // The first open after the change sees the unit attention.
        let _ = std::fs::File::open(&self.dev);
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&c), rustix::process::Signal::TERM);
            let _ = c.wait();
        }
    }
}

/// Where the drive logs its commands.
const LOG: &str = "/tmp/vd-serve.log";

/// The last `n` lines of the drive's log (without the polls: TEST UNIT
/// READY, GET EVENT STATUS NOTIFICATION, PREVENT ALLOW MEDIUM REMOVAL).
pub fn log_tail(n: usize) -> String {
    let log = std::fs::read_to_string(LOG).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !["vdrive: 00 ", "vdrive: 4a ", "vdrive: 1e "].iter().any(|p| l.starts_with(p)))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n    ")
}

/// A fresh image path for `kind` (the old disc and its state removed).
fn fresh(kind: &str) -> String {
    let _ = std::fs::create_dir_all("/tmp/vd");
    let image = format!("/tmp/vd/{kind}.img");
    let _ = std::fs::remove_file(&image);
    let _ = std::fs::remove_file(format!("{image}.vdrive.json"));
    image
}

/// A source tree of a few files (one per session number `n`).
fn source(n: u32, kib: usize) -> Result<String, String> {
    let dir = format!("/tmp/vd/src{n}");
    let _ = std::fs::remove_dir_all(&dir);
    ok(std::fs::create_dir_all(format!("{dir}/s{n}/deep")), "mkdir")?;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ n as u64;
    for (name, size) in [("a.bin", kib * 1024), ("deep/b.bin", 12_345), ("c.txt", 7)] {
        let mut data = vec![0u8; size];
        for b in data.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        ok(std::fs::write(format!("{dir}/s{n}/{name}"), data), "write source")?;
    }
    Ok(dir)
}

fn iso_of(dir: &str, n: u32) -> Result<String, String> {
    let iso = format!("/tmp/vd/s{n}.iso");
    let (made, out) = sh(&format!("xorriso -as mkisofs -quiet -R -V VDRIVE{n} -o {iso} {dir} 2>&1"));
    ensure!(made, "mkisofs: {out}");
    Ok(iso)
}

/// Mount the disc and compare every file of sessions `1..=n`.
fn read_back(dev: &str, n: u32) -> R {
    let (m, out) = sh(&format!("mount -t iso9660 -o ro {dev} /mnt 2>&1"));
    ensure!(m, "mount: {out}");
    let mut problems = Vec::new();
    for s in 1..=n {
        for f in ["a.bin", "deep/b.bin", "c.txt"] {
            let a = std::fs::read(format!("/tmp/vd/src{s}/s{s}/{f}")).ok();
            let b = std::fs::read(format!("/mnt/s{s}/{f}")).ok();
            if b.is_none() {
                problems.push(format!("s{s}/{f} missing"));
            } else if a != b {
                problems.push(format!("s{s}/{f} differs"));
            }
        }
    }
    let _ = sh("umount /mnt");
    ensure!(problems.is_empty(), "read back through isofs: {}", problems.join(", "));
    Ok(())
}

/// Sessions `xorriso -toc` lists (None: libburn does not take the disc,
/// as with a BD-R formatted for Pseudo-OverWrite).
fn xorriso_sessions(dev: &str) -> Result<Option<usize>, String> {
    let (_, out) = sh(&format!("xorriso -outdev {dev} -toc 2>&1"));
    if out.contains("unsuitable Pseudo Overwrite formatted BD-R") {
        return Ok(None);
    }
    let n = out.lines().filter(|l| l.starts_with("ISO session") || l.starts_with("Other session")).count();
    ensure!(n > 0, "xorriso -toc lists no session: {}", tail(&out));
    Ok(Some(n))
}

/// Sessions with data `dvd+rw-mediainfo` reports (DVD and BD): its
/// count has the empty session an appendable disc is open for.
fn mediainfo_sessions(dev: &str) -> Result<usize, String> {
    let (done, out) = sh(&format!("dvd+rw-mediainfo {dev} 2>&1"));
    ensure!(done, "dvd+rw-mediainfo: {}", tail(&out));
    let field = |name: &str| {
        out.lines().find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string())).unwrap_or_default()
    };
    let n: usize = field("Number of Sessions:")
        .parse()
        .map_err(|_| format!("dvd+rw-mediainfo: no session count: {}", tail(&out)))?;
    Ok(n - (field("State of Last Session:") == "empty") as usize)
}

/// Tracks `cdrskin -toc` lists (CD).
fn cdrskin_tracks(dev: &str) -> Result<usize, String> {
    let (done, out) = sh(&format!("cdrskin dev={dev} -toc 2>&1"));
    ensure!(done, "cdrskin -toc: {}", tail(&out));
    Ok(out.lines().filter(|l| l.starts_with("track:") && !l.contains("lout")).count())
}

fn tail(out: &str) -> String {
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(8)..].join(" | ")
}

fn run(cmd: &str) -> R {
    let t = Instant::now();
    let (done, out) = sh(&format!("{cmd} 2>&1"));
    ensure!(done, "`{cmd}` failed after {:.1} s: {}", t.elapsed().as_secs_f64(), tail(&out));
    Ok(())
}

/// One case of the matrix: prepare the disc, burn, append, check.
struct Case {
    kind: &'static str,
    tool: &'static str,
    mode: &'static str,
    /// Commands run before the first burn (erase, format), DEV replaced.
    prepare: &'static [&'static str],
    /// The first session: DEV, ISO (image) and SRC (tree) replaced.
    burn: &'static str,
    /// A second session, if the case appends one: DEV and SRC replaced.
    append: Option<&'static str>,
}

const XORRISO_APPEND: &str = "xorriso -dev DEV -map SRC / -commit";

const CASES: &[Case] = &[
    Case {
        kind: "dvd+r",
        tool: "growisofs",
        mode: "-Z, -M",
        prepare: &[],
        burn: "growisofs -Z DEV=ISO",
        append: Some("growisofs -M DEV -R SRC"),
    },
    Case {
        kind: "dvd+r",
        tool: "xorriso",
        mode: "TAO, append",
        prepare: &[],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd+r",
        tool: "cdrskin",
        mode: "-multi",
        prepare: &[],
        burn: "cdrskin -v dev=DEV -multi ISO",
        append: None,
    },
    Case {
        kind: "cd-r",
        tool: "cdrskin",
        mode: "-tao -multi",
        prepare: &[],
        burn: "cdrskin -v dev=DEV -tao -multi ISO",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "cd-r",
        tool: "cdrskin",
        mode: "-sao",
        prepare: &[],
        burn: "cdrskin -v dev=DEV -sao ISO",
        append: None,
    },
    Case {
        kind: "cd-r",
        tool: "wodim",
        mode: "-tao",
        prepare: &[],
        burn: "wodim -v gracetime=2 dev=DEV -tao ISO",
        append: None,
    },
    Case {
        kind: "cd-r",
        tool: "wodim",
        mode: "-dao",
        prepare: &[],
        burn: "wodim -v gracetime=2 dev=DEV -dao ISO",
        append: None,
    },
    Case {
        kind: "cd-r",
        tool: "xorriso",
        mode: "TAO, append",
        prepare: &[],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "cd-rw",
        tool: "cdrskin",
        mode: "blank=fast, -tao",
        prepare: &["cdrskin dev=DEV blank=fast"],
        burn: "cdrskin -v dev=DEV -tao ISO",
        append: None,
    },
    Case {
        kind: "cd-rw",
        tool: "xorriso",
        mode: "-blank all, append",
        prepare: &["xorriso -outdev DEV -blank all"],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd-r",
        tool: "growisofs",
        mode: "-Z, -M",
        prepare: &[],
        burn: "growisofs -Z DEV=ISO",
        append: Some("growisofs -M DEV -R SRC"),
    },
    Case {
        kind: "dvd-r",
        tool: "growisofs",
        mode: "DAO",
        prepare: &[],
        burn: "growisofs -use-the-force-luke=dao -Z DEV=ISO",
        append: None,
    },
    Case {
        kind: "dvd-r",
        tool: "xorriso",
        mode: "incremental, append",
        prepare: &[],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd-r",
        tool: "cdrskin",
        mode: "-sao (DAO)",
        prepare: &[],
        burn: "cdrskin -v dev=DEV -sao ISO",
        append: None,
    },
    Case {
        kind: "dvd-r",
        tool: "wodim",
        mode: "-dao",
        prepare: &[],
        burn: "wodim -v gracetime=2 dev=DEV -dao ISO",
        append: None,
    },
    Case {
        kind: "dvd-rw",
        tool: "xorriso",
        mode: "-format full, append",
        prepare: &["xorriso -outdev DEV -format full"],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd-rw",
        tool: "growisofs",
        mode: "dvd+rw-format -blank, -Z",
        prepare: &["dvd+rw-format -blank DEV"],
        burn: "growisofs -Z DEV=ISO",
        append: None,
    },
    Case {
        kind: "dvd+rw",
        tool: "growisofs",
        mode: "dvd+rw-format, -Z, -M",
        prepare: &["dvd+rw-format -force DEV"],
        burn: "growisofs -Z DEV=ISO",
        append: Some("growisofs -M DEV -R SRC"),
    },
    Case {
        kind: "dvd+rw",
        tool: "xorriso",
        mode: "-format, append",
        prepare: &["xorriso -outdev DEV -format as_needed"],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd+r-dl",
        tool: "growisofs",
        mode: "-Z, -M",
        prepare: &[],
        burn: "growisofs -Z DEV=ISO",
        append: Some("growisofs -M DEV -R SRC"),
    },
    Case {
        kind: "dvd+r-dl",
        tool: "xorriso",
        mode: "append",
        prepare: &[],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd-ram",
        tool: "growisofs",
        mode: "-Z, -M",
        prepare: &[],
        burn: "growisofs -Z DEV=ISO",
        append: Some("growisofs -M DEV -R SRC"),
    },
    Case {
        kind: "dvd-ram",
        tool: "xorriso",
        mode: "append",
        prepare: &[],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "bd-r",
        tool: "growisofs",
        mode: "-Z, -M",
        prepare: &[],
        burn: "growisofs -Z DEV=ISO",
        append: Some("growisofs -M DEV -R SRC"),
    },
    Case {
        kind: "bd-r",
        tool: "xorriso",
        mode: "append",
        prepare: &[],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "bd-re",
        tool: "xorriso",
        mode: "-format, append",
        prepare: &["xorriso -outdev DEV -format as_needed"],
        burn: "xorriso -outdev DEV -map SRC / -commit",
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "bd-re",
        tool: "growisofs",
        mode: "dvd+rw-format, -Z",
        prepare: &["dvd+rw-format DEV"],
        burn: "growisofs -Z DEV=ISO",
        append: Some("growisofs -M DEV -R SRC"),
    },
];

fn case(c: &Case) -> Result<u32, String> {
    let image = fresh(c.kind);
    let drive = Served::start(c.kind, &image, None)?;
    let dev = drive.dev.clone();
    for p in c.prepare {
        run(&p.replace("DEV", &dev))?;
    }
    let src1 = source(1, 700)?;
    let iso = iso_of(&src1, 1)?;
    run(&c.burn.replace("DEV", &dev).replace("ISO", &iso).replace("SRC", &src1))?;
    let mut sessions = 1;
    if let Some(a) = c.append {
        drive.cycle_tray()?;
        let src2 = source(2, 300)?;
        run(&a.replace("DEV", &dev).replace("SRC", &src2))?;
        sessions = 2;
    }
    drive.cycle_tray()?;
    read_back(&dev, sessions)?;
    // Overwritable media hold one growing session (xorriso keeps a
    // history of its sessions at the start of the image and lists them);
    // growisofs formats a BD-R for Pseudo-OverWrite and grows one session.
    let random =
        matches!(c.kind, "dvd+rw" | "dvd-ram" | "bd-re") || c.prepare.iter().any(|p| p.contains("-format full"));
    let pow = c.kind == "bd-r" && c.tool == "growisofs";
    let written = sessions as usize;
    if let Some(n) = xorriso_sessions(&dev)? {
        let want = if random && c.tool != "xorriso" { 1 } else { written };
        ensure!(n == want, "xorriso -toc lists {n} sessions, {want} were written");
    } else {
        ensure!(pow, "xorriso does not take the disc");
    }
    if c.kind.starts_with("cd") {
        let n = cdrskin_tracks(&dev)?;
        ensure!(n == written, "cdrskin -toc lists {n} tracks, {written} were written");
    } else {
        let n = mediainfo_sessions(&dev)?;
        let want = if random || pow { 1 } else { written };
        ensure!(n == want, "dvd+rw-mediainfo says {n} sessions, {want} were written");
    }
    drive.stop()?;
    Ok(sessions)
}

/// Every medium burned by the peers, appended, read back by the kernel.
pub fn t_peers_burn_every_medium() -> R {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let only = cmdline.split_whitespace().find_map(|w| w.strip_prefix("discrec.cases=")).unwrap_or("");
    let mut failed = Vec::new();
    for c in CASES.iter().filter(|c| format!("{} {}", c.kind, c.tool).contains(&only.replace('_', " "))) {
        let t = Instant::now();
        let result = case(c);
        let secs = t.elapsed().as_secs_f64();
        let cell = match &result {
            Ok(n) => format!("ok ({n} session{})", if *n == 1 { "" } else { "s" }),
            Err(e) => {
                failed.push(format!("{} {} {}: {e}", c.kind, c.tool, c.mode));
                "FAILED".to_string()
            }
        };
        println!("MATRIX | {} | {} | {} | {cell} |", c.kind, c.tool, c.mode);
        if let Err(e) = &result {
            println!(
                "  {} {} {} ({secs:.1} s): {e}\n  the drive's last commands:\n    {}",
                c.kind,
                c.tool,
                c.mode,
                log_tail(30)
            );
        }
    }
    ensure!(failed.is_empty(), "{} cases failed", failed.len());
    Ok(())
}

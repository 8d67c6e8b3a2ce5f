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
    /// Serve `kind` from `image` (`capacity` sectors when new), logging
    /// every command to `log`.
    pub fn start(kind: &str, image: &str, capacity: Option<u32>, log: &str) -> Result<Served, String> {
        let mut cmd = Command::new("/bin/discrec-vdrive");
        cmd.args(["serve", "--medium", kind]);
        if kind != "none" {
            cmd.args(["--image", image]);
        }
        if let Some(c) = capacity {
            cmd.args(["--capacity", &c.to_string()]);
        }
        // Every command and its answer, for the report of a failed case.
        let log_file = ok(std::fs::File::create(log), log)?;
        cmd.arg("--verbose");
        let mut child = ok(cmd.stdout(Stdio::piped()).stderr(log_file).spawn(), "spawn discrec-vdrive")?;
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
            return Err(format!("discrec-vdrive serve --medium {kind} printed {line:?}: {}", log_tail(log, 5)));
        }
        Ok(Served { child: Some(child), dev })
    }

    /// Stop serving: exit status 0 and the device gone.
    pub fn stop(mut self) -> R {
        let mut child = self.child.take().unwrap();
        let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM);
        let st = ok(child.wait(), "wait")?;
        ensure!(st.success(), "discrec-vdrive serve exited {st:?} after SIGTERM");
        let name = self.dev.trim_start_matches("/dev/").to_string();
        wait_for("the drive to go", Duration::from_secs(10), || !Path::new("/sys/class/block").join(&name).exists())
    }

    /// `discrec-vdrive ARGS DEV`.
    pub fn ctl(&self, args: &[&str]) -> R {
        self.ctl_args(args, &[])
    }

    /// `discrec-vdrive ARGS DEV MORE`.
    pub fn ctl_args(&self, args: &[&str], more: &[&str]) -> R {
        let o =
            ok(Command::new("/bin/discrec-vdrive").args(args).arg(&self.dev).args(more).output(), "discrec-vdrive")?;
        ensure!(o.status.success(), "discrec-vdrive {args:?} {more:?}: {}", String::from_utf8_lossy(&o.stderr));
        Ok(())
    }

    /// `discrec-vdrive ARGS SOCKET` (the drive by its control socket), and
    /// for `stop`, the serve's exit.
    pub fn ctl_socket(mut self, socket: &str, args: &[&str]) -> R {
        let o = ok(Command::new("/bin/discrec-vdrive").args(args).arg(socket).output(), "discrec-vdrive")?;
        ensure!(o.status.success(), "discrec-vdrive {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        if args == ["stop"] {
            let st = ok(self.child.take().unwrap().wait(), "wait")?;
            ensure!(st.success(), "discrec-vdrive serve exited {st:?} after stop");
        }
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

/// Where the matrix's drives log their commands.
const LOG: &str = "/tmp/vd-serve.log";

/// The last `n` commands of a drive's log that change the disc (MODE
/// SELECT, RESERVE TRACK, SEND CUE SHEET, WRITE, SYNCHRONIZE CACHE,
/// CLOSE, BLANK, FORMAT UNIT).
pub fn log_writes(path: &str, n: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let ops = ["55", "53", "5d", "2a", "aa", "35", "5b", "a1", "04"];
    let lines: Vec<&str> =
        log.lines().filter(|l| ops.iter().any(|op| l.starts_with(&format!("vdrive: {op} ")))).collect();
    lines[lines.len().saturating_sub(n)..].join("\n    ")
}

/// Run `case` on each of `cases`, saying how each went: a failure does
/// not stop the others, and the failures are reported together, each with
/// the tail of the drives' log `log`.
pub(crate) fn each<T>(
    cases: impl IntoIterator<Item = T>,
    name: impl Fn(&T) -> String,
    log: &str,
    mut case: impl FnMut(&T) -> R,
) -> R {
    let mut failed = Vec::new();
    for c in cases {
        let (r, n) = (case(&c), name(&c));
        println!("  {n}: {}", r.as_ref().map_or_else(|e| format!("FAILED: {e}"), |_| "ok".into()));
        if let Err(e) = r {
            failed.push(format!("{n}: {e}\n    {}", log_tail(log, 12)));
        }
    }
    ensure!(failed.is_empty(), "{}", failed.join("\n  "));
    Ok(())
}

/// The last `n` lines of a drive's log (without the polls: TEST UNIT
/// READY, GET EVENT STATUS NOTIFICATION, PREVENT ALLOW MEDIUM REMOVAL).
pub fn log_tail(path: &str, n: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !["vdrive: 00 ", "vdrive: 4a ", "vdrive: 1e "].iter().any(|p| l.starts_with(p)))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n    ")
}

/// The burn tests' drive: a DVD+R served for the whole run, its disc
/// swapped for a blank one on request.
struct Dvd {
    drive: Served,
    image: String,
    discs: u32,
}

static DVD: std::sync::Mutex<Option<Dvd>> = std::sync::Mutex::new(None);

/// Serve the burn tests' DVD+R (`/dev/sr2`, the third drive).
pub fn start_dvd() -> Result<String, String> {
    let image = "/tmp/dvd-0.img".to_string();
    forget_disc(&image);
    let drive = Served::start("dvd+r", &image, None, "/tmp/vd-dvd.log")?;
    let dev = drive.dev.clone();
    *DVD.lock().unwrap() = Some(Dvd { drive, image, discs: 0 });
    Ok(dev)
}

/// The burn tests' DVD+R drive.
pub fn dvd() -> Result<String, String> {
    DVD.lock().unwrap().as_ref().map(|d| d.drive.dev.clone()).ok_or_else(|| "the DVD+R is not served".into())
}

/// A new blank DVD+R in the drive (the old disc's files removed), as a
/// person swaps discs: the kernel sees a medium change.
pub fn insert_blank_dvd() -> R {
    let mut guard = DVD.lock().unwrap();
    let d = guard.as_mut().ok_or("the DVD+R is not served")?;
    d.discs += 1;
    let image = format!("/tmp/dvd-{}.img", d.discs);
    let o = ok(
        Command::new("/bin/discrec-vdrive")
            .args(["insert", &d.drive.dev, "--medium", "dvd+r", "--image", &image])
            .output(),
        "discrec-vdrive insert",
    )?;
    ensure!(o.status.success(), "discrec-vdrive insert: {}", String::from_utf8_lossy(&o.stderr));
    let old = std::mem::replace(&mut d.image, image);
    forget_disc(&old);
    Ok(())
}

/// (size, BLAKE3 hex) of the DVD+R's image: the bytes burned on it.
pub fn dvd_image() -> Result<(u64, String), String> {
    let image = DVD.lock().unwrap().as_ref().map(|d| d.image.clone()).ok_or("the DVD+R is not served")?;
    let bytes = std::fs::read(&image).unwrap_or_default();
    Ok((bytes.len() as u64, blake3::hash(&bytes).to_hex().to_string()))
}

/// Remove a disc: its image and its state.
pub(crate) fn forget_disc(image: &str) {
    let _ = std::fs::remove_file(image);
    let _ = std::fs::remove_file(format!("{image}.vdrive.json"));
}

/// A fresh image path for `kind` (the old disc and its state removed).
pub(crate) fn fresh(kind: &str) -> String {
    let _ = std::fs::create_dir_all("/tmp/vd");
    let image = format!("/tmp/vd/{kind}.img");
    forget_disc(&image);
    image
}

/// A source tree of a few files (one per session number `n`).
pub(crate) fn source(n: u32, kib: usize) -> Result<String, String> {
    let dir = format!("/tmp/vd/src{n}");
    let _ = std::fs::remove_dir_all(&dir);
    ok(std::fs::create_dir_all(format!("{dir}/s{n}/deep")), "mkdir")?;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ n as u64;
    for (name, size) in [("a.bin", kib * 1024), ("deep/b.bin", 12_345), ("c.txt", 7)] {
        let data = crate::noise(&mut seed, size);
        ok(std::fs::write(format!("{dir}/s{n}/{name}"), data), "write source")?;
    }
    Ok(dir)
}

pub(crate) fn iso_of(dir: &str, n: u32) -> Result<String, String> {
    let iso = format!("/tmp/vd/s{n}.iso");
    let (made, out) = sh(&format!("xorriso -as mkisofs -quiet -R -V VDRIVE{n} -o {iso} {dir} 2>&1"));
    ensure!(made, "mkisofs: {out}");
    Ok(iso)
}

/// Mount the disc and compare every file of sessions `1..=n`.
fn read_back(dev: &str, n: u32) -> R {
    read_back_sources(dev, &(1..=n).collect::<Vec<_>>(), &[])
}

/// Mount the disc and compare every file of the sources `present`; none
/// of the sources `absent` may be on it.
pub(crate) fn read_back_sources(dev: &str, present: &[u32], absent: &[u32]) -> R {
    let (m, out) = sh(&format!("mount -t iso9660 -o ro {dev} /mnt 2>&1"));
    ensure!(m, "mount: {out}");
    let mut problems = Vec::new();
    for s in absent {
        if Path::new(&format!("/mnt/s{s}")).exists() {
            problems.push(format!("s{s} is still there"));
        }
    }
    for &s in present {
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
pub(crate) fn xorriso_sessions(dev: &str) -> Result<Option<usize>, String> {
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
pub(crate) fn mediainfo_sessions(dev: &str) -> Result<usize, String> {
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
pub(crate) fn cdrskin_tracks(dev: &str) -> Result<usize, String> {
    let (done, out) = sh(&format!("cdrskin dev={dev} -toc 2>&1"));
    ensure!(done, "cdrskin -toc: {}", tail(&out));
    Ok(out.lines().filter(|l| l.starts_with("track:") && !l.contains("lout")).count())
}

pub(crate) fn tail(out: &str) -> String {
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
        tool: "cdrskin",
        mode: "blank=all, -sao",
        prepare: &["cdrskin dev=DEV blank=all"],
        burn: "cdrskin -v dev=DEV -sao ISO",
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
    Case { kind: "cd-rom", tool: "isofs", mode: "pressed", prepare: &[], burn: "", append: None },
    Case { kind: "dvd-rom", tool: "isofs", mode: "pressed", prepare: &[], burn: "", append: None },
    Case { kind: "bd-rom", tool: "isofs", mode: "pressed", prepare: &[], burn: "", append: None },
    Case {
        kind: "bd-re",
        tool: "growisofs",
        mode: "dvd+rw-format, -Z",
        prepare: &["dvd+rw-format DEV"],
        burn: "growisofs -Z DEV=ISO",
        append: Some("growisofs -M DEV -R SRC"),
    },
    // discrec writes each medium (an ISO, or a directory made into one as
    // it is written); a peer appends the next session.
    Case {
        kind: "cd-r",
        tool: "discrec",
        mode: "TAO; xorriso appends",
        prepare: &[],
        burn: DISCREC_ISO,
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "cd-rw",
        tool: "discrec",
        mode: "TAO, directory; xorriso appends",
        prepare: &[],
        burn: DISCREC_DIR,
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd-r",
        tool: "discrec",
        mode: "incremental; xorriso appends",
        prepare: &[],
        burn: DISCREC_ISO,
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd-rw",
        tool: "discrec",
        mode: "incremental, directory; xorriso appends",
        prepare: &[],
        burn: DISCREC_DIR,
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd-rw",
        tool: "discrec",
        mode: "restricted overwrite (dvd+rw-format -force); growisofs -M",
        prepare: &["dvd+rw-format -force DEV"],
        burn: DISCREC_ISO,
        append: Some(GROWISOFS_APPEND),
    },
    Case {
        kind: "dvd+r",
        tool: "discrec",
        mode: "incremental; growisofs -M",
        prepare: &[],
        burn: DISCREC_ISO,
        append: Some(GROWISOFS_APPEND),
    },
    Case {
        kind: "dvd+r-dl",
        tool: "discrec",
        mode: "directory; xorriso appends",
        prepare: &[],
        burn: DISCREC_DIR,
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "dvd+rw",
        tool: "discrec",
        mode: "formats, random; growisofs -M",
        prepare: &[],
        burn: DISCREC_ISO,
        append: Some(GROWISOFS_APPEND),
    },
    Case {
        kind: "dvd-ram",
        tool: "discrec",
        mode: "random, directory; growisofs -M",
        prepare: &[],
        burn: DISCREC_DIR,
        append: Some(GROWISOFS_APPEND),
    },
    Case {
        kind: "bd-r",
        tool: "discrec",
        mode: "sequential; xorriso appends",
        prepare: &[],
        burn: DISCREC_ISO,
        append: Some(XORRISO_APPEND),
    },
    Case {
        kind: "bd-re",
        tool: "discrec",
        mode: "formats, directory; growisofs -M",
        prepare: &[],
        burn: DISCREC_DIR,
        append: Some(GROWISOFS_APPEND),
    },
];

const DISCREC_ISO: &str = "discrec burn DEV ISO";
const DISCREC_DIR: &str = "discrec burn DEV SRC";
const GROWISOFS_APPEND: &str = "growisofs -M DEV -R SRC";

fn case(c: &Case) -> Result<u32, String> {
    let src1 = source(1, 700)?;
    let iso = iso_of(&src1, 1)?;
    // A pressed disc is the ISO itself; a writable one starts blank.
    let pressed = c.kind.ends_with("-rom");
    let image = if pressed { iso.clone() } else { fresh(c.kind) };
    let drive = Served::start(c.kind, &image, None, LOG)?;
    let dev = drive.dev.clone();
    for p in c.prepare {
        run(&p.replace("DEV", &dev))?;
    }
    if !pressed {
        run(&c.burn.replace("DEV", &dev).replace("ISO", &iso).replace("SRC", &src1))?;
    }
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
    let random = matches!(c.kind, "dvd+rw" | "dvd-ram" | "bd-re")
        || c.prepare.iter().any(|p| p.contains("-format full") || (c.kind == "dvd-rw" && p.contains("-force")));
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
    } else if c.kind == "dvd-rom" {
        // dvd+rw-mediainfo reads a DVD-ROM's structure, not its sessions.
        let (done, out) = sh(&format!("dvd+rw-mediainfo {dev} 2>&1"));
        ensure!(done && out.contains("DVD-ROM book"), "dvd+rw-mediainfo: {}", tail(&out));
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
                "  {} {} {} ({secs:.1} s): {e}\n  the drive's last commands:\n    {}\n  its last writing commands:\n    {}",
                c.kind,
                c.tool,
                c.mode,
                log_tail(LOG, 30),
                log_writes(LOG, 12)
            );
        }
    }
    ensure!(failed.is_empty(), "{} cases failed", failed.len());
    Ok(())
}

/// TEST UNIT READY through `sg`: the sense key/ASC/ASCQ, or None (GOOD).
fn tur(sg: &std::fs::File) -> Result<Option<(u8, u8, u8)>, String> {
    use std::os::fd::AsFd;
    let st = ok(
        discrec::mmc::transport::sg_io(sg.as_fd(), &[0; 6], discrec::mmc::transport::DataPhase::None, 10_000),
        "SG_IO",
    )?;
    if st.is_good() {
        return Ok(None);
    }
    let s = discrec::mmc::parse_sense(&st.sense).ok_or(format!("CHECK CONDITION without sense: {st:?}"))?;
    Ok(Some((s.key, s.asc, s.ascq)))
}

/// A disc swapped from outside: discrec sees the new medium, and the
/// next command gets the unit attention a real drive gives (06/28/00).
/// Then the drive is unplugged while discrec holds it: every call says
/// ERROR_DEV_NOT_EXIST, the release still succeeds; plugged back in, the
/// drive still has its disc.
pub fn t_swap_is_a_unit_attention_and_unplug_while_held_is_gone() -> R {
    use discrec::medium::PhysicalType;
    use discrec::Recorder;
    let drive = Served::start("cd-rw", &fresh("swap-cd-rw"), None, "/tmp/vd-swap.log")?;
    let dev = drive.dev.clone();
    let kind = |dev: &str| ok(ok(Recorder::open(dev), "open")?.medium(), "medium").map(|m| m.physical_type);
    ensure!(kind(&dev)? == PhysicalType::CdRw, "{dev} does not hold the CD-RW: {:?}", kind(&dev)?);
    // Nobody else polls the drive meanwhile (the kernel's media polling
    // would take the unit attention first).
    let name = dev.trim_start_matches("/dev/").to_string();
    let poll = format!("/sys/block/{name}/events_poll_msecs");
    let saved = std::fs::read_to_string(&poll).unwrap_or_default();
    let _ = std::fs::write(&poll, "0");
    let sg = ok(std::fs::File::open(crate::sg_of(&dev)?), "open sg")?;
    let mut first = tur(&sg)?;
    for _ in 0..3 {
        if first.is_none() {
            break;
        }
        first = tur(&sg)?;
    }
    ensure!(first.is_none(), "TEST UNIT READY before the swap: {first:x?}");
    drive.ctl_args(&["insert"], &["--medium", "dvd+rw", "--image", &fresh("swap-dvd+rw")])?;
    let ua = tur(&sg)?;
    let then = tur(&sg)?;
    let _ = std::fs::write(&poll, saved.trim());
    drop(sg);
    ensure!(ua == Some((6, 0x28, 0)), "the first command after the swap got {ua:x?}, not 06/28/00");
    ensure!(then.is_none() || then == Some((2, 0x04, 0x04)), "the second got {then:x?}");
    wait_for("discrec to see the DVD+RW", Duration::from_secs(10), || {
        kind(&dev).is_ok_and(|k| k == PhysicalType::DvdPlusRw)
    })?;
    let (l, out) = sh("/bin/discrec list --json");
    ensure!(l, "discrec list: {out}");
    let list: serde_json::Value = ok(serde_json::from_str(&out), "list json")?;
    let entry = list.as_array().and_then(|a| a.iter().find(|d| d["device"] == dev.as_str())).cloned();
    ensure!(entry.as_ref().is_some_and(|d| d["tray"] == "disc_ok"), "discrec list after the swap: {entry:?}");

    // Unplugged while held.
    let mut r = ok(Recorder::open(&dev), "open")?;
    ok(r.acquire_exclusive_access(false, "Unplugged"), "acquire")?;
    let socket = format!("/run/discrec-vdrive/{name}.sock");
    drive.ctl(&["unplug"])?;
    wait_for("the drive to vanish", Duration::from_secs(20), || !Path::new("/sys/class/block").join(&name).exists())?;
    crate::held_drive_is_gone(&mut r, &dev)?;
    drop(r);
    // Plugged back in: the same disc, perhaps under another name.
    let o = ok(Command::new("/bin/discrec-vdrive").args(["plug", &socket]).output(), "plug")?;
    ensure!(o.status.success(), "plug: {}", String::from_utf8_lossy(&o.stderr));
    let again = String::from_utf8_lossy(&o.stdout).trim().to_string();
    ensure!(kind(&again)? == PhysicalType::DvdPlusRw, "after plugging in again, {again} holds {:?}", kind(&again)?);
    drive.ctl_socket(&socket, &["stop"])
}

/// `dd oflag=direct bs=1M` of 256 MiB through the virtual DVD-RAM's
/// `/dev/srN`, against the same `dd` to a virtio-blk disk of the same
/// guest (both under TCG): the ratio is printed, not asserted
/// (docs/performance.md keeps the table).
pub fn t_dd_to_the_virtual_dvd_ram_against_virtio_blk() -> R {
    ensure!(Path::new("/dev/vda").exists(), "no virtio-blk disk (/dev/vda) to compare with");
    let image = fresh("bench-dvd-ram");
    let drive = Served::start("dvd-ram", &image, None, "/dev/null")?;
    let dd = |dev: &str| -> Result<f64, String> {
        let t = Instant::now();
        let (done, out) = sh(&format!("dd if=/dev/zero of={dev} bs=1M count=256 oflag=direct 2>&1"));
        ensure!(done, "dd to {dev}: {out}");
        Ok(256.0 / t.elapsed().as_secs_f64())
    };
    // Each once to warm up, then each measured three times, interleaved.
    let _ = (dd(&drive.dev)?, dd("/dev/vda")?);
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(dd(&drive.dev)?);
        base.push(dd("/dev/vda")?);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[1]
    };
    let (o, b) = (med(&mut ours), med(&mut base));
    println!(
        "  dd bs=1M oflag=direct, 256 MiB, median of 3: virtual DVD-RAM {o:.1} MB/s, virtio-blk {b:.1} MB/s: {:.2}x",
        o / b
    );
    let (size, _) = (std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0), ());
    ensure!(size == 256 << 20, "the disc image holds {size} bytes after writing 256 MiB");
    drive.stop()?;
    let _ = std::fs::remove_file(&image);
    Ok(())
}

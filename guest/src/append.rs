//! `discrec burn --append` on every appendable medium of the virtual
//! drive, through the kernel's `sr`: sessions added by discrec, read back
//! by the kernel's isofs (which mounts the last session) and by xorriso;
//! discs written by discrec appended by growisofs and xorriso, and discs
//! written by them appended by discrec; the refusals that must come
//! before any command that changes a disc.

use crate::media::discrec;
use crate::vdrive::{fresh, read_back_sources, source, tail, Served};
use crate::{ok, sh, R};

/// Where these drives log their commands.
const LOG: &str = "/tmp/vd-append.log";

/// Every medium discrec writes: the write-once ones take sessions of
/// their own, the others grow their file system in place.
const MEDIA: &[(&str, bool)] = &[
    ("cd-r", true),
    ("cd-rw", true),
    ("dvd-r", true),
    ("dvd-rw", true),
    ("dvd+r", true),
    ("dvd+r-dl", true),
    ("bd-r", true),
    ("dvd+rw", false),
    ("dvd-ram", false),
    ("bd-re", false),
];

fn run(args: &[&str]) -> Result<String, String> {
    let (c, out, e) = discrec(args);
    ensure!(c == Some(0), "discrec {}: exit {c:?}: {e}", args.join(" "));
    Ok(out)
}

/// Source `n` (see [`source`]) with `same.txt` at its root saying which
/// session it came from: each session replaces the one before. Each is
/// of another size: genisoimage (growisofs -M) takes a file of the same
/// name, size and second as the old one unchanged and keeps the old.
fn session_source(n: u32) -> Result<String, String> {
    let dir = source(n, 120)?;
    ok(std::fs::write(format!("{dir}/same.txt"), same(n)), "write same.txt")?;
    Ok(dir)
}

/// What `same.txt` of session `n` says.
fn same(n: u32) -> String {
    format!("from session {n}{}\n", "!".repeat(n as usize))
}

/// What the disc's `same.txt` says, mounted by the kernel.
fn same_txt(dev: &str) -> Result<String, String> {
    let (m, out) = sh(&format!("mount -t iso9660 -o ro {dev} /mnt 2>&1"));
    ensure!(m, "mount: {out}");
    let text = std::fs::read_to_string("/mnt/same.txt").unwrap_or_else(|e| format!("(none: {e})"));
    let _ = sh("umount /mnt");
    Ok(text)
}

/// xorriso, loading the disc's last session, sees every file of the
/// sources `present` with its bytes, and `same.txt` from session `last`.
fn xorriso_sees(dev: &str, present: &[u32], last: u32) -> R {
    let out = "/tmp/vd/xo";
    let _ = std::fs::remove_dir_all(out);
    let (done, log) = sh(&format!("xorriso -osirrox on -indev {dev} -extract / {out} 2>&1"));
    ensure!(done, "xorriso -extract: {}", tail(&log));
    let mut problems = Vec::new();
    for &s in present {
        for f in ["a.bin", "deep/b.bin", "c.txt"] {
            let a = std::fs::read(format!("/tmp/vd/src{s}/s{s}/{f}")).ok();
            let b = std::fs::read(format!("{out}/s{s}/{f}")).ok();
            if a.is_none() || a != b {
                problems.push(format!("s{s}/{f} missing or different"));
            }
        }
    }
    let same = std::fs::read_to_string(format!("{out}/same.txt")).unwrap_or_default();
    if same != self::same(last) {
        problems.push(format!("same.txt says {same:?}"));
    }
    let _ = sh(&format!("chmod -R u+w {out}; rm -rf {out}"));
    ensure!(problems.is_empty(), "xorriso: {}", problems.join(", "));
    Ok(())
}

/// Commands in the drive's log that change a disc.
fn changing_commands() -> usize {
    crate::media::changing_commands_in(LOG)
}

/// Three sessions by discrec on each medium: a first burn of a
/// directory, then two `--append`s, each read back by isofs and xorriso
/// with `same.txt` from the latest; a session written in order is a
/// session of its own (`info` counts them), one at random grows the file
/// system in place. The last on a write-once disc closes it (`--close`),
/// after which `--append` is refused (exit 32) without a command that
/// changes the disc.
pub fn t_discrec_appends_sessions_on_every_medium() -> R {
    let sources: Vec<String> = (1..=3).map(session_source).collect::<Result<_, _>>()?;
    crate::vdrive::each(
        MEDIA,
        |&&(kind, _)| kind.to_string(),
        LOG,
        |&&(kind, sequential)| -> R {
            let drive = Served::start(kind, &fresh(kind), None, LOG)?;
            let dev = drive.dev.clone();
            run(&["burn", &dev, &sources[0]])?;
            for n in 2..=3u32 {
                drive.cycle_tray()?;
                let mut args = vec!["burn", "--append", "--json", &dev, &sources[n as usize - 1]];
                if n == 3 && sequential {
                    args.insert(1, "--close");
                }
                let out = run(&args)?;
                let done: serde_json::Value =
                    ok(serde_json::from_str(out.lines().last().unwrap_or("")), "burn's last JSON line")?;
                let added = &done["done"]["added_to"];
                ensure!(added["files_kept"].as_u64() > Some(0), "session {n}: {added}");
                drive.cycle_tray()?;
                let present: Vec<u32> = (1..=n).collect();
                read_back_sources(&dev, &present, &[])?;
                let text = same_txt(&dev)?;
                ensure!(text == same(n), "session {n}: isofs reads same.txt as {text:?}");
                xorriso_sees(&dev, &present, n)?;
                let (c, info, e) = discrec(&["info", "--json", &dev]);
                ensure!(c == Some(0), "info: {e}");
                let m: serde_json::Value = ok(serde_json::from_str(&info), "info JSON")?;
                let sessions = m["medium"]["sessions"].as_u64().unwrap_or(0);
                let want = if sequential { u64::from(n) } else { 1 };
                ensure!(sessions == want, "after session {n}: {sessions} sessions, not {want}: {}", m["medium"]);
            }
            if sequential {
                let before = changing_commands();
                let (c, _, e) = discrec(&["burn", "--append", &dev, &sources[0]]);
                ensure!(
                    c == Some(32) && e.contains("IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE"),
                    "--append to a closed disc: {c:?} {e}"
                );
                ensure!(changing_commands() == before, "the refused --append sent commands that change the disc");
            }
            drive.stop()
        },
    )
}

/// One disc, two writers: `first` writes session 1 (SRC1), `second` adds
/// session 2 (SRC2); both read back by isofs and xorriso.
struct Mixed {
    kind: &'static str,
    first: &'static str,
    second: &'static str,
}

const DISCREC_FIRST: &str = "discrec burn DEV SRC1";
const DISCREC_APPEND: &str = "discrec burn --append DEV SRC2";

const MIXED: &[Mixed] = &[
    // discrec's sessions, appended by the peers.
    Mixed { kind: "dvd+r", first: DISCREC_FIRST, second: "growisofs -M DEV -R SRC2" },
    Mixed { kind: "dvd+rw", first: DISCREC_FIRST, second: "growisofs -M DEV -R SRC2" },
    Mixed { kind: "cd-r", first: DISCREC_FIRST, second: "xorriso -dev DEV -map SRC2 / -commit" },
    Mixed { kind: "bd-r", first: DISCREC_FIRST, second: "xorriso -dev DEV -map SRC2 / -commit" },
    Mixed { kind: "bd-re", first: DISCREC_FIRST, second: "xorriso -dev DEV -map SRC2 / -commit" },
    // The peers' sessions, appended by discrec.
    Mixed { kind: "dvd+r", first: "growisofs -Z DEV -R SRC1", second: DISCREC_APPEND },
    Mixed { kind: "dvd+rw", first: "growisofs -Z DEV -R SRC1", second: DISCREC_APPEND },
    Mixed { kind: "dvd-r", first: "growisofs -Z DEV -R SRC1", second: DISCREC_APPEND },
    Mixed { kind: "cd-r", first: "xorriso -dev DEV -map SRC1 / -commit", second: DISCREC_APPEND },
    Mixed { kind: "cd-rw", first: "xorriso -dev DEV -map SRC1 / -commit", second: DISCREC_APPEND },
    Mixed { kind: "bd-r", first: "xorriso -dev DEV -map SRC1 / -commit", second: DISCREC_APPEND },
    Mixed { kind: "dvd-ram", first: "xorriso -dev DEV -map SRC1 / -commit", second: DISCREC_APPEND },
];

/// Each [`MIXED`] case: the disc one tool wrote, appended by the other.
pub fn t_discrec_and_the_peers_append_each_others_discs() -> R {
    let (one, two) = (session_source(1)?, session_source(2)?);
    crate::vdrive::each(
        MIXED,
        |c| format!("{}: {} | {}", c.kind, c.first, c.second),
        LOG,
        |c| -> R {
            let drive = Served::start(c.kind, &fresh(c.kind), None, LOG)?;
            let dev = drive.dev.clone();
            for cmd in [c.first, c.second] {
                let cmd = cmd.replace("DEV", &dev).replace("SRC1", &one).replace("SRC2", &two);
                let cmd = cmd.replace("discrec ", "/bin/discrec ");
                let (done, out) = sh(&format!("{cmd} 2>&1"));
                ensure!(done, "`{cmd}`: {}", tail(&out));
                drive.cycle_tray()?;
            }
            read_back_sources(&dev, &[1, 2], &[])?;
            let text = same_txt(&dev)?;
            ensure!(text == same(2), "isofs reads same.txt as {text:?}");
            xorriso_sees(&dev, &[1, 2], 2)?;
            drive.stop()
        },
    )
}

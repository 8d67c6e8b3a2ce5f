//! What the command line prints: lines on stdout that end quietly when the
//! reader goes away, JSON through the library's `Serialize` forms, the text
//! forms of each command, and failures on stderr as
//! `discrec: MESSAGE (NAME 0xHEX)`.

use std::io::Write;
use std::path::Path;

use discrec::drive::{DriveDetails, DriveInfo};
use discrec::{jsonpath, AccessStatus, Error};

/// Every failure, on stderr: `discrec: MESSAGE (NAME 0xHEX)`, then, where
/// one of this command's options is the way out, `discrec: hint: ...`
/// (the library's messages name no option: C and Python programs read
/// them too). A closed stderr is no reason to panic: the exit code still
/// tells.
pub fn report(e: &Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "discrec: {} ({} 0x{:08X})", e.one_line(), e.name(), e.code());
    if let Some(h) = hint(e) {
        let _ = writeln!(err, "discrec: hint: {h}");
    }
}

/// Whether this command has `--wait` and was not given it: only then is
/// `--wait` the way past a drive another client holds (`info`, `eject`
/// and `tray` have no `--wait`; a command that waited did wait).
static WAIT_UNUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Note that this command takes `--wait`, and whether it was given.
pub fn offers_wait(given: bool) {
    WAIT_UNUSED.store(!given, std::sync::atomic::Ordering::Relaxed);
}

/// The option of this command line that answers `e`, if one does.
fn hint(e: &Error) -> Option<&'static str> {
    use discrec::holders::Holder;
    match e {
        Error::RecorderLocked { .. } if WAIT_UNUSED.load(std::sync::atomic::Ordering::Relaxed) => {
            Some("--wait[=SECONDS] waits for the drive, first come first served")
        }
        Error::DeviceInUse { holders, .. } if holders.iter().any(|h| matches!(h, Holder::Mount { .. })) => {
            Some("`discrec lock --force` unmounts it")
        }
        Error::InvalidArgument(m) if m.starts_with("the client name is empty") => {
            Some("name your application with --client \"My Burner\"")
        }
        Error::StreamNotSupported(m) if m.contains("a pipe can be written") => {
            Some("write a pipe as `-` on standard input with its size: --size BYTES")
        }
        Error::Source { detail, .. } if detail.contains("bytes announced") => {
            Some("give the exact size with --size BYTES")
        }
        _ => None,
    }
}

/// A line on stderr that is not a failure (`warning: ...`, `waiting for ...`).
pub fn note(line: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "discrec: {line}");
}

/// Print one line on stdout. A reader that went away (`discrec list |
/// head -1`) ends the output quietly: this line and every later one are
/// dropped, and the command finishes as if they had been read. Any other
/// failure to write is E_FAIL.
pub fn say(line: impl std::fmt::Display) -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        r => r.map_err(|e| Error::Fail { what: "cannot write to standard output".into(), source: e }),
    }
}

/// A value as JSON (keys sorted: every form goes through
/// `serde_json::Value`); a failure is E_FAIL, never a silently missing
/// field.
pub fn json(what: &str, v: &impl serde::Serialize) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Fail { what: format!("cannot write {what} as JSON"), source: e.into() })
}

/// The error of one target, for `--json` output.
pub fn error_json(target: &Path, e: &Error) -> serde_json::Value {
    serde_json::json!({"target": jsonpath::value(target), "error": e.json()})
}

/// With `--json`, a failure of a command on `target` is a line of its
/// own too ([`error_json`]), as `status --json` and `burn --json` say
/// theirs; the message still goes to standard error and the exit code
/// is the error's.
pub fn failure_in_json(json: bool, target: &Path, r: Result<u8, Error>) -> Result<u8, Error> {
    if let (true, Err(e)) = (json, &r) {
        let _ = say(error_json(target, e));
    }
    r
}

/// `{"target": ..., "action": ..., "ok": true}` for `eject` and `tray`.
pub fn action_json(target: &Path, action: &str) -> serde_json::Value {
    serde_json::json!({"target": jsonpath::value(target), "action": action, "ok": true})
}

/// `status`: `TARGET: free` or `TARGET: held by OWNER since TIME`, then
/// the mounts.
pub fn status_line(t: &Path, s: &AccessStatus) -> String {
    let mut line = format!("{}: ", t.display());
    match &s.owner {
        Some(o) => line.push_str(&o.held_by()),
        None => line.push_str("free"),
    }
    if !s.mounts.is_empty() {
        line.push_str(&format!(
            "; mounted at {}",
            s.mounts.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    line
}

/// `list`: one line per drive, its links indented below it.
pub fn list_entry(d: &DriveInfo) -> String {
    let ident = match (&d.vendor, &d.product, &d.revision) {
        (Some(v), Some(p), Some(r)) => format!("{v} {p} {r}"),
        _ => format!("(no answer: {})", d.error.as_deref().unwrap_or("?")),
    };
    let sg = d.sg.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into());
    let mut line = format!("{}  {sg}  {ident}  bus {}  tray {}", d.device.display(), d.bus, d.tray);
    if let Some(o) = &d.owner {
        line.push_str(&format!("  held by {o}"));
    }
    if !d.mounts.is_empty() {
        line.push_str(&format!("  mounted at {}", d.mounts.join(", ")));
    }
    for l in &d.links {
        line.push_str(&format!("\n    {}", l.display()));
    }
    line
}

/// `info`'s medium line: type, IMAPI2 state, space, and why it cannot be
/// written.
pub fn medium_line(m: Option<&discrec::medium::Medium>) -> String {
    match m {
        Some(m) => {
            format!(
                "medium:    {:?}, {}; {} of {} sectors free, next writable {}{}{}{}",
                m.physical_type,
                m.state,
                m.free_sectors,
                m.total_sectors,
                m.next_writable_address,
                match (m.sessions, m.previous_session_start) {
                    (0, _) => String::new(),
                    (n, Some(s)) =>
                        format!(", {n} session{} (the last from sector {s})", if n == 1 { "" } else { "s" }),
                    (n, None) => format!(", {n} session{}", if n == 1 { "" } else { "s" }),
                },
                if m.erasable { ", erasable" } else { "" },
                m.why_not.as_deref().map(|w| format!(" ({w})")).unwrap_or_default()
            ) + &match m.write_speeds.as_slice() {
                [] => String::new(),
                speeds => {
                    format!("\nspeeds:    {}", speeds.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(", "))
                }
            }
        }
        None => "medium:    none".into(),
    }
}

/// `info`: one `field: value` line each, then profiles and features.
pub fn info_lines(d: &DriveDetails) -> Vec<String> {
    let i = &d.info;
    let mut out = vec![
        format!("device:    {}", i.device.display()),
        format!("sg:        {}", i.sg.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into())),
        format!(
            "identity:  {} {} {}",
            i.vendor.as_deref().unwrap_or("?"),
            i.product.as_deref().unwrap_or("?"),
            i.revision.as_deref().unwrap_or("?")
        ),
        format!("bus:       {}", i.bus),
        format!("tray:      {}", i.tray),
        format!("profile:   {}", d.current_profile.as_deref().unwrap_or("none (no medium)")),
    ];
    for p in &d.profiles {
        out.push(format!("  supports {} {}{}", p.code, p.name, if p.current { " (current)" } else { "" }));
    }
    for f in &d.features {
        out.push(format!(
            "  feature {:#06x} {}{}",
            f.code,
            f.name.unwrap_or("?"),
            if f.current { " (current)" } else { "" }
        ));
    }
    out.push(format!("can load:  {:?}; can eject: {:?}; can lock: {:?}", d.can_load, d.can_eject, d.can_lock));
    out.push(format!("mode pages: {}", d.mode_pages.join(" ")));
    out.push(medium_line(d.medium.as_ref()));
    out.push(match &i.owner {
        Some(o) => format!("held by:   {o}"),
        None => "held by:   nobody".into(),
    });
    out
}

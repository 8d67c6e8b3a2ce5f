//! `discrec`: the command line over the discrec library. Parsing, printing
//! and exit codes only; every behaviour lives in the library.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use discrec::drive::{DriveDetails, DriveInfo};
use discrec::recorder::Wait;
use discrec::{jsonpath, DriveStatus, Error, Owner, Recorder};

fn exit_codes_help() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, name, what) in discrec::error::EXIT_CODES {
        if name.is_empty() {
            s.push_str(&format!("  {code:>3}  {what}\n"));
        } else {
            s.push_str(&format!("  {code:>3}  {name}: {what}\n"));
        }
    }
    s.push_str(
        "  lock -- COMMAND exits with COMMAND's status (128+N if killed by signal N; 126/127 if it cannot run)\n",
    );
    s
}

#[derive(Parser)]
#[command(name = "discrec", version, about = "Exclusive access to disc recorders: who holds a drive, and keep everyone else off it", after_help = exit_codes_help())]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Hold exclusive access to a recorder, or run COMMAND while holding it
    #[command(after_help = exit_codes_help())]
    Lock(LockArgs),
    /// Print the client name of whoever holds a recorder (exit 1 when free)
    #[command(after_help = exit_codes_help())]
    Owner {
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        /// Drive (/dev/srN, a by-id link, an sg node) or image file
        target: PathBuf,
    },
    /// Show for each recorder whether it is free, held (by whom) or mounted
    #[command(after_help = exit_codes_help())]
    Status {
        /// One JSON object per line, one line per target
        #[arg(long)]
        json: bool,
        /// Drives or image files
        #[arg(required = true)]
        targets: Vec<PathBuf>,
    },
    /// List every recorder: device, sg node, links, vendor, product, revision, bus, tray, mounts, owner
    #[command(after_help = exit_codes_help())]
    List {
        /// One JSON array
        #[arg(long)]
        json: bool,
    },
    /// Everything `list` shows for one drive, plus MMC profiles, features and mode pages
    #[command(after_help = exit_codes_help())]
    Info {
        /// One JSON object
        #[arg(long)]
        json: bool,
        /// Drive (/dev/srN, a by-id link, an sg node)
        target: PathBuf,
    },
    /// Eject the medium, or close the tray with --close (refused while another client holds the drive)
    #[command(after_help = exit_codes_help())]
    Eject {
        /// Close the tray (load) instead
        #[arg(long)]
        close: bool,
        /// Client name for the moment discrec holds the drive
        #[arg(long, default_value = "discrec", value_name = "NAME")]
        client: String,
        /// Print one JSON object when done: target, action, ok
        #[arg(long)]
        json: bool,
        /// Drive
        target: PathBuf,
    },
    /// Lock or unlock the tray (PREVENT ALLOW MEDIUM REMOVAL)
    #[command(after_help = exit_codes_help())]
    Tray {
        /// lock or unlock
        #[arg(value_parser = ["lock", "unlock"])]
        action: String,
        /// Client name for the moment discrec holds the drive
        #[arg(long, default_value = "discrec", value_name = "NAME")]
        client: String,
        /// Print one JSON object when done: target, action, ok
        #[arg(long)]
        json: bool,
        /// Drive
        target: PathBuf,
    },
}

#[derive(Args)]
struct LockArgs {
    /// Unmount file systems mounted from the drive (a busy one stays mounted and is reported)
    #[arg(long)]
    force: bool,
    /// Client name other programs see as the owner (A-Z a-z 0-9 space . , : ; _ -, at most 63)
    #[arg(long, default_value = "discrec", value_name = "NAME")]
    client: String,
    /// Wait for the drive: forever, or at most SECONDS (fractions allowed)
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true, default_missing_value = "inf")]
    wait: Option<String>,
    /// Without COMMAND: print a JSON object instead of `locked TARGET`
    #[arg(long)]
    json: bool,
    /// Say on stderr when the drive is taken, and whom a wait waits for (a terminal always hears that)
    #[arg(long, short)]
    verbose: bool,
    /// Keep the kernel's exclusive claim for COMMAND too (for writers that do not open the drive with O_EXCL themselves, e.g. dd); tools that do (xorriso, growisofs, cdrskin) then fail with EBUSY
    #[arg(long)]
    keep_claim: bool,
    /// Drive (/dev/srN, a by-id link, an sg node) or image file
    target: PathBuf,
    /// Command to become while holding the drive: it keeps the drive as long as it runs, and its stdout, signals and exit status are its own (discrec prints nothing on stdout)
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let r = match cli.cmd {
        Cmd::Lock(a) => lock(a),
        Cmd::Owner { json, target } => owner(json, &target),
        Cmd::Status { json, targets } => status(json, &targets),
        Cmd::List { json } => list(json),
        Cmd::Info { json, target } => info(json, &target),
        Cmd::Eject { close, client, json, target } => eject(close, &client, json, &target),
        Cmd::Tray { action, client, json, target } => tray(&action, &client, json, &target),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Every failure, on stderr: `discrec: MESSAGE (NAME 0xHEX)`. A closed
/// stderr is no reason to panic: the exit code still tells.
fn report(e: &Error) {
    let _ = writeln!(std::io::stderr(), "discrec: {e} ({} 0x{:08X})", e.name(), e.code());
}

/// clap could not parse the command line, or was asked for help or the
/// version. Help and version are printed as clap prints them (exit 0); a
/// usage error is reported like every other failure, as E_INVALIDARG
/// (exit 2), on one line: clap's message and tips, and where to look.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    use clap::CommandFactory;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let cli = Cli::command();
    let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).filter(|n| *n != "help").collect();
    // The top level takes no option with a value: the first word that is
    // not an option is the subcommand.
    let sub = std::env::args().skip(1).find(|a| !a.starts_with('-')).filter(|a| names.contains(&a.as_str()));
    let help = match &sub {
        Some(s) => format!("discrec {s} --help"),
        None => "discrec --help".into(),
    };
    let message = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        format!("no command given (one of {})", names.join(", "))
    } else {
        // clap's text: "error: MESSAGE", indented continuation lines, tips
        // in paragraphs of their own, then usage and a pointer to --help.
        let text = e.render().to_string();
        let mut parts: Vec<String> = Vec::new();
        let (mut new_paragraph, mut skipping) = (true, false);
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() {
                (new_paragraph, skipping) = (true, false);
                continue;
            }
            skipping |= t.starts_with("Usage:") || t.starts_with("For more information");
            if skipping {
                continue;
            }
            match parts.last_mut() {
                Some(last) if !new_paragraph && line.starts_with(char::is_whitespace) => {
                    last.push(' ');
                    last.push_str(t);
                }
                _ => parts.push(t.strip_prefix("error: ").unwrap_or(t).to_string()),
            }
            new_paragraph = false;
        }
        parts.join("; ")
    };
    // `--wait 5`: the value must be attached (`--wait` alone waits forever).
    let args: Vec<String> = std::env::args().collect();
    let wait_hint = args
        .windows(2)
        .find(|w| w[0] == "--wait" && w[1].parse::<f64>().is_ok())
        .map(|w| format!("; to wait at most {0} seconds write --wait={0}", w[1]))
        .unwrap_or_default();
    // `discrec lock IMG cmd`: the command needs `--` before it.
    let dash_hint = if sub.as_deref() == Some("lock")
        && e.kind() == ErrorKind::UnknownArgument
        && !args.iter().any(|a| a == "--")
    {
        "; to run a command while holding the drive, put `--` before it (`discrec lock TARGET -- COMMAND`)"
    } else {
        ""
    };
    let err = Error::InvalidArgument(format!("{message}{wait_hint}{dash_hint}; see `{help}`"));
    report(&err);
    ExitCode::from(err.exit_code())
}

/// Print one line on stdout. A reader that went away (`discrec list |
/// head -1`) ends the output quietly: this line and every later one are
/// dropped, and the command finishes as if they had been read. Any other
/// failure to write is E_FAIL.
fn say(line: impl std::fmt::Display) -> Result<(), Error> {
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

/// A value as JSON; a failure is E_FAIL, never a silently missing field.
fn to_json(what: &str, v: &impl serde::Serialize) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Fail { what: format!("cannot write {what} as JSON"), source: e.into() })
}

fn parse_wait(w: &str) -> Result<Option<Duration>, Error> {
    if w == "inf" {
        return Ok(None);
    }
    w.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(|s| Some(Duration::from_secs_f64(s)))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "--wait={w} is not a number of seconds from 0 to 999999999; write e.g. --wait=2.5, or --wait to wait forever"
            ))
        })
}

fn lock(a: LockArgs) -> Result<u8, Error> {
    let wait = a.wait.as_deref().map(parse_wait).transpose()?;
    if a.command.is_empty() && std::env::args().next_back().as_deref() == Some("--") {
        return Err(Error::InvalidArgument(
            "`--` is not followed by a command; name the command to run, or leave out `--` to just hold the drive"
                .into(),
        ));
    }
    if let (Some("inf"), Some(t)) = (a.wait.as_deref(), a.target.to_str()) {
        // `--wait 5 DRIVE`: clap took 5 for the drive.
        if t.parse::<f64>().is_ok() && !a.target.exists() {
            return Err(Error::InvalidArgument(format!(
                "`--wait {t}` names {t} as the drive; write --wait={t} to wait at most {t} seconds"
            )));
        }
    }
    let mut rec = Recorder::open(&a.target)?;
    // Signals are caught before the lock is taken: while waiting, one ends
    // the wait at once with nothing taken; once held, nothing ends us
    // between acquiring and reporting or running the command.
    let signals =
        StopSignals::install().map_err(|e| Error::Fail { what: "cannot install signal handlers".into(), source: e })?;
    let acquired = match wait {
        None => rec.acquire_exclusive_access(a.force, &a.client),
        Some(timeout) => {
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let verbose = a.verbose;
            let target = a.target.clone();
            let mut tell = |e: &Error| {
                if tty || verbose {
                    let _ =
                        writeln!(std::io::stderr(), "discrec: waiting for {}: {}", target.display(), waiting_for(e));
                }
            };
            let w = Wait { timeout, cancel: Some(signals.fd()), on_wait: Some(&mut tell) };
            rec.acquire_exclusive_access_waiting(a.force, &a.client, w)
        }
    };
    if let Err(e) = acquired {
        if let (Error::Cancelled { .. }, Some(sig)) = (&e, signals.which()) {
            report(&e);
            return Ok(128u8.saturating_add(sig.as_raw() as u8));
        }
        return Err(e);
    }
    for m in rec.volume_still_mounted() {
        let _ = writeln!(std::io::stderr(), "discrec: warning: {m} is busy and still mounted");
    }
    if let Some(e) = rec.owner_record_error() {
        let _ = writeln!(
            std::io::stderr(),
            "discrec: warning: no owner record ({e}); others see the lock without its client name"
        );
    }
    if a.verbose {
        let _ = writeln!(std::io::stderr(), "discrec: locked {} as \"{}\"", a.target.display(), a.client);
    }

    if a.command.is_empty() {
        if a.json {
            say(serde_json::json!({
                "locked": true,
                "target": jsonpath::value(&a.target),
                "node": jsonpath::value(&rec.target().node),
                "client_name": a.client,
                "pid": std::process::id(),
                "volume_still_mounted": rec.volume_still_mounted().iter().map(|m| m.to_string()).collect::<Vec<_>>(),
                "owner_record_error": rec.owner_record_error(),
            }))?;
        } else {
            say(format_args!("locked {}", a.target.display()))?;
        }
        // Hold until told to stop.
        signals.wait();
        rec.release_exclusive_access()?;
        return Ok(0);
    }
    run_holding(rec, &a)
}

/// Become COMMAND, holding the drive (README: "Wrapping a tool"). The
/// lock, the record's lock and (with --keep-claim) the kernel claim are
/// kept across `exec`, so they last exactly as long as COMMAND runs, under
/// this pid and client name, whoever kills whom; stdout, stdin, signals
/// and the exit status are COMMAND's own. A detached process tells udev
/// the medium changed once COMMAND is gone (spec C11).
fn run_holding(mut rec: Recorder, a: &LockArgs) -> Result<u8, Error> {
    if !a.keep_claim {
        rec.hand_over_claim()?;
    }
    discrec::notify::media_changed_when_this_process_ends(rec.target());
    rec.keep_across_exec()?;
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new(&a.command[0]).args(&a.command[1..]).exec();
    // Still here: COMMAND could not be run. The lock goes with `rec`.
    let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
    report(&Error::Fail { what: format!("cannot run {} (exit {code})", a.command[0]), source: e });
    Ok(code)
}

/// Who is in the way, for the waiting line on a terminal.
fn waiting_for(e: &Error) -> String {
    match e {
        Error::RecorderLocked { owner, .. } => {
            let mut s = format!("held by {owner}");
            if let Some(since) = owner.since {
                s.push_str(&format!(" since {}", humantime::format_rfc3339_seconds(since)));
            }
            s
        }
        other => other.to_string(),
    }
}

/// SIGINT, SIGTERM and SIGHUP, caught into one pipe (signal-hook writes a
/// byte from the handler) and a flag each, so that `lock` can wait for
/// them with `poll` and the library can end a wait on them.
struct StopSignals {
    pipe: UnixStream,
    flags: [(rustix::process::Signal, std::sync::Arc<std::sync::atomic::AtomicBool>); 3],
}

impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        use rustix::process::Signal;
        let (rd, wr) = UnixStream::pair()?;
        rd.set_nonblocking(true)?;
        let flags = [Signal::TERM, Signal::HUP, Signal::INT].map(|s| (s, Default::default()));
        for (sig, flag) in &flags {
            signal_hook::flag::register(sig.as_raw(), std::sync::Arc::clone(flag))?;
            signal_hook::low_level::pipe::register(sig.as_raw(), wr.try_clone()?)?;
        }
        Ok(StopSignals { pipe: rd, flags })
    }

    /// Readable once a signal came.
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.pipe)
    }

    /// The signal that came, if one did.
    fn which(&self) -> Option<rustix::process::Signal> {
        self.flags.iter().find(|(_, f)| f.load(std::sync::atomic::Ordering::SeqCst)).map(|(s, _)| *s)
    }

    /// Block until a signal comes.
    fn wait(&self) {
        use rustix::event::{poll, PollFd, PollFlags};
        loop {
            let mut fds = [PollFd::new(&self.pipe, PollFlags::IN)];
            if matches!(poll(&mut fds, None), Ok(n) if n > 0) {
                let mut buf = [0u8; 16];
                while matches!((&self.pipe).read(&mut buf), Ok(n) if n > 0) {}
                return;
            }
        }
    }
}

fn owner_json(o: Option<&Owner>) -> serde_json::Value {
    match o {
        Some(o) => {
            let mut v = serde_json::to_value(o).unwrap_or_default();
            v["locked"] = true.into();
            v
        }
        None => {
            serde_json::json!({"locked": false, "client_name": null, "pid": null, "uid": null, "user": null, "since": null, "by_discrec": false, "command": null})
        }
    }
}

fn owner(json: bool, target: &Path) -> Result<u8, Error> {
    let rec = Recorder::open(target)?;
    let o = rec.exclusive_access_owner()?;
    if json {
        say(owner_json(o.as_ref()))?;
    } else if let Some(o) = &o {
        say(o.display_name())?;
    }
    Ok(if o.is_some() { 0 } else { 1 })
}

/// The error of one target, for `--json` output.
fn error_json(target: &Path, e: &Error) -> serde_json::Value {
    serde_json::json!({
        "target": jsonpath::value(target),
        "error": {"name": e.name(), "code": e.code(), "message": e.to_string()},
    })
}

/// A mount for `--json`: its mount point written as every path is
/// (`discrec::jsonpath`), then what its text form adds after it.
fn mount_json(m: &discrec::mounts::Mount) -> String {
    let text = m.to_string();
    match text.strip_prefix(&m.mount_point.display().to_string()) {
        Some(rest) => format!("{}{rest}", jsonpath::encode(&m.mount_point)),
        None => text,
    }
}

fn status_json(s: &DriveStatus) -> Result<serde_json::Value, Error> {
    let mut v = to_json(&format!("the status of {}", s.target.display()), s)?;
    v["owner"] = owner_json(s.owner.as_ref());
    v["mounts"] = s.mounts.iter().map(mount_json).collect::<Vec<_>>().into();
    Ok(v)
}

fn status_line(t: &Path, s: &DriveStatus) -> String {
    let mut line = format!("{}: ", t.display());
    match &s.owner {
        Some(o) => {
            line.push_str(&format!("held by {o}"));
            if let Some(since) = o.since {
                line.push_str(&format!(" since {}", humantime::format_rfc3339_seconds(since)));
            }
        }
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

/// One line per target. A target that fails is reported (once, on stderr;
/// with `--json` also as a line naming it) and the others still go; the
/// exit code is the first failure's.
fn status(json: bool, targets: &[PathBuf]) -> Result<u8, Error> {
    let mut code = 0;
    for t in targets {
        match Recorder::open(t).and_then(|r| r.status()) {
            Ok(s) if json => say(status_json(&s)?)?,
            Ok(s) => say(status_line(t, &s))?,
            Err(e) => {
                if json {
                    say(error_json(t, &e))?;
                }
                report(&e);
                if code == 0 {
                    code = e.exit_code();
                }
            }
        }
    }
    Ok(code)
}

/// A drive's `list` fields as JSON, its paths written as every path is
/// (`discrec::jsonpath`). `DriveDetails` flattens these fields, so this
/// serves `info` too.
fn drive_json(what: &str, v: &impl serde::Serialize, i: &DriveInfo) -> Result<serde_json::Value, Error> {
    let mut v = to_json(what, v)?;
    v["device"] = jsonpath::value(&i.device);
    v["sg"] = i.sg.as_deref().map(jsonpath::value).unwrap_or_default();
    v["links"] = i.links.iter().map(|l| jsonpath::value(l)).collect::<Vec<_>>().into();
    Ok(v)
}

/// `i` without its paths, which serde could only write when they are
/// UTF-8; [`drive_json`] puts them back.
fn without_paths(i: &DriveInfo) -> DriveInfo {
    DriveInfo { device: PathBuf::new(), sg: None, links: Vec::new(), ..i.clone() }
}

fn list(json: bool) -> Result<u8, Error> {
    let drives: Vec<DriveInfo> = discrec::drive::recorder_paths()
        .iter()
        .filter_map(|p| Recorder::open(p).ok())
        .map(|r| r.drive_info())
        .collect();
    if json {
        let all = drives
            .iter()
            .map(|d| drive_json(&format!("{}", d.device.display()), &without_paths(d), d))
            .collect::<Result<Vec<_>, _>>()?;
        say(serde_json::Value::from(all))?;
        return Ok(0);
    }
    if drives.is_empty() {
        say("no recorders (nothing in /sys/class/block/sr*)")?;
    }
    for d in &drives {
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
        say(line)?;
    }
    Ok(0)
}

fn info(json: bool, target: &Path) -> Result<u8, Error> {
    let d = Recorder::open(target)?.drive_details()?;
    if json {
        let bare = DriveDetails { info: without_paths(&d.info), ..d.clone() };
        say(drive_json(&format!("{}", target.display()), &bare, &d.info)?)?;
        return Ok(0);
    }
    let i = &d.info;
    say(format_args!("device:    {}", i.device.display()))?;
    say(format_args!("sg:        {}", i.sg.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into())))?;
    say(format_args!(
        "identity:  {} {} {}",
        i.vendor.as_deref().unwrap_or("?"),
        i.product.as_deref().unwrap_or("?"),
        i.revision.as_deref().unwrap_or("?")
    ))?;
    say(format_args!("bus:       {}", i.bus))?;
    say(format_args!("tray:      {}", i.tray))?;
    say(format_args!("profile:   {}", d.current_profile.as_deref().unwrap_or("none (no medium)")))?;
    for p in &d.profiles {
        say(format_args!("  supports {} {}{}", p.code, p.name, if p.current { " (current)" } else { "" }))?;
    }
    for f in &d.features {
        say(format_args!(
            "  feature {:#06x} {}{}",
            f.code,
            f.name.unwrap_or("?"),
            if f.current { " (current)" } else { "" }
        ))?;
    }
    say(format_args!("can load:  {:?}; can eject: {:?}; can lock: {:?}", d.can_load, d.can_eject, d.can_lock))?;
    say(format_args!("mode pages: {}", d.mode_pages.join(" ")))?;
    match &i.owner {
        Some(o) => say(format_args!("held by:   {o}"))?,
        None => say("held by:   nobody")?,
    }
    Ok(0)
}

/// `{"target": ..., "action": ..., "ok": true}` for `eject` and `tray`.
fn action_json(target: &Path, action: &str) -> serde_json::Value {
    serde_json::json!({"target": jsonpath::value(target), "action": action, "ok": true})
}

fn eject(close: bool, client: &str, json: bool, target: &Path) -> Result<u8, Error> {
    let mut rec = Recorder::open(target)?;
    if close {
        rec.close_tray(client)?;
    } else {
        rec.eject(client)?;
    }
    if json {
        say(action_json(target, if close { "close" } else { "eject" }))?;
    }
    Ok(0)
}

fn tray(action: &str, client: &str, json: bool, target: &Path) -> Result<u8, Error> {
    Recorder::open(target)?.set_tray_locked(client, action == "lock")?;
    if json {
        say(action_json(target, action))?;
    }
    Ok(0)
}

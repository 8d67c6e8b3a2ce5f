//! `discrec`: the command line over the discrec library. Parsing, printing
//! and exit codes only; every behaviour lives in the library.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use discrec::{Error, Owner, Recorder};

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
    /// Print a JSON object instead of `locked TARGET`
    #[arg(long)]
    json: bool,
    /// Drive (/dev/srN, a by-id link, an sg node) or image file
    target: PathBuf,
    /// Command to run while holding the drive
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Lock(a) => lock(a),
        Cmd::Owner { json, target } => owner(json, &target),
        Cmd::Status { json, targets } => status(json, &targets),
        Cmd::List { json } => list(json),
        Cmd::Info { json, target } => info(json, &target),
        Cmd::Eject { close, client, target } => Recorder::open(&target)
            .and_then(|mut r| if close { r.close_tray(&client) } else { r.eject(&client) })
            .map(|()| 0),
        Cmd::Tray { action, client, target } => {
            Recorder::open(&target).and_then(|mut r| r.set_tray_locked(&client, action == "lock")).map(|()| 0)
        }
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn report(e: &Error) {
    eprintln!("discrec: {e} ({} 0x{:08X})", e.name(), e.code());
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
                "--wait={w} is not a number of seconds; write e.g. --wait=2.5, or --wait to wait forever"
            ))
        })
}

fn lock(a: LockArgs) -> Result<u8, Error> {
    let wait = a.wait.as_deref().map(parse_wait).transpose()?;
    let mut rec = Recorder::open(&a.target)?;
    // Signals are caught before the lock is taken, so that none of them can
    // end us between acquiring and printing or running the command.
    let signals =
        StopSignals::install().map_err(|e| Error::Fail { what: "cannot install signal handlers".into(), source: e })?;
    match wait {
        None => rec.acquire_exclusive_access(a.force, &a.client)?,
        Some(t) => rec.acquire_exclusive_access_wait(a.force, &a.client, t)?,
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        let v = serde_json::json!({
            "locked": true,
            "target": a.target,
            "node": rec.target().node,
            "client_name": a.client,
            "pid": std::process::id(),
            "volume_still_mounted": rec.volume_still_mounted().iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            "owner_record_error": rec.owner_record_error(),
        });
        let _ = writeln!(out, "{v}");
    } else {
        let _ = writeln!(out, "locked {}", a.target.display());
        for m in rec.volume_still_mounted() {
            eprintln!("discrec: warning: {m} is busy and still mounted");
        }
    }
    if let Some(e) = rec.owner_record_error() {
        eprintln!("discrec: warning: no owner record ({e}); others see the lock without its client name");
    }
    let _ = out.flush();
    drop(out);

    if a.command.is_empty() {
        // Hold until told to stop.
        signals.wait(None);
        rec.release_exclusive_access()?;
        return Ok(0);
    }
    // Hand the kernel claim to the command, keep the lock (README: "Wrapping a tool").
    rec.hand_over_claim()?;
    let mut child = match std::process::Command::new(&a.command[0]).args(&a.command[1..]).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("discrec: cannot run {}: {e}", a.command[0]);
            return Ok(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
        }
    };
    // Wait for the command; pass SIGTERM and SIGHUP on to it, so that a
    // `kill` of discrec stops the command too (SIGINT from a terminal
    // reaches it by itself). No thread: poll the command's pidfd and the
    // signal pipes.
    if let Some(pidfd) = rustix::process::Pid::from_raw(child.id() as i32)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
    {
        while let Some(sig) = signals.wait(Some(&pidfd)) {
            if let Some(s) = sig {
                let _ = rustix::process::pidfd_send_signal(&pidfd, s);
            }
        }
    }
    let status = child.wait().map_err(|e| Error::Fail { what: format!("waiting for {}", a.command[0]), source: e })?;
    rec.release_exclusive_access()?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => 128u8.saturating_add(s as u8),
        _ => 1,
    })
}

/// SIGINT, SIGTERM and SIGHUP, caught into pipes (signal-hook writes a
/// byte from the handler), so that `lock` can wait for them with `poll`.
struct StopSignals {
    int: UnixStream,
    term: UnixStream,
    hup: UnixStream,
}

impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        let pipe = |sig| -> std::io::Result<UnixStream> {
            let (rd, wr) = UnixStream::pair()?;
            rd.set_nonblocking(true)?;
            signal_hook::low_level::pipe::register(sig, wr)?;
            Ok(rd)
        };
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        Ok(StopSignals { int: pipe(SIGINT)?, term: pipe(SIGTERM)?, hup: pipe(SIGHUP)? })
    }

    /// Block until a signal comes or `until` (a pidfd) becomes readable.
    /// `None`: `until` is ready. `Some(sig)`: a signal came; `sig` is the
    /// one to pass on (`None` for SIGINT).
    fn wait(&self, until: Option<&rustix::fd::OwnedFd>) -> Option<Option<rustix::process::Signal>> {
        use rustix::event::{poll, PollFd, PollFlags};
        loop {
            let mut fds = vec![
                PollFd::new(&self.int, PollFlags::IN),
                PollFd::new(&self.term, PollFlags::IN),
                PollFd::new(&self.hup, PollFlags::IN),
            ];
            if let Some(u) = until {
                fds.push(PollFd::new(u, PollFlags::IN));
            }
            if poll(&mut fds, None).is_err() {
                continue; // EINTR
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            drop(fds);
            let mut buf = [0u8; 16];
            for (i, s) in [&self.int, &self.term, &self.hup].into_iter().enumerate() {
                if ready[i] {
                    while matches!((&*s).read(&mut buf), Ok(n) if n > 0) {}
                }
            }
            if ready[1] {
                return Some(Some(rustix::process::Signal::TERM));
            }
            if ready[2] {
                return Some(Some(rustix::process::Signal::HUP));
            }
            if ready[0] {
                return Some(None);
            }
            if ready.get(3) == Some(&true) {
                return None;
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

fn owner(json: bool, target: &PathBuf) -> Result<u8, Error> {
    let rec = Recorder::open(target)?;
    let o = rec.exclusive_access_owner()?;
    if json {
        println!("{}", owner_json(o.as_ref()));
    } else if let Some(o) = &o {
        println!("{}", o.display_name());
    }
    Ok(if o.is_some() { 0 } else { 1 })
}

fn status(json: bool, targets: &[PathBuf]) -> Result<u8, Error> {
    let mut first_err: Option<Error> = None;
    for t in targets {
        match Recorder::open(t).and_then(|r| r.status()) {
            Ok(s) => {
                if json {
                    let mut v = serde_json::to_value(&s).unwrap_or_default();
                    v["owner"] = owner_json(s.owner.as_ref());
                    v["mounts"] = s.mounts.iter().map(|m| m.to_string()).collect::<Vec<_>>().into();
                    println!("{v}");
                } else {
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
                    println!("{line}");
                }
            }
            Err(e) => {
                report(&e);
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

fn list(json: bool) -> Result<u8, Error> {
    let drives: Vec<discrec::drive::DriveInfo> = discrec::drive::recorder_paths()
        .iter()
        .filter_map(|p| Recorder::open(p).ok())
        .map(|r| r.drive_info())
        .collect();
    if json {
        println!("{}", serde_json::to_string(&drives).unwrap_or_default());
        return Ok(0);
    }
    if drives.is_empty() {
        println!("no recorders (nothing in /sys/class/block/sr*)");
    }
    for d in &drives {
        let ident = match (&d.vendor, &d.product, &d.revision) {
            (Some(v), Some(p), Some(r)) => format!("{v} {p} {r}"),
            _ => format!("(no answer: {})", d.error.as_deref().unwrap_or("?")),
        };
        let sg = d.sg.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into());
        let mut line = format!("{}  {sg}  {ident}  bus {}  tray {:?}", d.device.display(), d.bus, d.tray);
        if let Some(o) = &d.owner {
            line.push_str(&format!("  held by {o}"));
        }
        if !d.mounts.is_empty() {
            line.push_str(&format!("  mounted at {}", d.mounts.join(", ")));
        }
        for l in &d.links {
            line.push_str(&format!("\n    {}", l.display()));
        }
        println!("{line}");
    }
    Ok(0)
}

fn info(json: bool, target: &PathBuf) -> Result<u8, Error> {
    let d = Recorder::open(target)?.drive_details()?;
    if json {
        println!("{}", serde_json::to_string(&d).unwrap_or_default());
        return Ok(0);
    }
    let i = &d.info;
    println!("device:    {}", i.device.display());
    println!("sg:        {}", i.sg.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into()));
    println!(
        "identity:  {} {} {}",
        i.vendor.as_deref().unwrap_or("?"),
        i.product.as_deref().unwrap_or("?"),
        i.revision.as_deref().unwrap_or("?")
    );
    println!("bus:       {}", i.bus);
    println!("tray:      {:?}", i.tray);
    println!("profile:   {}", d.current_profile.as_deref().unwrap_or("none (no medium)"));
    for p in &d.profiles {
        println!("  supports {} {}{}", p.code, p.name, if p.current { " (current)" } else { "" });
    }
    for f in &d.features {
        println!("  feature {:#06x} {}{}", f.code, f.name.unwrap_or("?"), if f.current { " (current)" } else { "" });
    }
    println!("can load:  {:?}; can eject: {:?}; can lock: {:?}", d.can_load, d.can_eject, d.can_lock);
    println!("mode pages: {}", d.mode_pages.join(" "));
    match &i.owner {
        Some(o) => println!("held by:   {o}"),
        None => println!("held by:   nobody"),
    }
    Ok(0)
}

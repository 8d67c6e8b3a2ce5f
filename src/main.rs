//! `discrec`: the command line over the discrec library. Parsing, printing
//! and exit codes only; every behaviour lives in the library.

use std::io::Write;
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
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(|e| Error::Fail { what: "cannot install signal handlers".into(), source: e })?;
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
        let _ = signals.forever().next();
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
    let pid = child.id() as i32;
    let handle = signals.handle();
    let fwd = std::thread::spawn(move || {
        for sig in signals.forever() {
            // SIGINT from a terminal reaches the command by itself; pass on
            // the others so that `kill` of discrec stops the command too.
            if sig != signal_hook::consts::SIGINT {
                if let Some(p) = rustix::process::Pid::from_raw(pid) {
                    let s = if sig == signal_hook::consts::SIGTERM {
                        rustix::process::Signal::TERM
                    } else {
                        rustix::process::Signal::HUP
                    };
                    let _ = rustix::process::kill_process(p, s);
                }
            }
        }
    });
    let status = child.wait().map_err(|e| Error::Fail { what: format!("waiting for {}", a.command[0]), source: e })?;
    handle.close();
    let _ = fwd.join();
    rec.release_exclusive_access()?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => 128u8.saturating_add(s as u8),
        _ => 1,
    })
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

//! The `discrec` command line over the discrec library: argument parsing
//! ([`args`]) and output (`output`), plus what only a program with a
//! terminal does: catching signals while it waits or holds a drive, and
//! telling whom it waits for. Every decision about drives and locks is the
//! library's (`lock -- COMMAND` under a cluster lock is
//! `Recorder::run_holding`). Kept as a library target so that tools (man
//! pages, shell completions) can reach the clap definitions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use discrec::recorder::Wait;
use discrec::{jsonpath, Error, Owner, Recorder, WaitPolicy};

pub mod args;
mod burn;
pub mod cluster;
mod output;
mod signals;

use args::{Cli, ClusterArgs, Cmd, LockArgs};
use output::{note, report, say};
use signals::StopSignals;

/// Run the command line on this process's arguments; the exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            return match args::usage_error(&e) {
                None => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                Some(err) => {
                    report(&err);
                    ExitCode::from(err.exit_code())
                }
            };
        }
    };
    let r = match cli.cmd {
        Cmd::Lock(a) => lock(a),
        Cmd::Owner { json, cluster, target } => owner(json, &cluster, &target),
        Cmd::Status { json, cluster, targets } => status(json, &cluster, &targets),
        Cmd::List { json, cluster } => list(json, &cluster),
        Cmd::Info { json, target } => output::failure_in_json(json, &target, info(json, &target)),
        Cmd::Eject { close, client, json, target } => {
            output::failure_in_json(json, &target, eject(close, &client, json, &target))
        }
        Cmd::Tray { action, client, json, target } => {
            output::failure_in_json(json, &target, tray(&action, &client, json, &target))
        }
        Cmd::Guard { cluster, target } => cluster::guard(&cluster, &target),
        Cmd::Burn(a) => burn::burn(&a),
        Cmd::Erase { full, client, json, wait, cluster, target } => {
            burn::erase(&burn::EraseArgs { full, client, json, wait, cluster, target })
        }
        Cmd::UdevProperties { target } => udev_properties(&target),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Open a recorder, sharing it through etcd when `--cluster` or
/// `$DISCREC_ETCD` names one (no etcd code runs otherwise).
pub(crate) fn open(target: &Path, cluster: &ClusterArgs, ttl: Option<u64>) -> Result<Recorder, Error> {
    // The cluster options first: a build without the cluster lock becomes
    // the one with it here, before anything is opened.
    let cfg = cluster::config(cluster, ttl)?;
    let mut rec = Recorder::open(target)?;
    if let Some(cfg) = cfg {
        cluster::attach(&mut rec, cfg, cluster.cluster_key.clone())?;
    }
    Ok(rec)
}

/// Poll period for a lost cluster lock while holding.
const LOST_POLL: Duration = Duration::from_millis(100);

/// `discrec lock`: take the drive (waiting as `--wait` says, a signal
/// ending the wait), then run COMMAND holding it, or hold it until told
/// to stop.
fn lock(a: LockArgs) -> Result<u8, Error> {
    let wait = a.wait()?;
    output::offers_wait(wait.waits());
    let mut rec = open(&a.target, &a.cluster.conn, a.cluster.cluster_ttl)?;
    // Signals are caught before the lock is taken: while waiting, one ends
    // the wait at once with nothing taken; once held, nothing ends us
    // between acquiring and reporting or running the command.
    let signals =
        StopSignals::install().map_err(|e| Error::Fail { what: "cannot install signal handlers".into(), source: e })?;
    if let Err(e) = take(&a, &mut rec, wait, &signals) {
        if let (Error::Cancelled { .. }, Some(sig)) = (&e, signals.which()) {
            report(&e);
            return Ok(128u8.saturating_add(sig.as_raw() as u8));
        }
        return Err(e);
    }
    for m in rec.volume_still_mounted() {
        note(format_args!("warning: {m} is busy and still mounted"));
    }
    if let Some(e) = rec.owner_record_error() {
        note(format_args!("warning: no owner record ({e}); others see the lock without its client name"));
    }
    if a.verbose {
        note(format_args!("locked {} as \"{}\"", a.target.display(), a.client));
    }
    match a.command.split_first() {
        Some((program, args)) => run_command(&a, rec, program, args, &signals),
        None => hold(&a, rec, &signals),
    }
}

/// Acquire the drive for `lock`, telling a waiter on a terminal (or with
/// `--verbose`) whom it waits for.
fn take(a: &LockArgs, rec: &mut Recorder, wait: WaitPolicy, signals: &StopSignals) -> Result<(), Error> {
    if wait == WaitPolicy::NoWait {
        rec.acquire_exclusive_access(a.force, &a.client)?;
        // A signal while the hold was announced to udev (up to seconds):
        // as for a wait, it ends the acquire with nothing taken.
        if signals.which().is_some() {
            rec.release_exclusive_access()?;
            return Err(Error::Cancelled { target: a.target.clone() });
        }
        return Ok(());
    }
    let tell_waits = std::io::IsTerminal::is_terminal(&std::io::stderr()) || a.verbose;
    let mut tell = |e: &Error| {
        if tell_waits {
            note(format_args!("waiting for {}: {}", a.target.display(), e.in_the_way()));
        }
    };
    let w = Wait { timeout: wait.timeout(), cancel: Some(signals.fd()), on_wait: Some(&mut tell) };
    rec.wait_for_exclusive_access(a.force, &a.client, w)
}

/// `lock TARGET -- COMMAND`: become COMMAND holding the drive
/// (docs/design.md, "Wrapping a tool"); under a cluster lock, run it as
/// a child instead and pass its status on.
fn run_command(
    a: &LockArgs,
    mut rec: Recorder,
    program: &str,
    args: &[String],
    signals: &StopSignals,
) -> Result<u8, Error> {
    let mut command = std::process::Command::new(program);
    command.args(args);
    if rec.fencing_token().is_none() {
        // Back only if COMMAND could not be run; the drive is released.
        return Err(rec.exec_holding(&mut command, a.keep_claim));
    }
    // A cluster lock lives in this process's lease keep-alive, which exec
    // would end: COMMAND runs as a child instead (dying with this
    // process), stopped with everything it started once the lock is lost,
    // and the drive is released when it ends. SIGTERM and SIGHUP sent to
    // us are COMMAND's, as they would be if we had become it. (SIGINT from
    // a terminal reaches COMMAND's process group by itself; passed on, it
    // would come twice.)
    let mut forward = || {
        if !signals.wait_for(Duration::ZERO) {
            return None;
        }
        signals.take().filter(|s| *s != rustix::process::Signal::INT)
    };
    let status = rec.run_holding(&mut command, a.keep_claim, &mut forward);
    rec.release_exclusive_access()?;
    use std::os::unix::process::ExitStatusExt;
    let status = status?;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => 128u8.saturating_add(s as u8),
        _ => 1,
    })
}

/// `lock TARGET`: say so, then hold the drive until a signal, or until
/// the cluster lock is lost.
fn hold(a: &LockArgs, mut rec: Recorder, signals: &StopSignals) -> Result<u8, Error> {
    if a.json {
        say(serde_json::json!({
            "locked": true,
            "target": jsonpath::value(&a.target),
            "node": jsonpath::value(&rec.target().node),
            "client_name": a.client,
            "pid": std::process::id(),
            "volume_still_mounted": rec.volume_still_mounted().iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            "owner_record_error": rec.owner_record_error(),
            "fencing_token": rec.fencing_token(),
        }))?;
    } else {
        say(format_args!("locked {}", a.target.display()))?;
    }
    let held = if rec.fencing_token().is_some() {
        loop {
            if signals.wait_for(LOST_POLL) {
                break Ok(());
            }
            if let Err(e) = rec.check_cluster_lock() {
                break Err(e);
            }
        }
    } else {
        signals.wait();
        Ok(())
    };
    rec.release_exclusive_access()?;
    held.map(|()| 0)
}

fn owner(json: bool, cluster: &ClusterArgs, target: &Path) -> Result<u8, Error> {
    let o = open(target, cluster, None)?.exclusive_access_owner()?;
    if json {
        say(Owner::answer_json(o.as_ref()))?;
    } else if let Some(o) = &o {
        say(o.display_name())?;
    }
    Ok(if o.is_some() { 0 } else { 1 })
}

/// One line per target. A target that fails is reported (once, on stderr;
/// with `--json` also as a line naming it) and the others still go; the
/// exit code is the first failure's.
fn status(json: bool, cluster: &ClusterArgs, targets: &[PathBuf]) -> Result<u8, Error> {
    if cluster.cluster_key.is_some() && targets.len() > 1 {
        return Err(Error::InvalidArgument(
            "--cluster-key names one drive, but status got several targets; ask one at a time".into(),
        ));
    }
    let mut code = 0;
    for t in targets {
        match open(t, cluster, None).and_then(|r| r.status()) {
            Ok(s) if json => say(output::json(&format!("the status of {}", s.target.display()), &s)?)?,
            Ok(s) => say(output::status_line(t, &s))?,
            Err(e) => {
                if json {
                    say(output::error_json(t, &e))?;
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

fn list(json: bool, cluster: &ClusterArgs) -> Result<u8, Error> {
    let drives = if cluster::config(cluster, None)?.is_some() {
        if cluster.cluster_key.is_some() {
            return Err(Error::InvalidArgument(
                "list takes each drive's cluster key from its identity; --cluster-key names one drive (use owner or status)"
                    .into(),
            ));
        }
        // Each drive shared through etcd; one without an identity is shown
        // as this host sees it, and an etcd out of reach is an error.
        let mut drives = Vec::new();
        for p in discrec::drive::recorder_paths() {
            let Ok(mut rec) = Recorder::open(&p) else { continue };
            if let Some(cfg) = cluster::config(cluster, None)? {
                match cluster::attach(&mut rec, cfg, None) {
                    Ok(()) | Err(Error::InvalidArgument(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            drives.push(rec.drive_info());
        }
        drives
    } else {
        discrec::drive::list()
    };
    if json {
        say(output::json("the drive list", &drives)?)?;
        return Ok(0);
    }
    if drives.is_empty() {
        say("no recorders (nothing in /sys/class/block/sr*)")?;
    }
    for d in &drives {
        say(output::list_entry(d))?;
    }
    Ok(0)
}

fn info(json: bool, target: &Path) -> Result<u8, Error> {
    let rec = Recorder::open(target)?;
    if rec.target().kind == discrec::TargetKind::File || !discrec::medium::is_optical(rec.target()) {
        // A virtual recorder, or a block device that is not an optical
        // drive (a loop device, a USB stick), has no drive to describe:
        // its medium.
        let m = rec.medium()?;
        if json {
            let mut v = serde_json::json!({"device": jsonpath::value(&rec.target().node)});
            v["medium"] = output::json("the medium", &m)?;
            say(v)?;
        } else {
            say(format_args!("image:     {}", rec.target().node.display()))?;
            say(output::medium_line(Some(&m)))?;
        }
        return Ok(0);
    }
    let d = rec.drive_details()?;
    if json {
        say(output::json(&target.display().to_string(), &d)?)?;
        return Ok(0);
    }
    for line in output::info_lines(&d) {
        say(line)?;
    }
    Ok(0)
}

fn eject(close: bool, client: &str, json: bool, target: &Path) -> Result<u8, Error> {
    let mut rec = Recorder::open(target)?;
    if close {
        rec.close_tray(client)?;
    } else {
        rec.eject(client)?;
    }
    if json {
        say(output::action_json(target, if close { "close" } else { "eject" }))?;
    }
    Ok(0)
}

fn tray(action: &str, client: &str, json: bool, target: &Path) -> Result<u8, Error> {
    Recorder::open(target)?.set_tray_locked(client, action == "lock")?;
    if json {
        say(output::action_json(target, action))?;
    }
    Ok(0)
}

/// `discrec udev-properties TARGET`: `KEY=VALUE` lines, as udev's
/// `IMPORT{program}` reads them.
fn udev_properties(target: &Path) -> Result<u8, Error> {
    for (k, v) in discrec::udev::properties(target)? {
        say(format!("{k}={v}"))?;
    }
    Ok(0)
}

//! `discrec burn`: a [`DataWriter`] with a progress bar (a terminal), one
//! JSON object per update (`--json`), or nothing but the result; SIGINT,
//! SIGTERM and SIGHUP cancel the write. `discrec erase`: an [`Eraser`],
//! shown the same ways (a drive blanking or formatting cannot be stopped:
//! a signal ends discrec, the drive finishes on its own).

use std::path::Path;

use discrec::erase::EraseProgress;
use discrec::writer::{Progress, WriteAction, WriteReport};
use discrec::{jsonpath, DataWriter, Eraser, Error, Source};

use crate::args::BurnArgs;
use crate::output::say;
use crate::signals::StopSignals;

/// The source a burn writes when it is standard input; `None` for a path,
/// which the writer opens once the write has begun (a signal while a
/// large tree is read cancels it), checked here for what the options say.
fn source(a: &BurnArgs) -> Result<Option<Source>, Error> {
    // `--append` takes a directory (a missing one is said as a write says it).
    if a.append && (a.source == Path::new("-") || a.source.exists() && !a.source.is_dir()) {
        let what = match a.source == Path::new("-") {
            true => "standard input".to_string(),
            false => discrec::writer::shown(&a.source),
        };
        return Err(discrec::writer::not_a_directory_to_add(&what));
    }
    if a.source == Path::new("-") {
        let size = a.size.ok_or_else(|| {
            Error::InvalidArgument(
                "a SOURCE of `-` (standard input) needs its size: --size BYTES (a multiple of 2048)".into(),
            )
        })?;
        return Source::stream("standard input", std::io::stdin(), size).map(Some);
    }
    if a.size.is_some() {
        return Err(Error::InvalidArgument(format!(
            "--size is for a SOURCE of `-`; {} has a size of its own",
            a.source.display()
        )));
    }
    match &a.volume {
        Some(_) if !a.source.is_dir() => Err(Error::InvalidArgument(format!(
            "--volume names the image made of a directory; {} is not one",
            a.source.display()
        ))),
        _ => Ok(None),
    }
}

fn progress_bar(sectors: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(sectors * 2048);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {percent:>3}% {bytes_per_sec:>11} {eta:>4} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

pub fn burn(a: &BurnArgs) -> Result<u8, Error> {
    said_in_json(a.json, run(a))
}

/// With --json a failure is a line of its own too, as in `status --json`.
fn said_in_json(json: bool, r: Result<u8, Error>) -> Result<u8, Error> {
    if let (true, Err(e)) = (json, &r) {
        let _ = say(serde_json::json!({"error": e.json()}));
    }
    r
}

fn run(a: &BurnArgs) -> Result<u8, Error> {
    // Mistakes in the options first, then the target and the client name:
    // each is reported before a directory is read.
    let speed = a.speed.parse()?;
    let writer = DataWriter::new(crate::open(&a.target, &a.cluster.conn, a.cluster.cluster_ttl)?);
    writer.set_client_name(&a.client)?;
    writer.set_verify(!a.no_verify)?;
    writer.set_force_media_to_be_closed(a.close)?;
    writer.set_force_overwrite(a.overwrite)?;
    writer.set_write_speed(speed)?;
    crate::output::offers_wait(a.wait.is_some());
    writer.set_wait(crate::args::wait_policy(a.wait.as_deref())?)?;
    let source = source(a)?;
    let signals =
        StopSignals::install().map_err(|e| Error::Fail { what: "cannot install signal handlers".into(), source: e })?;

    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Its length comes with the first update (a directory is read first).
    let bar = (tty && !a.json).then(|| progress_bar(source.as_ref().map_or(0, |s| s.sectors())));
    // Updates go to a printer thread through a one-slot channel and are
    // dropped while it is busy: a stdout nobody reads can stall the
    // printing, never the write or its cancel.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Progress>(1);
    let mut update = |p: &Progress| {
        let _ = tx.try_send(p.clone());
    };
    let json = a.json;
    let printer_bar = bar.clone();
    let printer = std::thread::spawn(move || {
        for p in rx {
            if json {
                let _ = say(serde_json::json!({"progress": p}));
            } else if let Some(bar) = &printer_bar {
                show(bar, &p);
            }
        }
    });
    // The watcher sleeps in poll on the signal pipe and on `done`, which
    // the write's end closes: no polling interval adds to a burn's time.
    let (done_rd, done_wr) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| Error::Fail { what: "cannot make a pipe".into(), source: e })?;
    let result = std::thread::scope(|s| {
        // A signal cancels the write: the writer stops at its next buffer.
        // After one, cancel is asked for every 10 ms until the write is
        // over, so one that comes while the write is starting still counts.
        s.spawn(|| {
            use rustix::event::{poll, PollFd, PollFlags, Timespec};
            let sig = signals.fd();
            let mut signalled = false;
            loop {
                let mut fds = [PollFd::new(&sig, PollFlags::IN), PollFd::new(&done_rd, PollFlags::IN)];
                let tick = Timespec { tv_sec: 0, tv_nsec: 10_000_000 };
                let _ = poll(if signalled { &mut fds[1..] } else { &mut fds[..] }, signalled.then_some(&tick));
                if !fds[1].revents().is_empty() {
                    return;
                }
                signalled |= signals.which().is_some();
                if signalled {
                    let _ = writer.cancel_write();
                }
            }
        });
        let r = match source {
            Some(s) => writer.write(s, Some(&mut update)),
            None if a.append => writer.append_path(&a.source, a.volume.as_deref(), Some(&mut update)),
            None => writer.write_path(&a.source, a.volume.as_deref(), Some(&mut update)),
        };
        drop(done_wr);
        r
    });
    drop(tx);
    let _ = printer.join();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = result?;
    report_done(a, &report)?;
    Ok(0)
}

/// One update on the terminal's bar: the action, and how far it is.
fn show(bar: &indicatif::ProgressBar, p: &Progress) {
    bar.set_length(p.sector_count * 2048);
    if p.action == WriteAction::Verifying && bar.message() != WriteAction::Verifying.describe() {
        bar.reset();
    }
    bar.set_message(p.action.describe());
    let done = match p.action {
        WriteAction::WritingData => p.last_written_lba.map(|l| l + 1 - p.start_lba).unwrap_or(0),
        WriteAction::Verifying => p.sectors_verified,
        WriteAction::Finalization | WriteAction::Completed => p.sector_count,
        _ => bar.position() / 2048,
    };
    bar.set_position(done * 2048);
}

fn report_done(a: &BurnArgs, r: &WriteReport) -> Result<(), Error> {
    if a.json {
        let mut v = crate::output::json("the burn's result", r)?;
        v["target"] = jsonpath::value(&a.target);
        v["source"] = jsonpath::value(&a.source);
        return say(serde_json::json!({"done": v}));
    }
    let mb = (r.sectors * 2048) as f64 / 1e6;
    let rate = mb / r.write_time.as_secs_f64().max(1e-3);
    let added = match &r.added_to {
        Some(to) => format!(
            " as a session from sector {} over the one at sector {} ({} kept)",
            r.start_lba,
            to.previous_session_start,
            match to.files_kept {
                1 => "1 old file".to_string(),
                n => format!("{n} old files"),
            }
        ),
        None => String::new(),
    };
    say(format_args!(
        "burned {} to {}{added}: {} sectors ({mb:.1} MB) in {:.1} s ({rate:.1} MB/s){}{}",
        a.source.display(),
        a.target.display(),
        r.sectors,
        r.write_time.as_secs_f64(),
        if r.verified { format!(", verified in {:.1} s", r.verify_time.as_secs_f64()) } else { String::new() },
        if r.finalized { ", disc closed" } else { "" },
    ))
}

/// What `discrec erase` was told.
pub struct EraseArgs {
    pub full: bool,
    pub client: String,
    pub json: bool,
    pub wait: Option<String>,
    pub cluster: crate::args::ClusterLockArgs,
    pub target: std::path::PathBuf,
}

/// `discrec erase`: erase the disc in the target, its progress on a bar
/// (a terminal) or as JSON lines; with `--json` a failure is a line of
/// its own too.
pub fn erase(a: &EraseArgs) -> Result<u8, Error> {
    said_in_json(a.json, run_erase(a))
}

fn run_erase(a: &EraseArgs) -> Result<u8, Error> {
    // Only a drive is erased: the words for any target do not fit here.
    if a.target.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{} is a directory; erase takes a drive with a rewritable disc (/dev/srN)",
            discrec::writer::shown(&a.target)
        )));
    }
    let eraser = Eraser::new(crate::open(&a.target, &a.cluster.conn, a.cluster.cluster_ttl)?);
    eraser.set_client_name(&a.client)?;
    eraser.set_full_erase(a.full);
    crate::output::offers_wait(a.wait.is_some());
    eraser.set_wait(crate::args::wait_policy(a.wait.as_deref())?);
    let json = a.json;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = (tty && !json).then(|| {
        let bar = indicatif::ProgressBar::new(1000);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {percent:>3}% {elapsed:>4}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let mut update = |p: &EraseProgress| {
        if json {
            let _ = say(serde_json::json!({"progress": p}));
        } else if let Some(bar) = &bar {
            bar.set_message(p.step);
            if let Some(f) = p.fraction {
                bar.set_position((f * 1000.0) as u64);
            }
        }
    };
    let r = eraser.erase(Some(&mut update));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let m = r?;
    if json {
        let mut v = serde_json::json!({"target": jsonpath::value(&a.target), "full": a.full});
        v["medium"] = crate::output::json("the medium", &m)?;
        return say(serde_json::json!({"done": v})).map(|()| 0);
    }
    say(format_args!(
        "erased {} ({:?}{}): {}",
        a.target.display(),
        m.physical_type,
        if a.full { ", every sector" } else { "" },
        crate::output::medium_line(Some(&m)).trim_start_matches("medium:").trim()
    ))
    .map(|()| 0)
}

//! `discrec-vdrive`: serve a virtual disc recorder, and act on one while
//! it serves (eject, insert, unplug, faults). See the crate docs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use discrec_vdrive::control::{request, socket_of};
use discrec_vdrive::medium::{Kind, KINDS};
use discrec_vdrive::serve::{self, Options};
use discrec_vdrive::Error;

#[derive(Parser)]
#[command(
    name = "discrec-vdrive",
    version,
    about = "A virtual disc recorder: an MMC drive of any medium that the kernel sees as a real burner"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

fn kinds_help() -> String {
    let names: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
    format!("The disc: {}, or none (an empty drive)", names.join(", "))
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve a drive until SIGINT or SIGTERM (as root). Prints the
    /// device node (/dev/srN) on stdout once the kernel has attached it.
    Serve {
        #[arg(long, value_name = "KIND", help = kinds_help())]
        medium: String,
        /// The file that holds the disc (created when missing; a pressed
        /// disc's ISO image). Serving it again continues the same disc.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// Sectors of 2048 bytes on a new disc (default: the medium's usual size).
        #[arg(long, value_name = "SECTORS")]
        capacity: Option<u32>,
        /// The control socket (default /run/discrec-vdrive/srN.sock).
        #[arg(long, value_name = "PATH")]
        control: Option<PathBuf>,
        /// Log every SCSI command and its answer on stderr.
        #[arg(long, short)]
        verbose: bool,
    },
    /// What the drive has: tray, disc, sessions, faults (JSON).
    Status { drive: String },
    /// Press the eject button (refused while the tray is locked).
    Eject { drive: String },
    /// Close the tray.
    Close { drive: String },
    /// Take the disc out (the drive is left empty, tray closed).
    Remove { drive: String },
    /// Put a disc in (swapping out the one there).
    Insert {
        drive: String,
        #[arg(long, value_name = "KIND")]
        medium: Kind,
        #[arg(long, value_name = "FILE")]
        image: PathBuf,
        #[arg(long, value_name = "SECTORS")]
        capacity: Option<u32>,
    },
    /// Pull the drive out (hot-unplug); the disc stays with `serve`.
    Unplug { drive: String },
    /// Plug it back in; prints its (possibly new) device node.
    Plug {
        /// The control socket (the device node is gone while unplugged).
        socket: PathBuf,
    },
    /// Inject faults for tests.
    Fault {
        drive: String,
        /// Sectors FIRST-LAST fail (writes 03/0C/00, reads 03/11/00); repeatable.
        #[arg(long, value_name = "FIRST-LAST")]
        medium_error: Vec<String>,
        /// Each WRITE takes this long.
        #[arg(long, value_name = "MS")]
        write_delay: Option<u64>,
        /// Stop answering commands (--no-hang to resume).
        #[arg(long)]
        hang: bool,
        #[arg(long, conflicts_with = "hang")]
        no_hang: bool,
        /// Unplug once this many more sectors are written.
        #[arg(long, value_name = "SECTORS")]
        unplug_after: Option<u64>,
        /// Clear every fault first.
        #[arg(long)]
        clear: bool,
    },
    /// Stop serving (as SIGTERM does).
    Stop { drive: String },
}

fn range(s: &str) -> Result<(u32, u32), Error> {
    let bad = || Error::Usage(format!("--medium-error {s:?}: give FIRST-LAST sectors, e.g. 100-199"));
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u32, u32) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if b < a {
        return Err(bad());
    }
    Ok((a, b + 1))
}

fn run(cli: Cli) -> Result<(), Error> {
    let ctl =
        |drive: &str, req: serde_json::Value| -> Result<serde_json::Value, Error> { request(&socket_of(drive)?, &req) };
    match cli.command {
        Cmd::Serve { medium, image, capacity, control, verbose } => {
            let medium = if medium == "none" { None } else { Some(medium.parse::<Kind>().map_err(Error::Usage)?) };
            serve::serve(Options { medium, image, capacity, control, log: verbose }, |dev| {
                println!("{dev}");
                let _ = std::io::stdout().flush();
            })
        }
        Cmd::Status { drive } => {
            let v = ctl(&drive, json!({"op": "status"}))?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
        Cmd::Eject { drive } => ctl(&drive, json!({"op": "eject"})).map(|_| ()),
        Cmd::Close { drive } => ctl(&drive, json!({"op": "close"})).map(|_| ()),
        Cmd::Remove { drive } => ctl(&drive, json!({"op": "remove"})).map(|_| ()),
        Cmd::Insert { drive, medium, image, capacity } => {
            let image = std::path::absolute(&image).unwrap_or(image);
            ctl(&drive, json!({"op": "insert", "medium": medium.name(), "image": image, "capacity": capacity}))
                .map(|_| ())
        }
        Cmd::Unplug { drive } => ctl(&drive, json!({"op": "unplug"})).map(|_| ()),
        Cmd::Plug { socket } => {
            let v = request(&socket, &json!({"op": "plug"}))?;
            println!("{}", v["device"].as_str().unwrap_or(""));
            Ok(())
        }
        Cmd::Fault { drive, medium_error, write_delay, hang, no_hang, unplug_after, clear } => {
            let mut req = json!({"op": "fault", "clear": clear});
            if !medium_error.is_empty() {
                let r: Result<Vec<(u32, u32)>, Error> = medium_error.iter().map(|s| range(s)).collect();
                req["medium_error"] = json!(r?);
            }
            if let Some(ms) = write_delay {
                req["write_delay_ms"] = json!(ms);
            }
            if hang || no_hang {
                req["hang"] = json!(hang);
            }
            if let Some(n) = unplug_after {
                req["unplug_after_blocks"] = json!(n);
            }
            ctl(&drive, req).map(|_| ())
        }
        Cmd::Stop { drive } => ctl(&drive, json!({"op": "stop"})).map(|_| ()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("discrec-vdrive: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `discrec-vdrive`: serve a virtual disc recorder, and act on one while
//! it serves (eject, insert, unplug, faults). See the crate docs.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use discrec_vdrive::cli::{Cli, Cmd};
use discrec_vdrive::control::{request, socket_of};
use discrec_vdrive::medium::Kind;
use discrec_vdrive::serve::{self, Options};
use discrec_vdrive::Error;

fn range(s: &str) -> Result<(u32, u32), Error> {
    let bad = || Error::Usage(format!("--medium-error {s:?}: give FIRST-LAST sectors, e.g. 100-199"));
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u32, u32) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if b < a {
        return Err(bad());
    }
    Ok((a, b.checked_add(1).ok_or_else(bad)?))
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

//! The `discrec-vdrive` command line (clap definitions), apart from the
//! binary so that `cargo xtask dist` can make its man page.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::medium::{Kind, KINDS};

#[derive(Parser)]
#[command(
    name = "discrec-vdrive",
    version,
    about = "A virtual disc recorder: an MMC drive of any medium that the kernel sees as a real burner"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

fn kinds_help() -> String {
    let names: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
    format!("The disc: {}, or none (an empty drive)", names.join(", "))
}

#[derive(Subcommand)]
pub enum Cmd {
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

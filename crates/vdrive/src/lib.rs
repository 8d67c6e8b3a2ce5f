//! discrec-vdrive: a virtual disc recorder for Linux. An MMC drive of any
//! medium (CD-R/RW, DVD±R, DVD±RW, DVD+R DL, DVD-RAM, BD-R, BD-RE, and
//! pressed CD/DVD/BD), served to the kernel through LIO's user backstore
//! (TCMU) on the loopback fabric, so that `sr` and `sg` attach to it as to
//! a real burner and every burning program can be tested without one.
//!
//! Modules, bottom up:
//! - [`sys`]: the one `unsafe` module, the mapping the kernel shares;
//! - [`tcmu`]: the command ring of `target_core_user`;
//! - [`target`]: configfs: backstore, loopback LUN, hot-unplug;
//! - [`medium`]: the kinds of disc and what each is to MMC;
//! - [`disc`]: tracks, sessions and the state rules of each medium;
//! - [`image`]: the disc between runs, an image file and its state;
//! - [`sense`]: the CHECK CONDITIONs the drive answers with;
//! - [`reply`]: the replies that describe drive and disc;
//! - [`drive`]: tray, lock, events, long operations, faults, commands;
//! - [`shared`]: what a serving drive's threads share, plug and unplug;
//! - [`control`]: the control socket (eject, insert, unplug, faults);
//! - [`serve`]: one drive's life, from `serve` to SIGTERM;
//! - [`cli`]: the command line's definitions.
//!
//! It keeps its own reading of MMC and shares no code with discrec's
//! `discrec-mmc`: the peer tools and the kernel are the referees.
#![deny(unsafe_code)]

pub mod sys;
pub mod tcmu;
pub mod sense;
pub mod medium;
pub mod disc;
pub mod image;
pub mod reply;
pub mod drive;
pub mod target;
pub mod shared;
pub mod control;
pub mod serve;
pub mod cli;

use std::path::PathBuf;

use medium::Kind;

/// Why the drive could not be served or controlled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("discrec-vdrive serve needs root: it creates a SCSI device through configfs (run it with sudo)")]
    NotRoot,
    #[error(
        "the kernel has no {module} module: load it (modprobe {module}), or use a kernel built with {option}=m \
         (Debian's linux-image-amd64 has it)"
    )]
    NoModule { module: &'static str, option: &'static str },
    #[error("{} is in use by another discrec-vdrive serve: stop that one, or give another --image", path.display())]
    InUse { path: PathBuf },
    #[error("{} is {what}, not a regular file: a disc image is a plain file (give another --image)", path.display())]
    NotRegular { path: PathBuf, what: String },
    #[error(
        "{} holds a {has} disc, not a {asked}: serve it with --medium {has}, or give a new --image path",
        path.display()
    )]
    OtherMedium { path: PathBuf, has: Kind, asked: Kind },
    #[error(
        "{} holds a disc of {has} sectors, and --capacity says {asked}: leave --capacity out to serve it again",
        path.display()
    )]
    OtherCapacity { path: PathBuf, has: u32, asked: u32 },
    #[error(
        "{} has data but no {}.vdrive.json, so it is not a discrec-vdrive disc: give a new --image path, or serve \
         it read-only with --medium cd-rom, dvd-rom or bd-rom",
        path.display(), path.display()
    )]
    NotADisc { path: PathBuf },
    #[error("{}: {len} bytes is not an image of 2048-byte sectors (a pressed disc is served from an ISO image)", path.display())]
    NotAnImage { path: PathBuf, len: u64 },
    #[error("{} is damaged ({why}): restore it, or remove it and its image to start a new disc", path.display())]
    BadState { path: PathBuf, why: String },
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Kernel(String),
    #[error("{0}")]
    Control(String),
}

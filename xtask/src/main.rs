//! `cargo xtask`: the project's tasks. This file dispatches the command
//! line; each task is a module:
//!
//! * `guest-test`: [`guest_test`], the drive tests in a QEMU guest;
//! * `cluster-test`: [`cluster`], two QEMU guests sharing one drive
//!   through etcd;
//! * `dist`: [`dist`]; `capi-test`: [`capi`]; `torture`: [`torture`].
//!
//! Both guest tiers boot the image of [`guest_image`] with [`qemu`], on
//! tgt's iSCSI DVD+R ([`tgt`]).

use std::path::PathBuf;
use std::process::{Command, ExitCode};

mod capi;
mod cluster;
mod deb;
mod dist;
mod doors;
mod guest_image;
mod guest_test;
mod qemu;
mod tgt;
mod torture;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("guest-test") => match guest_test::guest_test() {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("xtask guest-test: {e}");
                ExitCode::from(2)
            }
        },
        Some("cluster-test") => match cluster::cluster_test() {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("xtask cluster-test: {e}");
                ExitCode::from(2)
            }
        },
        Some("dist") => {
            let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
            let prefix = flag("--prefix").unwrap_or_else(|| "/usr".into());
            let libdir = flag("--libdir").unwrap_or_else(|| format!("{prefix}/lib/x86_64-linux-gnu"));
            match dist::dist(&root(), &dist::dist_dir(&root()), &prefix, &libdir) {
                Ok(d) => {
                    println!("xtask dist: {}", d.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("xtask dist: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Some("capi-test") => match capi::capi_test(&root(), args.iter().any(|a| a == "--installed")) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("xtask capi-test: {e}");
                ExitCode::from(2)
            }
        },
        Some("deb") => match deb::deb(&root()).and_then(|debs| {
            for d in &debs {
                println!("xtask deb: {}", d.display());
            }
            deb::lintian(&debs)
        }) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("xtask deb: {e}");
                ExitCode::from(2)
            }
        },
        Some("doors") => match doors::doors(&root()) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("xtask doors: {e}");
                ExitCode::from(2)
            }
        },
        Some("torture") => match torture::torture(&root(), &args[1..]) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("xtask torture: {e}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask guest-test | cluster-test | dist [--prefix P] [--libdir D] | capi-test [--installed] | deb | doors | torture [--quick] [--minutes N] [--fuzz-runs N]\n  guest-test: boots a QEMU guest with real sr drives and runs the drive tests in it\n  cluster-test: two QEMU guests on one iSCSI drive, sharing it through etcd\n  dist: the binary, C library, header, pkg-config file, man pages and completions under target/dist\n  capi-test: the C programs in crates/capi/tests/c, built with pkg-config against target/dist (or, with --installed, the system's)\n  deb: the Debian packages discrec, libdiscrec0, libdiscrec-dev and python3-discrec in target/debian, their symbols checked, lintian clean\n  doors: every public call of the library and its C, Python and command-line counterparts (README.md, \"Every door\")\n  torture: SIGKILLs, a witness and fuzzing, idle and on a loaded machine"
            );
            ExitCode::from(2)
        }
    }
}

/// The workspace's root directory.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Run `cmd`; an error unless it succeeds.
fn run(cmd: &mut Command) -> Result<(), String> {
    let st = cmd.status().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {st}"))
    }
}

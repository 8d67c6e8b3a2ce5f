//! The command line's test helpers: the library's shared ones
//! (`crates/discrec/tests/support`) plus the `discrec` binary, holders
//! made with `discrec lock`, and an etcd on loopback.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

#[path = "../../crates/discrec/tests/support/mod.rs"]
mod support;
pub use support::*;

pub const DISCREC: &str = env!("CARGO_BIN_EXE_discrec");

impl Scratch {
    /// `discrec` with this scratch's runtime directory.
    pub fn discrec(&self) -> Command {
        let mut c = Command::new(DISCREC);
        c.env("DISCREC_RUN_DIR", &self.run);
        c
    }

    /// `discrec lock --client CLIENT IMAGE`, holding once it returns (it
    /// printed `locked`); killed and reaped when dropped.
    pub fn hold(&self, image: &std::path::Path, client: &str) -> Reaped {
        let (child, line) = spawn_holder({
            let mut c = self.discrec();
            c.args(["lock", "--client", client]).arg(image);
            c
        });
        assert!(line.starts_with("locked"), "discrec lock said {line:?}");
        Reaped(child)
    }
}

/// Start `discrec ARGS` and wait until it printed its first line (the
/// lock is held then). Returns the child and that line.
pub fn spawn_holder(mut c: Command) -> (Child, String) {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // Keep the pipe open (a holder blocked on a full pipe is still a holder).
    std::mem::forget(out);
    (child, line)
}

#[path = "../../crates/cluster/tests/support/etcd_server.rs"]
mod etcd_server;
#[allow(unused_imports)]
pub use etcd_server::{etcdctl, EtcdServer};

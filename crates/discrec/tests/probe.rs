//! `discrec-probe` (src/bin/discrec-probe.rs): a library client in a
//! process of its own, driven line by line, so that real processes stand
//! on both sides of a lock.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::support::{world_readable_copy, Scratch};

pub const PROBE: &str = env!("CARGO_BIN_EXE_discrec-probe");

impl Scratch {
    /// A library client in a process of its own, with this scratch's
    /// runtime directory.
    pub fn probe(&self) -> Probe {
        Probe::spawn(&self.run, None)
    }
}

/// A library client in its own process .
pub struct Probe {
    pub child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub pid: i32,
}

impl Probe {
    /// Spawn under a wrapper command (`unshare ...`, `setpriv ...`).
    pub fn spawn_wrapped(run: &Path, wrapper: &[&str]) -> Probe {
        let mut c = Command::new(wrapper[0]);
        c.args(&wrapper[1..]).arg(PROBE);
        Probe::start(run, c)
    }

    /// Spawn; with `as_user`, run as that user via setpriv.
    pub fn spawn(run: &Path, as_user: Option<&str>) -> Probe {
        let c = match as_user {
            Some(u) => {
                // The build tree may not be reachable for other users (e.g.
                // under /root); run a world-readable copy.
                let exe = world_readable_copy(PROBE);
                let mut c = Command::new("setpriv");
                c.args(["--reuid", u, "--regid", u, "--init-groups", "--reset-env", "env"]);
                c.arg(format!("DISCREC_RUN_DIR={}", run.display())).arg(exe);
                c
            }
            None => Command::new(PROBE),
        };
        Probe::start(run, c)
    }

    /// Spawn as `user` with the system's record directories (no
    /// `DISCREC_RUN_DIR`).
    pub fn spawn_system(user: &str) -> Probe {
        let exe = world_readable_copy(PROBE);
        let mut c = Command::new("setpriv");
        c.args(["--reuid", user, "--regid", user, "--init-groups", "--reset-env"]).arg(exe);
        Probe::begin(c)
    }

    /// Spawn `c`, which runs the probe, with `run` as its runtime directory.
    pub fn start(run: &Path, mut c: Command) -> Probe {
        c.env("DISCREC_RUN_DIR", run);
        Probe::begin(c)
    }

    fn begin(mut c: Command) -> Probe {
        c.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = c.spawn().expect("spawn discrec-probe");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("probe said {line:?}"));
        let pid = v["pid"].as_i64().unwrap() as i32;
        Probe { child, stdin, stdout, pid }
    }

    /// Send one command and read its answer.
    pub fn cmd(&mut self, line: &str) -> serde_json::Value {
        self.send(line);
        self.answer()
    }

    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn answer(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("probe said {line:?}"))
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.kill9();
    }
}

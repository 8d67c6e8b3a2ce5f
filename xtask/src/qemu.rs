//! The QEMU guests of both guest tiers (`guest-test` and `cluster-test`),
//! started in one place. This module owns:
//!
//! * the `qemu-system-x86_64` command line ([`Vm`]): TCG on the `pc`
//!   machine, one CPU, no default devices, no reboot, the kernel and
//!   initramfs of [`crate::guest_image`], the console on the first serial
//!   port (QEMU's stdout), the control channel on the second (the guest's
//!   `/dev/ttyS1`) and QMP, both on UNIX sockets, plus what a tier adds:
//!   memory, kernel command line words, drives, network;
//! * the running process ([`Qemu`]): its console lines, and killing and
//!   reaping it (also when it is dropped);
//! * the connections to its sockets ([`Sockets`]) and QMP ([`Qmp`]).
//!
//! What a tier says over the control channel is the tier's own.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::guest_image::Boot;
use crate::tgt;

/// The kernel command line every guest starts with.
const CMDLINE: &str = "console=ttyS0 quiet panic=-1 rdinit=/init";

/// The iSCSI initiator name of `guest`.
pub fn initiator(guest: &str) -> String {
    format!("iqn.2026-11.test.discrec:{guest}")
}

/// A guest to start: its options, then [`Vm::spawn`].
pub struct Vm {
    vmlinuz: PathBuf,
    initrd: PathBuf,
    /// MiB.
    memory: u32,
    /// The kernel command line.
    cmdline: String,
    /// Drives, controllers and network, in order.
    devices: Vec<OsString>,
    sockets: Sockets,
}

impl Vm {
    /// A guest booting `boot` in `memory` MiB; its control and QMP
    /// sockets are `{sockets}ctl.sock` and `{sockets}qmp.sock` in
    /// `boot.out`.
    pub fn new(boot: &Boot, memory: u32, sockets: &str) -> Vm {
        Vm {
            vmlinuz: boot.vmlinuz.clone(),
            initrd: boot.initrd.clone(),
            memory,
            cmdline: CMDLINE.into(),
            devices: Vec::new(),
            sockets: Sockets {
                ctl: boot.out.join(format!("{sockets}ctl.sock")),
                qmp: boot.out.join(format!("{sockets}qmp.sock")),
            },
        }
    }

    /// Words added to the kernel command line.
    pub fn cmdline(mut self, words: &str) -> Vm {
        self.cmdline = format!("{} {words}", self.cmdline);
        self
    }

    /// An argument (a drive, a device, a network), after the kernel's.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Vm {
        self.devices.push(arg.into());
        self
    }

    /// Arguments (drives, devices, network), after the kernel's.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Vm {
        self.devices.extend(args.into_iter().map(Into::into));
        self
    }

    /// tgt's blank DVD+R, reached as the iSCSI initiator of `guest`, on a
    /// virtio-scsi controller `controller` of its own, passed through
    /// (`scsi-block`, drive `dvd`, device `dvdw`) so that the guest's MMC
    /// commands reach tgtd.
    pub fn iscsi_dvd(self, guest: &str, controller: &str) -> Vm {
        self.args([
            "-iscsi".to_string(),
            format!("initiator-name={}", initiator(guest)),
            "-device".into(),
            format!("virtio-scsi-pci,id={controller}"),
            "-drive".into(),
            format!("if=none,id=dvd,format=raw,file={}", tgt::Tgt::drive_url()),
            "-device".into(),
            format!("scsi-block,drive=dvd,bus={controller}.0,id=dvdw"),
        ])
    }

    fn command(&self) -> Command {
        let mut qemu = Command::new("qemu-system-x86_64");
        qemu.args(["-accel", "tcg", "-M", "pc", "-m", &self.memory.to_string(), "-smp", "1"])
            .args(["-nodefaults", "-no-reboot"])
            .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
            .arg("-kernel")
            .arg(&self.vmlinuz)
            .arg("-initrd")
            .arg(&self.initrd)
            .arg("-append")
            .arg(&self.cmdline)
            .args(&self.devices)
            // The guest's requests (its /dev/ttyS1) and QMP.
            .arg("-chardev")
            .arg(format!("socket,id=ctl,path={},server=on,wait=off", self.sockets.ctl.display()))
            .args(["-serial", "chardev:ctl"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", self.sockets.qmp.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        qemu
    }

    /// Start QEMU (sockets left by an earlier run removed first).
    pub fn spawn(self) -> Result<Qemu, String> {
        let _ = std::fs::remove_file(&self.sockets.ctl);
        let _ = std::fs::remove_file(&self.sockets.qmp);
        let child = self
            .command()
            .spawn()
            .map_err(|e| format!("cannot start qemu-system-x86_64: {e} (install qemu-system-x86)"))?;
        Ok(Qemu { child, sockets: self.sockets })
    }
}

/// A running guest; killed and reaped when dropped.
pub struct Qemu {
    child: Child,
    sockets: Sockets,
}

impl Qemu {
    /// Where its control channel and QMP listen.
    pub fn sockets(&self) -> &Sockets {
        &self.sockets
    }

    /// The console's lines (without `\r`), read on a thread of their own;
    /// the channel closes when QEMU closes its stdout. Once only.
    pub fn console(&mut self) -> mpsc::Receiver<String> {
        let stdout = self.child.stdout.take().expect("the console is read once");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line.trim_end_matches('\r').to_string()).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Kill QEMU (if it still runs) and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.wait();
    }

    /// Wait for QEMU to exit.
    pub fn wait(&mut self) {
        let _ = self.child.wait();
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A guest's control and QMP sockets.
#[derive(Clone)]
pub struct Sockets {
    ctl: PathBuf,
    qmp: PathBuf,
}

impl Sockets {
    /// The control channel (the guest's `/dev/ttyS1`).
    pub fn ctl(&self) -> Result<UnixStream, String> {
        connect(&self.ctl)
    }

    /// QMP, past its greeting and capabilities negotiation.
    pub fn qmp(&self) -> Result<Qmp, String> {
        let qmp = connect(&self.qmp)?;
        let mut input = BufReader::new(qmp.try_clone().map_err(|e| e.to_string())?);
        let mut output = qmp;
        let mut greeting = String::new();
        input.read_line(&mut greeting).map_err(|e| e.to_string())?;
        writeln!(output, r#"{{"execute":"qmp_capabilities"}}"#).map_err(|e| e.to_string())?;
        let mut qmp = Qmp { input, output };
        qmp.answer()?;
        Ok(qmp)
    }
}

/// Connect to a UNIX socket QEMU creates, retrying while it starts.
fn connect(path: &Path) -> Result<UnixStream, String> {
    let t = Instant::now();
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e) if t.elapsed() > Duration::from_secs(10) => return Err(format!("{}: {e}", path.display())),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A QMP connection.
pub struct Qmp {
    input: BufReader<UnixStream>,
    output: UnixStream,
}

impl Qmp {
    /// Read QMP lines until an answer (`return` or `error`); greetings and
    /// events are skipped.
    fn answer(&mut self) -> Result<String, String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.input.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("QMP closed".into());
            }
            let v: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
            if v.get("return").is_some() || v.get("error").is_some() {
                return Ok(v.to_string());
            }
        }
    }

    /// Send one command line as it is; its answer, `return` or `error`,
    /// as one line.
    pub fn send(&mut self, req: &str) -> Result<String, String> {
        writeln!(self.output, "{req}").map_err(|e| e.to_string())?;
        self.answer()
    }

    /// Send one QMP command; its answer, or its `error` as `Err`.
    pub fn call(&mut self, req: &str) -> Result<Value, String> {
        let answer = self.send(req)?;
        let v: Value = serde_json::from_str(&answer).map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) => Err(format!("QMP {req}: {e}")),
            None => Ok(v),
        }
    }
}

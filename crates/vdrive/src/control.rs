//! The control socket of a serving drive (`/run/discrec-vdrive/srN.sock`,
//! root only): what a person does to a real drive (press eject, swap the
//! disc, pull the cable) and the faults a test needs, one JSON request
//! per connection, one JSON answer.
//!
//! Requests: `{"op": "status"}`, `eject`, `close`, `remove`,
//! `{"op": "insert", "medium": "dvd+r", "image": "/path", "capacity": N}`,
//! `unplug`, `plug`, `stop`, and `{"op": "fault", "medium_error":
//! [[first, end]], "write_delay_ms": N, "unplug_after_blocks": N, "hang":
//! bool, "clear": bool}`. Answers: `{"ok": true, ...}` or `{"ok": false,
//! "error": "..."}`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};

use crate::drive::Faults;
use crate::medium::Kind;
use crate::shared::{self, Event, Shared, RUN_DIR};
use crate::Error;

/// Listen at `path` (a stale socket of a dead serve is replaced; a live
/// one is an error), for root only.
pub fn bind(path: &Path) -> Result<UnixListener, Error> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(Error::Control(format!("{} is the control socket of another serving drive", path.display())));
        }
        let _ = std::fs::remove_file(path);
    }
    // Created 0600 from the start: no moment where others may connect.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let l = UnixListener::bind(path);
    rustix::process::umask(old);
    let l = l.map_err(|source| Error::Io { what: format!("bind {}", path.display()), source })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|source| Error::Io { what: format!("chmod 600 {}", path.display()), source })?;
    Ok(l)
}

/// Whether the peer of `conn` is root (the socket's mode says so too;
/// this holds even if someone loosened it).
fn from_root(conn: &UnixStream) -> bool {
    rustix::net::sockopt::socket_peercred(conn).is_ok_and(|c| c.uid.is_root())
}

/// Answer requests until the drive stops.
pub fn serve(listener: UnixListener, shared: &Shared) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        if !from_root(&conn) {
            let _ = writeln!(conn, "{}", json!({"ok": false, "error": "only root acts on a virtual drive"}));
            continue;
        }
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let mut line = String::new();
        if BufReader::new(&conn).read_line(&mut line).is_err() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(req) => handle(&req, shared).unwrap_or_else(|e| json!({"ok": false, "error": e.to_string()})),
            Err(e) => json!({"ok": false, "error": format!("not a JSON request: {e}")}),
        };
        let _ = writeln!(conn, "{answer}");
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
    }
}

fn handle(req: &Value, shared: &Shared) -> Result<Value, Error> {
    let lock = || shared.drive.lock().unwrap_or_else(|p| p.into_inner());
    let op = req["op"].as_str().unwrap_or("");
    match op {
        "status" => {
            let mut v = lock().describe();
            v["device"] = json!(*shared.device.lock().unwrap_or_else(|p| p.into_inner()));
            v["ok"] = json!(true);
            v["hang"] = json!(shared.hang.load(Ordering::Relaxed));
            Ok(v)
        }
        "eject" => lock().open_tray().map(|_| json!({"ok": true})).map_err(Error::Control),
        "close" => {
            lock().close_tray();
            Ok(json!({"ok": true}))
        }
        "remove" => {
            let mut d = lock();
            d.swap(None).map_err(Error::Control)?;
            Ok(json!({"ok": true}))
        }
        "insert" => {
            let kind: Kind = req["medium"]
                .as_str()
                .ok_or_else(|| Error::Usage("insert needs a medium".into()))?
                .parse()
                .map_err(Error::Usage)?;
            let path =
                PathBuf::from(req["image"].as_str().ok_or_else(|| Error::Usage("insert needs an image".into()))?);
            let capacity = req["capacity"].as_u64().map(|c| c as u32);
            let image = shared::plan(Some(kind), Some(&path), capacity)?.map(|p| p.open()).transpose()?;
            let mut d = lock();
            d.swap(image).map_err(Error::Control)?;
            Ok(json!({"ok": true}))
        }
        "unplug" => shared::unplug(shared).map(|_| json!({"ok": true})),
        "plug" => shared::plug(shared).map(|dev| json!({"ok": true, "device": dev})),
        "stop" => {
            let _ = shared.events.lock().map(|tx| tx.send(Event::Stop));
            Ok(json!({"ok": true}))
        }
        "fault" => {
            if req["clear"].as_bool() == Some(true) {
                lock().faults = Faults::default();
                shared.hang.store(false, Ordering::Relaxed);
            }
            let f: Faults = serde_json::from_value(req.clone()).map_err(|e| Error::Usage(e.to_string()))?;
            {
                let mut d = lock();
                if req.get("medium_error").is_some() {
                    d.faults.medium_error = f.medium_error;
                }
                if req.get("write_delay_ms").is_some() {
                    d.faults.write_delay_ms = f.write_delay_ms;
                }
                if req.get("unplug_after_blocks").is_some() {
                    d.faults.unplug_after_blocks = f.unplug_after_blocks;
                }
            }
            if let Some(h) = req["hang"].as_bool() {
                shared.hang.store(h, Ordering::Relaxed);
            }
            Ok(json!({"ok": true}))
        }
        _ => Err(Error::Usage(format!("unknown request {op:?}"))),
    }
}

/// The control socket of `drive`: a socket path, or `/dev/srN` (its
/// socket by name, or the serving drive that now has that node).
pub fn socket_of(drive: &str) -> Result<PathBuf, Error> {
    let p = Path::new(drive);
    if p.extension().is_some_and(|e| e == "sock") {
        return Ok(p.to_owned());
    }
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let direct = Path::new(RUN_DIR).join(format!("{name}.sock"));
    if direct.exists() {
        return Ok(direct);
    }
    for e in std::fs::read_dir(RUN_DIR).into_iter().flatten().flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "sock") {
            if let Ok(v) = request(&path, &json!({"op": "status"})) {
                if v["device"].as_str() == Some(drive) {
                    return Ok(path);
                }
            }
        }
    }
    Err(Error::Control(format!(
        "{drive} is not a drive served by discrec-vdrive (no control socket in {RUN_DIR}): start one with \
         `discrec-vdrive serve`"
    )))
}

/// Send one request and read the answer.
pub fn request(socket: &Path, req: &Value) -> Result<Value, Error> {
    let mut s = UnixStream::connect(socket).map_err(|source| match source.kind() {
        std::io::ErrorKind::PermissionDenied => {
            Error::Control(format!("{}: only root acts on a virtual drive (run it with sudo)", socket.display()))
        }
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => Error::Control(format!(
            "{}: the drive's discrec-vdrive serve is gone (start it again with `discrec-vdrive serve`)",
            socket.display()
        )),
        _ => Error::Io { what: format!("connect to {}", socket.display()), source },
    })?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    writeln!(s, "{req}").map_err(|source| Error::Io { what: format!("write to {}", socket.display()), source })?;
    let mut line = String::new();
    BufReader::new(&s)
        .read_line(&mut line)
        .map_err(|source| Error::Io { what: format!("read from {}", socket.display()), source })?;
    let v: Value = serde_json::from_str(&line)
        .map_err(|e| Error::Control(format!("{}: a garbled answer: {e}", socket.display())))?;
    if v["ok"] == json!(true) {
        Ok(v)
    } else {
        Err(Error::Control(v["error"].as_str().unwrap_or("the drive refused").to_string()))
    }
}

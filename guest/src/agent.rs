//! `discrec-guest agent PORT`: the two-guest cluster tier's remote hands.
//! The host (`cargo xtask cluster-test`) sends one JSON request per line
//! on the serial port PORT and gets one JSON answer per line; the
//! scenarios themselves live on the host, which sees both guests, etcd
//! and the disc's backing file at once.
//!
//! Requests (`op`):
//! * `run` `cmd` (optional `timeout_ms`): `sh -c cmd`; `{code, out, err, ms}`.
//! * `spawn` `name` `cmd`: `sh -c cmd` in the background, its stdout and
//!   stderr merged into one line queue; `{pid}`.
//! * `expect` `name` `text` (optional `timeout_ms`): read that queue until a line
//!   contains `text`; `{line, ms}`, or `{error, seen}`.
//! * `wait` `name` (optional `timeout_ms`): its exit; `{code, signal, out}`.
//! * `kill` `name` `signal`: send it a signal.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Spawned {
    child: Child,
    lines: Receiver<String>,
}

fn timeout_of(v: &Value) -> Duration {
    Duration::from_millis(v["timeout_ms"].as_u64().unwrap_or(30_000))
}

fn run(cmd: &str, limit: Duration) -> Value {
    let t = Instant::now();
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return json!({"error": format!("cannot run sh: {e}")}),
    };
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                return json!({"code": st.code(), "out": out.join().unwrap_or_default(),
                    "err": err.join().unwrap_or_default(), "ms": t.elapsed().as_millis() as u64})
            }
            Ok(None) if t.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return json!({"error": format!("{cmd:?} still ran after {limit:?}; killed")});
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return json!({"error": e.to_string()}),
        }
    }
}

fn spawn(cmd: &str) -> Result<Spawned, String> {
    let (r, w) = std::io::pipe().map_err(|e| e.to_string())?;
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(w.try_clone().map_err(|e| e.to_string())?)
        .stderr(w)
        .spawn()
        .map_err(|e| e.to_string())?;
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Ok(Spawned { child, lines })
}

fn handle(req: &Value, children: &mut HashMap<String, Spawned>) -> Value {
    let name = req["name"].as_str().unwrap_or("").to_string();
    match req["op"].as_str() {
        Some("run") => run(req["cmd"].as_str().unwrap_or("false"), timeout_of(req)),
        Some("spawn") => match spawn(req["cmd"].as_str().unwrap_or("false")) {
            Ok(s) => {
                let pid = s.child.id();
                children.insert(name, s);
                json!({"pid": pid})
            }
            Err(e) => json!({"error": e}),
        },
        Some("expect") => {
            let Some(s) = children.get_mut(&name) else { return json!({"error": format!("no child {name:?}")}) };
            let text = req["text"].as_str().unwrap_or("");
            let (t, limit) = (Instant::now(), timeout_of(req));
            let mut seen = Vec::new();
            loop {
                match s.lines.recv_timeout(limit.saturating_sub(t.elapsed())) {
                    Ok(l) if l.contains(text) => {
                        return json!({"line": l, "ms": t.elapsed().as_millis() as u64, "seen": seen})
                    }
                    Ok(l) => seen.push(l),
                    Err(RecvTimeoutError::Timeout) => {
                        return json!({"error": format!("no line with {text:?} within {limit:?}"), "seen": seen})
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        return json!({"error": format!("{name} ended without a line with {text:?}"), "seen": seen})
                    }
                }
            }
        }
        Some("wait") => {
            let Some(mut s) = children.remove(&name) else { return json!({"error": format!("no child {name:?}")}) };
            let (t, limit) = (Instant::now(), timeout_of(req));
            loop {
                match s.child.try_wait() {
                    Ok(Some(st)) => {
                        use std::os::unix::process::ExitStatusExt;
                        let mut out = Vec::new();
                        while let Ok(l) = s.lines.recv_timeout(Duration::from_millis(100)) {
                            out.push(l);
                        }
                        return json!({"code": st.code(), "signal": st.signal(), "out": out,
                            "ms": t.elapsed().as_millis() as u64});
                    }
                    Ok(None) if t.elapsed() > limit => {
                        children.insert(name.clone(), s);
                        return json!({"error": format!("{name} still runs after {limit:?}")});
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    Err(e) => return json!({"error": e.to_string()}),
                }
            }
        }
        Some("kill") => {
            let Some(s) = children.get(&name) else { return json!({"error": format!("no child {name:?}")}) };
            let sig = req["signal"].as_i64().unwrap_or(15) as i32;
            let pid = rustix::process::Pid::from_raw(s.child.id() as i32);
            match (pid, rustix::process::Signal::from_named_raw(sig)) {
                (Some(p), Some(sig)) => match rustix::process::kill_process(p, sig) {
                    Ok(()) => json!({"ok": true}),
                    Err(e) => json!({"error": e.to_string()}),
                },
                _ => json!({"error": "bad pid or signal"}),
            }
        }
        other => json!({"error": format!("unknown op {other:?}")}),
    }
}

/// Serve requests on `port` until it closes.
pub fn serve(port: &str) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(port)?;
    let mut out = f.try_clone()?;
    writeln!(out, "{}", json!({"ready": true}))?;
    let mut children = HashMap::new();
    for line in BufReader::new(f).lines() {
        let line = line?;
        let line = line.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if !line.starts_with('{') {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(line) {
            Ok(req) => handle(&req, &mut children),
            Err(e) => json!({"error": format!("bad request: {e}")}),
        };
        writeln!(out, "{answer}")?;
    }
    Ok(())
}

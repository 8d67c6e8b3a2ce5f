//! Test driver, not for users: a library client in its own process, driven
//! line by line on stdin, answering one JSON object per line on stdout.
//! Integration tests use it to put real processes on both sides of a lock.
//!
//! Commands: `open ID PATH`, `acquire ID FORCE NAME`, `wait ID SECS NAME`
//! (SECS `-` waits forever), `release ID`, `owner ID`, `count ID`,
//! `close ID`, `drop ID`, `handover ID`, and for the torture run
//! `cycle ID N WITNESS` (see [`cycle`]).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::time::Duration;

use discrec::{Error, Recorder};

fn err(e: &Error) -> serde_json::Value {
    serde_json::json!({"ok": false, "error": e.name(), "code": e.code(), "msg": e.to_string()})
}

fn main() {
    let mut recs: HashMap<String, Recorder> = HashMap::new();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", serde_json::json!({"ok": true, "pid": std::process::id()}));
    let _ = out.flush();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let mut parts = line.splitn(4, ' ');
        let cmd = parts.next().unwrap_or("");
        let id = parts.next().unwrap_or("").to_string();
        let a = parts.next().unwrap_or("");
        let b = parts.next().unwrap_or("");
        let missing = serde_json::json!({"ok": false, "error": "NO_HANDLE"});
        let reply = match cmd {
            "open" => {
                let path = [a, b].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
                match Recorder::open(path) {
                    Ok(r) => {
                        recs.insert(id, r);
                        serde_json::json!({"ok": true})
                    }
                    Err(e) => err(&e),
                }
            }
            "acquire" | "wait" => match recs.get_mut(&id) {
                None => missing,
                Some(r) => {
                    let res = if cmd == "acquire" {
                        r.acquire_exclusive_access(a == "1" || a == "true", b)
                    } else {
                        let t = if a == "-" { None } else { a.parse::<f64>().ok().map(Duration::from_secs_f64) };
                        r.acquire_exclusive_access_wait(false, b, t)
                    };
                    match res {
                        Ok(()) => {
                            serde_json::json!({"ok": true, "count": r.lock_count(), "still_mounted": r.volume_still_mounted().len()})
                        }
                        Err(e) => err(&e),
                    }
                }
            },
            "release" => match recs.get_mut(&id) {
                None => missing,
                Some(r) => match r.release_exclusive_access() {
                    Ok(()) => serde_json::json!({"ok": true, "count": r.lock_count()}),
                    Err(e) => err(&e),
                },
            },
            "owner" => match recs.get(&id) {
                None => missing,
                Some(r) => match r.exclusive_access_owner() {
                    Ok(o) => serde_json::json!({"ok": true, "owner": o}),
                    Err(e) => err(&e),
                },
            },
            "count" => match recs.get(&id) {
                None => missing,
                Some(r) => serde_json::json!({"ok": true, "count": r.lock_count()}),
            },
            "close" => match recs.get_mut(&id) {
                None => missing,
                Some(r) => match r.close() {
                    Ok(()) => serde_json::json!({"ok": true}),
                    Err(e) => err(&e),
                },
            },
            "handover" => match recs.get_mut(&id) {
                None => missing,
                Some(r) => match r.hand_over_claim() {
                    Ok(()) => serde_json::json!({"ok": true}),
                    Err(e) => err(&e),
                },
            },
            "cycle" => match recs.get_mut(&id) {
                None => missing,
                Some(r) => {
                    let n: u64 = a.parse().unwrap_or(0);
                    let (done, violations) = cycle(r, n, std::path::Path::new(b));
                    serde_json::json!({"ok": violations.is_empty(), "cycles": done, "violations": violations})
                }
            },
            "drop" => {
                recs.remove(&id);
                serde_json::json!({"ok": true})
            }
            _ => serde_json::json!({"ok": false, "error": "BAD_COMMAND"}),
        };
        let _ = writeln!(out, "{reply}");
        let _ = out.flush();
    }
}

/// `n` rounds of: wait for the drive under the name `Torture PID`, prove
/// nobody else holds it with an independent witness (the file `witness`,
/// created with `O_EXCL` and holding our pid: it exists while someone is
/// inside; one left by a killed holder names a dead pid), check that the
/// owner query names us, then leave and release. Returns the rounds done
/// and every violation seen.
fn cycle(r: &mut Recorder, n: u64, witness: &std::path::Path) -> (u64, Vec<String>) {
    use std::io::Write as _;
    let me = std::process::id();
    let name = format!("Torture {me}");
    let mut violations = Vec::new();
    for i in 0..n {
        if let Err(e) = r.acquire_exclusive_access_wait(false, &name, Some(Duration::from_secs(60))) {
            violations.push(format!("round {i}: acquire failed: {e}"));
            continue;
        }
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(witness) {
                Ok(mut f) => {
                    let _ = write!(f, "{me}");
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let other = std::fs::read_to_string(witness).unwrap_or_default();
                    let alive =
                        other.parse::<u32>().is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
                    if alive && !other.is_empty() {
                        violations.push(format!("round {i}: granted while pid {other} is inside"));
                        break;
                    }
                    // Left by a killed holder (or being written): clear it.
                    if other.is_empty() {
                        std::thread::sleep(Duration::from_micros(50));
                        if std::fs::read_to_string(witness).unwrap_or_default().is_empty() {
                            let _ = std::fs::remove_file(witness);
                        }
                    } else {
                        let _ = std::fs::remove_file(witness);
                    }
                }
                Err(e) => {
                    violations.push(format!("round {i}: witness: {e}"));
                    break;
                }
            }
        }
        match r.exclusive_access_owner() {
            Ok(Some(o)) if o.client_name.as_deref() == Some(name.as_str()) && o.pid == Some(me as i32) => {}
            other => violations.push(format!("round {i}: owner query said {other:?} while we hold it")),
        }
        let _ = std::fs::remove_file(witness);
        if let Err(e) = r.release_exclusive_access() {
            violations.push(format!("round {i}: release failed: {e}"));
        }
    }
    (n, violations)
}

//! Test driver, not for users: a library client in its own process, driven
//! line by line on stdin, answering one JSON object per line on stdout.
//! Integration tests use it to put real processes on both sides of a lock.
//!
//! Commands: `open ID PATH`, `acquire ID FORCE NAME`, `wait ID SECS NAME`
//! (SECS `-` waits forever), `release ID`, `owner ID`, `count ID`,
//! `close ID`, `drop ID`, `handover ID`.

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

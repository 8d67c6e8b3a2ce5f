//! User names for uids, read from `/etc/passwd`.
//!
//! Written by hand on purpose: the libc `getpwuid_r` path goes through NSS,
//! which a statically linked binary (as run in the test guest) cannot load.
//! Names from other NSS sources show as the bare uid.

use std::collections::HashMap;
use std::sync::Mutex;

/// The user name of `uid`, if `/etc/passwd` has one. Cached per process.
pub fn name_of(uid: u32) -> Option<String> {
    static CACHE: Mutex<Option<HashMap<u32, String>>> = Mutex::new(None);
    let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = c.as_ref().and_then(|m| m.get(&uid)) {
        return Some(n.clone());
    }
    let map = parse_passwd(&std::fs::read_to_string("/etc/passwd").unwrap_or_default());
    let found = map.get(&uid).cloned();
    *c = Some(map);
    found
}

/// Parse passwd text into uid → name.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            (!name.is_empty()).then(|| (uid, name.to_string()))
        })
        .collect()
}

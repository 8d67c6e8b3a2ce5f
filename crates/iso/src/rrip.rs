//! Rock Ridge (RRIP 1.12 over SUSP 1.12): the System Use entries that
//! give Linux readers each file's real name (NM), mode, links, owner and
//! serial number (PX), modification time (TF), symlink target (SL) and
//! device number (PN); SP and ER in the root mark the disc as Rock Ridge.
//! Entries that do not fit in a directory record go to a continuation
//! area (CE).

use crate::tree::{Kind, Node};

/// Both-endian 32-bit: little-endian then big-endian.
pub fn both32(v: u32) -> [u8; 8] {
    let l = v.to_le_bytes();
    let b = v.to_be_bytes();
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

/// Both-endian 16-bit.
pub fn both16(v: u16) -> [u8; 4] {
    let l = v.to_le_bytes();
    let b = v.to_be_bytes();
    [l[0], l[1], b[0], b[1]]
}

fn entry(sig: &[u8; 2], data: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(4 + data.len());
    e.extend_from_slice(sig);
    e.push((4 + data.len()) as u8);
    e.push(1);
    e.extend_from_slice(data);
    e
}

/// The 7-byte date of directory records and TF: years since 1900, month,
/// day, hour, minute, second, offset from GMT in 15-minute steps (0: UTC).
pub fn date7(secs: i64) -> [u8; 7] {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let year = (y - 1900).clamp(0, 255) as u8;
    if y < 1900 {
        return [0, 1, 1, 0, 0, 0, 0];
    }
    if y > 2155 {
        return [255, 12, 31, 23, 59, 59, 0];
    }
    [year, m as u8, d as u8, (rem / 3600) as u8, (rem % 3600 / 60) as u8, (rem % 60) as u8, 0]
}

/// The 17-byte date of volume descriptors: `YYYYMMDDHHMMSScc` and the GMT
/// offset (0).
pub fn date17(secs: i64) -> [u8; 17] {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let s = format!("{:04}{:02}{:02}{:02}{:02}{:02}00", y.clamp(1, 9999), m, d, rem / 3600, rem % 3600 / 60, rem % 60);
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(&s.as_bytes()[..16]);
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// PX: mode, links, uid, gid, serial number.
pub fn px(mode: u32, links: u32, uid: u32, gid: u32, serial: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(40);
    for v in [mode, links, uid, gid, serial] {
        d.extend_from_slice(&both32(v));
    }
    entry(b"PX", &d)
}

/// TF with the modification time only (the tree's other times change
/// when it is read, and the same tree must give the same image).
pub fn tf(mtime: i64) -> Vec<u8> {
    let mut d = vec![0x02];
    d.extend_from_slice(&date7(mtime));
    entry(b"TF", &d)
}

/// NM entries for a name of any length (each holds up to 250 bytes).
pub fn nm(name: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = name.chunks(250).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut d = vec![u8::from(i + 1 < chunks.len())];
            d.extend_from_slice(c);
            entry(b"NM", &d)
        })
        .collect()
}

/// SL entries for a link target: its components (root, `.`, `..`, names,
/// a name longer than an entry split with the CONTINUE flag), packed into
/// entries of at most 255 bytes. Every byte of the target survives:
/// readers join components with `/`, so an empty component keeps a
/// doubled or trailing slash (`a//b`, `dir/`), as `readlink` gave it.
pub fn sl(target: &[u8]) -> Vec<Vec<u8>> {
    // Component records: [flags, len, bytes].
    let mut comps: Vec<Vec<u8>> = Vec::new();
    let rest = match target.strip_prefix(b"/") {
        Some(rest) => {
            comps.push(vec![0x08, 0]);
            rest
        }
        None => target,
    };
    for part in rest.split(|&b| b == b'/').filter(|_| !rest.is_empty()) {
        match part {
            b"." => comps.push(vec![0x02, 0]),
            b".." => comps.push(vec![0x04, 0]),
            b"" => comps.push(vec![0, 0]),
            _ => {
                let pieces: Vec<&[u8]> = part.chunks(200).collect();
                for (i, p) in pieces.iter().enumerate() {
                    let mut c = vec![u8::from(i + 1 < pieces.len()), p.len() as u8];
                    c.extend_from_slice(p);
                    comps.push(c);
                }
            }
        }
    }
    // Pack: an SL entry holds 250 bytes of component records.
    let mut groups: Vec<Vec<u8>> = vec![Vec::new()];
    for c in comps {
        if groups.last().unwrap().len() + c.len() > 250 {
            groups.push(Vec::new());
        }
        groups.last_mut().unwrap().extend(c);
    }
    let n = groups.len();
    groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let mut d = vec![u8::from(i + 1 < n)];
            d.extend(g);
            entry(b"SL", &d)
        })
        .collect()
}

/// PN: a device's number.
pub fn pn(rdev: u64) -> Vec<u8> {
    let mut d = Vec::with_capacity(16);
    d.extend_from_slice(&both32((rdev >> 32) as u32));
    d.extend_from_slice(&both32(rdev as u32));
    entry(b"PN", &d)
}

/// SP: the SUSP indicator, first in the root's "." record.
pub fn sp() -> Vec<u8> {
    entry(b"SP", &[0xBE, 0xEF, 0])
}

/// ER: the Rock Ridge extension reference, in the root's "." record.
pub fn er() -> Vec<u8> {
    let id = b"RRIP_1991A";
    let des = b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
    let src = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
    let mut d = vec![id.len() as u8, des.len() as u8, src.len() as u8, 1];
    d.extend_from_slice(id);
    d.extend_from_slice(des);
    d.extend_from_slice(src);
    entry(b"ER", &d)
}

/// CE: the continuation area at `block`, `offset`, `len` bytes.
pub fn ce(block: u32, offset: u32, len: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(24);
    d.extend_from_slice(&both32(block));
    d.extend_from_slice(&both32(offset));
    d.extend_from_slice(&both32(len));
    entry(b"CE", &d)
}

/// Longest symlink target written (the walk refuses longer ones, so it is
/// defined with the tree).
pub use crate::tree::MAX_LINK_TARGET;

/// Size of a CE entry.
pub const CE_LEN: usize = 28;

/// Every Rock Ridge entry of `node` (NM only for named entries, not for
/// "." and ".."), with `links` and `serial` for PX.
pub fn entries(node: &Node, named: bool, links: u32, serial: u32) -> Vec<Vec<u8>> {
    let mut out = vec![px(node.mode, links, node.uid, node.gid, serial), tf(node.mtime)];
    if named {
        use std::os::unix::ffi::OsStrExt;
        out.extend(nm(node.name.as_bytes()));
    }
    match &node.kind {
        Kind::Symlink(t) => out.extend(sl(t)),
        Kind::Special if node.rdev != 0 => out.push(pn(node.rdev)),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_fields() {
        assert_eq!(date7(0), [70, 1, 1, 0, 0, 0, 0]);
        // 2026-11-28 18:45:07 UTC
        assert_eq!(date7(1_795_891_507), [126, 11, 28, 18, 45, 7, 0]);
        assert_eq!(&date17(1_795_891_507)[..16], b"2026112818450700");
        assert_eq!(date7(-1), [69, 12, 31, 23, 59, 59, 0]);
    }

    #[test]
    fn link_targets_keep_every_slash() {
        // The component records of a single SL entry (after its flags byte).
        let comps = |t: &[u8]| {
            let e = sl(t);
            assert_eq!(e.len(), 1);
            e[0][5..].to_vec()
        };
        // `a`, empty, `b`, empty: read as "a//b/" (Linux's isofs joins
        // every component with a slash).
        assert_eq!(comps(b"a//b/"), [&[0u8, 1, b'a'][..], &[0, 0], &[0, 1, b'b'], &[0, 0]].concat());
        assert_eq!(comps(b"/"), vec![0x08, 0]);
        assert_eq!(comps(b"/x"), vec![0x08, 0, 0, 1, b'x']);
        assert_eq!(comps(b"./.."), vec![0x02, 0, 0x04, 0]);
    }

    #[test]
    fn long_names_and_targets_split_into_entries_of_at_most_255_bytes() {
        let name = vec![b'n'; 255];
        let e = nm(&name);
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|x| x.len() <= 255 && x[2] as usize == x.len()));
        assert_eq!(e[0][4], 1, "CONTINUE on the first");
        let target = [b"/".as_slice(), &[b'x'; 300], b"/../y"].concat();
        let s = sl(&target);
        assert!(s.len() >= 2 && s.iter().all(|x| x.len() <= 255 && x[2] as usize == x.len()));
        assert_eq!(s[0][5], 0x08, "root component first");
    }
}

//! The replies that describe the drive and the disc in it, byte by byte
//! as MMC-6 lays them out: GET CONFIGURATION (profiles and features),
//! READ DISC/TRACK INFORMATION, READ TOC/PMA/ATIP, READ FORMAT
//! CAPACITIES, GET PERFORMANCE, READ DISC STRUCTURE, mode page 2A.

use crate::disc::{BgFormat, Disc, Status, Track};
use crate::medium::{Family, Kind, DRIVE_PROFILES};
use crate::sense::{self, Sense};

/// (minutes, seconds, frames) of `lba` (+150: the 2-second lead-in).
pub fn msf(lba: u32) -> (u8, u8, u8) {
    msf_signed(lba as i64)
}

/// Negative LBAs (lead-in) as MSF from 90 minutes on, as ATIP has them.
fn msf_signed(lba: i64) -> (u8, u8, u8) {
    let a = if lba < -150 { lba + 450_150 } else { lba + 150 } as u64;
    ((a / 4500).min(255) as u8, (a / 75 % 60) as u8, (a % 75) as u8)
}

pub fn bcd(v: u8) -> u8 {
    ((v / 10) << 4) | (v % 10)
}

fn put32(r: &mut Vec<u8>, v: u32) {
    r.extend_from_slice(&v.to_be_bytes());
}

fn put16(r: &mut Vec<u8>, v: u16) {
    r.extend_from_slice(&v.to_be_bytes());
}

fn blocking(d: &Disc) -> u16 {
    match d.kind.family() {
        Family::Cd => 1,
        Family::Dvd => 16,
        Family::Bd => 32,
    }
}

/// GET CONFIGURATION: every feature of this drive, current or not for
/// the disc in it, filtered by the request type `rt` from `start`.
pub fn configuration(disc: Option<&Disc>, rt: u8, start: u16, alloc: usize) -> Vec<u8> {
    let kind = disc.map(|d| d.kind);
    let profile = disc.map_or(0, |d| d.profile());
    let is = |ks: &[Kind]| kind.is_some_and(|k| ks.contains(&k));
    let family = disc.map(|d| d.kind.family());
    let random = disc.is_some_and(|d| d.is_random());
    // (code, version, persistent, current, data)
    let mut features: Vec<(u16, u8, bool, bool, Vec<u8>)> = Vec::new();
    let mut list = Vec::new();
    for &p in DRIVE_PROFILES {
        put16(&mut list, p);
        list.extend_from_slice(&[(p == profile) as u8, 0]);
    }
    features.push((0x0000, 0, true, true, list));
    features.push((0x0001, 2, true, true, vec![0, 0, 0, 1, 0x03, 0, 0, 0]));
    features.push((0x0002, 1, true, true, vec![0x02, 0, 0, 0]));
    features.push((0x0003, 0, true, true, vec![0x29, 0, 0, 0]));
    let mut rr = 2048u32.to_be_bytes().to_vec();
    put16(&mut rr, disc.map_or(1, blocking));
    rr.extend_from_slice(&[1, 0]);
    let readable = disc.is_some_and(|d| d.status() != Status::Empty);
    features.push((0x0010, 0, false, readable, rr));
    features.push((0x001d, 0, false, disc.is_some(), vec![]));
    features.push((0x001e, 2, false, family == Some(Family::Cd), vec![0, 0, 0, 0]));
    features.push((0x001f, 1, false, family == Some(Family::Dvd), vec![0, 0, 0, 0]));
    let mut rw = disc.and_then(|d| d.formatted).unwrap_or(0).saturating_sub(1).to_be_bytes().to_vec();
    put32(&mut rw, 2048);
    put16(&mut rw, disc.map_or(1, blocking));
    rw.extend_from_slice(&[1, 0]);
    features.push((0x0020, 1, false, random && is(&[Kind::DvdRam, Kind::BdRe]), rw));
    let link = if family == Some(Family::Cd) { 7 } else { 16 };
    features.push((
        0x0021,
        1,
        false,
        !random && is(&[Kind::CdR, Kind::CdRw, Kind::DvdR, Kind::DvdRw]),
        vec![0x05, 0x00, 0x01, 1, link, 0, 0, 0],
    ));
    features.push((
        0x0023,
        1,
        false,
        is(&[Kind::DvdPlusRw, Kind::DvdRw, Kind::DvdRam, Kind::BdRe]),
        vec![0, 0, 0, 0, 0, 0, 0, 0],
    ));
    features.push((0x0024, 1, false, random && is(&[Kind::DvdRam, Kind::BdRe]), vec![0x80, 0, 0, 0]));
    features.push((0x0026, 0, false, false, vec![]));
    features.push((0x002a, 1, false, is(&[Kind::DvdPlusRw]), vec![1, 0, 0, 0]));
    features.push((0x002b, 0, false, is(&[Kind::DvdPlusR]), vec![1, 0, 0, 0]));
    features.push((0x002c, 1, false, random && is(&[Kind::DvdRw]), vec![0x0f, 0, 0, 0]));
    features.push((0x002d, 2, false, is(&[Kind::CdR, Kind::CdRw]), vec![0x42, 0, 0x05, 0x00]));
    features.push((0x002e, 1, false, is(&[Kind::CdR, Kind::CdRw]), vec![0x62, 0x00, 0x0f, 0xff]));
    features.push((0x002f, 1, false, !random && is(&[Kind::DvdR, Kind::DvdRw]), vec![0x42, 0, 0, 0]));
    features.push((0x0038, 0, false, disc.is_some_and(|d| d.pow), vec![0, 0, 0, 0]));
    features.push((0x003b, 0, false, is(&[Kind::DvdPlusRDl]), vec![1, 0, 0, 0]));
    // Class 0 bitmaps: BD-RE at 4, BD-R at 12, BD-ROM at 20.
    let mut bd_read = vec![0u8; 28];
    for at in [4, 12, 20] {
        bd_read[at..at + 2].fill(0xff);
    }
    features.push((0x0040, 0, false, family == Some(Family::Bd), bd_read));
    // Class 0 bitmaps: BD-RE at 4, BD-R at 12.
    let mut bd_write = vec![0u8; 20];
    for at in [4, 12] {
        bd_write[at..at + 2].fill(0xff);
    }
    features.push((0x0041, 1, false, is(&[Kind::BdR, Kind::BdRe]), bd_write));
    features.push((0x0100, 0, true, true, vec![]));
    features.push((0x0105, 1, true, true, vec![0, 0, 0, 0]));
    features.push((0x0107, 3, false, disc.is_some(), vec![0x13, 0, 0, 0]));

    let mut r = vec![0u8; 8];
    r[6..8].copy_from_slice(&profile.to_be_bytes());
    for (code, version, persistent, current, data) in features {
        let wanted = match rt {
            0 => code >= start,
            1 => code >= start && current,
            2 => code == start,
            _ => false,
        };
        if !wanted {
            continue;
        }
        put16(&mut r, code);
        r.push(version << 2 | (persistent as u8) << 1 | current as u8);
        r.push(data.len() as u8);
        r.extend_from_slice(&data);
    }
    let n = (r.len() - 4) as u32;
    r[0..4].copy_from_slice(&n.to_be_bytes());
    r.truncate(alloc);
    r
}

/// The drive's speed for the disc in it, in kB/s: CD 40×, DVD 8×, BD 4×.
fn speed(disc: Option<&Disc>) -> u16 {
    match disc.map(|d| d.kind.family()) {
        Some(Family::Dvd) => 11_080,
        Some(Family::Bd) => 17_984,
        _ => 7_056,
    }
}

/// Mode page 2A: a CD/DVD writer that reads and writes everything, with
/// the speeds of the medium in it.
pub fn capabilities_page(disc: Option<&Disc>, locked: bool) -> Vec<u8> {
    let speed = speed(disc);
    let mut p = vec![0u8; 36];
    p[0] = 0x2a;
    p[1] = 34;
    p[2] = 0x3f;
    p[3] = 0x33;
    p[4] = 0xf0;
    p[5] = 0x00;
    p[6] = 0x29 | (locked as u8) << 1;
    p[8..10].copy_from_slice(&speed.to_be_bytes());
    p[12..14].copy_from_slice(&2048u16.to_be_bytes());
    p[14..16].copy_from_slice(&speed.to_be_bytes());
    p[18..20].copy_from_slice(&speed.to_be_bytes());
    p[20..22].copy_from_slice(&speed.to_be_bytes());
    p[28..30].copy_from_slice(&speed.to_be_bytes());
    p[30..32].copy_from_slice(&1u16.to_be_bytes());
    p[34..36].copy_from_slice(&speed.to_be_bytes());
    p
}

/// READ DISC INFORMATION, standard type.
pub fn disc_information(d: &Disc) -> Vec<u8> {
    let mut r = vec![0u8; 34];
    r[1] = 32;
    let status = d.status();
    let random = d.is_random() || d.kind == Kind::DvdPlusRw;
    let (disc_status, last_session) = match status {
        Status::Empty => (0u8, 0u8),
        Status::Appendable if d.open_tracks().next().is_some() => (1, 1),
        Status::Appendable => (1, 0),
        Status::Complete if random => (2, 3),
        Status::Complete => (2, 3),
    };
    r[2] = (d.kind.erasable() as u8) << 4 | last_session << 2 | disc_status;
    r[3] = 1;
    let sessions = match status {
        Status::Complete => d.sessions().max(1),
        _ => d.open_session(),
    };
    let (first, last) = match status {
        Status::Complete => {
            let s = d.sessions();
            let ts: Vec<&Track> = d.tracks.iter().filter(|t| t.session == s).collect();
            (ts.first().map_or(1, |t| t.number), ts.last().map_or(1, |t| t.number))
        }
        _ => {
            let first = d.open_tracks().next().map_or(d.tracks.len() as u16 + 1, |t| t.number);
            let last = if d.next_track_start().is_some() && d.open_track().is_none() {
                d.tracks.len() as u16 + 1
            } else {
                d.tracks.len().max(1) as u16
            };
            (first, last)
        }
    };
    r[4] = sessions as u8;
    r[5] = first as u8;
    r[6] = last as u8;
    r[9] = (sessions >> 8) as u8;
    r[10] = (first >> 8) as u8;
    r[11] = (last >> 8) as u8;
    r[7] = 0x20; // URU: unrestricted use
    if d.kind == Kind::DvdPlusRw {
        r[7] |= match d.bg_format {
            BgFormat::None => 0,
            BgFormat::Complete => 3,
        };
    }
    if d.kind.family() == Family::Cd {
        match (status, d.next_track_start()) {
            (Status::Complete, _) | (_, None) => {
                r[16..24].fill(0xff);
            }
            (Status::Empty, _) => {
                r[17..20].copy_from_slice(&[97, 26, 66]);
                let (m, s, f) = msf(d.capacity);
                r[21..24].copy_from_slice(&[m, s, f]);
            }
            (_, Some(next)) => {
                let (m, s, f) = msf_signed(next as i64 - 150 - 4500);
                r[17..20].copy_from_slice(&[m, s, f]);
                let (m, s, f) = msf(d.capacity);
                r[21..24].copy_from_slice(&[m, s, f]);
            }
        }
    } else if status == Status::Complete && !random {
        r[16..24].fill(0xff);
    } else {
        let next = d.next_track_start().unwrap_or(0);
        r[16..20].copy_from_slice(&next.to_be_bytes());
        r[20..24].copy_from_slice(&d.capacity.to_be_bytes());
    }
    r
}

/// A track as READ TRACK INFORMATION describes it. `invisible`: the
/// blank track after the last one.
fn track_reply(d: &Disc, t: &Track, invisible: bool) -> Vec<u8> {
    let mut r = vec![0u8; 48];
    r[1] = 46;
    r[2] = t.number as u8;
    r[3] = t.session as u8;
    r[32] = (t.number >> 8) as u8;
    r[33] = (t.session >> 8) as u8;
    let cd = d.kind.family() == Family::Cd;
    r[5] = if cd { 0x04 } else { 0x05 };
    let open = !t.closed;
    let reserved = t.reserved > 0 && open;
    r[6] = (reserved as u8) << 7 | ((invisible || (open && t.size == 0)) as u8) << 6 | 0x01;
    if invisible {
        r[6] |= 0x0f;
    }
    if open && !invisible && !reserved && !cd {
        r[6] |= 0x20; // incremental
    }
    if d.kind == Kind::DvdRw && d.is_random() {
        // Restricted overwrite: one track of fixed packets (growisofs
        // checks Packet and FP before it grows the file system).
        r[6] |= 0x30;
    }
    r[8..12].copy_from_slice(&t.start.to_be_bytes());
    let (nwa, free, size) = if invisible || (open && t.reserved == 0) {
        let nwa = t.nwa();
        (Some(nwa), d.capacity.saturating_sub(nwa), d.capacity.saturating_sub(t.start))
    } else if reserved {
        (Some(t.nwa()), t.reserved.saturating_sub(t.size), t.reserved)
    } else {
        (None, 0, t.size.max(t.reserved))
    };
    if let Some(n) = nwa {
        r[7] |= 0x01;
        r[12..16].copy_from_slice(&n.to_be_bytes());
    }
    r[16..20].copy_from_slice(&free.to_be_bytes());
    let blocking = blocking(d) as u32;
    r[20..24].copy_from_slice(&(if cd { 0 } else { blocking }).to_be_bytes());
    r[24..28].copy_from_slice(&size.to_be_bytes());
    if t.size > 0 {
        r[7] |= 0x02;
        r[28..32].copy_from_slice(&(t.start + t.size - 1).to_be_bytes());
    }
    r
}

fn invisible(d: &Disc) -> Option<Track> {
    let start = d.next_track_start()?;
    Some(Track {
        number: d.tracks.len() as u16 + 1,
        session: d.open_session(),
        start,
        size: 0,
        reserved: 0,
        closed: false,
    })
}

/// A formatted disc's one track.
fn formatted_track(d: &Disc) -> Option<Track> {
    let size = d.formatted?;
    Some(Track { number: 1, session: 1, start: 0, size, reserved: 0, closed: true })
}

/// The tracks READ TRACK INFORMATION and READ TOC know: the disc's,
/// then the invisible one.
fn all_tracks(d: &Disc) -> Vec<(Track, bool)> {
    let mut v: Vec<(Track, bool)> = if let Some(t) = formatted_track(d) {
        vec![(t, false)]
    } else {
        d.tracks.iter().cloned().map(|t| (t, false)).collect()
    };
    if d.open_track().is_none() {
        if let Some(t) = invisible(d) {
            v.push((t, true));
        }
    }
    v
}

/// READ TRACK INFORMATION by LBA (0), track (1) or session (2).
pub fn track_information(d: &Disc, kind: u8, address: u32) -> Result<Vec<u8>, Sense> {
    let tracks = all_tracks(d);
    if tracks.is_empty() {
        // An unformatted DVD+RW or BD-RE: nothing to describe yet.
        let t = Track { number: 1, session: 1, start: 0, size: 0, reserved: 0, closed: false };
        return Ok(track_reply(d, &Track { size: 0, ..t }, true));
    }
    let found = match kind {
        0 => tracks.iter().find(|(t, inv)| address >= t.start && (address < t.end() || *inv)),
        1 if address == 0xff => tracks.iter().find(|(t, _)| !t.closed).or(tracks.last()),
        1 => tracks.iter().find(|(t, _)| t.number as u32 == address),
        2 => tracks.iter().find(|(t, _)| t.session as u32 == address),
        _ => None,
    };
    let (t, inv) = found.ok_or(sense::INVALID_FIELD_IN_CDB)?;
    Ok(track_reply(d, t, *inv && t.size == 0))
}

/// Tracks in the TOC: those of closed sessions (and, on DVD and BD,
/// closed tracks of the open session: drives make their TOC up).
fn toc_tracks(d: &Disc) -> Vec<Track> {
    if let Some(t) = formatted_track(d) {
        return vec![t];
    }
    let cd = d.kind.family() == Family::Cd;
    d.tracks.iter().filter(|t| t.session <= d.closed_sessions || (!cd && t.closed)).cloned().collect()
}

/// READ TOC/PMA/ATIP: formats 0 (TOC), 1 (sessions), 2 (raw TOC), 4 (ATIP).
pub fn toc(d: &Disc, c: &[u8; 16]) -> Result<Vec<u8>, Sense> {
    let msf_addr = c[1] & 2 != 0;
    let mut format = c[2] & 0x0f;
    if format == 0 {
        // The old (SFF-8020) encoding, as the kernel's isofs still sends.
        format = c[9] >> 6;
    }
    let start = c[6];
    let alloc = u16::from_be_bytes([c[7], c[8]]) as usize;
    let addr = |lba: u32| -> [u8; 4] {
        if msf_addr {
            let (m, s, f) = msf(lba);
            [0, m, s, f]
        } else {
            lba.to_be_bytes()
        }
    };
    let tracks = toc_tracks(d);
    let mut r = vec![0u8; 4];
    match format {
        0 => {
            let (first, last) = match (tracks.first(), tracks.last()) {
                (Some(f), Some(l)) => (f.number, l.number),
                _ => return Err(sense::INVALID_FIELD_IN_CDB),
            };
            r[2] = first as u8;
            r[3] = last as u8;
            for t in tracks.iter().filter(|t| t.number as u8 >= start || start == 0) {
                if start == 0xaa {
                    break;
                }
                r.extend_from_slice(&[0, 0x14, t.number as u8, 0]);
                r.extend_from_slice(&addr(t.start));
            }
            let leadout = tracks.last().map_or(0, |t| t.end());
            r.extend_from_slice(&[0, 0x14, 0xaa, 0]);
            r.extend_from_slice(&addr(leadout));
        }
        1 => {
            let last = tracks.last().map_or(1, |t| t.session);
            r[2] = 1;
            r[3] = last as u8;
            let t = tracks.iter().find(|t| t.session == last).cloned().unwrap_or(Track {
                number: 1,
                session: 1,
                start: 0,
                size: 0,
                reserved: 0,
                closed: true,
            });
            r.extend_from_slice(&[0, 0x14, t.number as u8, 0]);
            r.extend_from_slice(&addr(t.start));
        }
        2 => {
            if tracks.is_empty() {
                return Err(sense::INVALID_FIELD_IN_CDB);
            }
            let sessions = tracks.last().map_or(1, |t| t.session);
            r[2] = 1;
            r[3] = sessions as u8;
            for s in 1..=sessions {
                let ts: Vec<&Track> = tracks.iter().filter(|t| t.session == s).collect();
                let (Some(first), Some(last)) = (ts.first(), ts.last()) else { continue };
                let (m, sec, f) = msf(last.end());
                let entry = |r: &mut Vec<u8>, adr_ctl: u8, point: u8, p: [u8; 3], z: [u8; 3]| {
                    r.extend_from_slice(&[s as u8, adr_ctl, 0, point, z[0], z[1], z[2], 0, p[0], p[1], p[2]]);
                };
                entry(&mut r, 0x14, 0xa0, [first.number as u8, 0x00, 0], [0; 3]);
                entry(&mut r, 0x14, 0xa1, [last.number as u8, 0, 0], [0; 3]);
                entry(&mut r, 0x14, 0xa2, [m, sec, f], [0; 3]);
                for t in &ts {
                    let (m, sec, f) = msf(t.start);
                    entry(&mut r, 0x14, t.number as u8, [m, sec, f], [0; 3]);
                }
                if s == sessions && d.kind.family() == Family::Cd {
                    if let Some(next) = d.next_track_start() {
                        let (nm, ns, nf) = msf(next);
                        let (lm, ls, lf) = msf(d.capacity);
                        entry(&mut r, 0x54, 0xb0, [lm, ls, lf], [nm, ns, nf]);
                    }
                }
            }
        }
        4 => {
            if d.kind.family() != Family::Cd || d.kind.is_rom() {
                return Err(sense::INVALID_FIELD_IN_CDB);
            }
            r.extend_from_slice(&[0u8; 24]);
            r[4] = 0x80 | 5 << 4 | 1;
            r[6] = 0x80 | ((d.kind == Kind::CdRw) as u8) << 6;
            r[8..11].copy_from_slice(&[97, 26, 66]);
            let (m, s, f) = msf(d.capacity);
            r[12..15].copy_from_slice(&[m, s, f]);
        }
        _ => return Err(sense::INVALID_FIELD_IN_CDB),
    }
    let n = (r.len() - 2) as u16;
    r[0..2].copy_from_slice(&n.to_be_bytes());
    r.truncate(alloc);
    Ok(r)
}

/// READ FORMAT CAPACITIES: the current capacity, then each format the
/// disc takes.
pub fn format_capacities(disc: Option<&Disc>, alloc: usize) -> Vec<u8> {
    let mut r = vec![0u8; 4];
    match disc {
        None => {
            put32(&mut r, 0);
            r.extend_from_slice(&[0x03, 0, 0x08, 0]);
        }
        Some(d) => {
            let (blocks, kind) = match d.formatted {
                Some(f) => (f, 0x02),
                None => (d.capacity, 0x01),
            };
            put32(&mut r, blocks);
            r.extend_from_slice(&[kind, 0, 0x08, 0]);
            for t in d.format_types() {
                put32(&mut r, d.format_max(t).unwrap_or(0));
                let param: u32 = if d.kind == Kind::DvdRw { 16 } else { 0 };
                r.push(t << 2);
                r.extend_from_slice(&param.to_be_bytes()[1..]);
            }
        }
    }
    r[3] = (r.len() - 4) as u8;
    r.truncate(alloc);
    r
}

/// READ BUFFER CAPACITY: an empty 4 MiB buffer.
pub fn buffer_capacity(in_blocks: bool) -> Vec<u8> {
    let mut r = vec![0, 10, 0, in_blocks as u8];
    if in_blocks {
        put32(&mut r, 0);
        put32(&mut r, 2048);
    } else {
        put32(&mut r, 4 << 20);
        put32(&mut r, 4 << 20);
    }
    r
}

/// GET PERFORMANCE: type 0 (performance) and 3 (write speeds: three).
pub fn performance(disc: Option<&Disc>, kind: u8, max: usize) -> Vec<u8> {
    let speed = speed(disc) as u32;
    let end = disc.map_or(0, |d| d.capacity.saturating_sub(1));
    let mut r = vec![0u8; 8];
    if max > 0 {
        match kind {
            0x00 => {
                put32(&mut r, 0);
                put32(&mut r, speed);
                put32(&mut r, end);
                put32(&mut r, speed);
            }
            0x03 => {
                // The fastest, a half and a quarter of it, as a drive
                // lists the speeds of a medium.
                for s in [speed, speed / 2, speed / 4].into_iter().take(max) {
                    r.extend_from_slice(&[0x04, 0, 0, 0]);
                    put32(&mut r, end);
                    put32(&mut r, speed);
                    put32(&mut r, s);
                }
            }
            _ => {}
        }
    }
    let n = (r.len() - 4) as u32;
    r[0..4].copy_from_slice(&n.to_be_bytes());
    r
}

/// READ DISC STRUCTURE for DVD (media type 0) and BD (1).
pub fn disc_structure(d: Disc, media: u8, format: u8, alloc: usize) -> Result<Vec<u8>, Sense> {
    let family = d.kind.family();
    if family == Family::Cd {
        return Err(sense::CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT);
    }
    let bd = family == Family::Bd;
    if media != bd as u8 && format != 0xff {
        return Err(sense::INVALID_FIELD_IN_CDB);
    }
    let mut r = vec![0u8; 4];
    match (bd, format) {
        (false, 0x00) => {
            let mut p = vec![0u8; 2048];
            p[0] = match d.kind {
                Kind::DvdRom => 0x01,
                Kind::DvdRam => 0x12,
                Kind::DvdR => 0x25,
                Kind::DvdRw => 0x32,
                Kind::DvdPlusRw => 0x92,
                Kind::DvdPlusR => 0xa1,
                _ => 0xe1,
            };
            p[1] = 0x02;
            let layers = if d.kind == Kind::DvdPlusRDl { 1u8 } else { 0 };
            let layer_type = match d.kind {
                Kind::DvdRom => 1,
                Kind::DvdR | Kind::DvdPlusR | Kind::DvdPlusRDl => 2,
                _ => 4,
            };
            p[2] = layers << 5 | layer_type;
            p[3] = 0x10;
            p[4..8].copy_from_slice(&0x30000u32.to_be_bytes());
            p[8..12].copy_from_slice(&(0x30000 + d.capacity - 1).to_be_bytes());
            if let Some(b) = d.layer_break {
                p[12..16].copy_from_slice(&(0x30000 + b - 1).to_be_bytes());
            }
            r.extend_from_slice(&p);
        }
        (false, 0x11) if matches!(d.kind, Kind::DvdPlusR | Kind::DvdPlusRDl | Kind::DvdPlusRw) => {
            r.extend_from_slice(&[0u8; 256]);
        }
        (false, 0x20) if d.kind == Kind::DvdPlusRDl => {
            r.extend_from_slice(&[0x80, 0, 0, 0]);
            put32(&mut r, d.layer_break.unwrap_or(d.capacity / 2));
        }
        (true, 0x0a) => {
            put32(&mut r, 0);
            let spare = if d.kind == Kind::BdRe { 393_216 } else { 0 };
            put32(&mut r, spare);
            put32(&mut r, spare);
        }
        (_, 0xff) => {
            let formats: &[(u8, u16)] = if bd {
                &[(0x0a, 12), (0xff, 0)]
            } else if d.kind == Kind::DvdPlusRDl {
                &[(0x00, 2048), (0x11, 256), (0x20, 8), (0xff, 0)]
            } else {
                &[(0x00, 2048), (0x11, 256), (0xff, 0)]
            };
            for &(f, len) in formats {
                r.extend_from_slice(&[f, 0x40]);
                put16(&mut r, len);
            }
        }
        _ => return Err(sense::INVALID_FIELD_IN_CDB),
    }
    let n = (r.len() - 2) as u16;
    r[0..2].copy_from_slice(&n.to_be_bytes());
    r.truncate(alloc);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msf_counts_the_two_second_lead_in() {
        assert_eq!(msf(0), (0, 2, 0));
        assert_eq!(msf(359_849), (79, 59, 74));
        assert_eq!(msf_signed(-11_634), (97, 26, 66));
    }

    #[test]
    fn a_blank_cd_r_has_one_invisible_track_at_zero() {
        let d = Disc::new(Kind::CdR, 359_849);
        let t = track_information(&d, 1, 0xff).unwrap();
        assert_eq!((t[2], t[6] & 0x40, t[7] & 1), (1, 0x40, 1));
        assert_eq!(u32::from_be_bytes(t[12..16].try_into().unwrap()), 0);
        assert_eq!(u32::from_be_bytes(t[16..20].try_into().unwrap()), 359_849);
        let i = disc_information(&d);
        assert_eq!((i[2] & 3, i[4], i[5], i[6]), (0, 1, 1, 1));
    }

    #[test]
    fn configuration_names_the_current_profile_and_its_features() {
        let d = Disc::new(Kind::DvdPlusR, 1000);
        let r = configuration(Some(&d), 2, 0x2b, 1000);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0x1b);
        assert_eq!((u16::from_be_bytes([r[8], r[9]]), r[10] & 1), (0x2b, 1));
        let none = configuration(None, 0, 0, 1000);
        assert_eq!(u16::from_be_bytes([none[6], none[7]]), 0);
    }
}

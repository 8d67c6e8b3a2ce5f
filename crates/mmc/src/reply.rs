//! Parsers of drive replies (INQUIRY, GET CONFIGURATION, MODE SENSE) and
//! the MMC names of profiles and features. Pure functions over bytes that
//! never panic, whatever the device (or a fuzzer) sends; `fuzz/` has a
//! target for each.

/// Standard INQUIRY data: who made the drive.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Inquiry {
    /// Peripheral device type (5: CD/DVD).
    pub device_type: u8,
    /// Removable medium.
    pub removable: bool,
    /// T10 vendor identification.
    pub vendor: String,
    /// Product identification.
    pub product: String,
    /// Product revision level.
    pub revision: String,
}

fn ascii(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_matches(|c: char| c == ' ' || c == '\0').to_string()
}

/// Parse standard INQUIRY data. `None` when it is too short to hold the
/// identification fields.
pub fn parse_inquiry(b: &[u8]) -> Option<Inquiry> {
    if b.len() < 36 {
        return None;
    }
    Some(Inquiry {
        device_type: b[0] & 0x1f,
        removable: b[1] & 0x80 != 0,
        vendor: ascii(&b[8..16]),
        product: ascii(&b[16..32]),
        revision: ascii(&b[32..36]),
    })
}

/// One feature from GET CONFIGURATION.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Feature {
    /// Feature code.
    pub code: u16,
    /// MMC name, where known.
    pub name: Option<&'static str>,
    /// Current (active with the present medium).
    pub current: bool,
    /// Feature version.
    pub version: u8,
}

/// GET CONFIGURATION reply: profiles and features.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Configuration {
    /// The current profile (0: none, e.g. no medium).
    pub current_profile: u16,
    /// Profiles the drive supports, with whether each is current.
    pub profiles: Vec<(u16, bool)>,
    /// Features, in the order reported.
    pub features: Vec<Feature>,
    /// From the Removable Medium feature: the drive can load (close) its tray.
    pub can_load: Option<bool>,
    /// From the Removable Medium feature: the drive can eject.
    pub can_eject: Option<bool>,
    /// From the Removable Medium feature: the tray can be locked.
    pub can_lock: Option<bool>,
}

/// Parse a GET CONFIGURATION reply. Truncated descriptors end the list;
/// nothing here can panic.
pub fn parse_configuration(b: &[u8]) -> Option<Configuration> {
    if b.len() < 8 {
        return None;
    }
    let data_len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let end = b.len().min(data_len.saturating_add(4));
    let mut c = Configuration { current_profile: u16::from_be_bytes([b[6], b[7]]), ..Default::default() };
    let mut i = 8;
    while i + 4 <= end {
        let code = u16::from_be_bytes([b[i], b[i + 1]]);
        let flags = b[i + 2];
        let len = b[i + 3] as usize;
        let data = &b[i + 4..end.min(i + 4 + len)];
        c.features.push(Feature {
            code,
            name: feature_name(code),
            current: flags & 1 != 0,
            version: (flags >> 2) & 0x0f,
        });
        match code {
            0x0000 => {
                for p in data.chunks_exact(4) {
                    c.profiles.push((u16::from_be_bytes([p[0], p[1]]), p[2] & 1 != 0));
                }
            }
            0x0003 if !data.is_empty() => {
                let d = data[0];
                c.can_lock = Some(d & 0x01 != 0);
                c.can_eject = Some(d & 0x08 != 0);
                // The Load bit (MMC-5 and later); a tray or pop-up loading
                // mechanism can close as well.
                c.can_load = Some(d & 0x10 != 0 || matches!(d >> 5, 1 | 2));
            }
            _ => {}
        }
        i += 4 + len;
    }
    Some(c)
}

/// MMC profile names.
pub fn profile_name(p: u16) -> Option<&'static str> {
    Some(match p {
        0x0001 => "Non-removable Disk",
        0x0002 => "Removable Disk",
        0x0003 => "MO Erasable",
        0x0004 => "Optical Write Once",
        0x0005 => "AS-MO",
        0x0008 => "CD-ROM",
        0x0009 => "CD-R",
        0x000A => "CD-RW",
        0x0010 => "DVD-ROM",
        0x0011 => "DVD-R Sequential Recording",
        0x0012 => "DVD-RAM",
        0x0013 => "DVD-RW Restricted Overwrite",
        0x0014 => "DVD-RW Sequential Recording",
        0x0015 => "DVD-R Dual Layer Sequential Recording",
        0x0016 => "DVD-R Dual Layer Jump Recording",
        0x0017 => "DVD-RW Dual Layer",
        0x0018 => "DVD-Download Disc Recording",
        0x001A => "DVD+RW",
        0x001B => "DVD+R",
        0x002A => "DVD+RW Dual Layer",
        0x002B => "DVD+R Dual Layer",
        0x0040 => "BD-ROM",
        0x0041 => "BD-R Sequential Recording",
        0x0042 => "BD-R Random Recording",
        0x0043 => "BD-RE",
        0x0050 => "HD DVD-ROM",
        0x0051 => "HD DVD-R",
        0x0052 => "HD DVD-RAM",
        0x0053 => "HD DVD-RW",
        0x0058 => "HD DVD-R Dual Layer",
        0x005A => "HD DVD-RW Dual Layer",
        0xFFFF => "Non-standard",
        _ => return None,
    })
}

/// MMC feature names.
pub fn feature_name(f: u16) -> Option<&'static str> {
    Some(match f {
        0x0000 => "Profile List",
        0x0001 => "Core",
        0x0002 => "Morphing",
        0x0003 => "Removable Medium",
        0x0004 => "Write Protect",
        0x0010 => "Random Readable",
        0x001D => "Multi-Read",
        0x001E => "CD Read",
        0x001F => "DVD Read",
        0x0020 => "Random Writable",
        0x0021 => "Incremental Streaming Writable",
        0x0022 => "Sector Erasable",
        0x0023 => "Formattable",
        0x0024 => "Hardware Defect Management",
        0x0025 => "Write Once",
        0x0026 => "Restricted Overwrite",
        0x0027 => "CD-RW CAV Write",
        0x0028 => "MRW",
        0x0029 => "Enhanced Defect Reporting",
        0x002A => "DVD+RW",
        0x002B => "DVD+R",
        0x002C => "Rigid Restricted Overwrite",
        0x002D => "CD Track at Once",
        0x002E => "CD Mastering",
        0x002F => "DVD-R/-RW Write",
        0x0030 => "DDCD Read",
        0x0031 => "DDCD-R Write",
        0x0032 => "DDCD-RW Write",
        0x0033 => "Layer Jump Recording",
        0x0037 => "CD-RW Media Write Support",
        0x0038 => "BD-R Pseudo-Overwrite",
        0x003A => "DVD+RW Dual Layer",
        0x003B => "DVD+R Dual Layer",
        0x0040 => "BD Read",
        0x0041 => "BD Write",
        0x0042 => "TSR",
        0x0050 => "HD DVD Read",
        0x0051 => "HD DVD Write",
        0x0080 => "Hybrid Disc",
        0x0100 => "Power Management",
        0x0101 => "SMART",
        0x0102 => "Embedded Changer",
        0x0103 => "CD Audio External Play",
        0x0104 => "Microcode Upgrade",
        0x0105 => "Timeout",
        0x0106 => "DVD CSS",
        0x0107 => "Real Time Streaming",
        0x0108 => "Drive Serial Number",
        0x0109 => "Media Serial Number",
        0x010A => "Disc Control Blocks",
        0x010B => "DVD CPRM",
        0x010C => "Firmware Information",
        0x010D => "AACS",
        0x010E => "DVD CSS Managed Recording",
        0x0110 => "VCPS",
        0x0113 => "SecurDisc",
        0x0142 => "OSSC",
        _ => return None,
    })
}

/// Mode page codes present in a MODE SENSE(10) reply for all pages (0x3F).
pub fn parse_mode_pages(b: &[u8]) -> Vec<u8> {
    let mut pages = Vec::new();
    if b.len() < 8 {
        return pages;
    }
    let data_len = u16::from_be_bytes([b[0], b[1]]) as usize;
    let end = b.len().min(data_len + 2);
    let mut i = 8usize.saturating_add(u16::from_be_bytes([b[6], b[7]]) as usize);
    while i + 2 <= end {
        let code = b[i] & 0x3f;
        let len = b[i + 1] as usize;
        if i + 2 + len > end {
            break;
        }
        pages.push(code);
        i += 2 + len;
    }
    pages
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Disc status of READ DISC INFORMATION (byte 2, bits 1-0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DiscStatus {
    /// 00b: nothing recorded.
    Empty,
    /// 01b: recorded, more can be appended.
    Incomplete,
    /// 10b: complete (finalized), or a pressed disc.
    Complete,
    /// 11b: other, e.g. randomly writable media (DVD+RW, DVD-RAM, BD-RE).
    Other,
}

/// State of the last session (byte 2, bits 3-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SessionState {
    /// 00b: empty.
    Empty,
    /// 01b: incomplete (open).
    Incomplete,
    /// 10b: reserved or damaged.
    Damaged,
    /// 11b: complete.
    Complete,
}

/// Standard disc information (READ DISC INFORMATION, MMC-6 6.22).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DiscInformation {
    /// Empty, incomplete, complete or other.
    pub status: DiscStatus,
    /// State of the last session.
    pub last_session: SessionState,
    /// The disc can be erased (CD-RW, DVD-RW).
    pub erasable: bool,
    /// Number of the first track on the disc.
    pub first_track: u16,
    /// Number of sessions.
    pub sessions: u16,
    /// First track number in the last session.
    pub first_track_in_last_session: u16,
    /// Last track number in the last session.
    pub last_track_in_last_session: u16,
}

/// Parse standard disc information; `None` when shorter than the 12
/// bytes that hold the fields above.
pub fn parse_disc_information(b: &[u8]) -> Option<DiscInformation> {
    if b.len() < 12 {
        return None;
    }
    let status = match b[2] & 0x03 {
        0 => DiscStatus::Empty,
        1 => DiscStatus::Incomplete,
        2 => DiscStatus::Complete,
        _ => DiscStatus::Other,
    };
    let last_session = match (b[2] >> 2) & 0x03 {
        0 => SessionState::Empty,
        1 => SessionState::Incomplete,
        2 => SessionState::Damaged,
        _ => SessionState::Complete,
    };
    Some(DiscInformation {
        status,
        last_session,
        erasable: b[2] & 0x10 != 0,
        first_track: u16::from(b[3]),
        sessions: u16::from_be_bytes([b[9], b[4]]),
        first_track_in_last_session: u16::from_be_bytes([b[10], b[5]]),
        last_track_in_last_session: u16::from_be_bytes([b[11], b[6]]),
    })
}

/// Track information (READ TRACK INFORMATION, MMC-6 6.27).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TrackInformation {
    /// Logical track number.
    pub track: u16,
    /// Session number.
    pub session: u16,
    /// Nothing is recorded in the track.
    pub blank: bool,
    /// The next writable address is valid.
    pub nwa_valid: bool,
    /// First sector of the track.
    pub start: u32,
    /// Next writable address (valid with `nwa_valid`).
    pub next_writable: u32,
    /// Sectors still writable in the track.
    pub free_blocks: u32,
    /// Sectors in the track.
    pub size: u32,
}

/// Parse track information; `None` when shorter than the 28 bytes that
/// hold the fields above.
pub fn parse_track_information(b: &[u8]) -> Option<TrackInformation> {
    if b.len() < 28 {
        return None;
    }
    let msb = |at: usize| b.get(at).copied().unwrap_or(0);
    Some(TrackInformation {
        track: u16::from_be_bytes([msb(32), b[2]]),
        session: u16::from_be_bytes([msb(33), b[3]]),
        blank: b[6] & 0x40 != 0,
        nwa_valid: b[7] & 0x01 != 0,
        start: be32(b, 8),
        next_writable: be32(b, 12),
        free_blocks: be32(b, 16),
        size: be32(b, 24),
    })
}

/// READ FORMAT CAPACITIES (MMC-6 6.24): the current state of the medium
/// and the formats it takes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FormatCapacities {
    /// The current descriptor says the medium is formatted (type 10b).
    pub formatted: bool,
    /// It says the medium is not formatted (type 01b); neither: no medium
    /// or an unknown capacity (11b).
    pub unformatted: bool,
    /// The current (formatted) or largest (unformatted) capacity, blocks.
    pub current_blocks: u32,
    /// (format type, blocks, type dependent parameter) of each format
    /// the medium takes.
    pub formats: Vec<(u8, u32, u32)>,
}

/// Parse READ FORMAT CAPACITIES data; `None` when it has no current
/// descriptor.
pub fn parse_format_capacities(b: &[u8]) -> Option<FormatCapacities> {
    if b.len() < 12 {
        return None;
    }
    let end = b.len().min(4 + b[3] as usize);
    let formats = b[12..end.max(12)]
        .chunks_exact(8)
        .map(|d| (d[4] >> 2, be32(d, 0), u32::from_be_bytes([0, d[5], d[6], d[7]])))
        .collect();
    Some(FormatCapacities {
        formatted: b[8] & 0x03 == 0x02,
        unformatted: b[8] & 0x03 == 0x01,
        current_blocks: be32(b, 4),
        formats,
    })
}

/// Parse GET PERFORMANCE write speed descriptors (type 03h): the write
/// speeds in kB/s, fastest first, without repeats or zeros.
pub fn parse_write_speeds(b: &[u8]) -> Vec<u32> {
    if b.len() < 8 {
        return Vec::new();
    }
    let end = b.len().min(be32(b, 0) as usize + 4);
    let mut speeds: Vec<u32> = b[8..end.max(8)].chunks_exact(16).map(|d| be32(d, 12)).filter(|&s| s > 0).collect();
    speeds.sort_unstable_by(|a, b| b.cmp(a));
    speeds.dedup();
    speeds
}

/// Parse READ CAPACITY data: (last LBA, block length).
pub fn parse_read_capacity(b: &[u8]) -> Option<(u32, u32)> {
    (b.len() >= 8).then(|| (be32(b, 0), be32(b, 4)))
}

/// The unit serial number of VPD page 0x80, trimmed; `None` when empty
/// or not that page.
pub fn parse_unit_serial(b: &[u8]) -> Option<String> {
    if b.len() < 4 || b[1] != 0x80 {
        return None;
    }
    let len = (u16::from_be_bytes([b[2], b[3]]) as usize).min(b.len() - 4);
    let s = ascii(&b[4..4 + len]);
    (!s.is_empty()).then_some(s)
}

/// The best designator of VPD page 0x83 (device identification) for
/// telling one logical unit from every other: NAA (type 3), then EUI-64
/// (2), then T10 vendor ID (1), each associated with the logical unit;
/// as `naa:HEX`, `eui:HEX` or `t10:TEXT`. `None` when there is none.
pub fn parse_device_identification(b: &[u8]) -> Option<String> {
    if b.len() < 4 || b[1] != 0x83 {
        return None;
    }
    let end = (4 + u16::from_be_bytes([b[2], b[3]]) as usize).min(b.len());
    let mut best: Option<(u8, String)> = None;
    let mut i = 4;
    while i + 4 <= end {
        let code_set = b[i] & 0x0f;
        let association = (b[i + 1] >> 4) & 0x03;
        let kind = b[i + 1] & 0x0f;
        let len = b[i + 3] as usize;
        let Some(id) = b.get(i + 4..(i + 4 + len).min(end)) else { break };
        i += 4 + len;
        if association != 0 || id.is_empty() {
            continue;
        }
        let rank = match kind {
            3 => 3,
            2 => 2,
            1 => 1,
            _ => continue,
        };
        let text = match (kind, code_set) {
            (1, _) | (_, 2) | (_, 3) => format!("t10:{}", ascii(id).split_whitespace().collect::<Vec<_>>().join(" ")),
            (3, _) => format!("naa:{}", id.iter().map(|x| format!("{x:02x}")).collect::<String>()),
            _ => format!("eui:{}", id.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        };
        if best.as_ref().is_none_or(|(r, _)| rank > *r) {
            best = Some((rank, text));
        }
    }
    best.map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inquiry_fields() {
        let mut b = vec![0u8; 36];
        b[0] = 5;
        b[1] = 0x80;
        b[8..16].copy_from_slice(b"QEMU    ");
        b[16..32].copy_from_slice(b"QEMU DVD-ROM    ");
        b[32..36].copy_from_slice(b"2.5+");
        let i = parse_inquiry(&b).unwrap();
        assert_eq!((i.device_type, i.removable), (5, true));
        assert_eq!((i.vendor.as_str(), i.product.as_str(), i.revision.as_str()), ("QEMU", "QEMU DVD-ROM", "2.5+"));
        assert!(parse_inquiry(&b[..35]).is_none());
    }

    #[test]
    fn configuration_profiles_features_and_truncation() {
        // Header (current profile CD-ROM), Profile List (DVD-ROM, CD-ROM
        // current), Core, Removable Medium (tray, eject, lock, load).
        let mut b = vec![0, 0, 0, 0, 0, 0, 0x00, 0x08];
        b.extend_from_slice(&[0x00, 0x00, 0x03, 8, 0x00, 0x10, 0, 0, 0x00, 0x08, 1, 0]);
        b.extend_from_slice(&[0x00, 0x01, 0x07, 4, 0, 0, 0, 8]);
        b.extend_from_slice(&[0x00, 0x03, 0x03, 4, 0x29 | 0x10, 0, 0, 0]);
        let n = (b.len() - 4) as u32;
        b[..4].copy_from_slice(&n.to_be_bytes());
        let c = parse_configuration(&b).unwrap();
        assert_eq!(c.current_profile, 0x0008);
        assert_eq!(c.profiles, vec![(0x0010, false), (0x0008, true)]);
        assert_eq!(
            c.features.iter().map(|f| f.name.unwrap()).collect::<Vec<_>>(),
            ["Profile List", "Core", "Removable Medium"]
        );
        assert_eq!((c.can_load, c.can_eject, c.can_lock), (Some(true), Some(true), Some(true)));
        // Every truncation parses without panicking.
        for cut in 0..b.len() {
            let _ = parse_configuration(&b[..cut]);
        }
        // A data length larger than the buffer is clamped.
        b[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(parse_configuration(&b).unwrap().features.len(), 3);
    }

    #[test]
    fn write_speeds_fastest_first_once_each() {
        let mut b = vec![0, 0, 0, 52, 0, 0, 0, 0];
        for s in [5540u32, 22160, 5540] {
            let mut d = [0u8; 16];
            d[12..16].copy_from_slice(&s.to_be_bytes());
            b.extend_from_slice(&d);
        }
        assert_eq!(parse_write_speeds(&b), vec![22160, 5540]);
        for cut in 0..b.len() {
            let _ = parse_write_speeds(&b[..cut]);
        }
    }

    #[test]
    fn format_capacities_of_an_unformatted_dvd_plus_rw() {
        let mut b = vec![0, 0, 0, 16, 0, 0x23, 0x05, 0x40, 0x01, 0, 0x08, 0];
        b.extend_from_slice(&[0, 0x23, 0x05, 0x40, 0x26 << 2, 0, 0, 0]);
        let f = parse_format_capacities(&b).unwrap();
        assert!(!f.formatted && f.unformatted);
        assert_eq!(f.current_blocks, 0x230540);
        b[8] = 0x03;
        let none = parse_format_capacities(&b).unwrap();
        assert!(!none.formatted && !none.unformatted);
        b[8] = 0x01;
        assert_eq!(f.formats, vec![(0x26, 0x230540, 0)]);
        for cut in 0..b.len() {
            let _ = parse_format_capacities(&b[..cut]);
        }
    }

    #[test]
    fn mode_pages_and_truncation() {
        let mut m = vec![0, 0, 0, 0, 0, 0, 0, 0, 0x01, 2, 0, 0, 0x2a, 4, 1, 2, 3, 4];
        m[1] = (m.len() - 2) as u8;
        assert_eq!(parse_mode_pages(&m), vec![0x01, 0x2a]);
        for cut in 0..m.len() {
            let _ = parse_mode_pages(&m[..cut]);
        }
    }

    #[test]
    fn disc_and_track_information_as_tgt_sends_them() {
        // tgt's blank DVD+R: disc status empty, one session, track 1.
        let mut d = vec![0u8; 34];
        d[1] = 0x20;
        (d[3], d[4], d[5], d[6], d[7]) = (1, 1, 1, 1, 0x10);
        let i = parse_disc_information(&d).unwrap();
        assert_eq!((i.status, i.last_session, i.erasable), (DiscStatus::Empty, SessionState::Empty, false));
        assert_eq!((i.first_track, i.sessions, i.last_track_in_last_session), (1, 1, 1));
        // Finalized: 0x0e = complete session, complete disc.
        d[2] = 0x0e;
        let i = parse_disc_information(&d).unwrap();
        assert_eq!((i.status, i.last_session), (DiscStatus::Complete, SessionState::Complete));
        assert!(parse_disc_information(&d[..11]).is_none());

        let mut t = vec![0u8; 48];
        (t[2], t[3], t[5], t[6], t[7]) = (1, 1, 0x07, 0x41, 0x01);
        t[16..20].copy_from_slice(&2_295_104u32.to_be_bytes());
        t[24..28].copy_from_slice(&2_295_104u32.to_be_bytes());
        let ti = parse_track_information(&t).unwrap();
        assert_eq!((ti.track, ti.session, ti.blank, ti.nwa_valid), (1, 1, true, true));
        assert_eq!((ti.next_writable, ti.free_blocks, ti.size), (0, 2_295_104, 2_295_104));
        assert!(parse_track_information(&t[..27]).is_none());
        assert_eq!(parse_track_information(&t[..28]).unwrap().track, 1);
        assert_eq!(parse_read_capacity(&[0, 0, 1, 0, 0, 0, 8, 0]), Some((256, 2048)));
        assert_eq!(parse_read_capacity(&[0; 7]), None);
    }

    #[test]
    fn vpd_identity_prefers_naa_then_serial() {
        // Page 0x83 with a T10 vendor ID and an NAA designator.
        let mut p = vec![0x05, 0x83, 0, 0];
        p.extend_from_slice(&[0x02, 0x01, 0, 8]);
        p.extend_from_slice(b"IET     ");
        p.extend_from_slice(&[0x01, 0x03, 0, 8, 0x60, 0, 0xe, 0xd0, 0, 0, 0, 1]);
        let n = (p.len() - 4) as u16;
        p[2..4].copy_from_slice(&n.to_be_bytes());
        assert_eq!(parse_device_identification(&p).as_deref(), Some("naa:60000ed000000001"));
        // Target-port designators (association 1) do not name the unit.
        p[4 + 12 + 1] = 0x13;
        assert_eq!(parse_device_identification(&p).as_deref(), Some("t10:IET"));
        for cut in 0..p.len() {
            let _ = parse_device_identification(&p[..cut]);
        }
        let s = [0x05, 0x80, 0, 8, b' ', b'b', b'e', b'a', b'f', b'1', b'1', b' '];
        assert_eq!(parse_unit_serial(&s).as_deref(), Some("beaf11"));
        assert_eq!(parse_unit_serial(&[0x05, 0x80, 0, 0]), None);
    }
}

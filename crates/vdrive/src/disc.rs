//! A disc: its tracks and sessions, what may be written where, and how
//! closing, blanking and formatting change it (the state rules of MMC-6
//! chapter 4 for each medium). The bytes live in [`crate::image`].

use serde::{Deserialize, Serialize};

use crate::medium::{Family, Kind};
use crate::sense::{self, Sense};

/// CD: first session's lead-out (6750) + next lead-in (4500) + pregap
/// (150): where the second session starts after the first one's end.
pub const CD_FIRST_SESSION_GAP: u32 = 11_400;
/// CD: later sessions (lead-out 2250 + lead-in 4500 + pregap 150).
pub const CD_LATER_SESSION_GAP: u32 = 6_900;
/// CD TAO: the run-out blocks a drive writes after a track.
pub const CD_RUN_OUT: u32 = 2;
/// CD TAO: the pregap before each later track of a session.
pub const CD_PREGAP: u32 = 150;
/// The largest capacity a disc may have (2 TiB of sectors): every LBA
/// sum below stays far from `u32::MAX`.
pub const MAX_CAPACITY: u32 = 1 << 30;

/// Most tracks a disc of `kind` takes (CD: 99; the others: what MMC's
/// 16-bit track numbers and real discs allow, bounded low enough here).
fn max_tracks(kind: Kind) -> usize {
    match kind.family() {
        Family::Cd => 99,
        _ => 7_927,
    }
}

/// One track.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    pub number: u16,
    pub session: u16,
    pub start: u32,
    /// Blocks recorded (CD TAO: with the run-out, once closed).
    pub size: u32,
    /// Blocks reserved by RESERVE TRACK or a cue sheet (0: none).
    pub reserved: u32,
    pub closed: bool,
}

impl Track {
    /// First block after the track (its reservation, if it has one).
    pub fn end(&self) -> u32 {
        self.start.saturating_add(self.size.max(self.reserved))
    }

    /// Where the next write into this track goes.
    pub fn nwa(&self) -> u32 {
        self.start.saturating_add(self.size)
    }
}

/// Background format of a DVD+RW (READ DISC INFORMATION byte 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BgFormat {
    None,
    Complete,
}

/// A disc's state, kept beside its image (`FILE.vdrive.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disc {
    pub kind: Kind,
    /// Blocks: the last possible lead-out of a sequential disc, the
    /// largest formatted size of one that formats, the image of a ROM.
    pub capacity: u32,
    pub tracks: Vec<Track>,
    /// Sessions 1..=closed_sessions are closed.
    pub closed_sessions: u16,
    /// No more sessions (finalized, closed without multisession, full).
    pub finalized: bool,
    /// Formatted size of a random-writable disc (DVD+RW, DVD-RAM,
    /// BD-RE, DVD-RW in restricted overwrite).
    pub formatted: Option<u32>,
    pub bg_format: BgFormat,
    /// DVD+R DL: first block of layer 1.
    pub layer_break: Option<u32>,
    /// BD-R formatted with spare areas for Pseudo-OverWrite (SRM+POW):
    /// what was recorded may be written again (the drive remaps it),
    /// and tracks stay open for appending.
    #[serde(default)]
    pub pow: bool,
}

/// READ DISC INFORMATION's disc status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Empty,
    Appendable,
    Complete,
}

impl Disc {
    /// A new disc of `kind`, as it comes from the box.
    pub fn new(kind: Kind, capacity: u32) -> Disc {
        let mut d = Disc {
            kind,
            capacity,
            tracks: Vec::new(),
            closed_sessions: 0,
            finalized: false,
            formatted: None,
            bg_format: BgFormat::None,
            layer_break: (kind == Kind::DvdPlusRDl).then_some(capacity / 2),
            pow: false,
        };
        if kind == Kind::DvdRam {
            d.formatted = Some(capacity);
        }
        if kind.is_rom() {
            d.tracks.push(Track { number: 1, session: 1, start: 0, size: capacity, reserved: 0, closed: true });
            d.closed_sessions = 1;
            d.finalized = true;
        }
        d
    }

    /// Random writable now (any block of the formatted area).
    pub fn is_random(&self) -> bool {
        self.formatted.is_some()
    }

    pub fn profile(&self) -> u16 {
        self.kind.profile(self.formatted.is_some())
    }

    pub fn status(&self) -> Status {
        if self.kind.is_rom() || self.is_random() {
            return Status::Complete;
        }
        if self.tracks.is_empty() {
            return Status::Empty;
        }
        if self.finalized {
            Status::Complete
        } else {
            Status::Appendable
        }
    }

    /// The session being written (open), numbered after the closed ones.
    pub fn open_session(&self) -> u16 {
        self.closed_sessions + 1
    }

    /// Tracks of the open session.
    pub fn open_tracks(&self) -> impl Iterator<Item = &Track> {
        let s = self.open_session();
        self.tracks.iter().filter(move |t| t.session == s)
    }

    /// Sessions on the disc, counting an open one that has tracks.
    pub fn sessions(&self) -> u16 {
        self.tracks.last().map_or(0, |t| t.session)
    }

    /// The track being written, or reserved and not yet full.
    pub fn open_track(&self) -> Option<&Track> {
        self.tracks.iter().find(|t| !t.closed)
    }

    fn align(&self, lba: u32) -> u32 {
        let unit = match self.kind.family() {
            Family::Cd => 1,
            Family::Dvd => 16,
            Family::Bd => 32,
        };
        (lba as u64).div_ceil(unit as u64).saturating_mul(unit as u64).min(u32::MAX as u64) as u32
    }

    /// Where a new track would start (the "invisible" track), or `None`
    /// when the disc takes no more.
    pub fn next_track_start(&self) -> Option<u32> {
        if self.finalized || !self.kind.is_sequential() || self.is_random() {
            return None;
        }
        let start = match self.tracks.last() {
            None => 0,
            Some(t) if t.session == self.open_session() => {
                let gap = if self.kind.family() == Family::Cd { CD_PREGAP } else { 0 };
                self.align(t.end()) + gap
            }
            Some(t) => match self.kind.family() {
                Family::Cd if self.closed_sessions == 1 => t.end() + CD_FIRST_SESSION_GAP,
                Family::Cd => t.end() + CD_LATER_SESSION_GAP,
                _ => self.align(t.end()),
            },
        };
        (start < self.capacity).then_some(start)
    }

    /// Where the next write must go: the open track's next block, or the
    /// start of a new track.
    pub fn nwa(&self) -> Option<u32> {
        match self.open_track() {
            Some(t) => Some(t.nwa()),
            None => self.next_track_start(),
        }
    }

    /// Blocks a new track may take.
    pub fn free_blocks(&self) -> u32 {
        self.next_track_start().map_or(0, |s| self.capacity - s)
    }

    /// Last block written (READ CAPACITY), 0 on a blank disc.
    pub fn last_recorded(&self) -> u32 {
        if let Some(f) = self.formatted {
            return f.saturating_sub(1);
        }
        self.tracks.iter().filter(|t| t.size > 0).map(|t| t.start + t.size).max().unwrap_or(1).saturating_sub(1)
    }

    /// Whether block `lba` holds data that can be read back.
    pub fn readable(&self, lba: u32, blocks: u32) -> bool {
        let end = lba as u64 + blocks as u64;
        if let Some(f) = self.formatted {
            return end <= f as u64;
        }
        self.tracks.iter().any(|t| lba >= t.start && end <= (t.start + t.size) as u64)
    }

    /// Check and account a sequential write of `blocks` at `lba`.
    pub fn write(&mut self, lba: u32, blocks: u32) -> Result<(), Sense> {
        if self.kind.is_rom() {
            return Err(sense::CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT);
        }
        if blocks == 0 {
            // A transfer length of 0 writes nothing (SBC).
            return Ok(());
        }
        let end = lba as u64 + blocks as u64;
        if let Some(f) = self.formatted {
            if end > f as u64 {
                return Err(sense::LBA_OUT_OF_RANGE);
            }
            return Ok(());
        }
        if !self.kind.is_sequential() {
            // DVD+RW and BD-RE are written once formatted.
            return Err(sense::CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT);
        }
        if self.finalized {
            return Err(sense::INVALID_ADDRESS_FOR_WRITE);
        }
        if self.pow && self.readable(lba, blocks) {
            // Pseudo-overwrite of recorded blocks.
            return Ok(());
        }
        if let Some(t) = self.tracks.iter_mut().find(|t| !t.closed) {
            if lba != t.nwa() {
                return Err(sense::INVALID_ADDRESS_FOR_WRITE);
            }
            if t.reserved > 0 && end > (t.start + t.reserved) as u64 {
                return Err(sense::END_OF_USER_AREA);
            }
            if end > self.capacity as u64 {
                return Err(sense::LBA_OUT_OF_RANGE);
            }
            t.size += blocks;
            if t.reserved > 0 && t.size == t.reserved {
                // A reserved track written to its end closes itself.
                t.closed = true;
            }
            return Ok(());
        }
        match self.next_track_start() {
            Some(s) if s == lba => {
                if end > self.capacity as u64 {
                    return Err(sense::LBA_OUT_OF_RANGE);
                }
                if self.tracks.len() >= max_tracks(self.kind) {
                    return Err(sense::NO_MORE_TRACK_RESERVATIONS);
                }
                let number = self.tracks.len() as u16 + 1;
                let session = self.open_session();
                self.tracks.push(Track { number, session, start: s, size: blocks, reserved: 0, closed: false });
                Ok(())
            }
            _ => Err(sense::INVALID_ADDRESS_FOR_WRITE),
        }
    }

    /// A whole session written at once (CD SAO): `tracks` (start, end),
    /// checked against the disc, closed; the disc stays appendable when
    /// `multisession`.
    pub fn add_session(&mut self, tracks: &[(i64, i64)], multisession: bool) -> Result<(), Sense> {
        let first = self.next_track_start().ok_or(sense::INVALID_ADDRESS_FOR_WRITE)? as i64;
        let mut at = first;
        for &(start, end) in tracks {
            if start < at || end <= start || end > self.capacity as i64 {
                return Err(sense::INVALID_ADDRESS_FOR_WRITE);
            }
            at = end;
        }
        if self.tracks.len() + tracks.len() > max_tracks(self.kind) {
            return Err(sense::NO_MORE_TRACK_RESERVATIONS);
        }
        let session = self.open_session();
        for &(start, end) in tracks {
            let number = self.tracks.len() as u16 + 1;
            let (start, size) = (start as u32, (end - start) as u32);
            self.tracks.push(Track { number, session, start, size, reserved: 0, closed: true });
        }
        self.close_session(multisession, false)
    }

    /// RESERVE TRACK of `blocks` at the next track start.
    pub fn reserve(&mut self, blocks: u32) -> Result<(), Sense> {
        if self.open_track().is_some() {
            return Err(sense::NO_MORE_TRACK_RESERVATIONS);
        }
        let start = self.next_track_start().ok_or(sense::NO_MORE_TRACK_RESERVATIONS)?;
        if self.tracks.len() >= max_tracks(self.kind) {
            return Err(sense::NO_MORE_TRACK_RESERVATIONS);
        }
        let blocks = self.align(blocks);
        if blocks == 0 || start as u64 + blocks as u64 > self.capacity as u64 {
            return Err(sense::INVALID_FIELD_IN_CDB);
        }
        let number = self.tracks.len() as u16 + 1;
        let session = self.open_session();
        self.tracks.push(Track { number, session, start, size: 0, reserved: blocks, closed: false });
        Ok(())
    }

    /// CLOSE TRACK: the open track `number` (or the last) is closed.
    pub fn close_track(&mut self, number: u16, tao: bool) -> Result<(), Sense> {
        let cd = self.kind.family() == Family::Cd;
        let Some(t) = self.tracks.iter_mut().rev().find(|t| t.number == number || number == 0xff) else {
            // Nothing written yet: nothing to close.
            return if self.tracks.is_empty() { Ok(()) } else { Err(sense::INVALID_FIELD_IN_CDB) };
        };
        if t.closed || self.pow {
            // POW: the track stays open, appends continue in it.
            return Ok(());
        }
        t.closed = true;
        if t.reserved > 0 {
            // A reserved track is padded to its size.
            t.size = t.reserved;
        } else if cd && tao && t.size > 0 {
            // The run-out, where the disc has room for it.
            t.size += CD_RUN_OUT.min(self.capacity.saturating_sub(t.nwa()));
        }
        Ok(())
    }

    /// CLOSE SESSION: every track closed, the session closed; the disc
    /// stays appendable when `multisession` and there is room.
    pub fn close_session(&mut self, multisession: bool, tao: bool) -> Result<(), Sense> {
        if self.is_random() || (self.pow && multisession) {
            return Ok(());
        }
        if self.tracks.last().is_none_or(|t| t.session != self.open_session()) {
            // An empty session: closing it is finalizing what is there.
            if !multisession && !self.tracks.is_empty() {
                self.finalized = true;
            }
            return Ok(());
        }
        let open: Vec<u16> = self.open_tracks().filter(|t| !t.closed).map(|t| t.number).collect();
        for n in open {
            self.close_track(n, tao)?;
        }
        self.closed_sessions = self.open_session();
        if !multisession || !self.kind.multisession() || self.next_track_start().is_none() {
            self.finalized = true;
        }
        Ok(())
    }

    /// BLANK (CD-RW, DVD-RW): `kind` 0 full, 1 minimal, 5 unclose the
    /// last session, 6 erase the last session. Returns the blocks whose
    /// data is gone (to punch out of the image).
    pub fn blank(&mut self, kind: u8) -> Result<Option<(u32, u32)>, Sense> {
        if !self.kind.blanks() {
            return Err(sense::CANNOT_FORMAT_MEDIUM_INCOMPATIBLE_MEDIUM);
        }
        match kind {
            0 | 1 => {
                *self = Disc::new(self.kind, self.capacity);
                Ok(Some((0, self.capacity)))
            }
            5 => {
                if self.closed_sessions == 0 || self.is_random() {
                    return Err(sense::INVALID_FIELD_IN_CDB);
                }
                self.finalized = false;
                self.closed_sessions -= 1;
                Ok(None)
            }
            6 => {
                let last = self.sessions();
                if last == 0 || self.is_random() {
                    return Err(sense::INVALID_FIELD_IN_CDB);
                }
                let from = self.tracks.iter().find(|t| t.session == last).map_or(0, |t| t.start);
                self.tracks.retain(|t| t.session != last);
                self.closed_sessions = self.closed_sessions.min(last - 1);
                self.finalized = false;
                Ok(Some((from, self.capacity)))
            }
            _ => Err(sense::INVALID_FIELD_IN_CDB),
        }
    }

    /// FORMAT UNIT with a descriptor of `format_type` and `blocks`.
    /// Returns the blocks whose data is gone.
    pub fn format(&mut self, format_type: u8, blocks: u32) -> Result<Option<(u32, u32)>, Sense> {
        let max = self.format_max(format_type).ok_or(sense::INVALID_FIELD_IN_PARAMETER_LIST)?;
        let size = if blocks == 0 || blocks > max { max } else { blocks };
        let grow = format_type == 0x13;
        if grow && self.formatted.is_none() {
            return Err(sense::INVALID_FIELD_IN_PARAMETER_LIST);
        }
        if self.kind == Kind::BdR {
            // Spare areas on a blank BD-R, for Pseudo-OverWrite.
            self.pow = true;
            return Ok(None);
        }
        let gone = if grow { None } else { Some((0, self.capacity)) };
        self.tracks.clear();
        self.closed_sessions = 0;
        self.finalized = false;
        self.formatted = Some(if grow { max } else { size });
        if self.kind == Kind::DvdPlusRw {
            self.bg_format = BgFormat::Complete;
        }
        Ok(gone)
    }

    /// The largest formatted size of `format_type` on this disc, if it
    /// takes that format (READ FORMAT CAPACITIES lists exactly these).
    pub fn format_max(&self, format_type: u8) -> Option<u32> {
        let cap = self.capacity;
        match (self.kind, format_type) {
            (Kind::DvdPlusRw, 0x26) => Some(cap),
            (Kind::DvdRw, 0x00 | 0x10 | 0x15) => Some(cap),
            (Kind::DvdRw, 0x13) if self.formatted.is_some() => Some(cap),
            (Kind::DvdRam, 0x00) => Some(cap),
            (Kind::BdRe, 0x00 | 0x30) => Some(cap),
            // No spare area: the whole disc, a little more.
            (Kind::BdRe, 0x31) => Some(cap.saturating_add(cap / 32).min(MAX_CAPACITY)),
            // BD-R with spare areas (SRM+POW): still written in order here.
            (Kind::BdR, 0x00 | 0x32) if self.tracks.is_empty() => Some(cap),
            _ => None,
        }
    }

    /// Format types this disc takes, in the order READ FORMAT CAPACITIES
    /// lists them.
    pub fn format_types(&self) -> Vec<u8> {
        [0x00, 0x10, 0x13, 0x15, 0x26, 0x30, 0x31, 0x32].into_iter().filter(|&t| self.format_max(t).is_some()).collect()
    }

    /// A consistency check for a state read from disk.
    pub fn check(&self) -> Result<(), String> {
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(format!("a capacity of {} sectors", self.capacity));
        }
        if self.tracks.len() > max_tracks(self.kind) {
            return Err(format!("{} tracks", self.tracks.len()));
        }
        let mut end = 0u64;
        for (i, t) in self.tracks.iter().enumerate() {
            let t_end = t.start as u64 + t.size.max(t.reserved) as u64;
            if t.number as usize != i + 1 || (t.start as u64) < end || t_end > self.capacity as u64 {
                return Err(format!("track {} is out of order or past the end", t.number));
            }
            if t.session == 0 || (i > 0 && t.session < self.tracks[i - 1].session) {
                return Err(format!("track {} has a bad session number", t.number));
            }
            if !t.closed && i + 1 != self.tracks.len() {
                return Err(format!("track {} is open but not the last", t.number));
            }
            end = t_end;
        }
        if self.closed_sessions > self.sessions() {
            return Err(format!("{} closed sessions of {}", self.closed_sessions, self.sessions()));
        }
        if let Some(f) = self.formatted {
            let max = self.format_types().iter().filter_map(|&t| self.format_max(t)).max().unwrap_or(self.capacity);
            if f == 0 || f > max.max(self.capacity) {
                return Err(format!("a formatted size of {f} sectors"));
            }
        }
        if self.layer_break.is_some_and(|b| b == 0 || b >= self.capacity) {
            return Err("a layer break outside the disc".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cd_r_tao_then_a_second_session_starts_11400_blocks_after_the_first() {
        let mut d = Disc::new(Kind::CdR, 359_849);
        assert_eq!(d.status(), Status::Empty);
        assert_eq!(d.nwa(), Some(0));
        d.write(0, 300).unwrap();
        assert_eq!(d.write(5, 1), Err(sense::INVALID_ADDRESS_FOR_WRITE));
        d.close_track(1, true).unwrap();
        d.close_session(true, true).unwrap();
        assert_eq!(d.tracks[0].size, 302);
        assert_eq!(d.status(), Status::Appendable);
        assert_eq!(d.nwa(), Some(302 + 11_400));
        d.write(11_702, 10).unwrap();
        d.close_session(true, true).unwrap();
        assert_eq!(d.nwa(), Some(11_702 + 12 + 6_900));
        d.close_session(false, true).unwrap();
        assert!(d.finalized);
        assert_eq!(d.status(), Status::Complete);
        assert_eq!(d.write(30_000, 1), Err(sense::INVALID_ADDRESS_FOR_WRITE));
    }

    #[test]
    fn reserved_track_is_padded_on_close_and_next_track_follows_it() {
        let mut d = Disc::new(Kind::DvdPlusR, 2_295_104);
        d.reserve(1000).unwrap();
        assert_eq!(d.tracks[0].reserved, 1008);
        d.write(0, 16).unwrap();
        assert_eq!(d.write(16, 2000), Err(sense::END_OF_USER_AREA));
        d.close_track(1, false).unwrap();
        assert_eq!(d.nwa(), Some(1008));
        assert!(d.readable(0, 1008) && !d.readable(1008, 1));
    }

    #[test]
    fn rewritables_blank_and_format() {
        let mut d = Disc::new(Kind::DvdRw, 1000);
        assert_eq!(d.profile(), 0x14);
        d.write(0, 10).unwrap();
        d.format(0x15, 0).unwrap();
        assert_eq!((d.profile(), d.status()), (0x13, Status::Complete));
        d.write(500, 10).unwrap();
        d.blank(1).unwrap();
        assert_eq!((d.profile(), d.status()), (0x14, Status::Empty));
        let mut r = Disc::new(Kind::CdR, 1000);
        assert_eq!(r.blank(0), Err(sense::CANNOT_FORMAT_MEDIUM_INCOMPATIBLE_MEDIUM));
        assert_eq!(r.format(0x26, 0), Err(sense::INVALID_FIELD_IN_PARAMETER_LIST));
        let mut p = Disc::new(Kind::DvdPlusRw, 1000);
        assert_eq!(p.write(0, 1), Err(sense::CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT));
        p.format(0x26, 0).unwrap();
        p.write(999, 1).unwrap();
        assert_eq!(p.write(999, 2), Err(sense::LBA_OUT_OF_RANGE));
    }
}

//! The drive: tray, lock, unit attentions, media events, long operations
//! and faults, and the MMC-6 command set it answers (INQUIRY to READ CD).
//! What is on the disc is [`crate::disc`]; the replies that describe it
//! are built in [`crate::reply`].

use std::time::{Duration, Instant};

use crate::disc::{Disc, Status};
use crate::image::Image;
use crate::medium::Family;
use crate::reply;
use crate::sense::{self, Sense};
use crate::tcmu::Reply;

/// The data the initiator sends with a command (data-out).
pub trait DataOut {
    /// All of it, into `buf` (cleared first): parameter lists.
    fn read(&mut self, buf: &mut Vec<u8>);
    /// All of it, written to `file` at `offset`: WRITE's data, without a
    /// copy of our own.
    fn write_at(&mut self, file: &std::fs::File, offset: u64) -> std::io::Result<()>;
}

/// The ring's data buffers are a command's data-out.
impl DataOut for crate::tcmu::Data<'_> {
    fn read(&mut self, buf: &mut Vec<u8>) {
        if self.read_into(buf).is_err() {
            buf.clear();
        }
    }
    fn write_at(&mut self, file: &std::fs::File, offset: u64) -> std::io::Result<()> {
        self.write_to(file, offset)
    }
}

/// Page 05 (write parameters) as the initiator last set it.
#[derive(Clone, Debug)]
pub struct WriteParams {
    pub page: [u8; 52],
}

impl WriteParams {
    fn new() -> WriteParams {
        let mut page = [0u8; 52];
        page[0] = 0x05;
        page[1] = 0x32;
        page[2] = 0x01; // TAO
        page[3] = 0x04; // track mode 4, no multisession
        page[4] = 0x08; // mode 1
        page[14..16].copy_from_slice(&150u16.to_be_bytes());
        WriteParams { page }
    }
    pub fn write_type(&self) -> u8 {
        self.page[2] & 0x0f
    }
    pub fn multisession(&self) -> bool {
        self.page[3] >> 6 == 3
    }
    pub fn block_type(&self) -> u8 {
        self.page[4] & 0x0f
    }
    pub fn test_write(&self) -> bool {
        self.page[2] & 0x10 != 0
    }
}

/// Faults injected on request (`discrec-vdrive fault`).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Faults {
    /// Blocks `[a, b)` that fail: WRITE with 03/0C/00, READ with 03/11/00.
    #[serde(default)]
    pub medium_error: Vec<(u32, u32)>,
    /// Each WRITE takes this long.
    #[serde(default)]
    pub write_delay_ms: u64,
    /// Unplug the drive once this many more blocks are written.
    #[serde(default)]
    pub unplug_after_blocks: Option<u64>,
}

/// A long operation (format, blank, close) running in the background.
struct Busy {
    start: Instant,
    until: Instant,
    sense: Sense,
}

/// Planned SAO session from SEND CUE SHEET.
pub struct Cue {
    /// (first LBA, end LBA, host bytes per block) of what is written.
    spans: Vec<(i64, i64, usize)>,
    /// (start, end) of each track.
    tracks: Vec<(i64, i64)>,
    next: i64,
    leadout: i64,
}

/// The drive and the disc in it.
pub struct Drive {
    pub image: Option<Image>,
    pub tray_open: bool,
    pub prevent: bool,
    pending_ua: Option<Sense>,
    event: Option<u8>,
    pub write: WriteParams,
    busy: Option<Busy>,
    cue: Option<Cue>,
    pub faults: Faults,
    serial: String,
    /// Set when an injected fault asks for the drive to go.
    pub unplug_requested: bool,
    buf: Vec<u8>,
    pub log: bool,
    /// Blocks written since the drive started (all media).
    pub blocks_written: u64,
}

fn be16(b: &[u8]) -> usize {
    u16::from_be_bytes([b[0], b[1]]) as usize
}
fn be24(b: &[u8]) -> usize {
    (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The command's CDB length by its opcode group.
pub fn cdb_len(op: u8) -> usize {
    match op >> 5 {
        0 => 6,
        1 | 2 => 10,
        4 => 16,
        5 => 12,
        _ => 10,
    }
}

/// How long a long operation keeps the drive busy.
const FORMAT_TIME: Duration = Duration::from_millis(600);
const BLANK_TIME: Duration = Duration::from_millis(400);
const CLOSE_TIME: Duration = Duration::from_millis(150);

impl Drive {
    pub fn new(image: Option<Image>, serial: &str) -> Drive {
        Drive {
            image,
            tray_open: false,
            prevent: false,
            pending_ua: None,
            event: None,
            write: WriteParams::new(),
            busy: None,
            cue: None,
            faults: Faults::default(),
            serial: serial.to_string(),
            unplug_requested: false,
            buf: Vec::new(),
            log: false,
            blocks_written: 0,
        }
    }

    /// The disc, if one is in the closed drive.
    pub fn disc(&self) -> Option<&Disc> {
        if self.tray_open {
            return None;
        }
        self.image.as_ref().map(|i| &i.disc)
    }

    fn ready(&mut self) -> Result<&mut Image, Sense> {
        if self.tray_open {
            return Err(sense::MEDIUM_NOT_PRESENT_TRAY_OPEN);
        }
        self.image.as_mut().ok_or(sense::MEDIUM_NOT_PRESENT_TRAY_CLOSED)
    }

    fn busy_sense(&mut self) -> Option<Sense> {
        let b = self.busy.as_ref()?;
        let now = Instant::now();
        if now >= b.until {
            self.busy = None;
            return None;
        }
        let total = b.until.duration_since(b.start).as_secs_f64();
        let done = now.duration_since(b.start).as_secs_f64() / total;
        Some(Sense { progress: Some((done * 65536.0).min(65535.0) as u16), ..b.sense })
    }

    fn start_busy(&mut self, took: Duration, sense: Sense) {
        let start = Instant::now();
        self.busy = Some(Busy { start, until: start + took, sense });
    }

    /// A medium change: the tray opened, or closed with or without a
    /// disc. Initiators see a unit attention and a media event.
    fn changed(&mut self, event: u8) {
        self.pending_ua = Some(sense::MEDIUM_CHANGED);
        self.event = Some(event);
        self.cue = None;
        self.busy = None;
    }

    /// Open the tray (the disc stays on it). Refused while locked: a
    /// locked drive only reports the eject request, as real drives do.
    pub fn open_tray(&mut self) -> Result<(), String> {
        if self.prevent {
            self.event = Some(1);
            return Err("the tray is locked (PREVENT ALLOW MEDIUM REMOVAL): the eject request was posted".into());
        }
        if !self.tray_open {
            self.sync();
            self.tray_open = true;
            self.changed(3);
        }
        Ok(())
    }

    /// Close the tray.
    pub fn close_tray(&mut self) {
        if self.tray_open {
            self.tray_open = false;
            if self.image.is_some() {
                self.changed(2);
            } else {
                self.event = Some(0);
            }
        }
    }

    /// Put another disc in (or none): tray out, swap, tray in. Returns
    /// the disc that was in.
    pub fn swap(&mut self, image: Option<Image>) -> Result<Option<Image>, String> {
        self.open_tray()?;
        let old = std::mem::replace(&mut self.image, image);
        self.close_tray();
        if self.image.is_none() {
            self.changed(3);
        }
        Ok(old)
    }

    /// Flush the disc's data and state; false (and the reason on stderr)
    /// when that failed.
    pub fn sync(&mut self) -> bool {
        match self.image.as_mut().map(|i| i.sync()) {
            Some(Err(e)) => {
                eprintln!("discrec-vdrive: {e}");
                false
            }
            _ => true,
        }
    }

    /// Answer one command.
    pub fn execute(&mut self, cdb: &[u8; 16], data_out: &mut dyn DataOut, data_len: usize) -> Reply {
        let r = self.dispatch(cdb, data_out, data_len);
        if self.log {
            let n = cdb_len(cdb[0]);
            let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
            // Parameter lists (not the data of WRITEs) go in the log too.
            let mut seen = Vec::new();
            // (Only commands that send data: the buffer of one that
            // receives holds nothing of it yet.)
            if matches!(cdb[0], 0x04 | 0x15 | 0x55 | 0x5d | 0xbf | 0x54 | 0xb6) && data_len > 0 && data_len <= 4096 {
                data_out.read(&mut seen);
            }
            let out = if seen.is_empty() { String::new() } else { format!(" [{}]", hex(&seen[..seen.len().min(64)])) };
            match &r {
                Ok(d) => eprintln!("vdrive: {} | {}{out} -> GOOD {}", hex(&cdb[..n]), data_len, d.len()),
                Err(s) => eprintln!("vdrive: {} | {}{out} -> {}", hex(&cdb[..n]), data_len, s.code()),
            }
        }
        match r {
            Ok(d) => Reply::Good(d),
            Err(s) => Reply::Check(s.bytes()),
        }
    }

    fn dispatch(&mut self, c: &[u8; 16], data_out: &mut dyn DataOut, data_len: usize) -> Result<Vec<u8>, Sense> {
        let op = c[0];
        // Commands that report no unit attention and run while busy.
        match op {
            0x12 => {
                let alloc = be16(&c[3..]);
                return self.inquiry(c).map(|mut r| {
                    r.truncate(alloc);
                    r
                });
            }
            0x03 => return Ok(self.request_sense(c)),
            0x46 => return Ok(reply::configuration(self.disc(), c[1] & 3, be16(&c[2..]) as u16, be16(&c[7..]))),
            0x4a => return self.event_status(c),
            0xbd => return Ok(self.mechanism_status(c)),
            _ => {}
        }
        if let Some(ua) = self.pending_ua.take() {
            return Err(ua);
        }
        if let Some(s) = self.busy_sense() {
            return Err(s);
        }
        match op {
            0x00 => self.ready().map(|_| Vec::new()),
            0x01 | 0x2b | 0x2f | 0x54 | 0xb6 | 0xbb | 0xbf => Ok(Vec::new()),
            0x1a | 0x5a => self.mode_sense(c),
            0x15 | 0x55 => {
                let len = if op == 0x15 { c[4] as usize } else { be16(&c[7..]) };
                data_out.read(&mut self.buf);
                let buf = std::mem::take(&mut self.buf);
                let r = self.mode_select(op == 0x55, &buf[..len.min(buf.len())]);
                self.buf = buf;
                r.map(|_| Vec::new())
            }
            0x1b => self.start_stop(c),
            0x1e => {
                self.prevent = c[4] & 1 != 0;
                Ok(Vec::new())
            }
            0x23 => Ok(reply::format_capacities(self.disc(), be16(&c[7..]))),
            0x25 => {
                let d = &self.ready()?.disc;
                let mut r = d.last_recorded().to_be_bytes().to_vec();
                r.extend_from_slice(&2048u32.to_be_bytes());
                Ok(r)
            }
            0x28 => self.read(be32(&c[2..]), be16(&c[7..]) as u32, data_len),
            0xa8 => self.read(be32(&c[2..]), be32(&c[6..]), data_len),
            0x2a | 0x2e => self.write(be32(&c[2..]), be16(&c[7..]) as u32, data_out, data_len),
            0xaa => self.write(be32(&c[2..]), be32(&c[6..]), data_out, data_len),
            0x35 => {
                self.ready()?;
                self.close_dao(true)?;
                if !self.sync() {
                    return Err(sense::WRITE_ERROR);
                }
                Ok(Vec::new())
            }
            0x42 => Ok(vec![0, 0x15, 0, 0]),
            0x43 => reply::toc(&self.ready()?.disc, c),
            0x51 => {
                if c[1] & 7 != 0 {
                    return Err(sense::INVALID_FIELD_IN_CDB);
                }
                let mut r = reply::disc_information(&self.ready()?.disc);
                r.truncate(be16(&c[7..]));
                Ok(r)
            }
            0x52 => reply::track_information(&self.ready()?.disc, c[1] & 3, be32(&c[2..])).map(|mut r| {
                r.truncate(be16(&c[7..]));
                r
            }),
            0x53 => {
                let blocks = be32(&c[5..]);
                let img = self.ready()?;
                if c[1] & 1 != 0 {
                    return Err(sense::INVALID_FIELD_IN_CDB);
                }
                img.disc.reserve(blocks)?;
                Ok(Vec::new())
            }
            0x5b => self.close(c),
            0x5c => Ok(reply::buffer_capacity(c[1] & 1 != 0)),
            0x5d => {
                let len = be24(&c[6..]);
                data_out.read(&mut self.buf);
                let buf = std::mem::take(&mut self.buf);
                let r = self.cue_sheet(&buf[..len.min(buf.len())]);
                self.buf = buf;
                r.map(|_| Vec::new())
            }
            0x04 => {
                data_out.read(&mut self.buf);
                let buf = std::mem::take(&mut self.buf);
                let r = self.format(c, &buf);
                self.buf = buf;
                r.map(|_| Vec::new())
            }
            0xa1 => self.blank(c),
            0xac => Ok(reply::performance(self.disc(), c[10], be16(&c[8..]))),
            0xad => reply::disc_structure(self.ready()?.disc.clone(), c[1] & 0x0f, c[7], be16(&c[8..])),
            0xbe => self.read_cd(c, data_len),
            _ => Err(sense::INVALID_COMMAND_OPERATION_CODE),
        }
    }

    fn inquiry(&self, c: &[u8; 16]) -> Result<Vec<u8>, Sense> {
        if c[1] & 1 != 0 {
            let mut r = vec![0x05, c[2], 0, 0];
            match c[2] {
                0x00 => r.extend_from_slice(&[0x00, 0x80, 0x83]),
                0x80 => r.extend_from_slice(self.serial.as_bytes()),
                0x83 => {
                    let id = format!("DISCREC VDRIVE {}", self.serial);
                    r.extend_from_slice(&[0x02, 0x01, 0x00, id.len() as u8]);
                    r.extend_from_slice(id.as_bytes());
                }
                _ => return Err(sense::INVALID_FIELD_IN_CDB),
            }
            r[3] = (r.len() - 4) as u8;
            return Ok(r);
        }
        if c[2] != 0 {
            return Err(sense::INVALID_FIELD_IN_CDB);
        }
        let mut r = vec![0u8; 36];
        r[0] = 0x05;
        r[1] = 0x80;
        r[2] = 0x05;
        r[3] = 0x02;
        r[4] = 31;
        r[8..16].copy_from_slice(b"DISCREC ");
        r[16..32].copy_from_slice(b"VIRTUAL BURNER  ");
        r[32..36].copy_from_slice(b"0100");
        Ok(r)
    }

    fn request_sense(&mut self, c: &[u8; 16]) -> Vec<u8> {
        let s = self.busy_sense().unwrap_or(Sense { key: 0, asc: 0, ascq: 0, progress: None });
        let mut b = s.bytes().to_vec();
        b.truncate((c[4] as usize).min(18));
        b
    }

    fn event_status(&mut self, c: &[u8; 16]) -> Result<Vec<u8>, Sense> {
        if c[1] & 1 == 0 {
            // Asynchronous notification is not offered.
            return Err(sense::INVALID_FIELD_IN_CDB);
        }
        let alloc = be16(&c[7..]);
        if c[4] & 0x10 == 0 {
            // No class we have was asked for: "no event available".
            let r = [0, 2, 0x80, 0x10];
            return Ok(r[..alloc.min(4)].to_vec());
        }
        let code = self.event.take().unwrap_or(0);
        let present = !self.tray_open && self.image.is_some();
        let r = [0, 6, 0x04, 0x10, code, ((present as u8) << 1) | self.tray_open as u8, 0, 0];
        Ok(r[..alloc.min(8)].to_vec())
    }

    fn mechanism_status(&self, c: &[u8; 16]) -> Vec<u8> {
        let mut r = vec![0u8; 8];
        r[1] = (self.tray_open as u8) << 4;
        r[5] = 1;
        r.truncate(be16(&c[8..]).min(8));
        r
    }

    fn mode_sense(&mut self, c: &[u8; 16]) -> Result<Vec<u8>, Sense> {
        let ten = c[0] == 0x5a;
        let (pc, page) = (c[2] >> 6, c[2] & 0x3f);
        let alloc = if ten { be16(&c[7..]) } else { c[4] as usize };
        if pc == 3 {
            return Err(Sense { key: 5, asc: 0x39, ascq: 0, progress: None });
        }
        let mut pages = Vec::new();
        for p in [0x01u8, 0x05, 0x1a, 0x2a] {
            if page != p && page != 0x3f {
                continue;
            }
            let mut body = match p {
                0x01 => vec![0x01, 0x0a, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0],
                0x05 => self.write.page.to_vec(),
                0x1a => {
                    let mut b = vec![0u8; 12];
                    b[0] = 0x1a;
                    b[1] = 0x0a;
                    b
                }
                _ => reply::capabilities_page(self.disc(), self.prevent),
            };
            if pc == 1 {
                // Changeable: what MODE SELECT takes.
                let keep = if p == 0x05 { 0xff } else { 0 };
                for b in body.iter_mut().skip(2) {
                    *b = keep;
                }
            }
            pages.extend_from_slice(&body);
        }
        if pages.is_empty() {
            return Err(sense::INVALID_FIELD_IN_CDB);
        }
        let mut r = if ten { vec![0u8; 8] } else { vec![0u8; 4] };
        r.extend_from_slice(&pages);
        if ten {
            let n = (r.len() - 2) as u16;
            r[0..2].copy_from_slice(&n.to_be_bytes());
        } else {
            r[0] = (r.len() - 1).min(255) as u8;
        }
        r.truncate(alloc);
        Ok(r)
    }

    fn mode_select(&mut self, ten: bool, data: &[u8]) -> Result<(), Sense> {
        let header = if ten { 8 } else { 4 };
        if data.len() < header {
            return if data.is_empty() { Ok(()) } else { Err(sense::PARAMETER_LIST_LENGTH_ERROR) };
        }
        let bd = if ten { be16(&data[6..]) } else { data[3] as usize };
        let mut at = header + bd;
        while at + 2 <= data.len() {
            let code = data[at] & 0x3f;
            let len = data[at + 1] as usize + 2;
            let page = &data[at..(at + len).min(data.len())];
            if code == 0x05 {
                self.set_write_params(page)?;
            }
            at += len;
        }
        Ok(())
    }

    /// Page 05 as the medium in the drive takes it: write types and data
    /// block types a real drive has for it, the rest refused with
    /// 05/26/00 (libburn probes the drive's modes exactly so).
    fn set_write_params(&mut self, page: &[u8]) -> Result<(), Sense> {
        if page.len() < 5 {
            return Err(sense::PARAMETER_LIST_LENGTH_ERROR);
        }
        let (wt, test, bt) = (page[2] & 0x0f, page[2] & 0x10 != 0, page[4] & 0x0f);
        if let Some(d) = self.disc() {
            let ok = match d.kind.family() {
                Family::Cd if d.kind.is_rom() => true,
                // SAO takes its data forms from the cue sheet, not from here.
                Family::Cd => (wt == 1 && matches!(bt, 8 | 10) || wt == 2) && !test,
                _ if d.kind.is_dash_r() => matches!(wt, 0 | 2) && bt == 8 && !test,
                _ => true,
            };
            if !ok {
                return Err(sense::INVALID_FIELD_IN_PARAMETER_LIST);
            }
        }
        let n = page.len().min(52);
        self.write.page[2..n].copy_from_slice(&page[2..n]);
        if self.write.write_type() != 2 {
            self.cue = None;
        }
        Ok(())
    }

    fn start_stop(&mut self, c: &[u8; 16]) -> Result<Vec<u8>, Sense> {
        let (loej, start) = (c[4] & 2 != 0, c[4] & 1 != 0);
        if !loej {
            return Ok(Vec::new());
        }
        if start {
            self.close_tray();
            // The initiator that closed it knows: no attention for it.
            self.pending_ua = None;
        } else {
            if self.prevent {
                return Err(sense::MEDIUM_REMOVAL_PREVENTED);
            }
            let _ = self.open_tray();
            self.pending_ua = None;
        }
        Ok(Vec::new())
    }

    fn fault_hit(&self, lba: u32, blocks: u32) -> bool {
        let end = lba as u64 + blocks as u64;
        self.faults.medium_error.iter().any(|&(a, b)| (lba as u64) < b as u64 && end > a as u64)
    }

    /// READ of `blocks` at `lba`, into a buffer of `room` bytes (a
    /// transfer length larger than the buffer is refused: 05/24/00).
    fn read(&mut self, lba: u32, blocks: u32, room: usize) -> Result<Vec<u8>, Sense> {
        if blocks as u64 * 2048 > room as u64 {
            return Err(sense::INVALID_FIELD_IN_CDB);
        }
        let hit = self.fault_hit(lba, blocks);
        let img = self.ready()?;
        if blocks == 0 {
            return Ok(Vec::new());
        }
        if !img.disc.readable(lba, blocks) {
            return Err(sense::LBA_OUT_OF_RANGE);
        }
        if hit {
            return Err(sense::UNRECOVERED_READ_ERROR);
        }
        let mut out = vec![0u8; blocks as usize * 2048];
        img.read(lba, &mut out).map_err(|_| sense::UNRECOVERED_READ_ERROR)?;
        Ok(out)
    }

    fn write(&mut self, lba: u32, blocks: u32, data_out: &mut dyn DataOut, data_len: usize) -> Result<Vec<u8>, Sense> {
        self.ready()?;
        if self.cue.is_some() {
            return self.write_sao(lba as i32 as i64, blocks, data_out, data_len);
        }
        if data_len != blocks as usize * 2048 {
            return Err(sense::INVALID_FIELD_IN_CDB);
        }
        if self.faults.write_delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.faults.write_delay_ms));
        }
        let hit = self.fault_hit(lba, blocks);
        let cd_tao = {
            let d = &self.ready()?.disc;
            d.kind.family() == Family::Cd && !d.kind.is_rom()
        };
        if cd_tao && self.write.write_type() != 1 {
            // A CD takes host data in SAO only after a cue sheet.
            return Err(sense::INVALID_MODE_FOR_THIS_TRACK);
        }
        if hit {
            return Err(sense::WRITE_ERROR);
        }
        let img = self.ready()?;
        let before = img.disc.clone();
        img.disc.write(lba, blocks)?;
        // Straight from the kernel's data area into the image; a failed
        // write leaves the disc as it was.
        if data_out.write_at(img.file(), lba as u64 * crate::image::BLOCK).is_err() {
            img.disc = before;
            return Err(sense::WRITE_ERROR);
        }
        self.close_dao(false)?;
        self.count_written(blocks);
        Ok(Vec::new())
    }

    /// DVD-R DAO has no CLOSE: the disc closes when the reserved track is
    /// written to its end, or when the host flushes (`flushed`) with data
    /// in it: the drive pads the rest of the reservation. (growisofs
    /// writes whole 32 KiB units and leaves the rest of the last one to
    /// this padding.)
    fn close_dao(&mut self, flushed: bool) -> Result<(), Sense> {
        let dao = self.write.write_type() == 2;
        let Some(img) = self.image.as_mut().filter(|_| dao && !self.tray_open) else { return Ok(()) };
        let d = &img.disc;
        let Some(t) = d.tracks.last().filter(|t| t.reserved > 0 && t.session == d.open_session()) else {
            return Ok(());
        };
        let done = if flushed { !t.closed && t.size > 0 } else { t.closed };
        if d.kind.is_dash_r() && done {
            img.disc.close_session(false, false)?;
        }
        Ok(())
    }

    fn count_written(&mut self, blocks: u32) {
        self.blocks_written += blocks as u64;
        if let Some(n) = self.faults.unplug_after_blocks.as_mut() {
            *n = n.saturating_sub(blocks as u64);
            if *n == 0 {
                self.faults.unplug_after_blocks = None;
                self.unplug_requested = true;
            }
        }
    }

    fn cue_sheet(&mut self, data: &[u8]) -> Result<(), Sense> {
        if self.write.write_type() != 2 {
            // A cue sheet belongs to SAO (page 05 write type 2).
            return Err(Sense { key: 5, asc: 0x2c, ascq: 0, progress: None });
        }
        let img = self.ready()?;
        let d = &img.disc;
        if d.kind.family() != Family::Cd || d.kind.is_rom() {
            return Err(sense::INVALID_COMMAND_OPERATION_CODE);
        }
        if data.is_empty() || data.len() % 8 != 0 {
            return Err(sense::PARAMETER_LIST_LENGTH_ERROR);
        }
        let bad = sense::INVALID_FIELD_IN_PARAMETER_LIST;
        let nwa = d.nwa().ok_or(sense::INVALID_ADDRESS_FOR_WRITE)? as i64;
        // (LBA, host bytes per block, track number, index)
        let mut points: Vec<(i64, usize, u8, u8)> = Vec::new();
        let mut leadout = None;
        for e in data.chunks(8) {
            let (tno, index, form) = (e[1], e[2], e[3] & 0x3f);
            let lba = (e[5] as i64 * 60 + e[6] as i64) * 75 + e[7] as i64 - 150;
            if tno == 0 {
                continue; // lead-in
            }
            if tno == 0xaa {
                leadout = Some(lba);
                continue;
            }
            let bytes = match form {
                0x01 | 0x14 => 0,
                0x10 | 0x12 => 2048,
                0x11 | 0x13 => 2352,
                // Audio and mode 2 tracks: this drive keeps 2048-byte
                // user data only.
                _ => return Err(bad),
            };
            if points.last().is_some_and(|p| p.0 > lba) || lba < nwa - 150 {
                return Err(bad);
            }
            points.push((lba, bytes, tno, index));
        }
        let leadout = leadout.ok_or(bad)?;
        // Track starts (index 1), each running to the next track's first
        // point or the lead-out.
        let mut tracks: Vec<(i64, i64)> = Vec::new();
        for (i, p) in points.iter().enumerate().filter(|(_, p)| p.3 == 1) {
            if tracks.last().is_some_and(|t: &(i64, i64)| t.0 == p.0) {
                continue;
            }
            let end = points[i + 1..].iter().find(|n| n.2 != p.2).map_or(leadout, |n| n.0);
            tracks.push((p.0, end));
        }
        let capacity = d.capacity as i64;
        if tracks.first().is_none_or(|t| t.0 != nwa)
            || leadout > capacity
            || points.last().is_some_and(|p| p.0 >= leadout)
            || tracks.iter().any(|t| t.1 <= t.0)
            || d.tracks.len() + tracks.len() > 99
        {
            return Err(bad);
        }
        // Spans of one host block size, merged across indexes.
        let mut spans: Vec<(i64, i64, usize)> = Vec::new();
        for (i, p) in points.iter().enumerate() {
            let end = points.get(i + 1).map_or(leadout, |n| n.0);
            match spans.last_mut() {
                Some(last) if last.2 == p.1 && last.1 == p.0 => last.1 = end,
                _ if end > p.0 => spans.push((p.0, end, p.1)),
                _ => {}
            }
        }
        let next = spans.iter().find(|r| r.2 > 0).map_or(leadout, |r| r.0);
        self.cue = Some(Cue { spans, tracks, next, leadout });
        Ok(())
    }

    fn write_sao(
        &mut self,
        lba: i64,
        blocks: u32,
        data_out: &mut dyn DataOut,
        data_len: usize,
    ) -> Result<Vec<u8>, Sense> {
        let Some(cue) = self.cue.as_ref() else { return Err(sense::INVALID_ADDRESS_FOR_WRITE) };
        if lba != cue.next {
            return Err(sense::INVALID_ADDRESS_FOR_WRITE);
        }
        let span = cue.spans.iter().find(|r| lba >= r.0 && lba < r.1).ok_or(sense::INVALID_ADDRESS_FOR_WRITE)?;
        let (bytes, span_end) = (span.2, span.1);
        if bytes == 0 || lba + blocks as i64 > span_end || data_len != blocks as usize * bytes {
            return Err(sense::INVALID_FIELD_IN_CDB);
        }
        data_out.read(&mut self.buf);
        let buf = std::mem::take(&mut self.buf);
        let mut r = Ok(());
        let img = self.ready()?;
        for (i, sector) in buf.chunks(bytes).enumerate() {
            let at = lba + i as i64;
            if at < 0 || sector.len() < bytes {
                continue;
            }
            let user = if bytes == 2352 { &sector[16..16 + 2048] } else { sector };
            if img.write(at as u32, user).is_err() {
                r = Err(sense::WRITE_ERROR);
                break;
            }
        }
        self.buf = buf;
        r?;
        self.count_written(blocks);
        let Some(cue) = self.cue.as_mut() else { return Ok(Vec::new()) };
        cue.next = lba + blocks as i64;
        // Skip spans the drive fills by itself.
        while let Some(r) = cue.spans.iter().find(|r| cue.next >= r.0 && cue.next < r.1 && r.2 == 0) {
            cue.next = r.1;
        }
        if cue.next >= cue.leadout {
            self.finish_sao()?;
        }
        Ok(Vec::new())
    }

    /// The SAO session is written: its tracks go in the TOC, and the
    /// session closes (open for another when page 05 says multisession).
    fn finish_sao(&mut self) -> Result<(), Sense> {
        let Some(cue) = self.cue.take() else { return Ok(()) };
        let multi = self.write.multisession();
        let img = self.ready()?;
        img.disc.add_session(&cue.tracks, multi)?;
        img.sync().map_err(|_| sense::WRITE_ERROR)
    }

    fn close(&mut self, c: &[u8; 16]) -> Result<Vec<u8>, Sense> {
        let immed = c[1] & 1 != 0;
        let func = c[2] & 7;
        let track = be16(&c[4..]) as u16;
        let multi = self.write.multisession();
        let tao = self.write.write_type() == 1;
        let img = self.ready()?;
        let appendable = !img.disc.kind.sessions_follow_page05() || multi;
        match func {
            0 => {}
            1 => img.disc.close_track(track, tao)?,
            2..=4 => img.disc.close_session(appendable, tao)?,
            5 | 6 => img.disc.close_session(false, tao)?,
            _ => return Err(sense::INVALID_FIELD_IN_CDB),
        }
        img.sync().map_err(|_| sense::SESSION_FIXATION_ERROR)?;
        if immed && func >= 2 {
            self.start_busy(CLOSE_TIME, sense::NOT_READY_OPERATION_IN_PROGRESS);
        }
        Ok(Vec::new())
    }

    fn blank(&mut self, c: &[u8; 16]) -> Result<Vec<u8>, Sense> {
        let immed = c[1] & 0x10 != 0;
        let img = self.ready()?;
        // The new state first: data left under a blank state is never read.
        let gone = img.disc.blank(c[1] & 7)?;
        img.sync().map_err(|_| sense::WRITE_ERROR)?;
        if let Some((from, to)) = gone {
            img.punch(from, to).map_err(|_| sense::WRITE_ERROR)?;
        }
        self.cue = None;
        if immed {
            self.start_busy(BLANK_TIME, sense::NOT_READY_OPERATION_IN_PROGRESS);
        } else {
            std::thread::sleep(BLANK_TIME);
        }
        Ok(Vec::new())
    }

    fn format(&mut self, c: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, Sense> {
        let img = self.ready()?;
        if !img.disc.kind.formats() {
            return Err(sense::CANNOT_FORMAT_MEDIUM_INCOMPATIBLE_MEDIUM);
        }
        let (format_type, blocks, immed) = if c[1] & 0x10 != 0 {
            if data.len() < 12 {
                return Err(sense::PARAMETER_LIST_LENGTH_ERROR);
            }
            (data[8] >> 2, be32(&data[4..]), data[1] & 2 != 0)
        } else {
            (img.disc.format_types().first().copied().unwrap_or(0), 0, false)
        };
        let gone = img.disc.format(format_type, blocks)?;
        img.sync().map_err(|_| sense::WRITE_ERROR)?;
        if let Some((from, to)) = gone {
            img.punch(from, to).map_err(|_| sense::WRITE_ERROR)?;
        }
        if immed {
            self.start_busy(FORMAT_TIME, sense::NOT_READY_FORMAT_IN_PROGRESS);
        } else {
            std::thread::sleep(FORMAT_TIME);
        }
        Ok(Vec::new())
    }

    fn read_cd(&mut self, c: &[u8; 16], data_len: usize) -> Result<Vec<u8>, Sense> {
        let lba = be32(&c[2..]);
        let blocks = be24(&c[6..]) as u32;
        let flags = c[9];
        let sub = c[10] & 7;
        {
            let img = self.ready()?;
            if img.disc.kind.family() != Family::Cd {
                return Err(sense::CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT);
            }
        }
        let per =
            [(flags & 0x80 != 0, 12), (flags & 0x20 != 0, 4), (flags & 0x10 != 0, 2048), (flags & 0x08 != 0, 288)]
                .iter()
                .filter(|p| p.0)
                .map(|p| p.1)
                .sum::<usize>()
                + [0, 294, 296, 0][((flags >> 1) & 3) as usize]
                + [0, 96, 16, 0, 96, 0, 0, 0][sub as usize];
        if blocks > 4096 || blocks as usize * per > data_len {
            return Err(sense::INVALID_FIELD_IN_CDB);
        }
        let user = self.read(lba, blocks, blocks as usize * 2048)?;
        let mut out = Vec::new();
        for (i, data) in user.chunks(2048).enumerate() {
            if flags & 0x80 != 0 {
                out.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0]);
            }
            if flags & 0x20 != 0 {
                let (m, s, f) = reply::msf(lba + i as u32);
                out.extend_from_slice(&[reply::bcd(m), reply::bcd(s), reply::bcd(f), 1]);
            }
            if flags & 0x10 != 0 {
                out.extend_from_slice(data);
            }
            if flags & 0x08 != 0 {
                // EDC and ECC are not computed: zeros.
                out.extend_from_slice(&[0u8; 288]);
            }
            match (flags >> 1) & 3 {
                1 => out.extend_from_slice(&[0u8; 294]),
                2 => out.extend_from_slice(&[0u8; 296]),
                _ => {}
            }
            match sub {
                1 | 4 => out.extend_from_slice(&[0u8; 96]),
                2 => out.extend_from_slice(&[0u8; 16]),
                _ => {}
            }
        }
        Ok(out)
    }

    /// A one-line state for `status`.
    pub fn describe(&self) -> serde_json::Value {
        let disc = self.image.as_ref().map(|i| {
            let d = &i.disc;
            serde_json::json!({
                "medium": d.kind.name(),
                "image": i.path(),
                "profile": format!("{:#06x}", d.profile()),
                "status": match d.status() { Status::Empty => "blank", Status::Appendable => "appendable", Status::Complete => "complete" },
                "sessions": d.sessions(),
                "tracks": d.tracks.len(),
                "next_writable": d.nwa(),
                "capacity": d.capacity,
                "formatted": d.formatted,
            })
        });
        serde_json::json!({
            "tray": if self.tray_open { "open" } else { "closed" },
            "locked": self.prevent,
            "disc": disc,
            "faults": self.faults,
            "blocks_written": self.blocks_written,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Plan;
    use crate::medium::Kind;

    /// Data-out of a test: `bytes` as the initiator's parameter list.
    struct Sent(Vec<u8>);
    impl DataOut for Sent {
        fn read(&mut self, buf: &mut Vec<u8>) {
            buf.clear();
            buf.extend_from_slice(&self.0);
        }
        fn write_at(&mut self, file: &std::fs::File, offset: u64) -> std::io::Result<()> {
            std::os::unix::fs::FileExt::write_all_at(file, &self.0, offset)
        }
    }

    fn check(r: Reply) -> Option<(u8, u8, u8)> {
        match r {
            Reply::Good(_) => None,
            Reply::Check(s) => Some((s[2], s[12], s[13])),
        }
    }

    #[test]
    fn hostile_commands_get_sense_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let img = Plan::new(&dir.path().join("d.img"), Kind::BdRe, None).unwrap().open().unwrap();
        let mut d = Drive::new(Some(img), "t");
        let mut none = Sent(Vec::new());
        // FORMAT UNIT, then a READ(12) of 24 GB into a 2 KiB buffer.
        let mut fmt = Sent(vec![0, 0x02, 0, 8, 0, 0, 0, 0, 0x30 << 2, 0, 0, 0]);
        let mut f = [0u8; 16];
        f[0] = 0x04;
        f[1] = 0x11;
        assert_eq!(check(d.execute(&f, &mut fmt, 12)), None);
        d.busy = None;
        let mut r = [0u8; 16];
        r[0] = 0xa8;
        r[6..10].copy_from_slice(&0x00b4_0000u32.to_be_bytes());
        assert_eq!(check(d.execute(&r, &mut none, 2048)), Some((5, 0x24, 0)));
        // READ CD of many sectors of 4 bytes each.
        let mut cd = [0u8; 16];
        cd[0] = 0xbe;
        cd[6..9].copy_from_slice(&[0xff, 0xff, 0xff]);
        cd[9] = 0x20;
        assert!(check(d.execute(&cd, &mut none, 4096)).is_some());
        // RESERVE TRACK of 2^32-1 blocks on a sequential disc.
        let img = Plan::new(&dir.path().join("r.img"), Kind::DvdPlusR, None).unwrap().open().unwrap();
        let mut d = Drive::new(Some(img), "t");
        let mut rt = [0u8; 16];
        rt[0] = 0x53;
        rt[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(check(d.execute(&rt, &mut none, 0)), Some((5, 0x24, 0)));
        // Every opcode with every CDB byte 0xff: an answer each.
        for op in 0..=255u8 {
            let mut c = [0xffu8; 16];
            c[0] = op;
            let _ = d.execute(&c, &mut Sent(vec![0xff; 64]), 64);
            d.busy = None;
        }
    }

    #[test]
    fn a_cue_sheet_needs_sao_and_a_write_of_zero_blocks_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let img = Plan::new(&dir.path().join("c.img"), Kind::CdR, None).unwrap().open().unwrap();
        let mut d = Drive::new(Some(img), "t");
        let mut cue = [0u8; 16];
        cue[0] = 0x5d;
        cue[8] = 8;
        assert_eq!(check(d.execute(&cue, &mut Sent(vec![0x41, 1, 1, 0x10, 0, 0, 2, 0]), 8)), Some((5, 0x2c, 0)));
        let mut w = [0u8; 16];
        w[0] = 0x2a;
        assert_eq!(check(d.execute(&w, &mut Sent(Vec::new()), 0)), None);
        assert!(d.disc().unwrap().tracks.is_empty());
    }
}

//! The medium in a recorder, as IMAPI2's `IDiscFormat2Data` describes it:
//! physical type (`IMAPI_MEDIA_PHYSICAL_TYPE`), state flags
//! (`IMAPI_FORMAT2_DATA_MEDIA_STATE`), total and free sectors and the next
//! writable address, and whether discrec can write it.
//!
//! Three kinds of recorder, three kinds of medium:
//! * an image file (a virtual recorder) holds a write-once disc: blank while
//!   the file holds no data (0 bytes, or made with `truncate`), closed once
//!   written, like a DVD±R, so a burn never overwrites an image by mistake.
//!   Its capacity is the file's size, or the file system's free space for
//!   an empty file; its free space no more than the file system can hold
//!   (a sparse file's size promises nothing);
//! * a block device that is not an optical drive (a loop device, a USB
//!   stick) is randomly writable: always writable from sector 0;
//! * an optical drive is asked over MMC: GET CONFIGURATION for the current
//!   profile, READ DISC INFORMATION for the disc status, READ TRACK
//!   INFORMATION for the next writable address and the free blocks; READ
//!   FORMAT CAPACITIES and the first sectors for a randomly writable
//!   disc. [`method_of`] says how each profile is written.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use discrec_mmc::{self as mmc, DiscStatus};

use crate::error::{Error, Result};
use crate::key::TargetKind;
use crate::target::Target;

/// Bytes per sector on every medium discrec writes: the drive's data
/// sector (MMC), as `u64` for offsets. An ISO 9660 image's logical block
/// (`discrec_iso`, which knows nothing of drives) must be the same.
pub const SECTOR: u64 = discrec_mmc::SECTOR as u64;
const _: () = assert!(SECTOR == discrec_iso::layout::SECTOR, "an ISO block must be one drive sector");

/// `IMAPI_MEDIA_PHYSICAL_TYPE`: what the medium physically is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[doc(alias = "IMAPI_MEDIA_PHYSICAL_TYPE")]
#[doc(alias = "CurrentPhysicalMediaType")]
#[allow(missing_docs)]
pub enum PhysicalType {
    Unknown = 0,
    CdRom = 1,
    CdR = 2,
    CdRw = 3,
    DvdRom = 4,
    DvdRam = 5,
    DvdPlusR = 6,
    DvdPlusRw = 7,
    DvdPlusRDualLayer = 8,
    DvdDashR = 9,
    DvdDashRw = 10,
    DvdDashRDualLayer = 11,
    /// Randomly writable media with defect management, and discrec's
    /// image files and plain block devices.
    Disk = 12,
    DvdPlusRwDualLayer = 13,
    HdDvdRom = 14,
    HdDvdR = 15,
    HdDvdRam = 16,
    BdRom = 17,
    BdR = 18,
    BdRe = 19,
}

impl PhysicalType {
    /// The type of an MMC profile.
    pub fn from_profile(profile: u16) -> PhysicalType {
        use PhysicalType::*;
        match profile {
            0x0008 => CdRom,
            0x0009 => CdR,
            0x000A => CdRw,
            0x0010 => DvdRom,
            0x0011 => DvdDashR,
            0x0012 => DvdRam,
            0x0013 | 0x0014 => DvdDashRw,
            0x0015 | 0x0016 => DvdDashRDualLayer,
            0x001A => DvdPlusRw,
            0x001B => DvdPlusR,
            0x002A => DvdPlusRwDualLayer,
            0x002B => DvdPlusRDualLayer,
            0x0040 => BdRom,
            0x0041 | 0x0042 => BdR,
            0x0043 => BdRe,
            0x0050 => HdDvdRom,
            0x0051 | 0x0058 => HdDvdR,
            0x0052 => HdDvdRam,
            0x0001 | 0x0002 => Disk,
            _ => Unknown,
        }
    }

    /// The IMAPI2 constant's value.
    pub fn value(self) -> u32 {
        self as u32
    }

    /// A CD of any kind.
    pub fn is_cd(self) -> bool {
        matches!(self, PhysicalType::CdRom | PhysicalType::CdR | PhysicalType::CdRw)
    }

    /// kB/s (1000 bytes) of "1x" for this medium's family: CD 176.4, DVD
    /// 1385, BD 4495.5; `None` for what is not a disc.
    pub fn one_x(self) -> Option<f64> {
        use PhysicalType::*;
        match self {
            _ if self.is_cd() => Some(176.4),
            BdRom | BdR | BdRe => Some(4495.5),
            Unknown | Disk => None,
            _ => Some(1385.0),
        }
    }
}

/// A write speed the drive offers for its medium (IMAPI2's
/// `IWriteSpeedDescriptor`), from GET PERFORMANCE.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[doc(alias = "IWriteSpeedDescriptor")]
#[doc(alias = "SupportedWriteSpeeds")]
pub struct WriteSpeed {
    /// Kilobytes (1000 bytes) per second, as MMC counts.
    pub kilobytes_per_second: u32,
    /// 2048-byte sectors per second, IMAPI2's unit (`WriteSpeed`).
    #[doc(alias = "WriteSpeed")]
    pub sectors_per_second: u32,
    /// As a multiple of the medium's 1x (DVD: 1385 kB/s), to one decimal.
    pub x: f64,
}

impl WriteSpeed {
    /// `kbs` kB/s on a medium of type `t`.
    pub fn new(kbs: u32, t: PhysicalType) -> WriteSpeed {
        let x = t.one_x().map_or(0.0, |one| (f64::from(kbs) / one * 10.0).round() / 10.0);
        WriteSpeed { kilobytes_per_second: kbs, sectors_per_second: (u64::from(kbs) * 1000 / SECTOR) as u32, x }
    }
}

/// A write speed asked for (IMAPI2's `SetWriteSpeed`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[doc(alias = "SetWriteSpeed")]
pub enum Speed {
    /// As fast as the drive writes the medium (the default).
    #[default]
    Max,
    /// A multiple of the medium's 1x (8 for 8x DVD).
    X(f64),
    /// Sectors per second, IMAPI2's unit.
    SectorsPerSecond(u32),
}

impl Speed {
    /// The offered speed of `m` this asks for (within 3 %: drives round
    /// their speeds), `None` for `Max`; the error listing the offered
    /// speeds when none matches.
    pub fn pick(self, target: &Target, m: &Medium) -> Result<Option<WriteSpeed>> {
        let close = |want: f64, have: f64| (want - have).abs() <= want * 0.03;
        let (found, asked) = match self {
            Speed::Max => return Ok(None),
            Speed::X(x) => (m.write_speeds.iter().find(|w| close(x, w.x)), format!("{x}x")),
            Speed::SectorsPerSecond(s) => (
                m.write_speeds.iter().find(|w| close(f64::from(s), f64::from(w.sectors_per_second))),
                format!("{s} sectors/s"),
            ),
        };
        found.copied().map(Some).ok_or_else(|| {
            let offered: Vec<String> = m.write_speeds.iter().map(|w| w.to_string()).collect();
            Error::InvalidArgument(match (m.profile, offered.is_empty()) {
                (None, _) => {
                    format!(
                        "{} is not an optical drive: it has no write speed to choose; leave out the speed",
                        target.given.display()
                    )
                }
                (_, true) => format!(
                    "{} offers no write speed to choose for its {:?}; leave the speed at its maximum",
                    target.given.display(),
                    m.physical_type
                ),
                _ => format!(
                    "{} does not write its {:?} at {asked}; it offers {}",
                    target.given.display(),
                    m.physical_type,
                    offered.join(", ")
                ),
            })
        })
    }
}

impl std::str::FromStr for Speed {
    type Err = Error;
    /// `max`, `8`, `8x`, `2.4x`, or `3000s` (sectors per second).
    fn from_str(s: &str) -> Result<Speed> {
        let bad = || {
            Error::InvalidArgument(format!(
                "speed {s:?}: use `max`, a multiple of 1x (`8`, `8x`, `2.4x`) or sectors per second (`3000s`)"
            ))
        };
        let t = s.trim().to_ascii_lowercase();
        if t == "max" {
            return Ok(Speed::Max);
        }
        if let Some(n) = t.strip_suffix('s') {
            return n.parse::<u32>().ok().filter(|&n| n > 0).map(Speed::SectorsPerSecond).ok_or_else(bad);
        }
        let x = t.strip_suffix('x').unwrap_or(&t).parse::<f64>().map_err(|_| bad())?;
        if x.is_finite() && x > 0.0 && x <= 1000.0 {
            Ok(Speed::X(x))
        } else {
            Err(bad())
        }
    }
}

impl std::fmt::Display for WriteSpeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x ({} kB/s)", self.x, self.kilobytes_per_second)
    }
}

/// `IMAPI_FORMAT2_DATA_MEDIA_STATE`: flags, with IMAPI2's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[doc(alias = "IMAPI_FORMAT2_DATA_MEDIA_STATE")]
#[doc(alias = "CurrentMediaStatus")]
pub struct MediaState(pub u32);

impl MediaState {
    /// Nothing known.
    pub const UNKNOWN: MediaState = MediaState(0);
    /// Written anywhere at any time (random access; IMAPI2 also calls it
    /// `OVERWRITE_ONLY`).
    pub const RANDOMLY_WRITABLE: MediaState = MediaState(0x1);
    /// Nothing recorded.
    pub const BLANK: MediaState = MediaState(0x2);
    /// Recorded, more can be appended.
    pub const APPENDABLE: MediaState = MediaState(0x4);
    /// Only one more session may be written.
    pub const FINAL_SESSION: MediaState = MediaState(0x8);
    /// Damaged.
    pub const DAMAGED: MediaState = MediaState(0x400);
    /// Must be erased before writing.
    pub const ERASE_REQUIRED: MediaState = MediaState(0x800);
    /// The last session holds data.
    pub const NON_EMPTY_SESSION: MediaState = MediaState(0x1000);
    /// Write-protected.
    pub const WRITE_PROTECTED: MediaState = MediaState(0x2000);
    /// Closed: nothing can be appended.
    pub const FINALIZED: MediaState = MediaState(0x4000);
    /// A medium discrec (or the drive) cannot write.
    pub const UNSUPPORTED_MEDIA: MediaState = MediaState(0x8000);

    const NAMES: [(MediaState, &'static str); 11] = [
        (MediaState::RANDOMLY_WRITABLE, "randomly_writable"),
        (MediaState::BLANK, "blank"),
        (MediaState::APPENDABLE, "appendable"),
        (MediaState::FINAL_SESSION, "final_session"),
        (MediaState::DAMAGED, "damaged"),
        (MediaState::ERASE_REQUIRED, "erase_required"),
        (MediaState::NON_EMPTY_SESSION, "non_empty_session"),
        (MediaState::WRITE_PROTECTED, "write_protected"),
        (MediaState::FINALIZED, "finalized"),
        (MediaState::UNSUPPORTED_MEDIA, "unsupported_media"),
        (MediaState::UNKNOWN, "unknown"),
    ];

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: MediaState) -> bool {
        self.0 & other.0 == other.0
    }

    /// The names of the flags set (`unknown` when none is).
    pub fn names(self) -> Vec<&'static str> {
        let set: Vec<&str> =
            MediaState::NAMES.iter().filter(|(f, _)| f.0 != 0 && self.contains(*f)).map(|(_, n)| *n).collect();
        if set.is_empty() {
            vec!["unknown"]
        } else {
            set
        }
    }
}

impl std::ops::BitOr for MediaState {
    type Output = MediaState;
    fn bitor(self, rhs: MediaState) -> MediaState {
        MediaState(self.0 | rhs.0)
    }
}

impl std::fmt::Display for MediaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}

impl serde::Serialize for MediaState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// How discrec writes a medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMethod {
    /// `pwrite` into an image file, then `fdatasync`.
    ImageFile,
    /// `pwrite` into a block device, then `fdatasync`.
    BlockDevice,
    /// WRITE(10) from the next writable address over `SG_IO`, then
    /// SYNCHRONIZE CACHE and CLOSE TRACK / SESSION (DVD±R, DVD-RW in
    /// sequential mode, BD-R; write parameters page set to incremental
    /// for DVD-R and DVD-RW).
    Incremental,
    /// As `Incremental`, in a track written at once (CD-R, CD-RW: write
    /// parameters page set to TAO, mode 1).
    TrackAtOnce,
    /// WRITE(10) from sector 0 of a formatted disc (formatted first when
    /// it is not), then SYNCHRONIZE CACHE (DVD+RW, DVD-RAM, DVD-RW in
    /// restricted overwrite, BD-RE).
    RandomAccess,
}

/// The medium in a recorder.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Medium {
    /// What it is physically.
    pub physical_type: PhysicalType,
    /// The MMC profile (drives only).
    pub profile: Option<u16>,
    /// IMAPI2's state flags.
    pub state: MediaState,
    /// Sectors the medium holds (`TotalSectorsOnMedia`).
    #[doc(alias = "TotalSectorsOnMedia")]
    pub total_sectors: u64,
    /// Sectors still writable (`FreeSectorsOnMedia`).
    #[doc(alias = "FreeSectorsOnMedia")]
    pub free_sectors: u64,
    /// Where the next write starts (`NextWritableAddress`).
    #[doc(alias = "NextWritableAddress")]
    pub next_writable_address: u64,
    /// Sessions holding data (a randomly writable disc with data: 1).
    pub sessions: u16,
    /// The first sector of the last session with data, where its file
    /// system starts (`StartAddressOfPreviousSession`).
    #[doc(alias = "StartAddressOfPreviousSession")]
    pub previous_session_start: Option<u64>,
    /// The disc can be erased (`discrec erase`): CD-RW, DVD-RW, DVD+RW,
    /// DVD-RAM, BD-RE ([`is_erasable_profile`]).
    pub erasable: bool,
    /// A disc that is formatted before it is written: a randomly writable
    /// one never formatted, or a DVD-RW blanked minimally (which takes no
    /// incremental writing): a write formats it first.
    pub needs_format: bool,
    /// The write speeds the drive offers for it, fastest first
    /// (`SupportedWriteSpeeds`; none for image files and block devices).
    #[doc(alias = "SupportedWriteSpeeds")]
    #[doc(alias = "SupportedWriteSpeedDescriptors")]
    pub write_speeds: Vec<WriteSpeed>,
    /// The recorder can write some medium (`IsRecorderSupported`).
    #[doc(alias = "IsRecorderSupported")]
    pub recorder_supported: bool,
    /// discrec can write this medium (`IsCurrentMediaSupported`).
    #[doc(alias = "IsCurrentMediaSupported")]
    pub medium_supported: bool,
    /// How it would be written, when it can be.
    pub method: Option<WriteMethod>,
    /// Why it cannot be written, in words, when it cannot.
    pub why_not: Option<String>,
}

#[cfg(test)]
impl Medium {
    /// A disc of `profile` in `state`, written as `method`, for unit tests:
    /// 1000 sectors, 100 free, one session from sector 0, and a drive that
    /// calls it erasable whatever it is.
    pub(crate) fn for_tests(profile: u16, state: MediaState, method: WriteMethod) -> Medium {
        Medium {
            physical_type: PhysicalType::from_profile(profile),
            profile: Some(profile),
            state,
            total_sectors: 1000,
            free_sectors: 100,
            next_writable_address: 900,
            sessions: 1,
            previous_session_start: Some(0),
            erasable: true,
            needs_format: false,
            write_speeds: vec![],
            recorder_supported: true,
            medium_supported: true,
            method: Some(method),
            why_not: None,
        }
    }
}

impl Medium {
    /// The medium can take a new recording from its start: blank, or
    /// randomly writable.
    pub fn is_writable_from_start(&self) -> bool {
        self.state.contains(MediaState::BLANK) || self.state.contains(MediaState::RANDOMLY_WRITABLE)
    }

    /// Bytes still writable.
    pub fn free_bytes(&self) -> u64 {
        self.free_sectors.saturating_mul(SECTOR)
    }
}

/// How discrec writes a disc of MMC profile `profile`; `None` for one it
/// does not write.
pub fn method_of(profile: u16) -> Option<WriteMethod> {
    match profile {
        0x0009 | 0x000A => Some(WriteMethod::TrackAtOnce),
        0x0011 | 0x0014 | 0x001B | 0x002B | 0x0041 => Some(WriteMethod::Incremental),
        0x0012 | 0x0013 | 0x001A | 0x002A | 0x0043 => Some(WriteMethod::RandomAccess),
        _ => None,
    }
}

/// Profiles of the rewritable discs, the ones that can be erased: CD-RW,
/// DVD-RAM, DVD-RW (both modes), DVD+RW (and DL), BD-RE. Their profile
/// says so, whatever else the drive reports.
pub fn is_erasable_profile(profile: u16) -> bool {
    matches!(profile, 0x000A | 0x0012 | 0x0013 | 0x0014 | 0x001A | 0x002A | 0x0043)
}

/// The format discrec gives a disc of `profile` (type, blocks, type
/// dependent parameter) among those READ FORMAT CAPACITIES lists:
/// DVD+RW 26h; DVD-RW quick (15h, restricted overwrite), else full;
/// DVD-RAM and BD-RE 00h (with the default spare area), else 30h, 31h.
pub fn format_for(profile: u16, caps: &mmc::FormatCapacities) -> Option<(u8, u32, u32)> {
    let wanted: &[u8] = match profile {
        0x001A | 0x002A => &[0x26],
        0x0013 | 0x0014 => &[0x15, 0x10, 0x00],
        0x0012 | 0x0043 => &[0x00, 0x30, 0x31],
        _ => &[],
    };
    wanted.iter().find_map(|w| caps.formats.iter().find(|f| f.0 == *w)).copied()
}

/// Profiles a drive can write at all (recordable and rewritable ones).
fn is_recordable_profile(p: u16) -> bool {
    matches!(p, 0x0009..=0x000A | 0x0011..=0x001B | 0x002A..=0x002B | 0x0041..=0x0043 | 0x0051..=0x005A)
}

/// Open the node for writing (no `O_EXCL`: the kernel claim, if any, is
/// ours already; `O_NONBLOCK` so a drive opens without a medium).
pub(crate) fn open_rw(t: &Target) -> Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY;
    let flags = if t.kind == TargetKind::BlockDevice { flags | OFlags::NONBLOCK } else { flags };
    let fd = rustix::fs::open(&t.node, flags, Mode::empty()).map_err(|e| t.io_error("cannot open", e.into()))?;
    t.check_same(&fd)?;
    Ok(fd)
}

/// Read the medium of `target` through `fd`, an open descriptor of its
/// node (read-write for drives: the kernel lets MMC commands through).
pub fn read(target: &Target, fd: BorrowedFd<'_>) -> Result<Medium> {
    match target.kind {
        TargetKind::File => image_file(target, fd),
        TargetKind::BlockDevice if is_optical(target) => optical(target, fd),
        TargetKind::BlockDevice => block_device(target, fd),
    }
}

/// Whether the block device is an optical drive (SCSI type 5: CD/DVD).
pub fn is_optical(target: &Target) -> bool {
    target
        .sysfs_dir()
        .and_then(|d| std::fs::read_to_string(d.join("device/type")).ok())
        .is_some_and(|t| t.trim() == "5")
}

fn size_of(target: &Target, fd: BorrowedFd<'_>) -> Result<u64> {
    rustix::fs::seek(fd, rustix::fs::SeekFrom::End(0)).map_err(|e| target.io_error("cannot find the size of", e.into()))
}

fn image_file(target: &Target, fd: BorrowedFd<'_>) -> Result<Medium> {
    let size = size_of(target, fd)?;
    // A file with no data extents is blank: never written (sparse, or 0 bytes).
    let blank = match rustix::fs::seek(fd, rustix::fs::SeekFrom::Data(0)) {
        Err(rustix::io::Errno::NXIO) => true,
        Ok(_) => false,
        Err(e) => return Err(target.io_error("cannot look for data in", e.into())),
    };
    let room = fs_free_bytes(&target.node)?;
    let total = if size > 0 { size / SECTOR } else { room / SECTOR };
    // A blank file's blocks (kept by fallocate, say) and the file
    // system's free space are all it can take.
    let allocated = rustix::fs::fstat(fd).map(|st| (st.st_blocks as u64).saturating_mul(512)).unwrap_or(0);
    let fits = room.saturating_add(allocated) / SECTOR;
    let mut m = Medium {
        physical_type: PhysicalType::Disk,
        profile: None,
        state: if blank { MediaState::BLANK } else { MediaState::NON_EMPTY_SESSION | MediaState::FINALIZED },
        total_sectors: total,
        free_sectors: if blank { total.min(fits) } else { 0 },
        next_writable_address: 0,
        sessions: u16::from(!blank),
        previous_session_start: (!blank).then_some(0),
        erasable: false,
        needs_format: false,
        write_speeds: Vec::new(),
        recorder_supported: true,
        medium_supported: true,
        method: Some(WriteMethod::ImageFile),
        why_not: None,
    };
    if !blank {
        m.why_not = Some(format!(
            "{} already holds data (an image file is a write-once disc); add a session to it with --append, or truncate it to 0 bytes to burn it again",
            target.given.display()
        ));
        // An ISO 9660 image takes more sessions (`--append`): it grows
        // after its volume, as far as its file system has room.
        if let Some(volume) = iso_volume_sectors(fd) {
            m.state = MediaState::NON_EMPTY_SESSION | MediaState::APPENDABLE;
            m.next_writable_address = volume.div_ceil(SESSION_ALIGN) * SESSION_ALIGN;
            m.free_sectors = room / SECTOR;
            m.total_sectors = m.next_writable_address + m.free_sectors;
        }
    }
    Ok(m)
}

/// A session added to a disc written at random (an image file, a block
/// device, a DVD+RW, DVD-RAM or BD-RE) starts on a multiple of this many
/// sectors after the volume (64 KiB: a BD cluster, four DVD ECC blocks).
pub const SESSION_ALIGN: u64 = 32;

/// The sectors of the ISO 9660 volume whose primary descriptor is at
/// sector 16 of `fd` (its volume space size); `None` without one.
fn iso_volume_sectors(fd: BorrowedFd<'_>) -> Option<u64> {
    let mut pvd = [0u8; SECTOR as usize];
    let n = rustix::io::pread(fd, &mut pvd, 16 * SECTOR).ok()?;
    (n == pvd.len() && pvd[0] == 1 && &pvd[1..6] == b"CD001")
        .then(|| u64::from(u32::from_le_bytes([pvd[80], pvd[81], pvd[82], pvd[83]])))
}

/// Bytes the file system holding `path` has free for unprivileged users.
pub(crate) fn fs_free_bytes(path: &Path) -> Result<u64> {
    let st = rustix::fs::statvfs(path).map_err(|e| Error::io(path, "cannot find the free space of", e.into()))?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

fn block_device(target: &Target, fd: BorrowedFd<'_>) -> Result<Medium> {
    let total = size_of(target, fd)? / SECTOR;
    let read_only =
        target.sysfs_dir().and_then(|d| std::fs::read_to_string(d.join("ro")).ok()).is_some_and(|t| t.trim() == "1");
    let mut m = Medium {
        physical_type: PhysicalType::Disk,
        profile: None,
        state: MediaState::RANDOMLY_WRITABLE,
        total_sectors: total,
        free_sectors: total,
        next_writable_address: 0,
        sessions: 0,
        previous_session_start: None,
        erasable: false,
        needs_format: false,
        write_speeds: Vec::new(),
        recorder_supported: true,
        medium_supported: !read_only,
        method: Some(WriteMethod::BlockDevice),
        why_not: None,
    };
    if read_only {
        m.state = m.state | MediaState::WRITE_PROTECTED;
        m.free_sectors = 0;
        m.method = None;
        m.why_not = Some(format!(
            "{} is read-only; make it writable (`blockdev --setrw`) or name another target",
            target.given.display()
        ));
    }
    Ok(m)
}

fn mmc_err(target: &Target) -> impl Fn(mmc::Error) -> Error + '_ {
    move |e| Error::drive_command(&target.given, e)
}

/// Sectors read from the start of a randomly writable disc to see whether
/// it holds data: the system area and the volume descriptors of ISO 9660
/// and UDF (sectors 0 to 17).
const PROBE_SECTORS: usize = 18;

fn optical(target: &Target, fd: BorrowedFd<'_>) -> Result<Medium> {
    let conf = mmc::get_configuration(fd).map_err(mmc_err(target))?;
    let recorder_supported = conf.profiles.iter().any(|&(p, _)| is_recordable_profile(p));
    let profile = conf.current_profile;
    if profile == 0 {
        // No current profile: no medium (TEST UNIT READY says which).
        mmc::test_unit_ready(fd).map_err(mmc_err(target))?;
        return Err(Error::NoMedium { target: target.given.clone() });
    }
    let mut m = Medium {
        physical_type: PhysicalType::from_profile(profile),
        profile: Some(profile),
        state: MediaState::UNKNOWN,
        total_sectors: 0,
        free_sectors: 0,
        next_writable_address: 0,
        sessions: 0,
        previous_session_start: None,
        erasable: false,
        needs_format: false,
        write_speeds: Vec::new(),
        recorder_supported,
        medium_supported: false,
        method: None,
        why_not: None,
    };
    let name = mmc::profile_name(profile).map(str::to_string).unwrap_or_else(|| format!("profile {profile:#06x}"));
    let disc = mmc::read_disc_information(fd).map_err(mmc_err(target))?;
    m.erasable = is_erasable_profile(profile);
    let method = method_of(profile);
    if method == Some(WriteMethod::RandomAccess) {
        random_access(fd, &mut m);
    } else {
        sequential(fd, &disc, &mut m);
    }
    if profile == 0x0014
        && m.state.contains(MediaState::BLANK)
        && !conf.features.iter().any(|f| f.code == 0x0021 && f.current)
    {
        // A DVD-RW blanked minimally takes no incremental writing (no
        // current Incremental Streaming Writable feature): it is
        // formatted to restricted overwrite first.
        m.needs_format = true;
    }
    // A drive without GET PERFORMANCE offers no choice: nothing listed.
    let speeds = mmc::write_speeds(fd).unwrap_or_default();
    m.write_speeds = speeds.into_iter().map(|k| WriteSpeed::new(k, m.physical_type)).collect();
    if conf.features.iter().any(|f| f.code == 0x0004 && f.current) && write_protected(fd) {
        m.state = m.state | MediaState::WRITE_PROTECTED;
    }
    if !recorder_supported {
        m.why_not = Some(format!("{} cannot write any disc (it reads only)", target.given.display()));
    } else if method.is_none() {
        m.state = m.state | MediaState::UNSUPPORTED_MEDIA;
        m.why_not = Some(if is_recordable_profile(profile) {
            format!(
                "discrec does not write a {name} (the disc in {}); insert a CD-R/RW, DVD±R, DVD±RW, DVD-RAM, BD-R or BD-RE",
                target.given.display()
            )
        } else {
            format!(
                "the disc in {} is a {name}: read-only, or a recordable disc the drive reports as closed; insert a blank CD, DVD or BD",
                target.given.display()
            )
        });
    } else if m.state.contains(MediaState::WRITE_PROTECTED) {
        m.why_not = Some(format!(
            "the disc in {} is write-protected; release its protection, or use another disc",
            target.given.display()
        ));
    } else {
        m.medium_supported = true;
        m.method = method;
    }
    Ok(m)
}

/// A disc written in order (CD-R/RW, DVD±R, DVD-RW in sequential mode,
/// BD-R): its state from READ DISC INFORMATION, where writing goes on and
/// its room from the invisible track's READ TRACK INFORMATION.
fn sequential(fd: BorrowedFd<'_>, disc: &mmc::DiscInformation, m: &mut Medium) {
    m.state = match disc.status {
        DiscStatus::Empty => MediaState::BLANK,
        DiscStatus::Incomplete => MediaState::APPENDABLE | MediaState::NON_EMPTY_SESSION,
        DiscStatus::Complete | DiscStatus::Other => MediaState::FINALIZED | MediaState::NON_EMPTY_SESSION,
    };
    // Sessions holding data: an appendable disc counts the empty one it
    // is open for.
    let open_empty = disc.status != DiscStatus::Complete && disc.last_session == mmc::SessionState::Empty;
    m.sessions = disc.sessions.saturating_sub(open_empty as u16);
    // The last track of the last session: where writing goes on.
    if let Ok(track) = mmc::read_track_information(fd, u32::from(disc.last_track_in_last_session.max(1))) {
        if track.nwa_valid {
            m.next_writable_address = u64::from(track.next_writable);
            m.free_sectors = u64::from(track.free_blocks);
        }
        m.total_sectors = u64::from(track.start) + u64::from(track.size.max(track.free_blocks));
    }
    // The first track of the last session with data: where its file
    // system starts (IMAPI2's StartAddressOfPreviousSession). Its tracks
    // end just before the open session's first (invisible) track.
    let mut n = match open_empty {
        true => disc.first_track_in_last_session.saturating_sub(1),
        false => disc.last_track_in_last_session,
    };
    while m.sessions > 0 && n > 0 {
        match mmc::read_track_information(fd, u32::from(n)) {
            Ok(t) if t.session == m.sessions => m.previous_session_start = Some(u64::from(t.start)),
            _ => break,
        }
        n -= 1;
    }
    if m.total_sectors == 0 {
        if let Ok((last, _)) = mmc::read_capacity(fd) {
            m.total_sectors = u64::from(last) + u64::from(last > 0);
        }
    }
    // A CD-RW or DVD-RW holds as much as it holds once erased: the
    // capacity READ FORMAT CAPACITIES reports for the whole disc.
    if m.profile.is_some_and(is_erasable_profile) {
        if let Ok(caps) = mmc::read_format_capacities(fd) {
            let whole = format_for(m.profile.unwrap_or(0), &caps).map_or(caps.current_blocks, |f| f.1);
            m.total_sectors = m.total_sectors.max(u64::from(whole));
        }
    }
}

/// A randomly writable disc (DVD+RW, DVD-RAM, DVD-RW in restricted
/// overwrite, BD-RE): formatted or not (READ FORMAT CAPACITIES), its size,
/// and whether its first sectors hold data. A drive that does not say
/// is taken at its READ CAPACITY, and a disc whose first sectors cannot be
/// read as holding data (a write over it needs `--overwrite`).
fn random_access(fd: BorrowedFd<'_>, m: &mut Medium) {
    let caps = mmc::read_format_capacities(fd).ok();
    m.state = MediaState::RANDOMLY_WRITABLE;
    m.sessions = 0;
    if let Some(caps) = caps.as_ref().filter(|c| c.unformatted) {
        // Formatted before the first write, with the format it will get.
        m.needs_format = true;
        m.state = m.state | MediaState::BLANK;
        let blocks = format_for(m.profile.unwrap_or(0), caps).map_or(caps.current_blocks, |f| f.1);
        m.total_sectors = u64::from(blocks);
        m.free_sectors = m.total_sectors;
        return;
    }
    m.total_sectors = match mmc::read_capacity(fd) {
        Ok((last, _)) if last > 0 => u64::from(last) + 1,
        _ => caps.as_ref().filter(|c| c.formatted).map_or(0, |c| u64::from(c.current_blocks)),
    };
    m.free_sectors = m.total_sectors;
    let mut probe = vec![0u8; PROBE_SECTORS * SECTOR as usize];
    let holds_data = match mmc::read10(fd, 0, &mut probe) {
        Ok(n) => probe[..n].iter().any(|&b| b != 0),
        // Unreadable sectors: never written since formatting.
        Err(mmc::Error::Sense { sense, .. }) if matches!(sense.key, 3 | 5) => false,
        // Not known: taken as data, never written over untold.
        Err(_) => true,
    };
    if holds_data {
        m.state = m.state | MediaState::NON_EMPTY_SESSION;
        m.sessions = 1;
        m.previous_session_start = Some(0);
    } else {
        m.state = m.state | MediaState::BLANK;
    }
}

/// GET CONFIGURATION of the Write Protect feature (0x0004) alone: whether
/// its SWPP or PWP bits say the medium is protected.
fn write_protected(fd: BorrowedFd<'_>) -> bool {
    let cdb = [0x46, 0x02, 0, 0x04, 0, 0, 0, 0, 16, 0];
    match mmc::command::data_in(fd, "GET CONFIGURATION", &cdb, 16) {
        Ok(b) if b.len() >= 13 && u16::from_be_bytes([b[8], b[9]]) == 0x0004 => b[12] & 0x05 != 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_flags_have_imapi_values_and_names() {
        assert_eq!(MediaState::BLANK.0, 0x2);
        assert_eq!(MediaState::FINALIZED.0, 0x4000);
        assert_eq!(MediaState::UNSUPPORTED_MEDIA.0, 0x8000);
        let s = MediaState::APPENDABLE | MediaState::NON_EMPTY_SESSION;
        assert_eq!(s.names(), ["appendable", "non_empty_session"]);
        assert_eq!(serde_json::to_value(MediaState::UNKNOWN).unwrap(), serde_json::json!(["unknown"]));
        assert_eq!(PhysicalType::from_profile(0x001B), PhysicalType::DvdPlusR);
        assert_eq!(PhysicalType::from_profile(0x001B).value(), 6);
        assert_eq!(PhysicalType::from_profile(0x0010).value(), 4);
        assert_eq!(PhysicalType::from_profile(0x0043).value(), 19);
    }

    #[test]
    fn speeds_parse_and_round_as_drives_do() {
        assert_eq!("max".parse::<Speed>().unwrap(), Speed::Max);
        assert_eq!("8".parse::<Speed>().unwrap(), Speed::X(8.0));
        assert_eq!("2.4X".parse::<Speed>().unwrap(), Speed::X(2.4));
        assert_eq!("3000s".parse::<Speed>().unwrap(), Speed::SectorsPerSecond(3000));
        for bad in ["", "x", "-4", "0", "0s", "nan", "inf", "1e9", "fast"] {
            let e = bad.parse::<Speed>().unwrap_err().to_string();
            assert!(e.contains("use `max`"), "{bad}: {e}");
        }
        let w = WriteSpeed::new(11_080, PhysicalType::DvdPlusR);
        assert_eq!((w.x, w.sectors_per_second), (8.0, 5410));
        assert_eq!(WriteSpeed::new(7_056, PhysicalType::CdR).x, 40.0);
        assert_eq!(WriteSpeed::new(17_984, PhysicalType::BdR).x, 4.0);
    }
}

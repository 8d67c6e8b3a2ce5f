//! The kinds of disc the virtual drive takes, and what each one is as MMC
//! sees it: profile, family, how it is written and erased, its usual
//! capacity.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of medium (`--medium`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    CdR,
    CdRw,
    DvdR,
    DvdRw,
    #[serde(rename = "dvd+r")]
    DvdPlusR,
    #[serde(rename = "dvd+r-dl")]
    DvdPlusRDl,
    #[serde(rename = "dvd+rw")]
    DvdPlusRw,
    DvdRam,
    BdR,
    BdRe,
    CdRom,
    DvdRom,
    BdRom,
}

/// The disc family: what READ TOC, ATIP and READ DISC STRUCTURE mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Cd,
    Dvd,
    Bd,
}

/// Every kind, in the order `--help` lists them.
pub const KINDS: &[Kind] = &[
    Kind::CdR,
    Kind::CdRw,
    Kind::DvdR,
    Kind::DvdRw,
    Kind::DvdPlusR,
    Kind::DvdPlusRDl,
    Kind::DvdPlusRw,
    Kind::DvdRam,
    Kind::BdR,
    Kind::BdRe,
    Kind::CdRom,
    Kind::DvdRom,
    Kind::BdRom,
];

/// Every profile the drive has (GET CONFIGURATION feature 0), highest
/// first as real drives list them.
pub const DRIVE_PROFILES: &[u16] =
    &[0x43, 0x41, 0x40, 0x2b, 0x1b, 0x1a, 0x14, 0x13, 0x12, 0x11, 0x10, 0x0a, 0x09, 0x08];

impl Kind {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::CdR => "cd-r",
            Kind::CdRw => "cd-rw",
            Kind::DvdR => "dvd-r",
            Kind::DvdRw => "dvd-rw",
            Kind::DvdPlusR => "dvd+r",
            Kind::DvdPlusRDl => "dvd+r-dl",
            Kind::DvdPlusRw => "dvd+rw",
            Kind::DvdRam => "dvd-ram",
            Kind::BdR => "bd-r",
            Kind::BdRe => "bd-re",
            Kind::CdRom => "cd-rom",
            Kind::DvdRom => "dvd-rom",
            Kind::BdRom => "bd-rom",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Kind::CdR | Kind::CdRw | Kind::CdRom => Family::Cd,
            Kind::BdR | Kind::BdRe | Kind::BdRom => Family::Bd,
            _ => Family::Dvd,
        }
    }

    /// Pressed: read only, its content is the image as given.
    pub fn is_rom(self) -> bool {
        matches!(self, Kind::CdRom | Kind::DvdRom | Kind::BdRom)
    }

    /// Written once, in order, track after track (until blanked, for the
    /// rewritable sequential kinds CD-RW and DVD-RW).
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            Kind::CdR | Kind::CdRw | Kind::DvdR | Kind::DvdRw | Kind::DvdPlusR | Kind::DvdPlusRDl | Kind::BdR
        )
    }

    /// Blanked with BLANK (A1h).
    pub fn blanks(self) -> bool {
        matches!(self, Kind::CdRw | Kind::DvdRw)
    }

    /// Formatted with FORMAT UNIT (04h).
    pub fn formats(self) -> bool {
        matches!(self, Kind::DvdRw | Kind::DvdPlusRw | Kind::DvdRam | Kind::BdRe | Kind::BdR)
    }

    /// DVD-R or DVD-RW: written incrementally or DAO, as page 05 says.
    pub fn is_dash_r(self) -> bool {
        matches!(self, Kind::DvdR | Kind::DvdRw)
    }

    /// CLOSE SESSION leaves the disc open for another session only when
    /// page 05's multisession field asks (CD and DVD-R; DVD+R and BD-R
    /// have close functions of their own for that).
    pub fn sessions_follow_page05(self) -> bool {
        matches!(self, Kind::CdR | Kind::CdRw | Kind::DvdR | Kind::DvdRw)
    }

    /// Erasable bit of READ DISC INFORMATION.
    pub fn erasable(self) -> bool {
        matches!(self, Kind::CdRw | Kind::DvdRw | Kind::DvdPlusRw | Kind::DvdRam | Kind::BdRe)
    }

    /// Multisession (appendable after a closed session).
    pub fn multisession(self) -> bool {
        matches!(
            self,
            Kind::CdR | Kind::CdRw | Kind::DvdR | Kind::DvdRw | Kind::DvdPlusR | Kind::DvdPlusRDl | Kind::BdR
        )
    }

    /// The usual capacity in 2048-byte sectors (of a formatted disc, for
    /// the kinds that format).
    pub fn default_capacity(self) -> u32 {
        match self {
            // 80 minutes: ATIP lead-out 79:59:74.
            Kind::CdR | Kind::CdRw | Kind::CdRom => 359_849,
            Kind::DvdR | Kind::DvdRw | Kind::DvdPlusR | Kind::DvdPlusRw | Kind::DvdRom => 2_295_104,
            Kind::DvdPlusRDl => 4_173_824,
            Kind::DvdRam => 2_236_704,
            Kind::BdR | Kind::BdRom => 12_219_392,
            Kind::BdRe => 11_826_176,
        }
    }

    /// The profile when the disc is in its `formatted` state (DVD-RW:
    /// restricted overwrite once formatted).
    pub fn profile(self, formatted: bool) -> u16 {
        match self {
            Kind::CdRom => 0x08,
            Kind::CdR => 0x09,
            Kind::CdRw => 0x0a,
            Kind::DvdRom => 0x10,
            Kind::DvdR => 0x11,
            Kind::DvdRam => 0x12,
            Kind::DvdRw if formatted => 0x13,
            Kind::DvdRw => 0x14,
            Kind::DvdPlusRw => 0x1a,
            Kind::DvdPlusR => 0x1b,
            Kind::DvdPlusRDl => 0x2b,
            Kind::BdRom => 0x40,
            Kind::BdR => 0x41,
            Kind::BdRe => 0x43,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        KINDS.iter().copied().find(|k| k.name() == s.to_ascii_lowercase()).ok_or_else(|| {
            let names: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
            format!("unknown medium {s:?}: use one of {}, or none", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_from_its_name_and_has_a_drive_profile() {
        for k in KINDS {
            assert_eq!(k.name().parse::<Kind>(), Ok(*k));
            assert_eq!(serde_json::to_string(k).unwrap(), format!("\"{}\"", k.name()));
            for formatted in [false, true] {
                assert!(DRIVE_PROFILES.contains(&k.profile(formatted)), "{k}");
            }
        }
        assert!("dvd+r-sl".parse::<Kind>().unwrap_err().contains("dvd+r-dl"));
    }
}

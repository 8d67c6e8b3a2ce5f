//! Sense data: what a drive says when it refuses a command (SPC fixed and
//! descriptor formats), decoded for a person.

/// Sense key, additional sense code and qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sense {
    /// Sense key.
    pub key: u8,
    /// Additional sense code.
    pub asc: u8,
    /// Additional sense code qualifier.
    pub ascq: u8,
}

/// Parse fixed (0x70/0x71) or descriptor (0x72/0x73) sense data.
pub fn parse_sense(b: &[u8]) -> Option<Sense> {
    match b.first()? & 0x7f {
        0x70 | 0x71 if b.len() >= 14 => Some(Sense { key: b[2] & 0x0f, asc: b[12], ascq: b[13] }),
        0x72 | 0x73 if b.len() >= 4 => Some(Sense { key: b[1] & 0x0f, asc: b[2], ascq: b[3] }),
        _ => None,
    }
}

/// The progress indication of fixed sense data (sense key specific
/// bytes 15-17 with SKSV set, as a drive reports a blank or format in the
/// background): done out of 65536.
pub fn parse_progress(b: &[u8]) -> Option<u16> {
    match b.first()? & 0x7f {
        0x70 | 0x71 if b.len() >= 18 && b[15] & 0x80 != 0 => Some(u16::from_be_bytes([b[16], b[17]])),
        _ => None,
    }
}

impl Sense {
    /// What it means, for a person.
    pub fn describe(&self) -> String {
        let what = match (self.key, self.asc, self.ascq) {
            (2, 0x3a, _) => "no medium",
            (2, 0x04, 0x01) => "the medium is becoming ready",
            (2, 0x04, _) => "the drive is not ready",
            (_, 0x53, 0x02) => "medium removal is prevented (the tray is locked)",
            (_, 0x53, 0x00) => "the medium could not be loaded or ejected (is the tray locked?)",
            (5, 0x20, _) => "the drive does not support this command",
            (5, 0x24, _) => "invalid field in the command",
            (6, 0x28, _) => "the medium changed",
            (6, 0x29, _) => "the drive was reset",
            (3, _, _) => "medium error",
            (4, _, _) => "hardware error",
            _ => "the drive refused the command",
        };
        format!("{what} (sense {:X}/{:02X}/{:02X})", self.key, self.asc, self.ascq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sense_formats() {
        let mut fixed = [0u8; 18];
        fixed[0] = 0x70;
        fixed[2] = 0x02;
        fixed[12] = 0x3a;
        assert_eq!(parse_sense(&fixed), Some(Sense { key: 2, asc: 0x3a, ascq: 0 }));
        assert_eq!(parse_sense(&[0x72, 0x05, 0x53, 0x02]), Some(Sense { key: 5, asc: 0x53, ascq: 2 }));
        assert_eq!(parse_sense(&[0x70, 0, 2]), None);
        assert!(Sense { key: 5, asc: 0x53, ascq: 2 }.describe().contains("tray is locked"));
        fixed[15] = 0x80;
        fixed[16] = 0x80;
        assert_eq!(parse_progress(&fixed), Some(0x8000));
        fixed[15] = 0;
        assert_eq!(parse_progress(&fixed), None);
        assert_eq!(parse_progress(&fixed[..16]), None);
    }
}

//! The sense data the drive answers with: key, additional sense code and
//! qualifier (SPC-4 4.5.3, fixed format), named as the standard names them.

/// A CHECK CONDITION reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
    /// Sense-key specific progress (0..=0xffff), for NOT READY while a
    /// format, blank or close runs.
    pub progress: Option<u16>,
}

const fn s(key: u8, asc: u8, ascq: u8) -> Sense {
    Sense { key, asc, ascq, progress: None }
}

pub const NOT_READY_BECOMING_READY: Sense = s(0x02, 0x04, 0x01);
pub const NOT_READY_FORMAT_IN_PROGRESS: Sense = s(0x02, 0x04, 0x04);
pub const NOT_READY_OPERATION_IN_PROGRESS: Sense = s(0x02, 0x04, 0x07);
pub const NOT_READY_LONG_WRITE_IN_PROGRESS: Sense = s(0x02, 0x04, 0x08);
pub const MEDIUM_NOT_PRESENT_TRAY_CLOSED: Sense = s(0x02, 0x3a, 0x01);
pub const MEDIUM_NOT_PRESENT_TRAY_OPEN: Sense = s(0x02, 0x3a, 0x02);
pub const WRITE_ERROR: Sense = s(0x03, 0x0c, 0x00);
pub const UNRECOVERED_READ_ERROR: Sense = s(0x03, 0x11, 0x00);
pub const INVALID_COMMAND_OPERATION_CODE: Sense = s(0x05, 0x20, 0x00);
pub const LBA_OUT_OF_RANGE: Sense = s(0x05, 0x21, 0x00);
pub const INVALID_ADDRESS_FOR_WRITE: Sense = s(0x05, 0x21, 0x02);
pub const INVALID_FIELD_IN_CDB: Sense = s(0x05, 0x24, 0x00);
pub const PARAMETER_LIST_LENGTH_ERROR: Sense = s(0x05, 0x1a, 0x00);
pub const INVALID_FIELD_IN_PARAMETER_LIST: Sense = s(0x05, 0x26, 0x00);
pub const CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT: Sense = s(0x05, 0x30, 0x02);
pub const CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT: Sense = s(0x05, 0x30, 0x05);
pub const CANNOT_FORMAT_MEDIUM_INCOMPATIBLE_MEDIUM: Sense = s(0x05, 0x30, 0x06);
pub const MEDIUM_REMOVAL_PREVENTED: Sense = s(0x05, 0x53, 0x02);
pub const END_OF_USER_AREA: Sense = s(0x05, 0x63, 0x00);
pub const INVALID_MODE_FOR_THIS_TRACK: Sense = s(0x05, 0x64, 0x00);
pub const SESSION_FIXATION_ERROR: Sense = s(0x05, 0x71, 0x00);
pub const NO_MORE_TRACK_RESERVATIONS: Sense = s(0x05, 0x72, 0x05);
pub const MEDIUM_CHANGED: Sense = s(0x06, 0x28, 0x00);
pub const POWER_ON_RESET: Sense = s(0x06, 0x29, 0x00);
pub const WRITE_PROTECTED: Sense = s(0x07, 0x27, 0x00);

impl Sense {
    /// The 18 bytes of fixed-format sense data.
    pub fn bytes(&self) -> [u8; 18] {
        let mut b = [0u8; 18];
        b[0] = 0x70;
        b[2] = self.key;
        b[7] = 10;
        b[12] = self.asc;
        b[13] = self.ascq;
        if let Some(p) = self.progress {
            b[15] = 0x80;
            b[16..18].copy_from_slice(&p.to_be_bytes());
        }
        b
    }

    /// "02/04/07"-style, for the log.
    pub fn code(&self) -> String {
        format!("{:02X}/{:02X}/{:02X}", self.key, self.asc, self.ascq)
    }
}

//! This crate's error: what went wrong with one command, as the transport,
//! the kernel and the drive tell it. It knows nothing of locks, owners or
//! IMAPI2 codes; a caller maps it to its own (discrec maps it to IMAPI2's).

use crate::sense::Sense;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a command failed. `command` is the MMC name of the command
/// (`"INQUIRY"`, `"START STOP UNIT (eject)"`, ...).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command never reached the drive: the kernel refused the ioctl
    /// (no such device, not a SCSI device, no permission, ...), or the
    /// command was malformed (a CDB over 16 bytes, a transfer over 4 GiB:
    /// `InvalidInput`).
    #[error("{command}: {cause}")]
    Transport {
        /// The command.
        command: &'static str,
        /// What the kernel said (shown in the message, so not a `source`).
        cause: std::io::Error,
    },
    /// The drive did not complete the command in time (host `DID_TIME_OUT`
    /// or driver `DRIVER_TIMEOUT`).
    #[error("{command} timed out")]
    Timeout {
        /// The command.
        command: &'static str,
    },
    /// The device went away (host `DID_NO_CONNECT` or `DID_BAD_TARGET`).
    #[error("{command}: the device is gone (host status {host_status:#06x})")]
    DeviceGone {
        /// The command.
        command: &'static str,
        /// The host status that said so.
        host_status: u16,
    },
    /// The drive refused the command with sense data (CHECK CONDITION).
    #[error("{command}: {}", sense.describe())]
    Sense {
        /// The command.
        command: &'static str,
        /// Sense key, ASC and ASCQ.
        sense: Sense,
    },
    /// The command failed without sense data.
    #[error("{command}: status {status:#04x}, host status {host_status:#06x}, driver status {driver_status:#06x}")]
    Status {
        /// The command.
        command: &'static str,
        /// SCSI status.
        status: u8,
        /// Host adapter status.
        host_status: u16,
        /// Driver status.
        driver_status: u16,
    },
    /// The reply was too short to hold what the command returns.
    #[error("{command}: short reply ({len} bytes)")]
    ShortReply {
        /// The command.
        command: &'static str,
        /// Bytes received.
        len: usize,
    },
}

impl Error {
    /// The command that failed.
    pub fn command(&self) -> &'static str {
        match self {
            Error::Transport { command, .. }
            | Error::Timeout { command }
            | Error::DeviceGone { command, .. }
            | Error::Sense { command, .. }
            | Error::Status { command, .. }
            | Error::ShortReply { command, .. } => command,
        }
    }

    /// The sense data, when the drive sent some.
    pub fn sense(&self) -> Option<Sense> {
        match self {
            Error::Sense { sense, .. } => Some(*sense),
            _ => None,
        }
    }

    /// What went wrong, without the command's name.
    pub fn detail(&self) -> String {
        let full = self.to_string();
        full.strip_prefix(self.command()).map(|s| s.trim_start_matches(": ").to_string()).unwrap_or(full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_drops_the_command_name() {
        let e = Error::Sense { command: "INQUIRY", sense: Sense { key: 2, asc: 0x3a, ascq: 0 } };
        assert_eq!(e.detail(), "no medium (sense 2/3A/00)");
        assert_eq!(e.to_string(), "INQUIRY: no medium (sense 2/3A/00)");
        let e = Error::ShortReply { command: "INQUIRY", len: 5 };
        assert_eq!(e.detail(), "short reply (5 bytes)");
        let e = Error::Status { command: "MODE SENSE", status: 0x18, host_status: 0, driver_status: 0 };
        assert_eq!(e.detail(), "status 0x18, host status 0x0000, driver status 0x0000");
    }
}

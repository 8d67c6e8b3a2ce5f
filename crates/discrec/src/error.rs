//! Errors: one enum for the whole library, each variant mapped to the exact
//! IMAPI2 / Win32 value (spec section 3) and to a distinct CLI exit code.

use std::path::PathBuf;

use crate::holders::Holder;
use crate::key::TargetKind;
use crate::owner::Owner;

/// Result alias used throughout discrec.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong. Every message names what was wrong and what
/// to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Unexpected failure with no better code (E_FAIL).
    #[error("{what}: {source}")]
    #[doc(alias = "E_FAIL")]
    Fail {
        /// What discrec was doing.
        what: String,
        /// The system error behind it.
        #[source]
        source: std::io::Error,
    },

    /// The device is in use by something that is not a discrec client: a
    /// mounted file system, an exclusive opener, a foreign lock (E_ACCESSDENIED).
    #[error("{} is in use: {}; {}", target.display(), describe_holders(holders), advice)]
    #[doc(alias = "E_ACCESSDENIED")]
    DeviceInUse {
        /// The target as the caller named it.
        target: PathBuf,
        /// What holds it, as far as we can see.
        holders: Vec<Holder>,
        /// What the caller can do.
        advice: &'static str,
    },

    /// The caller may not open the device or image, or may not do what was
    /// asked of it (E_ACCESSDENIED).
    #[error("{what} ({source}); {}", permission_advice(*kind))]
    #[doc(alias = "E_ACCESSDENIED")]
    PermissionDenied {
        /// The target.
        target: PathBuf,
        /// What was refused, in words.
        what: String,
        /// Drive or image file (the advice differs).
        kind: TargetKind,
        /// The system error, or what was refused.
        #[source]
        source: std::io::Error,
    },

    /// A bad client name or other argument (E_INVALIDARG).
    #[error("{0}")]
    #[doc(alias = "E_INVALIDARG")]
    InvalidArgument(String),

    /// Out of memory (E_OUTOFMEMORY).
    #[error("out of memory while {0}")]
    #[doc(alias = "E_OUTOFMEMORY")]
    OutOfMemory(String),

    /// The drive did not accept a command in time (E_IMAPI_RECORDER_COMMAND_TIMEOUT).
    #[error("the drive did not accept {0} in time; check the drive and its cable, then try again")]
    #[doc(alias = "E_IMAPI_RECORDER_COMMAND_TIMEOUT")]
    CommandTimeout(String),

    /// The recorder handle was closed (ERROR_INVALID_HANDLE).
    #[error("the recorder handle for {} is closed; open the recorder again", target.display())]
    #[doc(alias = "ERROR_INVALID_HANDLE")]
    InvalidHandle {
        /// The target the handle was opened on.
        target: PathBuf,
    },

    /// The device or image does not exist, or is gone (ERROR_DEV_NOT_EXIST).
    #[error("{} does not exist{}; check the path (`discrec list` shows the drives discrec sees)", target.display(), if *gone { " any more" } else { "" })]
    #[doc(alias = "ERROR_DEV_NOT_EXIST")]
    DeviceNotExist {
        /// The target.
        target: PathBuf,
        /// True when it existed when the handle was opened.
        gone: bool,
    },

    /// Another discrec client holds exclusive access (E_IMAPI_RECORDER_LOCKED).
    #[error("{} is locked by {}; wait for it, or ask its owner to release it", target.display(), owner)]
    #[doc(alias = "E_IMAPI_RECORDER_LOCKED")]
    RecorderLocked {
        /// The target.
        target: PathBuf,
        /// Who holds it.
        owner: Box<Owner>,
    },

    /// The drive has no medium (E_IMAPI_RECORDER_MEDIA_NO_MEDIA).
    #[error("there is no medium in {}; insert a disc and try again", target.display())]
    #[doc(alias = "E_IMAPI_RECORDER_MEDIA_NO_MEDIA")]
    NoMedium {
        /// The target.
        target: PathBuf,
    },

    /// The medium is still spinning up (E_IMAPI_RECORDER_MEDIA_BECOMING_READY).
    #[error("the medium in {} is becoming ready; try again in a few seconds", target.display())]
    #[doc(alias = "E_IMAPI_RECORDER_MEDIA_BECOMING_READY")]
    BecomingReady {
        /// The target.
        target: PathBuf,
    },

    /// The drive refused a command, with what its sense data says (E_FAIL).
    #[error("{} refused {what}: {detail}", target.display())]
    #[doc(alias = "E_FAIL")]
    DeviceCommand {
        /// The target.
        target: PathBuf,
        /// The command.
        what: String,
        /// Decoded sense data or status.
        detail: String,
    },

    /// A wait was cancelled (a signal, or the caller's cancel descriptor);
    /// nothing was taken (E_IMAPI_REQUEST_CANCELLED).
    #[error("waiting for {} was cancelled; nothing was taken", target.display())]
    #[doc(alias = "E_IMAPI_REQUEST_CANCELLED")]
    Cancelled {
        /// The target.
        target: PathBuf,
    },

    /// The cluster lock failed: the coordination service could not be
    /// reached in time, refused, or the lock was lost while held (E_FAIL).
    /// Never a silent fallback to the local lock alone.
    #[error("cluster lock ({service}): {detail}")]
    Cluster {
        /// The service, as its URLs.
        service: String,
        /// What went wrong and what to do.
        detail: String,
    },

    /// The command to run holding the drive could not be run (`exec`
    /// failed; E_FAIL). Exit 127 when it was not found, else 126, as a
    /// shell says.
    #[error("cannot run {program} (exit {}): {cause}", if cause.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 })]
    CannotRun {
        /// The program.
        program: String,
        /// What `exec` said.
        cause: std::io::Error,
    },

    /// A write was cancelled (`cancel_write`, or a signal); the track and
    /// session were closed where the medium needs it and the drive was
    /// released (E_IMAPI_REQUEST_CANCELLED).
    #[error("writing to {} was cancelled after {sectors_written} sectors; {}", target.display(), if *sectors_written == 0 { "nothing was written" } else { "the medium holds an incomplete recording" })]
    #[doc(alias = "E_IMAPI_REQUEST_CANCELLED")]
    WriteCancelled {
        /// The target.
        target: PathBuf,
        /// Sectors written before the cancel.
        sectors_written: u64,
    },

    /// A second write on a writer that is writing
    /// (E_IMAPI_DF2DATA_WRITE_IN_PROGRESS).
    #[error("a write to {} is already in progress on this writer; wait for it to finish or cancel it", target.display())]
    #[doc(alias = "E_IMAPI_DF2DATA_WRITE_IN_PROGRESS")]
    WriteInProgress {
        /// The target.
        target: PathBuf,
    },

    /// `cancel_write` with no write running
    /// (E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS).
    #[error("no write to {} is in progress, so there is nothing to cancel", target.display())]
    #[doc(alias = "E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS")]
    WriteNotInProgress {
        /// The target.
        target: PathBuf,
    },

    /// The source is not a stream discrec can write: its length is not a
    /// whole number of 2048-byte sectors, or it is empty
    /// (E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED).
    #[error("{0}")]
    #[doc(alias = "E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED")]
    StreamNotSupported(String),

    /// The source is larger than the free space on the medium
    /// (E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA).
    #[error("{source_name} needs {needed} sectors but the medium in {} has {free} free; use a larger disc or a smaller source", target.display())]
    #[doc(alias = "E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA")]
    StreamTooLarge {
        /// The target.
        target: PathBuf,
        /// The source, as named.
        source_name: String,
        /// Sectors the source needs.
        needed: u64,
        /// Sectors free on the medium.
        free: u64,
    },

    /// The medium is not blank (E_IMAPI_DF2DATA_MEDIA_NOT_BLANK).
    #[error("{detail}")]
    #[doc(alias = "E_IMAPI_DF2DATA_MEDIA_NOT_BLANK")]
    MediaNotBlank {
        /// The target.
        target: PathBuf,
        /// What is on it and what to do.
        detail: String,
    },

    /// discrec cannot write the medium in the drive
    /// (E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED).
    #[error("{detail}; insert a blank DVD+R")]
    #[doc(alias = "E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED")]
    MediaNotSupported {
        /// The target.
        target: PathBuf,
        /// What the medium is and why it cannot be written.
        detail: String,
    },

    /// The recorder cannot write at all
    /// (E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED).
    #[error("{detail}; use a drive that writes DVD+R")]
    #[doc(alias = "E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED")]
    RecorderNotSupported {
        /// The target.
        target: PathBuf,
        /// Why.
        detail: String,
    },

    /// A bad client name given to a writer
    /// (E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID).
    #[error("{0}")]
    #[doc(alias = "E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID")]
    WriterClientName(String),

    /// What was read back differs from what was written
    /// (E_IMAPI_BURN_VERIFICATION_FAILED).
    #[error("verification failed: sectors {first} to {last} of {} differ from {source_name}; the disc is not a good copy", target.display())]
    #[doc(alias = "E_IMAPI_BURN_VERIFICATION_FAILED")]
    VerificationFailed {
        /// The target.
        target: PathBuf,
        /// The source, as named.
        source_name: String,
        /// First sector of the first range that differs.
        first: u64,
        /// Last sector of that range.
        last: u64,
    },

    /// The source could not be read to its announced length: unreadable,
    /// shorter than announced, or a file that changed or vanished while
    /// it was read (E_FAIL).
    #[error("{source_name}: {detail}")]
    Source {
        /// The source, as named (a path, `-`, or a file inside a directory).
        source_name: String,
        /// What went wrong and what to do.
        detail: String,
    },

    /// Release without a matching acquire (ERROR_INVALID_FUNCTION as HRESULT).
    #[error("this handle holds no exclusive access to {}, so there is nothing to release; call release once per acquire", target.display())]
    #[doc(alias = "ERROR_INVALID_FUNCTION")]
    NotLocked {
        /// The target.
        target: PathBuf,
    },
}

impl Error {
    /// The IMAPI2 / Win32 name of this error.
    pub fn name(&self) -> &'static str {
        match self {
            Error::Fail { .. } => "E_FAIL",
            Error::DeviceInUse { .. } | Error::PermissionDenied { .. } => "E_ACCESSDENIED",
            Error::InvalidArgument(_) => "E_INVALIDARG",
            Error::OutOfMemory(_) => "E_OUTOFMEMORY",
            Error::CommandTimeout(_) => "E_IMAPI_RECORDER_COMMAND_TIMEOUT",
            Error::InvalidHandle { .. } => "ERROR_INVALID_HANDLE",
            Error::DeviceNotExist { .. } => "ERROR_DEV_NOT_EXIST",
            Error::RecorderLocked { .. } => "E_IMAPI_RECORDER_LOCKED",
            Error::NotLocked { .. } => "ERROR_INVALID_FUNCTION",
            Error::NoMedium { .. } => "E_IMAPI_RECORDER_MEDIA_NO_MEDIA",
            Error::BecomingReady { .. } => "E_IMAPI_RECORDER_MEDIA_BECOMING_READY",
            Error::DeviceCommand { .. } => "E_FAIL",
            Error::Cancelled { .. } | Error::WriteCancelled { .. } => "E_IMAPI_REQUEST_CANCELLED",
            Error::WriteInProgress { .. } => "E_IMAPI_DF2DATA_WRITE_IN_PROGRESS",
            Error::WriteNotInProgress { .. } => "E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS",
            Error::StreamNotSupported(_) => "E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED",
            Error::StreamTooLarge { .. } => "E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA",
            Error::MediaNotBlank { .. } => "E_IMAPI_DF2DATA_MEDIA_NOT_BLANK",
            Error::MediaNotSupported { .. } => "E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED",
            Error::RecorderNotSupported { .. } => "E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED",
            Error::WriterClientName(_) => "E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID",
            Error::VerificationFailed { .. } => "E_IMAPI_BURN_VERIFICATION_FAILED",
            Error::Source { .. } | Error::CannotRun { .. } | Error::Cluster { .. } => "E_FAIL",
        }
    }

    /// The exact value Windows uses (an HRESULT, or a Win32 code where the
    /// spec says so).
    pub fn code(&self) -> u32 {
        match self {
            Error::Fail { .. } => 0x8000_4005,
            Error::DeviceInUse { .. } | Error::PermissionDenied { .. } => 0x8007_0005,
            Error::InvalidArgument(_) => 0x8007_0057,
            Error::OutOfMemory(_) => 0x8007_000E,
            Error::CommandTimeout(_) => 0xC0AA_020D,
            Error::InvalidHandle { .. } => 6,
            Error::DeviceNotExist { .. } => 55,
            Error::RecorderLocked { .. } => 0xC0AA_0210,
            Error::NotLocked { .. } => 0x8007_0001,
            Error::NoMedium { .. } => 0xC0AA_0202,
            Error::BecomingReady { .. } => 0xC0AA_0205,
            Error::DeviceCommand { .. } => 0x8000_4005,
            Error::Cancelled { .. } | Error::WriteCancelled { .. } => 0xC0AA_0002,
            Error::WriteInProgress { .. } => 0xC0AA_0400,
            Error::WriteNotInProgress { .. } => 0xC0AA_0401,
            Error::StreamNotSupported(_) => 0xC0AA_0403,
            Error::StreamTooLarge { .. } => 0xC0AA_0404,
            Error::MediaNotBlank { .. } => 0xC0AA_0405,
            Error::MediaNotSupported { .. } => 0xC0AA_0406,
            Error::RecorderNotSupported { .. } => 0xC0AA_0407,
            Error::WriterClientName(_) => 0xC0AA_0408,
            Error::VerificationFailed { .. } => 0xC0AA_0007,
            Error::Source { .. } | Error::CannotRun { .. } | Error::Cluster { .. } => 0x8000_4005,
        }
    }

    /// The `discrec` exit code for this error: distinct per kind.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::InvalidArgument(_) => 2,
            Error::DeviceInUse { .. } => 3,
            Error::PermissionDenied { .. } => 4,
            Error::RecorderLocked { .. } => 5,
            Error::DeviceNotExist { .. } => 6,
            Error::NotLocked { .. } => 7,
            Error::CommandTimeout(_) => 8,
            Error::InvalidHandle { .. } => 9,
            Error::OutOfMemory(_) => 10,
            Error::Fail { .. } => 11,
            Error::NoMedium { .. } => 12,
            Error::BecomingReady { .. } => 13,
            Error::DeviceCommand { .. } => 14,
            Error::Cancelled { .. } | Error::WriteCancelled { .. } => 15,
            Error::WriteInProgress { .. } => 16,
            Error::WriteNotInProgress { .. } => 17,
            Error::StreamNotSupported(_) => 18,
            Error::StreamTooLarge { .. } => 19,
            Error::MediaNotBlank { .. } => 20,
            Error::MediaNotSupported { .. } => 21,
            Error::RecorderNotSupported { .. } => 22,
            Error::WriterClientName(_) => 23,
            Error::VerificationFailed { .. } => 24,
            Error::Source { .. } => 25,
            Error::Cluster { .. } => 26,
            Error::CannotRun { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => 127,
            Error::CannotRun { .. } => 126,
        }
    }

    /// The message on one line whatever it quotes: control characters (a
    /// newline in a file name) escaped, so that no name can forge a line.
    pub fn one_line(&self) -> String {
        discrec_iso::tree::one_line(&self.to_string())
    }

    /// The error as JSON, as `--json` output reports a failure:
    /// `{"name": "E_...", "code": 3232366096, "message": "..."}`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"name": self.name(), "code": self.code(), "message": self.to_string()})
    }

    /// Who or what is in the way, for a waiter to show: `held by OWNER
    /// since TIME` for another client, else the message.
    pub fn in_the_way(&self) -> String {
        match self {
            Error::RecorderLocked { owner, .. } => owner.held_by(),
            other => other.to_string(),
        }
    }

    /// Map an I/O error met while doing `what` on `target`, a drive.
    pub(crate) fn io(target: &std::path::Path, what: &str, source: std::io::Error) -> Error {
        Error::io_on(target, TargetKind::BlockDevice, what, source)
    }

    /// Map a drive command that failed on `target` (as the MMC layer tells
    /// it) to IMAPI2's terms: no medium and becoming ready get their own
    /// codes, a timeout is `E_IMAPI_RECORDER_COMMAND_TIMEOUT`, a vanished
    /// device `ERROR_DEV_NOT_EXIST`, any other refusal names the command
    /// and the decoded sense.
    pub(crate) fn drive_command(target: &std::path::Path, e: discrec_mmc::Error) -> Error {
        use discrec_mmc::{Error as Mmc, Sense};
        match e {
            Mmc::Transport { command, cause } => Error::io(target, command, cause),
            Mmc::Timeout { command } => Error::CommandTimeout(format!("{command} on {}", target.display())),
            Mmc::DeviceGone { .. } => Error::DeviceNotExist { target: target.to_path_buf(), gone: true },
            Mmc::Sense { sense: Sense { key: 2, asc: 0x3a, .. }, .. } => {
                Error::NoMedium { target: target.to_path_buf() }
            }
            Mmc::Sense { sense: Sense { key: 2, asc: 0x04, ascq: 0x01 }, .. } => {
                Error::BecomingReady { target: target.to_path_buf() }
            }
            other => Error::DeviceCommand {
                target: target.to_path_buf(),
                what: other.command().to_string(),
                detail: other.detail(),
            },
        }
    }

    /// Map an I/O error met while doing `what` on `target` of `kind`.
    pub(crate) fn io_on(target: &std::path::Path, kind: TargetKind, what: &str, source: std::io::Error) -> Error {
        use rustix::io::Errno;
        let target = target.to_path_buf();
        match source.raw_os_error().map(Errno::from_raw_os_error) {
            Some(Errno::NOENT) => Error::DeviceNotExist { target, gone: false },
            Some(Errno::NXIO | Errno::NODEV) => Error::DeviceNotExist { target, gone: true },
            Some(Errno::ACCESS | Errno::PERM) => Error::PermissionDenied {
                what: format!("no permission to open {} for reading and writing", target.display()),
                target,
                kind,
                source,
            },
            Some(Errno::NOMEM) => Error::OutOfMemory(format!("{what} {}", target.display())),
            _ => Error::Fail { what: format!("{what} {}", target.display()), source },
        }
    }
}

/// The exit codes of `discrec`, for `--help` and the README. `lock --
/// COMMAND` exits with COMMAND's status, or [`Error::CannotRun`]'s 126 or
/// 127.
pub const EXIT_CODES: &[(u8, &str, &str)] = &[
    (0, "", "success (`owner`: the recorder is held)"),
    (1, "", "`owner`: the recorder is free"),
    (2, "E_INVALIDARG 0x80070057", "bad client name or other argument"),
    (3, "E_ACCESSDENIED 0x80070005", "in use: mounted, or held by a program that is not discrec"),
    (4, "E_ACCESSDENIED 0x80070005", "no permission to open the device or image"),
    (5, "E_IMAPI_RECORDER_LOCKED 0xC0AA0210", "another discrec client holds the recorder"),
    (6, "ERROR_DEV_NOT_EXIST 0x00000037", "the device or image does not exist"),
    (7, "ERROR_INVALID_FUNCTION 0x80070001", "release without a matching acquire"),
    (8, "E_IMAPI_RECORDER_COMMAND_TIMEOUT 0xC0AA020D", "the drive did not accept a command in time"),
    (9, "ERROR_INVALID_HANDLE 0x00000006", "the recorder handle is closed"),
    (10, "E_OUTOFMEMORY 0x8007000E", "out of memory"),
    (11, "E_FAIL 0x80004005", "unexpected failure (the message says what)"),
    (12, "E_IMAPI_RECORDER_MEDIA_NO_MEDIA 0xC0AA0202", "no medium in the drive"),
    (13, "E_IMAPI_RECORDER_MEDIA_BECOMING_READY 0xC0AA0205", "the medium is becoming ready"),
    (14, "E_FAIL 0x80004005", "the drive refused a command (the message decodes its sense data)"),
    (
        15,
        "E_IMAPI_REQUEST_CANCELLED 0xC0AA0002",
        "a wait or a write was cancelled (`lock` exits 128+N when signal N ends its wait)",
    ),
    (16, "E_IMAPI_DF2DATA_WRITE_IN_PROGRESS 0xC0AA0400", "a write is already in progress on this writer"),
    (17, "E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS 0xC0AA0401", "cancel with no write in progress"),
    (18, "E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED 0xC0AA0403", "the source is not whole 2048-byte sectors"),
    (19, "E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA 0xC0AA0404", "the source does not fit on the medium"),
    (20, "E_IMAPI_DF2DATA_MEDIA_NOT_BLANK 0xC0AA0405", "the medium is not blank"),
    (21, "E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED 0xC0AA0406", "discrec cannot write this medium"),
    (22, "E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED 0xC0AA0407", "the drive cannot write"),
    (23, "E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID 0xC0AA0408", "bad client name for a write"),
    (24, "E_IMAPI_BURN_VERIFICATION_FAILED 0xC0AA0007", "what was read back differs from the source"),
    (25, "E_FAIL 0x80004005", "the source could not be read as announced (the message names it)"),
    (26, "E_FAIL 0x80004005", "the cluster lock failed: etcd unreachable or refusing, or the lock was lost"),
];

fn describe_holders(holders: &[Holder]) -> String {
    if holders.is_empty() {
        return "held exclusively by a program discrec cannot see (as root, the owner query sees more)".into();
    }
    holders.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(", ")
}

/// What to do about a permission error: it depends on what was refused.
fn permission_advice(kind: TargetKind) -> &'static str {
    if rustix::process::geteuid().is_root() {
        return "even root was refused: check for a read-only file system, an immutable file or a security module";
    }
    match kind {
        TargetKind::BlockDevice => {
            "ask for access to the device (on Debian: the `cdrom` group for optical drives, `disk` for others)"
        }
        TargetKind::File => "ask the image's owner for write access, or use a copy of your own",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use discrec_mmc::{Error as Mmc, Sense};
    use std::path::Path;

    #[test]
    fn drive_command_maps_to_imapi_codes() {
        let t = Path::new("/dev/sr0");
        let sense = |key, asc, ascq| Mmc::Sense { command: "TEST UNIT READY", sense: Sense { key, asc, ascq } };
        assert_eq!(Error::drive_command(t, sense(2, 0x3a, 0)).name(), "E_IMAPI_RECORDER_MEDIA_NO_MEDIA");
        assert_eq!(Error::drive_command(t, sense(2, 0x04, 0x01)).code(), 0xC0AA_0205);
        let other = Error::drive_command(t, sense(5, 0x24, 0));
        assert_eq!((other.name(), other.exit_code()), ("E_FAIL", 14));
        assert!(other.to_string().contains("TEST UNIT READY") && other.to_string().contains("5/24/00"), "{other}");
        let timeout = Error::drive_command(t, Mmc::Timeout { command: "INQUIRY" });
        assert_eq!(timeout.code(), 0xC0AA_020D);
        assert!(timeout.to_string().contains("INQUIRY on /dev/sr0"), "{timeout}");
        let gone = Error::drive_command(t, Mmc::DeviceGone { command: "INQUIRY", host_status: 1 });
        assert_eq!(gone.name(), "ERROR_DEV_NOT_EXIST");
        let short = Error::drive_command(t, Mmc::ShortReply { command: "INQUIRY", len: 3 });
        assert!(short.to_string().ends_with("refused INQUIRY: short reply (3 bytes)"), "{short}");
    }

    #[test]
    fn cannot_run_exits_as_a_shell_does() {
        let missing = Error::CannotRun { program: "nope".into(), cause: std::io::ErrorKind::NotFound.into() };
        assert_eq!((missing.exit_code(), missing.name()), (127, "E_FAIL"));
        assert!(missing.to_string().starts_with("cannot run nope (exit 127): "), "{missing}");
        let denied = Error::CannotRun { program: "x".into(), cause: std::io::ErrorKind::PermissionDenied.into() };
        assert_eq!(denied.exit_code(), 126);
    }

    #[test]
    fn every_code_has_a_line_in_the_exit_code_table() {
        let codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _, _)| *c).collect();
        for c in 2..=26u8 {
            assert!(codes.contains(&c), "exit code {c} is not in EXIT_CODES");
        }
    }
}

//! Errors: one enum for the whole library, each variant mapped to the exact
//! IMAPI2 / Win32 value and to a distinct CLI exit code, all in one table
//! ([`KINDS`]; `docs/design.md`, "Errors", is generated from it).

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
    #[error("writing to {} was cancelled after {sectors_written} sectors; {}", target.display(), match (*sectors_written, *kept_old) {
        (0, _) => "nothing was written",
        (_, true) => "the session was not added: the file system on it is as it was",
        _ => "the medium holds an incomplete recording",
    })]
    #[doc(alias = "E_IMAPI_REQUEST_CANCELLED")]
    WriteCancelled {
        /// The target.
        target: PathBuf,
        /// Sectors written before the cancel.
        sectors_written: u64,
        /// A session being added to a disc written at random (`--append`)
        /// was cancelled before it was pointed to: the disc's file system
        /// is untouched (what was written lies past it).
        kept_old: bool,
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
    #[error("{detail}")]
    #[doc(alias = "E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED")]
    MediaNotSupported {
        /// The target.
        target: PathBuf,
        /// What the medium is and why it cannot be written.
        detail: String,
    },

    /// The recorder cannot write at all
    /// (E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED).
    #[error("{detail}; use a drive that writes CDs, DVDs or BDs")]
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

    /// A bad client name given to an eraser
    /// (E_IMAPI_ERASE_CLIENT_NAME_IS_NOT_VALID).
    #[error("{0}")]
    #[doc(alias = "E_IMAPI_ERASE_CLIENT_NAME_IS_NOT_VALID")]
    EraseClientName(String),

    /// The drive failed to write: a medium or hardware error it could not
    /// recover from (E_IMAPI_UNEXPECTED_RESPONSE_FROM_DEVICE). The track
    /// begun is closed, so the disc says what is on it.
    #[error("{} failed to write sectors {first} to {last}: {detail}; {after}", target.display())]
    #[doc(alias = "E_IMAPI_UNEXPECTED_RESPONSE_FROM_DEVICE")]
    WriteFailed {
        /// The target.
        target: PathBuf,
        /// The first sector of the WRITE that failed.
        first: u64,
        /// Its last sector.
        last: u64,
        /// What the drive said.
        detail: String,
        /// What is on the disc now and what to do.
        after: String,
    },

    /// The disc cannot be erased: write-once, pressed, or protected
    /// (E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE). Refused before any command
    /// that changes the disc.
    #[error("{detail}")]
    #[doc(alias = "E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE")]
    MediaNotErasable {
        /// The target.
        target: PathBuf,
        /// What the disc is and what to do.
        detail: String,
    },

    /// The drive refused or failed to blank or format the disc
    /// (E_IMAPI_ERASE_DRIVE_FAILED_ERASE_COMMAND).
    #[error("erasing the disc in {} failed: {detail}; the disc may be partly erased: erase it again, or try another disc", target.display())]
    #[doc(alias = "E_IMAPI_ERASE_DRIVE_FAILED_ERASE_COMMAND")]
    EraseFailed {
        /// The target.
        target: PathBuf,
        /// The command and what the drive said.
        detail: String,
    },

    /// `--append`: the last session holds no file system a session can
    /// be added to (IMAPI_E_NO_SUPPORTED_FILE_SYSTEM). Nothing was
    /// written.
    #[error("{detail}")]
    #[doc(alias = "IMAPI_E_NO_SUPPORTED_FILE_SYSTEM")]
    NoSupportedFileSystem {
        /// The target.
        target: PathBuf,
        /// What is there and what to do.
        detail: String,
    },

    /// `--append`: the file system on the disc contradicts itself
    /// (IMAPI_E_FILE_SYSTEM_READ_CONSISTENCY_ERROR). Nothing was written.
    #[error("{detail}")]
    #[doc(alias = "IMAPI_E_FILE_SYSTEM_READ_CONSISTENCY_ERROR")]
    FileSystemDamaged {
        /// The target.
        target: PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },

    /// `--append`: the disc takes no more sessions: closed, full, or a
    /// kind that is never appended (IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE).
    /// Nothing was written.
    #[error("{detail}")]
    #[doc(alias = "IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE")]
    MediaNotAppendable {
        /// The target.
        target: PathBuf,
        /// What the disc is and what to do.
        detail: String,
    },

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
    #[error("this handle holds no exclusive access to {}: acquire it first (a release, and a command run while holding, need an acquire of this handle; call release once per acquire)", target.display())]
    #[doc(alias = "ERROR_INVALID_FUNCTION")]
    NotLocked {
        /// The target.
        target: PathBuf,
    },
}

impl Error {
    /// What kind of failure this is: its IMAPI2 / Win32 name and value,
    /// its exit code and its Python class, from [`KINDS`].
    pub fn kind(&self) -> &'static ErrorKind {
        use ErrorKind as K;
        match self {
            Error::InvalidArgument(_) => &K::INVALID_ARGUMENT,
            Error::DeviceInUse { .. } => &K::DEVICE_IN_USE,
            Error::PermissionDenied { .. } => &K::PERMISSION_DENIED,
            Error::RecorderLocked { .. } => &K::RECORDER_LOCKED,
            Error::DeviceNotExist { .. } => &K::DEVICE_NOT_EXIST,
            Error::NotLocked { .. } => &K::NOT_LOCKED,
            Error::CommandTimeout(_) => &K::COMMAND_TIMEOUT,
            Error::InvalidHandle { .. } => &K::INVALID_HANDLE,
            Error::OutOfMemory(_) => &K::OUT_OF_MEMORY,
            Error::Fail { .. } => &K::FAIL,
            Error::NoMedium { .. } => &K::NO_MEDIUM,
            Error::BecomingReady { .. } => &K::BECOMING_READY,
            Error::DeviceCommand { .. } => &K::DEVICE_COMMAND,
            Error::Cancelled { .. } | Error::WriteCancelled { .. } => &K::CANCELLED,
            Error::WriteInProgress { .. } => &K::WRITE_IN_PROGRESS,
            Error::WriteNotInProgress { .. } => &K::WRITE_NOT_IN_PROGRESS,
            Error::StreamNotSupported(_) => &K::STREAM_NOT_SUPPORTED,
            Error::StreamTooLarge { .. } => &K::STREAM_TOO_LARGE,
            Error::MediaNotBlank { .. } => &K::MEDIA_NOT_BLANK,
            Error::MediaNotSupported { .. } => &K::MEDIA_NOT_SUPPORTED,
            Error::RecorderNotSupported { .. } => &K::RECORDER_NOT_SUPPORTED,
            Error::WriterClientName(_) => &K::WRITER_CLIENT_NAME,
            Error::EraseClientName(_) => &K::ERASE_CLIENT_NAME,
            Error::VerificationFailed { .. } => &K::VERIFICATION_FAILED,
            Error::MediaNotErasable { .. } => &K::MEDIA_NOT_ERASABLE,
            Error::WriteFailed { .. } => &K::WRITE_FAILED,
            Error::EraseFailed { .. } => &K::ERASE_FAILED,
            Error::NoSupportedFileSystem { .. } => &K::NO_SUPPORTED_FILE_SYSTEM,
            Error::FileSystemDamaged { .. } => &K::FILE_SYSTEM_DAMAGED,
            Error::MediaNotAppendable { .. } => &K::MEDIA_NOT_APPENDABLE,
            Error::Source { .. } => &K::SOURCE,
            Error::Cluster { .. } => &K::CLUSTER,
            Error::CannotRun { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => &K::COMMAND_NOT_FOUND,
            Error::CannotRun { .. } => &K::CANNOT_RUN,
        }
    }

    /// The IMAPI2 / Win32 name of this error.
    pub fn name(&self) -> &'static str {
        self.kind().name
    }

    /// The exact value Windows uses (an HRESULT, or a Win32 code where the
    /// spec says so; [`ErrorKind::hresult`] gives the HRESULT either way).
    pub fn code(&self) -> u32 {
        self.kind().value
    }

    /// The `discrec` exit code for this error: distinct per kind.
    pub fn exit_code(&self) -> u8 {
        self.kind().exit_code
    }

    /// The message on one line whatever it quotes: control characters (a
    /// newline in a file name) escaped, so that no name can forge a line.
    pub fn one_line(&self) -> String {
        discrec_iso::tree::one_line(&self.to_string())
    }

    /// The error as JSON, as `--json` output reports a failure:
    /// `{"name": "E_...", "code": 3232367120, "message": "..."}`.
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
            // LOGICAL UNIT COMMUNICATION FAILURE / TIME-OUT: the drive never
            // answered (what the kernel's target gives a command its
            // drive left unanswered past the timeout).
            Mmc::Sense { command, sense: Sense { asc: 0x08, .. } } => {
                Error::CommandTimeout(format!("{command} on {}", target.display()))
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

/// One kind of failure, as every door shows it: the one definition the
/// exit codes, the C constants (`DISCREC_` + name), the Python classes and
/// the docs' tables come from or are checked against
/// (`crates/discrec/tests/errors.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorKind {
    /// The IMAPI2 / Win32 name, e.g. `E_IMAPI_RECORDER_LOCKED`.
    pub name: &'static str,
    /// The value Windows uses: an HRESULT, or a Win32 error code (below
    /// 0x10000) where IMAPI2 gives one.
    pub value: u32,
    /// The `discrec` exit code, one per kind.
    pub exit_code: u8,
    /// The Python exception class (`discrec.RecorderLockedError`).
    pub python_class: &'static str,
    /// When it happens, in a line.
    pub when: &'static str,
}

impl ErrorKind {
    const fn new(
        name: &'static str,
        value: u32,
        exit_code: u8,
        python_class: &'static str,
        when: &'static str,
    ) -> Self {
        ErrorKind { name, value, exit_code, python_class, when }
    }

    /// The value as an HRESULT, as C and Python get it: a Win32 code as
    /// `HRESULT_FROM_WIN32` (`ERROR_INVALID_HANDLE` 6 is 0x80070006), so
    /// that every failure is negative and `FAILED(hr)` holds.
    #[doc(alias = "HRESULT_FROM_WIN32")]
    pub const fn hresult(&self) -> u32 {
        if self.value != 0 && self.value < 0x1_0000 {
            0x8007_0000 | self.value
        } else {
            self.value
        }
    }

    /// A bad client name or other argument.
    pub const INVALID_ARGUMENT: ErrorKind = ErrorKind::new(
        "E_INVALIDARG",
        0x8007_0057,
        2,
        "InvalidArgumentError",
        "a bad client name or other argument (also any usage error of `discrec`)",
    );
    /// In use by something that is not a discrec client.
    pub const DEVICE_IN_USE: ErrorKind = ErrorKind::new(
        "E_ACCESSDENIED",
        0x8007_0005,
        3,
        "AccessDeniedError",
        "in use by something that is not a discrec client: mounted (without force), opened exclusively, or locked by another tool",
    );
    /// No permission.
    pub const PERMISSION_DENIED: ErrorKind = ErrorKind::new(
        "E_ACCESSDENIED",
        0x8007_0005,
        4,
        "AccessDeniedError",
        "no permission to open the device or image for reading and writing",
    );
    /// Another discrec client holds the recorder.
    pub const RECORDER_LOCKED: ErrorKind = ErrorKind::new(
        "E_IMAPI_RECORDER_LOCKED",
        0xC0AA_0210,
        5,
        "RecorderLockedError",
        "another discrec client holds the recorder; the error names the owner",
    );
    /// The device or image does not exist.
    pub const DEVICE_NOT_EXIST: ErrorKind = ErrorKind::new(
        "ERROR_DEV_NOT_EXIST",
        55,
        6,
        "DeviceNotExistError",
        "the device or image does not exist, or is gone (`burn`: create an image file first, `: > disc.img`)",
    );
    /// Release without an acquire.
    pub const NOT_LOCKED: ErrorKind = ErrorKind::new(
        "ERROR_INVALID_FUNCTION",
        0x8007_0001,
        7,
        "NotLockedError",
        "release without a matching acquire; never a silent no-op",
    );
    /// The drive did not accept a command in time.
    pub const COMMAND_TIMEOUT: ErrorKind = ErrorKind::new(
        "E_IMAPI_RECORDER_COMMAND_TIMEOUT",
        0xC0AA_020D,
        8,
        "CommandTimeoutError",
        "the drive did not accept a command in time (an `SG_IO` timeout, or sense ASC 08h), or an erase was still going after three hours",
    );
    /// The handle is closed.
    pub const INVALID_HANDLE: ErrorKind =
        ErrorKind::new("ERROR_INVALID_HANDLE", 6, 9, "InvalidHandleError", "the recorder handle is closed");
    /// Out of memory.
    pub const OUT_OF_MEMORY: ErrorKind =
        ErrorKind::new("E_OUTOFMEMORY", 0x8007_000E, 10, "OutOfMemoryError", "out of memory (`ENOMEM`)");
    /// An unexpected failure.
    pub const FAIL: ErrorKind = ErrorKind::new(
        "E_FAIL",
        0x8000_4005,
        11,
        "FailedError",
        "an unexpected failure with no better value; the message says what failed",
    );
    /// No medium.
    pub const NO_MEDIUM: ErrorKind =
        ErrorKind::new("E_IMAPI_RECORDER_MEDIA_NO_MEDIA", 0xC0AA_0202, 12, "NoMediumError", "no medium in the drive");
    /// The medium is becoming ready.
    pub const BECOMING_READY: ErrorKind = ErrorKind::new(
        "E_IMAPI_RECORDER_MEDIA_BECOMING_READY",
        0xC0AA_0205,
        13,
        "MediumBecomingReadyError",
        "the medium is still becoming ready",
    );
    /// The drive refused a command.
    pub const DEVICE_COMMAND: ErrorKind = ErrorKind::new(
        "E_FAIL",
        0x8000_4005,
        14,
        "FailedError",
        "the drive refused a command; the message decodes its sense data",
    );
    /// A wait or a write was cancelled.
    pub const CANCELLED: ErrorKind = ErrorKind::new(
        "E_IMAPI_REQUEST_CANCELLED",
        0xC0AA_0002,
        15,
        "CancelledError",
        "a wait or a write was cancelled (a cancel call or descriptor; `burn` on SIGINT, SIGTERM, SIGHUP; `lock` itself exits 128+N when signal N ends its wait)",
    );
    /// A write is already in progress.
    pub const WRITE_IN_PROGRESS: ErrorKind = ErrorKind::new(
        "E_IMAPI_DF2DATA_WRITE_IN_PROGRESS",
        0xC0AA_0400,
        16,
        "WriteInProgressError",
        "a write is already in progress on this writer",
    );
    /// No write to cancel.
    pub const WRITE_NOT_IN_PROGRESS: ErrorKind = ErrorKind::new(
        "E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS",
        0xC0AA_0401,
        17,
        "WriteNotInProgressError",
        "cancel with no write in progress",
    );
    /// The source is not a stream discrec can write.
    pub const STREAM_NOT_SUPPORTED: ErrorKind = ErrorKind::new(
        "E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED",
        0xC0AA_0403,
        18,
        "StreamNotSupportedError",
        "the source is empty or not whole 2048-byte sectors",
    );
    /// The source does not fit.
    pub const STREAM_TOO_LARGE: ErrorKind = ErrorKind::new(
        "E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA",
        0xC0AA_0404,
        19,
        "StreamTooLargeError",
        "the source does not fit on the medium",
    );
    /// The medium is not blank.
    pub const MEDIA_NOT_BLANK: ErrorKind = ErrorKind::new(
        "E_IMAPI_DF2DATA_MEDIA_NOT_BLANK",
        0xC0AA_0405,
        20,
        "MediaNotBlankError",
        "the medium is not blank (a written image file; a closed or appendable disc; a rewritable disc with data and no `--overwrite`)",
    );
    /// discrec cannot write this medium.
    pub const MEDIA_NOT_SUPPORTED: ErrorKind = ErrorKind::new(
        "E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED",
        0xC0AA_0406,
        21,
        "MediaNotSupportedError",
        "discrec cannot write this medium (read-only, or of a kind it does not write)",
    );
    /// The drive cannot write.
    pub const RECORDER_NOT_SUPPORTED: ErrorKind = ErrorKind::new(
        "E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED",
        0xC0AA_0407,
        22,
        "RecorderNotSupportedError",
        "the drive cannot write at all",
    );
    /// A bad client name for a write.
    pub const WRITER_CLIENT_NAME: ErrorKind = ErrorKind::new(
        "E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID",
        0xC0AA_0408,
        23,
        "ClientNameNotValidError",
        "a bad client name for a write",
    );
    /// What was read back differs.
    pub const VERIFICATION_FAILED: ErrorKind = ErrorKind::new(
        "E_IMAPI_BURN_VERIFICATION_FAILED",
        0xC0AA_0007,
        24,
        "VerificationFailedError",
        "what was read back differs from the source; the message names the sectors",
    );
    /// The source could not be read as announced.
    pub const SOURCE: ErrorKind = ErrorKind::new(
        "E_FAIL",
        0x8000_4005,
        25,
        "FailedError",
        "the source could not be read as announced: missing or unreadable, shorter or longer than announced, a file of a directory that changed or vanished (the message names it)",
    );
    /// The cluster lock failed.
    pub const CLUSTER: ErrorKind = ErrorKind::new(
        "E_FAIL",
        0x8000_4005,
        26,
        "FailedError",
        "the cluster lock failed: etcd unreachable or refusing, or the lock was lost while held (mistakes in the cluster options are exit 2)",
    );
    /// The disc cannot be erased.
    pub const MEDIA_NOT_ERASABLE: ErrorKind = ErrorKind::new(
        "E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE",
        0x80AA_0904,
        27,
        "MediaNotErasableError",
        "`erase`: not a rewritable disc (write-once, pressed or protected; an image file or block device); nothing was written to it",
    );
    /// The drive failed to erase.
    pub const ERASE_FAILED: ErrorKind = ErrorKind::new(
        "E_IMAPI_ERASE_DRIVE_FAILED_ERASE_COMMAND",
        0x80AA_0905,
        28,
        "EraseFailedError",
        "the drive refused or failed BLANK or FORMAT UNIT (the message has its answer)",
    );
    /// The drive failed to write.
    pub const WRITE_FAILED: ErrorKind = ErrorKind::new(
        "E_IMAPI_UNEXPECTED_RESPONSE_FROM_DEVICE",
        0xC0AA_0301,
        29,
        "WriteFailedError",
        "the drive failed to write (a medium or hardware error); the message names the sectors; what was begun is closed where the disc is written in order",
    );
    /// No file system to add a session to.
    pub const NO_SUPPORTED_FILE_SYSTEM: ErrorKind = ErrorKind::new(
        "IMAPI_E_NO_SUPPORTED_FILE_SYSTEM",
        0xC0AA_B151,
        30,
        "NoSupportedFileSystemError",
        "`burn --append`: the disc's last session holds no ISO 9660 file system to add to; nothing was written",
    );
    /// The file system on the disc is damaged.
    pub const FILE_SYSTEM_DAMAGED: ErrorKind = ErrorKind::new(
        "IMAPI_E_FILE_SYSTEM_READ_CONSISTENCY_ERROR",
        0xC0AA_B153,
        31,
        "FileSystemDamagedError",
        "`burn --append`: the ISO 9660 file system on the disc contradicts itself (the message says where); nothing was written",
    );
    /// The disc takes no more sessions.
    pub const MEDIA_NOT_APPENDABLE: ErrorKind = ErrorKind::new(
        "IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE",
        0xC0AA_B15C,
        32,
        "MediaNotAppendableError",
        "`burn --append`: the disc takes no more sessions (closed or full); nothing was written",
    );
    /// A bad client name for an erase.
    pub const ERASE_CLIENT_NAME: ErrorKind = ErrorKind::new(
        "E_IMAPI_ERASE_CLIENT_NAME_IS_NOT_VALID",
        0xC0AA_090B,
        33,
        "EraseClientNameNotValidError",
        "a bad client name for an erase",
    );
    /// The command to run holding the drive could not be run.
    pub const CANNOT_RUN: ErrorKind =
        ErrorKind::new("E_FAIL", 0x8000_4005, 126, "FailedError", "`lock -- COMMAND`: COMMAND could not be run");
    /// The command to run holding the drive was not found.
    pub const COMMAND_NOT_FOUND: ErrorKind =
        ErrorKind::new("E_FAIL", 0x8000_4005, 127, "FailedError", "`lock -- COMMAND`: COMMAND was not found");
}

/// Every kind of failure, by exit code.
pub const KINDS: &[ErrorKind] = &[
    ErrorKind::INVALID_ARGUMENT,
    ErrorKind::DEVICE_IN_USE,
    ErrorKind::PERMISSION_DENIED,
    ErrorKind::RECORDER_LOCKED,
    ErrorKind::DEVICE_NOT_EXIST,
    ErrorKind::NOT_LOCKED,
    ErrorKind::COMMAND_TIMEOUT,
    ErrorKind::INVALID_HANDLE,
    ErrorKind::OUT_OF_MEMORY,
    ErrorKind::FAIL,
    ErrorKind::NO_MEDIUM,
    ErrorKind::BECOMING_READY,
    ErrorKind::DEVICE_COMMAND,
    ErrorKind::CANCELLED,
    ErrorKind::WRITE_IN_PROGRESS,
    ErrorKind::WRITE_NOT_IN_PROGRESS,
    ErrorKind::STREAM_NOT_SUPPORTED,
    ErrorKind::STREAM_TOO_LARGE,
    ErrorKind::MEDIA_NOT_BLANK,
    ErrorKind::MEDIA_NOT_SUPPORTED,
    ErrorKind::RECORDER_NOT_SUPPORTED,
    ErrorKind::WRITER_CLIENT_NAME,
    ErrorKind::VERIFICATION_FAILED,
    ErrorKind::SOURCE,
    ErrorKind::CLUSTER,
    ErrorKind::MEDIA_NOT_ERASABLE,
    ErrorKind::ERASE_FAILED,
    ErrorKind::WRITE_FAILED,
    ErrorKind::NO_SUPPORTED_FILE_SYSTEM,
    ErrorKind::FILE_SYSTEM_DAMAGED,
    ErrorKind::MEDIA_NOT_APPENDABLE,
    ErrorKind::ERASE_CLIENT_NAME,
    ErrorKind::CANNOT_RUN,
    ErrorKind::COMMAND_NOT_FOUND,
];

/// The exit codes of `discrec` that are not failures.
pub const SUCCESS_EXIT_CODES: &[(u8, &str)] =
    &[(0, "success (`owner`: the recorder is held)"), (1, "`owner`: the recorder is free")];

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
        assert_eq!(Error::drive_command(t, sense(2, 0x08, 0)).name(), "E_IMAPI_RECORDER_COMMAND_TIMEOUT");
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
    fn every_kind_has_its_own_exit_code_in_order() {
        let codes: Vec<u8> = KINDS.iter().map(|k| k.exit_code).collect();
        let want: Vec<u8> = (2..=33).chain([126, 127]).collect();
        assert_eq!(codes, want, "KINDS must list exit codes 2..=33, 126, 127 once each, in order");
        assert!(KINDS.iter().all(|k| ["E_", "ERROR_", "IMAPI_E_"].iter().any(|p| k.name.starts_with(p))));
        // Same name, same value and same Python class wherever a name repeats.
        for a in KINDS {
            for b in KINDS.iter().filter(|b| b.name == a.name) {
                assert_eq!((a.value, a.python_class), (b.value, b.python_class), "{}", a.name);
            }
        }
        assert_eq!(ErrorKind::INVALID_HANDLE.hresult(), 0x8007_0006);
        assert_eq!(ErrorKind::RECORDER_LOCKED.hresult(), 0xC0AA_0210);
    }
}

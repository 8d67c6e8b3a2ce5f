"""The exception classes: one per IMAPI2 error, all under :class:`Error`.

Each carries ``hresult`` (the HRESULT Windows gives the same failure, e.g.
``0xC0AA0210``; Win32 codes as ``HRESULT_FROM_WIN32``, e.g. ``0x80070006``
for ``ERROR_INVALID_HANDLE``) and ``name`` (its IMAPI2 name, e.g.
``"E_IMAPI_RECORDER_LOCKED"``); ``str(e)`` says what went wrong and what
to do.
"""

from typing import Dict, Optional, Type


class Error(Exception):
    """Any discrec failure."""

    name: str = "E_FAIL"
    hresult: int = 0x80004005

    def __init__(self, message: str, name: Optional[str] = None, hresult: Optional[int] = None) -> None:
        super().__init__(message)
        if name is not None:
            self.name = name
        if hresult is not None:
            self.hresult = hresult


class FailedError(Error):
    """E_FAIL: an unexpected failure; the message says which."""

    name = "E_FAIL"
    hresult = 0x80004005


class AccessDeniedError(Error):
    """In use (mounted, or held by a program outside discrec), or no permission."""

    name = "E_ACCESSDENIED"
    hresult = 0x80070005


class InvalidArgumentError(Error):
    """A bad argument, e.g. a client name."""

    name = "E_INVALIDARG"
    hresult = 0x80070057


class OutOfMemoryError(Error):
    """Out of memory."""

    name = "E_OUTOFMEMORY"
    hresult = 0x8007000E


class CommandTimeoutError(Error):
    """The drive did not answer in time."""

    name = "E_IMAPI_RECORDER_COMMAND_TIMEOUT"
    hresult = 0xC0AA020D


class InvalidHandleError(Error):
    """The recorder was closed."""

    name = "ERROR_INVALID_HANDLE"
    hresult = 0x80070006


class DeviceNotExistError(Error):
    """No such device, or it went away."""

    name = "ERROR_DEV_NOT_EXIST"
    hresult = 0x80070037


class RecorderLockedError(Error):
    """Another client holds the recorder; the message names it."""

    name = "E_IMAPI_RECORDER_LOCKED"
    hresult = 0xC0AA0210


class NotLockedError(Error):
    """Released without an acquire."""

    name = "ERROR_INVALID_FUNCTION"
    hresult = 0x80070001


class NoMediumError(Error):
    """No medium in the drive."""

    name = "E_IMAPI_RECORDER_MEDIA_NO_MEDIA"
    hresult = 0xC0AA0202


class MediumBecomingReadyError(Error):
    """The medium is becoming ready."""

    name = "E_IMAPI_RECORDER_MEDIA_BECOMING_READY"
    hresult = 0xC0AA0205


class CancelledError(Error):
    """A wait or a write was cancelled."""

    name = "E_IMAPI_REQUEST_CANCELLED"
    hresult = 0xC0AA0002


class WriteInProgressError(Error):
    """A write is already in progress."""

    name = "E_IMAPI_DF2DATA_WRITE_IN_PROGRESS"
    hresult = 0xC0AA0400


class WriteNotInProgressError(Error):
    """No write to cancel."""

    name = "E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS"
    hresult = 0xC0AA0401


class StreamNotSupportedError(Error):
    """The source cannot be written."""

    name = "E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED"
    hresult = 0xC0AA0403


class StreamTooLargeError(Error):
    """The source does not fit on the medium."""

    name = "E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA"
    hresult = 0xC0AA0404


class MediaNotBlankError(Error):
    """The medium is not blank."""

    name = "E_IMAPI_DF2DATA_MEDIA_NOT_BLANK"
    hresult = 0xC0AA0405


class MediaNotSupportedError(Error):
    """discrec cannot write this medium."""

    name = "E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED"
    hresult = 0xC0AA0406


class RecorderNotSupportedError(Error):
    """The recorder cannot write."""

    name = "E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED"
    hresult = 0xC0AA0407


class ClientNameNotValidError(Error):
    """The writer's client name is not valid."""

    name = "E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID"
    hresult = 0xC0AA0408


class VerificationFailedError(Error):
    """What was read back differs from the source."""

    name = "E_IMAPI_BURN_VERIFICATION_FAILED"
    hresult = 0xC0AA0007


class MediaNotErasableError(Error):
    """The disc cannot be erased: write-once, pressed or protected."""

    name = "E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE"
    hresult = 0x80AA0904


class EraseFailedError(Error):
    """The drive refused or failed to blank or format the disc."""

    name = "E_IMAPI_ERASE_DRIVE_FAILED_ERASE_COMMAND"
    hresult = 0x80AA0905


class WriteFailedError(Error):
    """The drive failed to write: a medium or hardware error."""

    name = "E_IMAPI_UNEXPECTED_RESPONSE_FROM_DEVICE"
    hresult = 0xC0AA0301


class NoSupportedFileSystemError(Error):
    """``--append``: the last session holds no ISO 9660 file system."""

    name = "IMAPI_E_NO_SUPPORTED_FILE_SYSTEM"
    hresult = 0xC0AAB151


class FileSystemDamagedError(Error):
    """``--append``: the file system on the disc contradicts itself."""

    name = "IMAPI_E_FILE_SYSTEM_READ_CONSISTENCY_ERROR"
    hresult = 0xC0AAB153


class MediaNotAppendableError(Error):
    """``--append``: the disc takes no more sessions."""

    name = "IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE"
    hresult = 0xC0AAB15C


class EraseClientNameNotValidError(Error):
    """The eraser's client name is not valid."""

    name = "E_IMAPI_ERASE_CLIENT_NAME_IS_NOT_VALID"
    hresult = 0xC0AA090B


#: The class of each IMAPI2 name (the bindings raise through this).
BY_NAME: Dict[str, Type[Error]] = {cls.name: cls for cls in Error.__subclasses__()}


class ProgressCallbackError(Exception):
    """The write completed (``report`` holds its result, as ``write`` returns
    it), but the ``progress`` callback raised on an update too late to
    cancel it: while the disc was closed or verified (then the verify
    stopped, and ``report["verified"]`` is False), or on the final update.
    The callback's exception is ``__cause__``. The medium holds the whole
    write: do not write it again."""

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.report = report

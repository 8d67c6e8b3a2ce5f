"""The exception classes: one per IMAPI2 error, all under :class:`Error`.

Each carries ``hresult`` (the value Windows gives the same failure, e.g.
``0xC0AA0210``) and ``name`` (its IMAPI2 name, e.g.
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


def _error(cls_name: str, name: str, hresult: int, doc: str) -> Type[Error]:
    return type(cls_name, (Error,), {"name": name, "hresult": hresult, "__doc__": doc, "__module__": "discrec"})


FailedError = _error("FailedError", "E_FAIL", 0x80004005, "E_FAIL: an unexpected failure; the message says which")
AccessDeniedError = _error(
    "AccessDeniedError", "E_ACCESSDENIED", 0x80070005, "In use (mounted, or held by a program outside discrec), or no permission"
)
InvalidArgumentError = _error("InvalidArgumentError", "E_INVALIDARG", 0x80070057, "A bad argument, e.g. a client name")
OutOfMemoryError = _error("OutOfMemoryError", "E_OUTOFMEMORY", 0x8007000E, "Out of memory")
CommandTimeoutError = _error(
    "CommandTimeoutError", "E_IMAPI_RECORDER_COMMAND_TIMEOUT", 0xC0AA020D, "The drive did not answer in time"
)
InvalidHandleError = _error("InvalidHandleError", "ERROR_INVALID_HANDLE", 6, "The recorder was closed")
DeviceNotExistError = _error("DeviceNotExistError", "ERROR_DEV_NOT_EXIST", 55, "No such device, or it went away")
RecorderLockedError = _error(
    "RecorderLockedError", "E_IMAPI_RECORDER_LOCKED", 0xC0AA0210, "Another client holds the recorder; the message names it"
)
NotLockedError = _error("NotLockedError", "ERROR_INVALID_FUNCTION", 0x80070001, "Released without an acquire")
NoMediumError = _error("NoMediumError", "E_IMAPI_RECORDER_MEDIA_NO_MEDIA", 0xC0AA0202, "No medium in the drive")
MediumBecomingReadyError = _error(
    "MediumBecomingReadyError", "E_IMAPI_RECORDER_MEDIA_BECOMING_READY", 0xC0AA0205, "The medium is becoming ready"
)
CancelledError = _error("CancelledError", "E_IMAPI_REQUEST_CANCELLED", 0xC0AA0002, "A wait or a write was cancelled")
WriteInProgressError = _error(
    "WriteInProgressError", "E_IMAPI_DF2DATA_WRITE_IN_PROGRESS", 0xC0AA0400, "A write is already in progress"
)
WriteNotInProgressError = _error(
    "WriteNotInProgressError", "E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS", 0xC0AA0401, "No write to cancel"
)
StreamNotSupportedError = _error(
    "StreamNotSupportedError", "E_IMAPI_DF2DATA_STREAM_NOT_SUPPORTED", 0xC0AA0403, "The source cannot be written"
)
StreamTooLargeError = _error(
    "StreamTooLargeError",
    "E_IMAPI_DF2DATA_STREAM_TOO_LARGE_FOR_CURRENT_MEDIA",
    0xC0AA0404,
    "The source does not fit on the medium",
)
MediaNotBlankError = _error("MediaNotBlankError", "E_IMAPI_DF2DATA_MEDIA_NOT_BLANK", 0xC0AA0405, "The medium is not blank")
MediaNotSupportedError = _error(
    "MediaNotSupportedError", "E_IMAPI_DF2DATA_MEDIA_IS_NOT_SUPPORTED", 0xC0AA0406, "discrec cannot write this medium"
)
RecorderNotSupportedError = _error(
    "RecorderNotSupportedError", "E_IMAPI_DF2DATA_RECORDER_NOT_SUPPORTED", 0xC0AA0407, "The recorder cannot write"
)
ClientNameNotValidError = _error(
    "ClientNameNotValidError", "E_IMAPI_DF2DATA_CLIENT_NAME_IS_NOT_VALID", 0xC0AA0408, "The writer's client name is not valid"
)
VerificationFailedError = _error(
    "VerificationFailedError", "E_IMAPI_BURN_VERIFICATION_FAILED", 0xC0AA0007, "What was read back differs from the source"
)

#: The class of each IMAPI2 name (the bindings raise through this).
BY_NAME: Dict[str, Type[Error]] = {
    cls.name: cls for cls in list(globals().values()) if isinstance(cls, type) and issubclass(cls, Error) and cls is not Error
}

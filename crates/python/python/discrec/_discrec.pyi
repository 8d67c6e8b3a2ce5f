"""Type stubs of the compiled part of discrec (PyO3)."""

import os
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

_Path = Union[str, "os.PathLike[str]"]

__version__: str
ERROR_KINDS: List[Tuple[str, int, int, str]]  # (name, hresult, exit code, class), the library's error table

def recorders() -> List[str]:
    """Every recorder on this machine (IDiscMaster2): device paths."""

class Recorder:
    """IDiscRecorder2: one recorder, a drive or an image file."""

    def __init__(self, path: _Path) -> None: ...
    def acquire_exclusive_access(self, force: bool, client_name: str) -> None:
        """AcquireExclusiveAccess; RecorderLockedError at once if another client holds it."""
    def acquire_exclusive_access_wait(self, force: bool, client_name: str, timeout: Optional[float] = None) -> None:
        """Wait for the recorder, first come first served (None: forever); Ctrl-C, cancel_wait() or close() end it."""
    def cancel_wait(self) -> None:
        """End a wait in progress on this recorder (another thread's): it raises CancelledError."""
    def release_exclusive_access(self) -> None:
        """ReleaseExclusiveAccess: one per acquire."""
    @property
    def exclusive_access_owner(self) -> Optional[str]:
        """ExclusiveAccessOwner: the holder's client name, or None when free."""
    def owner(self) -> Optional[Dict[str, Any]]:
        """The whole owner: client_name, pid, uid, user, since, by_discrec, command, host."""
    @property
    def lock_count(self) -> int: ...
    @property
    def path(self) -> str: ...
    def identity(self) -> Dict[str, str]:
        """INQUIRY: vendor, product, revision."""
    def eject(self, client_name: str = "discrec") -> None: ...
    def close_tray(self, client_name: str = "discrec") -> None: ...
    def set_tray_locked(self, lock: bool, client_name: str = "discrec") -> None: ...
    def close(self) -> None:
        """Cancel a wait in progress, release everything; the object is unusable afterwards (InvalidHandleError)."""

class DataWriter:
    """IDiscFormat2Data: writes to the recorder at a path while holding it."""

    client_name: str
    verify: bool
    force_media_to_be_closed: bool
    def __init__(self, path: _Path) -> None: ...
    def write(self, source: _Path, progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        """Write source (ISO image, block device or directory); progress gets a dict per update; Ctrl-C cancels.

        An exception from progress cancels the write and is raised; if the write completed all the same,
        ProgressCallbackError (with .report) is raised instead."""
    def cancel_write(self) -> None:
        """CancelWrite, from any thread."""
    @property
    def is_writing(self) -> bool: ...

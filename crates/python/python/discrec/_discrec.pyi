"""Type stubs of the compiled part of discrec (PyO3)."""

import os
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

_Path = Union[str, "os.PathLike[str]"]

__version__: str
ERROR_KINDS: List[Tuple[str, int, int, str]]  # (name, hresult, exit code, class), the library's error table

def recorders() -> List[str]:
    """Every recorder on this machine (IDiscMaster2): device paths."""

def drives() -> List[Dict[str, Any]]:
    """Every recorder with what `discrec list` shows: device, sg, links, vendor, product, revision, bus, tray, mounts, locked, owner, error."""

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
    def status(self) -> Dict[str, Any]:
        """`discrec status`: target, node, kind, locked, owner, mounts, other_locks."""
    def drive(self) -> Dict[str, Any]:
        """`discrec info`: the drive (identity, bus, tray, profiles, features, mode pages, medium)."""
    def medium(self) -> Dict[str, Any]:
        """The medium: physical_type, state, total_sectors, free_sectors, next_writable_address, sessions, write_speeds, ...

        RecorderLockedError while another client holds the drive."""
    @property
    def tray_state(self) -> str:
        """"no_disc", "tray_open", "not_ready", "disc_ok" or "unknown"."""
    def check_medium(self) -> None:
        """TEST UNIT READY: NoMediumError, MediumBecomingReadyError, or None when ready."""
    def run_holding(self, argv: List[Union[str, bytes, "os.PathLike[str]"]], keep_claim: bool = False) -> int:
        """Run a command while holding the recorder (acquire first); its exit code, -N for signal N. Ctrl-C passes SIGINT on."""
    def signal_command(self, signo: int) -> None:
        """Pass a signal on to the command run_holding runs (from another thread)."""
    def set_cluster(self, endpoints: Optional[str] = None, key: Optional[str] = None, ttl: float = 10.0) -> None:
        """Share the recorder with other machines through etcd; acquires take the cluster lock too."""
    @property
    def fencing_token(self) -> Optional[int]:
        """The fencing token of the cluster lock while held, else None."""
    def check_cluster_lock(self) -> None:
        """None while the cluster lock holds; once lost, the error to stop with."""
    def close(self) -> None:
        """Cancel a wait in progress, release everything; the object is unusable afterwards (InvalidHandleError)."""

class DataWriter:
    """IDiscFormat2Data: writes to the recorder at a path while holding it."""

    client_name: str
    verify: bool
    force_media_to_be_closed: bool
    force_overwrite: bool
    def __init__(self, path: _Path) -> None: ...
    def write(self, source: _Path, progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        """Write source (ISO image, block device or directory); progress gets a dict per update; Ctrl-C cancels.

        An exception from progress cancels the write and is raised; if the write completed all the same,
        ProgressCallbackError (with .report) is raised instead."""
    def append(self, source: _Path, progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        """Add a session holding the directory source; the old files are kept. As write; the dict's added_to says what it added to."""
    def set_write_speed(self, sectors_per_second: Optional[int] = None, x: Optional[float] = None) -> None:
        """SetWriteSpeed: sectors per second or a multiple of 1x; neither: the fastest."""
    def supported_write_speeds(self) -> List[Dict[str, Any]]:
        """SupportedWriteSpeedDescriptors: kilobytes_per_second, sectors_per_second, x; fastest first."""
    def set_wait(self, timeout: Optional[float]) -> None:
        """Wait for a drive another client holds: 0 not at all, seconds, None forever."""
    def medium(self) -> Dict[str, Any]:
        """The medium, as Recorder.medium."""
    def cancel_write(self) -> None:
        """CancelWrite, from any thread."""
    @property
    def is_writing(self) -> bool: ...

class Eraser:
    """IDiscFormat2Erase: erases the rewritable disc in the recorder at a path, holding it."""

    client_name: str
    full_erase: bool
    def __init__(self, path: _Path) -> None: ...
    def set_wait(self, timeout: Optional[float]) -> None:
        """Wait for a drive another client holds: 0 not at all, seconds, None forever."""
    def medium(self) -> Dict[str, Any]:
        """The medium, as Recorder.medium."""
    def erase(self, progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
        """EraseMedia; progress gets elapsed_seconds, fraction, step; returns the medium after.

        MediaNotErasableError for a write-once disc or an image file, before anything is sent."""

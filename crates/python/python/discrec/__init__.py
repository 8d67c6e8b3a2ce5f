"""discrec: exclusive access to disc recorders on Linux, with IMAPI2's shape.

>>> import discrec
>>> rec = discrec.Recorder("/dev/sr0")
>>> with rec.exclusive_access("My App"):
...     print(rec.exclusive_access_owner)
My App

Errors are subclasses of :class:`discrec.Error`, one per IMAPI2 error, each
with ``hresult`` and ``name``. Calls that wait for a lock, talk to a drive or
write release the GIL.
"""

import contextlib
from typing import Iterator, Optional

from . import _discrec
from ._errors import *  # noqa: F401,F403 (the exception classes)
from ._errors import BY_NAME, Error, ProgressCallbackError  # noqa: F401

__version__ = _discrec.__version__
recorders = _discrec.recorders
drives = _discrec.drives


class Recorder(_discrec.Recorder):
    """``IDiscRecorder2``: a drive (``/dev/srN``, a by-id link, an sg node) or
    an image file standing in for one."""

    @contextlib.contextmanager
    def exclusive_access(
        self, client_name: str, force: bool = False, timeout: Optional[float] = 0.0
    ) -> Iterator["Recorder"]:
        """Hold the recorder for the ``with`` block: ``timeout`` 0 fails at once
        if another client holds it (``RecorderLockedError``), a number of
        seconds waits that long, None waits forever."""
        if timeout == 0.0:
            self.acquire_exclusive_access(force, client_name)
        else:
            self.acquire_exclusive_access_wait(force, client_name, timeout)
        try:
            yield self
        finally:
            self.release_exclusive_access()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"discrec.Recorder({str(self.path)!r})"


class DataWriter(_discrec.DataWriter):
    """``IDiscFormat2Data``: writes an ISO image, a block device or a directory
    to the recorder at a path, holding it while it writes."""


class Eraser(_discrec.Eraser):
    """``IDiscFormat2Erase``: erases the rewritable disc (CD-RW, DVD-RW,
    DVD+RW, DVD-RAM, BD-RE) in the recorder at a path, holding it while it
    erases."""


__all__ = ["Recorder", "DataWriter", "Eraser", "recorders", "drives", "Error", "__version__"] + [c.__name__ for c in BY_NAME.values()]

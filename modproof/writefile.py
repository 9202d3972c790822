"""Writing files without ever leaving half of one behind."""
from __future__ import annotations

import errno
import os
import signal
import stat
import tempfile


def write_atomic(path: str, data: str | bytes, make_folders: bool = False) -> None:
    """Write `data` to a temporary file in `path`'s folder, then rename it into place.

    The folder must exist (a mistyped path is an error, not a new folder tree),
    unless `make_folders` (CI reports, as pytest's --junitxml does), and `path`
    must not be a folder.  The file gets the permissions a plain `open`
    would give it: those of the file it replaces, else 0o666 less the umask.
    A symbolic link is written through (the link stays, the file it names is
    replaced), and a path that is not a regular file (/dev/null, /dev/stdout, a
    FIFO) is written to as it is: renaming over it would replace the device.
    SIGINT and SIGTERM wait while a regular file is written and renamed into
    place, so an interrupted run leaves the file whole or absent, never a
    temporary one beside it.  Raises OSError."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)   # follows links
    except FileNotFoundError:
        special = False
    if special:
        with open(path, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return
    if os.path.islink(path):
        path = os.path.realpath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if make_folders:
        os.makedirs(folder, exist_ok=True)
    blocked = _block_signals()
    try:
        _write_replace(path, folder, data)
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _block_signals():
    try:
        return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        return None


def _write_replace(path: str, folder: str, data: str | bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".modproof-", suffix=".tmp", dir=folder)
    try:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)   # the only way to read it is to set it
    os.umask(mask)
    return mask

"""The one way pgtop writes a file: whole or not at all, never over a file it was not asked to
replace.

A temp file in the same folder is written and fsynced, then renamed over the target (or hard-
linked to it when replacing is not allowed: ``link`` fails if the name exists, so a file that
appeared meanwhile is never overwritten), then the folder itself is fsynced so the rename
survives a crash. A reader sees the old file or the new one, never half of either; a process
killed mid-write leaves at most a hidden ``.NAME.*.tmp`` beside the target, and the target
untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["WriteError", "write_atomically"]


class WriteError(Exception):
    """A file could not be written. ``str()`` is one line naming the path and the reason."""

    def __init__(self, message: str, *, path: Path, exists: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.exists = exists
        """True when the only problem is that the file exists and replacing was not allowed."""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def write_atomically(
    path: Path, data: str | bytes, *, replace: bool, mode: int | None = None
) -> None:
    """Write ``data`` (str as UTF-8) to ``path`` atomically.

    ``replace``: an existing file is replaced; otherwise :class:`WriteError` with ``exists``
    set, and nothing changes. ``mode``: permission bits of the new file (default: the umask's,
    as ``open`` gives). The folder must exist: a missing folder is an error the caller states
    (a typo in ``-o`` should not create directories).
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = path.parent if str(path.parent) else Path(".")
    if not replace and path.exists():
        raise WriteError(f"{path} exists (nothing written)", path=path, exists=True)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise WriteError(f"cannot write {path}: the folder {folder} {what}", path=path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {_reason(exc)}", path=path) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(handle.fileno(), 0o666 & ~umask)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the name appeared meanwhile: never overwrite
            tmp.unlink()
        _fsync_folder(folder)
    except FileExistsError:
        raise WriteError(f"{path} exists (nothing written)", path=path, exists=True) from None
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {_reason(exc)}", path=path) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable. Some file systems refuse fsync on a folder: that is no failure
    of the write itself."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)

"""Writing output files so that nothing already on disk is lost.

- `write_atomic`: the text goes to a temporary file in the target's folder, is
  flushed to disk, and replaces the target in one rename; a crash or a full disk
  mid-write leaves the old file (or none) intact, never half of one.
- `locked`: an exclusive OS lock (``fcntl.flock``) on ``<file>.lock``, for a
  read-merge-write of a file several processes update (the leaderboard CSV).
- `write_output`: `write_atomic` for a path the user named, creating missing
  folders; any failure is an `OutputError` that names the path (exit 2).

A path that is a symbolic link (a CI job's ``--csv`` pointing at a shared board) is
written and locked at the file it points to (`real_path`): the link stays, the shared
file gets the rows, and writers through the link and through the real path lock the
same ``<real file>.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path


class OutputError(OSError):
    """An output path that cannot be written (a folder, no permission, disk full)."""


def real_path(path: Path) -> Path:
    """The file a path names once every symbolic link in it is followed: what gets replaced
    and locked, so that a link survives and keeps pointing at the file that was updated."""
    return Path(os.path.realpath(path))


def write_atomic(path: Path, text: str) -> None:
    path = real_path(path)
    try:  # the replaced file keeps its permissions (a group-writable shared CSV stays so)
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_umask()  # mkstemp makes 0600; a new file gets what open() would give
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a power loss
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on ``<path>.lock`` (created if missing; never removed, so that
    every process locks the same inode)."""
    path = real_path(path)
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def prepare_output(path: Path) -> Path:
    """Check that `path` can be a file we write (creating its folders); raise OutputError."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    try:
        real_path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{path}: cannot create its folder ({err.strerror or err})") from None
    return path


def write_output(path: Path, text: str) -> None:
    path = prepare_output(path)
    try:
        write_atomic(path, text)
    except OSError as err:
        raise OutputError(f"{path}: cannot be written ({err.strerror or err}); an existing file is unchanged") from None

"""Durable file replacement shared by every writer of small files (lessons, flags, sim state, env)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_text(path: Path, text: str, *, mode: int | None = None,
                      owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` with ``text`` (UTF-8) so readers see the old or the new file, never a torn
    one (see ``atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode, owner=owner)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None,
                       owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a torn one.

    Temp file in the same directory -> fsync -> ``os.replace`` -> fsync of the directory, so the
    rename itself survives a crash. ``mode`` (e.g. 0o640 for env files) and ``owner`` (uid, gid:
    the file being replaced keeps its owner and group, e.g. root:stockbot) are set before the
    rename, so the file is never visible with looser permissions or the wrong group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if owner is not None and (os.fstat(fh.fileno()).st_uid, os.fstat(fh.fileno()).st_gid) != owner:
                os.fchown(fh.fileno(), *owner)  # before fchmod: a chown may clear set-id bits
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable (best effort where the platform refuses)."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)

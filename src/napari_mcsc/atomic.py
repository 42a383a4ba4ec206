"""Writing a file so that its name holds either the old content or the complete new one.

The one way the package replaces a file (models, checkpoints, volumes, the speed cache).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["STALE_TMP_SECONDS", "atomic_write"]


#: Temporary files older than this (seconds, by modification time) are left-overs of an
#: interrupted save and are removed by the next save to the same name.
STALE_TMP_SECONDS = 600.0


def _tmp_pattern(stem: str, extension: str) -> re.Pattern[str]:
    return re.compile(re.escape(f".{stem}.") + r"[0-9a-f]{12}" + re.escape(f".tmp{extension}"))


def _remove_stale_tmp_files(target: Path, stem: str, extension: str) -> None:
    """Delete temporary files that an interrupted save to ``target`` left behind."""
    pattern = _tmp_pattern(stem, extension)
    cutoff = time.time() - STALE_TMP_SECONDS
    try:
        with os.scandir(target.parent) as entries:
            for entry in entries:
                if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    try:
                        if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                            os.unlink(entry.path)
                    except OSError:
                        pass  # in use, gone already or not ours: leave it
    except OSError:
        pass


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some platforms (Windows) cannot open folders: nothing to sync
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[Path], object],
    *,
    extension: str = "",
) -> Path:
    """Write a file so that ``path`` holds either its old content or the complete new one.

    ``write(tmp)`` writes the data to a temporary file in the same folder (same file
    system, so the rename is atomic), hidden (``.name.<random>.tmp<extension>``) so file
    browsers do not show it meanwhile. The data is flushed to disk (fsync) before the
    rename and the folder after it, so a power cut cannot leave an empty file under the
    final name. The file gets the usual permissions (0666 minus the umask). Left-overs of
    a save that was killed are removed here. ``extension`` ends the temporary name (ITK
    picks its writer by extension). Returns ``path``.
    """
    p = Path(os.fspath(path))
    stem = p.name[: -len(extension)] if extension and p.name.endswith(extension) else p.name
    _remove_stale_tmp_files(p, stem, extension)
    tmp = p.with_name(f".{stem}.{uuid.uuid4().hex[:12]}.tmp{extension}")
    try:
        write(tmp)
        _fsync_path(tmp)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(p.parent, directory=True)
    return p

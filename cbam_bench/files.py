"""Writing files so that data is never lost: a reader sees the old file or the whole new one."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

_DEFAULT_MODE = 0o644


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces `target` only when the block ends without an error.

    The temporary file lives in the target's folder, so the final os.replace is a rename on one
    file system; it is synced first and takes the old file's permissions. On failure it is
    removed and `target` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else _DEFAULT_MODE
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], chunks: Iterable[str | bytes]) -> Path:
    """Stream text or bytes chunks into `path` atomically; a chunk that raises leaves the old file."""
    with atomic_write(path) as f:
        for chunk in chunks:
            f.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
    return Path(path)


def write_png(figure: Any, path: str | os.PathLike[str], dpi: float | None = None) -> Path:
    """Render a matplotlib figure to PNG in memory, then replace `path` with it atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **({} if dpi is None else {"dpi": dpi}))
    return write_atomic(path, [buffer.getvalue()])


def unwritable_reason(target: str | os.PathLike[str]) -> str | None:
    """Why atomic_write(target) would fail, found before any work is spent on what it is to hold:
    the target is a folder, a part of its path is a file, or the nearest existing folder (missing
    ones are created) cannot be written. None when it would succeed."""
    target = Path(target)
    if target.is_dir():
        return "is a folder; allowed: a file path"
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder; allowed: a path whose folders exist or can be created"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write into {folder}; allowed: a file in a folder you can write"
    return None

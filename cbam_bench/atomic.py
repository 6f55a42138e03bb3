"""Writing files so that a crash or an error mid-write never leaves half a file behind."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

_DEFAULT_MODE = 0o644


def write_atomic(path: str | os.PathLike[str], chunks: Iterable[str | bytes]) -> Path:
    """Stream chunks into a temporary file beside path, sync it, then rename it over path.

    Until the rename, readers see the previous file (or none); if producing a chunk raises, the
    temporary file is removed and the previous file is left exactly as it was.
    """
    target = Path(path)
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else _DEFAULT_MODE
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target

"""Where a command may write a file: checked before any work, so a slip of `--out` loses nothing.

A command never writes over its own study database (or SQLite's files beside it), whatever it is
told; it replaces an existing file only when that file is of the kind being written, unless the
user says `--force`; and the folder must exist and be writable before training or exporting starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cbam_bench.errors import SpecError
from cbam_bench.files import unwritable_reason
from cbam_bench.storage import SQLITE_HEADER, storage_files


@dataclass(frozen=True)
class FileKind:
    """What a command writes: its name in messages, and how to recognise an earlier file of it."""

    name: str
    suffixes: tuple[str, ...] = ()  # a text kind's file names end in one of these (CSV, JSON, ...)
    magic: tuple[bytes, ...] = ()  # a binary kind's files start with one of these


PNG = FileKind("PNG image", magic=(b"\x89PNG\r\n\x1a\n",))
# torch.save writes a zip archive; files of torch before 1.6 are a bare pickle (protocol 2+).
CHECKPOINT = FileKind("checkpoint", magic=(b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"))
_SNIFF_BYTES = 8192


def is_kind(path: Path, kind: FileKind) -> bool:
    """Whether the existing file `path` looks like one `kind` would write (an empty file always does).

    A binary kind is known by its first bytes; a text kind by its name's suffix and by being text.
    """
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        return True
    if head.startswith(SQLITE_HEADER):
        return False
    if kind.magic:
        return head.startswith(kind.magic)
    if path.suffix.lower() not in kind.suffixes or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut off at the end of the sample
    return True


def check_output(
    path: Path,
    option: str,
    kind: FileKind,
    *,
    storage: str | None = None,
    force: bool = False,
    make_folders: bool = False,
) -> None:
    """SpecError naming `option` unless `path` may be written (see the module's docstring).

    make_folders: missing folders on the way are created when the file is written (a checkpoint's
    runs/a/b.pt); otherwise the folder must exist, so a typo in it is caught.
    """
    shown = str(path)
    if storage is not None and path.resolve() in storage_files(storage):
        raise SpecError(option, f"{shown!r} is the study database given by --storage; allowed: any other file")
    if not make_folders and not path.is_dir() and not path.parent.is_dir():
        raise SpecError(option, f"folder {str(path.parent)!r} does not exist; allowed: a path in an existing folder")
    reason = unwritable_reason(path)
    if reason is not None:
        raise SpecError(option, f"{shown!r} {reason}" if reason.startswith("is a folder") else f"{shown!r}: {reason}")
    if path.exists() and not force and not is_kind(path, kind):
        raise SpecError(
            option, f"{shown!r} exists and is not a {kind.name} file; allowed: a new path, or --force to replace it"
        )


def check_png(path: Path | None, option: str, *, storage: str | None = None, force: bool = False) -> None:
    """check_output for a figure, whose name must also end in .png (None: no figure asked for)."""
    if path is None:
        return
    if path.suffix.lower() != ".png":
        raise SpecError(option, f"{str(path)!r} is not allowed; allowed: a file name ending in .png")
    check_output(path, option, PNG, storage=storage, force=force)

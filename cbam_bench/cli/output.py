"""One output layer: Rich tables for people on stdout, JSON for machines, logs and progress on stderr."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from cbam_bench.metrics import SI_PREFIXES
from cbam_bench.report.format import json_document, json_safe


def stdout() -> Console:
    """Console for results; created per call so redirected streams (tests, pipes) are honoured."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False)


def interactive() -> bool:
    """Progress bars only when a person is watching stderr."""
    return sys.stderr.isatty()


def print_json(obj: Any) -> None:
    """The only thing --json writes to stdout: one JSON document (non-finite numbers become null)."""
    if not isinstance(obj, dict):
        sys.stdout.write(json.dumps(json_safe(obj), indent=2) + "\n")
        return
    for chunk in json_document(obj):  # a line per key and per list item: fast for 10,000 trials
        sys.stdout.write(chunk)


def table(title: str, columns: list[str], rows: list[list[str]], caption: str | None = None) -> Table:
    """A right-aligned numeric table; the first column (a name) is left-aligned."""
    t = Table(title=title, caption=caption, caption_justify="left", title_justify="left")
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        t.add_row(*row)
    return t


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M'; keeps three significant digits."""
    for scale, suffix in SI_PREFIXES:
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}{unit}"
    return f"{n:g}{unit}"


def add_examples(command: Callable[..., Any], examples: str) -> None:
    """Put a command's examples under its docstring for --help. The docstring's paragraphs become one
    line each: Typer keeps a docstring's line breaks (and a dedent would be needed for its indents),
    so a paragraph wrapped at the source's width would show ragged at the terminal's."""
    paragraphs = inspect.cleandoc(command.__doc__ or "").split("\n\n")
    prose = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    command.__doc__ = prose + "\n" + examples

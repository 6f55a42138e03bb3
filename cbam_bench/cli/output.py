"""One output layer: Rich tables for people on stdout, JSON for machines, logs and progress on stderr."""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from cbam_bench.metrics import SI_PREFIXES
from cbam_bench.report.format import json_document, json_safe
from cbam_bench.report.tables import rich_table
from cbam_bench.report.widths import column_widths


class _TrimmedLines:
    """A stream that drops the spaces Rich leaves at the ends of lines (a wrapped title's, a table's
    padded last column), which a file or a diff of the output would otherwise carry."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_LINE_END_SPACES.sub("\n", text))

    def __getattr__(self, name: str) -> Any:  # isatty, flush, encoding: the stream's own
        return getattr(self._stream, name)


_LINE_END_SPACES = re.compile(r" +\n")


def stdout() -> Console:
    """Console for results; created per call so redirected streams (tests, pipes) are honoured."""
    return Console(file=_TrimmedLines(sys.stdout), highlight=False, soft_wrap=False)


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


def table(
    title: str, columns: list[str], rows: list[list[str]], caption: str | None = None, wrap: Sequence[str] = ()
) -> Table:
    """A right-aligned numeric table in the reports' style; the first column (a name) and the text
    columns in `wrap` (which wrap at spaces on a narrow terminal, see print_table) are left-aligned."""
    t = rich_table(title, columns, 1, [caption] if caption else [], wrap=wrap)
    for row in rows:
        t.add_row(*row)
    return t


def print_table(console: Console, table: Table) -> None:
    """Print a table without losing a character. Where it is wider than the terminal, Rich would crop
    its unwrappable cells (numbers, placement labels) or drop whole columns. Here the table narrows in
    steps (column_widths), and one still too wide at its narrowest is printed wider than the
    terminal, which wraps a long line but loses nothing. Title and caption wrap at the terminal's
    width, not the table's. The table is set up for this one print: its widths are fixed here."""
    title, caption = table.title, table.caption
    table.title = table.caption = None
    if title:
        console.print(Text(str(title), style="table.title"))
    _fitted(console, table).print(table)
    if caption:
        console.print(Text(str(caption), style="table.caption"))


def _fitted(console: Console, table: Table) -> Console:
    """Fix the columns' widths to fit the console, and return the console to print on: this one, or a
    wider one where even the narrowest layout does not fit."""
    wide = console.options.update_width(10**6)
    columns = table.columns
    cells = [[Measurement.get(console, wide, cell) for cell in column.cells] for column in columns]
    heads = [Measurement.get(console, wide, column.header) for column in columns]
    natural = [max([h.maximum, *(m.maximum for m in c)]) for h, c in zip(heads, cells, strict=True)]
    extra = Measurement.get(console, wide, table).maximum - sum(natural)  # cell padding and dividers
    if sum(natural) + extra <= console.width:
        return console
    floor = [
        max([h.minimum, *((m.maximum if col.no_wrap else m.minimum) for m in c)])
        for col, h, c in zip(columns, heads, cells, strict=True)
    ]
    widths = column_widths(natural, floor, [not col.no_wrap for col in columns], console.width - extra)
    for col, width in zip(columns, widths, strict=True):
        col.width, col.no_wrap = width, False  # every unwrappable cell fits its width: only headers wrap
    if sum(widths) + extra <= console.width:
        return console
    return Console(file=console.file, width=sum(widths) + extra, highlight=False, soft_wrap=False)


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

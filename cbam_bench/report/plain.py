"""A table of thousands of rows as plain text, laid out like the Rich tables beside it.

Rich measures and renders every cell as its own renderable, about a millisecond a cell: `report
--all` on a study of 10,000 trials spent 40 s drawing its table. This draws the same kind of
table (title, header, a rule, right-aligned numbers, long labels wrapped, the caption below) with
string operations alone, narrowing the wrapping columns until the table fits the terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

GAP = "  "
MIN_WRAP = 10  # a wrapping column is never narrower (the Rich tables' min_width)


def _widths(headers: Sequence[str], rows: Sequence[Sequence[str]], wrapping: set[int], width: int) -> list[int]:
    """Each column's natural width; the widest wrapping one is narrowed first while the table is too wide."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    excess = 1 + sum(widths) + len(GAP) * (len(widths) - 1) - width
    while excess > 0:
        narrowable = [i for i in wrapping if widths[i] > MIN_WRAP]
        if not narrowable:
            break
        widest = max(narrowable, key=lambda i: (widths[i], -i))
        widths[widest] -= 1
        excess -= 1
    return widths


def _wrap(text: str, width: int) -> list[str]:
    """The text's lines at most `width` wide. Most labels fit as they are, and textwrap would
    return them unchanged (it only drops whitespace at the ends and turns tabs and newlines into
    spaces), so those skip it: it was half of drawing a 10,000-row table."""
    if len(text) <= width and text.isprintable() and text == text.strip():
        return [text]
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def _lines(cells: Sequence[str], widths: Sequence[int], right: set[int], wrapping: set[int]) -> list[str]:
    parts = [_wrap(c, w) if i in wrapping else [c] for i, (c, w) in enumerate(zip(cells, widths))]
    out = []
    for k in range(max(len(p) for p in parts)):
        pieces = [(p[k] if k < len(p) else "") for p in parts]
        line = GAP.join(s.rjust(w) if i in right else s.ljust(w) for i, (s, w) in enumerate(zip(pieces, widths)))
        out.append((" " + line).rstrip())
    return out


def render(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: set[int],
    wrapping: set[int],
    caption: Sequence[str],
    width: int,
) -> str:
    """The table as text ending in a newline; `right`, `wrapping`: column indices so aligned, so wrapped."""
    widths = _widths(headers, rows, wrapping, width)
    lines = [
        title,
        "",
        *_lines(headers, widths, right, wrapping),
        " " + "─" * (sum(widths) + len(GAP) * (len(widths) - 1)),
    ]
    for row in rows:
        lines.extend(_lines(row, widths, right, wrapping))
    lines.append("")
    lines.extend(part for text in caption for part in textwrap.wrap(text, max(width, 20)))
    return "\n".join(lines) + "\n"

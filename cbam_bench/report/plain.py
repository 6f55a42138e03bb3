"""A table of thousands of rows as plain text, laid out like the Rich tables beside it.

Rich measures and renders every cell as its own renderable, about a millisecond a cell: `report
--all` on a study of 10,000 trials spent 40 s drawing its table. This draws the same kind of
table (title, header, a rule, right-aligned numbers, long labels wrapped, the caption below) with
string operations alone, its columns narrowed as the Rich tables' are (report.widths).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from cbam_bench.report.widths import column_widths

GAP = "  "


def _longest_word(texts: Sequence[str]) -> int:
    """The longest word among texts; a text no longer than the longest so far is not split."""
    longest = 0
    for text in texts:
        if len(text) > longest:
            longest = max([longest, *(len(word) for word in text.split())])
    return longest


def _widths(headers: Sequence[str], rows: Sequence[Sequence[str]], wrapping: set[int], width: int) -> list[int]:
    """Each column's natural width, narrowed to the terminal's by report.widths: a header, or a
    wrapping column's cells, never below their longest word; other cells never below their width."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(headers)
    widest = [max(map(len, cells), default=0) for cells in columns]
    natural = [max(len(h), w) for h, w in zip(headers, widest, strict=True)]
    floor = [
        max(_longest_word([h]), _longest_word(cells) if i in wrapping else w)
        for i, (h, cells, w) in enumerate(zip(headers, columns, widest, strict=True))
    ]
    room = width - len(GAP) * (len(headers) - 1)
    return column_widths(natural, floor, [i in wrapping for i in range(len(headers))], room)


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
        out.append(line.rstrip())
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
        *_lines(headers, widths, right, set(range(len(headers)))),  # any header may wrap
        "─" * (sum(widths) + len(GAP) * (len(widths) - 1)),
    ]
    for row in rows:
        lines.extend(_lines(row, widths, right, wrapping))
    lines.append("")
    lines.extend(part for text in caption for part in textwrap.wrap(text, max(width, 20)))
    return "\n".join(lines) + "\n"

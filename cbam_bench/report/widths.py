"""How a table narrower than its content shares the terminal's width among its columns.

One rule for the Rich tables (cli.output.print_table) and the plain-text one (report.plain): names
and notes wrap at spaces, numbers and placement labels never do, and what cannot fit is printed
wider than the terminal rather than cut.
"""

from __future__ import annotations

import math

COMFORTABLE = 16  # a wrapping column narrower than this reads as a stack of single words


def column_widths(natural: list[int], floor: list[int], wraps: list[bool], room: int) -> list[int]:
    """Narrow a table as little as the room needs: first the wrapping columns (names, notes), down to
    a comfortable width; then the headers over unwrappable cells (numbers), all of them wrapped to
    their longest word ("Params (K)" over two lines), the room they free going back to the wrapping
    columns; last the wrapping columns down to their longest word. `floor` is each column's
    narrowest: its longest word, or, for a column whose cells never wrap, its widest cell."""
    comfortable = [max(f, min(n, COMFORTABLE)) if w else n for n, f, w in zip(natural, floor, wraps, strict=True)]
    if sum(comfortable) <= room:
        return _widen(comfortable, natural, room)
    headers_in = [c if w else f for c, f, w in zip(comfortable, floor, wraps, strict=True)]
    if sum(headers_in) <= room:
        return _widen(headers_in, [n if w else f for n, f, w in zip(natural, floor, wraps, strict=True)], room)
    return _widen(floor, headers_in, room) if sum(floor) <= room else floor


def _widen(widths: list[int], wider: list[int], room: int) -> list[int]:
    """Share the room left over among the columns that have a wider width, in proportion."""
    slack = sum(wider) - sum(widths)
    share = min(1.0, (room - sum(widths)) / slack) if slack > 0 else 0.0
    return [w + math.floor(share * (x - w)) for w, x in zip(widths, wider, strict=True)]

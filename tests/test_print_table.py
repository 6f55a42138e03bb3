"""Tables on a narrow terminal: narrowed in steps, never cropped (cli.output.print_table)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from synthetic_studies import Fake, make_study
from typer.testing import CliRunner

from cbam_bench.cli.app import app
from cbam_bench.cli.output import print_table, table
from cbam_bench.report.widths import COMFORTABLE, column_widths

runner = CliRunner()
# One unwrappable column of natural width 5 (floor 5), a name of 30 (longest word 8), and a number
# whose header is 10 wide and whose cells 6 (floor 6).
NATURAL, FLOOR, WRAPS = [5, 30, 10], [5, 8, 6], [False, True, False]


@pytest.mark.parametrize(
    "room, widths",
    [
        (45, [5, 30, 10]),  # everything fits
        # The name gives up width first, down to the comfortable 16 at most: 31 <= 35, 4 of 14 back.
        (35, [5, 20, 10]),
        # 31 > 28: the header wraps too (10 -> 6), and the name gets 1 of the 14 it could use back.
        (28, [5, 17, 6]),
        # 27 > 20: the name goes down to its longest word, 8, and gets back 1 of the 8 up to 16.
        (20, [5, 9, 6]),
        (10, [5, 8, 6]),  # narrower than the floor: the floor, printed wider than the terminal
    ],
)
def test_column_widths_narrow_in_steps(room, widths) -> None:
    assert COMFORTABLE == 16
    assert column_widths(NATURAL, FLOOR, WRAPS, room) == widths


def rendered(width: int, *rows: list[str]) -> list[str]:
    out = io.StringIO()
    t = table("t", ["name", "a long header", "notes"], list(rows), wrap=("notes",))
    print_table(Console(file=out, width=width, highlight=False), t)
    return out.getvalue().splitlines()


def test_a_table_too_wide_for_the_terminal_is_printed_wider_not_cropped() -> None:
    lines = rendered(20, ["all/all/residual", "123456.789", "one two three"])
    text = "\n".join(lines)
    # 16 + 10 + 5 ("three") with the gaps is more than 20: every cell whole, the notes wrapped.
    assert "all/all/residual" in text and "123456.789" in text and "…" not in text
    assert [word for word in ("one", "two", "three") if word in text] == ["one", "two", "three"]
    assert max(len(line.rstrip()) for line in lines) > 20


def test_the_title_wraps_at_the_terminal_not_at_the_table() -> None:
    out = io.StringIO()
    t = table("a title much longer than the narrow table below it", ["n", "v"], [["a", "1"]], caption="a caption")
    print_table(Console(file=out, width=80, highlight=False), t)
    lines = out.getvalue().splitlines()
    assert lines[0].rstrip() == "a title much longer than the narrow table below it"
    assert lines[-1].rstrip() == "a caption"


def test_a_seeded_front_at_80_columns_loses_no_cell(tmp_path) -> None:
    """Mean ± std, the interval and the marks made the front wider than 80 columns; Rich cropped the
    numbers and dropped the trial numbers and names."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    seeds = {"none": (0.79, 0.80, 0.81), "se": (0.84, 0.85, 0.86), "cbam": (0.87, 0.88, 0.89)}
    make_study(
        [
            Fake(kind="none", accuracy=0.80, latency_ms=1.0, seed_accuracies=seeds["none"]),
            Fake(kind="se", accuracy=0.85, latency_ms=1.4, seed_accuracies=seeds["se"]),
            Fake(kind="cbam", accuracy=0.88, latency_ms=2.0, seed_accuracies=seeds["cbam"]),
        ],
        storage=url,
        name="seeded",
        objectives=("accuracy:max", "latency_ms:min"),
    )
    result = runner.invoke(app, ["report", "seeded", "--storage", url], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    rows = [line for line in out.splitlines() if line[:2] in ("0 ", "1 ", "2 ")]
    assert [row.split()[:2] for row in rows] == [["2", "cbam"], ["1", "se"], ["0", "none"]]
    for cell in ("88.00 ± 1.00", "85.00 ± 1.00", "80.00 ± 1.00", "85.5-90.5", "all/all/residual", "knee"):
        assert cell in out, cell
    assert "…" not in out


def test_results_on_stdout_end_no_line_with_spaces(tmp_path) -> None:
    """Rich pads a table's last column and leaves a space where it wraps a title or a caption; a
    file or a diff of the output carried them."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    make_study(
        [Fake(kind="none", accuracy=0.80, latency_ms=1.0), Fake(kind="cbam", accuracy=0.88, latency_ms=2.0)],
        storage=url,
        name="a-study-whose-title-wraps-at-forty-columns",
        objectives=("accuracy:max", "latency_ms:min"),
    )
    result = runner.invoke(
        app, ["report", "a-study-whose-title-wraps-at-forty-columns", "--storage", url], env={"COLUMNS": "40"}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Pareto front of") and not lines[1].startswith("#")  # the title wrapped
    assert [line for line in lines if line.endswith(" ")] == []

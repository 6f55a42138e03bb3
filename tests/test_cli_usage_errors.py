"""Usage errors are one line and exit 2 like every other bad input: out-of-range counts, values that
are not numbers, unknown options and commands; --help still states each range."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cbam_bench.cli.app import app, main

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


@pytest.mark.parametrize(
    "args, line",
    [
        (["search", "--trials", "-1"], "error: --trials: -1 is not allowed; allowed: an integer in [1, 100000]"),
        (
            ["search", "--trials", str(10**30)],
            f"error: --trials: {10**30} is not allowed; allowed: an integer in [1, 100000]",
        ),
        (["search", "--seeds", "0"], "error: --seeds: 0 is not allowed; allowed: an integer in [1, 100]"),
        (["search", "--heartbeat", "0"], "error: --heartbeat: 0 is not allowed; allowed: an integer in [1, 3600]"),
        (
            ["search", "--heartbeat", "86400"],
            "error: --heartbeat: 86400 is not allowed; allowed: an integer in [1, 3600]",
        ),
        (["search", "--epochs", "0"], "error: --epochs: 0 is not allowed; allowed: an integer in [1, 10000]"),
        (
            ["ablate", "channel", "--epochs", "0"],
            "error: --epochs: 0 is not allowed; allowed: an integer in [1, 10000]",
        ),
        (
            ["ablate", "channel", "--seeds", "101"],
            "error: --seeds: 101 is not allowed; allowed: an integer in [1, 100]",
        ),
        (
            ["train", "cifar_resnet20", "--epochs", "0"],
            "error: --epochs: 0 is not allowed; allowed: an integer in [1, 10000]",
        ),
        (["train", "cifar_resnet20", "--lr", "nan"], "error: --lr: nan is not allowed; allowed: a finite number > 0"),
    ],
)
def test_a_count_out_of_range_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], line: str
) -> None:
    monkeypatch.chdir(tmp_path)  # the default storage, results/cbam-bench.db, would land here
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [line]
    assert result.stdout == "" and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, line",
    [
        (
            ["search", "--trials", "abc"],
            "error: Invalid value for '--trials' / '-n': Input should be a valid integer, "
            "unable to parse string as an integer (see cbam-bench search --help)",
        ),
        (
            ["train", "cifar_resnet20", "--lr", "fast"],
            "error: Invalid value for '--lr': Input should be a valid number, "
            "unable to parse string as a number (see cbam-bench train --help)",
        ),
        (["search", "--bogus"], "error: No such option: --bogus (see cbam-bench search --help)"),
        (["search", "one", "two"], "error: Got unexpected extra argument(s) (two) (see cbam-bench search --help)"),
        (["ablate"], "error: Missing argument 'table' (see cbam-bench ablate --help)"),
        (["serach"], "error: No such command 'serach'. Did you mean 'search'? (see cbam-bench --help)"),
    ],
)
def test_typer_usage_errors_are_one_line_from_the_console_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], line: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert captured.err.splitlines() == [line]
    assert captured.out == "" and "╭" not in captured.err
    assert list(tmp_path.iterdir()) == []


def test_the_console_script_keeps_the_exit_code_of_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--trials", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: --trials: 0 is not allowed; allowed: an integer in [1, 100000]\n"
    with pytest.raises(SystemExit) as exit_info:
        main(["spaces", "list", "--json"])
    assert exit_info.value.code == 0 and '"name": "default"' in capsys.readouterr().out


@pytest.mark.parametrize(
    "command, hints",
    [
        (
            ["search"],
            [
                "Allowed: an integer in [1, 100000].",
                "Allowed: an integer in [1, 3600].",
                "Allowed: an integer in [1, 10000].",
                "Allowed: an integer in [1, 100].",
            ],
        ),
        (["ablate"], ["Allowed: an integer in [1, 10000].", "Allowed: an integer in [1, 100]."]),
    ],
)
def test_help_still_states_each_range(command: list[str], hints: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for hint in hints:
        assert hint in result.stdout

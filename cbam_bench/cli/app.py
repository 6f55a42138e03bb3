"""The `cbam-bench` command: a root callback for global options and one sub-command per module."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from cbam_bench.cli import ablate as ablate_command
from cbam_bench.cli import compare as compare_command
from cbam_bench.cli import confirm as confirm_command
from cbam_bench.cli import detect as detect_command
from cbam_bench.cli import export as export_command
from cbam_bench.cli import inspect as inspect_command
from cbam_bench.cli import profile as profile_command
from cbam_bench.cli import report as report_command
from cbam_bench.cli import search as search_command
from cbam_bench.cli import spaces as spaces_command
from cbam_bench.cli import train as train_command
from cbam_bench.cli.errors import DEBUG, print_error, usage_error_line

app = typer.Typer(
    name="cbam-bench",
    help="Search and ablate CBAM-style attention: where it goes, how it is built, what it costs and buys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")] = False,
) -> None:
    DEBUG.set(debug or os.environ.get("CBAM_BENCH_DEBUG") == "1")


app.command("search")(search_command.search)
app.command("profile")(profile_command.profile)
app.command("train")(train_command.train)
app.command("report")(report_command.report)
app.command("compare")(compare_command.compare)
app.command("export")(export_command.export)
app.command("ablate")(ablate_command.ablate)
app.command("confirm")(confirm_command.confirm)
app.command("inspect")(inspect_command.inspect)
app.command("detect")(detect_command.detect)
app.add_typer(spaces_command.app, name="spaces")


def main(args: Sequence[str] | None = None) -> None:
    """The console script. Typer answers a usage error (an unknown option, `--trials abc`) with a box
    of several lines; here it is one line and exit 2, like every other bad input."""
    try:
        code = app(args=args, prog_name="cbam-bench", standalone_mode=False)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is already printed; Typer exits 2 too
            sys.exit(exc.exit_code)
        print_error(usage_error_line(exc))
        sys.exit(exc.exit_code)
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

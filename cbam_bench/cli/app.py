"""The `cbam-bench` command: a root callback for global options and one sub-command per module."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cbam_bench.cli import profile as profile_command
from cbam_bench.cli import train as train_command
from cbam_bench.cli.errors import DEBUG

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


app.command("profile")(profile_command.profile)
app.command("train")(train_command.train)


def main() -> None:
    app()

"""How commands fail: bad input is one line and exit 2; a crash is one line and exit 1; --debug shows tracebacks;
an interrupt exits 128 + its signal's number (130 for Ctrl-C, 143 for SIGTERM)."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from cbam_bench.cli import output
from cbam_bench.errors import CbamBenchError
from cbam_bench.interrupt import exit_code

DEBUG = contextvars.ContextVar("cbam_bench_debug", default=False)
F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Wrap a command so known errors become one line on stderr and the right exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except CbamBenchError as exc:
            if DEBUG.get():
                raise
            output.stderr().print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM where a command turns it into Interrupted
            raise typer.Exit(exit_code(exc)) from None
        except Exception as exc:  # a failure while running, not bad input
            if DEBUG.get():
                raise
            output.stderr().print(
                f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", markup=False, soft_wrap=True
            )
            raise typer.Exit(1) from None

    return run  # type: ignore[return-value]

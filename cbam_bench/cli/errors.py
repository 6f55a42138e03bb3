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
from cbam_bench.storage import redact_text

DEBUG = contextvars.ContextVar("cbam_bench_debug", default=False)
F = TypeVar("F", bound=Callable[..., Any])


def print_error(message: str) -> None:
    """The one line every failure prints on stderr: 'error: ' and the message, never wrapped."""
    text = redact_text(" ".join(message.split()))  # a library's message of several lines still makes one
    output.stderr().print(f"error: {text}", markup=False, soft_wrap=True)


def usage_error_line(exc: typer.TyperException) -> str:
    """Typer's usage errors (an unknown option, a value that is not a number, a missing argument) as
    one line naming the option, instead of its usage box; the command's --help is named for the rest."""
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", "") if ctx is not None else ""
    hint = f" (see {path} --help)" if path else ""
    return exc.format_message().rstrip(".") + hint


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
            print_error(str(exc))
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM where a command turns it into Interrupted
            raise typer.Exit(exit_code(exc)) from None
        except Exception as exc:  # a failure while running, not bad input
            if DEBUG.get():
                raise
            print_error(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
            raise typer.Exit(1) from None

    return run  # type: ignore[return-value]

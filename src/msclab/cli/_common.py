"""What every command shares: the error guard, the consoles, exit codes."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from ..errors import MsclabError

#: Exit codes of every command (design contract); 3 marks a bug in msclab itself.
EXIT_OK, EXIT_SAMPLES_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

console = Console()
console_err = Console(stderr=True)


@dataclass
class _State:
    debug: bool = False


state = _State()


class GuardedGroup(TyperGroup):
    """The root command group: bad input becomes one paragraph and exit code 2.

    No Python traceback reaches a user for bad input; ``--debug`` shows it.
    """

    def invoke(self, ctx: click.Context):  # noqa: D102 - click API
        try:
            return super().invoke(ctx)
        except MsclabError as exc:
            if state.debug:
                console_err.print(traceback.format_exc(), markup=False, highlight=False)
            console_err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if state.debug:
                raise
            console_err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n"
                "This is a bug in msclab, not a problem with your files. Run again with --debug "
                "and report the traceback.",
                highlight=False,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

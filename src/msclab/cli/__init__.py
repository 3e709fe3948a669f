"""The ``msclab`` command line.

Each command group lives in its own module with a ``register(app)`` function;
:data:`COMMAND_MODULES` lists them in the order ``--help`` shows them. Bad input
never prints a traceback: :class:`~msclab.cli._common.GuardedGroup` turns
:class:`~msclab.errors.MsclabError` into one paragraph on stderr and exit code 2
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import importlib
import sys

import typer

from .. import __version__
from ._common import GuardedGroup, state

COMMAND_MODULES = ("experiment", "simulate", "catalogue", "fcs", "gate", "assay", "batch", "plan")

app = typer.Typer(
    name="msclab",
    cls=GuardedGroup,
    help=(
        "Turn MSC co-culture experiments (FCS files, ELISA and multiplex exports) into "
        "population frequencies, cytokine concentrations and effects, and compare them "
        "with what the literature says MSCs do."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"msclab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the full Python traceback when something fails."),
) -> None:
    """msclab command line."""
    state.debug = debug


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(app)


def main() -> None:
    """Entry point of the ``msclab`` console script."""
    sys.exit(app())


__all__ = ["app", "main"]

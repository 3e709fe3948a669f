"""The ``msclab`` command line.

Each command group lives in its own module with a ``register(app)`` function;
:data:`COMMANDS` names, in the order ``--help`` shows them, the module that
registers each command and the one line ``msclab --help`` prints for it. A
command's module is imported only when that command runs (or its own
``--help`` is asked for), so ``msclab --help`` and ``msclab --version`` load no
analysis code. Bad input never prints a traceback:
:class:`~msclab.cli._common.GuardedGroup` turns
:class:`~msclab.errors.MsclabError` into one paragraph on stderr and exit code 2
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import atexit
import difflib
import importlib
import os
import sys
import threading
from typing import NoReturn

import click
import typer
from typer.core import TyperCommand

from .. import __version__
from ._common import GuardedGroup, _ClickException, state, tidy_help

#: Command -> (module of this package that registers it, its one-line summary in ``msclab --help``).
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("experiment", "Run the whole pipeline: gate, quantify, fit curves, estimate effects, compare with "
                              "the review."),
    "validate": ("experiment", "Check an experiment without computing anything."),
    "init": ("experiment", "Draft experiment.yaml and samplesheet.csv from a folder of instrument files."),
    "simulate": ("simulate", "Write a simulated MSC co-culture study with known truth."),
    "gate": ("gate", "Gate FCS files and write population counts and percentages."),
    "catalogue": ("catalogue", "The catalogue of MSC effects the comparison scores against."),
    "fcs": ("fcs", "Look inside flow cytometry (FCS) files."),
    "assay": ("assay", "Cytokine assays (ELISA, Luminex, Bio-Plex, bead arrays): standard curves and "
                       "concentrations."),
    "review": ("review", "Review every sample's gates in a local web page, and correct them."),
    "plan": ("plan", "Power of `msclab analyze` to call each MSC effect, by donors x ratios x replicates x "
                     "events."),
    "batch": ("batch", "Analyse many experiments (plates, studies) on Dask, resumably, with a run registry."),
}
#: The command modules, each imported on first use.
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def load_command(name: str) -> click.Command:
    """Import the module that registers command ``name`` and return the command as click builds it."""
    module, _ = COMMANDS[name]
    group = typer.Typer(add_completion=False, rich_markup_mode="markdown")
    importlib.import_module(f"{__name__}.{module}").register(group)

    @group.callback()
    def _placeholder() -> None:
        """Keep the registered commands a group."""

    return typer.main.get_command(group).commands[name]


class LazyGroup(GuardedGroup):
    """The root group: commands listed from :data:`COMMANDS`, their modules imported on first use."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: D102 - click API
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: D102 - click API
        if cmd_name not in COMMANDS:
            return None
        if self._listing:
            summary = COMMANDS[cmd_name][1]
            return TyperCommand(cmd_name, help=summary, short_help=summary)
        if cmd_name not in self.commands:
            command = load_command(cmd_name)
            tidy_help(command)
            self.commands[cmd_name] = command
        return self.commands[cmd_name]

    def resolve_command(self, ctx: click.Context, args: list[str]):  # noqa: D102 - click API
        try:
            return super().resolve_command(ctx, args)
        except _ClickException as exc:  # the click that typer uses (it may bundle its own)
            matches = difflib.get_close_matches(args[0], list(COMMANDS)) if args else []
            if matches and exc.message.startswith("No such command") and "Did you mean" not in exc.format_message():
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:  # noqa: D102 - click API
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

app = typer.Typer(
    name="msclab",
    cls=LazyGroup,
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



def main() -> None:
    """Entry point of the ``msclab`` console script.

    When the command has finished, its exit handlers run and the process
    ends at once (:func:`_leave`): tearing down the interpreter, which frees
    every object of pandas, matplotlib and scipy one by one, took half a
    second after ``msclab analyze`` and changes nothing on disk.
    """
    try:
        app()
    except SystemExit as exc:
        _leave(exc.code)
    _leave(0)


def _leave(code: object) -> NoReturn:
    """Exit with ``code`` (as :func:`sys.exit`) after the exit handlers, without the interpreter's teardown.

    Only when nothing else runs: with another thread alive (whose end the
    interpreter would wait for) or without CPython's exit-handler runner,
    the exit is the normal one.
    """
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_handlers is None or threading.active_count() > 1:
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more can be written there
            pass
    os._exit(code or 0)


__all__ = ["COMMANDS", "app", "load_command", "main"]

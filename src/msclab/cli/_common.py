"""What every command shares: the error guard, the consoles, exit codes.

Exit codes (``docs/guarantees.md``): 0 all analysed, 1 some samples failed,
2 bad input or usage (nothing was done), 3 a bug in msclab, 130 interrupted.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperGroup, TyperOption

from ..errors import MsclabError

try:  # recent typer bundles its own copy of click
    from typer._click.exceptions import ClickException as _ClickException
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import ClickException as _ClickException

#: Exit codes of every command (design contract); 3 marks a bug in msclab itself.
EXIT_OK, EXIT_SAMPLES_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
#: Exit code after Ctrl-C (128 + SIGINT, the shell convention).
EXIT_INTERRUPTED = 130


class _Console(Console):
    """A console that wraps lines only on a terminal.

    Written to a file or a pipe, a message stays one line per paragraph so a
    path in it can be grepped and copied; on a terminal long words (paths) are
    never folded or cropped.
    """

    @property
    def soft_wrap(self) -> bool:  # noqa: D102 - rich API
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        pass  # decided by the output, not at construction

    def print(self, *objects, keep: Sequence[str] = (), **kwargs) -> None:
        """Print as rich does, never cropping a long word; ``keep``: strings (paths) never split on a terminal."""
        kwargs.setdefault("overflow", "ignore")
        kwargs.setdefault("crop", False)
        if keep and self.is_terminal and len(objects) == 1 and isinstance(objects[0], str):
            objects = (wrap_keeping(objects[0], self.width, keep),)
            kwargs["soft_wrap"] = True
        super().print(*objects, **kwargs)


console = _Console()
console_err = _Console(stderr=True)


@dataclass
class _State:
    debug: bool = False
    #: Whether rerunning the interrupted command resumes it (``msclab batch``).
    resumable: bool = False
    #: Whether a Ctrl-C has reached the command's code (then a later one swallowed in a finaliser is not re-raised).
    interrupt_seen: bool = False


state = _State()


def wrap_keeping(text: str, width: int, keep: Sequence[str] = (), first: int = 0, indent: str = "") -> str:
    """Wrap ``text`` at spaces to ``width`` columns, never inside a word or a string of ``keep``.

    Parameters
    ----------
    text
        Lines (each wrapped on its own).
    width
        Columns of the terminal.
    keep
        Strings never split across lines, spaces included (file paths); one
        longer than ``width`` stands alone on its line, whole.
    first
        Columns already taken on the first line (a label printed before).
    indent
        Put before every line but the first.
    """
    marks = {f"\x00{k}\x00": item for k, item in enumerate(sorted({str(p) for p in keep if p}, key=len, reverse=True))}
    for mark, item in marks.items():
        text = text.replace(item, mark)
    out = []
    for n, line in enumerate(text.split("\n")):
        rows: list[str] = []
        current, room = "", width - (first if n == 0 else 0)
        for word in line.split(" "):
            size = len(_restore(word, marks))
            if current and len(_restore(current, marks)) + 1 + size > room:
                rows.append(current)
                current, room = word, width - len(indent)
            else:
                current = f"{current} {word}" if current else word
        rows.append(current)
        out.append(f"\n{indent}".join(rows))
    return _restore(f"\n{indent}".join(out), marks)


def print_problem(problem: object) -> None:
    """Print one item of a list of problems on stderr (``  - ...``), wrapped like :func:`print_error`."""
    text = str(problem)
    if console_err.is_terminal:
        file = getattr(problem, "file", None)
        text = wrap_keeping(text, console_err.width, [str(file)] if file is not None else [], first=4, indent="    ")
    console_err.print(f"  - {text}", markup=False, highlight=False, soft_wrap=True)


def _restore(text: str, marks: dict[str, str]) -> str:
    for mark, item in marks.items():
        text = text.replace(mark, item)
    return text


def print_error(message: str, *, label: str = "error", keep: Sequence[str] = ()) -> None:
    """Print one error paragraph on stderr (no markup interpretation of the message).

    Written to a file or a pipe it is one line per paragraph; on a terminal it
    is wrapped at spaces, never inside a word or a path of ``keep`` (the file
    an error names), so a path can be copied whole.
    """
    console_err.print(f"[bold red]{label}:[/] ", end="", highlight=False)
    if console_err.is_terminal:
        message = wrap_keeping(message, console_err.width, keep, first=len(label) + 2)
    console_err.print(message, markup=False, highlight=False, soft_wrap=True)


def _is_cli_signal(exc: BaseException) -> bool:
    """True for the usage errors and exits click raises (typer may bundle its own click)."""
    if isinstance(exc, (typer.Exit, typer.Abort)):
        return True
    module = type(exc).__module__ or ""
    return hasattr(exc, "exit_code") and module.split(".")[0] in ("click", "typer")


def quiet_interrupts() -> None:
    """Make Ctrl-C end a command with one line: silence the noise of workers and finalisers shutting down.

    On SIGINT the Dask/asyncio loggers are muted (their connection errors are
    the consequence of the interrupt, not news) and exceptions raised in
    finalisers or exit callbacks (e.g. a cluster closing while its workers
    start) are not printed; then ``KeyboardInterrupt`` reaches
    :class:`GuardedGroup`, which prints one line and exits 130. The atomic
    output writers (``msclab._files``) never leave a half-written file.
    """
    import _thread
    import logging
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def hook(unraisable) -> None:
        """After Ctrl-C, errors of objects and atexit callbacks shutting down are its consequence: not shown.

        The interrupt itself, when the signal arrived while a finaliser ran (Python
        cannot raise it from there and the command would carry on), is signalled
        again from a timer thread, so that it reaches the main code once the
        finaliser has returned.
        """
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            timer = threading.Timer(0.05, signal_again)
            timer.daemon = True
            timer.start()

    def signal_again() -> None:
        if not state.interrupt_seen:  # not while the command is already ending on the first one
            _thread.interrupt_main()

    def on_interrupt(signum, frame) -> None:
        for name in ("distributed", "tornado", "asyncio", "bokeh"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        sys.unraisablehook = hook
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)


def interrupted_message(resumable: bool = False) -> str:
    """The one line printed after Ctrl-C."""
    return "interrupted; rerun the same command to resume" if resumable else "interrupted; no output was left half-written"


class GuardedGroup(TyperGroup):
    """The root command group: bad input becomes one paragraph and exit code 2.

    No Python traceback reaches a user for bad input, a usage mistake or Ctrl-C;
    ``--debug`` shows it. Usage mistakes (unknown command or option, a missing
    or out-of-range value) keep click's usage message and exit code 2; only an
    unexpected exception is reported as a bug (exit code 3).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        tidy_help(self)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: D102
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _ClickException as exc:
            sys.exit(_show_usage_error(exc))
        except typer.Abort:
            state.interrupt_seen = True
            print_error(interrupted_message(), label="interrupted")
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)

    def invoke(self, ctx):  # noqa: D102 - click API
        try:
            return super().invoke(ctx)
        except MsclabError as exc:
            if state.debug:
                console_err.print(traceback.format_exc(), markup=False, highlight=False)
            print_error(str(exc), keep=[str(exc.file)] if exc.file is not None else [])
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            state.interrupt_seen = True
            if state.debug:
                raise
            print_error(interrupted_message(state.resumable), label="interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if _is_cli_signal(exc) or state.debug:
                raise
            print_error(f"{type(exc).__name__}: {exc}\nThis is a bug in msclab, not a problem with your files. "
                        "Run again with --debug and report the traceback.", label="internal error")
            raise typer.Exit(EXIT_INTERNAL) from None


def _show_usage_error(exc) -> int:
    """Print a usage mistake as click does (usage line, hint, message) without wrapping; return the exit code."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group without its subcommand: its help was printed
        return EXIT_BAD_INPUT
    if ctx is not None:
        typer.echo(ctx.get_usage(), err=True)
        typer.echo(f"Try '{ctx.command_path} --help' for help.", err=True)
    print_error(exc.format_message().replace("Value error, ", ""))
    return exc.exit_code


def tidy_help(group) -> None:
    """Make ``--help`` show ``--plots/--no-plots`` flags without a type and lists as ``PATH...``."""
    for command in getattr(group, "commands", {}).values():
        tidy_help(command)
    for param in getattr(group, "params", []):
        _tidy_param(param)
    original = group.get_help_option

    def get_help_option(ctx):
        option = original(ctx)
        if option is not None:
            _tidy_param(option)
        return option

    group.get_help_option = get_help_option


def _tidy_param(param) -> None:
    if isinstance(param, TyperOption) and param.is_flag:
        param.display_type_rich = lambda ctx: None
        return
    if not isinstance(param, (TyperOption, TyperArgument)):
        return
    annotation = getattr(param.type_descriptor, "annotation", None)
    if param.type_descriptor.is_list:
        element = (getattr(annotation, "__args__", None) or (str,))[0]
        name = "PATH" if element is Path else getattr(element, "__name__", "VALUE").upper()
        shown = f"{name}..." if isinstance(param, TyperArgument) else f"{name} (repeatable)"
        param.display_type_rich = lambda ctx, shown=shown: shown


@contextmanager
def step_display(console: Console, first: str) -> Iterator[Callable[[str], None]]:
    """Show the current step on one live line, redrawn only when the step changes.

    No refresh thread runs (rich's spinner animates from one): with a second
    thread alive the process may not fork (:func:`msclab._parallel.fork_context`),
    so an animated display in a terminal would leave the gate plots, curve fits
    and mixture fits on one core.

    Parameters
    ----------
    console
        Where to draw (a terminal; piped output shows nothing extra).
    first
        The text shown until the first step arrives.

    Yields
    ------
    A function that shows a new step.
    """
    from rich.live import Live
    from rich.text import Text

    def line(text: str) -> Text:
        return Text(text, no_wrap=True, overflow="ellipsis")

    with Live(line(first), console=console, auto_refresh=False, transient=True) as live:
        yield lambda step: live.update(line(step), refresh=True)

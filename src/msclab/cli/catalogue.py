"""``msclab catalogue``: list and show the effects catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..catalogue import load_catalogue
from ..catalogue.model import Catalogue, Effect
from ..errors import MsclabError
from ._common import console

_EXTRA = typer.Option(None, "--extra", help="A local catalogue YAML that adds or overrides entries.")


def _row(entry: Effect) -> dict[str, object]:
    return {
        "id": entry.id,
        "label": entry.label,
        "category": entry.category,
        "readout_type": entry.readout_type,
        "expected": entry.expected,
        "evidence": entry.evidence,
        "conflicting": entry.conflicting,
        "contexts": {name: ctx.direction for name, ctx in entry.contexts.items()},
    }


def _show_text(entry: Effect, catalogue: Catalogue) -> None:
    console.print(f"[bold]{entry.id}[/]  {entry.label}", highlight=False)
    for name, value in (
        ("target", entry.target),
        ("category", entry.category),
        ("readout type", entry.readout_type),
        ("markers", entry.markers),
        ("metric", entry.metric),
        ("expected", f"{entry.expected} (evidence {entry.evidence})"),
        ("conflicting evidence", "yes" if entry.conflicting else "no"),
    ):
        console.print(f"  {name}: {value}", highlight=False, markup=False, soft_wrap=True)
    console.print("  by context:", highlight=False)
    for name, ctx in entry.contexts.items():
        console.print(f"    {name}: {ctx.direction} ({ctx.evidence}) [{', '.join(ctx.refs)}]", markup=False, highlight=False, soft_wrap=True)
        if ctx.note:
            console.print(f"      {ctx.note}", markup=False, highlight=False, soft_wrap=True)
    for name, value in (
        ("conflict notes", entry.conflict_notes),
        ("mechanisms", ", ".join(entry.mechanisms)),
        ("modifiers", ", ".join(entry.modifiers)),
        ("magnitude", entry.magnitude.summary if entry.magnitude else ""),
    ):
        if value:
            console.print(f"  {name}: {value}", highlight=False, markup=False, soft_wrap=True)
    console.print("  references:", highlight=False)
    for line in catalogue.citations(entry.cited_keys()):
        console.print(f"    {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        "  [unverified] = cited from background knowledge, not checked against the source.",
        markup=False,
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``msclab catalogue list`` and ``msclab catalogue show`` to ``app``."""
    group = typer.Typer(help="The catalogue of MSC effects the comparison scores against.", no_args_is_help=True)

    @group.command("list")
    def list_(
        category: str = typer.Option(None, "--category", help="Only entries of this category (e.g. t_cell)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
        extra: Path = _EXTRA,
    ) -> None:
        """List the catalogue's entries."""
        catalogue = load_catalogue(extra)
        entries = catalogue.entries(category)
        if category and not entries:
            categories = sorted({e.category for e in catalogue.entries()})
            raise MsclabError(f"no entries of category {category!r}", hint=f"Use one of: {', '.join(categories)}.")
        if as_json:
            typer.echo(json.dumps([_row(e) for e in entries], indent=2))
            return
        table = Table(title=f"msclab effects catalogue {catalogue.catalogue_version} ({len(entries)} entries)")
        for column in ("id", "label", "category", "expected", "evidence", "conflicting"):
            table.add_column(column, no_wrap=column == "id")
        for e in entries:
            table.add_row(e.id, e.label, e.category, e.expected, e.evidence, "yes" if e.conflicting else "")
        console.print(table)

    @group.command("show")
    def show(
        effect_id: str = typer.Argument(..., metavar="ID", help="Catalogue id, e.g. treg_frequency."),
        as_json: bool = typer.Option(False, "--json", help="Print the entry and its citations as JSON."),
        extra: Path = _EXTRA,
    ) -> None:
        """Show one entry with its directions by context and full citations."""
        catalogue = load_catalogue(extra)
        entry = catalogue.get(effect_id)
        if as_json:
            data = entry.model_dump(mode="json", exclude_none=True)
            data["citations"] = {k: catalogue.references[k].citation() for k in entry.cited_keys()}
            typer.echo(json.dumps(data, indent=2))
            return
        _show_text(entry, catalogue)

    app.add_typer(group, name="catalogue")

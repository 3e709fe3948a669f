"""``msclab review``: the gate review page."""

from __future__ import annotations

from pathlib import Path

import typer


def review(
    out: Path = typer.Argument(..., help="An msclab analyze or batch output folder."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL but do not open a browser."),
    export_wsp: bool = typer.Option(False, "--export-wsp",
                                    help="Write OUT/gates/<panel>.wsp (FlowJo workspaces of the gates) and exit."),
) -> None:
    """Review every sample's gates in a local web page, and correct them.

    Serves a page on 127.0.0.1 only (a random token in the printed URL) with every
    sample x gate of each panel as a density plot with its gate, coloured by the gate's
    confidence (OUT/gate_qc.csv), sortable by confidence and by distance from the
    group's median frequency. Edit a gate (threshold, rectangle edges, polygon
    vertices) or apply one sample's gate to others; saving writes
    gates/overrides/<panel>/<sample_id>.xml beside experiment.yaml, which the next
    msclab analyze or batch uses. Ctrl-C stops the server (exit 0).

    --export-wsp writes one FlowJo workspace per panel instead of serving the page
    (analyze writes them itself; this is for batch folders and older outputs).
    """
    from ..errors import MsclabError
    from ..review.data import ReviewStudy
    from ..review.server import ReviewServer

    if export_wsp:
        from ..review.export import export_workspaces

        for panel, path in export_workspaces(out).items():
            typer.echo(f"FlowJo workspace ({panel}): {path}")
        return
    study = ReviewStudy(out)
    try:
        server = ReviewServer(study, port=port)
    except OSError as exc:
        raise MsclabError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror})",
                          hint="Pick another --port, or 0 for a free one.") from None
    try:
        typer.echo(f"Review page: {server.url}")
        typer.echo("Press Ctrl-C to stop.")
        if not no_browser:
            import webbrowser

            webbrowser.open(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("Review server stopped.")
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    """Add ``msclab review`` to the app."""
    app.command("review")(review)

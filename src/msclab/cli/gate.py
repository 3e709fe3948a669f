"""``msclab gate``: apply a GatingML 2.0, FlowJo or msclab protocol gating strategy to FCS files."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import EXIT_SAMPLES_FAILED, console, console_err


def gate(
    fcs: list[Path] = typer.Argument(..., help="FCS files to gate (the sample id is the file name)."),
    strategy: Path = typer.Option(..., "--strategy", "-s",
                                  help="GatingML 2.0 XML, FlowJo .wsp, or an msclab protocol (YAML file or built-in name)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    events: bool = typer.Option(False, "--events", help="Also write per-event membership (Parquet) per sample."),
    experiment: Path | None = typer.Option(
        None, "--experiment", help="experiment.yaml whose samplesheet describes the files (donor, controls), so "
                                   "protocol thresholds can come from each donor's FMO or unstimulated control."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Gate files in at most this many processes (default: one per usable core; "
                                       "1: in this process). Results are the same either way."),
) -> None:
    """Gate FCS files and write population counts and percentages.

    Writes OUT/populations.csv (sample_id, population = full gate path, parent,
    gate_id, gate_type, count, parent_count, pct_parent, pct_total; for a FlowJo
    workspace also flowjo_count, the count FlowJo saved) and
    OUT/provenance.json; with --events, OUT/events/SAMPLE.parquet (SAMPLE = the FCS file name) with one
    boolean column per gate id. Compensation and transforms are those the
    strategy names (GatingML 'FCS' = the file's spillover keyword). A sample
    that cannot be read or gated is listed (OUT/failed_samples.csv) and the
    others go on; the exit code is then 1.

    An msclab protocol (docs/protocols.md) is data-driven: its gates are fitted
    on the given files together (markers from $PnS) and each file's resolved
    gates are recorded in provenance.json. Thresholds that need an FMO or
    unstimulated control of the same donor need the experiment's samplesheet:
    run those through 'msclab analyze'.
    """
    import pandas as pd

    from .._files import atomic_path, atomic_write
    from ..flow.gating import flowjo_counts
    from ..flow.source import read_strategy
    from ..flow.gating.run import gate_files, populations_table
    from ..flow.transforms import transform_params
    from ..provenance import Provenance

    prov = Provenance(command="gate", parameters={"strategy": str(strategy), "fcs": [str(p) for p in fcs],
                                                  "out": str(out), "events": events})
    info = {}
    if experiment is not None:
        from ..experiment import read_experiment

        sheet = read_experiment(experiment).files()
        info = {Path(row["file"]).name: row for row in sheet.to_dict("records")}
    plan = read_strategy(strategy, fcs, info)
    if strategy.is_file():
        prov.add_input(strategy, role="strategy")

    def write_events(record, result) -> None:
        with atomic_path(out / "events" / f"{record.sample_id}.parquet") as tmp:
            result.events_frame().to_parquet(tmp, index=False)

    records = gate_files(fcs, plan, on_result=write_events if events else None, n_jobs=workers)
    for record in records:
        if record.path.is_file():
            prov.add_input(record.path, role="fcs")
        for note in record.leniencies:
            prov.add_leniency(record.path, note)
    table = populations_table(records)
    if plan.kind == "flowjo":  # FlowJo's own counts beside msclab's, for comparison
        table = table.merge(flowjo_counts(strategy).rename(columns={"count": "flowjo_count"}),
                            on=["sample_id", "population"], how="left")
    with atomic_write(out / "populations.csv", newline="") as handle:
        table.to_csv(handle, index=False)
    failed = [r for r in records if r.error is not None]
    if failed:
        with atomic_write(out / "failed_samples.csv", newline="") as handle:
            pd.DataFrame({"sample_id": [r.sample_id for r in failed], "path": [str(r.path) for r in failed],
                          "reason": [r.error for r in failed]}).to_csv(handle, index=False)
    prov.steps["strategy"] = {
        "kind": plan.kind,
        "trees": {
            sample: {
                "populations": [{"id": pid, "path": tree.path(pid), "gate_type": type(pop.gate).__name__,
                                 "dimensions": [vars(d) for d in pop.shape.dimensions]}
                                for pid, pop in tree.populations.items()],
                "transforms": transform_params(tree.transforms),
                "matrices": {mid: {"source": m.source, "detectors": list(m.detectors)} for mid, m in tree.matrices.items()},
            }
            for sample, tree in plan.trees.items()
        },
    }
    prov.steps["samples"] = [{"sample_id": r.sample_id, "status": "failed" if r.error else "ok",
                              "reason": r.error, "fcs_spillover": r.spillover} for r in records]
    prov.write(out / "provenance.json")
    done = len(records) - len(failed)
    console.print(f"Gated {done} of {len(records)} sample(s) -> {out / 'populations.csv'}")
    if failed:
        console_err.print(f"[bold red]{len(failed)} sample(s) failed[/] (listed in {out / 'failed_samples.csv'}):")
        for record in failed:
            console_err.print(f"  - {record.sample_id}: {record.error}", markup=False, highlight=False)
        raise typer.Exit(EXIT_SAMPLES_FAILED)


def register(app: typer.Typer) -> None:
    """Add ``msclab gate`` to ``app``."""
    app.command("gate")(gate)

"""The run registry: ``OUT/runs.sqlite`` (stdlib sqlite3, WAL mode, written by the client only).

Tables
------
``runs``
    One row per ``msclab batch`` run: id, start and end, status, command line,
    msclab version, scheduler, workers, and counts.
``plates``
    One row per run and experiment (plate or study): manifest, input hash
    (the assemble key), status, reason, timings, QC summary (JSON), output
    paths (JSON).
``samples``
    One row per run and unit: a flow sample of a panel (``stage`` =
    ``flow:<panel>``) or an assay plate (``assay:<id>``, empty ``sample_id``):
    input hash (cache key), status (``ok``/``failed``), reason, whether it was
    computed in this run or taken from the cache, timings, worker, QC summary
    (JSON) and the cached result's path.
"""

from __future__ import annotations

import json
import sqlite3
import time
from os import PathLike
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started REAL, finished REAL, status TEXT, command TEXT, msclab_version TEXT,
    scheduler TEXT, workers INTEGER, n_plates INTEGER, n_units INTEGER, n_computed INTEGER, n_cached INTEGER,
    n_failed INTEGER);
CREATE TABLE IF NOT EXISTS plates (
    run_id TEXT, plate TEXT, manifest TEXT, input_hash TEXT, status TEXT, reason TEXT, started REAL,
    finished REAL, seconds REAL, n_units INTEGER, n_failed INTEGER, qc TEXT, outputs TEXT,
    PRIMARY KEY (run_id, plate));
CREATE TABLE IF NOT EXISTS samples (
    run_id TEXT, plate TEXT, stage TEXT, sample_id TEXT, input_hash TEXT, status TEXT, reason TEXT,
    computed INTEGER, started REAL, finished REAL, seconds REAL, worker TEXT, qc TEXT, output TEXT,
    PRIMARY KEY (run_id, plate, stage, sample_id));
"""


class Registry:
    """Read and write ``runs.sqlite``.

    Parameters
    ----------
    path
        The database file (created with its tables when missing).
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def start_run(self, run_id: str, command: str, version: str, scheduler: str, workers: int) -> None:
        """Record a run as started."""
        with self.db:
            self.db.execute("INSERT INTO runs (run_id, started, status, command, msclab_version, scheduler, workers) "
                            "VALUES (?, ?, 'running', ?, ?, ?, ?)", (run_id, time.time(), command, version, scheduler,
                                                                     workers))

    def finish_run(self, run_id: str, status: str) -> None:
        """Record a run's end, status and counts; an interrupted run's unfinished plates become interrupted too."""
        with self.db:
            if status == "interrupted":
                self.db.execute("UPDATE plates SET status = 'interrupted', reason = 'the run was interrupted' "
                                "WHERE run_id = ? AND status = 'running'", (run_id,))
            self.db.execute(
                "UPDATE runs SET finished = ?, status = ?, "
                "n_plates = (SELECT COUNT(*) FROM plates WHERE run_id = ?), "
                "n_units = (SELECT COUNT(*) FROM samples WHERE run_id = ?), "
                "n_computed = (SELECT COUNT(*) FROM samples WHERE run_id = ? AND computed = 1), "
                "n_cached = (SELECT COUNT(*) FROM samples WHERE run_id = ? AND computed = 0), "
                "n_failed = (SELECT COUNT(*) FROM samples WHERE run_id = ? AND status = 'failed') "
                "WHERE run_id = ?", (time.time(), status, *([run_id] * 6)))

    def plate(self, run_id: str, plate: str, manifest: str, input_hash: str | None, status: str,
              reason: str | None = None, *, started: float | None = None, finished: float | None = None,
              n_units: int = 0, n_failed: int = 0, qc: Any = None, outputs: Any = None) -> None:
        """Insert or update a plate (experiment) of a run."""
        seconds = finished - started if started is not None and finished is not None else None
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO plates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, plate, manifest, input_hash, status, reason, started, finished, seconds, n_units, n_failed,
                 json.dumps(qc, default=str) if qc is not None else None,
                 json.dumps(outputs, default=str) if outputs is not None else None))

    def units(self, run_id: str, plate: str, units: list[dict[str, Any]], *, started: float | None,
              finished: float | None, worker: str) -> None:
        """Record units (task summaries' ``units``) of a plate."""
        n = max(len(units), 1)
        seconds = (finished - started) / n if started is not None and finished is not None else None
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, plate, u["stage"], u["sample_id"], u["key"], u["status"], u["reason"], int(u["computed"]),
                  started, finished, seconds if u["computed"] else None, worker, json.dumps(u["qc"], default=str),
                  u["output"]) for u in units])

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first."""
        return [dict(r) for r in self.db.execute("SELECT * FROM runs ORDER BY started")]

    def plates(self, run_id: str) -> list[dict[str, Any]]:
        """The plates of a run."""
        return [dict(r) for r in self.db.execute("SELECT * FROM plates WHERE run_id = ? ORDER BY rowid", (run_id,))]

    def samples(self, run_id: str) -> list[dict[str, Any]]:
        """The units of a run."""
        return [dict(r) for r in self.db.execute("SELECT * FROM samples WHERE run_id = ? ORDER BY rowid", (run_id,))]

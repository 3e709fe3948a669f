"""Many experiments on Dask, resumable, with a run registry (``msclab batch``).

Each experiment is split into flow tasks (samples that share controls),
per-plate assay tasks and one assemble task (:mod:`~msclab.batch.plan`); results are cached on disk by
content hash (:mod:`~msclab.batch.cache`), so a rerun skips what is done;
:mod:`~msclab.batch.execute` runs the tasks serially or on dask.distributed;
every run is recorded in ``OUT/runs.sqlite`` (:mod:`~msclab.batch.registry`);
control samples and standard curves are tracked across plates on
Levey-Jennings charts (:mod:`~msclab.batch.qc`, ``OUT/batch_report.html``).
See ``docs/batch.md``.
"""

from .registry import Registry
from .run import BatchResult, run_batch

__all__ = ["BatchResult", "Registry", "run_batch"]

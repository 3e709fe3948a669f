"""Coverage-guided fuzzing of msclab's FCS reader with atheris (libFuzzer) for a fixed time.

The contract under test (docs/guarantees.md): any byte string given to
``msclab.io.read_fcs`` is read, or refused with ``msclab.errors.MsclabError``;
anything else is a crash, which libFuzzer saves as ``crash-<sha1>`` under
``--artifacts``. Contract violations already routed to their owners
(``tests/hardening/_support.py``, ``KNOWN_FINDINGS``) are tolerated so a run
explores past them; pass ``--strict`` to stop on them too. Each input gets
``--input-timeout`` seconds and the process ``--rss-limit-mb`` of memory, so a
hang or a huge allocation (a declared ``$TOT`` of 10^12) is a finding as well.

Usage::

    pip install atheris
    python benchmarks/fuzz_fcs.py --seconds 300            # seeds: example_data + ../shared/data
    python benchmarks/fuzz_fcs.py --seconds 60 --strict --artifacts /tmp/fcs-crashes

Turn every crash into a regression test in ``tests/hardening/test_fuzz_fcs.py``
(smallest input, generated in the test or stored under ``tests/hardening/corpus/``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MSCLAB_SHARED_DATA", REPO.parent / "shared" / "data"))
#: Largest seed copied into the corpus (bigger files make each run slow without adding coverage).
MAX_SEED_BYTES = 400_000

with atheris.instrument_imports(include=["msclab"]):
    from msclab.errors import MsclabError
    from msclab.io.fcs import read_fcs


def _support():
    """The hardening tests' helpers (known findings), imported from their file."""
    spec = importlib.util.spec_from_file_location("hardening_support", REPO / "tests" / "hardening" / "_support.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def seed_corpus(folder: Path) -> int:
    """Copy the small FCS files of example_data and ../shared/data into ``folder``; return how many."""
    candidates = [*sorted((REPO / "example_data" / "fcs").glob("*.fcs"))[:3]]
    if SHARED.is_dir():
        candidates += [p for p in sorted(SHARED.rglob("*")) if p.is_file() and p.suffix.lower() in
                       {".fcs", ".lmd", ".001", ".002", ".b08"} and p.stat().st_size <= MAX_SEED_BYTES]
    folder.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(candidates):
        shutil.copyfile(path, folder / f"seed_{i:03d}{path.suffix.lower()}")
    return len(candidates)


def make_target(scratch: Path, strict: bool):
    """The libFuzzer callback: write the bytes to a file, read it, allow only MsclabError."""
    known = None if strict else _support().known_finding
    target = scratch / "input.fcs"

    def test_one_input(data: bytes) -> None:
        target.write_bytes(data)
        try:
            read_fcs(target)
        except MsclabError:
            pass
        except Exception as exc:
            if known is None or known(exc) is None:
                raise

    return test_one_input


def main(argv: list[str] | None = None) -> None:
    """Parse the options and run libFuzzer for the requested time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=120, help="total fuzzing time (default 120)")
    parser.add_argument("--corpus", type=Path, default=None, help="working corpus folder (default: a temp folder)")
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"),
                        help="where crashing inputs are written (default ./fuzz-artifacts)")
    parser.add_argument("--input-timeout", type=int, default=10, help="seconds one input may take (default 10)")
    parser.add_argument("--rss-limit-mb", type=int, default=2048, help="memory limit of the process (default 2048)")
    parser.add_argument("--strict", action="store_true", help="also stop on the already routed findings")
    args, libfuzzer_args = parser.parse_known_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="msclab-fuzz-"))
    corpus = args.corpus or scratch / "corpus"
    n = seed_corpus(corpus)
    args.artifacts.mkdir(parents=True, exist_ok=True)
    print(f"fuzzing msclab.io.read_fcs for {args.seconds} s from {n} seeds; crashes -> {args.artifacts}/",
          file=sys.stderr)
    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={args.seconds}", f"-timeout={args.input_timeout}",
                   f"-rss_limit_mb={args.rss_limit_mb}", f"-malloc_limit_mb={args.rss_limit_mb}",
                   f"-artifact_prefix={args.artifacts}/", "-print_final_stats=1", *libfuzzer_args],
                  make_target(scratch, args.strict))
    atheris.Fuzz()


if __name__ == "__main__":
    main()

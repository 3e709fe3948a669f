"""File hashes that key the batch cache: computed on threads up front, the same as one at a time."""

from __future__ import annotations

import hashlib
import os
import threading

from msclab.batch.hashing import FileHashes


def test_prefetched_hashes_are_each_files_sha256_and_no_thread_outlives_it(tmp_path):
    files = []
    for i in range(9):
        path = tmp_path / f"f{i}.fcs"
        path.write_bytes(os.urandom(1000 + 300_000 * (i % 3)))
        files.append(path)
    missing = tmp_path / "gone.fcs"
    threads = threading.active_count()
    hashes = FileHashes()
    hashes.prefetch([*files, missing], threads=3)
    assert threading.active_count() == threads  # forking later stays safe (msclab._parallel.fork_context)
    assert len(hashes._seen) == len(files)
    for path in files:
        assert hashes(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert hashes(missing) == "missing"


def test_a_file_changed_after_the_prefetch_is_hashed_again(tmp_path):
    path = tmp_path / "a.fcs"
    path.write_bytes(b"first")
    hashes = FileHashes()
    hashes.prefetch([path])
    path.write_bytes(b"second, longer")
    assert hashes(path) == hashlib.sha256(b"second, longer").hexdigest()

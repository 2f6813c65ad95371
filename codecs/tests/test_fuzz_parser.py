"""CRC-valid mutations reach the parser, the inflaters and libav: only CodecError comes out,
within a memory and a time bound, and value-preserving header edits keep the values.

The CI part of the fuzzer (:mod:`fuzzing`); ``bash dev.sh fuzz`` runs >= 100,000 cases.
"""

from __future__ import annotations

import json
import zlib

import pytest
import xgeo_codecs
from fuzzing import FAILURES, FORMAT_VERSION, Case, Chunk, cases, run_cases, source_chunks

N_CASES = 20_000


@pytest.fixture(scope="module")
def blobs():
    return source_chunks(small=True)


def test_the_fuzzer_knows_the_newest_format():
    # its version edits expect an error above this version and the values below it
    assert FORMAT_VERSION == xgeo_codecs.FORMAT_VERSION


def test_mutations_recompute_the_checksum(blobs):
    todo = cases(blobs, 1, 400)
    for c in todo:
        body, crc = c.data[:-4], int.from_bytes(c.data[-4:], "little")
        assert zlib.crc32(body) == crc
    assert {c.expect for c in todo} == {"same", "error", "any"}
    c = Chunk.split(blobs[1])
    assert c.join() == blobs[1]  # split and join are exact: edits are the only change


def test_crc_valid_mutations_only_raise_codec_error(blobs):
    todo = cases(blobs, 20261203, N_CASES)
    report = run_cases(blobs, todo)
    failures = report["failures"]
    assert not failures, json.dumps(failures[:10], indent=1)
    assert report["cases"] == N_CASES
    assert all(report[k] == 0 for k in FAILURES)
    # the cases reach every outcome: refused, decoded to the original, decoded to other values
    assert report["error"] > 0 and report["same"] > 0 and report["decoded"] > 0
    kinds = set(report["by_kind"])
    assert {"flip-header", "flip-plane", "flip-mask", "flip-residual", "stream-swap",
            "truncate-section", "deep-nesting", "bad-int", "options", "key-order"} <= kinds


def test_memory_limit_hits_are_counted_as_failures(blobs):
    """The child's address-space limit is real: a forged chunk decoded without the size
    check (max_bytes raised to 1 TiB) dies of MemoryError and is reported, not skipped."""
    c = Chunk.split(blobs[12])  # the constant uint16 chunk
    c.meta["shape"] = [1, 40000, 40000]
    c.meta["coded"] = [40000, 40000]
    bomb = Case("bomb", 12, c.join(), "any")
    report = run_cases(blobs, [bomb], max_bytes=1 << 40)
    assert report["memory"] == 1 and report["failures"][0]["outcome"] == "memory"
    assert run_cases(blobs, [bomb])["error"] == 1  # the default limit refuses it

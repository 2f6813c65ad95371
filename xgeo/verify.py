"""Checking every chunk of a Zarr store against what its writer recorded.

A deleted chunk reads back as the fill value with no error, and a changed one may decode
to other values without an error too. The lazy writer (:mod:`xgeo.store`) records the
size and a digest of each chunk object it writes (in the store's array folders once the
write is complete, see :mod:`xgeo.completion`); :func:`verify_store` reads every chunk
object and compares. It reports, one line each, chunks that are missing, changed (size
or digest), present where the writer stored none, or without a record, and a store whose
write is incomplete.

Stores written before chunk records existed, or in memory (without a progress folder),
still verify: then only what can be checked is (every array's metadata reads, which
chunk objects are absent), and the report says so in its notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Any

from .manifest import object_digest

__all__ = ["VerifyReport", "verify_store"]


@dataclass
class VerifyReport:
    """What :func:`verify_store` found.

    Attributes
    ----------
    store
        The store checked.
    problems
        One line per missing or changed chunk (or other defect); empty when all is well.
    notes
        What could not be checked and why (no chunk records...).
    checked
        Number of chunk objects compared with a record.
    """

    store: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def summary(self) -> str:
        """One line: how many chunks were checked and how many problems were found."""
        verdict = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        return (f"{self.store}: {verdict}; {self.checked} chunk(s) checked against their "
                f"records" + (f", {len(self.notes)} note(s)" if self.notes else ""))


def _read(fs: Any, path: str) -> bytes | None:
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        return None


def _check_records(fs: Any, root: str, records: dict[str, Any], report: VerifyReport) -> None:
    for key, expected in sorted(records.items()):
        data = _read(fs, f"{root}/{key}")
        report.checked += 1
        if expected is None:
            if data is not None:
                report.problems.append(
                    f"changed: {key}: present ({len(data)} bytes) where the writer stored no "
                    "chunk (all fill value)")
            continue
        size, digest = expected
        if data is None:
            report.problems.append(f"missing: {key} (written with {size} bytes)")
        elif len(data) != size:
            report.problems.append(f"changed: {key}: {len(data)} bytes, written with {size}")
        elif object_digest(data) != digest:
            report.problems.append(f"changed: {key}: same size, other content (digest "
                                   f"{object_digest(data)[:12]}, written {digest[:12]})")


def _check_metadata_documents(fs: Any, root: str, arrays: dict, report: VerifyReport) -> None:
    """Every array's own metadata document must parse: with consolidated metadata the store
    opens from the copy in its root, and a corrupt one would only fail other readers."""
    import json

    for name in sorted(arrays):
        for doc in ("zarr.json", ".zarray"):
            data = _read(fs, f"{root}/{name}/{doc}")
            if data is None:
                continue
            try:
                json.loads(data)
            except (ValueError, UnicodeDecodeError) as exc:
                report.problems.append(
                    f"unreadable metadata: {name}/{doc} is corrupt (not JSON: {exc})")
            break


def _absent_chunks(fs: Any, root: str, name: str, meta: Any) -> list[str]:
    from .manifest import chunk_keys

    return [k for k in chunk_keys(meta) if not fs.exists(f"{root}/{name}/{k}")]


def verify_store(store: str, storage_options: dict[str, Any] | None = None) -> VerifyReport:
    """Check every chunk of ``store`` against the records of its writer.

    Parameters
    ----------
    store
        Path or fsspec URL of a Zarr store.
    storage_options
        fsspec options for URLs.

    Returns
    -------
    VerifyReport
        ``problems`` (missing/changed chunks, incomplete write) and ``notes``.
    """
    from .errors import DecodeError, IncompleteStoreError
    from .manifest import chunk_keys
    from .store import check_complete, marker_record, store_state

    fs, root = _fs(store, storage_options)
    report = VerifyReport(str(store))
    try:
        check_complete(str(store), storage_options)
    except IncompleteStoreError as exc:
        report.problems.append(f"incomplete: {exc}")
    status, manifest, done = store_state(str(store), storage_options)
    try:
        group = _open_group(store, storage_options)
        arrays = dict(group.arrays())
    except Exception as exc:  # missing or corrupt metadata: nothing else can be read
        report.problems.append(f"unreadable metadata: {DecodeError(str(exc))}")
        return report
    _check_metadata_documents(fs, root, arrays, report)
    if manifest is None:
        report.notes.append("no chunk records (the store was written by another tool, "
                            "appended to, or written before xgeo recorded chunk sizes and "
                            "digests): checked only which chunk "
                            "objects are absent (all fill value, or lost: cannot tell)")
        for name, arr in sorted(arrays.items()):
            absent = _absent_chunks(fs, root, name, arr.metadata)
            if absent:
                report.notes.append(f"{name}: {len(absent)} of {len(chunk_keys(arr.metadata))} "
                                    f"chunk(s) not stored, e.g. {absent[:3]}")
        return report
    covered: set[str] = set()
    _check_records(fs, root, manifest.get("arrays", {}), report)
    covered.update(manifest.get("arrays", {}))
    for name, chunks in sorted(manifest.get("chunks", {}).items()):
        legacy = 0
        for index in product(*(range(len(c)) for c in chunks)):
            marker = f"{name}@{'.'.join(map(str, index)) or '0'}"
            if marker not in done:
                if status == "complete":
                    report.problems.append(f"missing: marker {marker} of a complete write")
                continue
            record = marker_record(str(store), manifest, marker, storage_options)
            if not isinstance(record, dict) or "chunks" not in record:
                legacy += 1
                continue
            _check_records(fs, root, record["chunks"], report)
            covered.update(record["chunks"])
        if legacy:
            report.notes.append(f"{name}: {legacy} block(s) written without chunk records: "
                                "only the absence of their chunk objects is reported")
    for name, arr in sorted(arrays.items()):
        keys = [f"{name}/{k}" for k in chunk_keys(arr.metadata)]
        unrecorded = [k for k in keys if k not in covered]
        if not unrecorded:
            continue
        if name in manifest.get("chunks", {}) or name in {k.split("/", 1)[0] for k in covered}:
            absent = [k for k in unrecorded if not fs.exists(f"{root}/{k}")]
            if absent and status == "complete":
                report.notes.append(f"{name}: {len(absent)} chunk(s) without a record not "
                                    f"stored (fill value, or lost), e.g. {absent[:3]}")
        else:
            report.notes.append(f"{name}: not in the writer's records ({len(keys)} chunk(s) "
                                "unchecked)")
    return report


def _fs(path: str, storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(str(path), **(storage_options or {}))


def _open_group(store: str, storage_options: dict[str, Any] | None) -> Any:
    import zarr

    if storage_options:
        return zarr.open_group(str(store), mode="r", storage_options=storage_options)
    return zarr.open_group(str(store), mode="r")

"""CRC-valid mutations of real chunks and a contained runner for them.

Every mutation recomputes the chunk's CRC-32, so it reaches the header parser, the mask and
residual inflaters and libav instead of stopping at the checksum. Each case says what a
correct reader must do with it (:data:`EXPECT`):

``"same"``  a header-only edit that keeps the values' meaning (encoder name, options,
            quality record, key order, the flags byte before format 8, the header stored
            deflated or not from format 8, a newer format version): the original
            values or a :class:`CodecError`;
``"error"`` a structurally invalid header (wrong type, missing or unknown key, integer
            field out of range, deep nesting, list of the wrong length): CodecError;
``"any"``   anything else (bit flips, stream swaps, truncations with lengths fixed up,
            mappings changed to other finite numbers, i.e. CRC-valid forgeries):
            CodecError, or an array of exactly the announced shape and dtype.

:func:`run_cases` runs the cases in child processes under an address-space limit
(``RLIMIT_AS``) and a per-case alarm, so a crash, hang or memory blow-up is counted and
pinned on its case instead of taking the runner down. ``python fuzzing.py run`` is the long
run behind ``bash dev.sh fuzz`` (it writes ``benchmarks/results/fuzz.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
PREFIX = struct.Struct("<4sBBH")
FORMAT_VERSION = 9  # newest container format xgeo_codecs reads (xgeo_codecs.FORMAT_VERSION)
DEFLATED, DEFLATED_VERSION = 0x01, 8  # flags bit: the header is raw DEFLATE (format 8 on)
EXPECT = ("same", "error", "any")
OUTCOMES = ("error", "same", "decoded", "crash", "hang", "memory", "exception", "wrong")
FAILURES = ("crash", "hang", "memory", "exception", "wrong")


@dataclass
class Case:
    """One mutated chunk: what was done, to which source chunk, and what must come out."""

    kind: str
    source: int
    data: bytes
    expect: str


@dataclass
class Chunk:
    """A chunk split into its parts: header JSON, its sections in order, and their names."""

    version: int
    flags: int
    meta: dict[str, Any]
    sections: list[bytes] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # "mask0", "plane3", "residual"
    deep: int = 0  # the leaf "<deep>" of ``meta`` stands for this many nested lists

    @classmethod
    def split(cls, blob: bytes) -> Chunk:
        _, version, flags, n = PREFIX.unpack_from(blob, 0)
        text = blob[PREFIX.size: PREFIX.size + n]
        if version >= DEFLATED_VERSION and flags & DEFLATED:
            text = zlib.decompress(text, -15)
        meta = json.loads(text)
        off = PREFIX.size + n
        sections, names = [], []
        entries = [(f"mask{i}", e) for i, e in enumerate(meta.get("masks", []))]
        entries += [(f"plane{i}", e) for i, e in enumerate(meta.get("planes", []))]
        if meta.get("residual"):
            entries.append(("residual", meta["residual"]))
        for name, entry in entries:
            sections.append(blob[off: off + entry[0]])
            names.append(name)
            off += entry[0]
        return cls(version, flags, meta, sections, names)

    def entry(self, name: str) -> list[Any]:
        if name == "residual":
            return self.meta["residual"]
        key = "masks" if name.startswith("mask") else "planes"
        return self.meta[key][int(name[len(key) - 1:])]

    def set_section(self, name: str, data: bytes) -> None:
        """Replace a section and fix its length in the header."""
        self.sections[self.names.index(name)] = data
        self.entry(name)[0] = len(data)

    def join(self, body: bytes | None = None, prefix: bytes | None = None) -> bytes:
        if body is None:
            body = json.dumps(self.meta, separators=(",", ":")).encode()
            # written as text: json.dumps itself cannot nest that deep
            body = body.replace(b'"<deep>"', b"[" * self.deep + b"0" + b"]" * self.deep)
            body = stored(body, self.version, self.flags)
        if prefix is None:
            prefix = PREFIX.pack(b"XGVC", self.version, self.flags, len(body) & 0xFFFF)
        return with_crc(prefix + body + b"".join(self.sections))


def stored(body: bytes, version: int, flags: int) -> bytes:
    """Header JSON as a chunk of this version and flags stores it (raw DEFLATE or as is)."""
    if version >= DEFLATED_VERSION and flags & DEFLATED:
        z = zlib.compressobj(9, zlib.DEFLATED, -15)
        return z.compress(body) + z.flush()
    return body


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


# ------------------------------------------------------------------------------ the chunks

def source_chunks(small: bool = True) -> list[bytes]:
    """Real chunks in every mode: FFV1, HEVC lossy, 4:4:4 groups, KLT, max_error/psnr
    (residual), reorder_frames, AV1, VP9, masks (NaN and nodata, deflated and context-coded), constant and all-NaN
    planes, empty; plus (``small=False``) every committed fixture blob."""
    sys.path.insert(0, str(HERE))
    from codec_testdata import EOPATCH, FIXTURES, NRT, raw
    from xgeo_codecs import encode

    b2 = raw(NRT, "B2")
    scl = raw(NRT, "SCL")
    bands = np.stack([raw(NRT, v) for v in ("B2", "B3", "B4", "B8")], axis=1)
    cloudy = np.where(np.isin(scl, [3, 8, 9, 10]), np.nan, b2 / 10000.0).astype(np.float32)
    refl = raw(EOPATCH, "reflectance").astype(np.float32)
    blobs = [
        encode(b2[:6, :48, :40], {"lossless": True, "nodata": int(b2[0, 0, 0])}),
        encode(b2[:6, :64, :64], {"crf": 12}),
        encode(cloudy[:5, :50, :50], {"crf": 20}),
        encode(cloudy[:4, :30, :30], {"lossless": True}),
        encode(cloudy[:16], {"crf": 30}),  # a context-coded mask (format 9)
        encode(bands[:3, :3, :64, :64], {"crf": 16}),  # one 4:4:4 group
        encode(bands[:3, :, :64, :64], {"decorrelate": "klt", "crf": 10}),
        encode(refl[:3, 3, :40, :40], {"max_error": 0.002}),
        encode(refl[:3, 2, :40, :40], {"psnr": 75}),  # beyond the video: a residual
        encode(b2[:5, :64, :64], {"crf": 20, "reorder_frames": True, "nodata": 0}),
        encode(b2[:7, :64, :64], {"crf": 20, "reorder_frames": True, "keyint": 3}),  # groups
        encode(bands[:5, :, :20, :20], {"lossless": True, "keyint": 2}),
        encode(b2[:3, :64, :64], {"codec": "av1"}),
        encode(b2[:3, :32, :32], {"codec": "vp9"}),
        encode(bands[:3, :, :24, :24], {"lossless": True}),  # FFV1 plane prediction
        encode(np.full((3, 5, 5), 7, np.uint16)),
        encode(np.full((2, 3, 16, 16), np.nan, np.float32)),
        encode(np.zeros((0, 4, 4), np.float32)),
    ]
    if not small:
        blobs += [p.read_bytes() for p in sorted(FIXTURES.glob("**/encoded.*.dat"))]
    return blobs


# --------------------------------------------------------------------------- the mutations

_BAD_INT = [float("nan"), float("inf"), -1.5, 1e308, -(2**63), 2**64, "12", None, [], {}, True]
_BAD_ANY = [float("nan"), "x", None, [], {}, True, [[[1]]]]
_INT_FIELDS = ("bit_depth", "frame_axis")
_REQUIRED = ("shape", "dtype", "frame_axis", "masks", "encoder", "family", "bit_depth",
             "coded", "options", "planes")


def _pick(rng: np.random.Generator, seq: Any) -> Any:
    seq = list(seq)
    return seq[int(rng.integers(len(seq)))]


def _paths(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a leaf value of a JSON document."""
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _paths(v, (*path, k))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _paths(v, (*path, i))] or [path]
    return [path]


def _set(obj: Any, path: tuple, value: Any) -> None:
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def _int_leaf(path: tuple) -> bool:
    """Whether the header field at ``path`` must be an integer."""
    if path[0] in ("shape", "frame_order", "groups", "bit_depth", "frame_axis", "coded"):
        return True
    if path[0] in ("masks", "planes") and len(path) == 3 and path[2] == 0:
        return True  # a section length
    return path == ("residual", 0) or path[-1] in ("base", "div", "rbase", "bd", "pred",
                                                    "qlen", "n_exc")


def _field_edit(c: Chunk, rng: np.random.Generator) -> tuple[str, str]:
    """Edit the JSON header of ``c`` in place; returns (kind, expectation)."""
    meta = c.meta
    if not meta.get("planes"):  # an empty chunk: shape and dtype only
        r = int(rng.integers(3))
        if r == 0:
            meta["shape"] = [int(rng.integers(1, 50))] + meta["shape"][1:]
            return "empty-shape", "any"
        if r == 1:
            meta["dtype"] = _pick(rng, ["<f8", "|u1", "<i8", "float", 3])
            return "empty-dtype", "any"
        meta["junk"] = 1
        return "empty-unknown-key", "error"
    r = int(rng.integers(16))
    if r == 0:
        meta["encoder"] = _pick(rng, ["libx265", "ffv1", "x" * 60, "libsvtav1"])
        return "encoder-name", "same"
    if r == 1:
        opts = meta["options"]
        op = int(rng.integers(3))
        if op == 0 or not opts:
            opts[f"k{int(rng.integers(100))}"] = _pick(rng, ["1", "a:b=c", "", "9" * 200])
        elif op == 1:
            opts.pop(_pick(rng, sorted(opts)))
        else:
            opts[_pick(rng, sorted(opts))] = int(rng.integers(-5, 5))
        return "options", "same"
    if r == 2 and c.version >= 2:
        q = meta.setdefault("quality", {})
        op = int(rng.integers(3))
        if op == 0:
            q["psnr"] = float(rng.normal(40, 10))
        elif op == 1:
            meta.pop("quality")
        else:
            q["target"] = {"psnr": 42.0}
        return "quality", "same"
    if r == 3:  # same document, other key order
        keys = list(meta)
        rng.shuffle(keys)
        c.meta = {k: meta[k] for k in keys}
        return "key-order", "same"
    if r == 4:  # a required key deleted
        meta.pop(_pick(rng, _REQUIRED))
        return "delete-required", "error"
    if r == 5:  # a type change / impossible number in an integer field
        paths = [p for p in _paths(meta) if _int_leaf(p)]
        _set(meta, paths[int(rng.integers(len(paths)))], _BAD_INT[int(rng.integers(len(_BAD_INT)))])
        return "bad-int", "error"
    if r == 6:  # any leaf replaced by something of another type
        paths = _paths(meta)
        path = paths[int(rng.integers(len(paths)))]
        value = _BAD_ANY[int(rng.integers(len(_BAD_ANY)))]
        _set(meta, path, value)
        # options, quality record and encoder name do not change what the values mean
        return "type-change", "same" if path[0] in ("options", "quality", "encoder") else "any"
    if r == 7:  # deep nesting somewhere
        depth = int(rng.choice([20, 200, 5000, 30000]))
        path = _paths(meta)[int(rng.integers(len(_paths(meta))))]
        _set(meta, path, "<deep>")
        c.deep = depth
        return "deep-nesting", "error"
    if r == 8:  # a long list
        key = _pick(rng, ["shape", "planes", "masks", "coded", "frame_order"])
        meta[key] = list(meta.get(key) or [1]) * int(rng.integers(5, 3000))
        return "long-list", "any"  # frame_order x5 of a 1-frame chunk may stay valid
    if r == 9:  # huge / negative / non-finite shape
        meta["shape"][int(rng.integers(len(meta["shape"])))] = _pick(rng,
            [40000, 10**6, 2**40, 0, -3])
        return "shape", "any"
    if r == 10:  # a mapping changed to other finite numbers (a CRC-valid forgery)
        m = meta["planes"][int(rng.integers(len(meta["planes"])))][1]
        for k in ("lo", "hi", "v", "add", "mul"):
            if k in m:
                m[k] = float(rng.choice([-1e30, -1.0, 0.0, 1e-30, 3.5, 1e30]))
        if "base" in m:
            m["base"] = int(rng.integers(-70000, 70000))
        return "mapping-values", "any"
    if r == 11:  # planes' mappings swapped / another mapping kind
        planes = meta["planes"]
        i, j = rng.integers(len(planes), size=2)
        planes[i][1], planes[j][1] = planes[j][1], planes[i][1]
        if rng.random() < 0.5:
            planes[i][1] = _pick(rng, [{"k": "const", "v": 1}, {"k": "int", "base": 3},
                                       {"k": "lin", "lo": 0, "hi": 1}, {"k": "zz"}])
        return "other-mapping", "any"
    if r == 12:  # a key renamed to another key of the header
        keys = sorted(meta)
        a, b = rng.choice(keys, 2, replace=False)
        meta[a], meta[b] = meta[b], meta[a]
        return "swapped-keys", "any"
    if r == 13:  # an unknown key
        meta[_pick(rng, ["Shape", "xyz", "masks2", "format_version"])] = 1
        return "unknown-key", "error"
    if r == 14:
        key = _pick(rng, _INT_FIELDS)
        meta[key] = int(rng.choice([-1, 17, 99, 2**31]))
        return "int-range", "error"
    meta.pop(_pick(rng, ["groups", "klt", "frame_order", "residual", "chroma", "quality"]),
             None)
    return "delete-optional", "any"


def _bitflip(blob: bytes, c: Chunk, rng: np.random.Generator) -> tuple[bytes, str]:
    """Flip 1-4 bits inside one section (prefix, header, a mask, a plane, the residual)."""
    n = PREFIX.unpack_from(blob, 0)[3]
    spans = [("prefix", 4, PREFIX.size), ("header", PREFIX.size, PREFIX.size + n)]
    off = PREFIX.size + n
    for name, s in zip(c.names, c.sections, strict=True):
        if s:
            spans.append((name.rstrip("0123456789"), off, off + len(s)))
        off += len(s)
    name, lo, hi = spans[int(rng.integers(len(spans)))]
    m = bytearray(blob[:-4])
    for _ in range(int(rng.integers(1, 5))):
        pos = int(rng.integers(lo, hi))
        m[pos] ^= 1 << int(rng.integers(8))
    return with_crc(bytes(m)), f"flip-{name}"


def mutate(blobs: list[bytes], i: int, rng: np.random.Generator) -> Case:
    """The ``i``-th case: one mutation of a source chunk chosen by ``rng``."""
    src = int(rng.integers(len(blobs)))
    blob = blobs[src]
    c = Chunk.split(blob)
    r = i % 8
    if r in (0, 1):
        data, kind = _bitflip(blob, c, rng)
        return Case(kind, src, data, "any")
    if r in (2, 3, 4):
        kind, expect = _field_edit(c, rng)
        return Case(kind, src, c.join(), expect)
    if r == 5 and c.sections:  # stream swaps between planes or with another chunk
        name = c.names[int(rng.integers(len(c.names)))]
        other = Chunk.split(blobs[int(rng.integers(len(blobs)))])
        pool = [s for s in other.sections if s] or [b""]
        c.set_section(name, pool[int(rng.integers(len(pool)))])
        return Case("stream-swap", src, c.join(), "any")
    if r == 6 and c.sections:  # a section truncated (or extended), its length fixed up
        name = c.names[int(rng.integers(len(c.names)))]
        s = c.sections[c.names.index(name)]
        cut = int(rng.integers(0, len(s) + 1)) if rng.random() < 0.8 else len(s) + 7
        c.set_section(name, s[:cut] + (b"\x00" * 7 if cut > len(s) else b""))
        return Case("truncate-section", src, c.join(), "any")
    # prefix edits: flags byte, format version, a header length that lies
    body = json.dumps(c.meta, separators=(",", ":")).encode()
    op = int(rng.integers(3))
    if op == 0:
        # before format 8 the byte is reserved (ignored); from 8 on bit 0 says how the header
        # is stored (either way reads the same) and any other bit is refused
        flags = int(rng.integers(0, 256))
        body = stored(body, c.version, flags)
        prefix = PREFIX.pack(b"XGVC", c.version, flags, len(body))
        expect = "same" if c.version < DEFLATED_VERSION or flags in (0, DEFLATED) else "error"
        return Case("flags", src, c.join(body, prefix), expect)
    if op == 1:
        v = int(rng.integers(0, FORMAT_VERSION + 3))
        flags = c.flags if v >= DEFLATED_VERSION else 0
        body = stored(body, v, flags)
        prefix = PREFIX.pack(b"XGVC", v, flags, len(body))
        expect = ("same" if FORMAT_VERSION >= v >= c.version
                  else "error" if v == 0 or v > FORMAT_VERSION else "any")
        return Case("version", src, c.join(body, prefix), expect)
    body = stored(body, c.version, c.flags)
    prefix = PREFIX.pack(b"XGVC", c.version, c.flags,
                         max(0, min(0xFFFF, len(body) + int(rng.integers(-20, 20)))))
    return Case("header-length", src, c.join(body, prefix), "any")


def cases(blobs: list[bytes], seed: int, n: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        case = mutate(blobs, i, rng)
        if case.data == blobs[case.source]:  # an edit that changed nothing
            case.expect = "same"
        out.append(case)
    return out


# ------------------------------------------------------------------------------ the runner

def _worker(case_file: str, result_file: str, start: int, mem_limit: int, case_timeout: int,
            max_bytes: int) -> None:
    """Child: run cases from ``start`` on, one line per case started and finished."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))
    with open(case_file, "rb") as f:
        blobs, todo = pickle.load(f)
    from xgeo_codecs import CodecError, chunk_info, decode

    refs: dict[int, np.ndarray] = {}
    with open(result_file, "a") as out:
        for i in range(start, len(todo)):
            case = todo[i]
            out.write(f"S {i}\n")
            out.flush()
            signal.alarm(case_timeout)  # default action: the child dies of SIGALRM = a hang
            outcome, detail = _run_one(case, blobs, refs, max_bytes, CodecError, chunk_info,
                                       decode)
            signal.alarm(0)
            out.write(f"R {i} {outcome} {json.dumps(detail)}\n")
            out.flush()


def _run_one(case: Case, blobs, refs, max_bytes, CodecError, chunk_info, decode):  # noqa: ANN001, N803
    try:
        try:
            info = chunk_info(case.data)
        except CodecError:
            info = None
        try:
            arr = decode(case.data, max_bytes=max_bytes)
        except CodecError:
            if case.expect == "error" and info is not None:
                return "wrong", "chunk_info() accepted a structurally invalid header"
            return "error", ""
        if info is None:
            return "wrong", "decoded although chunk_info() refused the header"
        if case.expect == "error":
            return "wrong", "a structurally invalid header decoded"
        if arr.shape != tuple(info["shape"]) or arr.dtype != np.dtype(info["dtype"]):
            return "wrong", f"decoded {arr.shape} {arr.dtype}, header says {info['shape']}"
        fa = info.get("frame_axis", 0)  # empty chunks have none
        if arr.ndim > 2 and arr.shape[fa] > 1:
            # a read of some frames meets the same header and streams: the same shape and
            # type (values only where the streams are intact: libav conceals a corrupt one
            # with whatever its frame buffers held - a flipped byte, or another chunk's
            # stream swapped in, which an FFV1 reader decodes differently frame by frame;
            # test_partial checks intact chunks)
            last = arr.shape[fa] - 1
            part = decode(case.data, max_bytes=max_bytes, frames=[last, 0])
            want = np.take(arr, [last, 0], axis=fa)
            if part.shape != want.shape or part.dtype != want.dtype or (
                    case.kind not in ("flip-plane", "stream-swap") and not np.array_equal(
                        part, want, equal_nan=arr.dtype.kind == "f")):
                return "wrong", "decode(frames=) differs from the same frames of decode()"
        if case.expect == "same":
            if case.source not in refs:
                refs[case.source] = decode(blobs[case.source])
            ref = refs[case.source]
            if ref.shape != arr.shape or ref.dtype != arr.dtype or not np.array_equal(
                    ref, arr, equal_nan=ref.dtype.kind == "f"):
                return "wrong", "a value-preserving header edit changed the values"
            return "same", ""
        return "decoded", ""
    except MemoryError:
        return "memory", "MemoryError"
    except Exception as err:  # noqa: BLE001 - any other exception is what the fuzzer looks for
        return "exception", f"{type(err).__name__}: {str(err)[:200]}"


def run_cases(blobs: list[bytes], todo: list[Case], *, mem_limit: int = 3 << 30,
              case_timeout: int = 20, max_bytes: int = 64 << 20,
              workers: int = 1) -> dict[str, Any]:
    """Run ``todo`` in child processes; returns the counts and the failing cases."""
    parts = [list(range(k, len(todo), workers)) for k in range(workers)]
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for k, idx in enumerate(parts):
            case_file = os.path.join(tmp, f"cases{k}.pkl")
            with open(case_file, "wb") as f:
                pickle.dump((blobs, [todo[i] for i in idx]), f)
            procs.append(_Supervisor(case_file, os.path.join(tmp, f"res{k}.txt"), len(idx),
                                     (mem_limit, case_timeout, max_bytes)))
        while any(p.step() for p in procs):
            time.sleep(0.05)
        results: dict[int, tuple[str, str]] = {}
        for k, p in enumerate(procs):
            for j, r in p.results.items():
                results[parts[k][j]] = r
    counts = Counter(o for o, _ in results.values())
    by_kind: dict[str, Counter] = {}
    failures = []
    for i, (o, detail) in sorted(results.items()):
        by_kind.setdefault(todo[i].kind, Counter())[o] += 1
        if o in FAILURES:
            failures.append({"case": i, "kind": todo[i].kind, "source": todo[i].source,
                             "expect": todo[i].expect, "outcome": o, "detail": detail})
    return {"cases": len(results), **{o: counts.get(o, 0) for o in OUTCOMES},
            "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
            "failures": failures}


class _Supervisor:
    """One child at a time over a case file; restarts after a case that killed it."""

    def __init__(self, case_file: str, result_file: str, n: int, limits: tuple) -> None:
        self.case_file, self.result_file, self.n, self.limits = case_file, result_file, n, limits
        self.results: dict[int, tuple[str, str]] = {}
        self.proc: subprocess.Popen | None = None
        self.start = 0
        open(result_file, "w").close()
        self._spawn()

    def _spawn(self) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path)}
        mem, timeout, max_bytes = self.limits
        # stderr to a file, never a pipe: libav's messages about corrupt streams would fill
        # an unread pipe and block the child (which then looks like a hang)
        with open(self.result_file + ".err", "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "worker", self.case_file, self.result_file,
                 str(self.start), str(mem), str(timeout), str(max_bytes)], env=env,
                stdout=subprocess.DEVNULL, stderr=err)

    def step(self) -> bool:
        """Poll; returns whether this supervisor still has work."""
        if self.proc is None or self.proc.poll() is None:
            return self.proc is not None
        rc = self.proc.returncode
        with open(self.result_file + ".err", "rb") as f:
            err = f.read()[-300:].decode(errors="replace")
        started = None
        with open(self.result_file) as f:
            for line in f:
                tag, idx, *rest = line.rstrip("\n").split(" ", 3)
                if tag == "S":
                    started = int(idx)
                elif tag == "R":
                    self.results[int(idx)] = (rest[0], json.loads(rest[1]) if len(rest) > 1
                                              else "")
                    started = None
        if started is not None and started not in self.results:
            outcome = "hang" if rc == -signal.SIGALRM else "crash"
            self.results[started] = (outcome, f"child exit {rc}: {err}")
        elif rc != 0 and len(self.results) < self.n:
            raise RuntimeError(f"fuzz worker failed outside any case (exit {rc}): {err}")
        if len(self.results) >= self.n:
            self.proc = None
            return False
        self.start = max(self.results) + 1
        open(self.result_file, "w").close()
        self._spawn()
        return True


# ------------------------------------------------------------------------------- long run

def _versions() -> dict[str, str]:
    import av
    import xgeo_codecs

    return {"python": platform.python_version(), "numpy": np.__version__,
            "av": av.__version__, "xgeo_codecs": xgeo_codecs.__version__,
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="the long run (bash dev.sh fuzz)")
    run.add_argument("--cases", type=int, default=100_000)
    run.add_argument("--seed", type=int, default=20261203)
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    run.add_argument("--mem-limit", type=int, default=3 << 30)
    run.add_argument("--case-timeout", type=int, default=30)
    run.add_argument("--max-bytes", type=int, default=64 << 20)
    run.add_argument("--out", default=str(HERE.parents[1] / "benchmarks" / "results" /
                                          "fuzz.json"))
    w = sub.add_parser("worker")
    for name in ("case_file", "result_file", "start", "mem", "timeout", "max_bytes"):
        w.add_argument(name)
    a = ap.parse_args(argv)
    if a.cmd == "worker":
        _worker(a.case_file, a.result_file, int(a.start), int(a.mem), int(a.timeout),
                int(a.max_bytes))
        return 0
    t0 = time.time()
    blobs = source_chunks(small=False)
    todo = cases(blobs, a.seed, a.cases)
    report = run_cases(blobs, todo, mem_limit=a.mem_limit, case_timeout=a.case_timeout,
                       max_bytes=a.max_bytes, workers=a.workers)
    silent = sum(1 for f in report["failures"] if f["outcome"] == "wrong"
                 and todo[f["case"]].expect == "same")
    summary = {"cases": report["cases"], "crashes": report["crash"], "hangs": report["hang"],
               "memory_limit_hits": report["memory"],
               "non_codec_exceptions": report["exception"],
               "silent_wrong_output_on_value_preserving_edits": silent,
               "other_wrong_output": report["wrong"] - silent,
               "codec_errors": report["error"], "decoded_same": report["same"],
               "decoded_other": report["decoded"]}
    out = {**summary, "how": {
        "seed": a.seed, "cases_asked": a.cases, "source_chunks": len(blobs),
        "workers": a.workers, "address_space_limit_bytes": a.mem_limit,
        "per_case_timeout_s": a.case_timeout, "decode_max_bytes": a.max_bytes,
        "wall_s": round(time.time() - t0, 1),
        "command": " ".join(["fuzzing.py", *(sys.argv[1:] if argv is None else argv)]),
        "versions": _versions()},
        "by_kind": report["by_kind"], "failures": report["failures"][:200]}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    for k, v in summary.items():
        print(f"{k:>48}: {v}")
    print(f"written to {a.out}")
    bad = sum(summary[k] for k in ("crashes", "hangs", "memory_limit_hits",
                                   "non_codec_exceptions",
                                   "silent_wrong_output_on_value_preserving_edits"))
    return 1 if bad or summary["other_wrong_output"] else 0


if __name__ == "__main__":
    sys.exit(main())

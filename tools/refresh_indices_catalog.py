"""Refresh xgeo's spectral-index catalog from the Awesome Spectral Indices project.

The catalog is data (formulas, bands, constants), MIT-licensed, maintained upstream at
https://github.com/awesome-spectral-indices/awesome-spectral-indices. This script copies the
three JSON tables into ``xgeo/indices/data/`` and writes ``source.json`` (origin, version,
licence, SHA-256 of each file) so the package always says where its catalog came from.

Usage::

    python tools/refresh_indices_catalog.py --from-spyndex      # an installed spyndex wheel
    python tools/refresh_indices_catalog.py --from-url          # the upstream main branch

After refreshing, run ``pytest tests/test_indices*.py``: every formula is re-parsed and checked
against a plain-NumPy evaluation, so a formula our parser rejects shows up at once.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import pathlib
import urllib.request

UPSTREAM = "https://raw.githubusercontent.com/awesome-spectral-indices/awesome-spectral-indices/main/output/"
FILES = {  # our name -> upstream name
    "spectral-indices.json": "spectral-indices-dict.json",
    "bands.json": "bands.json",
    "constants.json": "constants.json",
}
LICENSE = """MIT License

Copyright (c) 2021 David Montero Loaiza

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE."""

OUT = pathlib.Path(__file__).resolve().parents[1] / "xgeo" / "indices" / "data"


def _from_spyndex() -> tuple[dict[str, bytes], str]:
    import importlib.metadata
    import importlib.resources

    version = importlib.metadata.version("spyndex")
    root = importlib.resources.files("spyndex") / "data"
    blobs = {ours: (root / theirs).read_bytes() for ours, theirs in FILES.items()}
    return blobs, f"Awesome Spectral Indices as bundled in the spyndex {version} wheel (PyPI)"


def _from_url(base: str) -> tuple[dict[str, bytes], str]:
    blobs = {}
    for ours, theirs in FILES.items():
        with urllib.request.urlopen(base + theirs, timeout=60) as r:  # noqa: S310 (fixed https URL)
            blobs[ours] = r.read()
    return blobs, f"Awesome Spectral Indices, {base} (fetched {_dt.date.today().isoformat()})"


def write(blobs: dict[str, bytes], origin: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    indices = json.loads(blobs["spectral-indices.json"])["SpectralIndices"]
    source = {
        "name": "Awesome Spectral Indices",
        "homepage": "https://github.com/awesome-spectral-indices/awesome-spectral-indices",
        "origin": origin,
        "n_indices": len(indices),
        "latest_date_of_addition": max(v.get("date_of_addition", "") for v in indices.values()),
        "license": "MIT",
        "license_text": LICENSE,
        "sha256": {k: hashlib.sha256(v).hexdigest() for k, v in sorted(blobs.items())},
    }
    for name, blob in blobs.items():
        # Re-serialise compactly and deterministically (the wheel's copy is pretty-printed).
        (OUT / name).write_text(json.dumps(json.loads(blob), sort_keys=True, indent=1) + "\n")
    (OUT / "source.json").write_text(json.dumps(source, indent=1) + "\n")
    print(f"wrote {len(indices)} indices to {OUT} ({origin})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--from-spyndex", action="store_true", help="copy from the installed spyndex")
    g.add_argument("--from-url", nargs="?", const=UPSTREAM, metavar="BASE_URL",
                   help=f"download from BASE_URL (default {UPSTREAM})")
    a = p.parse_args()
    write(*(_from_spyndex() if a.from_spyndex else _from_url(a.from_url)))


if __name__ == "__main__":
    main()

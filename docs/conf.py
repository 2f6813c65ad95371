"""Sphinx configuration of the xgeo documentation (``bash dev.sh docs``).

Generated at build time, never committed (``docs/generated/``):

* the API reference: autosummary walks the public packages ``xgeo`` and ``xgeo_codecs``
  recursively (modules whose name starts with ``_`` are private and skipped);
* the tour: ``examples/tour.ipynb`` is copied here (the notebook itself stays where the test
  suite runs it) and executed by myst-nb;
* the benchmark pages: ``benchmarks/report.py`` renders ``benchmarks/results/*.json``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
GENERATED = DOCS / "generated"

# The tree being documented, ahead of anything installed (the test command runs from a clone).
for path in (ROOT / "codecs" / "src", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import xgeo  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402  (benchmarks/report.py: the one renderer of the JSON results)


def _write_if_changed(path: Path, text: str) -> None:
    """Rewrite generated sources only when they change, so incremental builds stay incremental."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _generate() -> None:
    _write_if_changed(GENERATED / "tour.ipynb", (ROOT / "examples" / "tour.ipynb").read_text())
    for name, text in report.docs_pages().items():
        _write_if_changed(GENERATED / "benchmarks" / name, text)
    for image in report.RESULTS.glob("*.png"):
        target = GENERATED / "benchmarks" / image.name
        if not target.exists() or target.read_bytes() != image.read_bytes():
            shutil.copyfile(image, target)


_generate()

project = "xgeo"
author = "the xgeo developers"
copyright = "the xgeo developers (MIT)"
release = version = xgeo.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
# *.inc.md: fragments that pages include (the generated reliability table), not pages
exclude_patterns = ["_build", "**.ipynb_checkpoints", "**.inc.md"]
templates_path = ["_templates"]

# API reference: one page per public module, generated from the docstrings.
autosummary_generate = True
autosummary_imported_members = False
# xgeo.torch.torchgeo subclasses TorchGeo's GeoDataset; torchgeo is not a docs dependency
autodoc_mock_imports = ["torchgeo"]
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False  # the autosummary template lists them
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# numpydoc's docstring validation; each check listed is a build error under -W, so only those
# the whole tree passes: an unknown section (GL06), no summary (SS01), "name:type" without a
# space (PR10). Missing sections (PR01, RT01, EX01, SA01, ES01) are not checked yet: most
# internal helpers have short docstrings.
numpydoc_validation_checks = {"GL06", "SS01", "PR10"}

# The tour is executed at build time (from a clean docs/_build it always runs).
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_in_temp = True
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"xgeo {version}"
html_static_path: list[str] = []

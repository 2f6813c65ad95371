"""The example notebook runs top to bottom on the bundled cube."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tour.ipynb"


def test_tour_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "NDVI equals the file's own ndvi: True" in outputs
    assert "x smaller" in outputs and "torch.Size([8, 13, 32, 32])" in outputs
    # issue 16: classes survive bilinear reprojection and psnr=50 video coding exactly
    assert "lulc classes kept under bilinear: True" in outputs
    assert "categorical variables exact after psnr=50: True" in outputs

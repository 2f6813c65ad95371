"""Without torchgeo, xgeo.torch.as_geodataset is a MissingDependencyError naming the install
(runs everywhere torch does, with or without torchgeo: it hides torchgeo)."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("torch")

from xgeo.errors import MissingDependencyError  # noqa: E402


def test_as_geodataset_without_torchgeo_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchgeo", None)
    monkeypatch.setitem(sys.modules, "torchgeo.datasets", None)
    monkeypatch.delitem(sys.modules, "xgeo.torch.torchgeo", raising=False)
    import xgeo.torch as xt

    with pytest.raises(MissingDependencyError, match="pip install torchgeo") as err:
        xt.as_geodataset  # noqa: B018
    assert "xgeo.torch.as_geodataset" in str(err.value)
    assert isinstance(err.value, ImportError)


def test_other_missing_names_stay_attribute_errors():
    import xgeo.torch as xt

    with pytest.raises(AttributeError, match="no_such_name"):
        xt.no_such_name  # noqa: B018

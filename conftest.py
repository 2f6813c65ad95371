"""Root pytest configuration.

Both test folders (tests/ and codecs/tests/) have a conftest.py; with --doctest-modules
pytest would also import them as doctest modules under the same name "conftest" and
fail. They hold fixtures, not doctests, so doctest collection skips them.
"""

collect_ignore = ["tests/conftest.py", "codecs/tests/conftest.py"]


def _imports(module: str) -> bool:
    import importlib
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return False
    try:  # installed but broken (a torchvision built for another torch) counts as missing
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - torchvision's mismatch is a RuntimeError
        return False
    return True


# the TorchGeo bridge imports torchgeo, an optional dependency that dev does not install
if not _imports("torchgeo"):
    collect_ignore.append("xgeo/torch/torchgeo.py")

"""The package's shape (issue 17): a light import with no global side effects, no import
cycle, no private name shared across modules, one codec id, hashable parameters."""

from __future__ import annotations

import ast
import json
import pickle
import subprocess
import sys
import tomllib
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import xgeo_codecs
from xgeo_codecs import CODEC_ID, VideoCodec, VideoParams, VideoSerializer, chunk_info, encode

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "xgeo_codecs"


def test_import_is_light_and_changes_no_global_state():
    code = r"""
import json, os, sys
env = dict(os.environ)
import xgeo_codecs, xgeo_codecs.errors
light = "av" not in sys.modules
same_env = dict(os.environ) == env
import av, logging, numpy as np
level = av.logging.get_level()
logger = logging.getLogger("libav").level
from xgeo_codecs import VideoCodec, decode, encode, probe_report
after_import = (av.logging.get_level(), dict(os.environ) == env)
a = np.arange(2 * 64 * 64, dtype="uint16").reshape(2, 64, 64)
for cfg in ({"lossless": True}, {"crf": 30}, {"codec": "av1", "crf": 40}):
    assert (decode(encode(a, cfg)) == a).all() or not cfg.get("lossless")
after_use = (av.logging.get_level(), dict(os.environ) == env,
             logging.getLogger("libav").level)
print(json.dumps([light, same_env, level, after_import, after_use, logger]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={k: v for k, v in __import__("os").environ.items()
                                          if k != "SVT_LOG"})
    light, same_env, level, after_import, after_use, logger = json.loads(out.stdout)
    assert light, "import xgeo_codecs pulled in PyAV"
    assert same_env, "import xgeo_codecs changed os.environ"
    assert after_import == [level, True], "importing the codec changed libav's log level or env"
    assert after_use == [level, True, logger], "encoding/decoding left libav or env changed"


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text()) for p in SRC.glob("*.py")}


def _imports(tree: ast.Module) -> list[tuple[str, list[str], bool]]:
    """(module, names, top-level) of each relative import in ``tree``."""
    top = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.append((node.module.split(".")[0], [a.name for a in node.names],
                            id(node) in top))
            else:  # from . import a, b
                out += [(a.name, [], id(node) in top) for a in node.names]
    return out


def test_no_import_cycle_no_local_import_no_private_name_across_modules():
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, tree in mods.items():
        graph[name] = set()
        for target, names, top in _imports(tree):
            if name != "__init__":
                assert top, f"{name} imports {target} inside a function"
            assert not [n for n in names if n.startswith("_")], \
                f"{name} imports private names {names} from {target}"
            if target in mods and name != "__init__":
                graph[name].add(target)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def test_no_module_over_600_lines():
    long = {p.name: n for p in SRC.glob("*.py") if (n := len(p.read_text().splitlines())) > 600}
    assert not long


def test_the_codec_id_is_written_once():
    literal = f'"{CODEC_ID}"'
    holders = [p.name for p in SRC.glob("*.py") if literal in p.read_text()]
    assert holders == ["params.py"]
    eps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert set(eps["numcodecs.codecs"]) == set(eps["zarr.codecs"]) == {CODEC_ID}


def test_entry_points_resolve():
    try:
        found = {ep.group: ep for group in ("numcodecs.codecs", "zarr.codecs")
                 for ep in metadata.entry_points(group=group) if ep.name == CODEC_ID}
    except Exception:  # pragma: no cover - metadata unavailable
        found = {}
    if len(found) < 2:
        pytest.skip("xgeo-codecs is not installed (no entry points)")
    assert found["numcodecs.codecs"].load() is VideoCodec
    assert found["zarr.codecs"].load() is VideoSerializer


def test_video_params_are_immutable_hashable_and_picklable():
    p = VideoParams(crf=8, options={"bf": 2})
    assert hash(p) == hash(VideoParams(crf=8, options={"bf": "2"}))
    assert hash(VideoParams()) == hash(VideoParams())
    with pytest.raises(TypeError):
        p.options["bf"] = "4"  # type: ignore[index]
    given = {"bf": 2}
    q = VideoParams(options=given)
    given["bf"] = 5
    assert q.options == {"bf": "2"}
    assert pickle.loads(pickle.dumps(p)) == p
    assert VideoParams.from_config(p.to_config()) == p
    # the stored config holds every parameter (config_version 2); the short view the changes
    assert json.loads(json.dumps(p.to_config())) == {
        **VideoParams().to_config(), "crf": 8, "options": {"bf": "2"}}
    assert p.non_default_config() == {"crf": 8, "options": {"bf": "2"}}
    assert len({VideoCodec(crf=3), VideoCodec(crf=3), VideoCodec(crf=4)}) == 2
    assert len({VideoSerializer(crf=3), VideoSerializer(crf=3)}) == 1


def test_both_faces_take_keyword_arguments_and_rebuild_from_config():
    codec, ser = VideoCodec(crf=5, nodata=0), VideoSerializer(crf=5, nodata=0)
    assert codec.params == ser.params
    assert VideoCodec.from_config(codec.get_config()) == codec
    assert VideoSerializer.from_dict(ser.to_dict()) == ser
    with pytest.raises(TypeError):
        VideoSerializer(VideoParams())  # type: ignore[call-arg]


def test_inspect_is_a_deprecated_alias_of_chunk_info():
    blob = encode(np.zeros((2, 8, 8), "uint8"), {"lossless": True})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert xgeo_codecs.inspect(blob) == chunk_info(blob)
    assert [w.category for w in caught] == [DeprecationWarning]
    assert "inspect" not in xgeo_codecs.__all__

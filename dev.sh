#!/usr/bin/env bash
# One entry point for newcomers and CI. Needs only Python >= 3.11 with pip/venv.
#   bash dev.sh demo    set up .venv and run the demo on the bundled Sentinel-2 cube
#   bash dev.sh test    set up .venv with test extras, lint, run the whole test suite
#   bash dev.sh bench   run the peer comparisons (writes benchmarks/results/*.json)
#   bash dev.sh fuzz    >= 100,000 CRC-valid mutated chunks through the decoder in contained
#                       children (writes benchmarks/results/fuzz.json; args go to fuzzing.py)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

setup() {  # $1: extras of xgeo to install ("" for none)
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    local target="."
    [ -n "$1" ] && target=".[$1]"
    # xgeo-codecs is its own distribution in codecs/; installing both at once lets pip
    # satisfy xgeo's dependency on it from the local tree.
    "$VENV/bin/python" -m pip install -q -e ./codecs -e "$target"
}

cpu_torch() {  # torch is an optional extra: take the CPU wheel explicitly, never a CUDA build
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q torch==2.13.0
}

case "${1:-}" in
    demo)
        cpu_torch
        setup plot
        "$VENV/bin/xgeo" demo --overwrite  # a rerun replaces only the demo's own store and PNGs
        ;;
    test)
        cpu_torch
        setup dev
        "$VENV/bin/ruff" check .
        "$VENV/bin/python" -m pytest -q -p no:cacheprovider --doctest-modules
        ;;
    bench)
        setup "dev,bench"
        for script in benchmarks/compare/*.py; do
            echo "== $script"
            "$VENV/bin/python" "$script"
        done
        ;;
    fuzz)
        setup dev
        shift
        "$VENV/bin/python" codecs/tests/fuzzing.py run "$@"
        ;;
    *)
        echo "usage: bash dev.sh {demo|test|bench|fuzz}" >&2
        exit 2
        ;;
esac

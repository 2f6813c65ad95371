#!/usr/bin/env bash
# One entry point for newcomers and CI. Needs only Python >= 3.11 with pip/venv.
#   bash dev.sh demo    set up .venv and run the demo on the bundled Sentinel-2 cube
#   bash dev.sh test    set up .venv with test extras, lint, run the whole test suite, build the docs
#   bash dev.sh docs    build the documentation into docs/_build/html (warnings are errors)
#   bash dev.sh bench   run the peer comparisons (writes benchmarks/results/*.json)
#   bash dev.sh fuzz    >= 100,000 CRC-valid mutated chunks through the decoder in contained
#                       children (writes benchmarks/results/fuzz.json; args go to fuzzing.py)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

LOG="$VENV/pip-install.log"

make_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "dev.sh: creating the virtual environment $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    if [ -z "${LOG_STARTED:-}" ]; then  # one log per dev.sh run
        : >"$LOG"
        LOG_STARTED=1
    fi
}

pip_install() {  # $1: what is being installed, in words; the rest: pip arguments
    # pip's own chatter (resolver, build backends) goes to $LOG; on failure its tail is shown.
    local what=$1
    shift
    echo "dev.sh: installing $what (pip log: $LOG)"
    if ! "$VENV/bin/python" -m pip install --progress-bar off "$@" >>"$LOG" 2>&1; then
        echo "dev.sh: pip failed installing $what; the end of $LOG:" >&2
        tail -n 40 "$LOG" >&2
        exit 1
    fi
}

setup() {  # $1: extras of xgeo to install ("" for none)
    make_venv
    pip_install "an up-to-date pip" --upgrade pip
    local target="."
    [ -n "$1" ] && target=".[$1]"
    # xgeo-codecs is its own distribution in codecs/; installing both at once lets pip
    # satisfy xgeo's dependency on it from the local tree.
    pip_install "xgeo and xgeo-codecs from this tree (editable${1:+, extras: $1})" \
        -e ./codecs -e "$target"
}

cpu_torch() {  # torch is an optional extra: take the CPU wheel explicitly, never a CUDA build
    make_venv
    pip_install "torch 2.13.0 (the CPU wheel)" torch==2.13.0
}

build_docs() {  # the API reference, the executed tour, the benchmark pages; warnings are errors
    echo "dev.sh: building the docs (sphinx-build -W --keep-going -b html docs docs/_build/html)"
    local start=$SECONDS
    "$VENV/bin/sphinx-build" -W --keep-going -q -b html docs docs/_build/html
    echo "dev.sh: docs built in $((SECONDS - start)) s: docs/_build/html/index.html"
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
        echo "dev.sh: ruff check ."
        "$VENV/bin/ruff" check .
        echo "dev.sh: running the test suite"
        "$VENV/bin/python" -m pytest -q -p no:cacheprovider --doctest-modules
        build_docs
        ;;
    docs)
        cpu_torch  # the tour notebook is executed at build: it needs torch and matplotlib
        setup dev
        build_docs
        ;;
    bench)
        cpu_torch  # compare/loader.py and compare/downstream.py train and load with torch
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
        echo "usage: bash dev.sh {demo|test|docs|bench|fuzz}" >&2
        exit 2
        ;;
esac

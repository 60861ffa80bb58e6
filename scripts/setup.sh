#!/usr/bin/env bash
# Create .venv and install napari-segrefine with everything (GUI, dask, tests).
# Idempotent: a second run only checks. torch is installed FIRST, pinned to the CPU
# build that lies on our machines; an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

if ! command -v Xvfb >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Xvfb and the xcb libraries Qt needs (apt)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends xvfb libxcb-icccm4 libxcb-keysyms1 >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
TORCH_SPEC="${SEGREFINE_TORCH:-torch==2.13.0}"
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    echo "setup: installing $TORCH_SPEC"
    .venv/bin/pip install -q "$TORCH_SPEC" 2>&1 | grep -v "^WARNING: Location" || true
fi
echo "setup: installing napari-segrefine[all] (editable)"
.venv/bin/pip install -q -e ".[all]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import torch, napari_segrefine; print('setup: ok, torch', torch.__version__)"

#!/usr/bin/env bash
# Set up (if needed) and run the whole loop on shipped sample data and weights, offline.
# Extra arguments go to `napari-segrefine demo` (e.g. --domain roads --out demo_out).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/napari-segrefine demo "$@"

"""The command line asks OpenMP to sleep while it waits, before torch loads."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "import os, sys; import napari_segrefine.cli; "
    "print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
)


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_cli_sets_a_passive_policy_before_torch_is_imported():
    assert _probe() == "PASSIVE False"


def test_a_policy_the_user_chose_is_kept():
    assert _probe(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE False"

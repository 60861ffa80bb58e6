"""``napari-segrefine models``: the table, the JSON and a closed output pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from napari_segrefine.models import list_models
from napari_segrefine.models.weights import PUBLISHED_WEIGHTS


def test_models_json_has_download_links(cli):
    result = cli("models", "--json")

    assert result.code == 0, result.err
    rows = {row["name"]: row for row in json.loads(result.out)}
    assert sorted(rows) == sorted(list_models())
    assert rows["basnet_lite"]["shipped"] == "basnet_lite.safetensors"
    assert rows["basnet_lite"]["published"] == []
    city = rows["bisenetv2"]["published"][0]
    assert city["url"] == PUBLISHED_WEIGHTS["bisenetv2_city"].url
    assert city["url"].endswith("/" + city["filename"])
    assert city["download"] == "automatic"
    prn = rows["prn_p64"]["published"][0]
    assert prn["filename"] == "p64_weights.th" and prn["url"].startswith("https://drive")
    assert prn["download"] == "manual (browser)" and prn["archive"]


def test_models_table_lists_weight_sources(cli):
    result = cli("models")

    assert result.code == 0, result.err
    assert "shipped demo (basnet_lite.safetensors)" in result.out
    assert "bisenetv2_city (MIT, auto download)" in result.out


def test_closed_output_pipe_ends_quietly():
    script = Path(sys.executable).with_name("napari-segrefine")
    reader = subprocess.Popen(
        [script, "models", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    reader.stdout.close()  # like `| head -1` exiting before the command writes

    _, err = reader.communicate(timeout=120)

    assert reader.returncode == 1, err
    assert err == b""

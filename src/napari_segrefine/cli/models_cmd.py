"""``napari-segrefine models``: the registry with sizes and weight sources."""

from __future__ import annotations

import argparse
import json

from ..models import create_model, get_spec, list_models
from ..models.weights import PUBLISHED_WEIGHTS, PublishedWeights, shipped_weights_path


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models", help="list models, parameter counts and where their weights come from"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def model_rows() -> list[dict]:
    """One row per registered model: name, parameters, description, weights.

    ``shipped`` names the demo weights file inside the package (or is None);
    ``published`` lists the upstream checkpoints with their download URL and file name.
    """
    rows = []
    for name in list_models():
        spec = get_spec(name)
        # Inference size: BiSeNet's aux heads only exist for training.
        no_aux = {"aux": False} if spec.family.startswith("bisenet") else {}
        shipped = shipped_weights_path(name)
        rows.append(
            {
                "name": name,
                "parameters": sum(p.numel() for p in create_model(name, **no_aux).parameters()),
                "description": spec.description,
                "shipped": shipped.name if shipped else None,
                "published": [_published(PUBLISHED_WEIGHTS[key]) for key in spec.weights],
            }
        )
    return rows


def _published(weights: PublishedWeights) -> dict:
    return {
        "name": weights.name,
        "url": weights.url,
        "filename": weights.filename,
        "archive": weights.archive or None,
        "download": "manual (browser)" if weights.manual else "automatic",
        "license": weights.license,
        "classes": weights.classes,
    }


def run(args: argparse.Namespace) -> int:
    rows = model_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<18} {'params':>12}  description / weights (params at inference)")
    for row in rows:
        print(f"{row['name']:<18} {row['parameters']:>12,}  {row['description']}")
        for weights in _weight_lines(row):
            print(f"{'':<18} {'':>12}    weights: {weights}")
    return 0


def _weight_lines(row: dict) -> list[str]:
    lines = [f"shipped demo ({row['shipped']})"] if row["shipped"] else []
    for entry in row["published"]:
        how = "auto download" if entry["download"] == "automatic" else "manual download"
        lines.append(f"{entry['name']} ({entry['license']}, {how})")
    return lines

"""``napari-segrefine models``: the registry with sizes and weight sources."""

from __future__ import annotations

import argparse
import json

from ..models import create_model, get_spec, list_models
from ..models.weights import PUBLISHED_WEIGHTS, shipped_weights_path


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models", help="list models, parameter counts and where their weights come from"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def model_rows() -> list[dict]:
    """One row per registered model: name, parameters, description, weights."""
    rows = []
    for name in list_models():
        spec = get_spec(name)
        # Inference size: BiSeNet's aux heads only exist for training.
        no_aux = {"aux": False} if spec.family.startswith("bisenet") else {}
        params = sum(p.numel() for p in create_model(name, **no_aux).parameters())
        weights = (
            [f"shipped demo ({shipped_weights_path(name).name})"]
            if shipped_weights_path(name)
            else []
        )
        for key in spec.weights:
            published = PUBLISHED_WEIGHTS[key]
            how = "manual download" if published.manual else "auto download"
            weights.append(f"{key} ({published.license}, {how})")
        rows.append(
            {
                "name": name,
                "parameters": params,
                "description": spec.description,
                "weights": weights,
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    rows = model_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<18} {'params':>12}  description / weights (params at inference)")
    for row in rows:
        print(f"{row['name']:<18} {row['parameters']:>12,}  {row['description']}")
        for weights in row["weights"]:
            print(f"{'':<18} {'':>12}    weights: {weights}")
    return 0

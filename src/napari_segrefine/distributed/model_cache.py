"""The model goes to each worker once, as a Dask worker plugin, not with every task.

`ModelPayload` is the model as bytes (safetensors weights + its JSON config) and their
SHA-256 digest. `ModelPlugin` carries it; Dask runs its ``setup`` on every worker,
including workers that join or restart later, and the worker builds the model there,
on its own GPU when it has one, into a process-wide cache keyed by the digest. Tasks
name the digest and look the model up with `worker_model`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

import torch
from distributed import WorkerPlugin
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from ..engine import resolve_device
from ..errors import SegRefineError
from ..models.config import ModelConfig, build_model, model_config

_MODELS: dict[str, tuple[nn.Module, torch.device]] = {}
_LOCK = threading.Lock()
BUILDS = {"count": 0}  # models built in this process (a test checks once per worker)


@dataclass(frozen=True)
class ModelPayload:
    """A model as bytes: ``config`` (JSON-able dict) and safetensors ``weights``.

    ``digest`` covers the weights and the config except its provenance: two copies of
    one model (in memory, and loaded back from its checkpoint) share a digest.
    """

    config: dict[str, Any]
    weights: bytes
    digest: str

    @classmethod
    def from_model(cls, model: nn.Module) -> ModelPayload:
        config = model_config(model).to_dict()
        state = {
            key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()
        }
        weights = save_tensors(state)
        # provenance (training notes, package version) does not change the output
        behaviour = {key: value for key, value in config.items() if key != "provenance"}
        text = json.dumps(behaviour, sort_keys=True, default=str).encode()
        digest = hashlib.sha256(text + weights).hexdigest()
        return cls(config, weights, digest)

    def build(self) -> nn.Module:
        model = build_model(ModelConfig.from_dict(self.config))
        model.load_state_dict(load_tensors(self.weights), strict=True)
        return model.eval()


class ModelPlugin(WorkerPlugin):
    """Builds the model on each worker when the worker starts (or at registration).

    Args:
        payload: the model.
        device: where workers run it; ``auto`` picks each worker's GPU when present.
        torch_threads: CPU threads for torch on each worker; None leaves torch's own.
    """

    def __init__(
        self, payload: ModelPayload, device: str = "auto", torch_threads: int | None = None
    ) -> None:
        self.payload = payload
        self.device = device
        self.torch_threads = torch_threads
        self.name = f"segrefine-model-{payload.digest[:16]}"

    def setup(self, worker: Any) -> None:
        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        install(self.payload, self.device)


def install(payload: ModelPayload, device: str = "auto") -> None:
    """Build ``payload``'s model into this process's cache, unless it is there already."""
    with _LOCK:
        if payload.digest in _MODELS:
            return
        torch_device = resolve_device(device)
        model = payload.build().to(torch_device)
        _MODELS[payload.digest] = (model, torch_device)
        BUILDS["count"] += 1


def worker_model(digest: str) -> tuple[nn.Module, torch.device]:
    """The cached model with ``digest`` and its device.

    Raises:
        SegRefineError: the model plugin did not run on this worker.
    """
    with _LOCK:
        found = _MODELS.get(digest)
    if found is None:
        raise SegRefineError(
            f"model {digest[:12]} is not on this worker; register ModelPlugin with the "
            "client before submitting chunks (predict_to_zarr does)"
        )
    return found

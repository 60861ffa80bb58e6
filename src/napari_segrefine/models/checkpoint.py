"""Read and write checkpoints: upstream files as published and our own safetensors.

Our own format is one ``.safetensors`` file whose header metadata holds the model's
JSON config (``segrefine`` key): architecture, constructor kwargs, normalization,
provenance and package version. Upstream ``.pth``/``.th`` files are read with
``torch.load(weights_only=True)``, so a file with pickled code never runs it.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .. import __version__
from ..errors import SegRefineError
from ..io.atomic import atomic_output, give_default_permissions
from ..limits import check_archive
from .config import ModelConfig, build_model, model_config
from .config_schema import check_finite, check_model_size, parse_header
from .guess import guess_config
from .registry import get_spec

META_KEY = "segrefine"
_WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "net")
_DIVERGED = "training diverged; train again with a lower learning rate (--lr), e.g. 10x lower"


def save_checkpoint(
    model: nn.Module, path: str | Path, *, half: bool = False, **meta: Any
) -> Path:
    """Save weights as safetensors with the model's config in the header.

    Args:
        model: a model built by `create_model` or `load_checkpoint`.
        path: destination; ``.safetensors`` is appended when missing.
        half: store floating-point tensors as float16 (halves the size; loading
            casts back to float32).
        **meta: provenance to record (training config, data seed, metrics ...).

    Returns:
        The path written.
    """
    config = model_config(model)
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    check_finite(model, f"not saving {path.name}: the model", _DIVERGED)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu").contiguous()
        if half and value.is_floating_point():
            value = value.half()
        tensors[key] = value
    provenance = {**config.provenance, **meta, "package_version": __version__}
    header = {**config.to_dict(), "provenance": provenance}
    with atomic_output(path) as temporary:
        save_file(tensors, str(temporary), metadata={META_KEY: json.dumps(header, default=str)})
        give_default_permissions(temporary)
    return path


def load_checkpoint(path: str | Path, arch: str | None = None, **kwargs: Any) -> nn.Module:
    """Load an upstream or napari-segrefine checkpoint into a fresh model, strictly.

    Args:
        path: ``.safetensors`` (ours or a bare state dict) or a PyTorch file
            (``basnet.pth``, ``model_final_v2_city.pth``, ``p64_weights.th`` ...),
            possibly wrapping the state dict under ``model`` or ``state_dict``.
        arch: registry name to build; guessed from the keys when None.
        **kwargs: constructor overrides (e.g. ``aux=False`` drops BiSeNet aux heads).

    Returns:
        The model in eval mode, with ``segrefine_config`` recording the source file.

    Raises:
        SegRefineError: missing/unreadable file, pickled code, another architecture,
            or missing/unexpected/mis-shaped keys (the first few are named).
    """
    path = Path(path)
    if not path.is_file():
        raise SegRefineError(f"checkpoint {path} not found; check the path")
    state, header = _read(path)
    state = _unwrap(state, path)
    check_finite(state, f"checkpoint {path}", "it cannot predict; use an earlier checkpoint")
    if header is not None:
        config = ModelConfig.from_dict(header)
        config.kwargs.update(kwargs)
    else:
        config = guess_config(state, path, arch, kwargs)
    if arch is not None and get_spec(arch).family != get_spec(config.arch).family:
        raise SegRefineError(
            f"{path} holds a {config.arch} checkpoint, not {arch}; "
            f"load it with arch={config.arch!r} or pick the matching file"
        )
    config.provenance.setdefault("source", str(path))
    check_model_size(config, path)
    model = build_model(config)
    _load_strict(model, state, path, config.arch)
    return model.eval()


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if _is_safetensors(path):
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise SegRefineError(f"{path} is a damaged safetensors file ({err})") from None
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            metadata = json.loads(f.read(size)).get("__metadata__") or {}
        header = parse_header(metadata.get(META_KEY), path)
        return {k: v.float() if v.dtype == torch.float16 else v for k, v in state.items()}, header
    if not _is_torch_file(path):
        raise SegRefineError(
            f"{path} is not a checkpoint (neither a PyTorch nor a safetensors file); "
            "check the path, or download the file again"
        )
    check_archive(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True), None
    except pickle.UnpicklingError as err:
        first = str(err).splitlines()[0][:160]
        raise SegRefineError(
            f"{path} contains pickled objects other than tensors ({first}); refusing to "
            "execute them. Re-save it as a plain state dict or safetensors"
        ) from None
    except Exception as err:  # torch.load fails in many ways on a damaged file
        first = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise SegRefineError(
            f"{path} is not a readable checkpoint (truncated or not a PyTorch/safetensors "
            f"file: {first}); download it again"
        ) from None


def _is_torch_file(path: Path) -> bool:
    """A zip archive (torch >= 1.6) or a pickle stream (older torch.save)."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    size = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < size < 100_000_000


def _unwrap(state: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(state, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state:
        raise SegRefineError(f"{path} holds no state dict of tensors; is it a checkpoint?")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if len(tensors) != len(state):
        bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)][:3]
        raise SegRefineError(f"{path} is not a state dict: entries {bad} are not tensors")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], path: Path, arch: str) -> None:
    expected = model.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", mis_shaped)):
        if keys:
            problems.append(f"{len(keys)} {label} keys (e.g. {', '.join(keys[:3])})")
    if problems:
        raise SegRefineError(
            f"{path} does not fit architecture {arch}: {'; '.join(problems)}. "
            "Pick the matching --model/arch or check the file"
        )
    model.load_state_dict(state, strict=False)

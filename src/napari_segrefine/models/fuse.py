"""Layer-level rewrites for inference: BatchNorm folded into the convolution before it.

In eval mode a ``BatchNorm2d`` is an affine map per channel, so a convolution whose
output goes only into it can absorb it: ``w' = w * s``, ``b' = (b - mean) * s + beta``
with ``s = gamma / sqrt(var + eps)``. The network files stay as they are: which
convolution feeds which BatchNorm is found by running the model once on a sample
(forward hooks), and the rewrite is kept only if the model's output on that sample
is unchanged (a convolution whose output is also used elsewhere would change it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

FOLD_TOLERANCE = 1e-4  # largest relative change of the output a fold may make (fp32 rounding)


def fold_batchnorm(model: nn.Module, sample: torch.Tensor, **forward_kwargs) -> int:
    """Fold every eligible BatchNorm into the convolution feeding it, in place.

    A pair is eligible when the BatchNorm (eval mode, running statistics) takes the
    output of an ``nn.Conv2d`` as its input and each of the two runs once per forward.
    The folded BatchNorm becomes ``nn.Identity``. If the output on ``sample`` moves by
    more than `FOLD_TOLERANCE` (relative to its largest value), every change is undone.

    Args:
        model: a model in eval mode; changed in place.
        sample: an input batch the model accepts (it runs on it twice).
        **forward_kwargs: extra keyword arguments of the model's forward.

    Returns:
        The number of BatchNorm layers folded (0 when none was, or the check failed).
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode")
    with torch.no_grad():  # not inference_mode: the folded parameters stay normal tensors
        pairs, reference = _conv_bn_pairs(model, sample, forward_kwargs)
        if not pairs:
            return 0
        saved = {name: t.clone() for name, t in model.state_dict().items()}
        undo = [_fold_pair(model, conv, bn) for conv, bn in pairs]
        folded = model(sample, **forward_kwargs)
        if _max_relative_change(reference, folded) <= FOLD_TOLERANCE:
            return len(pairs)
        for restore in reversed(undo):
            restore()
        model.load_state_dict(saved)
        return 0


def _conv_bn_pairs(
    model: nn.Module, sample: torch.Tensor, forward_kwargs: dict
) -> tuple[list[tuple[nn.Conv2d, nn.BatchNorm2d]], object]:
    """The (conv, batchnorm) pairs seen in one forward, and that forward's output."""
    conv_outputs: dict[int, nn.Conv2d] = {}
    bn_inputs: dict[nn.BatchNorm2d, int] = {}
    calls: dict[nn.Module, int] = {}
    keep: list[torch.Tensor] = []  # keeps the tensors alive so that their ids stay unique

    def after_conv(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        calls[module] = calls.get(module, 0) + 1
        keep.append(output)
        conv_outputs[id(output)] = module

    def before_bn(module: nn.Module, args: tuple) -> None:
        calls[module] = calls.get(module, 0) + 1
        keep.append(args[0])
        bn_inputs[module] = id(args[0])

    handles = [
        m.register_forward_hook(after_conv) for m in model.modules() if type(m) is nn.Conv2d
    ]
    handles += [m.register_forward_pre_hook(before_bn) for m in model.modules() if _foldable_bn(m)]
    try:
        output = model(sample, **forward_kwargs)
    finally:
        for handle in handles:
            handle.remove()
    pairs = [
        (conv_outputs[source], bn)
        for bn, source in bn_inputs.items()
        if source in conv_outputs and calls[bn] == 1 and calls[conv_outputs[source]] == 1
    ]
    return pairs, output


def _foldable_bn(module: nn.Module) -> bool:
    return (
        type(module) is nn.BatchNorm2d
        and module.running_mean is not None
        and module.running_var is not None
    )


def _fold_pair(model: nn.Module, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> Callable[[], None]:
    """Fold ``bn`` into ``conv``; returns a function putting ``bn`` and the bias back."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    shift = -bn.running_mean * scale
    if bn.weight is not None:
        scale = scale * bn.weight
        shift = shift * bn.weight + bn.bias
    old_bias = conv.bias
    bias = torch.zeros_like(scale) if old_bias is None else old_bias.detach()
    conv.weight.data.mul_(scale.reshape(-1, 1, 1, 1).to(conv.weight.dtype))
    conv.bias = nn.Parameter((bias * scale + shift).to(conv.weight.dtype), requires_grad=False)
    parent, name = _parent_of(model, bn)
    setattr(parent, name, nn.Identity())

    def undo() -> None:
        conv.bias = old_bias
        setattr(parent, name, bn)

    return undo


def _parent_of(model: nn.Module, child: nn.Module) -> tuple[nn.Module, str]:
    for parent in model.modules():
        for name, module in parent.named_children():
            if module is child:
                return parent, name
    raise ValueError("the BatchNorm is not a submodule of the model")


def _max_relative_change(reference: object, changed: object) -> float:
    """Largest ``|a - b| / max|a|`` over the tensors of two outputs (inf if they differ)."""
    ref, new = _tensors(reference), _tensors(changed)
    if len(ref) != len(new) or any(a.shape != b.shape for a, b in zip(ref, new)):
        return float("inf")
    worst = 0.0
    for a, b in zip(ref, new):
        peak = float(a.abs().max()) if a.numel() else 0.0
        worst = max(worst, float((a - b).abs().max()) / max(peak, 1e-12) if a.numel() else 0.0)
    return worst


def _tensors(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output.float()]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []

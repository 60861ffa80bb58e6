"""PatchRefineNet: upstream checkpoint layout, batched tiling vs a per-tile loop, errors."""

from __future__ import annotations

import pytest
import torch

from napari_segrefine.errors import SegRefineError
from napari_segrefine.models import create_model, load_checkpoint, save_checkpoint
from napari_segrefine.models.prn import PatchRefineNet, valid_patch_sizes

SMALL = 8  # width for fast tests


def small_model(variant: str = "p64", **kwargs) -> PatchRefineNet:
    torch.manual_seed(0)
    model = PatchRefineNet(variant, width=SMALL, **kwargs)
    randomize_batchnorm(model)
    return model.eval()


def randomize_batchnorm(model: torch.nn.Module) -> None:
    """Non-trivial running statistics so eval-mode comparisons exercise BN."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.rand(size, generator=generator) * 0.4 - 0.2)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)


def probability_map(batch: int = 1, height: int = 64, width: int = 64) -> torch.Tensor:
    return torch.rand(batch, 1, height, width, generator=torch.Generator().manual_seed(2))


def per_tile_reference(model: PatchRefineNet, prob: torch.Tensor, patch: int) -> torch.Tensor:
    """Local logits decoded one tile at a time, slicing each scale as upstream does."""
    features = model.encoding(prob)
    rows, cols = prob.shape[-2] // patch, prob.shape[-1] // patch
    out_rows = []
    for row in range(rows):
        out_row = []
        for col in range(cols):
            tiles = []
            for scale, feature in zip((1, 2, 4, 8), features):
                size = patch // scale
                source_row = 2 if (model.upstream_row7_quirk and scale == 2 and row == 6) else row
                tiles.append(
                    feature[
                        ...,
                        source_row * size : (source_row + 1) * size,
                        col * size : (col + 1) * size,
                    ]
                )
            full, half, quarter, eighth = tiles
            x = model.decode3_local(quarter, eighth)
            x = model.decode2_local(half, x)
            x = model.decode1_local(full, x)
            out_row.append(model.out_local(x))
        out_rows.append(torch.cat(out_row, dim=3))
    return torch.cat(out_rows, dim=2)


@pytest.mark.parametrize(
    ("variant", "params"), [("p64", 3_887_156), ("p4", 3_887_156), ("p0", 3_044_922)]
)
def test_parameter_count_matches_upstream(variant: str, params: int) -> None:
    model = PatchRefineNet(variant)
    assert sum(p.numel() for p in model.parameters()) == params


def test_p64_state_dict_matches_upstream_layout() -> None:
    state = PatchRefineNet("p64").state_dict()
    assert len(state) == 338
    prefixes = {key.split(".")[0] for key in state}
    expected = {"encoding", "out_global", "out_local"}
    expected |= {f"decode{i}_{b}" for i in (3, 2, 1) for b in ("global", "local")}
    assert prefixes == expected
    shapes = {
        "encoding.RRCNN1.Conv_1x1.weight": (32, 1, 1, 1),
        "encoding.RRCNN1.RCNN.0.conv.0.weight": (32, 32, 3, 3),
        "encoding.RRCNN1.RCNN.1.conv.1.running_var": (32,),
        "encoding.psp.stages.0.1.weight": (256, 256, 1, 1),
        "encoding.psp.stages.3.1.weight": (256, 256, 1, 1),
        "encoding.psp.bottleneck.weight": (256, 1280, 1, 1),
        "decode3_global.Up.up.1.weight": (128, 256, 3, 3),
        "decode3_global.Up.up.2.weight": (128,),
        "decode3_global.Up_Conv.Conv_1x1.weight": (128, 256, 1, 1),
        "decode3_global.Attn.W_g.0.weight": (64, 128, 1, 1),
        "decode3_global.Attn.W_x.0.weight": (64, 128, 1, 1),
        "decode3_local.Attn.psi.0.weight": (1, 64, 1, 1),
        "decode3_local.Attn.psi.1.running_mean": (1,),
        "decode1_local.Up.up.1.weight": (32, 64, 3, 3),
        "out_global.0.weight": (1, 32, 3, 3),
        "out_local.0.weight": (1, 32, 3, 3),
    }
    assert {key: tuple(state[key].shape) for key in shapes} == shapes


def test_p4_and_p0_head_names() -> None:
    p4 = PatchRefineNet("p4").state_dict()
    assert tuple(p4["conv_last_global.0.weight"].shape) == (1, 32, 3, 3)
    assert tuple(p4["conv_last_local.0.weight"].shape) == (1, 32, 3, 3)
    assert not any(key.startswith("out_") for key in p4)
    p0 = PatchRefineNet("p0").state_dict()
    assert tuple(p0["out_global.0.weight"].shape) == (1, 32, 1, 1)
    assert not any("local" in key for key in p0)


def test_state_dict_round_trips_strictly_into_quirk_model() -> None:
    source = PatchRefineNet("p64", width=SMALL)
    target = PatchRefineNet("p64", width=SMALL, upstream_row7_quirk=True)
    target.load_state_dict(source.state_dict(), strict=True)


@pytest.mark.parametrize("variant", ["p64", "p4", "p0"])
def test_forward_backward_is_finite(variant: str) -> None:
    model = small_model(variant).train()
    prob = probability_map(batch=2)
    global_logits, local_logits = model(prob)
    assert global_logits.shape == (2, 1, 64, 64)
    assert (local_logits is None) == (variant == "p0")
    loss = global_logits.mean() + (0 if local_logits is None else local_logits.mean())
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("quirk", [False, True])
def test_batched_local_decoder_matches_per_tile_loop(quirk: bool) -> None:
    model = small_model("p64", upstream_row7_quirk=quirk)
    prob = probability_map(batch=2)
    with torch.no_grad():
        _, batched = model(prob, patch_size=8)
        looped = per_tile_reference(model, prob, patch=8)
    torch.testing.assert_close(batched, looped, atol=1e-5, rtol=1e-5)


def test_quirk_changes_only_tile_row_seven() -> None:
    model = small_model("p64")
    prob = probability_map()
    with torch.no_grad():
        global_plain, local_plain = model(prob)
        model.upstream_row7_quirk = True
        global_quirk, local_quirk = model(prob)
    torch.testing.assert_close(global_plain, global_quirk)
    changed_rows = (local_plain != local_quirk).any(dim=3).flatten().nonzero().flatten()
    assert changed_rows.numel() > 0
    assert changed_rows.min() >= 48 and changed_rows.max() < 56


def test_quirk_has_no_effect_on_grids_under_seven_rows() -> None:
    model = small_model("p64")
    prob = probability_map()
    with torch.no_grad():
        _, plain = model(prob, patch_size=16)
        model.upstream_row7_quirk = True
        _, quirk = model(prob, patch_size=16)
    torch.testing.assert_close(plain, quirk, atol=0, rtol=0)


@pytest.mark.parametrize("patch_size", [16, 32])
def test_patch_size_can_change_per_call(patch_size: int) -> None:
    model = small_model("p64")
    prob = probability_map()
    with torch.no_grad():
        _, default = model(prob)
        _, local = model(prob, patch_size=patch_size)
        reference = per_tile_reference(model, prob, patch=patch_size)
    assert local.shape == (1, 1, 64, 64)
    torch.testing.assert_close(local, reference, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(local, default)


@pytest.mark.parametrize(("variant", "grid"), [("p64", 8), ("p4", 4)])
def test_default_patch_size_is_a_fraction_of_the_height(variant: str, grid: int) -> None:
    model = small_model(variant)
    prob = probability_map(height=128, width=128)
    with torch.no_grad():
        _, default = model(prob)
        _, explicit = model(prob, patch_size=128 // grid)
        model.patch_size = 32
        _, configured = model(prob)
        _, explicit_32 = model(prob, patch_size=32)
    torch.testing.assert_close(default, explicit, atol=0, rtol=0)
    torch.testing.assert_close(configured, explicit_32, atol=0, rtol=0)


def test_single_tile_local_path_equals_global_path_with_shared_weights() -> None:
    model = small_model("p64")
    for level in (3, 2, 1):
        local = getattr(model, f"decode{level}_local")
        local.load_state_dict(getattr(model, f"decode{level}_global").state_dict())
    model.out_local.load_state_dict(model.out_global.state_dict())
    with torch.no_grad():
        global_logits, local_logits = model(probability_map(), patch_size=64)
    torch.testing.assert_close(local_logits, global_logits, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(("height", "width", "patch"), [(16, 16, 8), (64, 128, 16), (8, 8, 8)])
def test_small_and_non_square_inputs(height: int, width: int, patch: int) -> None:
    model = small_model("p64")
    prob = probability_map(height=height, width=width)
    with torch.no_grad():
        global_logits, local_logits = model(prob, patch_size=patch)
        reference = per_tile_reference(model, prob, patch=patch)
    assert global_logits.shape == local_logits.shape == (1, 1, height, width)
    torch.testing.assert_close(local_logits, reference, atol=1e-5, rtol=1e-5)


def test_valid_patch_sizes() -> None:
    assert valid_patch_sizes(64, 64) == [8, 16, 32, 64]
    assert valid_patch_sizes(48, 64) == [8, 16]
    assert valid_patch_sizes(512, 512) == [8, 16, 32, 64, 128, 256, 512]


@pytest.mark.parametrize("patch_size", [12, 24, 128])
def test_patch_size_that_does_not_tile_raises(patch_size: int) -> None:
    model = small_model("p64")
    with pytest.raises(SegRefineError, match=r"\[8, 16, 32, 64\]"):
        model(probability_map(), patch_size=patch_size)


def test_default_patch_size_that_does_not_tile_raises() -> None:
    model = small_model("p64")
    with pytest.raises(SegRefineError, match=r"default patch size \(H/8\) 5"):
        model(probability_map(height=40, width=40))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "p8"}, "unknown PRN variant"),
        ({"width": 1}, "width must be at least 2"),
        ({"patch_size": 10}, "positive multiple of 8"),
        ({"patch_size": 0}, "positive multiple of 8"),
        ({"combine": "both"}, "combine rule 'both' is not available"),
        ({"variant": "p0", "combine": "local"}, r"choose one of \['union', 'global'\]"),
    ],
)
def test_bad_settings_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(SegRefineError, match=message):
        PatchRefineNet(**kwargs)


@pytest.mark.parametrize(
    ("shape", "message"),
    [((1, 1, 60, 64), "multiples of 8"), ((1, 3, 64, 64), "B x 1 x H x W"), ((64, 64), "B x 1")],
)
def test_bad_input_raises(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(SegRefineError, match=message):
        small_model("p64")(torch.rand(shape))


def test_p0_ignores_patch_size() -> None:
    model = small_model("p0")
    with torch.no_grad():
        global_logits, local_logits = model(probability_map(), patch_size=24)
    assert local_logits is None
    assert global_logits.shape == (1, 1, 64, 64)


def test_train_mode_updates_batchnorm_statistics() -> None:
    model = small_model("p64").train()
    before = model.decode1_local.Up.up[2].running_mean.clone()
    global_logits, local_logits = model(probability_map(batch=2))
    assert torch.isfinite(global_logits).all() and torch.isfinite(local_logits).all()
    assert not torch.equal(model.decode1_local.Up.up[2].running_mean, before)


def test_registered_lite_model_has_half_width() -> None:
    model = create_model("prn_p64_lite")
    assert isinstance(model, PatchRefineNet)
    assert (model.variant, model.width) == ("p64", 16)
    assert tuple(model.state_dict()["out_local.0.weight"].shape) == (1, 16, 3, 3)


def test_untrained_residual_model_returns_its_input_logits() -> None:
    model = small_model("p64", residual=True)
    prob = probability_map().clamp(0.01, 0.99)
    with torch.no_grad():
        global_logits, local_logits = model(prob, patch_size=16)
    torch.testing.assert_close(global_logits, torch.logit(prob))
    torch.testing.assert_close(local_logits, torch.logit(prob))


def test_residual_heads_learn_a_correction() -> None:
    model = small_model("p64", residual=True).train()
    prob = probability_map(batch=2).clamp(0.01, 0.99)
    global_logits, local_logits = model(prob, patch_size=16)
    (global_logits.mean() + local_logits.mean()).backward()
    assert model.out_global[0].weight.grad.abs().sum() > 0
    assert model.out_local[0].weight.grad.abs().sum() > 0


def test_residual_and_combine_settings_travel_with_the_checkpoint(tmp_path) -> None:
    model = create_model("prn_p64_lite", width=4, residual=True, combine="local")
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "residual"))
    assert (loaded.residual, loaded.combine) == (True, "local")

"""Where a model's weights come from: shipped, cache, download or a file (`resolve_weights`).

`resolve_weights` is the one resolver that `create_model(pretrained=...)`, the CLI,
the widgets and the demo all use. BiSeNet release files are downloaded with pooch
into a cache folder (``$NAPARI_SEGREFINE_CACHE``, else the OS cache dir). BASNet and
PatchRefineNet weights live on Google Drive, which needs a browser: we say where to
download them and where to put them in the cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import SegRefineError
from .registry import get_spec

CACHE_ENV = "NAPARI_SEGREFINE_CACHE"
SHIPPED = "shipped"  # `resolve_weights` source: the demo weights shipped in the package
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
_BISENET_RELEASE = "https://github.com/CoinCheung/BiSeNet/releases/download/0.0.0/"


@dataclass(frozen=True)
class PublishedWeights:
    """One published checkpoint.

    Attributes:
        name: our key for it.
        arch: registry model it loads into.
        url: where it is published.
        filename: the upstream file name (also the name in the cache folder).
        sha256: checksum when known (None: not published; pooch then skips the check).
        license: license of the code that produced it.
        normalization: what the model expects, in words.
        classes: number of classes and dataset.
        manual: True when the host needs a browser (Google Drive).
        archive: the download that contains ``filename``, when it is packed.
    """

    name: str
    arch: str
    url: str
    filename: str
    sha256: str | None
    license: str
    normalization: str
    classes: str
    manual: bool = False
    archive: str = ""


_DRIVE = "https://drive.google.com/open?id="
_PRN_NOTE = "probabilities of the base model, 512x512"
PUBLISHED_WEIGHTS: dict[str, PublishedWeights] = {
    w.name: w
    for w in [
        PublishedWeights(
            "basnet_duts",
            "basnet",
            _DRIVE + "1s52ek_4YTDRt_EOkx1FS53u-vJa0c4nu",
            "basnet.pth",
            None,
            "MIT (code)",
            "image/its max, ImageNet mean/std",
            "1 (salient object, DUTS-TR)",
            manual=True,
        ),
        *[
            PublishedWeights(
                f"bisenet{v}_{data}",
                f"bisenet{v}",
                _BISENET_RELEASE + fname,
                fname,
                None,
                "MIT",
                f"RGB/255, {data} mean/std",
                classes,
            )
            for v, data, fname, classes in [
                ("v1", "city", "model_final_v1_city_new.pth", "19 (Cityscapes)"),
                ("v2", "city", "model_final_v2_city.pth", "19 (Cityscapes)"),
                ("v1", "coco", "model_final_v1_coco_new.pth", "171 (COCO-Stuff)"),
                ("v2", "coco", "model_final_v2_coco.pth", "171 (COCO-Stuff)"),
                ("v1", "ade20k", "model_final_v1_ade20k.pth", "150 (ADE20k)"),
                ("v2", "ade20k", "model_final_v2_ade20k.pth", "150 (ADE20k)"),
            ]
        ],
        *[
            PublishedWeights(
                f"prn_p64_{data}",
                "prn_p64",
                _DRIVE + drive_id,
                "p64_weights.th",
                None,
                "GPL-3.0 (code)",
                _PRN_NOTE,
                f"1 ({dataset})",
                manual=True,
                archive=f"the {data} zip",
            )
            for data, dataset, drive_id in [
                ("duts", "DUTS, PFANet base", "1Viu_mTI3aCvOKDLw8RRnMYFWvLZeBXqO"),
                ("kvasir", "Kvasir-SEG, ResUNet++ base", "1Gj8Y43w5to-CdukJ0NlPzhrcUgvTNEa1"),
                (
                    "deepglobe",
                    "DeepGlobe roads, D-LinkNet34 base",
                    "1taCeROWb_bYMvfcCDtC2ftv_QfsWqmou",
                ),
            ]
        ],
    ]
}


def cache_dir() -> Path:
    """Where downloaded weights live (``$NAPARI_SEGREFINE_CACHE`` moves it)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import pooch

    return Path(pooch.os_cache("napari-segrefine"))


def manual_path(weights: PublishedWeights) -> Path:
    """Where a manually downloaded file is expected in the cache folder."""
    return cache_dir() / weights.name / weights.filename


def fetch_weights(name: str, progress: bool = True) -> Path:
    """Path of published weights ``name``, downloading them first when possible."""
    if name not in PUBLISHED_WEIGHTS:
        raise SegRefineError(
            f"unknown published weights {name!r}; choose one of: {', '.join(PUBLISHED_WEIGHTS)}"
        )
    weights = PUBLISHED_WEIGHTS[name]
    if weights.manual:
        target = manual_path(weights)
        if not target.is_file():
            raise SegRefineError(
                f"{name} is on Google Drive, which needs a browser: download {weights.url}, "
                f"take {weights.filename}{' from ' + weights.archive if weights.archive else ''} "
                f"and save it as {target} (or pass the file directly "
                "with --checkpoint / load_checkpoint)"
            )
        return target
    import pooch

    try:
        path = pooch.retrieve(
            weights.url,
            known_hash=weights.sha256,
            fname=weights.filename,
            path=cache_dir(),
            progressbar=progress,
        )
    except Exception as err:  # network errors come in many types
        raise SegRefineError(
            f"could not download {name} from {weights.url} ({type(err).__name__}); "
            f"check the connection or save the file as {cache_dir() / weights.filename}"
        ) from None
    return Path(path)


def shipped_weights_path(arch: str) -> Path | None:
    """The demo weights shipped in the package for ``arch``, if there are any."""
    path = SHIPPED_DIR / f"{arch}.safetensors"
    return path if path.is_file() else None


def available_weights(arch: str) -> list[str]:
    """The named weights ``arch`` can load, the best first: `SHIPPED`, then published."""
    shipped = [SHIPPED] if shipped_weights_path(arch) is not None else []
    return [*shipped, *get_spec(arch).weights]


def resolve_weights(
    arch: str, source: bool | str | os.PathLike[str] = True, *, progress: bool = True
) -> Path:
    """The file that holds the weights of registered model ``arch``.

    Args:
        arch: a registered model name.
        source: True: the best of `available_weights` (shipped demo weights, else the
            first published weights); `SHIPPED`; the name of published weights (from
            the cache, else downloaded; see `PUBLISHED_WEIGHTS`); or a checkpoint path.
        progress: show a download progress bar.

    Raises:
        SegRefineError: one line saying what is missing and how to get it.
    """
    if source is True:
        choices = available_weights(arch)
        if not choices:
            raise SegRefineError(
                f"{arch} has no shipped or published weights; give a checkpoint file of "
                "trained weights instead, train it (napari-segrefine train), or start from "
                "random weights (--untrained, or pretrained=False)"
            )
        source = choices[0]
    if source is False:
        raise SegRefineError(f"no weights asked for {arch}; pass True, a name or a path")
    if source == SHIPPED:
        shipped = shipped_weights_path(arch)
        if shipped is None:
            raise SegRefineError(
                f"{arch} has no shipped demo weights; choose one of "
                f"{available_weights(arch) or 'none'} or a checkpoint file"
            )
        return shipped
    if isinstance(source, str) and source in PUBLISHED_WEIGHTS:
        return fetch_weights(source, progress=progress)
    path = Path(source).expanduser()
    if not path.is_file():
        raise SegRefineError(
            f"no weights file at {str(path)!r}; check the path, or pass True, "
            f"{SHIPPED!r} or a published name ({', '.join(PUBLISHED_WEIGHTS)})"
        )
    return path

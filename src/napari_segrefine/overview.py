"""A one-glance PNG of an image and its maps (used by the demo and the docs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _to_rgb(array: np.ndarray) -> np.ndarray:
    """uint8 RGB of an image, a [0, 1] map (magma) or a mask (black/white)."""
    array = np.asarray(array)
    if array.ndim == 3:
        return array[..., :3].astype(np.uint8)
    if array.dtype == bool or array.max() <= 1 and array.dtype.kind in "iub":
        return np.repeat((array > 0)[..., None] * np.uint8(255), 3, axis=-1)
    from matplotlib import colormaps

    return (colormaps["magma"](np.clip(array, 0, 1))[..., :3] * 255).astype(np.uint8)


def save_overview(path: Path, panels: dict[str, np.ndarray], columns: int = 4) -> Path:
    """Lay the panels out in a grid with their titles and save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, array) in zip(axes.flat, panels.items()):
        ax.imshow(_to_rgb(array))
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)

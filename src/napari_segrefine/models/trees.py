"""A forest of binary decision trees held as tensors, evaluated by scikit-learn.

The trees are grown by scikit-learn (`napari_segrefine.train.head`) and kept here as
plain arrays, so a forest saves into safetensors like any other weights (no pickle).
At prediction time each tree is rebuilt from those arrays as a scikit-learn ``Tree``
(milliseconds) and evaluated by its compiled code, on the CPU. The rows go through in
chunks that stay in the CPU's cache while every tree reads them, chunks in threads: four
times faster on a 512 x 512 image than each tree over all rows
(`benchmarks/results/update_speed_cpu.md`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from sklearn.tree._tree import NODE_DTYPE, Tree
from torch import Tensor, nn

LEAF = -1
ROWS_PER_CHUNK = 8192  # 8192 rows of 200 fp32 features: 6.5 MB, what a core's cache holds


class TreeEnsemble(nn.Module):
    """``num_trees`` trees of up to ``num_nodes`` nodes; a pixel's score is the mean leaf.

    Node ``n`` of tree ``t`` sends a pixel to ``left[t, n]`` when
    ``features[feature[t, n]] <= threshold[t, n]``, else to ``right[t, n]``; leaves
    have ``left == -1`` and hold the foreground probability ``value[t, n]``.
    """

    def __init__(self, num_trees: int = 1, num_nodes: int = 1, depth: int = 1) -> None:
        super().__init__()
        self.depth = int(depth)
        shape = (int(num_trees), int(num_nodes))
        self.register_buffer("feature", torch.zeros(shape, dtype=torch.int64))
        self.register_buffer("threshold", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("left", torch.full(shape, LEAF, dtype=torch.int64))
        self.register_buffer("right", torch.full(shape, LEAF, dtype=torch.int64))
        self.register_buffer("value", torch.zeros(shape))

    def forward(self, features: Tensor) -> Tensor:
        """Foreground probability of each row of ``features`` (pixels x features, any
        strides: each chunk of rows is made contiguous on its own)."""
        rows = features.detach().cpu().float().numpy()
        trees = self._sklearn_trees(rows.shape[1])
        values = self.value.cpu().numpy()

        def score(start: int) -> np.ndarray:
            chunk = np.ascontiguousarray(rows[start : start + ROWS_PER_CHUNK])
            total = np.zeros(len(chunk))
            for t, tree in enumerate(trees):
                total += values[t, tree.apply(chunk)]
            return total / len(trees)

        with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
            parts = list(pool.map(score, range(0, len(rows), ROWS_PER_CHUNK)))
        score_all = np.concatenate(parts) if parts else np.zeros(0)
        return torch.from_numpy(score_all.astype(np.float32)).to(features.device)

    def _sklearn_trees(self, num_features: int) -> list[Tree]:
        feature, threshold = self.feature.cpu().numpy(), self.threshold.cpu().numpy()
        left, right = self.left.cpu().numpy(), self.right.cpu().numpy()
        used = int(feature.max()) if feature.size else 0
        if used >= num_features:
            raise ValueError(f"the trees test feature {used}, the input has {num_features}")
        trees = []
        for t in range(feature.shape[0]):
            count = int(np.count_nonzero((left[t] != LEAF) | (right[t] != LEAF))) * 2 + 1
            count = min(count, feature.shape[1])
            nodes = np.zeros(count, dtype=NODE_DTYPE)
            nodes["left_child"], nodes["right_child"] = left[t, :count], right[t, :count]
            nodes["feature"] = np.where(left[t, :count] == LEAF, -2, feature[t, :count])
            nodes["threshold"] = np.where(left[t, :count] == LEAF, -2.0, threshold[t, :count])
            tree = Tree(num_features, np.array([1], dtype=np.intp), 1)
            tree.__setstate__(
                {
                    "max_depth": self.depth,
                    "node_count": count,
                    "nodes": nodes,
                    "values": np.zeros((count, 1, 1)),
                }
            )
            trees.append(tree)
        return trees

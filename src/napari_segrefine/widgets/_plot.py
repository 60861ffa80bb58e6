"""A small live plot of the training loss and the validation IoU, for the Fine-tune dock."""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from ..train import TrainEvent

BACKGROUND, FOREGROUND = "#262930", "#d6d0ce"  # napari's dark theme
LOSS_COLOR, IOU_COLOR = "#f0a030", "#40c8f0"


class TrainingPlot:
    """Loss (left axis) and validation IoU (right axis, 0..1) against the step."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(3.4, 2.0), dpi=100, facecolor=BACKGROUND)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(170)
        self.loss_axes = self.figure.add_subplot()
        self.iou_axes = self.loss_axes.twinx()
        (self.loss_line,) = self.loss_axes.plot([], [], color=LOSS_COLOR, lw=1.2)
        (self.iou_line,) = self.iou_axes.plot([], [], "o-", color=IOU_COLOR, ms=3, lw=1)
        self._style()
        self.reset()

    def _style(self) -> None:
        self.loss_axes.set_facecolor(BACKGROUND)
        self.loss_axes.set_xlabel("step", color=FOREGROUND, fontsize=8)
        self.loss_axes.set_ylabel("loss", color=LOSS_COLOR, fontsize=8)
        self.iou_axes.set_ylabel("val IoU", color=IOU_COLOR, fontsize=8)
        self.iou_axes.set_ylim(0, 1)
        for axes in (self.loss_axes, self.iou_axes):
            axes.tick_params(colors=FOREGROUND, labelsize=7)
            for spine in axes.spines.values():
                spine.set_color(FOREGROUND)
        self.figure.subplots_adjust(left=0.16, right=0.84, bottom=0.22, top=0.95)

    def reset(self) -> None:
        """Clear the curves for a new run."""
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.ious: list[float] = []
        self._redraw()

    def add(self, event: TrainEvent) -> None:
        """Append one training step (and its validation IoU when it has one)."""
        self.steps.append(event.step)
        self.losses.append(event.loss)
        if event.val_iou is not None:
            self.val_steps.append(event.step)
            self.ious.append(event.val_iou)
        self._redraw()

    def _redraw(self) -> None:
        self.loss_line.set_data(self.steps, self.losses)
        self.iou_line.set_data(self.val_steps, self.ious)
        self.loss_axes.set_xlim(0, max(self.steps[-1] if self.steps else 1, 1))
        if self.losses:
            low, high = min(self.losses), max(self.losses)
            margin = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
            self.loss_axes.set_ylim(low - margin, high + margin)
        self.canvas.draw_idle()

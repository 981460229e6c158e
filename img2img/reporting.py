"""What a training run leaves for people to read: a JSONL loss log, a loss-curve PNG and
sample grids. Plain files, so any tool (pandas, jq, a browser) can read them."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import torch

LOSS_LOG = "losses.jsonl"
LOSS_PLOT = "losses.png"


class LossLog:
    """Averages per-iteration losses over a window and appends one JSON line per window."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._sums: dict[str, float] = defaultdict(float)
        # Per name: a loss logged only on some iterations (a generator that steps once per
        # k critic steps) is averaged over the iterations that logged it.
        self._counts: dict[str, int] = defaultdict(int)
        self._count = 0

    def add(self, logs: dict[str, float]) -> None:
        for name, value in logs.items():
            self._sums[name] += float(value)
            self._counts[name] += 1
        self._count += 1

    @property
    def pending(self) -> bool:
        """Whether iterations were added since the last flush."""
        return self._count > 0

    def means(self) -> dict[str, float]:
        return {name: total / self._counts[name] for name, total in self._sums.items()}

    def flush(self, **fields: float | int) -> dict[str, float]:
        """Write the window's means (plus ``fields`` such as step and lr) and start a new window."""
        record = {**fields, **self.means()}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        self._sums.clear()
        self._counts.clear()
        self._count = 0
        return record

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step``: a resumed run repeats those steps, so it rewrites them."""
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines() if _step(line) <= step]
        self.path.write_text("".join(line + "\n" for line in kept))


def _step(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return 0


def read_loss_log(path: Path) -> list[dict[str, float]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(log_path: Path, out_path: Path) -> None:
    """One panel per logged quantity (losses differ in scale by orders of magnitude)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_loss_log(log_path)
    skip = {"step", "epoch", "lr", "time", "skipped_images"}
    names = sorted({name for record in records for name in record} - skip)
    if not names:
        return
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 1.8 * len(names)), sharex=True)
    axes = [axes] if len(names) == 1 else list(axes)
    for axis, name in zip(axes, names, strict=True):
        points = [(r["step"], r[name]) for r in records if name in r]
        axis.plot([p[0] for p in points], [p[1] for p in points], linewidth=1)
        axis.set_ylabel(name, fontsize=8)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("iteration")
    fig.tight_layout()
    fig.savefig(out_path, dpi=90)
    plt.close(fig)


def save_grid(columns: list[torch.Tensor], path: Path) -> None:
    """Save images side by side, one row per example: ``columns`` are N x 3 x H x W tensors
    in [-1, 1] (e.g. input | output | target)."""
    from torchvision.utils import save_image

    rows = torch.stack([c.detach().float().cpu() for c in columns], dim=1)  # N, K, 3, H, W
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(rows.flatten(0, 1) * 0.5 + 0.5, path, nrow=len(columns), padding=2)

"""What a training run leaves for people to read: a JSONL loss log, a loss-curve PNG and
sample grids. Plain files, so any tool (pandas, jq, a browser) can read them."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

LOSS_LOG = "losses.jsonl"
LOSS_PLOT = "losses.png"


class LossLog:
    """Averages per-iteration losses over a window and appends one JSON line per window
    (to ``path``; with ``path=None`` it only averages: a data-parallel process other than
    rank 0)."""

    def __init__(self, path: Path | None) -> None:
        self.path = None if path is None else Path(path)
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

    def flush(self, means: dict[str, float] | None = None, **fields: object) -> dict[str, object]:
        """Write the window's means (or ``means``, say averaged over processes), plus
        ``fields`` such as step and lr, and start a new window."""
        record = {**fields, **(self.means() if means is None else means)}
        self.write(record)
        self._sums.clear()
        self._counts.clear()
        self._count = 0
        return record

    def write(self, record: dict[str, object]) -> None:
        """Append one record as it is (validation results, say), outside the window."""
        if self.path is not None:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step``: a resumed run repeats those steps, so it rewrites them."""
        if self.path is None or not self.path.exists():
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
    skip = {"step", "epoch", "lr", "time", "skipped_images", "skipped_updates"}
    names = sorted(
        {name for r in records for name, value in r.items() if isinstance(value, (int, float))}
        - skip
    )
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


def save_captioned_grid(images: torch.Tensor, path: Path, nrow: int, caption: str) -> None:
    """Save ``images`` (N x C x H x W in [-1, 1]) as a grid of ``nrow`` columns under a
    one-line ``caption`` (say, the resolution a growing GAN has reached), so the picture
    says what it shows without its log."""
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().float().cpu() * 0.5 + 0.5, nrow=nrow, padding=2)
    pixels = grid.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    body = Image.fromarray(pixels).convert("RGB")
    page = Image.new("RGB", (max(body.width, 6 * len(caption) + 8), body.height + 16), "white")
    page.paste(body, (0, 16))
    ImageDraw.Draw(page).text((4, 2), caption, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.save(path)


def plot_points(
    real: torch.Tensor,
    fake: torch.Tensor,
    critic: Callable[[torch.Tensor], torch.Tensor] | None,
    path: Path,
    title: str = "",
    probabilities: bool = False,
) -> None:
    """Scatter real (n, 2) and generated (m, 2) points over a heat map of ``critic`` (points
    (k, 2) -> values (k,)), the discriminator's decision surface (none when ``critic`` is
    None); ``probabilities`` shows sigmoid(values) (for cross-entropy discriminators)
    instead of raw critic values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    both = torch.cat([real.float(), fake.float()])
    low, high = both.min(0).values.clamp(min=-6), both.max(0).values.clamp(max=6)
    margin = 0.15 * (high - low).max().clamp(min=1.0)
    xs = torch.linspace(float(low[0] - margin), float(high[0] + margin), 120)
    ys = torch.linspace(float(low[1] - margin), float(high[1] + margin), 120)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    fig, axis = plt.subplots(figsize=(5.5, 5))
    if critic is not None:
        values = critic(torch.stack([grid_x.flatten(), grid_y.flatten()], 1)).reshape(120, 120)
        values = values.sigmoid() if probabilities else values
        mesh = axis.pcolormesh(xs.numpy(), ys.numpy(), values.numpy(), cmap="coolwarm")
        fig.colorbar(mesh, ax=axis, label="D(x)" if probabilities else "critic value")
    real, fake = real.float().numpy(), fake.float().numpy()
    axis.scatter(real[:, 0], real[:, 1], s=3, c="black", alpha=0.4, label="real")
    axis.scatter(fake[:, 0], fake[:, 1], s=3, c="gold", alpha=0.6, label="generated")
    axis.legend(loc="upper right", fontsize=7, markerscale=3)
    axis.set_title(title, fontsize=9)
    axis.set_aspect("equal")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)

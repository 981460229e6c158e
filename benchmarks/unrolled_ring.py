"""Unrolled GANs on the ring of 8 Gaussians: modes covered over training, K = 0 against
K = 5 (Metz et al. 2017, figure 2), over several seeds.

    python benchmarks/unrolled_ring.py [--unroll 0 5] [--seeds 0 1 2] [--steps 5000]
        [--every 250] [--out docs/results/unrolled-ring.png] [--runs DIR] [--threads 1]

Each run is ``img2img train --task gan --data toy:ring8 --net mlp --unroll K`` with the
settings of the authors' released notebook (poolio/unrolled_gan): two hidden layers of 128
units in both networks, z ~ N(0, I_256), batch 512, Adam with beta1 0.5, generator rate
1e-3, discriminator rate 1e-4. Departures: img2img's MLPs (ReLU generator, LeakyReLU
discriminator, PyTorch's initialisation; theirs tanh with orthogonal init), the
non-saturating generator loss, img2img's ring (radius 2, std 0.05, 8 modes; their
notebook's has 7 distinct modes, radius 1, std 0.01), and the Adversary's order and
generator term (see ``img2img.losses.Adversary``). Every ``--every`` iterations the run
logs, on 1,000 samples of fixed latents, the modes covered (a mode counts when at least a
fifth of its fair share of samples lies within 3 std of it) and a Jensen-Shannon divergence
estimate. The script prints them per run and the mean and range per K, and plots modes
covered against the iteration (mean over seeds, the range shaded) with the final samples of
the first seed beside it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from img2img.config import merge
from img2img.tasks.gan import GANConfig
from img2img.train import Trainer

# The authors' notebook (refs: poolio/unrolled_gan, "Unrolled GAN demo.ipynb").
SETTINGS = {
    "data": "toy:ring8",
    "net": "mlp",
    "hidden": 128,
    "mlp_layers": 2,
    "z_dim": 256,
    "batch_size": 512,
    "lr": 1e-3,
    "d_lr": 1e-4,
    "beta1": 0.5,
    "num_samples": 1000,
    "epochs": 10**6,
    "device": "cpu",
}


def train(unroll: int, seed: int, steps: int, every: int, out: Path) -> dict:
    """One run; returns its curve ({"step", "modes", "js"} lists), time and final samples."""
    values = {**SETTINGS, "unroll": unroll, "seed": seed, "max_steps": steps}
    quiet = {"out": str(out), "log_every": every, "save_every": 10**9, "sample_every": 10**9}
    trainer = Trainer(merge(GANConfig, values, quiet))
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    records = [json.loads(line) for line in (out / "losses.jsonl").open()]
    records = [r for r in records if "modes" in r]
    curve = {key: [r[key] for r in records] for key in ("step", "modes", "js")}
    return {**curve, "seconds": seconds, "samples": trainer.task.fixed_samples().cpu()}


def plot(results: dict[int, list[dict]], seed: int, path: Path) -> None:
    """Modes covered against the iteration per K, and the final samples of ``seed``'s runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from img2img.data.toy import get_mixture

    modes = get_mixture("toy:ring8").modes
    widths = [1.6] + [1] * len(results)
    fig, axes = plt.subplots(
        1, len(widths), figsize=(5 + 3.2 * len(results), 3.6), width_ratios=widths
    )
    for k, runs in results.items():
        steps = runs[0]["step"]
        covered = torch.tensor([run["modes"] for run in runs], dtype=torch.float)
        line = axes[0].plot(steps, covered.mean(0), label=f"K = {k}")[0]
        axes[0].fill_between(
            steps, covered.min(0).values, covered.max(0).values, alpha=0.2, color=line.get_color()
        )
    axes[0].set(xlabel="iteration", ylabel="modes covered (of 8)", ylim=(-0.3, 8.3))
    axes[0].set_title(f"mean and range over {len(next(iter(results.values())))} seeds")
    axes[0].legend()
    for axis, (k, runs) in zip(axes[1:], results.items(), strict=True):
        samples = runs[0]["samples"]
        axis.scatter(modes[:, 0], modes[:, 1], s=40, c="black", marker="x", label="modes")
        axis.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.3)
        axis.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal", xticks=[], yticks=[])
        axis.set_title(f"K = {k}, seed {seed}, iteration {runs[0]['step'][-1]}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unroll", type=int, nargs="+", default=[0, 5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--out", type=Path, default=Path("docs/results/unrolled-ring.png"))
    parser.add_argument("--runs", type=Path, default=None, help="keep the run directories here")
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads (small MLPs run fastest on one)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; settings {SETTINGS}")
    runs_dir = args.runs or Path(tempfile.mkdtemp(prefix="unrolled-ring-"))
    results: dict[int, list[dict]] = {}
    for k in args.unroll:
        for seed in args.seeds:
            run = train(k, seed, args.steps, args.every, runs_dir / f"unroll{k}-seed{seed}")
            results.setdefault(k, []).append(run)
            curve = " ".join(f"{m:.0f}" for m in run["modes"])
            print(
                f"K={k} seed {seed}: {run['seconds'] / args.steps * 1000:.1f} ms/iteration; "
                f"modes every {args.every} iterations: {curve}; final JS {run['js'][-1]:.3f}"
            )
    print("\nmodes covered (of 8) and JS divergence (bits), mean [min, max] over seeds:")
    for k, runs in results.items():
        middle = len(runs[0]["step"]) // 2
        for label, index in ((f"iteration {runs[0]['step'][middle]}", middle), ("final", -1)):
            modes = [run["modes"][index] for run in runs]
            js = [run["js"][index] for run in runs]
            print(
                f"  K={k}, {label}: modes {sum(modes) / len(modes):.1f} "
                f"[{min(modes):.0f}, {max(modes):.0f}], JS {sum(js) / len(js):.3f} "
                f"[{min(js):.3f}, {max(js):.3f}]"
            )
    plot(results, args.seeds[0], args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

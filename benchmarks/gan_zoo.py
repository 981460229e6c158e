"""The GAN zoo: every kind img2img trains, side by side, for the same CPU minutes each.

    python benchmarks/gan_zoo.py [--minutes 10] [--data mnist32,cifar10] [--kinds dcgan,style]
        [--diffaugment both|off|on] [--generate 1000] [--real 0] [--out runs/gan_zoo]

Each (data set, kind[, +DiffAugment]) is trained by ``img2img train`` for ``--minutes`` of
training time (the run's own clock, start-up excluded) and stopped as Ctrl-C does, then
measured by ``img2img eval --metrics fid,kid --generate N --real M`` (FID is biased upwards
at small N: compare only rows with the same N; MNIST runs also by ``digits``, the digit
classifier's share of recognisable samples, classes covered and KL from uniform), and
sampled with ``img2img sample`` (a
64-image grid per model in ``OUT/grids``, a data set's in one picture, ``OUT/zoo-<data>.jpg``).
The table (Markdown, also ``OUT/zoo.md`` and ``OUT/zoo.json``) gives iterations, training
images/s, generator/discriminator parameters, FID and KID.

Data: ``mnist32`` (MNIST t10k at 32 px, unconditional) and ``cifar10`` (the CIFAR-10 test
set, 32 px), from ``--data-root`` (default ../shared/data beside the checkout; see
docs/data.md for getting them).

Every kind gets comparable widths (ngf = ndf = 32 where the kind has them, z 100, batch 64)
and its own paper's optimizer settings (the presets). The kinds:

- ``dcgan``: non-saturating DCGAN; ``wgan-gp``; ``hinge-sn`` (hinge + spectral norm);
  ``ebgan`` (energy-based, auto-encoder D);
- ``progan`` (grows 4 -> 32 px; ``--images-per-phase`` is scaled to the budget so it
  reaches 32 px in about half of it);
- ``style`` (StyleGAN2-style generator and residual discriminator, lazy R1, EMA: the
  reference's settings, which ``--generator style`` brings);
- ``ddgan-t1``, ``ddgan-t2``, ``ddgan-t4`` (Denoising Diffusion GAN with T steps; T = 1 is
  a plain GAN with the same networks).

DiffAugment (color,translation,cutout) applies to the kinds whose discriminator judges
single images (not ProGAN, whose D sees its level of detail, nor DDGAN, whose D judges
(x_t, x_{t+1}) pairs).
Rows already in ``OUT/zoo.json`` are kept, so the zoo can be run in parts into one table.
A CPU shared with other work gives fewer iterations in the same minutes: run the zoo on an
otherwise idle machine (``nice`` does not help a fair comparison).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from gan_quality import training_figures

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DIFFAUGMENT = ["--diffaugment", "color,translation,cutout"]
WIDTHS = ["--ngf", "32", "--ndf", "32"]

KINDS: dict[str, list[str]] = {
    "dcgan": ["--task", "gan", "--objective", "nonsaturating", *WIDTHS],
    "wgan-gp": ["--task", "gan", "--objective", "wgan-gp", *WIDTHS],
    "hinge-sn": ["--task", "gan", "--objective", "hinge", *WIDTHS],
    "ebgan": ["--task", "gan", "--objective", "ebgan", *WIDTHS],
    # Batch 64 at every resolution like the others (the reference: 128 up to 16 px).
    "progan": [
        *("--task", "progan", "--z-dim", "128", "--fmap-base", "1024", "--fmap-max", "128"),
        *("--batch-sizes", "4:64,8:64,16:64,32:64"),
    ],
    "style": ["--task", "gan", "--generator", "style", *WIDTHS],
    "ddgan-t1": ["--task", "ddgan", "--steps", "1", *WIDTHS],
    "ddgan-t2": ["--task", "ddgan", "--steps", "2", *WIDTHS],
    "ddgan-t4": ["--task", "ddgan", "--steps", "4", *WIDTHS],
}
# Kinds whose discriminator input DiffAugment cannot wrap: ProGAN's D sees its level of
# detail; DDGAN's judges (x_t, x_{t+1}) pairs that augmenting x_t alone would break.
NO_DIFFAUGMENT = {"progan", "ddgan-t1", "ddgan-t2", "ddgan-t4"}
DATASETS = {"mnist32": "mnist", "cifar10": "cifar10-test"}
COMMON = ["--image-size", "32", "--epochs", "100000", "--log-every", "10", "--save-every", "200"]


def train_for(command: list[str], minutes: float, out: Path) -> None:
    """Run ``command`` (``img2img train ... --out out``) for ``minutes`` of its own training
    clock (start-up excluded), then stop it as Ctrl-C does. The clock is read from the first
    ``losses.jsonl`` record (its ``time``: training seconds), whose presence also means the
    Trainer's Ctrl-C handler is installed, so the signal is never lost in a slow start-up;
    the rest of the budget is then waited out in wall time."""
    log = out / "losses.jsonl"
    log.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, "-m", *command])
    deadline = None
    while process.poll() is None:
        time.sleep(1)
        if deadline is None and log.exists() and (lines := log.read_text().splitlines()):
            deadline = time.monotonic() + minutes * 60 - json.loads(lines[0])["time"]
        if deadline is not None and time.monotonic() >= deadline:
            process.send_signal(signal.SIGINT)
            process.wait()
    if process.returncode not in (0, -signal.SIGINT):
        raise SystemExit(f"training failed ({process.returncode}): {' '.join(command)}")


def runs(kinds: list[str], diffaugment: str) -> list[tuple[str, list[str]]]:
    """(run name, train flags) for each kind, with and/or without DiffAugment."""
    found = []
    for kind in kinds:
        if diffaugment in ("off", "both") or kind in NO_DIFFAUGMENT:
            found.append((kind, KINDS[kind]))
        if diffaugment in ("on", "both") and kind not in NO_DIFFAUGMENT:
            found.append((f"{kind}+da", [*KINDS[kind], *DIFFAUGMENT]))
    return found


def budget_flags(kind: str, minutes: float, images_per_second: float) -> list[str]:
    """ProGAN's phase length scaled to the budget: 3 growth phases (8, 16, 32 px) and the
    4 px start in about half of the images the budget allows at ``images_per_second``."""
    if kind != "progan":
        return []
    per_phase = max(int(minutes * 60 * images_per_second / 8), 256)
    return ["--images-per-phase", str(per_phase)]


def parameter_counts(out: Path) -> dict[str, int]:
    """Generator and discriminator parameters of a run, from its saved config (the task is
    rebuilt on the CPU; its weights do not matter)."""
    import torch

    from img2img.config import config_from_dict
    from img2img.losses import Adversary
    from img2img.saved_models import read_config
    from img2img.tasks import get_task, task_members

    values = read_config(out)
    recipe = get_task(values["task"])
    task = recipe(config_from_dict(recipe.Config, values), 1, 0, torch.device("cpu"))
    discriminators = [a.discriminator for a in task_members(task, Adversary)]
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    return {"g_params": count(task.generator), "d_params": sum(map(count, discriminators))}


def evaluate(out: Path, data: Path, generate: int, real: int, digits: bool) -> dict:
    metrics = "fid,kid,digits" if digits else "fid,kid"
    command = ["img2img", "eval", "--model", str(out), "--data", str(data), "--metrics", metrics]
    command += ["--generate", str(generate), "--real", str(real)]
    subprocess.run([sys.executable, "-m", *command], check=True)
    return json.loads((out / f"eval-{data.name}.json").read_text())


def grid_path(out: Path, data_name: str, name: str) -> Path:
    return out / "grids" / f"{data_name}-{name}.png"


def sample_grid(out: Path, path: Path) -> None:
    command = ["img2img", "sample", "--model", str(out), "-n", "64", "-o", str(path)]
    subprocess.run([sys.executable, "-m", *command, "--interpolations", "0"], check=True)


def mosaic(grids: list[tuple[str, Path]], path: Path, columns: int = 3) -> None:
    """The runs' sample grids in one captioned picture (docs/benchmarks.md's), ``columns`` a row."""
    from PIL import Image, ImageDraw

    images = [(name, Image.open(grid).convert("RGB")) for name, grid in grids]
    caption = 14
    width = max(image.width for _, image in images)
    height = max(image.height for _, image in images) + caption
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (name, image) in enumerate(images):
        x, y = k % columns * width, k // columns * height
        draw.text((x + 2, y + 1), name, fill="black")
        sheet.paste(image, (x, y + caption))
    sheet.save(path, quality=85)


def earlier_rows(path: Path) -> list[dict]:
    """The rows of earlier invocations with the same ``--out``: the whole zoo is longer than
    one sitting, so it can be run a data set or a DiffAugment setting at a time into one
    table (a run measured again replaces its old row)."""
    return json.loads(path.read_text()) if path.exists() else []


def table(rows: list[dict]) -> str:
    lines = [
        "| data | kind | iterations | train img/s | G params | D params | FID | KID x 1e3 | N "
        "| digits | classes | KL |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        fid = f"{r['fid']:.1f}" if "fid" in r else "-"
        kid = f"{1e3 * r['kid']:.1f} ± {1e3 * r['kid_std']:.1f}" if "kid" in r else "-"
        digits = "| - | - | -"
        if "digits_confident" in r:
            digits = (
                f"| {100 * r['digits_confident']:.1f}% | {r['digits_classes']} | "
                f"{r['digits_kl']:.3f}"
            )
        lines.append(
            f"| {r['data']} | {r['kind']} | {r['iterations']} | {r['images_per_second']:.1f} | "
            f"{r['g_params'] / 1e6:.2f} M | {r['d_params'] / 1e6:.2f} M | {fid} | {kid} | "
            f"{r.get('generated', '-')} vs {r.get('real', '-')} {digits} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per run")
    parser.add_argument("--data", default="mnist32,cifar10", help="data sets, comma-separated")
    parser.add_argument("--kinds", default=",".join(KINDS), help="kinds, comma-separated")
    parser.add_argument("--diffaugment", choices=("both", "off", "on"), default="both")
    parser.add_argument("--generate", type=int, default=1000, help="generated samples for FID")
    parser.add_argument("--real", type=int, default=0, help="real images for FID (0: all)")
    parser.add_argument("--data-root", type=Path, default=DATA, help="folder of the data sets")
    parser.add_argument("--progan-rate", type=float, default=60.0, help="ProGAN's expected img/s")
    parser.add_argument("--out", type=Path, default=Path("runs/gan_zoo"))
    parser.add_argument("--skip-train", action="store_true", help="measure existing runs")
    parser.add_argument("--skip-eval", action="store_true", help="train, count and sample only")
    args = parser.parse_args()

    kinds = args.kinds.split(",")
    if unknown := sorted(set(kinds) - set(KINDS)):
        parser.error(f"unknown kinds {unknown}; choose from {', '.join(KINDS)}")
    rows = earlier_rows(args.out / "zoo.json")
    for data_name in args.data.split(","):
        data = args.data_root / DATASETS[data_name]
        for name, flags in runs(kinds, args.diffaugment):
            out = args.out / data_name / name
            kind = name.removesuffix("+da")
            command = ["img2img", "train", "--data", str(data), *COMMON, *flags, "--out", str(out)]
            command += budget_flags(kind, args.minutes, args.progan_rate)
            if not args.skip_train:
                print(f"$ {' '.join(command)}  # stopped after {args.minutes} min", flush=True)
                train_for(command, args.minutes, out)
            row = {"data": data_name, "kind": name, **training_figures(out)}
            row.update(parameter_counts(out))
            args.out.joinpath("grids").mkdir(parents=True, exist_ok=True)
            sample_grid(out, grid_path(args.out, data_name, name))
            if not args.skip_eval:
                on_digits = data_name == "mnist32"
                summary = evaluate(out, data, args.generate, args.real, on_digits)
                kid = summary["metrics"]["kid"]
                row.update(
                    fid=summary["metrics"]["fid"],
                    kid=kid["mean"],
                    kid_std=kid["std"],
                    generated=summary["generated"],
                    real=summary["images"],
                )
                row.update({k: v for k, v in summary["metrics"].items() if k.startswith("digits_")})
            rows = [r for r in rows if (r["data"], r["kind"]) != (data_name, name)] + [row]
            print(table(rows[-1:]).splitlines()[-1], flush=True)
            args.out.joinpath("zoo.json").write_text(json.dumps(rows, indent=1))
    report = table(rows)
    args.out.joinpath("zoo.md").write_text(report + "\n")
    for data_name in dict.fromkeys(r["data"] for r in rows):
        grids = [(r["kind"], grid_path(args.out, data_name, r["kind"])) for r in rows
                 if r["data"] == data_name]  # fmt: skip
        mosaic(grids, args.out / f"zoo-{data_name}.jpg")
    print(report)


if __name__ == "__main__":
    main()

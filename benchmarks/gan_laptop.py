"""Every GAN kind at its laptop setting (examples/configs/mnist-<kind>.yaml) on MNIST at 32 px:
what a CPU-minute buys.

    python benchmarks/gan_laptop.py [--minutes 30] [--kinds dcgan,style] [--data MNIST_DIR]
        [--fid] [--stacked] [--out runs/gan_laptop] [-- TRAIN_OPTIONS]

Each kind is trained by ``img2img train --config examples/configs/mnist-<kind>.yaml`` for
``--minutes`` of its own training clock and stopped as Ctrl-C does, one at a time. The
first snapshot (iteration ``--early``) and the final model are judged by the digit
classifier (``img2img eval --metrics digits``, ``--generate`` samples): the share of
samples read with p >= 0.9, the classes with >= 3% of them and the KL of the class
histogram from uniform, the goal being >= 90%, 10 and <= 0.05. ``--fid`` adds FID/KID of
the final model (``--generate`` vs as many real digits). The table (Markdown, also
``OUT/laptop.md`` and ``OUT/laptop.json``) gives iterations, training images/s and the
load average, which should be near 0 for figures worth publishing: run it on an otherwise
idle machine. ``--stacked`` trains the same settings on Stacked MNIST (three digits in the
colour channels, 1000 modes) and judges with ``--metrics modes`` instead: the modes covered
of 1000 and the KL of their histogram from uniform (``--generate 26000``: the papers'
count). Options after ``--`` are given to every ``img2img train`` (``-- --r1-gamma
0.05``: a setting tried against the config's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from gan_quality import training_figures
from gan_zoo import DATA, sample_grid, train_for

from img2img.config import load_yaml

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "configs"
KINDS = ("dcgan", "wgan-gp", "hinge", "ebgan", "progan", "style", "ddgan")


def judge(model: Path, data: Path, generate: int, fid: bool, stacked: bool = False) -> dict:
    """``img2img eval --metrics digits[,fid,kid]`` of ``model`` (``modes`` for Stacked
    MNIST): its metrics."""
    metrics = "modes" if stacked else "digits"
    metrics += ",fid,kid" if fid else ""
    command = ["img2img", "eval", "--model", str(model), "--data", str(data)]
    command += ["--metrics", metrics, "--generate", str(generate), "--real", str(generate)]
    command += ["--out", str(model)]
    subprocess.run([sys.executable, "-m", *command], check=True)
    return json.loads((model / f"eval-{data.name}.json").read_text())["metrics"]


def early_check(run: Path, data: Path, generate: int, stacked: bool) -> str:
    """The first snapshot's figure as the table prints it, "87 (it 1000)": modes or the share
    read; "-" when the run stopped before its first snapshot (a slow kind, a short budget)."""
    snapshots = sorted((run / "snapshots").glob("step_*"))
    if not snapshots:
        return "-"
    first = judge(snapshots[0], data, generate, False, stacked)
    value = first["modes"] if stacked else f"{100 * first['digits_confident']:.1f}%"
    return f"{value} (it {int(snapshots[0].name.split('_')[-1])})"


def table(rows: list[dict]) -> str:
    """The Markdown table: the digits read early and at the end, classes and KL, or for
    Stacked MNIST the modes covered early and at the end and their KL."""
    stacked = bool(rows) and "modes" in rows[0]
    judged = ["modes early", "modes end"] if stacked else ["digits early", "digits end", "classes"]
    header = ["kind", "iterations", "train img/s", "load", *judged, "KL", "FID"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for r in rows:
        if stacked:
            figures = [r["modes"], f"{r['modes_kl']:.3f}"]
        else:
            figures = [f"{100 * r['digits_confident']:.1f}%", r["digits_classes"]]
            figures.append(f"{r['digits_kl']:.3f}")
        cells = [r["kind"], r["iterations"], f"{r['images_per_second']:.0f}", f"{r['load']:.2f}"]
        cells += [r["early"], *figures, f"{r['fid']:.1f}" if "fid" in r else "-"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per kind")
    parser.add_argument("--kinds", default=",".join(KINDS), help="kinds, comma-separated")
    parser.add_argument("--data", type=Path, default=DATA / "mnist", help="MNIST folder")
    parser.add_argument("--early", type=int, default=100, help="iteration of the first check")
    parser.add_argument("--generate", type=int, default=500, help="samples judged per model")
    parser.add_argument("--fid", action="store_true", help="also FID/KID of the final model")
    parser.add_argument("--stacked", action="store_true", help="Stacked MNIST, judged by modes")
    parser.add_argument("--out", type=Path, default=Path("runs/gan_laptop"))
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    train_options = argv[split + 1 :]

    kinds = args.kinds.split(",")
    if unknown := sorted(set(kinds) - set(KINDS)):
        parser.error(f"unknown kinds {unknown}; choose from {', '.join(KINDS)}")
    rows = []
    for kind in kinds:
        out = args.out / kind
        command = ["img2img", "train", "--config", str(CONFIGS / f"mnist-{kind}.yaml")]
        command += ["--data", str(args.data), "--out", str(out), "--overwrite"]
        command += ["--max-steps", "1000000", "--snapshot-every", str(args.early)]
        if "epochs" not in load_yaml(CONFIGS / f"mnist-{kind}.yaml"):
            command += ["--epochs", "100000"]  # the clock ends the run, not the default 25
        command += ["--stacked", *train_options] if args.stacked else train_options
        print(f"$ {' '.join(command)}  # stopped after {args.minutes} min", flush=True)
        train_for(command, args.minutes, out)
        load = os.getloadavg()[0]
        row = {"kind": kind, "load": load, **training_figures(out)}
        row["early"] = early_check(out, args.data, args.generate, args.stacked)
        final = judge(out, args.data, args.generate, args.fid, args.stacked)
        row.update({k: v["mean"] if isinstance(v, dict) else v for k, v in final.items()})
        args.out.joinpath("grids").mkdir(parents=True, exist_ok=True)
        sample_grid(out, args.out / "grids" / f"mnist-{kind}.png")
        rows.append(row)
        print(table(rows[-1:]).splitlines()[-1], flush=True)
        args.out.joinpath("laptop.json").write_text(json.dumps(rows, indent=1))
    report = table(rows)
    args.out.joinpath("laptop.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()

"""Every GAN kind at its laptop setting (examples/configs/mnist-<kind>.yaml) on MNIST at 32 px:
what a CPU-minute buys.

    python benchmarks/gan_laptop.py [--minutes 30] [--kinds dcgan,style] [--data MNIST_DIR]
        [--fid] [--out runs/gan_laptop] [-- TRAIN_OPTIONS]

Each kind is trained by ``img2img train --config examples/configs/mnist-<kind>.yaml`` for
``--minutes`` of its own training clock and stopped as Ctrl-C does, one at a time. The
first snapshot (iteration ``--early``) and the final model are judged by the digit
classifier (``img2img eval --metrics digits``, ``--generate`` samples): the share of
samples read with p >= 0.9, the classes with >= 3% of them and the KL of the class
histogram from uniform, the goal being >= 90%, 10 and <= 0.05. ``--fid`` adds FID/KID of
the final model (``--generate`` vs as many real digits). The table (Markdown, also
``OUT/laptop.md`` and ``OUT/laptop.json``) gives iterations, training images/s and the
load average, which should be near 0 for figures worth publishing: run it on an otherwise
idle machine. Options after ``--`` are given to every ``img2img train`` (``-- --r1-gamma
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


def digits(model: Path, data: Path, generate: int, fid: bool) -> dict:
    """``img2img eval --metrics digits[,fid,kid]`` of ``model``: its metrics."""
    metrics = "digits,fid,kid" if fid else "digits"
    command = ["img2img", "eval", "--model", str(model), "--data", str(data)]
    command += ["--metrics", metrics, "--generate", str(generate), "--real", str(generate)]
    command += ["--out", str(model)]
    subprocess.run([sys.executable, "-m", *command], check=True)
    return json.loads((model / f"eval-{data.name}.json").read_text())["metrics"]


def table(rows: list[dict]) -> str:
    lines = [
        "| kind | iterations | train img/s | load | digits early | digits end | classes | KL "
        "| FID |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        fid = f"{r['fid']:.1f}" if "fid" in r else "-"
        lines.append(
            f"| {r['kind']} | {r['iterations']} | {r['images_per_second']:.0f} | "
            f"{r['load']:.2f} | {100 * r['early_confident']:.1f}% (it {r['early_step']}) | "
            f"{100 * r['digits_confident']:.1f}% | {r['digits_classes']} | "
            f"{r['digits_kl']:.3f} | {fid} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per kind")
    parser.add_argument("--kinds", default=",".join(KINDS), help="kinds, comma-separated")
    parser.add_argument("--data", type=Path, default=DATA / "mnist", help="MNIST folder")
    parser.add_argument("--early", type=int, default=100, help="iteration of the first check")
    parser.add_argument("--generate", type=int, default=500, help="samples judged per model")
    parser.add_argument("--fid", action="store_true", help="also FID/KID of the final model")
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
        command += train_options
        print(f"$ {' '.join(command)}  # stopped after {args.minutes} min", flush=True)
        train_for(command, args.minutes, out)
        load = os.getloadavg()[0]
        row = {"kind": kind, "load": load, **training_figures(out)}
        early = min((out / "snapshots").iterdir())
        row["early_step"] = int(early.name.split("_")[-1])
        row["early_confident"] = digits(early, args.data, args.generate, False)["digits_confident"]
        final = digits(out, args.data, args.generate, args.fid)
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

"""Super-resolution quality for a fixed CPU budget: SRResNet, then SRGAN, on Set5 and Set14.

    nice -n 5 python benchmarks/sr_quality.py --psnr-minutes 25 --gan-minutes 10 \\
        [--out runs/sr_bench] [--data ../shared/data/sr/T91,../shared/data/sr/BSD200] \\
        [--eval-only] [-- extra img2img train flags]

1. ``img2img train --task srgan --phase psnr`` on T91 + BSD200 (291 HR images) with the
   paper's network (16 blocks, 64 channels, x4, 96 px crops, batch 16, Adam 1e-4), stopped
   by Ctrl-C (SIGINT: the Trainer saves and exits) after ``--psnr-minutes``;
2. ``img2img train --task srgan --phase gan --init-from OUT/psnr`` for ``--gan-minutes``;
3. both models evaluated on Set5 and Set14 (x4, LR by PIL bicubic, Y channel with 4 px
   shaved, and RGB), with bicubic and the published SRResNet / SRGAN figures alongside,
   plus FID/KID of the outputs against the HR images (few images: a rough indication only).

The budget is wall-clock time on whatever this machine is; the model cards of
``weights/sr-x4`` and ``weights/srgan-x4`` record what it bought on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

SHARED_SR = Path(__file__).resolve().parents[2] / "shared" / "data" / "sr"
# x4, Y channel, scale px shaved: PSNR dB, SSIM (Ledig et al. 2017; bicubic: PSNR only).
PUBLISHED = {
    "Set5": {"bicubic": (28.43, None), "SRResNet": (32.05, 0.9019), "SRGAN": (29.40, 0.8472)},
    "Set14": {"bicubic": (26.00, None), "SRResNet": (28.49, 0.8184), "SRGAN": (26.02, 0.7397)},
}


def train_for(minutes: float, flags: list[str]) -> float:
    """Run ``img2img train`` with ``flags``; Ctrl-C it after ``minutes``. Returns seconds."""
    command = [sys.executable, "-m", "img2img", "train", "--task", "srgan", *flags]
    print("$", " ".join(command), flush=True)
    start = time.monotonic()
    process = subprocess.Popen(command)
    try:
        process.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # the Trainer stops after this iteration and saves
        process.wait()
    if process.returncode not in (0, None):
        raise SystemExit(f"training failed with exit code {process.returncode}")
    return time.monotonic() - start


def last_step(run: Path) -> int:
    lines = (run / "losses.jsonl").read_text().splitlines()
    return json.loads(lines[-1])["step"] if lines else 0


def evaluate_run(run: Path, data: Path) -> dict:
    from img2img.metrics.evaluate import evaluate
    from img2img.metrics.reports import format_table

    summary = evaluate(run, data, ["psnr", "ssim", "fid", "kid"], progress=False).summary
    print(format_table(summary), flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--psnr-minutes", type=float, default=25.0)
    parser.add_argument("--gan-minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("runs/sr_bench"))
    default_data = f"{SHARED_SR / 'T91'},{SHARED_SR / 'BSD200'}"
    parser.add_argument("--data", default=default_data, help="HR folders, comma-separated")
    parser.add_argument("--eval-only", action="store_true", help="evaluate OUT/psnr, OUT/gan")
    parser.add_argument("extra", nargs="*", help="more img2img train flags (after --)")
    args = parser.parse_args()

    common = ["--data", args.data, "--num-workers", "1", "--save-every", "50"]
    common += ["--sample-every", "200", "--log-every", "5", *args.extra]
    psnr_run, gan_run = args.out / "psnr", args.out / "gan"
    times = {}
    if not args.eval_only:
        flags = [*common, "--phase", "psnr", "--out", str(psnr_run)]
        times["psnr"] = train_for(args.psnr_minutes, flags)
        flags = [*common, "--phase", "gan", "--init-from", str(psnr_run), "--out", str(gan_run)]
        times["gan"] = train_for(args.gan_minutes, flags)
    results = {"wall_seconds": times, "runs": {}}
    for name, run in (("SRResNet (psnr phase)", psnr_run), ("SRGAN (gan phase)", gan_run)):
        results["runs"][name] = {"iterations": last_step(run)}
        for test in ("Set5", "Set14"):
            summary = evaluate_run(run, SHARED_SR / test)
            results["runs"][name][test] = {"metrics": summary["metrics"]}
    print("\npublished (Ledig et al. 2017, Y channel, PSNR dB / SSIM):")
    for test, rows in PUBLISHED.items():
        cells = (f"{k} {p:.2f}" + (f" / {s:.4f}" if s else "") for k, (p, s) in rows.items())
        print(f"  {test}: " + ", ".join(cells))
    (args.out / "sr_quality.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out / 'sr_quality.json'}")


if __name__ == "__main__":
    main()

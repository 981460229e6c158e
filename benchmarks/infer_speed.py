"""Inference speed of img2img's engines against the eager yardstick, on this machine.

    python benchmarks/infer_speed.py [--nets unet256,resnet9,facades-label2photo,...]
        [--sizes 256,512,2048] [--repeats 3] [--engines torch-fp32,torch-bf16,onnxruntime]
        [--int8] [--yardstick PATH]

For each network and output size: latency (median of ``--repeats`` after a warm-up) and
images/s of one image through :class:`img2img.infer.Translator` on each engine —
``torch-fp32``, ``torch-bf16`` (only where the CPU has native bf16), ``onnxruntime`` and,
with ``--int8``, ``onnxruntime-int8`` (static QDQ quantization of the exported graph,
calibrated on the benchmark input; its PSNR against the fp32 output is printed) — and,
for the paper-size networks, of the plain eager yardstick (../shared/bench/bench_ref.py,
``infer-unet`` / ``infer-resnet``, run as a subprocess; it runs every size whole, without
tiling) — and ``auto``, the default, naming the engine it picked. The last column is the
speed-up over the yardstick (targets for ``auto``: 2x on CPUs without native bf16, 1.6x
with).

Networks: ``unet256`` (pix2pix's UNet-256, ngf 64, batch norm with per-image statistics)
and ``resnet9`` (CycleGAN's ResNet-9, ngf 64, instance norm), at random initialisation,
and any shipped or saved model by name (for super-resolution models the size is the
output's: the input is size / scale). Sizes over the translator's tile (512) run tiled,
as ``img2img translate`` runs them. Each case runs in its own process, so the peak
resident memory printed for it (``ru_maxrss``, the libraries and weights included) is its
own. The input is a facades label map (../shared/data/facades/test) resized to the size
when present, else noise; speed does not depend on it, the int8 PSNR does.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from img2img.config import merge
from img2img.engines import OnnxRuntimeNetwork, import_onnxruntime
from img2img.infer import Translator, load_generator, pad_to_multiple, select_direction
from img2img.precision import cpu_supports_bf16

YARDSTICK = Path(__file__).resolve().parents[2] / "shared" / "bench" / "bench_ref.py"
FACADES = Path(__file__).resolve().parents[2] / "shared" / "data" / "facades" / "test"
PAPER_NETS = {"unet256": "infer-unet", "resnet9": "infer-resnet"}
# engine label -> (engine, precision) for Translator
ENGINES = {
    "torch-fp32": ("torch", "fp32"),
    "torch-bf16": ("torch", "bf16"),
    "onnxruntime": ("onnxruntime", "fp32"),
    "onnxruntime-int8": ("onnxruntime", "fp32"),
    "auto": ("auto", "auto"),  # what img2img.load picks here: the default
}


def build(net: str) -> tuple[torch.nn.Module, object]:
    """(generator, config) of a paper-size network or a saved model."""
    if net == "unet256":
        from img2img.tasks.pix2pix import Pix2Pix, Pix2PixConfig

        values = {"data": "-", "generator": "unet", "ngf": 64, "image_size": 256, "norm": "batch"}
        config = merge(Pix2PixConfig, values)
        return Pix2Pix.build_generator(config), config
    if net == "resnet9":
        from img2img.tasks.cyclegan import CycleGAN, CycleGANConfig

        values = {"data": "-", "ngf": 64, "resnet_blocks": 9, "norm": "instance"}
        config = merge(CycleGANConfig, values)
        return select_direction(CycleGAN.build_generator(config), config, None), config
    generator, config = load_generator(net)
    return select_direction(generator, config, None), config


def sample_input(size: int) -> torch.Tensor:
    """A (1, 3, size, size) image in [-1, 1]: a facades label map when present, else noise."""
    files = sorted(FACADES.glob("*.jpg"))
    if not files:
        return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    from PIL import Image

    from img2img.images import pil_to_tensor

    with Image.open(files[0]) as pair:
        label = pair.crop((pair.width // 2, 0, pair.width, pair.height)).convert("RGB")
        return pil_to_tensor(label.resize((size, size), Image.Resampling.NEAREST))[None]


def quantize_int8(translator: Translator, calibration: torch.Tensor) -> None:
    """Replace the translator's ONNX Runtime session by a static int8 (QDQ) one calibrated
    on ``calibration``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    network = translator.network
    assert isinstance(network, OnnxRuntimeNetwork)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"image": calibration.numpy()}])

        def get_next(self) -> dict | None:
            return next(self.items, None)

    target = network.path.with_suffix(".int8.onnx")
    if not target.is_file():
        quantize_static(
            str(network.path), str(target), Reader(), quant_format=QuantFormat.QDQ,
            per_channel=True,
        )  # fmt: skip
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    network.session = onnxruntime.InferenceSession(
        str(target), options, providers=["CPUExecutionProvider"]
    )


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).square().mean())
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def run_case(net: str, size: int, label: str, repeats: int) -> dict:
    """Time one (network, size, engine) in this process."""
    engine, precision = ENGINES[label]
    generator, config = build(net)
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    translator = Translator(generator, config, torch.device("cpu"), precision, engine=engine)
    x = sample_input(size // translator.scale)
    result: dict = {}
    if label == "onnxruntime-int8":
        reference = translator.translate_tensor(x)
        tile = translator.tile or x.shape[-1]
        quantize_int8(translator, pad_to_multiple(x[..., :tile, :tile], translator.multiple)[0])
        result["psnr_vs_fp32"] = psnr(translator.translate_tensor(x), reference)
    translator.translate_tensor(x)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        translator.translate_tensor(x)
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {**result, "latency": statistics.median(times), "peak_mb": peak_mb,
            "baseline_mb": baseline_mb, "picked": translator.engine}  # fmt: skip


def in_subprocess(argv: list[str]) -> dict | None:
    result = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        print(f"  failed: {' '.join(argv)}\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def yardstick(net: str, size: int, repeats: int, path: Path) -> float | None:
    """Seconds per image of the eager yardstick, or None when it is absent or not for ``net``."""
    if net not in PAPER_NETS or not path.is_file():
        return None
    command = [sys.executable, str(path), PAPER_NETS[net], "--size", str(size)]
    result = subprocess.run(
        [*command, "--iters", str(repeats)], capture_output=True, text=True, check=False
    )
    found = re.search(r"s_per_iter=([0-9.]+)", result.stdout)
    return float(found.group(1)) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="unet256,resnet9,facades-label2photo,"
                        "facades-label2photo-cyclegan,sr-x4,srgan-x4")  # fmt: skip
    parser.add_argument("--sizes", default="256,512,2048")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="torch-fp32,torch-bf16,onnxruntime")
    parser.add_argument("--int8", action="store_true", help="also time onnxruntime-int8")
    parser.add_argument("--yardstick", type=Path, default=YARDSTICK)
    parser.add_argument(
        "--yardstick-max-size",
        type=int,
        default=4096,
        help="skip the yardstick above this size (it runs 2048 px whole: minutes on a CPU)",
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)  # net,size,engine: one case
    args = parser.parse_args()
    if args.case:
        net, size, label = args.case.split(",")
        print(json.dumps(run_case(net, int(size), label, args.repeats)))
        return

    native = cpu_supports_bf16()
    labels = [e for e in args.engines.split(",") if e != "torch-bf16" or native]
    labels += ["onnxruntime-int8"] if args.int8 else []
    labels += ["auto"]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {native}; "
        f"median of {args.repeats} after a warm-up"
    )
    for net in args.nets.split(","):
        for size in map(int, args.sizes.split(",")):
            eager = None
            if size <= args.yardstick_max_size:
                eager = yardstick(net, size, args.repeats, args.yardstick)
            tiled = " tiled" if size > 512 else ""
            print(f"{net} {size} px{tiled}:")
            if eager:
                print(f"  {'eager yardstick':<18} {eager:8.3f} s  {1 / eager:7.2f} images/s")
            for label in labels:
                case = in_subprocess(
                    ["--case", f"{net},{size},{label}", "--repeats", str(args.repeats)]
                )
                if case is None:
                    continue
                if label == "auto":
                    label = f"auto ({case['picked']})"
                line = (
                    f"  {label:<18} {case['latency']:8.3f} s  "
                    f"{1 / case['latency']:7.2f} images/s  peak {case['peak_mb']:6.0f} MB "
                    f"(at start {case['baseline_mb']:.0f} MB)"
                )
                if eager:
                    line += f"  {eager / case['latency']:.2f}x yardstick"
                if "psnr_vs_fp32" in case:
                    line += f"  PSNR vs fp32 {case['psnr_vs_fp32']:.1f} dB"
                print(line, flush=True)


if __name__ == "__main__":
    main()

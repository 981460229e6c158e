"""Peak memory of the web demo reading one large upload, each in a fresh process.

    python benchmarks/demo_upload_memory.py [--side 9400] [--max-pixels 1048576]

Writes a ``side`` x ``side`` RGBA PNG (a gradient: a few MB on disk, 4 bytes a pixel once
decoded) and an RGB JPEG of the same size, then, for each, starts a Python process that
builds a model-less ``DemoBackend`` and reads the file as the translation tab does
(``read_input``), and prints the process's resident memory after its imports and its peak
(``ru_maxrss``) after the read, with what the demo made of the file. The 9400 px PNG is the
upload of the issue that took a server from 1.49 to 3.3 GB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

CHILD = """
import resource, sys
from img2img.demo import DemoBackend

def mib(kib):
    return f"{kib / 1024:,.0f} MiB"

backend = DemoBackend([], max_pixels=int(sys.argv[2]), device="cpu", output_dir=sys.argv[3])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    image, _ = backend.read_input(sys.argv[1], backend.max_pixels)
    outcome = f"read, downscaled to {image.width}x{image.height}"
except Exception as err:
    outcome = f"refused: {getattr(err, 'message', err)}"
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{mib(before)} after imports, peak {mib(after)} (+{mib(after - before)}); {outcome}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=9400)
    parser.add_argument("--max-pixels", type=int, default=1024 * 1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        gradient = Image.linear_gradient("L").resize((args.side, args.side))
        files = {"png": Path(folder) / "large.png", "jpeg": Path(folder) / "large.jpg"}
        Image.merge("RGBA", [gradient] * 4).save(files["png"], compress_level=1)
        Image.merge("RGB", [gradient] * 3).save(files["jpeg"])
        del gradient
        for kind, path in files.items():
            size = path.stat().st_size / 2**20
            result = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), str(args.max_pixels), folder],
                capture_output=True,
                text=True,
                check=True,
            )
            print(f"{args.side}x{args.side} {kind} ({size:.1f} MB): {result.stdout.strip()}")


if __name__ == "__main__":
    main()

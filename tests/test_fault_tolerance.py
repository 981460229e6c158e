"""Training survives SIGKILL at any moment, including in the middle of a checkpoint write."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from conftest import TINY_PIX2PIX, cli_flags

from img2img.checkpoint import has_training_state, load_training_state

FINAL_STEP = 24
COMMAND = [
    *cli_flags(TINY_PIX2PIX),
    *cli_flags({"save_every": 1, "log_every": 1, "sample_every": 1000, "num_samples": 1}),
    *cli_flags({"batch_size": 2, "max_steps": FINAL_STEP}),
]


def start(data: Path, out: Path) -> subprocess.Popen:
    args = ["--resume", str(out)] if has_training_state(out) else []
    command = [
        sys.executable,
        "-m",
        "img2img",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        *COMMAND,
        *args,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_when(process: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None and not ready():
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_sigkill_at_random_moments_never_loses_a_completed_checkpoint(
    paired_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    rng = random.Random(0)
    completed, killed_mid_write = 0, 0
    for attempt in range(6):
        process = start(paired_dataset, out)
        if attempt % 2 == 0:  # the moment a checkpoint file is being written
            kill_when(process, lambda: has_training_state(out) and any(out.glob(".*.tmp")))
        else:  # a random moment after the run is under way
            kill_when(process, lambda: has_training_state(out))
            time.sleep(rng.uniform(0.0, 0.3))
        output = process.stdout.read()
        resumed = re.search(r"Resumed .* at iteration (\d+)", output)
        if resumed:
            assert int(resumed.group(1)) >= completed, "resumed before the last checkpoint"
        killed_mid_write += bool(list(out.glob(".*.tmp")))
        for path in out.glob("trainer_state*.pt"):  # every state on disk is complete
            torch.load(path, weights_only=True)
        completed = max(completed, load_training_state(out)["step"])
    assert killed_mid_write >= 1, "no kill landed inside a checkpoint write"

    process = start(paired_dataset, out)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-2000:]
    assert load_training_state(out)["step"] == FINAL_STEP
    assert not list(out.glob(".*.tmp")), "stale temporary files are cleaned up on resume"

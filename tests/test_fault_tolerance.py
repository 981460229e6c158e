"""Training survives SIGKILL at any moment, including in the middle of a checkpoint write."""

from __future__ import annotations

import json
import random
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


def start(data: Path, out: Path, **popen) -> subprocess.Popen:
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
    return subprocess.Popen(command, text=True, **popen)


def saved_step(out: Path) -> int:
    """The iteration of the newest complete training state on disk (0 before the first)."""
    return load_training_state(out)["step"] if has_training_state(out) else 0


def state_files(out: Path) -> dict[str, int]:
    """Name -> modification time of each training-state file."""
    return {path.name: path.stat().st_mtime_ns for path in out.glob("trainer_state*.pt")}


def wrote_a_state(out: Path, before: dict[str, int]) -> bool:
    """Whether a complete state file was written since ``before`` (:func:`state_files`): a
    rotation renames files (their times stay), an atomic write puts a new file in place."""
    try:
        return (out / "trainer_state.pt").stat().st_mtime_ns not in before.values()
    except FileNotFoundError:
        return False


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
    killed_mid_write = 0
    for attempt in range(6):
        completed = saved_step(out)
        before = state_files(out)
        process = start(paired_dataset, out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        if attempt % 2 == 0:  # the moment a checkpoint file is being written
            kill_when(process, lambda b=before: wrote_a_state(out, b) and any(out.glob(".*.tmp")))
        else:  # a random moment after this process has saved a checkpoint of its own
            kill_when(process, lambda b=before: wrote_a_state(out, b))
            time.sleep(rng.uniform(0.0, 0.3))
        killed_mid_write += bool(list(out.glob(".*.tmp")))
        for path in out.glob("trainer_state*.pt"):  # every state on disk is complete
            torch.load(path, weights_only=True)
        # Progress comes from the files: this process resumed from the last completed
        # checkpoint (a restart from 0 would have written iteration 1, 2, ...) and the
        # newest state on disk is at least as far as before, and further once it saved.
        now = saved_step(out)
        assert now >= completed, f"attempt {attempt}: state went back from {completed} to {now}"
        assert now > completed, f"attempt {attempt}: no checkpoint beyond {completed} was kept"
    assert killed_mid_write >= 1, "no kill landed inside a checkpoint write"

    process = start(paired_dataset, out, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-2000:]
    assert saved_step(out) == FINAL_STEP
    assert not list(out.glob(".*.tmp")), "stale temporary files are cleaned up on resume"
    # One log record per iteration: every resume continued where its checkpoint ended.
    steps = [json.loads(line)["step"] for line in (out / "losses.jsonl").open()]
    assert steps == list(range(1, FINAL_STEP + 1))

"""Data-parallel training under torchrun (gloo on the CPU): two processes with batch 2 train
exactly as one process with batch 4 over the same samples, for pix2pix and CycleGAN, and a
resumed two-process run continues exactly.

Why the networks use ``norm="none"``: batch norm computes statistics over each process's
2 images, not over all 4, so 2 x 2 and 1 x 4 differ by design (``--sync-bn`` fixes that, on
GPUs only). Instance norm is per image, but the convolution bias in front of it is cancelled
by the normalisation, so its true gradient is zero and what is left is rounding noise, which
Adam scales up to full learning-rate steps in a random direction. Without normalisation
every sample's loss is independent of the others, so the average of the two processes'
mean-loss gradients is the 4-sample mean's gradient up to float rounding. Dropout is off
(it draws per process). CycleGAN's image pools return every image unchanged while they fill,
so one step draws no random numbers either.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import TINY_PIX2PIX, cli_flags
from safetensors.torch import load_file
from torch import nn

from img2img.checkpoint import GENERATOR_FILE, load_training_state
from img2img.config import merge
from img2img.data import ResumableSampler
from img2img.data.unpaired import split_unpaired
from img2img.distributed import (
    World,
    adversaries,
    check_device_count,
    check_sync_bn,
    sharing_copy,
)
from img2img.losses import Adversary
from img2img.tasks.cyclegan import CycleGANConfig
from img2img.tasks.pix2pix import Pix2PixConfig
from img2img.train import Trainer

REPO = Path(__file__).resolve().parents[1]
NO_NOISE = {"norm": "none", "dropout": 0.0}


def torchrun(*args: str) -> None:
    """``img2img train ARGS`` in two processes, as torchrun launches them on one machine."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "img2img", "train", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def two_processes_and_one(
    config_cls: type, values: dict, data: Path, tmp_path: Path
) -> tuple[Path, Path]:
    """Train ``values`` in two processes with batch 2 (torchrun) and in this process with
    batch 4; returns the two run directories."""
    ddp, one = tmp_path / "ddp", tmp_path / "one"
    torchrun(*cli_flags({**values, "batch_size": 2, "data": data, "out": ddp}))
    Trainer(
        merge(config_cls, {**values, "batch_size": 4, "data": str(data), "out": str(one)})
    ).fit()
    return ddp, one


def assert_same_tensors(ours: dict, theirs: dict, atol: float = 1e-6) -> None:
    assert ours.keys() == theirs.keys()  # same names: no "module." prefixes either
    for name, tensor in ours.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            torch.testing.assert_close(tensor, theirs[name], rtol=0, atol=atol, msg=name)


def discriminators(run: Path) -> dict[str, torch.Tensor]:
    task = load_training_state(run)["task"]
    return {
        f"{key}.{name}": tensor
        for key, state in task.items()
        if key.startswith("adversary")
        for name, tensor in state.items()
        if name.startswith("discriminator.")
    }


def test_each_process_takes_its_share_of_every_step() -> None:
    # 10 samples, 3 processes: the order is cut to 9 so that each process gets 3.
    shares = [list(ResumableSampler(10, seed=1, num_replicas=3, rank=r)) for r in range(3)]
    order = ResumableSampler(10, seed=1).epoch_order()
    assert shares == [order[0:9:3], order[1:9:3], order[2:9:3]]
    # Batch 2 per process, 2 processes: step k covers the single-process batch of 4.
    two = [list(ResumableSampler(8, seed=1, num_replicas=2, rank=r)) for r in range(2)]
    order = ResumableSampler(8, seed=1).epoch_order()
    for step in range(2):
        together = two[0][2 * step : 2 * step + 2] + two[1][2 * step : 2 * step + 2]
        assert sorted(together) == sorted(order[4 * step : 4 * step + 4])
    # Resuming after step 1 (4 samples of the epoch done) continues each share.
    resumed = ResumableSampler(8, seed=1, start_index=4, num_replicas=2, rank=1)
    assert list(resumed) == two[1][2:] and len(resumed) == 2
    with pytest.raises(ValueError, match="rank=2"):
        ResumableSampler(8, num_replicas=2, rank=2)


def test_more_processes_than_gpus_and_sync_bn_on_cpu_are_refused() -> None:
    with pytest.raises(RuntimeError, match="4 processes on this node but it has 2 CUDA"):
        check_device_count(4, 2)
    check_device_count(2, 2)
    two_cpu_processes = World(torch.device("cpu"), rank=0, size=2)
    with pytest.raises(ValueError, match="--sync-bn needs CUDA"):
        check_sync_bn(two_cpu_processes, sync_bn=True)


class Counting(nn.Module):
    """Stands in for a DDP wrapper: counts its calls and runs ``module``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module, self.calls = module, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.module(x)


def test_the_discriminator_steps_through_its_wrapper_and_judges_the_generator_bare() -> None:
    adversary = Adversary(nn.Linear(2, 1), gp_weight=10.0)
    keys = adversary.state_dict().keys()
    wrapper = Counting(adversary.discriminator)
    adversary.distribute(wrapper)
    real, fake = torch.randn(4, 2), torch.randn(4, 2, requires_grad=True)
    adversary.update(real, fake)
    assert wrapper.calls == 3  # real, fake and the gradient penalty's interpolates
    adversary.loss(fake).backward()
    assert wrapper.calls == 3 and fake.grad is not None
    assert adversary.state_dict().keys() == keys  # the wrapper is not part of the state


def test_replicas_find_every_adversary_once_and_sync_bn_copies_share_the_weights() -> None:
    one, two = Adversary(nn.Linear(1, 1)), Adversary(nn.Linear(1, 1))
    task = SimpleNamespace(first=one, by_domain={"A": one, "B": two}, other=[3, "x"])
    assert adversaries(task) == [one, two]

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    copy = nn.SyncBatchNorm.convert_sync_batchnorm(sharing_copy(net))
    assert isinstance(copy[1], nn.SyncBatchNorm) and type(net[1]) is nn.BatchNorm2d
    assert copy[0].weight is net[0].weight and copy[1].weight is net[1].weight
    assert copy[1].running_mean is net[1].running_mean


def test_two_processes_train_pix2pix_as_one_with_twice_the_batch(
    paired_dataset: Path, tmp_path: Path, one_thread: None
) -> None:
    # 8 images, 4 per step: iteration 3 is in the second epoch (a new order, new crops).
    values = {**TINY_PIX2PIX, **NO_NOISE, "max_steps": 3, "log_every": 1, "num_samples": 1}
    ddp, one = two_processes_and_one(Pix2PixConfig, values, paired_dataset, tmp_path)

    assert_same_tensors(load_file(ddp / GENERATOR_FILE), load_file(one / GENERATOR_FILE))
    assert_same_tensors(discriminators(ddp), discriminators(one))
    # The logged losses are the two processes' average: those of the whole batch of 4.
    logs = [[json.loads(line) for line in open(run / "losses.jsonl")] for run in (ddp, one)]
    assert [r["step"] for r in logs[0]] == [1, 2, 3]
    for ours, theirs in zip(*logs, strict=True):
        for name in ("d_loss", "g_gan", "g_l1"):
            assert ours[name] == pytest.approx(theirs[name], rel=1e-5)


def test_two_processes_train_one_cyclegan_step_as_one_with_twice_the_batch(
    paired_dataset: Path, tmp_path: Path, one_thread: None
) -> None:
    data = tmp_path / "unpaired"
    split_unpaired(paired_dataset, data)  # trainA/ trainB/ testA/ testB/ from the A|B pairs
    values = {
        "task": "cyclegan",
        "image_size": 32,
        "load_size": 36,
        "ngf": 8,
        "ndf": 8,
        "resnet_blocks": 1,
        "d_layers": 2,
        "num_workers": 0,
        "device": "cpu",
        "num_samples": 1,
        "max_steps": 1,
        **NO_NOISE,
    }
    ddp, one = two_processes_and_one(CycleGANConfig, values, data, tmp_path)

    generators = load_file(ddp / GENERATOR_FILE)
    assert {name.split(".")[0] for name in generators} == {"AtoB", "BtoA"}
    assert_same_tensors(generators, load_file(one / GENERATOR_FILE))
    both = discriminators(ddp)
    assert {name.split(".")[0] for name in both} == {"adversary_A", "adversary_B"}
    assert_same_tensors(both, discriminators(one))


def test_a_resumed_two_process_run_continues_exactly(tmp_path: Path) -> None:
    """A GAN from noise: every iteration draws z from each process's own RNG stream, which
    the checkpoint must restore per process for the continuation to be exact. The resumed
    run is a copy of the whole run as a crash right after its iteration-3 checkpoint would
    have left it (its generator file is iteration 5's, but resuming reads the state's)."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    values = {
        "task": "gan",
        "data": "toy:ring8",
        "net": "mlp",
        "hidden": 16,
        "batch_size": 8,
        "num_workers": 0,
        "device": "cpu",
        "num_samples": 4,
        "log_every": 1,
        "save_every": 3,
        "max_steps": 5,
    }
    torchrun(*cli_flags({**values, "out": whole}))
    shutil.copytree(whole, cut)
    os.replace(cut / "trainer_state.1.pt", cut / "trainer_state.pt")  # iteration 3's state
    assert load_training_state(cut)["step"] == 3
    torchrun("--resume", str(cut))

    assert_same_tensors(load_file(cut / GENERATOR_FILE), load_file(whole / GENERATOR_FILE), 0)
    state = load_training_state(cut)
    assert state["step"] == 5 and state["world_size"] == 2
    ranks = state["process_rng"]
    assert len(ranks) == 2 and not torch.equal(ranks[0]["torch"], ranks[1]["torch"])
    logs = [[json.loads(line) for line in open(run / "losses.jsonl")] for run in (whole, cut)]
    assert [r["step"] for r in logs[1]] == [1, 2, 3, 4, 5]
    assert [r["d_loss"] for r in logs[0]] == [r["d_loss"] for r in logs[1]]

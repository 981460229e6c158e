"""--channels-last and --compile: same training maths, plain checkpoints."""

from __future__ import annotations

from functools import partialmethod
from pathlib import Path

import pytest
import torch
from conftest import tiny_pix2pix
from safetensors.torch import load_file
from torch import nn

from img2img.checkpoint import GENERATOR_FILE, load_training_state
from img2img.infer import load
from img2img.losses import Adversary
from img2img.speedups import compile_networks
from img2img.train import Trainer

# The smallest pix2pix: 16 px, a 1-layer PatchGAN; compiling it still takes a while on CPU.
SMALL = {"image_size": 16, "load_size": 18, "d_layers": 1, "num_samples": 1, "max_steps": 2}
SMALL["dropout"] = 0.0  # dropout masks are drawn in memory order, which channels-last changes


def train(data: Path, out: Path, **flags) -> Trainer:
    trainer = Trainer(tiny_pix2pix(data, out, **SMALL, **flags))
    trainer.fit()
    return trainer


def assert_plain_checkpoint_close_to(run: Path, reference: Path) -> None:
    weights, expected = load_file(run / GENERATOR_FILE), load_file(reference / GENERATOR_FILE)
    assert weights.keys() == expected.keys()  # no "_orig_mod." prefixes
    for name, tensor in weights.items():
        assert tensor.is_contiguous()
        torch.testing.assert_close(tensor, expected[name], atol=1e-4, rtol=1e-3, msg=name)
    state_keys = load_training_state(run)["task"]["generator"].keys()
    assert not [k for k in state_keys if "_orig_mod" in k]
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert load(run, device="cpu").translate_tensor(x).shape == (1, 3, 16, 16)


@pytest.fixture(scope="module")
def eager_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from conftest import make_aligned_pairs

    root = tmp_path_factory.mktemp("speedups")
    data = make_aligned_pairs(root / "pairs" / "train", count=8, size=16).parent
    train(data, root / "eager")
    return data, root / "eager"


def test_channels_last_trains_the_same_and_saves_a_plain_model(eager_run, tmp_path) -> None:
    data, reference = eager_run
    trainer = train(data, tmp_path / "run", channels_last=True)
    conv = next(m for m in trainer.task.generator.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert_plain_checkpoint_close_to(tmp_path / "run", reference)


def test_compile_trains_the_same_and_saves_a_plain_model(
    eager_run, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dynamo capture and AOT autograd of the real networks, with the ``aot_eager`` backend:
    inductor's C++ build of even the 16 px networks took 171 s on the shared 2-core
    development CPU (the test passed with it); ``benchmarks/train_speed.py --compile``
    exercises inductor itself."""
    monkeypatch.setattr(nn.Module, "compile", partialmethod(nn.Module.compile, backend="aot_eager"))
    data, reference = eager_run
    train(data, tmp_path / "run", compile=True)
    assert_plain_checkpoint_close_to(tmp_path / "run", reference)


class TwoWayTask:
    """What compile_networks looks at: a task's attributes."""

    def __init__(self) -> None:
        self.generator = nn.ModuleDict({"AtoB": nn.Conv2d(3, 3, 1), "BtoA": nn.Conv2d(3, 3, 1)})
        self.adversaries = {
            "A": Adversary(nn.Conv2d(3, 1, 1)),
            "B": Adversary(nn.Conv2d(3, 1, 1), objective="wgan", gp_weight=10.0),
        }


def test_compile_takes_each_direction_and_leaves_double_backward_discriminators_eager() -> None:
    task = TwoWayTask()
    compiled = compile_networks(task)
    expected = [*task.generator.values(), task.adversaries["A"].discriminator]
    assert [id(m) for m in compiled] == [id(m) for m in expected]

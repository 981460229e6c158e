"""The laptop settings shipped as examples/configs/mnist-<kind>.yaml: each loads as its task's
config and trains one step on MNIST-format digits at 32 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from img2img.config import load_yaml, merge
from img2img.tasks import get_task
from img2img.train import Trainer
from tests.data.test_gan_data import make_mnist

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "configs"
KINDS = ("dcgan", "wgan-gp", "hinge", "ebgan", "progan", "style", "ddgan")

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_kind_has_a_laptop_config() -> None:
    assert sorted(p.stem for p in CONFIGS.glob("mnist-*.yaml")) == sorted(
        f"mnist-{kind}" for kind in KINDS
    )


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mnist(tmp_path_factory.mktemp("mnist"), count=128)  # ProGAN's batch: 64


@pytest.mark.parametrize("kind", KINDS)
def test_config_loads_and_trains_one_step(kind: str, digits: Path, tmp_path: Path) -> None:
    values = load_yaml(CONFIGS / f"mnist-{kind}.yaml")
    task = get_task(values["task"])
    run = {"data": str(digits), "out": str(tmp_path / kind), "device": "cpu", "num_workers": 0}
    config = merge(task.Config, values, {**run, "max_steps": 1, "sample_every": 1})
    assert (config.image_size, config.channels) == (32, 1)
    out = Trainer(config).fit()
    assert (out / "generator.safetensors").is_file()
    assert (out / "samples" / "step_0000001.png").is_file()

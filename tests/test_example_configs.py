"""The example configs (examples/configs/*.yaml) load, mean what they say and train.

Each file is merged as ``img2img train --config FILE`` merges it and trained for one
iteration on small generated data of its kind, with its own sizes; only the data, the batch
(the data is small), the length of the run and what runs at its end are changed. The laptop
settings of the GANs from noise (``mnist-<kind>.yaml``) train one step on MNIST-format
digits at 32 px and write their first sample grid.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import make_aligned_pairs, make_hr_images
from PIL import Image

from img2img.config import load_yaml, merge
from img2img.data.labels import PALETTES
from img2img.tasks import get_task
from img2img.train import Trainer
from tests.data.test_gan_data import make_mnist

FOLDER = Path(__file__).resolve().parents[1] / "examples" / "configs"
CONFIGS = sorted(p for p in FOLDER.glob("*.yaml") if not p.name.startswith("mnist-"))
GAN_KINDS = ("dcgan", "wgan-gp", "hinge", "ebgan", "progan", "style", "ddgan")


def label_pairs(root: Path, count: int, size: int) -> None:
    """A|B files whose right half is a label map drawn in the facades palette."""
    rng = np.random.default_rng(0)
    colours = np.array(PALETTES["facades"].colours, dtype=np.uint8)
    root.mkdir(parents=True)
    for i in range(count):
        blocks = rng.integers(0, len(colours), (4, 4))
        label = colours[np.kron(blocks, np.ones((size // 4, size // 4), int))]
        photo = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([photo, label], axis=1)).save(root / f"{i}.png")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/facades (A|B, labels in the palette), data/cifar10, data/facades-unpaired."""
    root = tmp_path_factory.mktemp("data")
    for split, count in (("train", 2), ("test", 1)):
        label_pairs(root / "facades" / split, count, 256)
        make_hr_images(root / "cifar10" / split, [(32, 32)] * 2)
        for side in "AB":
            make_aligned_pairs(root / "facades-unpaired" / f"{split}{side}", count, 128)
    return root


def test_every_example_config_is_tested() -> None:
    assert len(CONFIGS) == 9
    assert sorted(p.stem for p in FOLDER.glob("mnist-*.yaml")) == sorted(
        f"mnist-{kind}" for kind in GAN_KINDS
    )


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_example_config_trains_one_iteration(
    path: Path, data: Path, tmp_path: Path, one_thread
) -> None:
    values = load_yaml(path)
    task = get_task(values["task"])
    assert values["data"].startswith("data/")
    fields = {f.name: f for f in dataclasses.fields(task.Config)}
    for name, value in values.items():  # written as the option's type (1.0e-4, not 1e-4)
        kind = type(fields[name].default)
        assert isinstance(value, kind) or (kind is float and type(value) is int), (name, value)
    run = tmp_path / "run"
    small = {"data": str(data / Path(values["data"]).name), "out": str(run), "max_steps": 1}
    small.update(batch_size=min(values.get("batch_size", 1), 2), num_workers=0, device="cpu")
    small.update(val_every=0, num_samples=1)
    config = merge(task.Config, values, small)
    assert all(getattr(config, k) == v for k, v in values.items() if k not in small)
    Trainer(config).fit()
    assert (run / "generator.safetensors").is_file() and (run / "trainer_state.pt").is_file()


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mnist(tmp_path_factory.mktemp("mnist"), count=128)  # ProGAN's batch: 64


@pytest.mark.parametrize("kind", GAN_KINDS)
def test_gan_laptop_config_trains_one_step(kind: str, digits: Path, tmp_path: Path, one_thread):
    values = load_yaml(FOLDER / f"mnist-{kind}.yaml")
    task = get_task(values["task"])
    run = {"data": str(digits), "out": str(tmp_path / kind), "device": "cpu", "num_workers": 0}
    config = merge(task.Config, values, {**run, "max_steps": 1, "sample_every": 1})
    assert (config.image_size, config.channels) == (32, 1)
    out = Trainer(config).fit()
    assert (out / "generator.safetensors").is_file()
    assert (out / "samples" / "step_0000001.png").is_file()

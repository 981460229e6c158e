"""The real data of the recipes from noise: Stacked MNIST (--stacked) and random flips
(--flip), each item a function of its (epoch, index) key, so resumed runs are exact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from img2img.config import merge
from img2img.data.mnist import MNIST, mnist_split_files
from img2img.data.wrappers import RandomFlip, StackedDigits, stack_label
from img2img.tasks.gan import GAN, GANConfig
from img2img.train import Trainer
from tests.data.test_gan_data import make_mnist

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def mnist(tmp_path: Path) -> Path:
    return make_mnist(tmp_path / "mnist", count=20)


def digits(root: Path) -> MNIST:
    return MNIST(*mnist_split_files(root, "train"))


def test_stacked_items_are_three_digits_and_their_mode(mnist: Path) -> None:
    source = digits(mnist)
    stacked = StackedDigits(source, seed=3)
    item = stacked[(2, 5)]
    red, green, blue = stacked.sources((2, 5))
    assert red == 5
    assert torch.equal(item["image"], torch.cat([source[i]["image"] for i in (red, green, blue)]))
    labels = [int(source.labels[i]) for i in (red, green, blue)]
    assert item["label"] == 100 * labels[0] + 10 * labels[1] + labels[2] == stack_label(labels)
    assert torch.equal(stacked[(2, 5)]["image"], item["image"])  # a function of the key
    assert stacked.sources((3, 5)) != stacked.sources((2, 5))  # new triples each epoch
    assert stacked[5]["label"] == stacked[(0, 5)]["label"]  # a plain index: epoch 0
    assert stacked.labels == [stacked[i]["label"] for i in range(len(stacked))]


def test_flips_are_per_item_coin_tosses(mnist: Path) -> None:
    source = digits(mnist)
    flipped = RandomFlip(source, seed=0)
    tosses = [
        torch.equal(flipped[(epoch, i)]["image"], source[i]["image"].flip(-1))
        for epoch in range(10)
        for i in range(20)
    ]
    assert 70 < sum(tosses) < 130  # about half of 200
    assert all(torch.equal(flipped[(4, i)]["image"], flipped[(4, i)]["image"]) for i in range(20))
    config = merge(GANConfig, {"data": str(mnist), "flip": True})
    assert isinstance(GAN.dataset(config, "train"), RandomFlip)
    assert GAN.dataset(config, "test") is None  # a test-only folder trains on its t10k files


def test_stacked_option_presets_and_refusals(mnist: Path, tmp_path: Path) -> None:
    config = merge(GANConfig, {"data": str(mnist), "stacked": True})
    assert (config.channels, config.image_size, config.num_classes) == (3, 28, 1000)
    assert GAN.dataset(config, "train")[0]["image"].shape == (3, 28, 28)
    grey = merge(GANConfig, {"data": str(mnist), "stacked": True, "channels": 1})
    with pytest.raises(ValueError, match="3 channels, not --channels 1"):
        GAN.dataset(grey, "train")
    folder = tmp_path / "photos"
    folder.mkdir()
    with pytest.raises(ValueError, match="photos: --stacked stacks MNIST digits"):
        GAN.dataset(merge(GANConfig, {"data": str(folder), "stacked": True}), "train")


def test_a_stacked_flipped_run_resumes_exactly(mnist: Path, tmp_path: Path) -> None:
    values = {"data": str(mnist), "stacked": True, "flip": True, "ngf": 4, "ndf": 4}
    values |= {"z_dim": 8, "batch_size": 4, "num_workers": 0, "device": "cpu"}
    values |= {"save_every": 2, "sample_every": 100, "num_samples": 4, "epochs": 3}

    def run(out: Path, steps: int, resume: bool = False) -> None:
        config = merge(GANConfig, values, {"out": str(out), "max_steps": steps})
        Trainer(config, resume=resume).fit()

    run(tmp_path / "straight", 8)  # 5 iterations an epoch: across an epoch boundary
    run(tmp_path / "resumed", 3)
    run(tmp_path / "resumed", 8, resume=True)
    straight = load_file(tmp_path / "straight" / "generator.safetensors")
    resumed = load_file(tmp_path / "resumed" / "generator.safetensors")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)

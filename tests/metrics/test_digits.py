"""The digit metrics (``img2img eval --metrics digits|modes``): their maths against hand
counts, the shipped classifier on real held-out digits, samples of made-up generators whose
outputs are known digits, and the refusals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from img2img.backbones import digits as backbone
from img2img.config import merge
from img2img.data.mnist import MNIST, mnist_split_files
from img2img.metrics.digits import (
    class_histogram,
    digit_scores,
    kl_from_uniform,
    mode_scores,
    trained_on_digits,
)
from img2img.metrics.evaluate import evaluate, parse_metrics
from img2img.metrics.protocols import Setup
from img2img.metrics.unpaired import Samples, evaluate_gan
from img2img.tasks.gan import GANConfig
from tests.conftest import require_shared
from tests.data.test_gan_data import make_mnist

pytestmark = pytest.mark.usefixtures("one_thread")


def test_kl_and_counts_by_hand() -> None:
    shares = class_histogram(torch.tensor([0, 0, 1, 3]), 4)
    assert shares.tolist() == [0.5, 0.25, 0.0, 0.25]
    # 0.5 log(0.5 * 4) + 2 * 0.25 log(0.25 * 4) = 0.5 log 2
    assert kl_from_uniform(shares) == pytest.approx(0.5 * math.log(2))
    assert kl_from_uniform(torch.full((10,), 0.1, dtype=torch.float64)) == pytest.approx(0)
    assert kl_from_uniform(class_histogram(torch.tensor([7]), 10)) == pytest.approx(math.log(10))


def test_digit_scores_by_hand() -> None:
    # 100 samples: 60 read as 2 with p 0.95, 38 as 5 with p 0.6, 2 as 9 with p 0.99.
    probabilities = torch.zeros(100, 10)
    probabilities[:60, 2] = 0.95
    probabilities[60:98, 5] = 0.6
    probabilities[98:, 9] = 0.99
    scores = digit_scores(probabilities)
    assert scores["digits_confident"] == pytest.approx(0.62)
    assert scores["digits_classes"] == 2  # 9 has 2% < 3%
    expected = 0.6 * math.log(6) + 0.38 * math.log(3.8) + 0.02 * math.log(0.2)
    assert scores["digits_kl"] == pytest.approx(expected)


def test_mode_scores_by_hand() -> None:
    triples = torch.tensor([[1, 2, 3], [1, 2, 3], [0, 0, 0], [9, 9, 9]])
    scores = mode_scores(triples)
    assert scores["modes"] == 3
    # shares 1/2, 1/4, 1/4 over 1000 modes
    expected = 0.5 * math.log(500) + 2 * 0.25 * math.log(250)
    assert scores["modes_kl"] == pytest.approx(expected)


@pytest.fixture(scope="module")
def held_out() -> MNIST:
    """The 1,000 MNIST test digits the classifier never trained on (9000-9999)."""
    images, labels = mnist_split_files(require_shared("mnist"), "train")  # the t10k files
    digits = MNIST(images, labels)
    digits.images, digits.labels = digits.images[9000:], digits.labels[9000:]
    return digits


def test_real_held_out_digits_score_high(held_out: MNIST) -> None:
    classifier = backbone.load_digit_classifier()
    probabilities = torch.softmax(classifier(held_out.images), dim=1)
    scores = digit_scores(probabilities)
    assert scores["digits_confident"] >= 0.9
    assert scores["digits_classes"] == 10
    assert scores["digits_kl"] < 0.02
    accuracy = float((probabilities.argmax(1) == held_out.labels).float().mean())
    assert accuracy == pytest.approx(backbone.classifier_card()["held_out_accuracy"], abs=1e-3)
    # The same digits at 32 px (a model trained on MNIST resized to 32) read as well.
    larger = nn.functional.interpolate(held_out.images, size=32, mode="bilinear")
    assert (classifier(larger).argmax(1) == held_out.labels).float().mean() > accuracy - 0.02


class KnownDigits(nn.Module):
    """A made-up generator whose samples are given images, in turn (its z is ignored):
    for checking what the metrics say about outputs that are known digits."""

    def __init__(self, images: Tensor) -> None:
        super().__init__()
        self.register_buffer("images", images)
        self.latent_size, self.num_classes = 4, 0
        self.drawn = 0

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        index = torch.arange(self.drawn, self.drawn + len(z)) % len(self.images)
        self.drawn += len(z)
        return self.images[index]


def evaluate_known(images: Tensor, config: GANConfig, metrics: list[str], count: int) -> dict:
    setup = Setup("cpu", 16, None, False, False, 0)
    evaluation = evaluate_gan(
        Path("made-up"), KnownDigits(images), config, config.data, metrics, setup,
        generate=count, engine="torch",
    )  # fmt: skip
    return evaluation.summary["metrics"]


def test_a_generator_of_threes_covers_one_class(held_out: MNIST, tmp_path: Path) -> None:
    threes = held_out.images[held_out.labels == 3][:40]
    config = merge(GANConfig, {"data": str(require_shared("mnist")), "batch_size": 16})
    values = evaluate_known(threes, config, ["digits"], 80)
    assert values["digits_classes"] == 1
    assert values["digits_kl"] == pytest.approx(math.log(10), abs=0.05)
    assert values["digits_confident"] > 0.9
    # Every class in turn, 10 of each: all ten covered evenly.
    mixed = torch.cat([held_out.images[held_out.labels == c][:10] for c in range(10)])
    values = evaluate_known(mixed, config, ["digits"], 100)
    assert values["digits_classes"] == 10
    assert values["digits_kl"] < 0.05


def test_stacked_samples_of_five_triples_cover_five_modes(held_out: MNIST) -> None:
    by_class = {c: held_out.images[held_out.labels == c][0] for c in range(10)}
    triples = [(1, 2, 3), (4, 5, 6), (7, 8, 9), (0, 0, 0), (3, 1, 4)]
    images = torch.stack([torch.cat([by_class[d] for d in t]) for t in triples])
    values = {"data": str(require_shared("mnist")), "stacked": True, "batch_size": 5}
    config = merge(GANConfig, values)
    assert config.channels == 3
    scores = evaluate_known(images, config, ["modes"], 50)
    assert scores["modes"] == 5
    assert scores["modes_kl"] == pytest.approx(math.log(1000 / 5), abs=1e-6)


def test_digit_metrics_are_named_and_join_validation_on_digit_data(tmp_path: Path) -> None:
    assert parse_metrics("fid,digits,modes") == ["fid", "digits", "modes"]
    mnist = make_mnist(tmp_path / "mnist")
    assert trained_on_digits(merge(GANConfig, {"data": str(mnist)}))
    assert trained_on_digits(merge(GANConfig, {"data": "elsewhere/mnist"}))  # by its name
    plain = merge(GANConfig, {"data": str(mnist)})
    assert Samples.validation_metrics(plain) == ("fid", "kid", "digits")
    stacked = merge(GANConfig, {"data": str(mnist), "stacked": True})
    assert Samples.validation_metrics(stacked) == ("fid", "kid", "modes")
    folder = tmp_path / "photos"
    folder.mkdir()
    assert Samples.validation_metrics(merge(GANConfig, {"data": str(folder)})) == ("fid", "kid")


def test_digit_metrics_on_a_model_not_trained_on_digits_name_its_data(tmp_path: Path) -> None:
    mnist = make_mnist(tmp_path / "mnist")
    with pytest.raises(ValueError, match=r"digits.*cifar10-dcgan was trained on .*cifar10"):
        evaluate("cifar10-dcgan", mnist, ["digits"], device="cpu", generate=4, progress=False)
    with pytest.raises(ValueError, match=r"modes counts the 1000 modes.*cifar10"):
        evaluate("cifar10-dcgan", mnist, ["modes"], device="cpu", generate=4, progress=False)
    with pytest.raises(ValueError, match=r"MNIST digits: use --metrics digits"):
        evaluate("mnist-dcgan", mnist, ["modes"], device="cpu", generate=4, progress=False)
    with pytest.raises(ValueError, match=r"a pix2pix model trained on .*facades"):
        evaluate("facades-label2photo", mnist, ["digits"], device="cpu", progress=False)


def test_a_missing_classifier_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backbone, "CLASSIFIER_FILE", tmp_path / "gone.safetensors")
    mnist = make_mnist(tmp_path / "mnist")
    with pytest.raises(FileNotFoundError, match=r"gone.safetensors.*train_digit_classifier"):
        evaluate("mnist-dcgan", mnist, ["digits"], device="cpu", generate=4, progress=False)

"""pix2pix end to end: it learns, it resumes exactly, and its checkpoint translates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_resumed_like_straight, first_items, tiny_pix2pix
from PIL import Image

from img2img.checkpoint import load_training_state
from img2img.infer import load
from img2img.tasks.pix2pix import Pix2Pix, Pix2PixConfig
from img2img.train import Trainer


def tiny_config(data: Path, out: Path, **overrides) -> Pix2PixConfig:
    values = {"epochs": 100, "decay_epochs": 50, "save_every": 4, "sample_every": 4}
    return tiny_pix2pix(data, out, **values, log_every=2, num_samples=2, **overrides)


def mean_train_l1(run: Path, data: Path) -> float:
    """L1 between translated training inputs and their targets, in [0, 2] units."""
    translator = load(run, device="cpu")
    dataset = Pix2Pix.dataset(translator.config, "train", augment=False)
    batch = torch.stack([dataset[i]["input"] for i in range(len(dataset))])
    target = torch.stack([dataset[i]["target"] for i in range(len(dataset))])
    return float((translator.translate_tensor(batch) - target).abs().mean())


def test_short_run_learns_the_mapping(paired_dataset: Path, tmp_path: Path) -> None:
    before = tiny_config(paired_dataset, tmp_path / "before", max_steps=1)
    Trainer(before).fit()
    after = tiny_config(paired_dataset, tmp_path / "after", max_steps=60, lr=1e-3)
    Trainer(after).fit()
    l1_before = mean_train_l1(tmp_path / "before", paired_dataset)
    l1_after = mean_train_l1(tmp_path / "after", paired_dataset)
    assert l1_after < 0.6 * l1_before, (l1_before, l1_after)
    records = [json.loads(line) for line in (tmp_path / "after" / "losses.jsonl").open()]
    assert records[-1]["step"] == 60
    assert records[-1]["g_l1"] < records[0]["g_l1"]
    assert (tmp_path / "after" / "losses.png").stat().st_size > 0
    grid = Image.open(tmp_path / "after" / "samples" / "step_0000060.png")
    assert grid.width > 3 * 32 and grid.height > 2 * 32  # input | output | target, 2 rows


def test_resume_continues_exactly(paired_dataset: Path, tmp_path: Path) -> None:
    straight = tiny_config(paired_dataset, tmp_path / "straight", max_steps=8)
    Trainer(straight).fit()

    interrupted = tiny_config(paired_dataset, tmp_path / "resumed", max_steps=5)
    Trainer(interrupted).fit()
    assert load_training_state(tmp_path / "resumed")["step"] == 5
    resumed = tiny_config(paired_dataset, tmp_path / "resumed", max_steps=8)
    Trainer(resumed, resume=True).fit()

    assert_resumed_like_straight(tmp_path / "straight", tmp_path / "resumed")
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "losses.jsonl").open()]
    assert steps == sorted(set(steps)), "a resumed run must not duplicate log records"


def test_translate_returns_the_input_kind_at_any_size(paired_dataset: Path, tmp_path: Path) -> None:
    from img2img import translate

    Trainer(tiny_config(paired_dataset, tmp_path / "run", max_steps=2)).fit()
    run = tmp_path / "run"
    array = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    out = translate(array, model=run, device="cpu")
    assert isinstance(out, np.ndarray) and out.shape == (45, 70, 3) and out.dtype == np.uint8
    pil = translate(Image.fromarray(array), model=run, device="cpu")
    assert isinstance(pil, Image.Image) and pil.size == (70, 45)
    tensor = translate(torch.rand(3, 17, 33) * 2 - 1, model=run, device="cpu")
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (3, 17, 33)
    assert np.array_equal(np.asarray(pil), out), "same image, same model, same result"


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_every_norm_trains_a_step(paired_dataset: Path, tmp_path: Path, norm: str) -> None:
    Trainer(tiny_config(paired_dataset, tmp_path / norm, max_steps=1, norm=norm)).fit()
    assert (tmp_path / norm / "generator.safetensors").exists()


def test_corrupt_training_images_are_skipped_and_counted(
    paired_dataset: Path, tmp_path: Path
) -> None:
    (paired_dataset / "train" / "zz_truncated.png").write_bytes(
        (paired_dataset / "train" / "000.png").read_bytes()[:200]
    )
    config = tiny_config(paired_dataset, tmp_path / "run", max_steps=9, batch_size=1)
    with pytest.warns(UserWarning, match="zz_truncated.png"):
        Trainer(config).fit()
    records = [json.loads(line) for line in (tmp_path / "run" / "losses.jsonl").open()]
    assert records[-1]["step"] == 9 and records[-1]["skipped_images"] >= 1


def test_the_data_set_is_read_as_the_options_say(paired_dataset: Path, tmp_path: Path) -> None:
    """Direction, sizes, flip, seed, the generator's size multiple, --augment and channels
    reach the folder; only the training split is cropped and flipped unless told."""
    options = {"direction": "BtoA", "flip": False, "seed": 5, "augment": "light", "channels": 1,
               "load_size": 40}  # fmt: skip
    config = tiny_config(paired_dataset, tmp_path, generator="resnet", **options)
    train = Pix2Pix.dataset(config, "train")
    assert (train.direction, train.flip, train.seed, train.channels) == ("BtoA", False, 5, 1)
    assert (train.load_size, train.crop_size, train.size_multiple) == (40, 32, 4)
    assert train.augmenter is not None and train[0]["input"].shape == (1, 32, 32)
    unet = tiny_config(paired_dataset, tmp_path, generator="unet", load_size=0)
    assert Pix2Pix.dataset(unet, "train").size_multiple == 32  # 2 ** 5 downsamplings at 32 px
    assert Pix2Pix.dataset(unet, "train").load_size == 36  # 286/256 of 32, rounded
    for split, augment, crops in (
        ("train", None, True),
        ("test", None, False),
        ("train", False, False),
    ):
        assert Pix2Pix.dataset(config, split, augment).train is crops


def test_feature_matching_adds_its_weighted_term_and_either_option_makes_scales(
    paired_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """G's loss gains feature_matching x the matching term; a multi-scale D comes with
    --num-d 2 alone or --feature-matching alone (D's features to match)."""
    from img2img.nets.multiscale import MultiScaleDiscriminator

    cpu = torch.device("cpu")
    dataset = Pix2Pix.dataset(tiny_config(paired_dataset, tmp_path / "data"), "train")
    batch = first_items(dataset, 2, "input", "target")
    losses = []
    for term in (2.0, 3.0):
        torch.manual_seed(0)
        config = tiny_config(
            paired_dataset, tmp_path / str(term), d_layers=1, feature_matching=10.0
        )
        task = Pix2Pix(config, 2, 1, cpu)
        assert isinstance(task.adversary.discriminator, MultiScaleDiscriminator)
        monkeypatch.setattr(task.adversary, "feature_matching", lambda *_, t=term: torch.tensor(t))
        monkeypatch.setattr(task.g_stepper, "step", lambda loss: losses.append(loss.item()))
        assert task.step(batch)["g_feat"] == term
    assert losses[1] - losses[0] == pytest.approx(10.0, abs=1e-3)
    two = Pix2Pix(tiny_config(paired_dataset, tmp_path / "two", d_layers=1, num_d=2), 2, 1, cpu)
    assert len(two.adversary.discriminator.scales) == 2


@pytest.mark.parametrize("generator", ["unet", "resnet"])
def test_the_generator_takes_the_image_channels(paired_dataset, tmp_path, generator) -> None:
    config = tiny_config(paired_dataset, tmp_path, generator=generator, channels=1)
    assert Pix2Pix.build_generator(config)(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 32, 32)


@pytest.mark.parametrize(
    ("generator", "norm", "layer"),  # each with the norm its network does not default to
    [("unet", "instance", torch.nn.InstanceNorm2d), ("resnet", "batch", torch.nn.BatchNorm2d)],
)
def test_either_generator_takes_the_width_norm_dropout_and_blocks_given(
    generator: str, norm: str, layer: type
) -> None:
    options = {"generator": generator, "ngf": 8, "norm": norm, "dropout": 0.3}
    config = Pix2PixConfig(data="-", image_size=32, resnet_blocks=2, **options)
    network = Pix2Pix.build_generator(config)
    norms = {type(m) for m in network.modules()} & {torch.nn.InstanceNorm2d, torch.nn.BatchNorm2d}
    assert norms == {layer}
    assert {m.p for m in network.modules() if isinstance(m, torch.nn.Dropout)} == {0.3}
    first = next(m for m in network.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.out_channels == 8
    if generator == "resnet":
        assert sum(type(m).__name__ == "ResidualBlock" for m in network.modules()) == 2

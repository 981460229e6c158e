"""Saved models and runs rebuild what they were trained as, whatever options came since:
an option added later declares the value its absence means (``saved_default``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from conftest import save_untrained_model

from img2img.cli import main
from img2img.config import TrainConfig, config_from_saved, merge, option, upgrade_saved
from img2img.infer import load_generator
from img2img.saved_models import read_config


@dataclass
class _Config(TrainConfig):
    task: str = option("toy", "which recipe")
    width: int = option(4, "a width added after models were saved", saved_default=3)
    depth: int = option(2, "an option without a saved default")


def test_an_option_added_later_means_its_saved_default_in_config_from_saveds_only() -> None:
    assert config_from_saved(_Config, {"task": "toy"}).width == 3  # saved before 'width' existed
    assert config_from_saved(_Config, {"task": "toy", "width": 5}).width == 5
    assert config_from_saved(_Config, {"task": "toy"}).depth == 2
    assert merge(_Config, {"task": "toy"}).width == 4  # a new run (flags, YAML): the default
    everything = _Config().to_dict()
    assert upgrade_saved(_Config, {"task": "toy"}) == {**everything, "width": 3}


def _strip(model: Path, *names: str) -> dict:
    """Rewrite a model's config.json as an img2img from before ``names`` wrote it: without
    them, in the flat layout of that time (format 1)."""
    path = model / "config.json"
    values = read_config(model)
    for name in names:
        del values[name]
    path.write_text(json.dumps(values))
    return values


def test_a_pix2pixhd_model_saved_before_n_downsample_rebuilds_its_three(tmp_path: Path) -> None:
    model = save_untrained_model(
        tmp_path / "old", "pix2pixhd", image_size=32, ngf=4, global_blocks=1,
        n_downsample=3, preprocess="resize_and_crop",
    )  # fmt: skip
    _strip(model, "n_downsample", "preprocess")
    generator, config = load_generator(model)  # strict load: a 4-downsampling net would not fit
    assert (config.n_downsample, config.preprocess) == (3, "resize_and_crop")
    assert generator.network.size_multiple == 8


def test_an_inpaint_model_saved_before_its_new_options_keeps_its_data_and_loss(tmp_path):
    model = save_untrained_model(
        tmp_path / "old", "inpaint", image_size=32, nef=4, ngf=4, ndf=4, mask="random-region",
        bottleneck="channelwise",
    )  # fmt: skip
    _strip(model, "preprocess", "l2_region")
    _, config = load_generator(model)
    assert (config.preprocess, config.l2_region) == ("resize_and_crop", "hole")


def test_a_run_saved_before_an_option_resumes_as_it_started(
    paired_dataset: Path, tmp_path: Path
) -> None:
    """--resume reads the run's config.json and its checkpoint's config: both lack it."""
    run = tmp_path / "run"
    flags = [
        "--task", "pix2pixhd", "--data", str(paired_dataset), "--out", str(run),
        "--image-size", "32", "--ngf", "4", "--ndf", "4", "--global-blocks", "1",
        "--d-layers", "1", "--num-d", "1", "--num-workers", "0", "--device", "cpu",
        "--n-downsample", "3", "--preprocess", "resize_and_crop", "--sample-every", "100",
    ]  # fmt: skip
    main(["train", *flags, "--max-steps", "1"])
    _strip(run, "n_downsample", "preprocess")
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    for name in ("n_downsample", "preprocess"):
        del state["config"][name]
    torch.save(state, run / "trainer_state.pt")
    main(["train", "--resume", str(run), "--max-steps", "2"])
    config = read_config(run)
    assert (config["n_downsample"], config["preprocess"], config.get("task")) == (
        3, "resize_and_crop", "pix2pixhd",
    )  # fmt: skip
    assert json.loads((run / "losses.jsonl").read_text().splitlines()[-1])["step"] == 2
